"""The compiled inner iteration of the common-orientation models (EVE, VVE).

Import through :func:`emkit.families._orientation.compiled_orientation` only
(numba is optional).  :func:`jacobi_sweep` applies the rotations of
:func:`emkit.families._orientation.jacobi_round` pair by pair, in the same round
order (rotations of one round touch disjoint columns, so the result is the
NumPy path's up to rounding); :func:`common_orientation_inner` is the whole
loop of ``_CommonOrientation.estimate`` (sweeps, optimal diagonals, Q and the
stopping rule), written in the same order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def jacobi_sweep(rotated, inverse_shapes, orientation, first, second, scale):
    """One sweep over the pairs ``(first[m], second[m])``, in place.

    ``rotated`` (K, D, D) holds B_k = D' W_k D, ``orientation`` (D, D) D and
    ``inverse_shapes`` (K, D) the fixed M; each rotation minimises
    ``sum_k sum_j M_kj (B_k)_jj`` over its angle (see ``jacobi_round``).
    """
    K, D, _ = rotated.shape
    for m in range(first.shape[0]):
        i = first[m]
        j = second[m]
        p = 0.0
        r = 0.0
        for k in range(K):
            delta = inverse_shapes[k, i] - inverse_shapes[k, j]
            p += delta * (rotated[k, i, i] - rotated[k, j, j])
            r += delta * rotated[k, i, j]
        p *= 0.5
        if math.hypot(p, r) <= 1e-15 * scale:
            continue
        angle = 0.5 * math.atan2(-r, -p)
        c = math.cos(angle)
        s = math.sin(angle)
        for a in range(D):
            col_i = orientation[a, i]
            col_j = orientation[a, j]
            orientation[a, i] = c * col_i + s * col_j
            orientation[a, j] = c * col_j - s * col_i
        for k in range(K):
            for a in range(D):
                col_i = rotated[k, a, i]
                col_j = rotated[k, a, j]
                rotated[k, a, i] = c * col_i + s * col_j
                rotated[k, a, j] = c * col_j - s * col_i
            for a in range(D):
                row_i = rotated[k, i, a]
                row_j = rotated[k, j, a]
                rotated[k, i, a] = c * row_i + s * row_j
                rotated[k, j, a] = c * row_j - s * row_i


@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _diagonals(rotated, counts, active, equal_volume, out):
    """Delta_k (K, D) given diag(B_k): EVE's ``equal_volume_variable_shapes``, or VVE's
    ``diag(B_k) / n_k``; inactive components get shape 1."""
    K, D, _ = rotated.shape
    if not equal_volume:
        for k in range(K):
            for j in range(D):
                out[k, j] = rotated[k, j, j] / counts[k] if active[k] else 1.0
        return
    total_volume = 0.0
    total_count = 0.0
    for k in range(K):
        if active[k]:
            mean_log = 0.0
            for j in range(D):
                mean_log += np.log(rotated[k, j, j])
            out[k, 0] = math.exp(mean_log / D)  # the geometric mean, kept for a moment
            total_volume += out[k, 0]
            total_count += counts[k]
    volume = total_volume / total_count
    for k in range(K):
        if active[k]:
            gm = out[k, 0]
            for j in range(D):
                out[k, j] = volume * (rotated[k, j, j] / gm)
        else:
            for j in range(D):
                out[k, j] = volume


@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _objective(rotated, weight, diagonals):
    """-1/2 sum_k w_k sum_j [log Delta_kj + B_kjj / Delta_kj] over components with weight."""
    K, D, _ = rotated.shape
    total = 0.0
    for k in range(K):
        if weight[k] > 0.0:
            for j in range(D):
                total += weight[k] * math.log(diagonals[k, j]) + rotated[k, j, j] / diagonals[k, j]
    return -0.5 * total


@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def common_orientation_inner(rotated, orientation, counts, active, equal_volume, first, second,
                             max_sweeps, tol, diagonals):
    """The EVE/VVE inner iteration, in place: at most ``max_sweeps`` sweeps, each followed
    by the optimal diagonals, until Q changes by at most ``tol`` (relative).

    ``rotated`` (K, D, D) B_k = D' W_k D and ``orientation`` D are updated;
    ``diagonals`` (K, D) receives the Delta_k of the final orientation.
    """
    K, D, _ = rotated.shape
    weight = np.zeros(K)
    for k in range(K):
        if active[k]:
            weight[k] = counts[k]
    inverse = np.zeros((K, D))
    _diagonals(rotated, counts, active, equal_volume, diagonals)
    objective = _objective(rotated, weight, diagonals)
    for _ in range(max_sweeps):
        largest_inverse = 0.0
        largest_trace = 0.0
        for k in range(K):
            trace = 0.0
            for j in range(D):
                inverse[k, j] = 1.0 / diagonals[k, j] if active[k] else 0.0
                largest_inverse = max(largest_inverse, abs(inverse[k, j]))
                trace += rotated[k, j, j]
            largest_trace = max(largest_trace, abs(trace))
        jacobi_sweep(rotated, inverse, orientation, first, second,
                     largest_inverse * largest_trace)
        _diagonals(rotated, counts, active, equal_volume, diagonals)
        new = _objective(rotated, weight, diagonals)
        if abs(new - objective) <= tol * max(1.0, abs(new)):
            break
        objective = new
