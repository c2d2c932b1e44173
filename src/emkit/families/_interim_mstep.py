"""Interim M-step kernels (VVV, EII, EEE) until emkit.families._compiled_mstep lands.

The others return status 1, so their fits take the NumPy path.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def mstep_VVV(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    K, D, _ = scatter.shape
    for k in range(K):
        for a in range(D):
            for b in range(D):
                out[k, a, b] = scatter[k, a, b] / counts[k]
            out[k, a, a] += reg_covar
    return 0


@njit(cache=True, nogil=True)
def mstep_EII(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    K, D, _ = scatter.shape
    trace = 0.0
    total = 0.0
    for k in range(K):
        total += counts[k]
        for a in range(D):
            trace += scatter[k, a, a] + reg_covar * counts[k]
    variance = trace / (total * D)
    for k in range(K):
        for a in range(D):
            for b in range(D):
                out[k, a, b] = variance if a == b else 0.0
    return 0


@njit(cache=True, nogil=True)
def mstep_EEE(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol, out):
    K, D, _ = scatter.shape
    total = 0.0
    for k in range(K):
        total += counts[k]
    for a in range(D):
        for b in range(D):
            s = 0.0
            for k in range(K):
                s += scatter[k, a, b]
            for k in range(K):
                out[k, a, b] = s / total + (reg_covar if a == b else 0.0)
    return 0


@njit(cache=True, nogil=True)
def _unsupported(counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol,
                 out):
    return 1


mstep_VII = mstep_EEI = mstep_VEI = mstep_EVI = mstep_VVI = mstep_VEE = mstep_EVE = \
    mstep_VVE = mstep_EEV = mstep_VEV = mstep_EVV = _unsupported
