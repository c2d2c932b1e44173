"""Property tests: responsibilities are distributions; EM never decreases its objective."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emkit import GaussianMixture, KMeans, SoftKMeans
from emkit.exceptions import DegenerateComponentError, MonotonicityError
from emkit.families.covariance import DEGENERATE_RTOL

# every covariance model: scikit-learn's names and mclust's other ten
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical", "EII", "EEI", "VEI", "EVI",
                    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"]


@st.composite
def mixture_data(draw, scales=(1e-1, 1.0, 1e3), min_per_component=3):
    seed = draw(st.integers(0, 2**31 - 1))
    n_components = draw(st.integers(1, 4))
    n_features = draw(st.integers(1, 4))
    n_samples = draw(st.integers(max(8, min_per_component * n_components), 150))
    scale = draw(st.sampled_from(scales))
    offset = draw(st.sampled_from([0.0, 1e4]))
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_components, n_features)) * 3
    labels = rng.integers(0, n_components, size=n_samples)
    X = (centers[labels] + rng.normal(size=(n_samples, n_features))) * scale + offset
    return X, n_components, seed


SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=mixture_data(), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component:UserWarning")
def test_gaussian_mixture_objective_never_decreases(data, covariance_type, init_params):
    """Default reg_covar: regularised EM obeys the generalised-EM inequality.

    Adding reg_covar makes the M-step inexact, so the log-likelihood may dip by at
    most the M-step's regularisation deficit; strict mode (conftest) makes the
    engine raise on any dip beyond that deficit plus float noise.
    """
    X, K, seed = data
    gm = GaussianMixture(K, covariance_type=covariance_type, init_params=init_params,
                         random_state=seed, tol=1e-10, max_iter=60)
    try:
        gm.fit(X)
    except DegenerateComponentError:
        assert _regularisation_negligible(X, gm.reg_covar)
        return
    _check_fit(gm, X, K, exact=False)


def _regularisation_negligible(X, reg_covar) -> bool:
    """Whether the degeneracy rule may fire despite ``reg_covar``.

    A covariance regularised by ``reg_covar`` has variances of at least about
    ``reg_covar`` (exactly so for the scikit-learn structures), so the rule (a
    variance <= 1e-10 of the data's) can only fire when ``reg_covar`` is small
    against the data's variance; the factor 100 leaves room for the models
    whose shape constraints move variance between features.
    """
    return reg_covar <= 100 * DEGENERATE_RTOL * X.var(axis=0).max()


@SETTINGS
@given(data=mixture_data(scales=(1e-3, 1.0, 1e3), min_per_component=12),
       covariance_type=st.sampled_from(COVARIANCE_TYPES),
       init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component:UserWarning")
def test_exact_em_objective_never_decreases(data, covariance_type, init_params):
    """reg_covar=0 is exact EM: monotone at every data scale (offset 1e4 included)."""
    X, K, seed = data
    gm = GaussianMixture(K, covariance_type=covariance_type, init_params=init_params,
                         random_state=seed, tol=1e-10, max_iter=60, reg_covar=0.0)
    try:
        gm.fit(X)
    except DegenerateComponentError:
        # a component collapsed onto <= D points: maximum likelihood is unbounded there
        return
    _check_fit(gm, X, K)


def _check_fit(gm, X, K, exact=True):
    history = gm.lower_bounds_
    assert np.all(np.isfinite(history))
    if exact:
        assert np.all(np.diff(history) >= -1e-10 * np.maximum(1, np.abs(history[:-1])))
    resp = gm.predict_proba(X)
    assert resp.shape == (X.shape[0], K)
    assert np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)


@SETTINGS
@given(data=mixture_data())
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kmeans_inertia_never_increases(data):
    X, K, seed = data
    km = KMeans(K, init="random", n_init=1, random_state=seed, tol=0).fit(X)
    h = km.objective_history_
    assert np.all(np.diff(h) >= -1e-12 * np.maximum(1, np.abs(h[:-1])))


@SETTINGS
@given(data=mixture_data(), beta=st.sampled_from([0.1, 1.0, 10.0]))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_soft_kmeans_responsibilities_and_monotone(data, beta):
    X, K, seed = data
    X = X - X.mean(0)
    X = X / (X.std() + 1e-12)
    sk = SoftKMeans(K, beta=beta, random_state=seed, max_iter=50).fit(X)
    np.testing.assert_allclose(sk.predict_proba(X).sum(1), 1.0, rtol=1e-12)
    h = sk.objective_history_
    assert np.all(np.diff(h) >= -1e-10 * np.maximum(1, np.abs(h[:-1])))


@SETTINGS
@given(data=mixture_data(min_per_component=12), covariance_type=st.sampled_from(COVARIANCE_TYPES),
       fraction=st.sampled_from([0.05, 0.2, 0.4]))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component:UserWarning")
def test_missing_values_objective_never_decreases(data, covariance_type, fraction):
    """Observed-data log-likelihood with NaN entries: monotone (strict mode), rows sum to 1."""
    X, K, seed = data
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < fraction] = np.nan
    if np.isnan(X).all(axis=0).any():
        return  # a column with nothing observed is rejected (tested elsewhere)
    gm = GaussianMixture(K, covariance_type=covariance_type, random_state=seed, tol=1e-10,
                         max_iter=40)
    try:
        gm.fit(X)
    except DegenerateComponentError:
        # a component left with too few observed values collapses: the error is the
        # contract, only where reg_covar is negligible against the data's variance
        assert _regularisation_negligible(np.where(np.isnan(X), np.nanmean(X, axis=0), X),
                                          gm.reg_covar)
        return
    _check_fit(gm, X, K, exact=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=mixture_data(scales=(1e-3, 1.0, 1e3), min_per_component=12),
       reg_covar=st.sampled_from([0.0, 1e-6, 1e-2]))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:component:UserWarning")
def test_every_covariance_model_is_monotone_on_the_same_data(data, reg_covar):
    """All 14 mclust models on each drawn data set (strict mode: GEM inequality)."""
    from emkit.families.structures import MCLUST_MODELS

    X, K, seed = data
    for name in MCLUST_MODELS:
        gm = GaussianMixture(K, covariance_type=name, random_state=seed, tol=1e-10,
                             max_iter=40, reg_covar=reg_covar)
        try:
            gm.fit(X)
        except DegenerateComponentError:
            # only where the likelihood is unbounded up to rounding (the rule)
            assert _regularisation_negligible(X, reg_covar)
            continue
        except MonotonicityError as exc:
            raise AssertionError(f"covariance_type={name!r}: {exc}") from None
        _check_fit(gm, X, K, exact=reg_covar == 0.0)
