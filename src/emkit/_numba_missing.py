"""Compiled Gaussian E-step over missingness patterns (numba).

Import through :mod:`emkit.families.missing_patterns` only.  For a row with
observed coordinates O and missing M, under component k with mean mu and
covariance Sigma, order the coordinates as (O, M) and take the *partial*
Cholesky factorisation of the permuted covariance over its first o = |O|
columns::

    [ Sigma_OO  .        ]      [ L          .                ]
    [ Sigma_MO  Sigma_MM ]  ->  [ A = Sigma_MO L^-T   C = Sigma_MM - A A' ]

``L`` is the Cholesky factor of the observed block (Sigma_OO = L L'), ``A``
gives the conditional mean of the missing coordinates (``mu_M + A z`` with
``z = L^-1 (x_O - mu_O)``) and ``C`` is their conditional covariance.  So, per
row, ``log N(x_O) = -(o log 2 pi + |z|^2) / 2 - sum log diag L``, and the
completed row ``x_hat = (x_O, mu_M + A z)`` gives the expected statistics
``E[x] = x_hat`` and ``E[x x'] = x_hat x_hat' + C`` (C on the M x M block).

:func:`pattern_factors` computes the factorisation once per pattern and
component (per E-step, shared by the chunks); :func:`gmm_missing_chunk` then
runs the rows of a chunk, sorted by pattern, in blocks of rows with the row
index innermost (vectorised), as the complete-data kernels of
:mod:`emkit._numba_kernels` do.  ``cache=True``; no ``fastmath``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._numba_kernels import (
    GMM_BLOCK,
    LANES,
    _add_lanes,
    _add_lanes_product,
    _aligned,
    _finish_block,
    _normalize_block,
)

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
_LOG_2PI = math.log(2.0 * math.pi)

#: What :func:`gmm_missing_chunk` computes.
MODE_FUSED = 0  # log-densities, log-sum-exp, responsibilities and statistics
MODE_LOG_JOINT = 1  # log pi_k + log N(x_O | k) per row only
MODE_STATISTICS = 2  # statistics from given (weighted) responsibilities


@njit(**_JIT)
def pattern_factors(covariances, perms, n_observed, factors, log_det):
    """Partial Cholesky factorisations of every pattern's permuted covariances.

    ``covariances`` (K, D, D); pattern p has its ``n_observed[p]`` observed
    columns first in ``perms[p]`` (then its missing ones).  Writes
    ``factors[p, k]`` (D, D), lower triangle: L (o x o), A (m x o) below it and
    the conditional covariance C (m x m, both triangles) in the corner, and
    ``log_det[p, k] = sum log diag L``.  A pivot that is not positive (a
    marginal covariance singular up to rounding) gives NaN.
    """
    P = perms.shape[0]
    K, D = covariances.shape[0], covariances.shape[1]
    for p in range(P):
        o = n_observed[p]
        perm = perms[p]
        for k in range(K):
            S = factors[p, k]
            for a in range(D):
                for b in range(a + 1):
                    S[a, b] = covariances[k, perm[a], perm[b]]
            total = 0.0
            for j in range(o):
                pivot = S[j, j]
                if not pivot > 0.0:
                    total = np.nan
                    pivot = np.nan
                root = math.sqrt(pivot)
                S[j, j] = root
                total += math.log(root)
                for i in range(j + 1, D):
                    S[i, j] /= root
                for c in range(j + 1, D):
                    scale = S[c, j]
                    for i in range(c, D):
                        S[i, c] -= S[i, j] * scale
            for a in range(o, D):
                for b in range(o, a):
                    S[b, a] = S[a, b]
            log_det[p, k] = total


@njit(inline="always", **_JIT)
def _block_log_densities(X, order, pos, rows, seg_start, seg, seg_perm, seg_obs,
                         seg_factor, factors, log_det, means, log_weights, stat_centers,
                         completed, L, segment_of, xo, z, with_completion):
    """Log joints L (K, rows) of the block's rows and, if asked, their completions.

    ``completed[k, j, i]`` = the completed row minus ``stat_centers[k]``.
    Returns the segment of the block's last row.
    """
    K, D = means.shape
    i = 0
    while i < rows:
        while seg_start[seg + 1] <= pos + i:
            seg += 1
        end = min(rows, seg_start[seg + 1] - pos)
        o = seg_obs[seg]
        f = seg_factor[seg]
        perm = seg_perm[seg]
        for t in range(i, end):
            segment_of[t] = seg
        for q in range(o):
            column = perm[q]
            for t in range(i, end):
                xo[q, t] = X[order[pos + t], column]
        for k in range(K):
            F = factors[f, k]
            for t in range(i, end):
                L[k, t] = 0.0
            for q in range(o):
                mean = means[k, perm[q]]
                diagonal = F[q, q]
                for t in range(i, end):
                    z[q, t] = xo[q, t] - mean
                for r in range(q):
                    coefficient = F[q, r]
                    for t in range(i, end):
                        z[q, t] -= coefficient * z[r, t]
                for t in range(i, end):
                    value = z[q, t] / diagonal
                    z[q, t] = value
                    L[k, t] += value * value
            constant = log_weights[k] - 0.5 * o * _LOG_2PI - log_det[f, k]
            for t in range(i, end):
                L[k, t] = constant - 0.5 * L[k, t]
            if with_completion:
                for q in range(o):
                    column = perm[q]
                    shift = stat_centers[k, column]
                    for t in range(i, end):
                        completed[k, column, t] = xo[q, t] - shift
                for a in range(o, D):
                    column = perm[a]
                    base = means[k, column] - stat_centers[k, column]
                    for t in range(i, end):
                        completed[k, column, t] = base
                    for q in range(o):
                        coefficient = F[a, q]
                        for t in range(i, end):
                            completed[k, column, t] += coefficient * z[q, t]
        i = end
    return seg


@njit(**_JIT)
def gmm_missing_chunk(X, order, seg_start, seg_perm, seg_obs, seg_factor, factors, log_det,
                      means, log_weights, stat_centers, weights, resp, mode, diagonal,
                      log_joint, row_objective, counts, first, second, conditional_weight):
    """One pass over the rows ``order`` of a chunk (sorted by missingness pattern).

    Segment s holds the sorted rows ``seg_start[s]:seg_start[s + 1]``, which
    observe ``seg_obs[s]`` > 0 columns, ``seg_perm[s]`` (observed first), and
    use ``factors[seg_factor[s]]`` / ``log_det[seg_factor[s]]`` from
    :func:`pattern_factors`.  ``mode``:

    * :data:`MODE_FUSED`: row log-likelihoods into ``row_objective``, weighted
      responsibilities ``weights * r`` and the statistics;
    * :data:`MODE_LOG_JOINT`: ``log pi_k + log N(x_O | k)`` into ``log_joint`` (n, K);
    * :data:`MODE_STATISTICS`: the statistics from ``resp`` (n, K), which
      already includes the row weights.

    Statistics (added to): ``counts`` (K,), ``first[k] += r (x_hat - c_k)``,
    ``second[k] += r (x_hat - c_k)(x_hat - c_k)' + r C`` (K, D, D; only the
    diagonal when ``diagonal``), with ``c_k = stat_centers[k]``;
    ``conditional_weight`` (n_segments, K) is work space.
    """
    n = order.shape[0]
    K, D = means.shape
    B = GMM_BLOCK
    statistics = mode != MODE_LOG_JOINT
    completed = _aligned((K, D, B), 0.0)
    L = _aligned((K, B), None)
    xo = _aligned((D, B), None)
    z = _aligned((D, B), None)
    wd = _aligned((B,), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    block_weights = _aligned((B,), None)
    segment_of = np.empty(B, dtype=np.intp)
    acc_n = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((K, D, D, LANES), 0.0)
    conditional_weight[:] = 0.0
    seg = 0
    for pos in range(0, n, B):
        rows = min(B, n - pos)
        padded = -(-rows // LANES) * LANES
        first_seg = seg
        seg = _block_log_densities(X, order, pos, rows, seg_start, first_seg, seg_perm,
                                   seg_obs, seg_factor, factors, log_det, means, log_weights,
                                   stat_centers, completed, L, segment_of, xo, z, statistics)
        if mode == MODE_LOG_JOINT:
            for k in range(K):
                for t in range(rows):
                    log_joint[order[pos + t], k] = L[k, t]
            continue
        if mode == MODE_FUSED:
            for t in range(rows):
                block_weights[t] = weights[order[pos + t]]
            _normalize_block(L, top, total, rows, K)
            _finish_block(L, top, total, block_weights, 0, rows, padded, K, wd)
            for t in range(rows):
                row_objective[order[pos + t]] = wd[t]
        else:
            for k in range(K):
                for t in range(rows):
                    L[k, t] = resp[order[pos + t], k]
                for t in range(rows, padded):
                    L[k, t] = 0.0
        for k in range(K):
            for t in range(rows):
                conditional_weight[segment_of[t], k] += L[k, t]
            _add_lanes(acc_n[k], L[k], padded)
            for a in range(D):
                for t in range(rows, padded):
                    completed[k, a, t] = 0.0
                for t in range(padded):
                    wd[t] = L[k, t] * completed[k, a, t]
                _add_lanes(acc_f[k, a], wd, padded)
                if diagonal:
                    _add_lanes_product(acc_s[k, a, a], wd, completed[k, a], padded)
                else:
                    for b in range(a, D):
                        _add_lanes_product(acc_s[k, a, b], wd, completed[k, b], padded)
    if mode == MODE_LOG_JOINT:
        return
    for k in range(K):
        counts[k] += acc_n[k].sum()
        for a in range(D):
            first[k, a] += acc_f[k, a].sum()
            second[k, a, a] += acc_s[k, a, a].sum()
            if not diagonal:
                for b in range(a + 1, D):
                    value = acc_s[k, a, b].sum()
                    second[k, a, b] += value
                    second[k, b, a] += value
    # the conditional covariances, once per segment and component
    for s in range(seg_start.shape[0] - 1):
        o = seg_obs[s]
        perm = seg_perm[s]
        for k in range(K):
            weight = conditional_weight[s, k]
            if weight == 0.0 or o == D:
                continue
            F = factors[seg_factor[s], k]
            for a in range(o, D):
                if diagonal:
                    second[k, perm[a], perm[a]] += weight * F[a, a]
                else:
                    for b in range(o, D):
                        second[k, perm[a], perm[b]] += weight * F[a, b]
