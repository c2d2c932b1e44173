"""Compiled sparse-EM E-steps for precision factors (full and tied storages; numba).

Import through :mod:`emkit._kernels` only.  The diagonal kernels of sparse EM
are in :mod:`emkit._numba_kernels`; these follow them for ``(K, D, D)``
precision Cholesky factors ``P_k`` (``Sigma_k^-1 = P_k P_k'``), reusing the
blocks of the fused full E-step (:func:`emkit._numba_kernels.gmm_full_chunk`):

* the partial step evaluates, row by row, only the active components'
  ``constant_k - |(x - m_k) P_k|^2 / 2`` (O(m D^2) per row instead of
  O(K D^2)) and adds their moments;
* the full step is the fused E-step plus the selection of the active lists
  and the active pairs' own moments (the frozen part is the difference).

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
    _aligned,
    _finish_block,
    _full_block,
    _full_moments,
    _full_reduce,
    _normalize_block,
    _select_block,
)


@njit(inline="always", **_JIT)
def _add_pair(r, d, k, pooled, counts, first, second):
    """One (row, component) pair of responsibility ``r`` and deviation ``d`` into the
    moments (upper triangles of the second ones unless pooled)."""
    D = d.shape[0]
    counts[k] += r
    for j in range(D):
        first[k, j] += r * d[j]
    if not pooled:
        for a in range(D):
            rd = r * d[a]
            for b in range(a, D):
                second[k, a, b] += rd * d[b]


@njit(inline="always", **_JIT)
def _add_pooled(r, d, second):
    """``second[0] += r d d'`` (upper triangle)."""
    D = d.shape[0]
    for a in range(D):
        rd = r * d[a]
        for b in range(a, D):
            second[0, a, b] += rd * d[b]


@njit(inline="always", **_JIT)
def _mirror(second):
    D = second.shape[1]
    for k in range(second.shape[0]):
        for a in range(D):
            for b in range(a + 1, D):
                second[k, b, a] = second[k, a, b]


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
    """
    n, D = X.shape
    m = active.shape[1]
    L = np.empty(m)
    y = np.empty(D)
    diff = np.empty(D)
    d = np.empty(D)
    for i in range(n):
        w = weights[i]
        if w == 0.0:
            row_objective[i] = 0.0
            continue
        for j in range(D):
            y[j] = X[i, j] - center[j]
        top = -np.inf
        for a in range(m):
            k = active[i, a]
            for j in range(D):
                diff[j] = y[j] - means_c[k, j]
            s = 0.0
            for c in range(D):
                p = 0.0
                for b in range(D):
                    p += diff[b] * factors[k, b, c]
                s += p * p
            L[a] = constant[k] - 0.5 * s
            if L[a] > top:
                top = L[a]
        total = 0.0
        for a in range(m):
            L[a] = math.exp(L[a] - top)
            total += L[a]
        q = mass[i]
        row_objective[i] = q * (top + math.log(total) - math.log(q))
        scale = w * q / total
        for a in range(m):
            k = active[i, a]
            c = 0 if pooled else k
            for j in range(D):
                d[j] = X[i, j] - stat_center[c, j]
            _add_pair(L[a] * scale, d, k, pooled, counts, first, second)
        if pooled:
            _add_pooled(w * q, d, second)
    _mirror(second)


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
    S = second.shape[0]
    x = _aligned((D, B), None)
    y = _aligned((D, B), None)
    diff = _aligned((D, B), None)
    proj = _aligned((B,), None)
    L = _aligned((K, B), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    wd = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((S, D, D, LANES), 0.0)
    kept = np.empty((n_active, B), dtype=np.int64)
    best = np.empty((n_active, B))
    d = np.empty(D)
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        _full_block(X, start, rows, padded, center, stat_center, means_c, factors,
                    constant, x, y, diff, proj, L)
        _normalize_block(L, top, total, rows, K)
        _select_block(L, total, weights, start, rows, kept, best, active, mass)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        for i in range(rows):
            inside = 0.0
            for a in range(n_active):
                k = active[start + i, a]
                c = 0 if pooled else k
                for j in range(D):
                    d[j] = x[j, i] - stat_center[c, j]
                _add_pair(L[k, i], d, k, pooled, counts_a, first_a, second_a)
                inside += L[k, i]
            if pooled:
                _add_pooled(inside, d, second_a)
        _full_moments(L, x, diff, wd, weights, start, rows, padded, stat_center, pooled,
                      acc_n, acc_f, acc_s)
    _full_reduce(acc_n, acc_f, acc_s, counts, first, second)
    _mirror(second_a)
