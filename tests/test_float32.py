"""Opt-in float32 E-step: same fit as float64 to 1e-5, statistics and parameters in float64."""

import numpy as np
import pytest

import emkit
from emkit.families.gaussian import GaussianMixtureModel

from .conftest import make_blobs

RTOL = 1e-5

pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _data(dim=20, seed=0):
    X = make_blobs(n_per=(1500, 1200, 1300), dim=dim, seed=seed)
    return X + 10.0  # offset: single precision must still work about a centre


def _start(X, covariance_type, n_components=3):
    first = emkit.GaussianMixture(n_components, covariance_type=covariance_type, max_iter=1,
                                  random_state=0).fit(X)
    return dict(weights_init=first.weights_, means_init=first.means_,
                precisions_init=first.precisions_)


def _pair(X, covariance_type, **kw):
    start = _start(X, covariance_type)
    fits = {}
    for dtype in ("float64", "float32"):
        fits[dtype] = emkit.GaussianMixture(
            3, covariance_type=covariance_type, tol=0.0, max_iter=25, dtype=dtype, **start, **kw
        ).fit(X)
    return fits["float64"], fits["float32"]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV"])
def test_float32_fit_has_the_float64_log_likelihood(covariance_type):
    X = _data()
    double, single = _pair(X, covariance_type)
    np.testing.assert_allclose(single.lower_bounds_, double.lower_bounds_, rtol=RTOL)
    assert single.score(X) == pytest.approx(double.score(X), rel=RTOL)
    scale = np.abs(X).max()
    np.testing.assert_allclose(single.means_, double.means_, rtol=0, atol=1e-4 * scale)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(single, name).dtype == np.float64, name


def test_float32_keeps_single_precision_in_the_e_step_only():
    X = _data(dim=6).astype(np.float32)
    model = GaussianMixtureModel("full")
    params = model.params_from_responsibilities(
        X, np.ones(X.shape[0]), np.full((X.shape[0], 2), 0.5), 1000
    )
    with emkit.config_context(kernels="numpy"):
        log_joint = model.log_joint(params, X)
        assert log_joint.dtype == np.float32
        stats = model.statistics(params, X, np.full((X.shape[0], 2), 0.5, np.float32))
    for field in (stats.counts, stats.first, stats.second):
        assert field.dtype == np.float64  # per-chunk moments are summed in float64
    fit = emkit.GaussianMixture(2, dtype=np.float32, random_state=0).fit(X)
    assert fit.score_samples(X).dtype == np.float32
    assert fit.predict_proba(X).dtype == np.float32


def test_float32_with_missing_values_and_weights():
    X = _data(dim=5, seed=1)
    X[::11, 2] = np.nan
    weights = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    double, single = _pair(X, "full", reg_covar=1e-6)
    np.testing.assert_allclose(single.lower_bounds_, double.lower_bounds_, rtol=RTOL)
    start = _start(np.nan_to_num(X, nan=10.0), "diag")
    fits = [
        emkit.GaussianMixture(3, covariance_type="diag", dtype=dtype, tol=0.0, max_iter=10,
                              **start).fit(X, sample_weight=weights)
        for dtype in ("float64", "float32")
    ]
    np.testing.assert_allclose(fits[1].lower_bounds_, fits[0].lower_bounds_, rtol=RTOL)


@pytest.mark.parametrize("dtype", ["int32", "float16", "complex128", object])
def test_dtype_is_validated(dtype):
    with pytest.raises(ValueError, match="dtype must be 'float64' or 'float32'"):
        emkit.GaussianMixture(2, dtype=dtype).fit(_data(dim=2))


def test_float32_with_squarem_stays_monotone_within_single_precision():
    X = _data(dim=8, seed=2)
    start = _start(X, "full")
    fits = [
        emkit.GaussianMixture(3, dtype=dtype, accelerate="squarem", tol=1e-7, max_iter=200,
                              **start).fit(X)
        for dtype in ("float64", "float32")
    ]
    assert fits[1].lower_bound_ == pytest.approx(fits[0].lower_bound_, rel=RTOL)
