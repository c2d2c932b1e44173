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

import math

import numpy as np
from numba import njit

from .._numba_orientation import common_orientation_inner
from ._compiled_mstep_linalg import (
    _JIT,
    active_weights,
    all_finite,
    cholesky,
    circle_pairs,
    converged,
    copy_matrices,
    diagonal_objective,
    equal_volume_variable_shapes,
    from_eigen,
    full_objective,
    load_diagonal,
    load_full,
    sorted_eigh,
    spd_inverse,
    trace_product,
    unit_determinant,
    write_diagonal,
)

#: Most sweeps of the common-orientation models (``decomposed.ORIENTATION_SWEEPS``;
#: checked equal by the tests).
ORIENTATION_SWEEPS = 10

OK, NOT_FINITE, BAD_INPUT, NOT_POSITIVE_DEFINITE, ZERO_COUNT = 0, 1, 2, 3, 4


@njit(**_JIT)
def _check_inputs(counts, scatter):
    """BAD_INPUT when the counts or the scatter hold non-finite numbers, else OK."""
    for k in range(counts.shape[0]):
        if not np.isfinite(counts[k]):
            return BAD_INPUT
    return OK if all_finite(scatter) else BAD_INPUT


@njit(**_JIT)
def _finish(out):
    return OK if all_finite(out) else NOT_FINITE


@njit(**_JIT)
def _any_zero(counts) -> bool:
    for k in range(counts.shape[0]):
        if counts[k] == 0.0:
            return True
    return False


@njit(**_JIT)
def _total(values) -> float:
    total = 0.0
    for k in range(values.shape[0]):
        total += values[k]
    return total


# ------------------------------------------------- the scikit-learn structures
@njit(**_JIT)
def mstep_VVV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Full.estimate``: ``W_k / n_k`` (symmetrised) plus ``reg_covar I``."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    if _any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = 0.5 * (scatter[k, i, j] / counts[k] + scatter[k, j, i] / counts[k])
            out[k, i, i] += reg_covar
    return _finish(out)


@njit(**_JIT)
def mstep_EEE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Tied.estimate``: ``sum_k W_k / sum_k n_k`` (symmetrised) plus ``reg_covar I``."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    if _any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    pooled = np.zeros((D, D))
    for k in range(K):
        for i in range(D):
            for j in range(D):
                pooled[i, j] += scatter[k, i, j]
    total = _total(counts)
    for i in range(D):
        for j in range(D):
            value = 0.5 * (pooled[i, j] / total + pooled[j, i] / total)
            if i == j:
                value += reg_covar
            for k in range(K):
                out[k, i, j] = value
    return _finish(out)


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
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    if _any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    variances = _variances(counts, scatter)
    for k in range(K):
        for j in range(D):
            variances[k, j] += reg_covar
    write_diagonal(variances, out)
    return _finish(out)


@njit(**_JIT)
def mstep_VII(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``Spherical.estimate``: the mean of ``max(diag W_k / n_k, 0)`` plus ``reg_covar``."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    if _any_zero(counts):
        return ZERO_COUNT
    K, D, _ = scatter.shape
    variances = _variances(counts, scatter)
    for k in range(K):
        value = _total(variances[k]) / D + reg_covar
        for j in range(D):
            variances[k, j] = value
    write_diagonal(variances, out)
    return _finish(out)


# ---------------------------------------------- closed forms of decomposed.py
@njit(**_JIT)
def mstep_EII(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EII.estimate``: ``sum_kj (W_k + reg n_k I)_jj / (D sum_k n_k)``."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    total = 0.0
    for k in range(K):
        total += _total(diagonals[k])
    variance = total / (_total(counts) * D)
    for k in range(K):
        for j in range(D):
            diagonals[k, j] = variance
    write_diagonal(diagonals, out)
    return _finish(out)


@njit(**_JIT)
def mstep_EEI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EEI.estimate``: ``sum_k diag(W_k + reg n_k I) / sum_k n_k`` for every component."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    total = _total(counts)
    for j in range(D):
        common = 0.0
        for k in range(K):
            common += diagonals[k, j]
        common /= total
        for k in range(K):
            diagonals[k, j] = common
    write_diagonal(diagonals, out)
    return _finish(out)


@njit(**_JIT)
def mstep_EVI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EVI.estimate``: ``equal_volume_variable_shapes`` of the regularised diagonals."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    active, _weight = active_weights(counts)
    variances = np.empty((K, D))
    equal_volume_variable_shapes(counts, diagonals, active, variances)
    write_diagonal(variances, out)
    return _finish(out)


@njit(**_JIT)
def _eigen(counts, scatter, reg_covar):
    """The regularised scatter (K, D, D) and its ``_sorted_eigh`` (values, vectors)."""
    K, D, _ = scatter.shape
    regularized = np.empty((K, D, D))
    load_full(counts, scatter, reg_covar, regularized)
    values = np.empty((K, D))
    vectors = np.empty((K, D, D))
    for k in range(K):
        sorted_eigh(regularized[k], values[k], vectors[k])
    return regularized, values, vectors


@njit(**_JIT)
def _pooled_active(values, active):
    """sum over the active components of values[k] (K, D) -> (D,)."""
    K, D = values.shape
    pooled = np.zeros(D)
    for k in range(K):
        if active[k]:
            for j in range(D):
                pooled[j] += values[k, j]
    return pooled


@njit(**_JIT)
def mstep_EEV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EEV.estimate``: the pooled eigenvalues in every component's eigenvectors."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    _regularized, values, vectors = _eigen(counts, scatter, reg_covar)
    active, weight = active_weights(counts)
    common = _pooled_active(values, active)
    total = _total(weight)
    for j in range(D):
        common[j] /= total
    for k in range(K):
        from_eigen(vectors[k], common, out[k])
    return _finish(out)


@njit(**_JIT)
def mstep_EVV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EVV.estimate``: ``equal_volume_variable_shapes`` of the eigenvalues."""
    status = _check_inputs(counts, scatter)
    if status != OK:
        return status
    K, D, _ = scatter.shape
    _regularized, values, vectors = _eigen(counts, scatter, reg_covar)
    active, _weight = active_weights(counts)
    shapes = np.empty((K, D))
    equal_volume_variable_shapes(counts, values, active, shapes)
    for k in range(K):
        from_eigen(vectors[k], shapes[k], out[k])
    return _finish(out)


# -------------------------------------------- inner iterations of decomposed.py
@njit(**_JIT)
def _volumes_and_shape(counts, values, active, shape):
    """One round of VEI/VEV: the volumes given the shape, then the shape given them."""
    K, D = values.shape
    volumes = np.ones(K)
    for k in range(K):
        if active[k]:
            total = 0.0
            for j in range(D):
                total += values[k, j] / shape[j]
            volumes[k] = total / (counts[k] * D)
    pooled = np.zeros(D)
    for k in range(K):
        if active[k]:
            for j in range(D):
                pooled[j] += values[k, j] / volumes[k]
    return volumes, unit_determinant(pooled)


@njit(**_JIT)
def _common_shape_inner(counts, values, active, weight, shape, max_inner, inner_tol):
    """The inner loop of VEI (values: scatter diagonals) and VEV (eigenvalues).

    Returns the variances ``volumes_k * shape`` (K, D) of the last round.
    """
    K, D = values.shape
    variances = np.empty((K, D))
    objective = -np.inf
    for _ in range(max_inner):
        volumes, shape = _volumes_and_shape(counts, values, active, shape)
        for k in range(K):
            for j in range(D):
                variances[k, j] = volumes[k] * shape[j]
        new = diagonal_objective(weight, values, variances)
        if converged(objective, new, inner_tol):
            break
        objective = new
    return variances


@njit(**_JIT)
def _mean_unit_shape(rows, active):
    """``unit_determinant(geometric_mean(unit_determinant(rows[active]).T))`` (D,)."""
    K, D = rows.shape
    logs = np.zeros(D)
    n_active = 0
    for k in range(K):
        if active[k]:
            unit = unit_determinant(rows[k])
            for j in range(D):
                logs[j] += np.log(unit[j])
            n_active += 1
    shape = np.empty(D)
    for j in range(D):
        shape[j] = math.exp(logs[j] / n_active)
    return unit_determinant(shape)


@njit(**_JIT)
def mstep_VEI(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``VEI.estimate``: volumes and one diagonal shape, alternated from the warm start."""
    status = _check_inputs(counts, scatter)
    if status != OK or (has_previous and not all_finite(previous)):
        return BAD_INPUT
    if max_inner < 1:  # the NumPy loop needs one round
        return BAD_INPUT
    K, D, _ = scatter.shape
    diagonals = np.empty((K, D))
    load_diagonal(counts, scatter, reg_covar, diagonals)
    active, weight = active_weights(counts)
    previous_diagonals = np.empty((K, D))
    for k in range(K):
        for j in range(D):
            previous_diagonals[k, j] = previous[k, j, j]
    if has_previous:
        shape = _mean_unit_shape(previous_diagonals, active)
    else:
        pooled = _pooled_active(diagonals, active)
        total = _total(weight)
        for j in range(D):
            pooled[j] /= total
        shape = unit_determinant(pooled)
    variances = _common_shape_inner(counts, diagonals, active, weight, shape, max_inner,
                                    inner_tol)
    write_diagonal(variances, out)
    if has_previous and all_finite(out):
        old = diagonal_objective(weight, diagonals, previous_diagonals)
        new = diagonal_objective(weight, diagonals, variances)
        if np.isfinite(old) and not new >= old:
            write_diagonal(previous_diagonals, out)
    return _finish(out)


@njit(**_JIT)
def _keep_better(weight, regularized, previous, has_previous, out):
    """``no_worse_than_previous`` of the full-storage models: ``previous`` into ``out``
    when it has the higher Q.  Status (NOT_POSITIVE_DEFINITE when Q needs an LU)."""
    if not has_previous or not all_finite(out):
        return OK
    old, ok_old = full_objective(weight, regularized, previous)
    new, ok_new = full_objective(weight, regularized, out)
    if not (ok_old and ok_new):
        return NOT_POSITIVE_DEFINITE
    if np.isfinite(old) and not new >= old:
        copy_matrices(previous, out)
    return OK


@njit(**_JIT)
def mstep_VEV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``VEV.estimate``: volumes and one shape on the eigenvalues, eigenvectors of W_k."""
    status = _check_inputs(counts, scatter)
    if status != OK or (has_previous and not all_finite(previous)):
        return BAD_INPUT
    if max_inner < 1:
        return BAD_INPUT
    K, D, _ = scatter.shape
    regularized, values, vectors = _eigen(counts, scatter, reg_covar)
    active, weight = active_weights(counts)
    if has_previous:
        previous_values = np.ones((K, D))
        for k in range(K):
            if active[k]:
                ascending = np.linalg.eigvalsh(previous[k])
                for j in range(D):
                    previous_values[k, j] = ascending[D - 1 - j]
        shape = _mean_unit_shape(previous_values, active)
    else:
        shape = unit_determinant(_pooled_active(values, active))
    variances = _common_shape_inner(counts, values, active, weight, shape, max_inner,
                                    inner_tol)
    for k in range(K):
        from_eigen(vectors[k], variances[k], out[k])
    status = _keep_better(weight, regularized, previous, has_previous, out)
    return status if status != OK else _finish(out)


@njit(**_JIT)
def _normalize_volume(matrix, lower) -> bool:
    """matrix / ``decomposed._volume(matrix)`` in place (|S|^(1/D) from Cholesky);
    False when the matrix is not positive definite."""
    D = matrix.shape[0]
    if not cholesky(matrix, lower):
        return False
    logdet = 0.0
    for j in range(D):
        logdet += 2.0 * math.log(lower[j, j])
    volume = math.exp(logdet / D)
    for i in range(D):
        for j in range(D):
            matrix[i, j] = matrix[i, j] / volume
    return True


@njit(**_JIT)
def mstep_VEE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``VEE.estimate``: volumes and one matrix C (|C| = 1), alternated from the warm start."""
    status = _check_inputs(counts, scatter)
    if status != OK or (has_previous and not all_finite(previous)):
        return BAD_INPUT
    if max_inner < 1:
        return BAD_INPUT
    K, D, _ = scatter.shape
    regularized = np.empty((K, D, D))
    load_full(counts, scatter, reg_covar, regularized)
    active, weight = active_weights(counts)
    lower = np.empty((D, D))
    unit = np.empty((D, D))
    common = np.zeros((D, D))
    if has_previous:
        n_active = 0
        for k in range(K):
            if active[k]:
                for i in range(D):
                    for j in range(D):
                        unit[i, j] = previous[k, i, j]
                if not _normalize_volume(unit, lower):
                    return NOT_POSITIVE_DEFINITE
                for i in range(D):
                    for j in range(D):
                        common[i, j] += unit[i, j]
                n_active += 1
        for i in range(D):
            for j in range(D):
                common[i, j] /= n_active
    else:
        for k in range(K):
            if active[k]:
                for i in range(D):
                    for j in range(D):
                        common[i, j] += regularized[k, i, j]
    if not _normalize_volume(common, lower):
        return NOT_POSITIVE_DEFINITE
    precision = np.empty((D, D))
    volumes = np.ones(K)
    objective = -np.inf
    _logdet, ok = spd_inverse(common, lower, precision)
    if not ok:
        return NOT_POSITIVE_DEFINITE
    for _ in range(max_inner):
        for k in range(K):
            if active[k]:
                volumes[k] = trace_product(regularized[k], precision) / (counts[k] * D)
        for i in range(D):
            for j in range(D):
                total = 0.0
                for k in range(K):
                    if active[k]:
                        total += regularized[k, i, j] / volumes[k]
                unit[i, j] = total
        for i in range(D):
            for j in range(D):
                common[i, j] = 0.5 * (unit[i, j] + unit[j, i])
        if not _normalize_volume(common, lower):
            return NOT_POSITIVE_DEFINITE
        # Q of volumes_k * common from one factorisation of common
        logdet, ok = spd_inverse(common, lower, precision)
        if not ok:
            return NOT_POSITIVE_DEFINITE
        total = 0.0
        for k in range(K):
            if weight[k] > 0.0:
                total += (weight[k] * (D * math.log(volumes[k]) + logdet)
                          + trace_product(regularized[k], precision) / volumes[k])
        new = -0.5 * total
        if converged(objective, new, inner_tol):
            break
        objective = new
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = volumes[k] * common[i, j]
    status = _keep_better(weight, regularized, previous, has_previous, out)
    return status if status != OK else _finish(out)


@njit(**_JIT)
def _common_orientation(counts, scatter, previous, has_previous, reg_covar, max_inner,
                        inner_tol, out, equal_volume):
    """``_CommonOrientation.estimate`` (EVE, VVE) with the compiled inner iteration."""
    status = _check_inputs(counts, scatter)
    if status != OK or (has_previous and not all_finite(previous)):
        return BAD_INPUT
    K, D, _ = scatter.shape
    regularized = np.empty((K, D, D))
    load_full(counts, scatter, reg_covar, regularized)
    active, weight = active_weights(counts)
    # the start: eigenvectors of the pooled scatter, or decomposed.common_orientation
    # (a generic positive combination of the previous covariances)
    combination = np.zeros((D, D))
    index = 0
    for k in range(K):
        if active[k]:
            coefficient = 1.0
            if has_previous:
                index += 1
                product = index * (math.sqrt(5.0) - 1.0) / 2.0
                coefficient = 1.0 + (product - math.floor(product))
            for i in range(D):
                for j in range(D):
                    combination[i, j] += (coefficient * previous[k, i, j] if has_previous
                                          else regularized[k, i, j])
    # np.linalg.eigh's eigenvectors (ascending eigenvalues), C-contiguous
    values = np.empty(D)
    descending = np.empty((D, D))
    sorted_eigh(combination, values, descending)
    orientation = np.empty((D, D))
    for i in range(D):
        for j in range(D):
            orientation[i, j] = descending[i, D - 1 - j]
    # B_k = D' W_k D
    rotated = np.empty((K, D, D))
    half = np.empty((D, D))
    for k in range(K):
        for a in range(D):
            for m in range(D):
                total = 0.0
                for b in range(D):
                    total += regularized[k, a, b] * orientation[b, m]
                half[a, m] = total
        for i in range(D):
            for m in range(D):
                total = 0.0
                for a in range(D):
                    total += orientation[a, i] * half[a, m]
                rotated[k, i, m] = total
    first, second = circle_pairs(D)
    diagonals = np.empty((K, D))
    common_orientation_inner(rotated, orientation, counts, active, equal_volume, first, second,
                             min(max_inner, ORIENTATION_SWEEPS), inner_tol, diagonals)
    for k in range(K):
        from_eigen(orientation, diagonals[k], out[k])
    status = _keep_better(weight, regularized, previous, has_previous, out)
    return status if status != OK else _finish(out)


@njit(**_JIT)
def _runtime(flag):
    """``flag`` as a plain boolean: a literal True/False would compile the callees twice."""
    box = np.empty(1, dtype=np.bool_)
    box[0] = flag
    return box[0]


@njit(**_JIT)
def mstep_EVE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``EVE.estimate``: equal volumes, variable shapes, one orientation."""
    return _common_orientation(counts, scatter, previous, has_previous, reg_covar, max_inner,
                               inner_tol, out, _runtime(True))


@njit(**_JIT)
def mstep_VVE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    """``VVE.estimate``: variable volumes and shapes, one orientation."""
    return _common_orientation(counts, scatter, previous, has_previous, reg_covar, max_inner,
                               inner_tol, out, _runtime(False))


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
