"""Warnings raised deep inside emkit are attributed to the user's line (``stacklevel``)."""

import dataclasses

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

import emkit
from emkit import GaussianMixture, GaussianMixtureImputer, SoftKMeans
from emkit.em import run_em
from emkit.exceptions import ConvergenceWarning, MonotonicityWarning
from emkit.sources import ArraySource

from .test_engine import _ScriptedModel

HERE = __file__


def _only(record, category):
    found = [w for w in record if issubclass(w.category, category)]
    assert found, f"no {category.__name__} among {[str(w.message) for w in record]}"
    return found


def _assert_here(record, category):
    for w in _only(record, category):
        assert w.filename == HERE, f"{category.__name__} attributed to {w.filename}:{w.lineno}"


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(300, 2))


def test_convergence_warning_names_the_fit_line(X):
    with pytest.warns(ConvergenceWarning) as record:
        GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    _assert_here(record, ConvergenceWarning)
    with pytest.warns(ConvergenceWarning) as record:
        SoftKMeans(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    _assert_here(record, ConvergenceWarning)


def test_convergence_warning_through_a_wrapper_and_a_pipeline(X):
    X = X.copy()
    X[::7, 1] = np.nan
    with pytest.warns(ConvergenceWarning) as record:
        GaussianMixtureImputer(2, max_iter=2, tol=0.0, random_state=0).fit(X)
    _assert_here(record, ConvergenceWarning)
    pipeline = make_pipeline(GaussianMixtureImputer(2, max_iter=2, tol=0.0, random_state=0))
    with pytest.warns(ConvergenceWarning) as record:
        pipeline.fit_transform(X)  # scikit-learn's frames are skipped too
    _assert_here(record, ConvergenceWarning)


def test_empty_component_warning_names_the_fit_line():
    X = np.random.default_rng(0).normal(size=(200, 2))
    means = np.array([[0.0, 0.0], [1e4, 1e4]])
    precisions = np.array([np.eye(2), np.eye(2) * 1e6])
    with pytest.warns(UserWarning, match="became empty") as record:
        GaussianMixture(2, means_init=means, precisions_init=precisions,
                        weights_init=[0.5, 0.5], max_iter=5).fit(X)
    _assert_here(record, UserWarning)


def test_monotonicity_warning_names_the_caller():
    model = _ScriptedModel([-5.0, -4.0, -4.5, -4.4])
    source = ArraySource(np.zeros((10, 1)), None, chunk_size=3)
    with emkit.config_context(monotonic="warn"), pytest.warns(MonotonicityWarning) as record:
        run_em(model, 0, source, tol=0.0, max_iter=3)
    _assert_here(record, MonotonicityWarning)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_monotonicity_warning_from_an_estimator_names_the_fit_line(X, monkeypatch):
    # Spoil one M-step (weights far from the maximiser): the next objective drops.
    from emkit.families.gaussian import GaussianMixtureModel

    original, calls = GaussianMixtureModel.maximize, []

    def spoiled(self, stats, params=None):
        new = original(self, stats, params)
        calls.append(1)
        if len(calls) == 3:
            weights = np.full_like(new.weights, 0.01 / (len(new.weights) - 1))
            weights[0] = 0.99
            new = dataclasses.replace(new, weights=weights)
        return new

    monkeypatch.setattr(GaussianMixtureModel, "maximize", spoiled)
    with emkit.config_context(monotonic="warn"), pytest.warns(MonotonicityWarning) as record:
        GaussianMixture(3, max_iter=10, tol=1e-12, random_state=0).fit(X)
    _assert_here(record, MonotonicityWarning)


def test_warm_start_warning_names_the_fit_line(X):
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(X)
    gm.set_params(n_components=3)
    with pytest.warns(UserWarning, match="warm_start ignored") as record:
        gm.fit(X)
    _assert_here(record, UserWarning)
