"""Compiled Gaussian E-step over missingness patterns (numba).

Import through :mod:`emkit.families.missing_patterns` only.  For a row with
observed coordinates O and missing M, under component k with mean mu and
covariance Sigma, order the coordinates as (O, M) and take the *partial*
Cholesky factorisation of the permuted covariance over its first o = |O|
columns::

    [ Sigma_OO  .        ]      [ L          .                ]
    [ Sigma_MO  Sigma_MM ]  ->  [ A = Sigma_MO L^-T   C = Sigma_MM - A A' ]

``L`` is the Cholesky factor of the observed block (Sigma_OO = L L'), ``A``
gives the regression coefficients of the missing coordinates on the observed
ones, ``G = A L^-1 = Sigma_MO Sigma_OO^-1`` (conditional mean
``mu_M + G (x_O - mu_O)``), and ``C`` is their conditional covariance.  So, per
row, with ``z = L^-1 (x_O - mu_O)``, ``log N(x_O) = -(o log 2 pi + |z|^2) / 2 -
sum log diag L``, and the completed row ``x_hat = (x_O, mu_M + G (x_O - mu_O))``
gives the expected statistics ``E[x] = x_hat`` and ``E[x x'] = x_hat x_hat' + C``
(C on the M x M block).

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
def pattern_factors(covariances, means, center, stat_centers, perms, n_observed, factors,
                    offsets, log_det):
    """Per pattern and component: what the rows of that pattern need, in (O, M) order.

    ``covariances`` (K, D, D), ``means`` (K, D); rows are shifted by
    ``center`` (D,) and moments taken about ``stat_centers`` (K, D).  Pattern
    p has its ``n_observed[p]`` = o observed columns first in ``perms[p]``.
    With ``Sigma_OO = L L'`` (partial Cholesky, see the module docstring),
    writes ``factors[p, k]`` (D, D):

    * ``L^-1`` in the leading o x o lower triangle (so ``z = L^-1 (x_O - mu_O)``
      is a product, no division per row);
    * ``G = Sigma_MO Sigma_OO^-1`` (m x o) below it: the conditional mean is
      ``mu_M + G (x_O - mu_O)``;
    * the conditional covariance ``C`` (m x m, both triangles) in the corner;

    ``offsets[p, k]`` (D,): ``mu_O - center_O`` for the observed positions
    (the rows' residuals are formed before any product: no cancellation for a
    component far from the centre), ``mu_M - stat_center_M`` for the missing
    ones; and ``log_det[p, k] = sum log diag L``.  A pivot that is not positive
    (a marginal covariance singular up to rounding) gives NaN.
    """
    P = perms.shape[0]
    K, D = covariances.shape[0], covariances.shape[1]
    shifted = np.empty(D)
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
            log_det[p, k] = total
            for a in range(o, D):
                for b in range(o, a):
                    S[b, a] = S[a, b]
            # L^-1 in place (lower triangular, column by column)
            for j in range(o):
                S[j, j] = 1.0 / S[j, j]
                for i in range(j + 1, o):
                    acc = 0.0
                    for r in range(j, i):
                        acc += S[i, r] * S[r, j]
                    S[i, j] = -acc / S[i, i]
            # G = A L^-1 in place, row by row (A = Sigma_MO L^-T is below L)
            for a in range(o, D):
                for q in range(o):
                    acc = 0.0
                    for r in range(q, o):
                        acc += S[a, r] * S[r, q]
                    shifted[q] = acc
                for q in range(o):
                    S[a, q] = shifted[q]
            for q in range(o):
                offsets[p, k, q] = means[k, perm[q]] - center[perm[q]]
            for a in range(o, D):
                offsets[p, k, a] = means[k, perm[a]] - stat_centers[k, perm[a]]


@njit(inline="always", **_JIT)
def _block_log_densities(X, order, pos, rows, seg_start, seg, seg_perm, seg_obs,
                         seg_factor, factors, offsets, log_det, log_weights, center,
                         shift, completed, L, segment_of, xo, residual, proj,
                         with_completion):
    """Log joints L (K, rows) of the block's rows and, if asked, their completions.

    ``completed[k, j, i]`` = the completed row minus ``stat_centers[k]``
    (``shift[k] = center - stat_centers[k]``).  Returns the segment of the
    block's last row.
    """
    K = L.shape[0]
    D = xo.shape[0]
    i = 0
    while i < rows:
        while seg_start[seg + 1] <= pos + i:
            seg += 1
        end = min(rows, seg_start[seg + 1] - pos)
        o = seg_obs[seg]
        f = seg_factor[seg]
        perm = seg_perm[seg]
        count = end - i
        # loops below run over views that start at 0: numba then knows the row
        # index is not negative (no wraparound check) and vectorises them
        for u in range(count):
            segment_of[i + u] = seg
        rows_of = order[pos + i : pos + end]
        p = proj[:count]
        for q in range(o):
            column = perm[q]
            c = center[column]
            x = xo[q, :count]
            for u in range(count):
                x[u] = X[rows_of[u], column] - c
        for k in range(K):
            F = factors[f, k]
            b = offsets[f, k]
            Lk = L[k, i:end]
            for u in range(count):
                Lk[u] = 0.0
            for q in range(o):
                # z_q = sum_r (L^-1)_qr d_r with the residuals d = x_O - mu_O
                mean = b[q]
                diagonal = F[q, q]
                x = xo[q, :count]
                d = residual[q, :count]
                for u in range(count):
                    value = x[u] - mean
                    d[u] = value
                    p[u] = diagonal * value
                for r in range(q):
                    coefficient = F[q, r]
                    d = residual[r, :count]
                    for u in range(count):
                        p[u] += coefficient * d[u]
                for u in range(count):
                    Lk[u] += p[u] * p[u]
            constant = log_weights[k] - 0.5 * o * _LOG_2PI - log_det[f, k]
            for u in range(count):
                Lk[u] = constant - 0.5 * Lk[u]
            if with_completion:
                for q in range(o):
                    value = shift[k, perm[q]]
                    x = xo[q, :count]
                    out = completed[k, perm[q], i:end]
                    for u in range(count):
                        out[u] = x[u] + value
                for a in range(o, D):
                    start = b[a]
                    for u in range(count):
                        p[u] = start
                    for q in range(o):
                        coefficient = F[a, q]
                        d = residual[q, :count]
                        for u in range(count):
                            p[u] += coefficient * d[u]
                    out = completed[k, perm[a], i:end]
                    for u in range(count):
                        out[u] = p[u]
        i = end
    return seg


@njit(**_JIT)
def gmm_missing_chunk(X, order, seg_start, seg_perm, seg_obs, seg_factor, factors, offsets,
                      log_det, log_weights, center, stat_centers, weights, resp, mode,
                      diagonal, log_joint, row_objective, counts, first, second,
                      conditional_weight):
    """One pass over the rows ``order`` of a chunk (sorted by missingness pattern).

    Segment s holds the sorted rows ``seg_start[s]:seg_start[s + 1]``, which
    observe ``seg_obs[s]`` > 0 columns, ``seg_perm[s]`` (observed first), and
    use ``factors``, ``offsets`` and ``log_det`` at ``seg_factor[s]`` from
    :func:`pattern_factors` (made with the same ``center`` and ``stat_centers``).  ``mode``:

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
    K, D = stat_centers.shape
    B = GMM_BLOCK
    statistics = mode != MODE_LOG_JOINT
    completed = _aligned((K, D, B), 0.0)
    L = _aligned((K, B), None)
    xo = _aligned((D, B), None)
    proj = _aligned((B,), None)
    residual = _aligned((D, B), None)
    shift = np.empty((K, D))
    for k in range(K):
        for j in range(D):
            shift[k, j] = center[j] - stat_centers[k, j]
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
                                   seg_obs, seg_factor, factors, offsets, log_det, log_weights,
                                   center, shift, completed, L, segment_of, xo, residual,
                                   proj, statistics)
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
