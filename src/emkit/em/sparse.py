"""Sparse EM (Neal & Hinton 1998): E-steps restricted to each row's active components.

The free energy of a distribution ``q`` over the components of every row and
parameters ``theta`` is

    F(q, theta) = sum_i w_i sum_k q_ik [log p(x_i, k | theta) - log q_ik]

(plus the log prior for MAP-EM), a lower bound of the log-likelihood with
equality at the posterior.  EM maximises it alternately in ``q`` (E-step) and
``theta`` (M-step).  Sparse EM keeps, for every row, a short list ``A_i`` of
*active* components and freezes ``q_ik`` for the others:

Full iteration (every ``full_every`` iterations, and the first)
    The posterior ``q_i = p(. | x_i, theta)`` of every component; ``A_i`` are
    the ``n_active`` components of largest responsibility.  The *frozen* part
    (``q_ik`` off the active lists) is summarised by its sufficient statistics
    ``S_frozen`` and the constant ``H_frozen`` (below); ``m_i = sum_{k in A_i}
    q_ik`` is the row's active mass.  The objective is the log-likelihood.
Partial iteration
    Only the active pairs' log joints ``l_ik = log p(x_i, k | theta)`` are
    computed (``model.log_joint_active``); within ``A_i``,
    ``q_ik = m_i exp(l_ik) / sum_{j in A_i} exp(l_ij)`` maximises ``F`` over
    ``q`` with the frozen entries held, and

        F = sum_i w_i m_i (logsumexp_{A_i} l_i - log m_i) + Q(theta; S_frozen) + H_frozen

    where ``Q(theta; S) = model.expected_log_joint(theta, S)`` is linear in the
    statistics (so the frozen pairs' ``sum q_ik log p(x_i, k | theta)`` costs
    nothing per row) and ``H_frozen = sum_i w_i (1 - m_i) L_i - Q(theta_full;
    S_frozen)`` is the frozen pairs' entropy (``L_i`` the row log-likelihood at
    the full iteration's parameters; equal to ``-sum q log q`` off the lists).
    The statistics of the M-step are ``S_active + S_frozen``.

Both steps maximise ``F``, so it never decreases (the engine's strict check
watches it); it equals the log-likelihood at every full iteration.  The
sparse phase may stop only at a full iteration (its change then includes the
refresh of every row); plain EM follows to convergence, so the fit ends at a
fixed point of EM (:class:`~emkit.em.variants.SparseSchedule`).

The engine knows no distribution: the model supplies
``log_joint_active(params, X, active) -> (n, m) or None`` and
``statistics_active(params, X, active, resp) -> statistics or None`` when it
can evaluate a subset of (row, component) pairs cheaply (and may fuse the two
with the renormalisation: ``active_e_step(params, X, weights, active, mass)
-> (row objectives, statistics) or None``, a compiled kernel), and needs
``expected_log_joint(params, stats)``; without the first two the full
``log_joint`` / ``statistics`` are used on the active pairs (correct, not
faster).  Per-row state (active lists, active masses) is kept per chunk in
memory where the chunks are computed: in this process for in-memory and file
sources; on a Dask source in the memory of the worker that computed the
block (:mod:`emkit.em.sparse_dask`), never gathered by the client.

Reference: R. M. Neal and G. E. Hinton (1998), A view of the EM algorithm that
justifies incremental, sparse, and other variants, in M. I. Jordan (ed.),
Learning in Graphical Models, 355-368.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from .engine import soft_assignment


@dataclasses.dataclass(frozen=True)
class SparseEM:
    """Settings of sparse EM.

    Parameters
    ----------
    n_active : int, default=4
        Components kept per row (the largest responsibilities at the last full
        E-step); more than ``n_components`` means all of them (plain EM).
    full_every : int, default=10
        Iterations between full E-steps (which refresh the active lists);
        1 is plain EM.
    """

    n_active: int = 4
    full_every: int = 10


def active_log_joint(model, params, X, active: np.ndarray) -> np.ndarray:
    """``log p(x_i, k | theta)`` for ``k = active[i, j]``: the model's or from the full one."""
    hook = getattr(model, "log_joint_active", None)
    out = None if hook is None else hook(params, X, active)
    if out is None:
        out = np.take_along_axis(model.log_joint(params, X), active, axis=1)
    return out


def dense_responsibilities(active: np.ndarray, resp: np.ndarray, n_components: int
                           ) -> np.ndarray:
    """(n, K) responsibilities that are ``resp[i, j]`` at ``active[i, j]`` and 0 elsewhere."""
    dense = np.zeros((active.shape[0], n_components), dtype=resp.dtype)
    np.put_along_axis(dense, active, resp, axis=1)
    return dense


def active_statistics(model, params, X, active: np.ndarray, resp: np.ndarray,
                      n_components: int):
    """Statistics of responsibilities ``resp`` (row-weighted) on the active pairs."""
    hook = getattr(model, "statistics_active", None)
    out = None if hook is None else hook(params, X, active, resp)
    if out is None:
        out = model.statistics(params, X, dense_responsibilities(active, resp, n_components))
    return out


def check_sparse_model(model) -> None:
    """Refuse models sparse EM cannot run on, naming what is missing."""
    if getattr(model, "data_maximize", None) is not None:
        raise ValueError("sparse EM does not apply to models whose M-step needs the data "
                         "(GLM components, mixtures of experts); use sparse=None")
    if not callable(getattr(model, "expected_log_joint", None)):
        raise ValueError("sparse EM needs the model's expected complete-data log-likelihood "
                         "(expected_log_joint) for its free energy; use sparse=None")


def model_components(model, params, X) -> int:
    """The number of components K (from one row's log joint)."""
    return int(model.log_joint(params, X[:1]).shape[1])


class _State:
    """Active lists and masses per chunk, the frozen statistics and entropy."""

    def __init__(self, n_active: int):
        self.n_active = n_active
        self.chunks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.frozen_stats = None
        self.frozen_entropy = 0.0
        self.lock = threading.Lock()
        self.n_full = 0
        self.n_components = 0


def sparse_chunk_step(model, params, state: _State, full: bool):
    """The chunk E-step of sparse EM (full or partial) with per-row state in ``state``.

    A full step stores every chunk's active lists and masses in
    ``state.chunks`` (keyed by the chunk's first row and length) and returns
    ``(objective sum, weight sum, active statistics, frozen statistics, frozen
    objective)``; a partial step reads them and returns ``(objective sum, weight
    sum, statistics)``.  On Dask each block task has its own ``state``
    (:mod:`emkit.em.sparse_dask`).
    """

    def step(chunk):
        X, w = chunk[0], chunk[1]
        labels = chunk[2] if len(chunk) > 2 else None
        known = None
        if labels is not None:
            known = np.flatnonzero(np.asarray(labels) >= 0)
            known = (known, np.asarray(labels)[known]) if known.size else None
        start = int(chunk[3]) if len(chunk) > 3 and chunk[3] is not None else 0
        key = (start, int(X.shape[0]))
        present = w > 0.0
        if not state.n_components:
            with state.lock:
                state.n_components = model_components(model, params, X)
        if full:
            return full_step(X, w, key, present, known)
        return partial_step(X, w, key, present, known)

    def full_step(X, w, key, present, known):
        # labelled rows (semi_supervised): their responsibility is one-hot on their
        # component, which is then in their active list with all of the mass, and
        # their objective the joint log-density, as in plain EM
        K = state.n_components
        m = min(state.n_active, K)
        fused = getattr(model, "select_e_step", None)
        out = None if fused is None or m == K or known is not None else fused(
            params, X, w, m)
        if out is not None:
            row_objective, active, mass, live, frozen = out
            mass[~present] = 1.0
            row_objective[~present] = 0.0
            with state.lock:
                state.chunks[key] = (active, mass)
            frozen_objective = float((w * (1.0 - mass)) @ row_objective)
            return float(w @ row_objective), float(w.sum()), live, frozen, frozen_objective
        log_joint = model.log_joint(params, X)
        if known is not None:
            joint = log_joint[known[0], known[1]]
        row_objective, resp = soft_assignment(log_joint, overwrite=True)
        if known is not None:
            row_objective[known[0]] = joint
            resp[known[0]] = 0.0
            resp[known[0], known[1]] = 1.0
        if m < K:
            active = np.argpartition(-resp, m - 1, axis=1)[:, :m]
        else:
            active = np.broadcast_to(np.arange(K), resp.shape).copy()
        active_resp = np.take_along_axis(resp, active, axis=1)
        mass = active_resp.sum(axis=1)
        mass[~present] = 1.0
        row_objective[~present] = 0.0
        with state.lock:
            state.chunks[key] = (active, mass)
        np.put_along_axis(resp, active, 0.0, axis=1)  # the frozen part
        resp[~present] = 0.0
        active_resp[~present] = 0.0
        resp *= w[:, None]
        active_resp *= w[:, None]
        frozen = model.statistics(params, X, resp)
        live = active_statistics(model, params, X, active, active_resp, K)
        frozen_objective = float((w * (1.0 - mass)) @ row_objective)
        return float(w @ row_objective), float(w.sum()), live, frozen, frozen_objective

    def partial_step(X, w, key, present, known):
        held = state.chunks.get(key)
        if held is None:
            raise RuntimeError("sparse EM: a chunk changed between iterations (the "
                               "source must give the same chunks every pass)")
        active, mass = held
        K = state.n_components
        fused = getattr(model, "active_e_step", None)
        out = None if fused is None or known is not None else fused(
            params, X, w, active, mass)
        if out is not None:
            row_objective, stats = out
            return float(w @ row_objective), float(w.sum()), stats
        log_joint = active_log_joint(model, params, X, active)
        if known is not None:  # the labelled component's place in each active list
            place = np.argmax(active[known[0]] == known[1][:, None], axis=1)
            joint = log_joint[known[0], place]
        log_norm, resp = soft_assignment(log_joint, overwrite=True)
        with np.errstate(divide="ignore"):
            row_objective = mass * (log_norm - np.log(mass))
        if known is not None:  # mass 1 on the label: one-hot, joint log-density
            row_objective[known[0]] = joint
            resp[known[0]] = 0.0
            resp[known[0], place] = 1.0
        row_objective[~present] = 0.0
        resp[~present] = 0.0
        resp *= (mass * w)[:, None]
        stats = active_statistics(model, params, X, active, resp, K)
        return float(w @ row_objective), float(w.sum()), stats

    return step


class SparseStep:
    """The chunk function of one sparse iteration, with what built it (the Dask adapter
    of :mod:`emkit.em.sparse_dask` runs it per block with block-local state)."""

    def __init__(self, model, params, full: bool, state: _State):
        self.model, self.params, self.full, self.state = model, params, full, state
        self._step = sparse_chunk_step(model, params, state, full)

    def __call__(self, chunk):
        return self._step(chunk)


@dataclasses.dataclass
class SparseAssignment:
    """The engine's assignment for sparse EM (see the module docstring).

    ``at(iteration)`` gives the step of that iteration (full when
    ``(iteration - 1) % full_every == 0``); the engine asks it for the chunk
    step (:meth:`chunk_step`), reduces the chunks and calls :meth:`finish`.
    """

    settings: SparseEM
    state: _State | None = None
    full: bool = True

    monotone = True
    converges = True

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = _State(int(self.settings.n_active))

    def at(self, iteration: int) -> SparseAssignment:
        full = (int(iteration) - 1) % int(self.settings.full_every) == 0
        return dataclasses.replace(self, full=full)

    def may_stop(self, iteration: int) -> bool:
        """The convergence rule may end the phase only at a full iteration."""
        return (int(iteration) - 1) % int(self.settings.full_every) == 0

    # --- the chunk E-steps -----------------------------------------------
    def chunk_step(self, model, params, unweighted: bool) -> SparseStep:
        assert self.state is not None
        return SparseStep(model, params, self.full, self.state)

    def finish(self, model, params, result):
        """Add the frozen part to the reduced chunk results: (total, weight, stats)."""
        state = self.state
        assert state is not None
        if self.full:
            total, weight, live, frozen, frozen_objective = result
            state.frozen_stats = frozen
            state.frozen_entropy = frozen_objective - float(
                model.expected_log_joint(params, frozen))
            state.n_full += 1
            return total, weight, live + frozen
        total, weight, live = result
        frozen = state.frozen_stats
        total += float(model.expected_log_joint(params, frozen)) + state.frozen_entropy
        return total, weight, live + frozen


def check_sparse(value, name: str = "sparse") -> SparseEM | None:
    """``sparse``: None/False (off), True (defaults), an int (``n_active``), a dict or SparseEM."""
    if value is None or value is False:
        return None
    if value is True:
        return SparseEM()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        settings = {"n_active": int(value)}
    elif isinstance(value, SparseEM):
        settings = dataclasses.asdict(value)
    elif isinstance(value, dict):
        settings = dict(value)
        unknown = sorted(set(map(str, settings)) - {"n_active", "full_every"})
        if unknown:
            raise ValueError(f"{name} has unknown setting(s) {unknown}; the settings are "
                             "'n_active' and 'full_every'")
    else:
        raise ValueError(f"{name} must be None, True, an int (n_active), a dict with "
                         f"'n_active', 'full_every' or a SparseEM, got {value!r}")
    result = SparseEM(**settings)
    for field in ("n_active", "full_every"):
        v = getattr(result, field)
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{name}[{field!r}] must be an integer >= 1, got {v!r}")
    return SparseEM(int(result.n_active), int(result.full_every))
