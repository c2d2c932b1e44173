"""The small-data fast paths give what the paths they replace gave.

* EVE/VVE orientation rounds (disjoint pairs, one matrix product per round)
  against plane rotations applied one at a time;
* the batched Cholesky of full covariances against scipy's per component,
  and the component named when one fails;
* the cheap single-threaded-BLAS block against threadpoolctl's limiter.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg
from sklearn.datasets import load_iris, load_wine

import emkit
from emkit import GaussianMixture
from emkit.exceptions import DegenerateComponentError
from emkit.families import decomposed
from emkit.families.covariance import Full, Tied
from emkit.families.decomposed import jacobi_round, round_robin_pairs
from emkit.sources._map import blas_controller, single_threaded_blas


@pytest.mark.parametrize("n_features", [2, 3, 4, 7, 13])
def test_round_robin_rounds_cover_every_pair_once_with_disjoint_pairs(n_features):
    rounds = round_robin_pairs(n_features)
    assert len(rounds) == n_features - 1 + n_features % 2
    seen = []
    for first, second in rounds:
        assert (first < second).all()
        assert len(set(first) | set(second)) == 2 * first.size  # no index twice
        seen += list(zip(first.tolist(), second.tolist(), strict=True))
    expected = [(i, j) for i in range(n_features) for j in range(i + 1, n_features)]
    assert sorted(seen) == expected


def _sequential_rotations(rotated, inverse_shapes, orientation, first, second, scale):
    """The pairs of one round rotated one after another (the former per-pair sweep)."""
    rotated, orientation = rotated.copy(), orientation.copy()
    for i, j in zip(first, second, strict=True):
        delta = inverse_shapes[:, i] - inverse_shapes[:, j]
        p = 0.5 * float(delta @ (rotated[:, i, i] - rotated[:, j, j]))
        r = float(delta @ rotated[:, i, j])
        if math.hypot(p, r) <= 1e-15 * scale:
            continue
        angle = 0.5 * math.atan2(-r, -p)
        c, s = math.cos(angle), math.sin(angle)
        col_i, col_j = orientation[:, i].copy(), orientation[:, j].copy()
        orientation[:, i], orientation[:, j] = c * col_i + s * col_j, c * col_j - s * col_i
        col_i, col_j = rotated[:, :, i].copy(), rotated[:, :, j].copy()
        rotated[:, :, i], rotated[:, :, j] = c * col_i + s * col_j, c * col_j - s * col_i
        row_i, row_j = rotated[:, i, :].copy(), rotated[:, j, :].copy()
        rotated[:, i, :], rotated[:, j, :] = c * row_i + s * row_j, c * row_j - s * row_i
    return rotated, orientation


def _objective(rotated, inverse_shapes):
    return float((inverse_shapes * np.diagonal(rotated, axis1=1, axis2=2)).sum())


@pytest.mark.parametrize("n_features", [2, 5, 13])
def test_a_round_equals_its_rotations_applied_one_at_a_time(n_features):
    rng = np.random.default_rng(n_features)
    K = 4
    A = rng.normal(size=(K, n_features + 3, n_features))
    scatter = A.transpose(0, 2, 1) @ A
    orientation = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    rotated = np.einsum("ji,kjl,lm->kim", orientation, scatter, orientation)
    inverse_shapes = rng.uniform(0.2, 3.0, size=(K, n_features))
    scale = np.abs(inverse_shapes).max() * np.abs(np.einsum("kii->k", rotated)).max()
    for pairs in round_robin_pairs(n_features):
        before = _objective(rotated, inverse_shapes)
        expected = _sequential_rotations(rotated, inverse_shapes, orientation, *pairs, scale)
        rotated, orientation = jacobi_round(rotated, inverse_shapes, orientation, pairs, scale)
        np.testing.assert_allclose(rotated, expected[0], rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(orientation, expected[1], atol=1e-13)
        assert _objective(rotated, inverse_shapes) <= before + 1e-12 * abs(before)
    # the rotated matrices are still D' W D for the rotated orientation
    np.testing.assert_allclose(
        rotated, np.einsum("ji,kjl,lm->kim", orientation, scatter, orientation),
        rtol=1e-10, atol=1e-10 * np.abs(scatter).max())


@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_capped_orientation_sweeps_reach_the_same_fit(name, monkeypatch):
    """Few sweeps per M-step (a GEM step) converge to the fit of exact M-steps."""
    X = load_iris().data
    fits = {}
    for sweeps in (1, 1000):
        monkeypatch.setattr(decomposed, "ORIENTATION_SWEEPS", sweeps)
        monkeypatch.setattr(decomposed, "INNER_MAX_ITER", 1000)
        gm = GaussianMixture(3, covariance_type=name, reg_covar=0.0, tol=1e-11,
                             max_iter=5000, init_params="kmeans", random_state=0).fit(X)
        assert gm.converged_
        fits[sweeps] = gm
    assert fits[1].lower_bound_ == pytest.approx(fits[1000].lower_bound_, rel=1e-9)
    np.testing.assert_allclose(fits[1].covariances_, fits[1000].covariances_,
                               rtol=1e-4, atol=1e-6)


def test_batched_cholesky_equals_scipy_per_component():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 9, 6))
    covariances = A.transpose(0, 2, 1) @ A
    out = Full().precisions_cholesky(covariances)
    for k in range(5):
        lower = linalg.cholesky(covariances[k], lower=True)
        expected = linalg.lapack.dtrtri(lower, lower=1)[0].T
        np.testing.assert_array_equal(out[k], expected)
    np.testing.assert_array_equal(
        Tied().precisions_cholesky(covariances[0]),
        linalg.lapack.dtrtri(linalg.cholesky(covariances[0], lower=True), lower=1)[0].T)


def test_batched_cholesky_names_the_first_failing_component():
    covariances = np.stack([np.eye(3)] * 4)
    covariances[2, 0, 0] = -1.0
    covariances[3, 1, 1] = np.nan
    with pytest.raises(DegenerateComponentError, match="component 2"):
        Full().precisions_cholesky(covariances)
    covariances[2, 0, 0] = 1.0
    with pytest.raises(DegenerateComponentError, match="component 3"):
        Full().precisions_cholesky(covariances)


def _blas_threads() -> list:
    return [lib.get_num_threads() for lib in blas_controller().lib_controllers
            if lib.user_api == "blas"]


def test_single_threaded_blas_sets_one_thread_and_restores():
    before = _blas_threads()
    with single_threaded_blas():
        assert all(n == 1 for n in _blas_threads())
    assert _blas_threads() == before
    with pytest.raises(RuntimeError), single_threaded_blas():
        raise RuntimeError("inside")
    assert _blas_threads() == before


@pytest.mark.parametrize("n_features", [2, 5, 13])
def test_compiled_sweep_equals_the_numpy_rounds(n_features):
    pytest.importorskip("numba")
    from emkit._numba_orientation import jacobi_sweep

    rng = np.random.default_rng(10 + n_features)
    K = 3
    A = rng.normal(size=(K, n_features + 2, n_features))
    rotated = A.transpose(0, 2, 1) @ A
    orientation = np.eye(n_features)
    inverse_shapes = rng.uniform(0.2, 3.0, size=(K, n_features))
    scale = np.abs(inverse_shapes).max() * np.abs(np.einsum("kii->k", rotated)).max()
    expected_rotated, expected_orientation = rotated.copy(), orientation.copy()
    for pairs in round_robin_pairs(n_features):
        expected_rotated, expected_orientation = jacobi_round(
            expected_rotated, inverse_shapes, expected_orientation, pairs, scale)
    first = np.concatenate([f for f, _ in round_robin_pairs(n_features)])
    second = np.concatenate([s for _, s in round_robin_pairs(n_features)])
    jacobi_sweep(rotated, inverse_shapes, orientation, first, second, scale)
    np.testing.assert_allclose(rotated, expected_rotated, rtol=1e-11, atol=1e-11 * scale)
    np.testing.assert_allclose(orientation, expected_orientation, atol=1e-12)


@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_compiled_and_numpy_orientation_fits_agree(name):
    pytest.importorskip("numba")
    X = load_wine().data[:, :8]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    fits = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels, monotonic="raise"):
            fits[kernels] = GaussianMixture(3, covariance_type=name, reg_covar=0.0,
                                            init_params="kmeans", random_state=0).fit(X)
    assert fits["numba"].n_iter_ == fits["numpy"].n_iter_
    assert fits["numba"].lower_bound_ == pytest.approx(fits["numpy"].lower_bound_, rel=1e-12)
    np.testing.assert_allclose(fits["numba"].covariances_, fits["numpy"].covariances_,
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_compiled_inner_iteration_equals_the_numpy_one(name, monkeypatch):
    """One M-step from a warm start: the compiled loop gives the NumPy loop's covariances."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    K, D, n = 4, 9, 300
    X = rng.normal(size=(n, D)) @ rng.normal(size=(D, D))
    resp = rng.dirichlet(np.ones(K), size=n)
    counts = resp.sum(axis=0)
    first = resp.T @ X
    second = np.einsum("nk,ni,nj->kij", resp, X, X)
    structure = decomposed.EVE() if name == "EVE" else decomposed.VVE()
    start = structure.estimate(counts, first + 1.0, second * 1.3, 0.0)
    out = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels):
            out[kernels] = structure.estimate(counts, first, second, 0.0, start)
    assert not np.allclose(out["numpy"], start, rtol=1e-3)  # the step moved
    np.testing.assert_allclose(out["numba"], out["numpy"], rtol=1e-9,
                               atol=1e-12 * np.abs(out["numpy"]).max())
