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
``converged(old_params, new_params, change, tol) -> bool`` (the
default stops when the mean objective changes by less than ``tol``) and
``step_deficit(stats, new_params, params) -> float``: how much a deliberately inexact
(regularised) M-step may lower the mean objective; the monotonicity check then
asserts the generalised-EM inequality ``objective(new) >= objective(old) - deficit``.

Per iteration the engine streams the chunks of a source, turns each chunk's
log joint into responsibilities (soft: logsumexp-normalised; hard: argmax),
adds the chunk's statistics and objective, then calls the M-step.  Memory beyond
the data is one chunk's (rows x K) arrays.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from .._config import effective_threads, get_config
from ..exceptions import MonotonicityError, MonotonicityWarning

#: Relative size of a decrease of the mean objective that counts as float noise.
MONOTONE_RTOL = 1e-10


def objective_rtol(model) -> float:
    """Relative float noise of ``model``'s objective: its ``objective_rtol`` or MONOTONE_RTOL.

    A model whose E-step runs in single precision (``GaussianMixture(dtype=
    np.float32)``) declares a larger one, so that rounding is not reported as
    a decrease.
    """
    return float(getattr(model, "objective_rtol", None) or MONOTONE_RTOL)


def soft_assignment(
    log_joint: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihoods ``logsumexp(log_joint)`` and responsibilities.

    The logsumexp trick fused with the normalisation: one ``exp`` pass,
    shifted by the row maximum, gives both results; no ``log(sum(exp))`` of
    unshifted values is ever formed.  A row whose entries are all ``-inf``
    (impossible for components with full support) gets log-likelihood ``-inf``.
    With ``overwrite`` the input array is reused for the responsibilities.
    """
    row_max = log_joint.max(axis=1)
    row_max[~np.isfinite(row_max)] = 0.0
    resp = log_joint if overwrite else log_joint.copy()
    resp -= row_max[:, None]
    np.exp(resp, out=resp)
    row_sum = resp.sum(axis=1)
    with np.errstate(invalid="ignore"):  # rows impossible under every component: NaN
        resp /= row_sum[:, None]
    with np.errstate(divide="ignore"):
        log_norm = np.log(row_sum)
    log_norm += row_max
    return log_norm, resp


def hard_assignment(
    log_joint: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot responsibilities of the best component and its per-row log joint."""
    labels = np.argmax(log_joint, axis=1)
    rows = np.arange(log_joint.shape[0])
    resp = np.zeros_like(log_joint)
    resp[rows, labels] = 1.0
    return log_joint[rows, labels], resp


ASSIGNMENTS = {"soft": soft_assignment, "hard": hard_assignment}


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
    """

    params: Any
    objective_history: np.ndarray
    converged: bool
    n_iter: int
    n_em_evaluations: int | None = None
    n_e_steps: int | None = None
    n_fallbacks: int = 0

    def __post_init__(self) -> None:
        if self.n_em_evaluations is None:
            self.n_em_evaluations = self.n_iter
        if self.n_e_steps is None:
            self.n_e_steps = self.n_iter

    @property
    def objective(self) -> float:
        return float(self.objective_history[-1]) if self.objective_history.size else -np.inf


def _chunk_step(model, params, assignment: str, unweighted: bool):
    """The E-step of one chunk: (weighted objective sum, weight sum, statistics)."""
    assign = ASSIGNMENTS[assignment]
    fast = getattr(model, "hard_e_step" if assignment == "hard" else "soft_e_step", None)

    def step(chunk):
        X, w, labels = chunk if len(chunk) == 3 else (*chunk, None)
        fused = fast(params, X, w) if fast is not None and labels is None else None
        if fused is not None:
            row_objective, stats = fused
        else:
            log_joint = model.log_joint(params, X)
            known = None if labels is None else np.flatnonzero(labels >= 0)
            if known is not None and known.size:
                # labelled rows: their component is observed, so their objective is
                # the joint log pi_y + log p(x | y) and their responsibility one-hot
                joint = log_joint[known, labels[known]]
            row_objective, resp = assign(log_joint, overwrite=True)
            if known is not None and known.size:
                row_objective[known] = joint
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
                resp *= w[:, None]
            stats = model.statistics(params, X, resp)
        if np.ndim(row_objective) == 0:  # a fused step's weighted sum
            return float(row_objective), float(w.sum()), stats
        return float(w @ row_objective), float(w.sum()), stats

    return step


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A long-lived pool per thread count (creating one per E-step costs more than it saves)."""
    if n_threads not in _POOLS:
        _POOLS[n_threads] = ThreadPoolExecutor(max_workers=n_threads,
                                               thread_name_prefix="emkit-estep")
    return _POOLS[n_threads]


def _ordered_map(function, items, n_threads: int):
    """``map(function, items)`` on a thread pool, in order, at most 2 x n_threads ahead.

    A single chunk (small data) runs inline, without the pool.
    """
    items = iter(items)
    first = next(items, None)
    second = next(items, None) if first is not None else None
    if first is None:
        return
    if n_threads <= 1 or second is None:
        yield function(first)
        if second is not None:
            yield function(second)
            yield from map(function, items)
        return
    pool = _pool(n_threads)
    pending: deque = deque([pool.submit(function, first), pool.submit(function, second)])
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= 2 * n_threads:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_CONTROLLER: list[ThreadpoolController] = []


def _blas_controller() -> ThreadpoolController:
    """One cached threadpoolctl controller.

    ``threadpool_limits(...)`` rescans the process's loaded libraries on every
    call (a few ms, more than a whole E-step on small data); the controller scans
    once, on the first E-step, when numpy's and scipy's BLAS are loaded.
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def expectation(model, params, source, assignment: str = "soft"):
    """One E-step over all chunks: summed statistics and mean objective.

    A source with ``labels`` (partially labelled data: a component index per
    row, -1 when unknown) fixes the responsibilities of labelled rows to their
    component, and their objective is the joint log-density.

    Chunks are processed by ``emkit.get_config()["n_threads"]`` threads with
    single-threaded BLAS inside each (many small BLAS calls parallelise badly);
    their statistics are added in chunk order, so the result does not depend on
    the number of threads.
    """
    step = _chunk_step(model, params, assignment, getattr(source, "unweighted", False))
    stats = None
    total = 0.0
    weight = 0.0
    with _blas_controller().limit(limits=1, user_api="blas"):
        chunks = source.labelled_chunks() if getattr(source, "labels", None) is not None \
            else source.chunks()
        for chunk_total, chunk_weight, chunk_stats in _ordered_map(
            step, chunks, effective_threads()
        ):
            stats = chunk_stats if stats is None else stats + chunk_stats
            total += chunk_total
            weight += chunk_weight
    log_prior = getattr(model, "log_prior", None)
    if log_prior is not None:  # MAP-EM: the objective is the log posterior
        total += log_prior(params)
    return stats, total / weight


class DataPass:
    """Sums of a function over the chunks of a source, for M-steps that need the data.

    ``DataPass(source)(function)`` is ``sum(function(X, w) for X, w in chunks)``
    with the chunks processed like the E-step's (threads, single-threaded BLAS,
    results added in chunk order so they do not depend on the threads).
    ``n_passes`` counts the passes (a cost figure for the M-step).
    """

    def __init__(self, source):
        self.source = source
        self.n_passes = 0

    def __call__(self, function):
        self.n_passes += 1
        total = None
        with _blas_controller().limit(limits=1, user_api="blas"):
            for part in _ordered_map(lambda chunk: function(chunk[0], chunk[1]),
                                     self.source.chunks(), effective_threads()):
                total = part if total is None else total + part
        return total


def m_step(model, stats, params, source):
    """The model's M-step: ``maximize``, or ``data_maximize`` when the model needs the data."""
    data_maximize = getattr(model, "data_maximize", None)
    if data_maximize is None:
        return model.maximize(stats, params)
    return data_maximize(stats, params, DataPass(source))


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
        warnings.warn(message, MonotonicityWarning, stacklevel=3)


def _default_converged(old_params, new_params, change: float, tol: float) -> bool:
    return abs(change) < tol


def run_em(
    model,
    params,
    source,
    *,
    tol: float,
    max_iter: int,
    assignment: str = "soft",
    verbose: int = 0,
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
    assignment : {"soft", "hard"}
        Soft responsibilities (EM) or hard assignments (classification EM).
    verbose : int
        Print the objective every iteration when > 0.
    """
    converged_rule = getattr(model, "converged", _default_converged)
    step_deficit = getattr(model, "step_deficit", None)
    history: list[float] = []
    previous = -np.inf
    allowance = 0.0
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats, objective = expectation(model, params, source, assignment)
        check_finite_objective(objective)
        history.append(objective)
        check_monotone(previous, objective, n_iter, allowance, objective_rtol(model))
        new_params = m_step(model, stats, params, source)
        if step_deficit is not None:
            allowance = step_deficit(stats, new_params, params)
        if verbose:
            print(f"  iteration {n_iter:4d}  objective {objective: .10g}")
        done = converged_rule(params, new_params, objective - previous, tol)
        params = new_params
        previous = objective
        if done:
            converged = True
            break
    return EMResult(params, np.asarray(history, dtype=float), converged, n_iter)
