"""Compiled fused E-step kernels for Student-t mixtures (numba).

Import through :mod:`emkit.families.student_t_fused` only.  They follow the
Gaussian kernels of :mod:`emkit._numba_kernels` (blocks of rows with the row
index innermost, per-lane partial sums, ``cache=True``, ``nogil``) and reuse
their helpers; per row and component they add the t log-density, the precision
weight ``u = (nu + D) / (nu + delta)`` and ``log u - u + 1``, and accumulate the
u-weighted moments.
"""

from __future__ import annotations

import math

from numba import njit

from ._numba_kernels import (
    _JIT,
    GMM_BLOCK,
    LANES,
    _add_lanes,
    _add_lanes_product,
    _aligned,
    _finish_block,
    _normalize_block,
)


@njit(inline="always", **_JIT)
def _t_terms(L, U, G, maha, k, rows, padded, constant, half_power, inv_dof, dof, u_numer,
             log_u_max):
    """Row block, component k: log pi + log t into L, u into U, log u - u + 1 into G."""
    for i in range(rows):
        m = maha[i]
        if m < 0.0:
            m = 0.0
        lg = math.log1p(m * inv_dof[k])
        L[k, i] = constant[k] - half_power[k] * lg
        u = u_numer[k] / (dof[k] + m)
        U[k, i] = u
        G[k, i] = (log_u_max[k] - lg) - u + 1.0
    for i in range(rows, padded):
        U[k, i] = 0.0
        G[k, i] = 0.0


@njit(**_JIT)
def t_full_chunk(X, weights, center, means_c, factors, constant, half_power, inv_dof, dof,
                 u_numer, log_u_max, stat_center, pooled, row_objective, counts, counts_u,
                 first, second, log_terms):
    """Fused soft E-step of t components with precision factors (full and tied storages).

    ``delta = |(x - m_k) P_k|^2`` (rows and means shifted by ``center``);
    ``log pi_k + log t = constant_k - half_power_k log1p(delta / nu_k)``;
    log-sum-exp over k; responsibilities r (times the row weight); then
    ``counts += r``, ``counts_u += r u``, ``log_terms += r (log u - u + 1)``,
    ``first += r u (x - c)``, ``second += r u (x - c)(x - c)'`` (per component
    about its own centre, or pooled about ``stat_center[0]``).
    """
    n, D = X.shape
    K = means_c.shape[0]
    B = GMM_BLOCK
    S = second.shape[0]
    x = _aligned((D, B), None)
    y = _aligned((D, B), None)
    diff = _aligned((D, B), None)
    proj = _aligned((B,), None)
    maha = _aligned((B,), None)
    L = _aligned((K, B), None)
    U = _aligned((K, B), None)
    G = _aligned((K, B), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    wd = _aligned((B,), None)
    wk = _aligned((B,), None)
    wsum = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_u = _aligned((K, LANES), 0.0)
    acc_g = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((S, D, D, LANES), 0.0)
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        for j in range(D):
            for i in range(rows):
                x[j, i] = X[start + i, j]
                y[j, i] = x[j, i] - center[j]
            for i in range(rows, padded):
                x[j, i] = stat_center[0, j]
        for k in range(K):
            for j in range(D):
                mean = means_c[k, j]
                for i in range(rows):
                    diff[j, i] = y[j, i] - mean
            for i in range(rows):
                maha[i] = 0.0
            for a in range(D):
                for i in range(rows):
                    proj[i] = 0.0
                for b in range(D):
                    factor = factors[k, b, a]
                    if factor != 0.0:
                        for i in range(rows):
                            proj[i] += diff[b, i] * factor
                for i in range(rows):
                    maha[i] += proj[i] * proj[i]
            _t_terms(L, U, G, maha, k, rows, padded, constant, half_power, inv_dof, dof,
                     u_numer, log_u_max)
        _normalize_block(L, top, total, rows, K)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        if pooled:
            for i in range(padded):
                wsum[i] = 0.0
            for k in range(K):
                for i in range(padded):
                    wsum[i] += L[k, i] * U[k, i]
            for j in range(D):
                for i in range(padded):
                    diff[j, i] = x[j, i] - stat_center[0, j]
            for a in range(D):
                for i in range(padded):
                    wd[i] = wsum[i] * diff[a, i]
                for b in range(a, D):
                    _add_lanes_product(acc_s[0, a, b], wd, diff[b], padded)
        for k in range(K):
            for i in range(padded):
                wk[i] = L[k, i] * U[k, i]
            _add_lanes(acc_n[k], L[k], padded)
            _add_lanes(acc_u[k], wk, padded)
            _add_lanes_product(acc_g[k], L[k], G[k], padded)
            if not pooled:
                for j in range(D):
                    for i in range(padded):
                        diff[j, i] = x[j, i] - stat_center[k, j]
            for j in range(D):
                _add_lanes_product(acc_f[k, j], wk, diff[j], padded)
            if not pooled:
                for a in range(D):
                    for i in range(padded):
                        wd[i] = wk[i] * diff[a, i]
                    for b in range(a, D):
                        _add_lanes_product(acc_s[k, a, b], wd, diff[b], padded)
    for k in range(K):
        counts[k] += acc_n[k].sum()
        counts_u[k] += acc_u[k].sum()
        log_terms[k] += acc_g[k].sum()
        for j in range(D):
            first[k, j] += acc_f[k, j].sum()
    for k in range(S):
        for a in range(D):
            for b in range(a, D):
                second[k, a, b] += acc_s[k, a, b].sum()
                second[k, b, a] = second[k, a, b]


@njit(**_JIT)
def t_diag_chunk(X, weights, center, means_c, precisions, constant, half_power, inv_dof, dof,
                 u_numer, log_u_max, stat_center, row_objective, counts, counts_u, first,
                 second, log_terms):
    """Fused soft E-step of t components with diagonal precisions (diagonal and
    spherical storages): ``delta = sum_j precisions[k, j] (x_j - m_kj)^2``; moments
    about the shared ``stat_center`` (D,), second moments per component (K, D)."""
    n, D = X.shape
    K = means_c.shape[0]
    B = GMM_BLOCK
    y = _aligned((D, B), None)
    d = _aligned((D, B), None)
    dd = _aligned((D, B), None)
    maha = _aligned((B,), None)
    L = _aligned((K, B), None)
    U = _aligned((K, B), None)
    G = _aligned((K, B), None)
    wk = _aligned((B,), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_u = _aligned((K, LANES), 0.0)
    acc_g = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((K, D, LANES), 0.0)
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        for j in range(D):
            for i in range(rows):
                value = X[start + i, j]
                y[j, i] = value - center[j]
                d[j, i] = value - stat_center[j]
                dd[j, i] = d[j, i] * d[j, i]
            for i in range(rows, padded):
                d[j, i] = 0.0
                dd[j, i] = 0.0
        for k in range(K):
            for i in range(rows):
                maha[i] = 0.0
            for j in range(D):
                mean = means_c[k, j]
                precision = precisions[k, j]
                for i in range(rows):
                    t = y[j, i] - mean
                    maha[i] += precision * t * t
            _t_terms(L, U, G, maha, k, rows, padded, constant, half_power, inv_dof, dof,
                     u_numer, log_u_max)
        _normalize_block(L, top, total, rows, K)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        for k in range(K):
            for i in range(padded):
                wk[i] = L[k, i] * U[k, i]
            _add_lanes(acc_n[k], L[k], padded)
            _add_lanes(acc_u[k], wk, padded)
            _add_lanes_product(acc_g[k], L[k], G[k], padded)
            for j in range(D):
                _add_lanes_product(acc_f[k, j], wk, d[j], padded)
                _add_lanes_product(acc_s[k, j], wk, dd[j], padded)
    for k in range(K):
        counts[k] += acc_n[k].sum()
        counts_u[k] += acc_u[k].sum()
        log_terms[k] += acc_g[k].sum()
        for j in range(D):
            first[k, j] += acc_f[k, j].sum()
            second[k, j] += acc_s[k, j].sum()
