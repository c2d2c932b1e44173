"""Forward-backward and Viterbi over the whole sequences of a chunk.

Two implementations with the same results up to float rounding: compiled
kernels (:mod:`emkit.hmm._numba_hmm`, the optional numba dependency) and the
NumPy reference path here.  Both run the *scaled* recursion (Rabiner 1989,
section V.A): each row's emission densities are divided by their maximum and
the forward variables are normalised at every step, so a sequence of any
length costs O(T K^2) in probability space, with no underflow:
``log p(x) = sum_t (log c_t + m_t)``.  A sequence whose scales fall below
:data:`SCALE_FLOOR` (or whose backward variables exceed
:data:`BACKWARD_CEILING`) is run again in log space (the same normalised recursion on
logarithms), which is exact whatever the densities' range (states the filter
has all but ruled out that later explain the data far better, structural
zeros).

The expected transition counts are ``A * sum_t alpha_t (x) u_{t+1}`` with
``u_{t+1} = b_{t+1} beta_{t+1} / c_{t+1}``, so no (T, K, K) array is formed:
memory beyond the chunk's (n, K) log-densities is one (n, K) array of
posteriors and one (longest sequence, K) work array.

The choice of implementation follows ``emkit.get_config()["kernels"]`` as the
mixtures' kernels do (:mod:`emkit._kernels`); with "auto" the compiled
kernels run from :data:`AUTO_MIN_ROWS` rows (the NumPy recursion is a Python
loop over time steps, so they pay off much earlier than the mixtures').
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _kernels
from .._config import get_config

#: A forward scale below this sends the sequence to the log-space recursion.
SCALE_FLOOR = 1e-250
#: A backward variable above this sends the sequence to the log-space recursion.
BACKWARD_CEILING = 1e250
#: The NumPy path runs the sequences of a chunk in lockstep from this many sequences
#: (a lockstep step costs a few times a single sequence's step).
LOCKSTEP_MIN_SEQUENCES = 8
#: With kernels="auto", fits and predictions of at least this many rows compile.
AUTO_MIN_ROWS = 1_000


def use_compiled(n_rows: int | None) -> bool:
    """Whether the compiled kernels run for data of ``n_rows`` rows (None: large)."""
    if get_config()["kernels"] == "auto" and n_rows is not None and n_rows < AUTO_MIN_ROWS:
        return False
    return _kernels.use_numba(None)


def _compiled():
    from . import _numba_hmm

    return _numba_hmm


def log_probabilities(p: np.ndarray) -> np.ndarray:
    """``log p`` with ``log 0 = -inf`` (structural zeros), without warnings."""
    with np.errstate(divide="ignore"):
        return np.log(p)


def _logsumexp(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """log(sum(exp(a))) along ``axis`` (-inf when every entry is -inf); small and fast."""
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return out.squeeze(axis) if axis is not None else out.reshape(())[()]


@dataclasses.dataclass
class Posteriors:
    """Forward-backward results of a chunk.

    Attributes
    ----------
    loglik : ndarray (S,)
        ``log p(x_s)`` of every sequence (-inf: impossible).
    gamma : ndarray (n, K)
        State posteriors per row (0 for an impossible sequence).
    start, transitions, occupancy : ndarray (K,), (K, K), (K,)
        Expected first states, transitions and state occupancy, summed over
        the sequences with their weights.
    """

    loglik: np.ndarray
    gamma: np.ndarray
    start: np.ndarray
    transitions: np.ndarray
    occupancy: np.ndarray


def forward_backward(log_b: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
                     transmat: np.ndarray, seq_weights: np.ndarray, compiled: bool
                     ) -> Posteriors:
    """Posteriors and expected counts of the sequences ``offsets`` delimit in ``log_b``.

    Parameters
    ----------
    log_b : ndarray (n, K)
        Emission log-densities (-inf where a state cannot emit the row).
    offsets : ndarray (S + 1,)
        Sequence boundaries in the rows, from 0 to n.
    startprob, transmat : ndarray (K,), (K, K)
    seq_weights : ndarray (S,)
        Weight of every sequence in the expected counts (0: left out).
    compiled : bool
        Run the numba kernels (else the NumPy reference path).
    """
    log_b = np.ascontiguousarray(log_b, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    startprob = np.ascontiguousarray(startprob, dtype=np.float64)
    transmat = np.ascontiguousarray(transmat, dtype=np.float64)
    seq_weights = np.ascontiguousarray(seq_weights, dtype=np.float64)
    n, K = log_b.shape
    S = offsets.shape[0] - 1
    out = Posteriors(np.zeros(S), np.empty((n, K)), np.zeros(K), np.zeros((K, K)),
                     np.zeros(K))
    redo = np.zeros(S, dtype=np.bool_)
    if compiled:
        _compiled().forward_backward_scaled(
            log_b, offsets, startprob, transmat, seq_weights, SCALE_FLOOR, BACKWARD_CEILING,
            out.gamma, out.start, out.transitions, out.occupancy, out.loglik, redo)
    elif S >= LOCKSTEP_MIN_SEQUENCES:
        redo = _scaled_lockstep(log_b, offsets, startprob, transmat, seq_weights, out)
    else:
        for s in range(S):
            redo[s] = not _scaled_sequence(log_b, offsets[s], offsets[s + 1], startprob,
                                           transmat, seq_weights[s], out, s)
    which = np.flatnonzero(redo)
    if which.size:
        log_start, log_trans = log_probabilities(startprob), log_probabilities(transmat)
        if compiled:
            _compiled().forward_backward_log(
                log_b, offsets, which.astype(np.int64), log_start, log_trans, seq_weights,
                out.gamma, out.start, out.transitions, out.occupancy, out.loglik)
        else:
            for s in which:
                _log_sequence(log_b, offsets[s], offsets[s + 1], log_start, log_trans,
                              seq_weights[s], out, s)
    return out


def _scaled_lockstep(log_b, offsets, startprob, transmat, seq_weights,
                     out: Posteriors) -> np.ndarray:
    """NumPy scaled recursion of all sequences of a chunk at once.

    The sequences advance in lockstep (longest first, so the sequences still
    running at step t are a prefix), so a step costs a few NumPy calls on
    (running sequences, K) arrays whatever their number, and the expected
    transitions are one matrix product over all rows.  Returns the mask of
    sequences to rerun in log space (they are not counted here).
    """
    n, K = log_b.shape
    lengths = np.diff(offsets)
    S = lengths.shape[0]
    top = log_b.max(axis=1)
    finite = np.isfinite(top)
    possible = np.logical_and.reduceat(finite, offsets[:-1])
    b = np.exp(log_b - np.where(finite, top, 0.0)[:, None])
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    first = offsets[:-1][order]
    # sequences still running at every step (a prefix of the length order)
    running = np.searchsorted(-sorted_lengths, -np.arange(sorted_lengths[0]), side="left")
    alpha = np.empty((n, K))
    scale = np.ones(n)
    flagged = np.zeros(S, dtype=bool)  # in the length order
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for t in range(running.shape[0]):
            m = running[t]
            rows = first[:m] + t
            a = startprob * b[rows] if t == 0 else (alpha[rows - 1] @ transmat) * b[rows]
            c = a.sum(axis=1)
            low = ~(c >= SCALE_FLOOR)
            if low.any():
                flagged[:m] |= low
                c[low] = 1.0
            scale[rows] = c
            alpha[rows] = a / c[:, None]
        u = np.zeros((n, K))
        beta = np.ones((S, K))
        gamma = out.gamma
        for t in range(running.shape[0] - 1, -1, -1):
            m = running[t]
            rows = first[:m] + t
            going = np.flatnonzero(sorted_lengths[:m] > t + 1)  # sequences going on after t
            if going.size:
                nxt = rows[going] + 1
                u[nxt] = b[nxt] * beta[going] / scale[nxt][:, None]
                beta[going] = u[nxt] @ transmat.T
                high = ~(beta[going].max(axis=1) <= BACKWARD_CEILING)
                if high.any():
                    flagged[going[high]] = True
                    beta[going[high]] = 1.0
            g = alpha[rows] * beta[:m]
            gamma[rows] = g / g.sum(axis=1, keepdims=True)
    redo = np.zeros(S, dtype=bool)
    redo[order] = flagged
    redo &= possible
    out.loglik[:] = np.add.reduceat(np.log(scale) + np.where(finite, top, 0.0), offsets[:-1])
    out.loglik[~possible] = -np.inf
    for s in np.flatnonzero(~possible):
        gamma[offsets[s]:offsets[s + 1]] = 0.0
    used = np.where(possible & ~redo, seq_weights, 0.0)
    row_weight = np.repeat(used, lengths)
    inside = np.ones(n, dtype=bool)
    inside[offsets[1:] - 1] = False  # the last row of every sequence has no successor
    pairs = np.flatnonzero(inside & (row_weight > 0))
    if pairs.size:
        out.transitions += transmat * ((alpha[pairs] * row_weight[pairs, None]).T
                                       @ u[pairs + 1])
    out.start += used @ gamma[offsets[:-1]]
    out.occupancy += row_weight @ gamma
    return redo


def _scaled_sequence(log_b, lo, hi, startprob, transmat, weight, out: Posteriors, s) -> bool:
    """NumPy scaled recursion of one sequence; False when it must run in log space."""
    rows = log_b[lo:hi]
    top = rows.max(axis=1)
    gamma = out.gamma[lo:hi]
    if not (top > -np.inf).all():  # a row no state can emit
        out.loglik[s] = -np.inf
        gamma[:] = 0.0
        return True
    b = np.exp(rows - top[:, None])
    T, K = b.shape
    scale = np.empty(T)
    alpha = np.empty((T, K))
    a = startprob * b[0]
    for t in range(T):
        if t:
            a = (alpha[t - 1] @ transmat) * b[t]
        c = a.sum()
        if not c >= SCALE_FLOOR:
            return False
        scale[t] = c
        alpha[t] = a / c
    u = np.empty((T, K))
    beta = np.ones(K)
    gamma[T - 1] = alpha[T - 1]
    for t in range(T - 2, -1, -1):
        u[t + 1] = b[t + 1] * beta / scale[t + 1]
        beta = transmat @ u[t + 1]
        if not beta.max() <= BACKWARD_CEILING:
            return False
        g = alpha[t] * beta
        gamma[t] = g / g.sum()
    out.loglik[s] = float(np.log(scale).sum() + top.sum())
    if weight > 0.0:
        out.transitions += weight * transmat * (alpha[:-1].T @ u[1:])
        out.start += weight * gamma[0]
        out.occupancy += weight * gamma.sum(axis=0)
    return True


def _log_sequence(log_b, lo, hi, log_start, log_trans, weight, out: Posteriors, s) -> None:
    """NumPy log-space recursion of one sequence (log forward variables normalised at
    every step, backward ones divided by the same scales: no quantity grows with T)."""
    rows = log_b[lo:hi]
    T, K = rows.shape
    log_alpha = np.empty((T, K))
    log_scale = np.empty(T)
    gamma = out.gamma[lo:hi]
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(T):
            if t == 0:
                log_alpha[0] = log_start + rows[0]
            else:
                log_alpha[t] = _logsumexp(log_alpha[t - 1][:, None] + log_trans,
                                         axis=0) + rows[t]
            log_scale[t] = _logsumexp(log_alpha[t])
            if log_scale[t] == -np.inf:
                out.loglik[s] = -np.inf
                gamma[:] = 0.0
                return
            log_alpha[t] -= log_scale[t]
        out.loglik[s] = float(log_scale.sum())
        log_beta = np.zeros(K)
        xi = np.zeros((K, K))
        gamma[T - 1] = np.exp(log_alpha[T - 1])
        for t in range(T - 2, -1, -1):
            terms = log_trans + (rows[t + 1] + log_beta - log_scale[t + 1])[None, :]
            xi += np.exp(log_alpha[t][:, None] + terms)
            log_beta = _logsumexp(terms, axis=1)
            gamma[t] = np.exp(log_alpha[t] + log_beta)
    if weight > 0.0:
        out.start += weight * gamma[0]
        out.transitions += weight * xi
        out.occupancy += weight * gamma.sum(axis=0)


def viterbi(log_b: np.ndarray, offsets: np.ndarray, startprob: np.ndarray,
            transmat: np.ndarray, compiled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Most probable state path of every sequence.

    Returns
    -------
    best : ndarray (S,)
        ``log p(x_s, path_s)`` of each sequence's best path (-inf: none possible).
    path : ndarray (n,) of int
        The states (-1 in a sequence with no possible path).  Ties go to the
        lowest state index.
    """
    log_b = np.ascontiguousarray(log_b, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    log_start = np.ascontiguousarray(log_probabilities(startprob), dtype=np.float64)
    log_trans = np.ascontiguousarray(log_probabilities(transmat), dtype=np.float64)
    S = offsets.shape[0] - 1
    best = np.empty(S)
    path = np.empty(log_b.shape[0], dtype=np.intp)
    if compiled:
        _compiled().viterbi(log_b, offsets, log_start, log_trans, path, best)
        return best, path
    K = log_start.shape[0]
    columns = np.arange(K)
    for s in range(S):
        lo, hi = offsets[s], offsets[s + 1]
        T = hi - lo
        back = np.empty((T, K), dtype=np.intp)
        delta = log_start + log_b[lo]
        for t in range(1, T):
            scores = delta[:, None] + log_trans
            back[t] = np.argmax(scores, axis=0)
            delta = scores[back[t], columns] + log_b[lo + t]
        state = int(np.argmax(delta))
        best[s] = delta[state]
        if best[s] == -np.inf:
            path[lo:hi] = -1
            continue
        path[hi - 1] = state
        for t in range(T - 1, 0, -1):
            state = back[t, state]
            path[lo + t - 1] = state
    return best, path
