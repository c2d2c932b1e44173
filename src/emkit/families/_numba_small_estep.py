"""The compiled EM loop's E-step for one to four features (numba).

Import through :mod:`emkit.families._numba_gaussian_loop` only.  The engine's
blocked kernel (:func:`emkit._numba_kernels.gmm_full_chunk_into`) makes one
vectorised pass over a block of rows per feature, per pair of features and per
partial result; at D <= 4 those passes, not the arithmetic, are its cost.
Here the number of features is a compile-time constant (each function below is
compiled once for D = 1, 2, 3 and 4 and chosen by D at run time), so one pass
per component computes all of a row's log-density from registers, and one pass
all of its moments.  The rows are feature-major (``XT``, D x n, transposed once
per fit).

The moments' sums run with reassociation allowed (``fastmath={"reassoc",
"contract"}``: vectorised partial sums, fused multiply-adds): they equal the
written order's sums up to float rounding, like the engine's per-lane partial
sums.  The log-densities and ``exp`` are compiled without it (the rounding
tricks of :func:`~emkit._numba_kernels.exp_nonpositive` need IEEE order).
"""

from __future__ import annotations

import math

from numba import njit

from .._numba_kernels import exp_nonpositive

_JIT = dict(cache=True, nogil=True, error_model="numpy")
_SUMS = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
#: Largest number of features served here (the loop uses the blocked kernel above).
MAX_FEATURES = 4


@njit(inline="always", **_JIT)
def _log_joint_d(XT, log_constant, means, inverse, L, D):
    """``L[k, i] = log_constant[k] - |L_k^-1 (x_i - mu_k)|^2 / 2`` (``inverse`` = L_k^-1)."""
    n = XT.shape[1]
    for k in range(means.shape[0]):
        constant = log_constant[k]
        for i in range(n):
            q = 0.0
            for a in range(D):
                y = 0.0
                for b in range(a + 1):
                    y += inverse[k, a, b] * (XT[b, i] - means[k, b])
                q += y * y
            L[k, i] = constant - 0.5 * q


@njit(**_JIT)
def _log_joint(XT, log_constant, means, inverse, L):
    D = XT.shape[0]
    if D == 1:
        _log_joint_d(XT, log_constant, means, inverse, L, 1)
    elif D == 2:
        _log_joint_d(XT, log_constant, means, inverse, L, 2)
    elif D == 3:
        _log_joint_d(XT, log_constant, means, inverse, L, 3)
    else:
        _log_joint_d(XT, log_constant, means, inverse, L, 4)


@njit(inline="always", **_SUMS)
def _moments_d(XT, R, means, counts, first, second, D):
    """Moments about the current means of the weighted responsibilities ``R`` (K, n)."""
    n = XT.shape[1]
    for k in range(means.shape[0]):
        total = 0.0
        for i in range(n):
            total += R[k, i]
        counts[k] = total
        for a in range(D):
            mean_a = means[k, a]
            total = 0.0
            for i in range(n):
                total += R[k, i] * (XT[a, i] - mean_a)
            first[k, a] = total
            for b in range(a + 1):
                mean_b = means[k, b]
                total = 0.0
                for i in range(n):
                    total += R[k, i] * (XT[a, i] - mean_a) * (XT[b, i] - mean_b)
                second[k, a, b] = total
                second[k, b, a] = total


@njit(**_SUMS)
def _moments(XT, R, means, counts, first, second):
    D = XT.shape[0]
    if D == 1:
        _moments_d(XT, R, means, counts, first, second, 1)
    elif D == 2:
        _moments_d(XT, R, means, counts, first, second, 2)
    elif D == 3:
        _moments_d(XT, R, means, counts, first, second, 3)
    else:
        _moments_d(XT, R, means, counts, first, second, 4)


@njit(**_JIT)
def small_e_step(XT, w, log_constant, means, inverse, L, top, total, row_objective, counts,
                 first, second):
    """E-step and moments about the current means for D <= :data:`MAX_FEATURES`.

    As :func:`emkit._numba_kernels.gmm_full_chunk` with per-component centres
    (the current means): ``row_objective[i]`` the row's log-likelihood,
    ``counts``, ``first`` (K, D) and ``second`` (K, D, D) the moments of the
    responsibilities times the row weights ``w``.  ``L`` (K, n), ``top`` and
    ``total`` (n,) are work arrays.  A row whose components are all impossible
    gets a non-finite log-likelihood (the caller then stops).
    """
    K = means.shape[0]
    n = XT.shape[1]
    _log_joint(XT, log_constant, means, inverse, L)
    for i in range(n):
        top[i] = L[0, i]
        total[i] = 0.0
    for k in range(1, K):
        for i in range(n):
            value = L[k, i]
            top[i] = value if value > top[i] else top[i]
    for k in range(K):
        for i in range(n):
            e = exp_nonpositive(L[k, i] - top[i])
            L[k, i] = e
            total[i] += e
    for i in range(n):
        row_objective[i] = math.log(total[i]) + top[i]
        total[i] = w[i] / total[i]
    for k in range(K):
        for i in range(n):
            L[k, i] *= total[i]
    _moments(XT, L, means, counts, first, second)
