"""Compiled sweeps of plane rotations for the common-orientation models (EVE, VVE).

Import through :func:`emkit.families.decomposed.orientation_sweep` only (numba
is optional).  The kernel applies the rotations of
:func:`emkit.families.decomposed.jacobi_round` pair by pair, in the same round
order; rotations of one round touch disjoint columns, so the result is the
NumPy path's up to rounding.
"""

from __future__ import annotations

import math

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
