"""The compiled covariance M-steps (emkit.families._compiled_mstep) against the NumPy ones.

Every kernel is compared with its model's ``estimate`` (the reference path) on
random positive definite scatter matrices: the closed forms to rounding, the
inner iterations (VEI, VEE, VEV, EVE, VVE) too, since they run the same rounds
from the same warm start and stop by the same rule.  The NumPy ``estimate``
takes moments, not scatter: moments about the component means (first = 0,
second = W_k, in each structure's storage) give exactly the scatter.  The
largest deviation seen is 7e-15 of a matrix's largest entry (EVE; 0 for
several closed forms), so RTOL = 1e-12 leaves room for other LAPACK builds.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from emkit import config_context
from emkit.families import _orientation, decomposed
from emkit.families._compiled_mstep import (
    BAD_INPUT,
    MSTEP_KERNELS,
    NOT_FINITE,
    ORIENTATION_SWEEPS,
    ZERO_COUNT,
    compiled_mstep,
)
from emkit.families._compiled_mstep_common import circle_pairs
from emkit.families.covariance import Full, Tied, scatter_diagonal, scatter_full
from emkit.families.structures import MCLUST_MODELS, get_structure

ITERATIVE = ("VEI", "VEE", "VEV", "EVE", "VVE")
SKLEARN = ("VVV", "EEE", "VVI", "VII")  # divide by the count: NaN for an empty component
RTOL = 1e-12  # the largest deviation seen is 7e-15 (EVE), see the module docstring


def _storage_previous(structure, previous):
    """Full (K, D, D) previous covariances in the structure's storage shape."""
    if isinstance(structure, Tied):
        return previous[0].copy()
    if isinstance(structure, Full):
        return previous.copy()
    diagonals = np.diagonal(previous, axis1=1, axis2=2).copy()
    spherical = len(structure.shape(*diagonals.shape)) == 1
    return diagonals.mean(axis=1) if spherical else diagonals


def _as_full(structure, covariances, K, D):
    return np.stack([structure.component_covariance(covariances, k, D) for k in range(K)])


def _safe_scatter(monkeypatch):
    """Let the NumPy path take a count of 0 with zero moments (first 0: no 0/0 in the mean)."""
    def full(counts, first, second, reg_covar):
        out = scatter_full(np.where(counts > 0, counts, 1.0), first, second, 0.0)
        idx = np.arange(out.shape[1])
        out[:, idx, idx] += reg_covar * counts[:, None]
        return out

    def diagonal(counts, first, second, reg_covar):
        safe = np.where(counts > 0, counts, 1.0)
        return scatter_diagonal(safe, first, second, 0.0) + reg_covar * counts[:, None]

    monkeypatch.setattr(decomposed, "scatter_full", full)
    monkeypatch.setattr(decomposed, "scatter_diagonal", diagonal)


def python_mstep(name, counts, scatter, previous, reg_covar):
    """The NumPy M-step of model ``name`` on the scatter, as full (K, D, D) matrices."""
    structure = get_structure(name)
    K, D, _ = scatter.shape
    first = np.zeros((K, D))
    second = structure.reduce_second(scatter)
    stored = None if previous is None else _storage_previous(structure, previous)
    with np.errstate(all="ignore"):
        covariances = structure.estimate(counts, first, second, reg_covar, stored)
    return _as_full(structure, covariances, K, D)


def _spd(rng, D, scale=1.0):
    A = rng.normal(size=(D, D + 3))
    return scale * (A @ A.T) / (D + 3) + 0.05 * scale * np.eye(D)


def _problem(rng, K, D, tiny=True):
    """Counts (one tiny when K > 1) and scatter matrices n_k Sigma_k of varied scales."""
    counts = rng.uniform(2.0, 60.0, K)
    if tiny and K > 1:
        counts[-1] = 1e-6
    scatter = np.stack([counts[k] * _spd(rng, D, 10.0 ** rng.uniform(-2, 2))
                        for k in range(K)])
    return counts, scatter


def _model_previous(rng, name, counts, scatter):
    """A previous M-step's result: the model fitted to a perturbed scatter."""
    K, D, _ = scatter.shape
    perturbed = np.stack([scatter[k] + 0.1 * counts[k] * _spd(rng, D, np.trace(scatter[k])
                                                             / (D * counts[k]))
                          for k in range(K)])
    return python_mstep(name, counts, perturbed, None, 0.0)


def _assert_close(actual, expected, what):
    """Every entry within RTOL of its matrix's largest entry."""
    scale = np.maximum(np.abs(expected).max(axis=(1, 2)), np.finfo(float).tiny)
    error = np.abs(actual - expected).max(axis=(1, 2)) / scale
    assert (error <= RTOL).all(), f"{what}: relative errors {error}"


def _compare(name, counts, scatter, previous, reg_covar, what):
    expected = python_mstep(name, counts, scatter, previous, reg_covar)
    actual, status = compiled_mstep(name, counts, scatter, previous, reg_covar,
                                    return_status=True)
    assert status == 0, f"{what}: status {status}"
    assert np.isfinite(expected).all(), what
    np.testing.assert_array_equal(actual, actual.transpose(0, 2, 1), err_msg=what)
    _assert_close(actual, expected, what)


def _kernel_modes(name):
    # EVE/VVE: with the compiled inner iteration (the same code) and the NumPy one
    return ("numba", "numpy") if name in ("EVE", "VVE") else ("numpy",)


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_kernel_matches_numpy_m_step(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    for mode in _kernel_modes(name):
        with config_context(kernels=mode):
            for K in (1, 2, 3, 5):
                for D in (1, 2, 3, 4, 6, 9):
                    counts, scatter = _problem(rng, K, D)
                    previous = _model_previous(rng, name, counts, scatter)
                    for reg_covar in (0.0, 1e-6):
                        for warm in (None, previous):
                            what = (f"{name} K={K} D={D} reg={reg_covar} "
                                    f"previous={warm is not None} kernels={mode}")
                            _compare(name, counts, scatter, warm, reg_covar, what)


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_zero_count(name, monkeypatch):
    """An empty component: left out of the decomposed models' M-step (``_active``);
    the scikit-learn structures divide by its count (NaN) and the kernel says so."""
    _safe_scatter(monkeypatch)
    rng = np.random.default_rng(7)
    for K, D in ((2, 1), (3, 3), (5, 4)):
        counts, scatter = _problem(rng, K, D, tiny=False)
        counts[1] = 0.0
        scatter[1] = 0.0
        previous = _model_previous(rng, name, np.where(counts > 0, counts, 1.0),
                                   scatter + np.eye(D) * (counts == 0)[:, None, None])
        for reg_covar in (0.0, 1e-6):
            for warm in (None, previous):
                what = f"{name} K={K} D={D} reg={reg_covar} previous={warm is not None}"
                if name in SKLEARN:
                    expected = python_mstep(name, counts, scatter, warm, reg_covar)
                    assert not np.isfinite(expected).all(), what
                    _out, status = compiled_mstep(name, counts, scatter, warm, reg_covar,
                                                  return_status=True)
                    assert status == ZERO_COUNT, what
                else:
                    _compare(name, counts, scatter, warm, reg_covar, what)


@pytest.mark.parametrize("name", ITERATIVE)
def test_keeps_previous_with_higher_q(name):
    """``no_worse_than_previous``: the unconstrained optimum W_k / n_k as previous has a
    higher Q than any constrained candidate, so both paths return it unchanged."""
    rng = np.random.default_rng(3)
    counts, scatter = _problem(rng, 3, 4, tiny=False)
    previous = scatter / counts[:, None, None]
    if name == "VEI":
        previous = np.stack([np.diag(np.diag(p)) for p in previous])
    expected = python_mstep(name, counts, scatter, previous, 0.0)
    np.testing.assert_array_equal(expected, previous)  # the branch is exercised
    np.testing.assert_array_equal(compiled_mstep(name, counts, scatter, previous, 0.0),
                                  previous)


@pytest.mark.parametrize("name", ITERATIVE)
@pytest.mark.parametrize("limit", [1, 3])
def test_generalized_em_round_limit(name, limit):
    """``max_inner`` bounds the rounds as ``inner_iterations`` bounds the NumPy loop."""
    rng = np.random.default_rng(11)
    counts, scatter = _problem(rng, 4, 5)
    previous = _model_previous(rng, name, counts, scatter)
    with decomposed.inner_iterations(limit), config_context(kernels="numba"):
        _compare(name, counts, scatter, previous, 0.0, f"{name} limit={limit}")
        full = python_mstep(name, counts, scatter, previous, 0.0)
    unlimited = python_mstep(name, counts, scatter, previous, 0.0)
    if limit == 1:  # the limit matters here, so the comparison above tested it
        assert not np.allclose(full, unlimited, rtol=1e-8, atol=0.0)


def test_orientation_pairs_and_sweeps_follow_the_numpy_path():
    assert ORIENTATION_SWEEPS == decomposed.ORIENTATION_SWEEPS
    for D in range(1, 15):
        first, second = circle_pairs(D)
        expected = _orientation.flat_pairs(D)
        np.testing.assert_array_equal(first, expected[0])
        np.testing.assert_array_equal(second, expected[1])


def test_every_model_has_a_kernel():
    assert tuple(MSTEP_KERNELS) == MCLUST_MODELS


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_failures_are_reported(name):
    rng = np.random.default_rng(5)
    counts, scatter = _problem(rng, 3, 3, tiny=False)
    bad = scatter.copy()
    bad[1, 0, 2] = bad[1, 2, 0] = np.nan
    out, status = compiled_mstep(name, counts, bad, None, 0.0, return_status=True)
    assert status == BAD_INPUT and np.isnan(out).all()
    # a component without spread: singular scatter, non-finite or singular result
    flat = scatter.copy()
    flat[0] = 0.0
    expected = python_mstep(name, counts, flat, None, 0.0)
    _out, status = compiled_mstep(name, counts, flat, None, 0.0, return_status=True)
    with np.errstate(all="ignore"):
        finite = np.isfinite(expected).all()
    if not finite:
        assert status != 0
    elif status == 0:
        _assert_close(_out, expected, name)
    else:  # Q of a singular covariance needs the LU route: the caller falls back
        assert status in (NOT_FINITE, 3)


def test_one_dimension_one_component():
    counts = np.array([4.0])
    scatter = np.array([[[8.0]]])
    for name in MCLUST_MODELS:
        for warm in (None, np.array([[[1.5]]])):
            for reg_covar in (0.0, 0.25):
                # every model is W / n + reg (the previous 1.5 has the lower Q)
                out = compiled_mstep(name, counts, scatter, warm, reg_covar)
                expected = 2.0 + reg_covar
                np.testing.assert_allclose(out, [[[expected]]], rtol=1e-14, err_msg=name)



@pytest.mark.parametrize("D", [1, 2, 3, 5, 13, 20])
def test_jacobi_eigh_agrees_with_lapack(D, monkeypatch):
    """The M-steps' Jacobi eigensolver against numpy.linalg.eigh: eigenvalues
    (descending, clipped at 0) to rounding of the norm, an orthonormal basis
    that rebuilds the matrix, and eigenvectors equal up to sign where the
    eigenvalues are well separated; also for condition numbers up to 1e12."""
    from emkit.families import _compiled_mstep_common as common

    # compiled up to JACOBI_MAX_FEATURES; larger sizes (which the M-steps hand to
    # LAPACK) through the Python function with the limit lifted
    jacobi_sorted_eigh = common.jacobi_sorted_eigh
    if D > common.JACOBI_MAX_FEATURES:
        monkeypatch.setattr(common, "JACOBI_MAX_FEATURES", 64)
        jacobi_sorted_eigh = common.jacobi_sorted_eigh.py_func

    rng = np.random.default_rng(D)
    for condition in (1.0, 1e3, 1e12):
        basis, _ = np.linalg.qr(rng.normal(size=(D, D)))
        spectrum = np.geomspace(1.0, 1.0 / condition, D) * rng.uniform(0.5, 2.0)
        matrix = (basis * spectrum) @ basis.T
        matrix = 0.5 * (matrix + matrix.T)
        values, vectors = np.empty(D), np.empty((D, D))
        jacobi_sorted_eigh(matrix, values, vectors)
        expected = np.maximum(np.linalg.eigvalsh(matrix)[::-1], 0.0)
        norm = np.abs(expected).max()
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-14 * D * norm)
        np.testing.assert_allclose(vectors.T @ vectors, np.eye(D), atol=1e-13 * D)
        np.testing.assert_allclose((vectors * values) @ vectors.T, matrix,
                                   atol=1e-14 * D * norm)
        if condition == 1e3:  # separated eigenvalues: the same vectors up to sign
            _, lapack = np.linalg.eigh(matrix)
            lapack = lapack[:, ::-1]
            signs = np.sign((vectors * lapack).sum(axis=0))
            np.testing.assert_allclose(vectors, lapack * signs, atol=1e-10)
    diagonal = np.diag([2.0, 2.0, 1.0])  # ties: LAPACK's order
    values, vectors = np.empty(3), np.empty((3, 3))
    jacobi_sorted_eigh(diagonal, values, vectors)
    ascending, lapack = np.linalg.eigh(diagonal)
    np.testing.assert_array_equal(values, ascending[::-1])
    np.testing.assert_array_equal(np.abs(vectors), np.abs(lapack[:, ::-1]))
