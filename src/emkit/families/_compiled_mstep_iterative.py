"""The compiled M-steps whose NumPy version is an inner iteration: VEI, VEV, VEE, EVE, VVE.

See :mod:`emkit.families._compiled_mstep` (the interface, statuses, and what
"the same as the NumPy path" means) and :mod:`emkit.families.decomposed` (the
algorithms).  Import through :mod:`._compiled_mstep` only (numba is optional).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numba_orientation import common_orientation_inner
from ._compiled_mstep_common import (
    _JIT,
    BAD_INPUT,
    NOT_POSITIVE_DEFINITE,
    OK,
    active_weights,
    all_finite,
    check_inputs,
    cholesky,
    circle_pairs,
    converged,
    copy_matrices,
    diagonal_objective,
    eigen_decompositions,
    finish,
    from_eigen,
    full_objective,
    jacobi_sorted_eigh,
    load_diagonal,
    load_full,
    pooled_active,
    sorted_eigh,
    spd_inverse,
    trace_product,
    unit_determinant,
    vector_sum,
    write_diagonal,
)

#: Most sweeps of the common-orientation models (``decomposed.ORIENTATION_SWEEPS``;
#: checked equal by the tests).
ORIENTATION_SWEEPS = 10


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
    status = check_inputs(counts, scatter)
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
        pooled = pooled_active(diagonals, active)
        total = vector_sum(weight)
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
    return finish(out)


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
    status = check_inputs(counts, scatter)
    if status != OK or (has_previous and not all_finite(previous)):
        return BAD_INPUT
    if max_inner < 1:
        return BAD_INPUT
    K, D, _ = scatter.shape
    regularized, values, vectors = eigen_decompositions(counts, scatter, reg_covar)
    active, weight = active_weights(counts)
    if has_previous:
        previous_values = np.ones((K, D))
        unused_vectors = np.empty((D, D))
        for k in range(K):
            if active[k]:  # descending (clipped at 0: a covariance's are positive)
                jacobi_sorted_eigh(previous[k], previous_values[k], unused_vectors)
        shape = _mean_unit_shape(previous_values, active)
    else:
        shape = unit_determinant(pooled_active(values, active))
    variances = _common_shape_inner(counts, values, active, weight, shape, max_inner,
                                    inner_tol)
    for k in range(K):
        from_eigen(vectors[k], variances[k], out[k])
    status = _keep_better(weight, regularized, previous, has_previous, out)
    return status if status != OK else finish(out)


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
    status = check_inputs(counts, scatter)
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
    return status if status != OK else finish(out)


@njit(**_JIT)
def _common_orientation(counts, scatter, previous, has_previous, reg_covar, max_inner,
                        inner_tol, out, equal_volume):
    """``_CommonOrientation.estimate`` (EVE, VVE) with the compiled inner iteration."""
    status = check_inputs(counts, scatter)
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
    return status if status != OK else finish(out)


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
