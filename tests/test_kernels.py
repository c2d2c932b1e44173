"""Compiled (numba) E-step kernels: same results as the NumPy reference path.

Every fast path is compared with ``kernels="numpy"`` in float64: chunk
statistics and objectives, and whole fits from the same start, to 1e-10
relative; plus the switches that send chunks back to the NumPy path (missing
values, partial labels, too many features) and the configuration itself.
"""

import numpy as np
import pytest

import emkit
from emkit import _kernels
from emkit.em.engine import expectation
from emkit.families.centroids import CentroidModel
from emkit.families.gaussian import FUSED_MAX_FEATURES, GaussianMixtureModel
from emkit.families.structures import MCLUST_MODELS, UNIVARIATE_MODELS
from emkit.sources import ArraySource

from .conftest import make_blobs

pytest.importorskip("numba")
pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")

RTOL = 1e-10
SKLEARN_NAMES = ("full", "tied", "diag", "spherical")


def _numba_and_numpy(function):
    """``function()`` evaluated with the compiled kernels and with the NumPy path."""
    with emkit.config_context(kernels="numba"):
        fast = function()
    with emkit.config_context(kernels="numpy"):
        reference = function()
    return fast, reference


def _close(actual, desired, rtol=RTOL):
    """Equal to ``rtol`` relative to the largest entry (moments about a mean are ~0)."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape
    scale = max(float(np.abs(desired).max()), 1e-300)
    np.testing.assert_allclose(actual, desired, rtol=0, atol=rtol * scale)


def _data(n_features, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = make_blobs(n_per=(n // 3, n // 3, n - 2 * (n // 3)), dim=n_features, seed=seed)
    X += 50.0  # offset data: the kernels work about a centre too
    weights = rng.uniform(0.0, 2.0, X.shape[0])
    weights[:40] = 0.0
    return X, weights


def _start(model, X, weights, n_components, seed=0):
    resp = np.random.default_rng(seed).dirichlet(np.ones(n_components), X.shape[0])
    return model.params_from_responsibilities(X, weights, resp, 500)


def _models(n_features):
    """Every covariance model that applies to ``n_features`` columns (aliases too)."""
    if n_features == 1:
        return (*UNIVARIATE_MODELS, "full", "diag", "spherical")
    return MCLUST_MODELS + SKLEARN_NAMES


@pytest.mark.parametrize("n_features", [1, 2, 3, 7, FUSED_MAX_FEATURES["diag"]])
def test_fused_statistics_equal_the_numpy_path(n_features):
    X, weights = _data(n_features)
    for name in _models(n_features):
        model = GaussianMixtureModel(name)
        params = _start(model, X, weights, 4)
        source = ArraySource(X, weights, 700)  # uneven last chunk
        (fast, fast_obj), (ref, ref_obj) = _numba_and_numpy(
            lambda model=model, params=params, source=source: expectation(model, params, source)
        )
        assert fast_obj == pytest.approx(ref_obj, rel=1e-13), name
        _close(fast.counts, ref.counts)
        _close(fast.first, ref.first)
        _close(fast.second, ref.second)
        np.testing.assert_array_equal(fast.centers, ref.centers)


def test_fused_step_is_used_and_returns_row_log_likelihoods():
    X, weights = _data(2, n=500)
    model = GaussianMixtureModel("full")
    params = _start(model, X, weights, 3)
    with emkit.config_context(kernels="numba"):
        rows, stats = model.soft_e_step(params, X, weights)
    from scipy.special import logsumexp

    _close(rows, logsumexp(model.log_joint(params, X), axis=1), rtol=1e-13)
    assert stats.structure is model.structure


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV", "EEI"])
def test_whole_fits_agree_from_the_same_start(covariance_type):
    X, weights = _data(2, n=2400, seed=1)

    def fit():
        return emkit.GaussianMixture(
            3, covariance_type=covariance_type, random_state=0, tol=1e-10, max_iter=60,
            chunk_size=500,
        ).fit(X, sample_weight=weights)

    fast, ref = _numba_and_numpy(fit)
    assert fast.n_iter_ == ref.n_iter_
    _close(fast.lower_bounds_, ref.lower_bounds_)
    _close(fast.means_, ref.means_)
    _close(fast.covariances_, ref.covariances_)
    _close(fast.weights_, ref.weights_)


def test_map_em_with_a_prior_agrees():
    X, _ = _data(2, n=1200, seed=2)

    def fit():
        return emkit.GaussianMixture(3, prior="default", random_state=0, tol=1e-10).fit(X)

    fast, ref = _numba_and_numpy(fit)
    _close(fast.lower_bounds_, ref.lower_bounds_)
    _close(fast.covariances_, ref.covariances_)


def test_chunks_with_missing_values_take_the_pattern_kernel():
    X, weights = _data(2, n=1500, seed=3)
    X[::7, 0] = np.nan  # every chunk has some
    model = GaussianMixtureModel("full")
    params = _start(model, np.nan_to_num(X, nan=50.0), weights, 3)
    with emkit.config_context(kernels="numba"):
        assert model.soft_e_step(params, X[:300], weights[:300]) is not None
        assert model.soft_e_step(params, X[1:300:7], weights[1:300:7]) is not None
    with emkit.config_context(kernels="numpy"):
        assert model.soft_e_step(params, X[:300], weights[:300]) is None

    def fit():
        return emkit.GaussianMixture(3, random_state=0, tol=1e-10, chunk_size=400).fit(X)

    fast, ref = _numba_and_numpy(fit)
    _close(fast.lower_bounds_, ref.lower_bounds_)
    _close(fast.covariances_, ref.covariances_)


def test_partially_labelled_chunks_take_the_generic_path():
    X, _ = _data(2, n=1200, seed=4)
    y = np.full(X.shape[0], -1)
    y[:30], y[400:430], y[800:830] = 0, 1, 2
    calls = []

    class Spy(GaussianMixtureModel):
        def soft_e_step(self, params, X, weights):
            calls.append(X.shape[0])
            return super().soft_e_step(params, X, weights)

    model = Spy("full")
    params = _start(model, X, np.ones(X.shape[0]), 3)
    source = ArraySource(X, None, 400, labels=y)
    with emkit.config_context(kernels="numba"):
        expectation(model, params, source)
    assert calls == []

    def fit():
        return emkit.GaussianMixture(3, random_state=0, tol=1e-10, semi_supervised=True,
                                     chunk_size=300).fit(X, y)

    fast, ref = _numba_and_numpy(fit)
    _close(fast.lower_bounds_, ref.lower_bounds_)
    _close(fast.means_, ref.means_)


def test_full_kernel_up_to_its_limit_and_gemm_beyond():
    X, weights = _data(FUSED_MAX_FEATURES["full"] + 1, n=900)
    model = GaussianMixtureModel("full")
    params = _start(model, X, weights, 3)
    with emkit.config_context(kernels="numba"):
        assert model.soft_e_step(params, X, weights) is None
    X = X[:, : FUSED_MAX_FEATURES["full"]]
    params = _start(model, X, weights, 3)
    source = ArraySource(X, weights, 400)
    (fast, fast_obj), (ref, ref_obj) = _numba_and_numpy(
        lambda: expectation(model, params, source)
    )
    assert fast_obj == pytest.approx(ref_obj, rel=1e-13)
    _close(fast.second, ref.second)
    _close(fast.first, ref.first)


def test_many_features_keep_the_gemm_path():
    X, weights = _data(FUSED_MAX_FEATURES["diag"] + 1, n=300)
    model = GaussianMixtureModel("diag")
    params = _start(model, X, weights, 2)
    with emkit.config_context(kernels="numba"):
        assert model.soft_e_step(params, X, weights) is None
    small = GaussianMixtureModel("diag")
    small_params = _start(small, X[:, :2], weights, 2)
    with emkit.config_context(kernels="numpy"):
        assert small.soft_e_step(small_params, X[:, :2], weights) is None


# ------------------------------------------------------------------ k-means
@pytest.mark.parametrize("n_clusters", [1, 5, 40])
def test_kmeans_chunk_equals_the_numpy_path(n_clusters):
    X, weights = _data(6, n=3001, seed=5)
    centers = X[np.random.default_rng(0).choice(X.shape[0], n_clusters, replace=False)]
    model = CentroidModel()
    source = ArraySource(X, weights, 1000)
    (fast, fast_obj), (ref, ref_obj) = _numba_and_numpy(
        lambda: expectation(model, centers, source, "hard")
    )
    assert fast_obj == pytest.approx(ref_obj, rel=1e-13)
    _close(fast.counts, ref.counts, rtol=1e-14)
    _close(fast.sums, ref.sums, rtol=1e-12)
    order_fast, order_ref = np.argsort(-fast.far_distances), np.argsort(-ref.far_distances)
    _close(fast.far_distances[order_fast], ref.far_distances[order_ref], rtol=1e-12)
    np.testing.assert_array_equal(fast.far_rows[order_fast], ref.far_rows[order_ref])
    np.testing.assert_array_equal(fast.far_labels[order_fast], ref.far_labels[order_ref])
    assert (fast.far_weights > 0).all()


def test_kmeans_fits_agree_with_weights_and_empty_clusters():
    X, weights = _data(3, n=2000, seed=6)
    init = np.vstack([X[:4], [[1e3, 1e3, 1e3]]])  # the last centre attracts nothing

    def fit():
        return emkit.KMeans(5, init=init, tol=0.0, max_iter=30, chunk_size=450).fit(
            X, sample_weight=weights
        )

    fast, ref = _numba_and_numpy(fit)
    np.testing.assert_array_equal(fast.labels_, ref.labels_)
    _close(fast.cluster_centers_, ref.cluster_centers_, rtol=1e-12)
    assert fast.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
    _close(fast.objective_history_, ref.objective_history_, rtol=1e-12)


def test_kmeans_semi_supervised_takes_the_generic_path():
    X, _ = _data(2, n=900, seed=7)
    y = np.full(X.shape[0], -1)
    y[:20] = 0
    fast, ref = _numba_and_numpy(
        lambda: emkit.KMeans(3, random_state=0, semi_supervised=True).fit(X, y)
    )
    np.testing.assert_array_equal(fast.labels_, ref.labels_)


# ------------------------------------------------------------ the switches
def test_exp_kernel_is_accurate():
    from numba import njit

    from emkit._numba_kernels import exp_nonpositive

    @njit
    def apply(values):
        out = np.empty_like(values)
        for i in range(values.shape[0]):
            out[i] = exp_nonpositive(values[i])
        return out

    x = np.concatenate([np.linspace(-600.0, 0.0, 200_001), -np.logspace(-12, 2, 1000), [0.0]])
    np.testing.assert_allclose(apply(x), np.exp(x), rtol=4e-16, atol=0)
    assert (apply(np.array([-601.0, -800.0, -np.inf])) == 0.0).all()


def test_kernels_config_is_validated_and_scoped():
    assert emkit.get_config()["kernels"] in ("auto", "numba", "numpy")
    with pytest.raises(ValueError, match="kernels must be one of"):
        emkit.set_config(kernels="fortran")
    with emkit.config_context(kernels="numpy"):
        assert not _kernels.use_numba()
    with emkit.config_context(kernels="auto"):
        assert _kernels.use_numba(None)
        assert _kernels.use_numba(_kernels.AUTO_MIN_WORK)
        assert not _kernels.use_numba(_kernels.AUTO_MIN_WORK - 1)  # small fits: no JIT


def test_missing_numba_falls_back_or_says_what_to_install(monkeypatch):
    monkeypatch.setitem(_kernels._STATE, "available", False)
    with emkit.config_context(kernels="auto"):
        assert not _kernels.use_numba(None)
    with emkit.config_context(kernels="numba"), pytest.raises(ImportError, match=r"emkit\[fast\]"):
        _kernels.use_numba(None)


def test_broken_numba_install_falls_back_with_a_warning(monkeypatch):
    import sys

    monkeypatch.setitem(_kernels._STATE, "available", True)
    monkeypatch.delitem(_kernels._STATE, "module", raising=False)
    monkeypatch.setitem(sys.modules, "emkit._numba_kernels", None)  # import fails
    with emkit.config_context(kernels="auto"):
        with pytest.warns(RuntimeWarning, match="compiled kernels are disabled"):
            assert not _kernels.use_numba(None)
        assert not _kernels.use_numba(None)  # reported once, then NumPy silently
    monkeypatch.setitem(_kernels._STATE, "available", True)
    with emkit.config_context(kernels="numba"), pytest.raises(ImportError):
        _kernels.use_numba(None)


def test_environment_variable_sets_the_initial_choice(monkeypatch):
    from emkit import _config

    monkeypatch.setenv(_config.KERNELS_ENV, "numpy")
    assert _config._initial_kernels() == "numpy"
    monkeypatch.setenv(_config.KERNELS_ENV, " NumPy ")
    assert _config._initial_kernels() == "numpy"


def test_invalid_environment_variable_is_an_error_naming_the_valid_values(monkeypatch):
    from emkit import _config

    monkeypatch.setenv(_config.KERNELS_ENV, "nonsense")
    message = "EMKIT_KERNELS='nonsense' is not one of auto, numba, numpy"
    with pytest.raises(ValueError, match=message):
        _config._initial_kernels()
    monkeypatch.setitem(_config._config, "kernels", None)  # as in a fresh process
    with pytest.raises(ValueError, match=message):
        emkit.get_config()
    with emkit.config_context(kernels="numpy"):  # an explicit choice overrides it
        assert emkit.get_config()["kernels"] == "numpy"
    monkeypatch.setitem(_config._config, "kernels", None)
    emkit.set_config(kernels="auto")
    assert emkit.get_config()["kernels"] == "auto"
