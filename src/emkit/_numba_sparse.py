"""Compiled sparse-EM E-steps for precision factors (full and tied storages; numba).

Import through :mod:`emkit._kernels` only.  The diagonal kernels of sparse EM
are in :mod:`emkit._numba_kernels`; these follow them for ``(K, D, D)``
precision Cholesky factors ``P_k`` (``Sigma_k^-1 = P_k P_k'``), reusing the
blocks of the fused full E-step (:func:`emkit._numba_kernels.gmm_full_chunk`):

* the partial step evaluates only the active components'
  ``constant_k - |(x - m_k) P_k|^2 / 2`` (O(m D^2) per row instead of
  O(K D^2)) and adds their moments;
* the full step is the fused E-step plus the selection of the active lists
  and the active pairs' own moments (the frozen part is the difference).

Per block of :data:`PAIR_ROWS` rows (which stay in cache), the (row,
component) pairs are sorted by component (a counting sort) and processed one
component at a time over tiles of its pairs, pair index innermost, so that the
loops vectorise as the fused E-step's do over rows.

Moments are about each component's mean, or (``pooled``, tied storage) about
the shared centre with the second moments summed over components.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._numba_kernels import (
    _JIT,
    GMM_BLOCK,
    LANES,
    _add_lanes,
    _add_lanes_product,
    _aligned,
    _finish_block,
    _full_block,
    _full_moments,
    _full_reduce,
    _normalize_block,
    _select_block,
    gmm_full_work,
)

#: Rows per block of the pair kernels: the block's rows stay in cache while its
#: pairs are visited one component at a time.
PAIR_ROWS = 1024


@njit(inline="always", **_JIT)
def _block_pairs(active, lo, rows, bounds, order):
    """The block's pairs ``t * m + a`` (rows ``lo .. lo + rows``) sorted by component
    ``active[lo + t, a]`` (rows in order within a component) into ``order``, the start
    of every component's pairs into ``bounds`` (K + 1,)."""
    m = active.shape[1]
    K = bounds.shape[0] - 1
    bounds[:] = 0
    for t in range(rows):
        for a in range(m):
            bounds[active[lo + t, a] + 1] += 1
    for k in range(K):
        bounds[k + 1] += bounds[k]
    for t in range(rows):
        for a in range(m):
            k = active[lo + t, a]
            order[bounds[k]] = t * m + a
            bounds[k] += 1
    for k in range(K, 0, -1):  # the fill moved every start to the next one's
        bounds[k] = bounds[k - 1]
    bounds[0] = 0


@njit(**_JIT)
def _pair_log_joints(X, active, center, means_c, factors, constant, out):
    """``out[i * m + a] = constant_k - |(x_i - m_k) P_k|^2 / 2`` for every pair
    ``k = active[i, a]``: per block of rows, one component at a time over tiles of its
    pairs (pair index innermost)."""
    n, D = X.shape
    m = active.shape[1]
    K = means_c.shape[0]
    B = GMM_BLOCK
    diff = _aligned((D, B), None)
    proj = _aligned((B,), None)
    acc = _aligned((B,), None)
    bounds = np.empty(K + 1, dtype=np.int64)
    order = np.empty(PAIR_ROWS * m, dtype=np.int64)
    for lo in range(0, n, PAIR_ROWS):
        _block_pairs(active, lo, min(PAIR_ROWS, n - lo), bounds, order)
        for k in range(K):
            for first in range(bounds[k], bounds[k + 1], B):
                tile = min(B, bounds[k + 1] - first)
                for t in range(tile):
                    i = lo + order[first + t] // m
                    for j in range(D):
                        diff[j, t] = (X[i, j] - center[j]) - means_c[k, j]
                    acc[t] = 0.0
                for c in range(D):
                    for t in range(tile):
                        proj[t] = 0.0
                    for b in range(D):
                        factor = factors[k, b, c]
                        if factor != 0.0:
                            for t in range(tile):
                                proj[t] += diff[b, t] * factor
                    for t in range(tile):
                        acc[t] += proj[t] * proj[t]
                for t in range(tile):
                    out[lo * m + order[first + t]] = constant[k] - 0.5 * acc[t]


@njit(**_JIT)
def _pair_moments(X, active, resp, stat_center, pooled, counts, first, second):
    """Moments of the pairs' weighted responsibilities ``resp`` (n, m): about each
    component's centre, per block of rows one component at a time over tiles of its
    pairs (per-lane sums); pooled: about ``stat_center[0]``, the second moments with
    each row's summed responsibility."""
    n, D = X.shape
    m = active.shape[1]
    K = first.shape[0]
    S = second.shape[0]
    B = GMM_BLOCK
    d = _aligned((D, B), None)
    r = _aligned((B,), None)
    wd = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((S, D, D, LANES), 0.0)
    bounds = np.empty(K + 1, dtype=np.int64)
    order = np.empty(PAIR_ROWS * m, dtype=np.int64)
    for lo in range(0, n, PAIR_ROWS):
        _block_pairs(active, lo, min(PAIR_ROWS, n - lo), bounds, order)
        for k in range(K):
            c = 0 if pooled else k
            for start in range(bounds[k], bounds[k + 1], B):
                tile = min(B, bounds[k + 1] - start)
                padded = -(-tile // LANES) * LANES
                for t in range(tile):
                    pair = order[start + t]
                    i = lo + pair // m
                    r[t] = resp[i, pair % m]
                    for j in range(D):
                        d[j, t] = X[i, j] - stat_center[c, j]
                for t in range(tile, padded):
                    r[t] = 0.0
                    for j in range(D):
                        d[j, t] = 0.0
                _add_lanes(acc_n[k], r, padded)
                for j in range(D):
                    _add_lanes_product(acc_f[k, j], r, d[j], padded)
                if not pooled:
                    for a in range(D):
                        for t in range(padded):
                            wd[t] = r[t] * d[a, t]
                        for b in range(a, D):
                            _add_lanes_product(acc_s[k, a, b], wd, d[b], padded)
    if pooled:
        for lo in range(0, n, B):
            rows = min(B, n - lo)
            padded = -(-rows // LANES) * LANES
            for t in range(rows):
                total = 0.0
                for a in range(m):
                    total += resp[lo + t, a]
                r[t] = total
                for j in range(D):
                    d[j, t] = X[lo + t, j] - stat_center[0, j]
            for t in range(rows, padded):
                r[t] = 0.0
                for j in range(D):
                    d[j, t] = 0.0
            for a in range(D):
                for t in range(padded):
                    wd[t] = r[t] * d[a, t]
                for b in range(a, D):
                    _add_lanes_product(acc_s[0, a, b], wd, d[b], padded)
    _full_reduce(acc_n, acc_f, acc_s, counts, first, second)


@njit(**_JIT)
def gmm_full_active_chunk(X, weights, mass, active, center, means_c, factors, constant,
                          stat_center, pooled, row_objective, counts, first, second):
    """Sparse EM's partial E-step for precision factors (:mod:`emkit.em.sparse`).

    For row i only the components ``active[i]`` are evaluated:
    ``l_a = constant_k - |(x - m_k) P_k|^2 / 2`` (rows and means shifted by
    ``center``); the responsibilities within the list are ``mass_i
    softmax(l)``, the row's objective ``mass_i (logsumexp(l) - log mass_i)``,
    and the moments of those components only are added (about
    ``stat_center[k]``; pooled: about ``stat_center[0]``, the second moment
    with the row's active mass).  Rows of weight 0 are skipped (objective 0).
    The pairs are evaluated and summed one component at a time (vectorised over
    its pairs), as the fused E-step does over rows.
    """
    n = X.shape[0]
    m = active.shape[1]
    L = np.empty(n * m)
    _pair_log_joints(X, active, center, means_c, factors, constant, L)
    resp = np.zeros((n, m))
    for i in range(n):
        w = weights[i]
        if w == 0.0:
            row_objective[i] = 0.0
            continue
        top = -np.inf
        for a in range(m):
            if L[i * m + a] > top:
                top = L[i * m + a]
        total = 0.0
        for a in range(m):
            e = math.exp(L[i * m + a] - top)
            resp[i, a] = e
            total += e
        q = mass[i]
        row_objective[i] = q * (top + math.log(total) - math.log(q))
        scale = w * q / total
        for a in range(m):
            resp[i, a] *= scale
    _pair_moments(X, active, resp, stat_center, pooled, counts, first, second)


@njit(**_JIT)
def gmm_full_select_chunk(X, weights, center, means_c, factors, constant, stat_center,
                          pooled, n_active, row_objective, counts, first, second, active,
                          mass, counts_a, first_a, second_a):
    """Sparse EM's full E-step for precision factors: the fused E-step plus lists.

    Besides :func:`emkit._numba_kernels.gmm_full_chunk`'s row log-likelihoods
    and moments (every component), each row's ``n_active`` components of
    largest responsibility go to ``active[i]`` (descending), their summed
    (unweighted) responsibility to ``mass[i]`` (1 for rows of weight 0), and
    their own moments to ``counts_a``, ``first_a``, ``second_a``.
    """
    n, D = X.shape
    K = means_c.shape[0]
    B = GMM_BLOCK
    x, y, diff, proj, L, top, total, wd, acc_n, acc_f, acc_s = gmm_full_work(
        D, K, second.shape[0])
    kept = np.empty((n_active, B), dtype=np.int64)
    best = np.empty((n_active, B))
    resp = np.empty((n, n_active))
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        _full_block(X, start, rows, padded, center, stat_center, means_c, factors,
                    constant, x, y, diff, proj, L)
        _normalize_block(L, top, total, rows, K)
        _select_block(L, total, weights, start, rows, kept, best, active, mass)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        for i in range(rows):
            for a in range(n_active):
                resp[start + i, a] = L[active[start + i, a], i]
        _full_moments(L, x, diff, wd, weights, start, rows, padded, stat_center, pooled,
                      acc_n, acc_f, acc_s)
    _full_reduce(acc_n, acc_f, acc_s, counts, first, second)
    _pair_moments(X, active, resp, stat_center, pooled, counts_a, first_a, second_a)
