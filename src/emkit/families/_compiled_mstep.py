"""The covariance M-step of mclust's 14 models, compiled (numba).

Import only when numba is installed (``emkit._kernels.numba_available()``);
this module imports numba at the top, like the ``emkit._numba_*`` modules.
One kernel per model, :data:`MSTEP_KERNELS` keyed by mclust name, all with
one signature::

    status = kernel(counts, scatter, previous, has_previous, reg_covar,
                    max_inner, inner_tol, out)

``counts`` (K,) are the summed responsibilities n_k, ``scatter`` (K, D, D)
``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)'`` about the component means
(without regularisation), ``previous`` (K, D, D) the previous covariances as
full matrices (diagonal ones for the diagonal models; read only when
``has_previous``), ``max_inner`` the inner iteration's rounds
(:func:`emkit.families.decomposed.inner_max_iter`), ``inner_tol``
:data:`~emkit.families.decomposed.INNER_TOL`.  ``out`` (K, D, D) receives the
covariances as full symmetric matrices.  The status is 0 on success; otherwise
``out`` is meaningless and the caller runs the NumPy M-step, which then
reports the degenerate or non-finite result in its own way:

1. the result is not finite;
2. ``counts``, ``scatter`` or ``previous`` hold non-finite numbers;
3. a matrix the NumPy path hands to ``slogdet``/``inv`` is not positive
   definite (its LU route still gives a number; these kernels use Cholesky);
4. a count is 0 in VVV, VVI, VII or EEE, whose NumPy M-step divides by it
   (NaN there too).

Each kernel computes what the model's ``estimate(counts, first, second,
reg_covar, previous)`` computes (:mod:`emkit.families.covariance` for VVV =
full, EEE = tied, VVI = diag, VII = spherical; :mod:`emkit.families.decomposed`
for the others), in the same order up to rounding: the regularisation enters
as there (``reg_covar n_k`` on the scatter's diagonal for the decomposed
models, ``reg_covar`` on the covariance's diagonal for the four scikit-learn
structures), the inner iterations (VEI, VEE, VEV, EVE, VVE) start from the
same warm start, stop by the same rule and keep ``previous`` when it has the
higher Q (``no_worse_than_previous``); components with count 0 are left out
as ``decomposed._active`` does.  EVE and VVE run the compiled inner iteration
of :mod:`emkit._numba_orientation` itself, at most
``min(max_inner, ORIENTATION_SWEEPS)`` sweeps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._compiled_mstep_common import (
    _JIT,
    BAD_INPUT,
    NOT_FINITE,
    NOT_POSITIVE_DEFINITE,
    OK,
    ZERO_COUNT,
    active_weights,
    any_zero,
    check_inputs,
    eigen_decompositions,
    equal_volume_variable_shapes,
    finish,
    from_eigen,
    load_diagonal,
    pooled_active,
    vector_sum,
    write_diagonal,
)
from ._compiled_mstep_iterative import (
    ORIENTATION_SWEEPS,
    mstep_EVE,
    mstep_VEE,
    mstep_VEI,
    mstep_VEV,
    mstep_VVE,
)

__all__ = ["BAD_INPUT", "MSTEP_KERNELS", "NOT_FINITE", "NOT_POSITIVE_DEFINITE", "OK",
           "ORIENTATION_SWEEPS", "ZERO_COUNT", "compiled_mstep"]


# ------------------------------------------------- the scikit-learn structures
@njit(**_JIT)
def mstep_VVV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Full.estimate``: ``W_k / n_k`` (symmetrised) plus ``reg_covar I``."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    if any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = 0.5 * (scatter[k, i, j] / counts[k] + scatter[k, j, i] / counts[k])
            out[k, i, i] += reg_covar
    return finish(out)


@njit(**_JIT)
def mstep_EEE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Tied.estimate``: ``sum_k W_k / sum_k n_k`` (symmetrised) plus ``reg_covar I``."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    if any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    pooled = np.zeros((D, D))
    for k in range(K):
        for i in range(D):
            for j in range(D):
                pooled[i, j] += scatter[k, i, j]
    total = vector_sum(counts)
    for i in range(D):
        for j in range(D):
            value = 0.5 * (pooled[i, j] / total + pooled[j, i] / total)
            if i == j:
                value += reg_covar
            for k in range(K):
                out[k, i, j] = value
    return finish(out)


@njit(**_JIT)
def _variances(counts, scatter):
    """``Diagonal._variances``: max(W_kjj / n_k, 0) (K, D)."""
    K, D, _ = scatter.shape
    variances = np.empty((K, D))
    for k in range(K):
        for j in range(D):
            value = scatter[k, j, j] / counts[k]
            variances[k, j] = 0.0 if value < 0.0 else value
    return variances


@njit(**_JIT)
def mstep_VVI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Diagonal.estimate``: ``max(diag W_k / n_k, 0) + reg_covar``."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    if any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    variances = _variances(counts, scatter)
    for k in range(K):
        for j in range(D):
            variances[k, j] += reg_covar
    write_diagonal(variances, out)
    return finish(out)


@njit(**_JIT)
def mstep_VII(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Spherical.estimate``: the mean of ``max(diag W_k / n_k, 0)`` plus ``reg_covar``."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    if any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    variances = _variances(counts, scatter)
    for k in range(K):
        value = vector_sum(variances[k]) / D + reg_covar
        for j in range(D):
            variances[k, j] = value
    write_diagonal(variances, out)
    return finish(out)


# ---------------------------------------------- closed forms of decomposed.py
@njit(**_JIT)
def mstep_EII(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EII.estimate``: ``sum_kj (W_k + reg n_k I)_jj / (D sum_k n_k)``."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    total = 0.0
    for k in range(K):
        total += vector_sum(diagonals[k])
    variance = total / (vector_sum(counts) * D)
    for k in range(K):
        for j in range(D):
            diagonals[k, j] = variance
    write_diagonal(diagonals, out)
    return finish(out)


@njit(**_JIT)
def mstep_EEI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EEI.estimate``: ``sum_k diag(W_k + reg n_k I) / sum_k n_k`` for every component."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    total = vector_sum(counts)
    for j in range(D):
        common = 0.0
        for k in range(K):
            common += diagonals[k, j]
        common /= total
        for k in range(K):
            diagonals[k, j] = common
    write_diagonal(diagonals, out)
    return finish(out)


@njit(**_JIT)
def mstep_EVI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EVI.estimate``: ``equal_volume_variable_shapes`` of the regularised diagonals."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    active, _weight = active_weights(counts)
    variances = np.empty((K, D))
    equal_volume_variable_shapes(counts, diagonals, active, variances)
    write_diagonal(variances, out)
    return finish(out)


@njit(**_JIT)
def mstep_EEV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EEV.estimate``: the pooled eigenvalues in every component's eigenvectors."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    _regularized, values, vectors = eigen_decompositions(counts, scatter, reg_covar)
    active, weight = active_weights(counts)
    common = pooled_active(values, active)
    total = vector_sum(weight)
    for j in range(D):
        common[j] /= total
    for k in range(K):
        from_eigen(vectors[k], common, out[k])
    return finish(out)


@njit(**_JIT)
def mstep_EVV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EVV.estimate``: ``equal_volume_variable_shapes`` of the eigenvalues."""
    status = check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    _regularized, values, vectors = eigen_decompositions(counts, scatter, reg_covar)
    active, _weight = active_weights(counts)
    shapes = np.empty((K, D))
    equal_volume_variable_shapes(counts, values, active, shapes)
    for k in range(K):
        from_eigen(vectors[k], shapes[k], out[k])
    return finish(out)


#: The kernels by mclust name (mclust's order).
MSTEP_KERNELS = {
    "EII": mstep_EII, "VII": mstep_VII, "EEI": mstep_EEI, "VEI": mstep_VEI,
    "EVI": mstep_EVI, "VVI": mstep_VVI, "EEE": mstep_EEE, "VEE": mstep_VEE,
    "EVE": mstep_EVE, "VVE": mstep_VVE, "EEV": mstep_EEV, "VEV": mstep_VEV,
    "EVV": mstep_EVV, "VVV": mstep_VVV,
}


def compiled_mstep(model_name: str, counts: np.ndarray, scatter: np.ndarray,
                   previous: np.ndarray | None, reg_covar: float, *,
                   return_status: bool = False):
    """Run one kernel of :data:`MSTEP_KERNELS` on NumPy arrays (tests and benchmarks).

    Parameters
    ----------
    model_name : str
        mclust's name of the model (EII ... VVV).
    counts : ndarray (K,)
        Summed responsibilities.
    scatter : ndarray (K, D, D)
        Scatter matrices about the component means, without regularisation.
    previous : ndarray (K, D, D) or None
        The previous covariances as full matrices (warm start).
    reg_covar : float
        The regularisation, applied as the NumPy M-step applies it.
    return_status : bool, default False
        Also return the kernel's status.

    Returns
    -------
    covariances : ndarray (K, D, D)
        Full covariance matrices; NaN when the kernel reports failure.
    status : int
        Only with ``return_status``: 0 on success (see the module docstring).
    """
    from .decomposed import INNER_TOL, inner_max_iter

    counts = np.ascontiguousarray(counts, dtype=np.float64)
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    has_previous = previous is not None
    previous = (np.ascontiguousarray(previous, dtype=np.float64) if has_previous
                else np.zeros_like(scatter))
    out = np.empty_like(scatter)
    status = int(MSTEP_KERNELS[model_name](counts, scatter, previous, has_previous,
                                           float(reg_covar), int(inner_max_iter()),
                                           float(INNER_TOL), out))
    if status != OK:
        out[:] = np.nan
    return (out, status) if return_status else out
