"""Starting partitions: labels_init (hard or soft) and mclust's hierarchical start."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils import check_random_state

from emkit import GaussianMixture
from emkit.datasets import load_faithful
from emkit.hierarchical import initial_partition
from emkit.init import one_hot

from .conftest import make_blobs


def test_labels_init_starts_with_an_m_step_from_the_partition():
    X = load_faithful()
    labels = (X[:, 0] > 3.0).astype(int)
    gm = GaussianMixture(2, labels_init=labels, max_iter=0, reg_covar=0.0).fit(X)
    for k in range(2):
        rows = X[labels == k]
        np.testing.assert_allclose(gm.means_[k], rows.mean(0), rtol=1e-12)
        np.testing.assert_allclose(gm.covariances_[k], np.cov(rows.T, bias=True), rtol=1e-10)
        assert gm.weights_[k] == pytest.approx(len(rows) / len(X), rel=1e-12)


def test_soft_labels_init_equals_the_same_hard_partition():
    X = load_faithful()
    labels = (X[:, 1] > 70).astype(int)
    kw = dict(reg_covar=0.0, tol=1e-8, max_iter=200)
    hard = GaussianMixture(2, labels_init=labels, **kw).fit(X)
    soft = GaussianMixture(2, labels_init=one_hot(labels, 2), **kw).fit(X)
    np.testing.assert_array_equal(hard.means_, soft.means_)


def test_hierarchical_init_uses_mclusts_partition():
    X = load_faithful()
    for G in (2, 4):
        by_name = GaussianMixture(G, init_params="hierarchical", max_iter=0,
                                  reg_covar=0.0).fit(X)
        by_labels = GaussianMixture(G, labels_init=initial_partition(X, G), max_iter=0,
                                    reg_covar=0.0).fit(X)
        np.testing.assert_array_equal(by_name.means_, by_labels.means_)


def test_hierarchical_init_on_large_data_starts_from_a_subset_fit():
    """n > 2000: cluster 2000 random rows, one M-step there, E-step on all (mclustBIC)."""
    X = make_blobs(n_per=(900, 800, 700), dim=3, seed=2)
    gm = GaussianMixture(3, init_params="hierarchical", random_state=5, max_iter=0,
                         reg_covar=0.0).fit(X)
    rows = np.sort(check_random_state(5).choice(len(X), size=2000, replace=False))
    subset = GaussianMixture(3, labels_init=initial_partition(X[rows], 3), max_iter=0,
                             reg_covar=0.0).fit(X[rows])
    start = GaussianMixture(3, labels_init=subset.predict_proba(X), max_iter=0,
                            reg_covar=0.0).fit(X)
    np.testing.assert_allclose(gm.means_, start.means_, rtol=1e-12)


def test_hierarchical_init_on_one_dimensional_data_uses_quantile_classes():
    x = load_faithful()[:, 1:]
    gm = GaussianMixture(3, covariance_type="V", init_params="hierarchical", max_iter=0,
                         reg_covar=0.0).fit(x)
    quantiles = np.quantile(x[:, 0], [0, 1 / 3, 2 / 3, 1])
    assert np.all(np.diff(gm.means_[:, 0]) > 0)
    for k in range(3):
        assert quantiles[k] <= gm.means_[k, 0] <= quantiles[k + 1]


@pytest.mark.parametrize(("labels_init", "message"), [
    (np.zeros(10, int), r"one label per row of X \(272\), got 10"),
    (np.full(272, 2), r"labels_init\[0\] = 2 is not a component index 0..1"),
    (np.full(272, 0.5), "integer component indices"),
    (np.full((272, 3), 1 / 3), r"shape \(272,\) or \(272, 2\)"),
    (np.full((272, 2), 0.7), "sum to 1 in every row; row 0 sums to 1.4"),
])
def test_bad_labels_init_is_named(labels_init, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, labels_init=labels_init).fit(load_faithful())


def test_labels_init_with_restarts_is_an_error():
    with pytest.raises(ValueError, match="n_init must be 1"):
        GaussianMixture(2, labels_init=np.zeros(272, int), n_init=3).fit(load_faithful())
