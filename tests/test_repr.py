"""Readable ``repr`` / ``str``: no array dumps from estimators or selection results."""

import numpy as np
import pytest

from emkit import GaussianMixture, KMeans, select_model
from emkit.datasets import load_faithful


@pytest.fixture(scope="module")
def result():
    return select_model(load_faithful(), [1, 2, 3], ["EEE", "VVV"])


def test_best_model_repr_abbreviates_the_partition(result):
    text = repr(result.best_model_)
    assert str(result.best_model_) == text
    assert "labels_init=array([" in text and "..." in text and "shape=(272,)" in text
    assert len(text) < 250 and text.count("\n") <= 2, text
    # the model's parameters are still all there
    assert "covariance_type='EEE'" in text and "n_components=3" in text


def test_short_arrays_are_shown_in_full():
    text = repr(GaussianMixture(2, weights_init=[0.25, 0.75], means_init=np.zeros((2, 2))))
    assert "..." not in text and "means_init=array([[0., 0.]" in text
    big = repr(KMeans(50, init=np.arange(100.0).reshape(50, 2)))
    assert "..." in big and "shape=(50, 2)" in big and len(big) < 200, big


def test_model_selection_repr_is_one_line_and_str_is_the_table(result):
    text = repr(result)
    assert "\n" not in text and "best=(3, 'EEE')" in text and "BIC=-2314.297" in text
    table = str(result)
    assert table.startswith("BIC (mclust convention") and "Top 3 models by BIC:" in table
    assert "array" not in table
