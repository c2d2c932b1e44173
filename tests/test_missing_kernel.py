"""The compiled missing-value E-step (by pattern) against a direct per-row reference
and against the NumPy path, for every covariance model."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

import emkit
from emkit import GaussianMixture
from emkit.families import gaussian_missing, missing_patterns

from .conftest import make_blobs
from .test_missing import COVARIANCE_TYPES, _with_missing

pytest.importorskip("numba")


def _data(dim=3, fraction=0.3, seed=2):
    X = make_blobs(dim=dim)
    Xm = _with_missing(X, fraction, seed)
    Xm[4] = np.nan  # nothing observed
    Xm[9] = X[9]  # complete
    return Xm


def _start(Xm, covariance_type, K=3):
    """Parameters after a few NumPy-path iterations (any valid point will do)."""
    with emkit.config_context(kernels="numpy"), pytest.warns(ConvergenceWarning):
        gm = GaussianMixture(K, covariance_type=covariance_type, random_state=0, tol=0.0,
                             max_iter=3).fit(Xm)
    return gm, gm._engine_model(), gm._params()


def _reference(structure, params, Xm, resp):
    """Per row: marginal log joints, completed rows and conditional covariances summed."""
    K, D = params.means.shape
    covs = [structure.component_covariance(params.covariances, k, D) for k in range(K)]
    log_joint = np.tile(np.log(params.weights), (len(Xm), 1))
    counts, first, second = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    centers = params.means if structure.per_component_centers else np.broadcast_to(
        params.weights @ params.means, params.means.shape)
    for i, row in enumerate(Xm):
        o = ~np.isnan(row)
        if not o.any():
            continue
        m = ~o
        for k in range(K):
            S, mu = covs[k], params.means[k]
            log_joint[i, k] += multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(row[o])
            coef = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
            completed = row.copy()
            completed[m] = mu[m] + coef @ (row[o] - mu[o])
            conditional = np.zeros((D, D))
            conditional[np.ix_(m, m)] = S[np.ix_(m, m)] - coef @ S[np.ix_(o, m)]
            d = completed - centers[k]
            counts[k] += resp[i, k]
            first[k] += resp[i, k] * d
            second[k] += resp[i, k] * (np.outer(d, d) + conditional)
    return log_joint, counts, first, structure.reduce_second(second)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pattern_kernel_equals_direct_per_row_reference(covariance_type):
    Xm = _data()
    _, model, params = _start(Xm, covariance_type)
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(3), size=len(Xm)) * rng.uniform(0.5, 2.0, (len(Xm), 1))
    expected_joint, counts, first, second = _reference(model.structure, params, Xm, resp)
    with emkit.config_context(kernels="numba"):
        joint = model.log_joint(params, Xm)
        stats = model.statistics(params, Xm, resp)
    np.testing.assert_allclose(joint, expected_joint, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.counts, counts, rtol=1e-12)
    scale = np.abs(second).max()
    np.testing.assert_allclose(stats.first, first, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(stats.second, second, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "VVE"])
def test_fused_pattern_step_equals_numpy_path(covariance_type):
    """One fused pass (objective, responsibilities, statistics) = log_joint + statistics."""
    Xm = _data(dim=9, fraction=0.25)  # 9 columns: patterns packed over two bytes
    _, model, params = _start(Xm, covariance_type)
    w = np.random.default_rng(1).uniform(0.0, 3.0, len(Xm))
    with emkit.config_context(kernels="numpy"):
        joint = model.log_joint(params, Xm)
        top = joint.max(axis=1, keepdims=True)
        row_objective = (np.log(np.exp(joint - top).sum(axis=1, keepdims=True)) + top).ravel()
        resp = np.exp(joint - row_objective[:, None]) * w[:, None]
        expected = model.statistics(params, Xm, resp)
    with emkit.config_context(kernels="numba"):
        objective, stats = model.soft_e_step(params, Xm, w)
    np.testing.assert_allclose(objective, row_objective, rtol=1e-12, atol=1e-12)
    for name in ("counts", "first", "second"):
        ours, theirs = getattr(stats, name), getattr(expected, name)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10,
                                   atol=1e-12 * np.abs(theirs).max())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "tied", "spherical", "EVE"])
@pytest.mark.parametrize("table_bytes", [missing_patterns.FACTOR_TABLE_BYTES, 0])
def test_fits_equal_the_numpy_path(covariance_type, table_bytes, monkeypatch):
    """Whole fits in strict mode, weights, several chunks; the factor table shared by
    chunks or (over budget) per chunk."""
    monkeypatch.setattr(missing_patterns, "FACTOR_TABLE_BYTES", table_bytes)
    Xm = _data(dim=4, fraction=0.2)
    w = np.random.default_rng(3).uniform(0.2, 2.0, len(Xm))
    kw = dict(covariance_type=covariance_type, random_state=0, tol=0.0, max_iter=25,
              chunk_size=97)
    fits = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels, monotonic="raise"):
            fits[kernels] = GaussianMixture(3, **kw).fit(Xm, sample_weight=w)
    a, b = fits["numpy"], fits["numba"]
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-11)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-9)
    assert np.all(np.diff(b.lower_bounds_) >= 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_semi_supervised_fit_with_missing_values_equals_the_numpy_path():
    Xm = _data(dim=3, fraction=0.25)
    y = np.full(len(Xm), -1)
    y[::7] = np.arange(len(Xm))[::7] % 3
    kw = dict(semi_supervised=True, random_state=0, tol=0.0, max_iter=20, chunk_size=128)
    fits = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels, monotonic="raise"):
            fits[kernels] = GaussianMixture(3, **kw).fit(Xm, y)
    a, b = fits["numpy"], fits["numba"]
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-11)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-9, atol=1e-10)


def test_patterns_get_one_id_per_fit_and_rows_are_grouped():
    table = missing_patterns.PatternTable()
    X = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [4.0, np.nan, 6.0],
                  [1.0, 2.0, 3.0], [np.nan, 5.0, np.nan]])
    layout = table.layout(X)
    np.testing.assert_array_equal(layout.empty, [1])
    assert sorted(layout.order.tolist()) == [0, 2, 3, 4]
    assert len(table) == 3  # (o, m, o), complete, (m, o, m); the empty pattern is left out
    for s in range(layout.seg_obs.shape[0]):
        rows = layout.order[layout.seg_start[s]:layout.seg_start[s + 1]]
        observed = layout.seg_perm[s, :layout.seg_obs[s]]
        for row in rows:
            np.testing.assert_array_equal(np.flatnonzero(~np.isnan(X[row])), observed)
    again = table.layout(X[::-1].copy())
    assert len(table) == 3  # the same patterns in another chunk: same ids
    assert sorted(again.seg_pattern.tolist()) == sorted(layout.seg_pattern.tolist())


def test_factor_table_follows_the_centre_and_wide_data_take_the_numpy_path():
    Xm = _data()
    _, model, params = _start(Xm, "full")
    with emkit.config_context(kernels="numpy"):
        expected = model.log_joint(params, Xm)
    with emkit.config_context(kernels="numba"):
        np.testing.assert_allclose(model.log_joint(params, Xm), expected, rtol=1e-10)
        # same parameters, another E-step centre (set by an M-step): factors are redone
        model._data_center = model._global_center(params) + 5.0
        np.testing.assert_allclose(model.log_joint(params, Xm), expected, rtol=1e-10)
        wide = _with_missing(make_blobs(dim=gaussian_missing.PATTERN_MAX_FEATURES + 1), 0.1, 0)
        _, wide_model, wide_params = _start(wide, "diag")
        w = np.ones(len(wide))
        assert wide_model.soft_e_step(wide_params, wide, w) is None
        assert model.soft_e_step(params, Xm, np.ones(len(Xm))) is not None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_chunks_with_nothing_observed():
    X = np.vstack([make_blobs(dim=3), np.full((50, 3), np.nan)])
    X[::5, 1] = np.nan
    fits = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels, monotonic="raise"):
            gm = GaussianMixture(3, random_state=0, chunk_size=50, tol=0.0,
                                 max_iter=10).fit(X)  # the last chunk is all NaN
            fits[kernels] = (gm.lower_bounds_, gm.means_, gm.score_samples(X[-60:]),
                             gm.predict_proba(X[-3:]))
    for ours, theirs in zip(fits["numba"], fits["numpy"], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fits["numba"][2][-50:], 0.0, atol=1e-12)  # log sum pi_k


def test_tight_component_far_from_the_centre_keeps_full_precision():
    """A component of scale 1e-2 at 1e3 from the E-step centre (log-densities ~ +9 for
    its rows, ~ -1e9 for the others): the same values as the NumPy path."""
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(300, 3)), 1e3 + 1e-2 * rng.normal(size=(100, 3))])
    Xm = _with_missing(X, 0.2, 6)
    with emkit.config_context(kernels="numpy"):
        gm = GaussianMixture(2, random_state=0, tol=1e-10).fit(Xm)
        model, params = gm._engine_model(), gm._params()
        model._data_center = np.full(Xm.shape[1], np.nanmean(Xm))  # far from 1e3
        expected = model.log_joint(params, Xm)
    with emkit.config_context(kernels="numba"):
        joint = model.log_joint(params, Xm)
    np.testing.assert_allclose(joint, expected, rtol=1e-11)
