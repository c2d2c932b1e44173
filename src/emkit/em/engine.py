"""The EM driver shared by every model.

A *model* object supplies three functions of its parameters:

``log_joint(params, X) -> (n, K)``
    log pi_k + log p(x | z = k) for each row of a chunk.
``statistics(params, X, resp) -> SufficientStatistics``
    expected sufficient statistics of a chunk, given responsibilities that
    already include the row weights.
``maximize(stats, params) -> params``
    the M-step from statistics summed over all chunks (``params`` is the
    current value, for families that keep something when a component is empty).

and may supply ``log_prior(params) -> float`` (MAP-EM: added to the summed
objective, which is then the log posterior),
``hard_e_step(params, X, weights) -> (row_objective, stats)``, a fast path for
hard assignments that skips one-hot responsibilities (``row_objective`` may
also be a float: its weighted sum over the chunk's rows),
``soft_e_step(params, X, weights) -> (row_objective, stats) or None``, a fused
soft E-step of a chunk (compiled kernels; None when it does not apply to that
chunk, which then takes the generic path), and
``data_maximize(stats, params, data_pass) -> params``, an M-step that needs
further passes over the data (weighted IRLS for GLM components and softmax
gates): ``data_pass(function)`` returns the sum over all chunks of
``function(X, sample_weight)``, computed as the E-step is (threads, chunk
order); the model then replaces ``maximize``, and
``whole_run(params, source, tol=, max_iter=)``: the whole plain soft-EM
run in one call (a compiled loop for small data) as an ``EMResult``, or a
:class:`~emkit.em.checkpoint.RunState` to continue from (it stopped on
something unusual, which the engine then meets itself), or None (it does
not apply), and
``converged(old_params, new_params, change, tol) -> bool`` (the
default stops when the mean objective changes by less than ``tol``) and
``step_deficit(stats, new_params, params) -> float``: how much a deliberately inexact
(regularised) M-step may lower the mean objective; the monotonicity check then
asserts the generalised-EM inequality ``objective(new) >= objective(old) - deficit``.

Per iteration the engine asks the source to map the chunk E-step over its
chunks (:meth:`emkit.sources.Source.map_reduce`): each chunk's log joint becomes
responsibilities (soft: logsumexp-normalised; hard: argmax), and the chunks'
statistics and objectives are added in a fixed order; then the M-step.  Where
the chunks are computed (local threads, Dask workers) is the source's
business.  Memory beyond the data is one chunk's (rows x K) arrays per thread.
"""

from __future__ import annotations

import dataclasses
import operator
import warnings
from typing import Any

import numpy as np

from .._config import effective_threads, get_config
from .._warnings import external_stacklevel
from ..exceptions import MonotonicityError, MonotonicityWarning
from ..sources._base import add_results
from ..sources._map import blas_controller as _blas_controller  # noqa: F401 (hmm uses it)
from ..sources._map import ordered_map as _ordered_map
from ..sources._map import single_threaded_blas as _single_threaded_blas
from .assignments import (  # noqa: F401 (re-exported: the engine's public names)
    ASSIGNMENTS,
    Stochastic,
    Tempered,
    _resolve_assignment,
    hard_assignment,
    row_uniforms,
    soft_assignment,
)

#: Relative size of a decrease of the mean objective that counts as float noise.
MONOTONE_RTOL = 1e-10


def objective_rtol(model) -> float:
    """Relative float noise of ``model``'s objective: its ``objective_rtol`` or MONOTONE_RTOL.

    A model whose E-step runs in single precision (``GaussianMixture(dtype=
    np.float32)``) declares a larger one, so that rounding is not reported as
    a decrease.
    """
    return float(getattr(model, "objective_rtol", None) or MONOTONE_RTOL)


@dataclasses.dataclass
class EMResult:
    """Outcome of one EM run.

    Attributes
    ----------
    params : object
        Parameters after the last M-step.
    objective_history : ndarray of shape (n_iter,)
        Mean objective (per unit of row weight) evaluated at the parameters
        *entering* each iteration, so ``objective_history[-1]`` is the objective
        of the parameters before the last M-step (scikit-learn's ``lower_bound_``).
    converged : bool
    n_iter : int
        Iterations: for plain EM the number of E/M steps; for the accelerated
        runners (:mod:`emkit.em.accelerate`) the number of accepted parameter
        values, i.e. ``len(objective_history)``.
    n_em_evaluations : int
        Evaluations of the EM map ``F(theta) = M(E(theta))`` (the count R's
        SQUAREM reports as ``fpevals``); equals ``n_iter`` for plain EM.
    n_e_steps : int
        Passes over the data (E-steps), the dominant cost; equals ``n_iter``
        for plain EM.  The accelerated runners reuse the E-step that gives a
        candidate's objective for its next M-step, so this counts every E-step
        once.
    n_fallbacks : int
        Accelerated runners only: extrapolated candidates that were rejected
        (invalid, or lowering the objective) and replaced by plain EM steps.
    stopped : bool
        The run's monitor (a callback) asked it to stop.
    """

    params: Any
    objective_history: np.ndarray
    converged: bool
    n_iter: int
    n_em_evaluations: int | None = None
    n_e_steps: int | None = None
    n_fallbacks: int = 0
    stopped: bool = False
    #: Runs whose objective is not monotone (stochastic EM): the parameters with
    #: the highest objective met (they entered an iteration) and that objective.
    best_params: Any = None
    best_objective: float = -np.inf
    #: Runs of several phases (:mod:`emkit.em.variants`): one
    #: :class:`~emkit.em.variants.Phase` per phase, in order.
    phases: list | None = None

    def __post_init__(self) -> None:
        if self.n_em_evaluations is None:
            self.n_em_evaluations = self.n_iter
        if self.n_e_steps is None:
            self.n_e_steps = self.n_iter

    @property
    def objective(self) -> float:
        return float(self.objective_history[-1]) if self.objective_history.size else -np.inf


def _chunk_step(model, params, assignment, unweighted: bool, iteration: int = 0):
    """The E-step of one chunk: (weighted objective sum, weight sum, statistics).

    A chunk is ``(X, weights)`` or ``(X, weights, labels, start)``
    (:class:`emkit.sources.Chunk`); the returned function is what a source maps
    over its chunks (on a Dask worker too: it carries the model and parameters).
    """
    assign, hook = _resolve_assignment(assignment, iteration)
    fast = None if hook is None else getattr(model, hook, None)

    def step(chunk):
        X, w = chunk[0], chunk[1]
        labels = chunk[2] if len(chunk) > 2 else None
        start = int(chunk[3]) if len(chunk) > 3 and chunk[3] is not None else 0
        fused = fast(params, X, w) if fast is not None and labels is None else None
        if fused is not None:
            row_objective, stats = fused
        else:
            row_objective, resp, row_extra = chunk_responsibilities(
                assign, model.log_joint(params, X), w, labels, start, unweighted)
            stats = model.statistics(params, X, resp)
            if row_extra is not None:
                return float(w @ row_objective), float(w.sum()), stats, float(
                    (w * w) @ row_extra)
        if np.ndim(row_objective) == 0:  # a fused step's weighted sum
            return float(row_objective), float(w.sum()), stats
        return float(w @ row_objective), float(w.sum()), stats

    return step


def chunk_responsibilities(assign, log_joint: np.ndarray, w: np.ndarray,
                           labels: np.ndarray | None, start: int, unweighted: bool
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A chunk's per-row objective, row-weighted responsibilities and extra per-row
    values (``log_joint`` is consumed).

    ``assign`` is a resolved assignment (:func:`_resolve_assignment`); labelled
    rows (``labels >= 0``) get one-hot responsibilities and the joint
    log-density as objective; rows of weight 0 are absent.  The third result is
    an assignment's per-row variance (Monte Carlo EM; summed with squared
    weights), None for the others.
    """
    known = None if labels is None else np.flatnonzero(labels >= 0)
    if known is not None and known.size:
        # labelled rows: their component is observed, so their objective is
        # the joint log pi_y + log p(x | y) and their responsibility one-hot
        joint = log_joint[known, labels[known]]
    assigned = assign(log_joint, overwrite=True, start=start)
    row_objective, resp = assigned[0], assigned[1]
    row_extra = assigned[2] if len(assigned) > 2 else None
    if known is not None and known.size:
        row_objective[known] = joint
        if row_extra is not None:
            row_extra[known] = 0.0
        resp[known] = 0.0
        resp[known, labels[known]] = 1.0
    if not unweighted:
        absent = w == 0.0
        if absent.any():
            # a row of weight 0 is absent, even one impossible under every
            # component (its -inf objective and NaN responsibilities must not
            # reach the sums as 0 * inf = NaN)
            row_objective[absent] = 0.0
            resp[absent] = 0.0
            if row_extra is not None:
                row_extra[absent] = 0.0
        resp *= w[:, None]
    return row_objective, resp, row_extra


def _legacy_chunks(source):
    """Chunks of an object that only has ``chunks()`` / ``labelled_chunks()``."""
    if getattr(source, "labels", None) is not None:
        return source.labelled_chunks()
    return source.chunks()


def expectation(model, params, source, assignment="soft", iteration: int = 0):
    """One E-step over all chunks: summed statistics and mean objective.

    ``assignment``: "soft" (EM), "hard" (classification EM) or an assignment
    object (:class:`Tempered`, :class:`Stochastic`, drawn for ``iteration``).

    A source with ``labels`` (partially labelled data: a component index per
    row, -1 when unknown) fixes the responsibilities of labelled rows to their
    component, and their objective is the joint log-density.

    The source maps the chunk E-step over its chunks and adds the results in a
    fixed order (:meth:`emkit.sources.Source.map_reduce`): locally on
    ``emkit.get_config()["n_threads"]`` threads with single-threaded BLAS
    inside each, statistics added in chunk order; on Dask per block on the
    workers, added by a fixed tree over the blocks.  Either way the result
    does not depend on the number of threads or workers.
    """
    unweighted = getattr(source, "unweighted", False)
    current = assignment.at(iteration) if hasattr(assignment, "at") else assignment
    custom = getattr(current, "chunk_step", None)
    step = custom(model, params, unweighted) if custom is not None else \
        _chunk_step(model, params, assignment, unweighted, iteration)
    map_reduce = getattr(source, "map_reduce", None)
    if map_reduce is not None:
        result = map_reduce(step, add_results)
    else:  # a minimal source: chunks() only
        result = None
        with _single_threaded_blas():
            for part in _ordered_map(step, _legacy_chunks(source), effective_threads()):
                result = part if result is None else add_results(result, part)
    if result is None:
        raise ValueError("the source has no rows")
    finish = getattr(current, "finish", None)
    if finish is not None:  # an assignment with state or extra chunk results
        result = finish(model, params, result)
    total, weight, stats = result
    log_prior = getattr(model, "log_prior", None)
    if log_prior is not None:  # MAP-EM: the objective is the log posterior
        total += log_prior(params)
    return stats, total / weight


class DataPass:
    """Sums of a function over the chunks of a source, for M-steps that need the data.

    ``DataPass(source)(function)`` is ``sum(function(X, w) for X, w in chunks)``
    with the chunks processed like the E-step's (threads, single-threaded BLAS,
    results added in chunk order so they do not depend on the threads).
    :meth:`weighted` sums ``function(X, r)`` with ``r`` the responsibilities the
    E-step of this iteration gave (its ``assignment``: soft, hard, tempered,
    stochastic; labelled rows one-hot), so an M-step refined on the data
    maximises the same Q as the statistics it started from.
    ``n_passes`` counts the passes (a cost figure for the M-step).
    """

    def __init__(self, source, assignment="soft", iteration: int = 0):
        self.source = source
        self.assignment = assignment
        self.iteration = iteration
        self.n_passes = 0

    def __call__(self, function):
        self.n_passes += 1
        total = None
        with _single_threaded_blas():
            for part in _ordered_map(lambda chunk: function(chunk[0], chunk[1]),
                                     self.source.chunks(), effective_threads()):
                total = part if total is None else total + part
        return total

    def weighted(self, log_joint, function):
        """``sum(function(X, r))`` over the chunks, ``r`` the E-step's row-weighted
        responsibilities from ``log_joint(X)`` (the log joint at the parameters the
        M-step starts from)."""
        self.n_passes += 1
        assign, _ = _resolve_assignment(self.assignment, self.iteration)
        unweighted = getattr(self.source, "unweighted", False)

        def step(chunk):
            labels = chunk[2] if len(chunk) > 2 else None
            start = int(chunk[3]) if len(chunk) > 3 and chunk[3] is not None else 0
            resp = chunk_responsibilities(assign, log_joint(chunk[0]), chunk[1], labels,
                                          start, unweighted)[1]
            return function(chunk[0], resp)

        map_reduce = getattr(self.source, "map_reduce", None)
        if map_reduce is not None:
            return map_reduce(step, operator.add)
        total = None
        with _single_threaded_blas():
            for part in _ordered_map(step, _legacy_chunks(self.source), effective_threads()):
                total = part if total is None else total + part
        return total


def responsibility_pass(X, weighted: np.ndarray, chunk_size: int):
    """A ``weighted_pass`` over in-memory rows with given (row-weighted) responsibilities.

    ``responsibility_pass(X, r, size)(function)`` sums ``function(X[rows], r[rows])``
    over chunks of ``size`` rows, with single-threaded BLAS as in the E-step (the
    starting M-step of models whose M-step needs the data).
    """
    chunks = [slice(start, start + chunk_size) for start in range(0, X.shape[0], chunk_size)]

    def weighted_pass(function):
        total = None
        with _single_threaded_blas():
            for rows in chunks:
                part = function(X[rows], weighted[rows])
                total = part if total is None else total + part
        return total

    return weighted_pass


def m_step(model, stats, params, source, assignment="soft", iteration: int = 0):
    """The model's M-step: ``maximize``, or ``data_maximize`` when the model needs the data
    (its passes see the responsibilities of ``assignment`` at ``iteration``)."""
    data_maximize = getattr(model, "data_maximize", None)
    if data_maximize is None:
        return model.maximize(stats, params)
    return data_maximize(stats, params, DataPass(source, assignment, iteration))


def check_finite_objective(objective: float) -> None:
    """Refuse to run EM from parameters whose objective is not finite.

    A row with zero density under every component (a value outside every
    component's support, or starting probabilities of exactly 0 or 1) would
    otherwise give NaN responsibilities and NaN parameters.
    """
    if not np.isfinite(objective):
        raise ValueError(
            f"the EM objective is {objective} at the current parameters: some row has zero "
            "density under every component (a value outside every component's support, "
            "or starting values such as probabilities of exactly 0 or 1); give starting "
            "values inside the support or use a prior (smoothing)"
        )


def check_monotone(
    previous: float,
    current: float,
    iteration: int,
    allowance: float = 0.0,
    rtol: float = MONOTONE_RTOL,
) -> None:
    """Report a decrease of the objective beyond float noise (config ``monotonic``).

    ``allowance`` is the decrease the model's last M-step can cause by design
    (a regularised M-step that is not the exact maximiser; 0 for exact EM);
    ``rtol`` the relative float noise of the objective (:func:`objective_rtol`).
    """
    mode = get_config()["monotonic"]
    if mode == "ignore" or not np.isfinite(previous) or not np.isfinite(allowance):
        return
    if current < previous - allowance - rtol * max(1.0, abs(previous)):
        message = (
            f"EM objective decreased at iteration {iteration}: "
            f"{previous!r} -> {current!r} (change {current - previous:.3e})"
        )
        if mode == "raise":
            raise MonotonicityError(message)
        warnings.warn(message, MonotonicityWarning, stacklevel=external_stacklevel())


def _default_converged(old_params, new_params, change: float, tol: float) -> bool:
    return abs(change) < tol


def run_em(
    model,
    params,
    source,
    *,
    tol: float,
    max_iter: int,
    assignment="soft",
    verbose: int = 0,
    monitor=None,
    resume=None,
) -> EMResult:
    """Iterate E- and M-steps from ``params`` until convergence or ``max_iter``.

    Parameters
    ----------
    model : object
        Supplies ``log_joint``, ``statistics``, ``maximize`` (see module docstring).
    params : object
        Initial parameters.
    source : object
        Has ``chunks()`` yielding ``(X, sample_weight)`` pairs.
    tol : float
        Convergence threshold passed to ``model.converged`` (default rule: the
        absolute change of the mean objective is below ``tol``).
    max_iter : int
        Maximum number of E/M iterations (0 returns ``params`` unchanged).
    assignment : {"soft", "hard"}, Tempered, Stochastic or a schedule
        Soft responsibilities (EM), hard assignments (classification EM), an
        assignment object of this module (tempered E-step; stochastic
        S-step, whose objective is neither checked nor used to stop, the run
        then also reports its best iterate), or a schedule of several phases
        (:mod:`emkit.em.variants`: deterministic annealing, SEM, MCEM or
        sparse EM, then EM), which runs each phase with this function.  An
        assignment object may also supply ``chunk_step(model, params,
        unweighted)`` (its own chunk E-step, :mod:`emkit.em.sparse`),
        ``finish(model, params, reduced)`` (turns the reduced chunk results
        into ``(objective sum, weight sum, statistics)``) and
        ``may_stop(iteration)`` (iterations at which the convergence rule may
        end the run); an assignment function returning a third per-row array
        has its ``weights**2``-weighted sum passed to ``finish``
        (:mod:`emkit.em.montecarlo`).
    verbose : int
        Print the objective every iteration when > 0 (and no ``monitor``).
    monitor : object, optional
        Called after every iteration as ``monitor.iteration(state)`` with a
        :class:`~emkit.em.checkpoint.RunState` (parameters after the M-step,
        history); a True return stops the run (``EMResult.stopped``).
        ``monitor.end(result, state)`` is called once at the end
        (:class:`emkit.em.progress.Monitor`).
    resume : RunState, optional
        Continue a run from this state (its ``params`` must be ``params``):
        the history (the last ``resume.iteration`` entries of
        ``resume.history``), and with it the convergence test of the next
        iteration, go on as if the run had never stopped; ``max_iter`` counts
        all iterations.  A state whose run had converged is returned as it is.
        With ``iteration=0`` and a one-entry history (a warm start) only the
        convergence test continues (from that objective, as scikit-learn's
        warm start does from ``lower_bound_``).
    """
    from .checkpoint import RunState

    if hasattr(assignment, "run_phases"):  # a schedule of phases, each run by run_em
        if resume is not None:
            raise ValueError("a run of several phases (annealing, stochastic EM) cannot "
                             "be resumed from a checkpoint")
        return assignment.run_phases(model, params, source, tol=tol, max_iter=max_iter,
                                     verbose=verbose, monitor=monitor)
    monotone = getattr(assignment, "monotone", True)
    stops = getattr(assignment, "converges", True)
    # an assignment may allow stopping at some iterations only (sparse EM: full E-steps)
    may_stop = getattr(assignment, "may_stop", None) or (lambda iteration: True)
    best_params, best_objective = None, -np.inf
    converged_rule = getattr(model, "converged", _default_converged)
    step_deficit = getattr(model, "step_deficit", None)
    whole_run = getattr(model, "whole_run", None)
    if whole_run is not None and resume is None and monitor is None and not verbose \
            and isinstance(assignment, str) and assignment == "soft":
        # a model's compiled loop (small data): the finished run, or a RunState
        # where it met something unusual (the loop below redoes that iteration and
        # reports it), or None: it does not apply, run from the start
        fast = whole_run(params, source, tol=tol, max_iter=max_iter)
        if isinstance(fast, EMResult):
            return fast
        if fast is not None:
            resume, params = fast, fast.params
    history: list[float] = []
    previous = -np.inf
    allowance = 0.0
    if resume is not None:
        # the run's own history is its last ``iteration`` entries; an earlier entry
        # (a warm start's lower_bound_) only feeds the next convergence test
        done = int(resume.iteration)
        history = [float(v) for v in resume.history[len(resume.history) - done:]] if done \
            else []
        previous = float(resume.history[-1]) if len(resume.history) else -np.inf
        allowance = resume.allowance
    converged = stopped = False
    n_iter = len(history)
    if resume is not None and resume.converged:
        return EMResult(params, np.asarray(history, dtype=float), True, n_iter)
    for n_iter in range(len(history) + 1, max_iter + 1):
        stats, objective = expectation(model, params, source, assignment, n_iter)
        check_finite_objective(objective)
        history.append(objective)
        if monotone:
            check_monotone(previous, objective, n_iter, allowance, objective_rtol(model))
        elif objective > best_objective:
            best_params, best_objective = params, objective
        new_params = m_step(model, stats, params, source, assignment, n_iter)
        if step_deficit is not None:
            allowance = step_deficit(stats, new_params, params)
        if verbose and monitor is None:
            print(f"  iteration {n_iter:4d}  objective {objective: .10g}")
        converged = stops and may_stop(n_iter) and bool(
            converged_rule(params, new_params, objective - previous, tol))
        params = new_params
        previous = objective
        if monitor is not None and monitor.iteration(
            RunState(n_iter, params, history, allowance, converged=converged)
        ) and not converged:
            stopped = True
            break
        if converged:
            break
    result = EMResult(params, np.asarray(history, dtype=float), converged, n_iter,
                      stopped=stopped, best_params=best_params, best_objective=best_objective)
    if monitor is not None:
        monitor.end(result, RunState(n_iter, params, history, allowance, converged=converged))
    return result
