"""Compiled forward-backward and Viterbi kernels (numba).  Import through
:mod:`emkit.hmm._recursions` only.

Every kernel processes the whole sequences of one chunk (``offsets`` are the
sequence boundaries in the chunk's rows) and writes into arrays the caller
allocated, so the engine's chunk threads run them in parallel (``nogil``).
The arithmetic is the NumPy reference path's (:mod:`emkit.hmm._recursions`),
in the same order up to the summation order of length-K dot products.

``cache=True`` keeps the machine code on disk; ``fastmath`` stays off.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numba_kernels import exp_nonpositive

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


@njit(**_JIT)
def forward_backward_scaled(log_b, offsets, startprob, transmat, seq_weights, floor, ceiling,
                            gamma, start_counts, trans_counts, occupancy, loglik, redo):
    """Scaled forward-backward over the sequences of a chunk.

    Per row the emission densities are scaled by their maximum,
    ``b_t = exp(log_b_t - m_t)``; the forward variables are normalised at
    every step (scale ``c_t``), so ``log p(x) = sum_t (log c_t + m_t)``.  A
    sequence whose scale falls below ``floor`` or whose backward variables
    exceed ``ceiling`` (underflow/overflow risk) is flagged in ``redo`` and
    leaves the accumulators untouched: the caller runs it in log space.  A
    row impossible under every state gives ``loglik = -inf`` (not flagged).

    Outputs: ``gamma`` (n, K) posteriors; ``start_counts`` (K,),
    ``trans_counts`` (K, K) and ``occupancy`` (K,) are *added to*, weighted
    by ``seq_weights`` (a sequence of weight 0 adds nothing); ``loglik`` (S,).
    """
    K = startprob.shape[0]
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    b = np.empty((longest, K))
    scale = np.empty(longest)
    beta = np.empty(K)
    u = np.empty(K)
    pred = np.empty(K)
    xi = np.empty((K, K))
    transposed = np.ascontiguousarray(transmat.T)
    for s in range(offsets.shape[0] - 1):
        lo = offsets[s]
        T = offsets[s + 1] - lo
        total = 0.0
        impossible = False
        # scaled emissions
        for t in range(T):
            top = log_b[lo + t, 0]
            for j in range(1, K):
                v = log_b[lo + t, j]
                top = v if v > top else top
            if not top > -np.inf:
                impossible = True
                break
            total += top
            for j in range(K):
                b[t, j] = exp_nonpositive(log_b[lo + t, j] - top)
        if impossible:
            loglik[s] = -np.inf
            for t in range(T):
                for j in range(K):
                    gamma[lo + t, j] = 0.0
            continue
        # forward (alpha in gamma's rows)
        flagged = False
        c = 0.0
        for j in range(K):
            v = startprob[j] * b[0, j]
            gamma[lo, j] = v
            c += v
        for t in range(T):
            if t > 0:
                for j in range(K):
                    pred[j] = 0.0
                for i in range(K):
                    a = gamma[lo + t - 1, i]
                    for j in range(K):
                        pred[j] += a * transmat[i, j]
                c = 0.0
                for j in range(K):
                    v = pred[j] * b[t, j]
                    gamma[lo + t, j] = v
                    c += v
            if not c >= floor:
                flagged = True
                break
            scale[t] = c
            total += math.log(c)
            inv = 1.0 / c
            for j in range(K):
                gamma[lo + t, j] *= inv
        if flagged:
            redo[s] = True
            continue
        # backward; gamma_t = alpha_t * beta_t, xi sums alpha_t (x) u_{t+1}
        for i in range(K):
            beta[i] = 1.0
            for j in range(K):
                xi[i, j] = 0.0
        for t in range(T - 2, -1, -1):
            inv = 1.0 / scale[t + 1]
            for j in range(K):
                u[j] = b[t + 1, j] * beta[j] * inv
            for i in range(K):
                a = gamma[lo + t, i]
                for j in range(K):
                    xi[i, j] += a * u[j]
            # beta = A u, accumulated over j so the loop over i vectorises
            for i in range(K):
                beta[i] = 0.0
            for j in range(K):
                uj = u[j]
                for i in range(K):
                    beta[i] += transposed[j, i] * uj
            top = 0.0
            for i in range(K):
                top = beta[i] if beta[i] > top else top
            if not top <= ceiling:
                flagged = True
                break
            norm = 0.0
            for i in range(K):
                v = gamma[lo + t, i] * beta[i]
                gamma[lo + t, i] = v
                norm += v
            norm = 1.0 / norm
            for i in range(K):
                gamma[lo + t, i] *= norm
        if flagged:
            redo[s] = True
            continue
        loglik[s] = total
        w = seq_weights[s]
        if w > 0.0:
            for i in range(K):
                start_counts[i] += w * gamma[lo, i]
                for j in range(K):
                    trans_counts[i, j] += w * transmat[i, j] * xi[i, j]
            for t in range(T):
                for i in range(K):
                    occupancy[i] += w * gamma[lo + t, i]


@njit(inline="always", **_JIT)
def _logaddexp(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(**_JIT)
def forward_backward_log(log_b, offsets, which, log_startprob, log_transmat, seq_weights,
                         gamma, start_counts, trans_counts, occupancy, loglik):
    """Log-space forward-backward of the sequences ``which`` of a chunk.

    The scaled recursion carried out on logarithms: the log forward variables
    are normalised at every step (``log c_t`` their log-sum-exp) and the
    backward ones divided by the same scales, so every quantity stays of
    moderate size (posteriors keep full relative precision on sequences of
    any length) and no density can underflow.  Same outputs as
    :func:`forward_backward_scaled` (accumulators added to).
    """
    K = log_startprob.shape[0]
    longest = 0
    for s in which:
        longest = max(longest, offsets[s + 1] - offsets[s])
    log_alpha = np.empty((longest, K))
    log_scale = np.empty(longest)
    log_beta = np.empty(K)
    new_beta = np.empty(K)
    nxt = np.empty(K)
    xi = np.empty((K, K))
    for s in which:
        lo = offsets[s]
        T = offsets[s + 1] - lo
        total = 0.0
        for t in range(T):
            for j in range(K):
                if t == 0:
                    acc = log_startprob[j]
                else:
                    acc = -np.inf
                    for i in range(K):
                        acc = _logaddexp(acc, log_alpha[t - 1, i] + log_transmat[i, j])
                log_alpha[t, j] = acc + log_b[lo + t, j]
            c = -np.inf
            for j in range(K):
                c = _logaddexp(c, log_alpha[t, j])
            if c == -np.inf:
                total = -np.inf
                break
            log_scale[t] = c
            total += c
            for j in range(K):
                log_alpha[t, j] -= c
        loglik[s] = total
        if total == -np.inf:
            for t in range(T):
                for j in range(K):
                    gamma[lo + t, j] = 0.0
            continue
        for i in range(K):
            log_beta[i] = 0.0
            for j in range(K):
                xi[i, j] = 0.0
        for j in range(K):
            gamma[lo + T - 1, j] = math.exp(log_alpha[T - 1, j])
        for t in range(T - 2, -1, -1):
            for j in range(K):
                nxt[j] = log_b[lo + t + 1, j] + log_beta[j] - log_scale[t + 1]
            for i in range(K):
                acc = -np.inf
                base = log_alpha[t, i]
                for j in range(K):
                    v = log_transmat[i, j] + nxt[j]
                    acc = _logaddexp(acc, v)
                    if base + v > -np.inf:
                        xi[i, j] += math.exp(base + v)
                new_beta[i] = acc
            for i in range(K):
                log_beta[i] = new_beta[i]
                gamma[lo + t, i] = math.exp(log_alpha[t, i] + log_beta[i])
        w = seq_weights[s]
        if w > 0.0:
            for i in range(K):
                start_counts[i] += w * gamma[lo, i]
                for j in range(K):
                    trans_counts[i, j] += w * xi[i, j]
            for t in range(T):
                for i in range(K):
                    occupancy[i] += w * gamma[lo + t, i]


@njit(**_JIT)
def viterbi(log_b, offsets, log_startprob, log_transmat, path, best):
    """Most probable state path of every sequence (first best state on ties).

    ``path`` (n,) receives the states, ``best`` (S,) the log-probability
    ``log p(x, path)`` of each sequence's path (-inf: no possible path; the
    path is then all -1).
    """
    K = log_startprob.shape[0]
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    back = np.empty((longest, K), dtype=np.int32)
    delta = np.empty(K)
    new = np.empty(K)
    for s in range(offsets.shape[0] - 1):
        lo = offsets[s]
        T = offsets[s + 1] - lo
        for j in range(K):
            delta[j] = log_startprob[j] + log_b[lo, j]
        for t in range(1, T):
            for j in range(K):
                top = -np.inf
                arg = 0
                for i in range(K):
                    v = delta[i] + log_transmat[i, j]
                    if v > top:
                        top = v
                        arg = i
                new[j] = top + log_b[lo + t, j]
                back[t, j] = arg
            for j in range(K):
                delta[j] = new[j]
        top = delta[0]
        arg = 0
        for j in range(1, K):
            if delta[j] > top:
                top = delta[j]
                arg = j
        best[s] = top
        if top == -np.inf:
            for t in range(T):
                path[lo + t] = -1
            continue
        path[lo + T - 1] = arg
        for t in range(T - 1, 0, -1):
            arg = back[t, arg]
            path[lo + t - 1] = arg
