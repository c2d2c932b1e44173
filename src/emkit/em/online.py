"""Online EM schedules: stepwise EM (Cappé & Moulines 2009) and incremental EM
(Neal & Hinton 1998), on the engine's additive statistics.

Both process the data in *blocks* (mini-batches) and take an M-step after each
block; they need nothing of a model beyond the engine interface
(:mod:`emkit.em.engine`), plus, for incremental EM's free energy,
``expected_log_joint(params, stats)``.

Stepwise EM
    Running statistics per unit of row weight,
    ``s <- (1 - eta_t) s + eta_t s_batch / w_batch`` with
    ``eta_t = (t + 2) ** -decay`` (``decay``, Liang & Klein's alpha, in
    (0.5, 1]; ``t`` counts the updates from 0, so ``decay = 1`` makes ``s``
    the plain average of the batches' statistics), then the M-step from
    ``s`` times the weight it stands for (the rows seen so far, or the whole
    data in :func:`run_stepwise`; the scale matters only to priors).  A
    stochastic approximation: it converges to a stationary point of the
    log-likelihood for ``decay`` in (0.5, 1] (Cappé & Moulines 2009), but no
    objective increases monotonically, so none is checked.
Incremental EM
    Keeps every block's statistics ``s_b``; for each block in turn it
    recomputes ``s_b`` at the current parameters, replaces it in the total
    ``S`` and re-maximises.  Each partial E-step and each M-step increases the
    free energy ``F(q, theta) = sum_b [ E_{q_b} log p(x_b, z_b | theta) + H(q_b) ]``
    (Neal & Hinton 1998), a lower bound of the log-likelihood that equals it
    when every ``q_b`` is the posterior at ``theta``; its fixed points are
    those of batch EM.  The run tracks ``F`` exactly: ``E_q log p`` is the
    model's ``expected_log_joint(params, stats)`` (linear in the statistics),
    and the entropy of block b is ``log p(x_b | theta_b) -
    expected_log_joint(theta_b, s_b)`` at the parameters ``theta_b`` of its
    last E-step.  The monotonicity check (config ``monotonic``) asserts that
    ``F`` never decreases, after every partial E-step and every M-step.

References
----------
R. M. Neal and G. E. Hinton (1998), A view of the EM algorithm that justifies
incremental, sparse, and other variants, in Learning in Graphical Models.
O. Cappé and E. Moulines (2009), On-line expectation-maximization algorithm
for latent data models, JRSS B 71(3), 593-613.
P. Liang and D. Klein (2009), Online EM for unsupervised models, NAACL.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..sources import ArraySource
from .checkpoint import RunState, restore
from .engine import (
    EMResult,
    check_finite_objective,
    check_monotone,
    expectation,
    objective_rtol,
)

#: Accepted values of the estimators' ``schedule`` parameter.
SCHEDULES = ("batch", "incremental", "stepwise")
#: Rows per block of the online schedules when ``batch_size`` is None.
DEFAULT_BATCH_SIZE = 10_000
#: Smallest number of rows per E-step chunk inside a block.
_MIN_BLOCK_CHUNK = 4096


def check_learning_decay(value: Any, name: str = "learning_decay") -> float:
    """Stepwise EM's step-size exponent: a number in (0.5, 1]."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(
        value, bool) and math.isfinite(value) and 0.5 < value <= 1.0
    if not ok:
        raise ValueError(f"{name} must be a number in (0.5, 1], got {value!r}")
    return float(value)


def check_schedule(value: Any, name: str = "schedule") -> str:
    if not isinstance(value, str) or value not in SCHEDULES:
        raise ValueError(f"{name} must be one of {list(SCHEDULES)}, got {value!r}")
    return value


def step_size(t: int, decay: float) -> float:
    """``(t + 2) ** -decay``: the weight of the ``t``-th update (``t`` from 0)."""
    return float((t + 2.0) ** -decay)


class _WithoutPrior:
    """The model without ``log_prior``: block objectives are plain log-likelihood sums."""

    def __init__(self, model: Any):
        self._model = model

    def __getattr__(self, name: str) -> Any:
        if name == "log_prior":
            raise AttributeError(name)
        return getattr(self._model, name)


def _log_prior(model: Any, params: Any) -> float:
    log_prior = getattr(model, "log_prior", None)
    return 0.0 if log_prior is None else float(log_prior(params))


def block_expectation(model: Any, params: Any, block: ArraySource, assignment: str = "soft"
                      ) -> tuple[Any, float, float]:
    """One block's E-step: (summed statistics, summed objective, summed weight).

    No prior term (the free energy adds the prior once, not once per block).
    """
    stats, mean = expectation(_WithoutPrior(model), params, block, assignment)
    weight = block.total_weight()
    return stats, mean * weight, weight


def iter_blocks(source: Any, batch_size: int | None) -> Iterator[ArraySource]:
    """Blocks of a source, each an in-memory source of its own.

    An :class:`~emkit.sources.ArraySource` is cut into views of ``batch_size``
    rows (the same blocks on every pass; each block is split into chunks of at
    least 4096 rows for the E-step threads); any other source's chunks are its
    blocks.
    """
    X = getattr(source, "X", None)
    if isinstance(X, np.ndarray) and batch_size is not None:
        w = source.sample_weight
        labels = getattr(source, "labels", None)
        n = X.shape[0]
        for start in range(0, n, batch_size):
            rows = slice(start, min(n, start + batch_size))
            size = rows.stop - rows.start
            chunk = min(source.chunk_size, max(_MIN_BLOCK_CHUNK, -(-size // 4)))
            yield ArraySource(X[rows], w[rows], chunk,
                              None if labels is None else labels[rows])
        return
    labelled = getattr(source, "labels", None) is not None
    for chunk in (source.labelled_chunks() if labelled else source.chunks()):
        X, w = chunk[0], chunk[1]
        labels = chunk[2] if labelled else None
        yield ArraySource(X, w, max(1, X.shape[0]), labels)


def _n_blocks(source: Any, batch_size: int | None) -> int | None:
    X = getattr(source, "X", None)
    if isinstance(X, np.ndarray) and batch_size is not None:
        return -(-X.shape[0] // batch_size)
    return None


# ------------------------------------------------------------------ stepwise EM
@dataclasses.dataclass
class StepwiseState:
    """Running statistics of stepwise EM.

    Attributes
    ----------
    stats : SufficientStatistics
        Statistics per unit of row weight.
    n_steps : int
        Batches folded in so far (the first one initialises ``stats``).
    weight_seen : float
        Row weight of those batches.
    """

    stats: Any
    n_steps: int
    weight_seen: float


def check_closed_form(model: Any) -> None:
    """Online schedules take M-steps from running statistics alone: refuse models whose
    M-step needs passes over the data (GLM regressions, a softmax gate)."""
    if getattr(model, "data_maximize", None) is not None:
        what = type(getattr(model, "family", model)).__name__
        raise ValueError(
            f"the M-step of {what} needs passes over the data (IRLS), which an online "
            "schedule does not keep: fit it with schedule='batch' (no partial_fit)")


def stepwise_update(model: Any, params: Any, state: StepwiseState | None, block: ArraySource,
                    decay: float, scale: float | None = None, assignment: str = "soft"
                    ) -> tuple[Any, StepwiseState, float]:
    """Fold one batch into the running statistics and take the M-step.

    Returns the new parameters, the new state and the batch's mean
    log-likelihood at the parameters *before* the update (an honest,
    out-of-sample estimate: the batch had not been seen).  ``scale``: the
    weight the statistics stand for in the M-step (default: the weight seen).
    ``assignment="hard"`` gives mini-batch k-means.
    """
    check_closed_form(model)
    stats, total, weight = block_expectation(model, params, block, assignment)
    if not weight > 0:
        raise ValueError("the batch has zero total sample_weight")
    objective = total / weight
    check_finite_objective(objective)
    batch = stats * (1.0 / weight)
    if state is None:
        state = StepwiseState(batch, 1, weight)
    else:
        eta = step_size(state.n_steps - 1, decay)
        # the batch's statistics first: Gaussian statistics are re-centred onto the
        # left operand's centres, which are then the current means
        running = batch * eta + state.stats * (1.0 - eta)
        state = StepwiseState(running, state.n_steps + 1, state.weight_seen + weight)
    factor = state.weight_seen if scale is None else scale
    new_params = model.maximize(state.stats * factor, params)
    return new_params, state, objective


def run_stepwise(
    model: Any,
    params: Any,
    source: Any,
    *,
    tol: float,
    max_iter: int,
    decay: float,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    assignment: str = "soft",
    monitor: Any = None,
    resume: RunState | None = None,
) -> tuple[EMResult, StepwiseState | None]:
    """Stepwise EM over the blocks of a source, for up to ``max_iter`` passes (epochs).

    The rows of an array source are shuffled once (a copy of the data:
    stepwise EM on sorted data, one cluster per block, fails), then its blocks
    are visited in a new random order every pass (``seed`` and the pass
    number fix both); other sources' blocks are taken in order.
    The statistics stand for the whole data's weight in the M-step, so a
    prior weighs as in batch EM.  ``objective_history[p]`` is pass p's mean
    over its blocks of each block's log-likelihood per row at the parameters
    before that block's update (no prior); the run has converged when it
    changes by less than ``tol`` between passes.  Nothing is checked for
    monotonicity (a stochastic approximation need not increase anything).

    Returns the :class:`~emkit.em.engine.EMResult` (``n_iter``: passes) and
    the final :class:`StepwiseState`.
    """
    check_closed_form(model)
    history: list[float] = [] if resume is None else [float(v) for v in resume.history]
    state = None
    if resume is not None:
        like = block_expectation(model, params, next(iter_blocks(source, batch_size)),
                                 assignment)[0]
        state = restore(resume.extra["state"], StepwiseState(like, 0, 0.0))
        seed = int(restore(resume.extra.get("seed", seed)))
        if resume.converged:
            return EMResult(params, np.asarray(history), True, len(history)), state
    total_weight = source.total_weight()
    n_blocks = _n_blocks(source, batch_size)
    if n_blocks:
        # stepwise EM needs every block to look like the data: shuffle the rows once
        # (a copy; blocks are then views of it, the same on every pass)
        rows = np.random.default_rng([seed, 0]).permutation(source.X.shape[0])
        labels = getattr(source, "labels", None)
        source = ArraySource(source.X[rows], source.sample_weight[rows], source.chunk_size,
                             None if labels is None else labels[rows])
    converged = stopped = False
    epoch = len(history)
    for epoch in range(len(history) + 1, max_iter + 1):
        blocks = list(iter_blocks(source, batch_size)) if n_blocks else None
        order = (np.random.default_rng([seed, epoch]).permutation(n_blocks)
                 if n_blocks else None)
        stream = (blocks[i] for i in order) if n_blocks else iter_blocks(source, batch_size)
        total = weight = 0.0
        for block in stream:
            params, state, objective = stepwise_update(model, params, state, block, decay,
                                                       scale=total_weight,
                                                       assignment=assignment)
            w = block.total_weight()
            total += objective * w
            weight += w
        objective = total / weight
        change = objective - history[-1] if history else math.inf
        history.append(objective)
        converged = abs(change) < tol
        if monitor is not None and monitor.iteration(
            RunState(epoch, params, history, math.inf, {"state": state, "seed": seed},
                     converged)
        ) and not converged:
            stopped = True
            break
        if converged:
            break
    result = EMResult(params, np.asarray(history, dtype=float), converged, epoch,
                      stopped=stopped)
    if monitor is not None:
        monitor.end(result, RunState(epoch, params, history, math.inf,
                                     {"state": state, "seed": seed}, converged))
    return result, state


# ------------------------------------------------------------------ incremental EM
def _expected_log_joint(model: Any):
    q = getattr(model, "expected_log_joint", None)
    if q is None:
        raise TypeError(
            f"incremental EM needs {type(model).__name__}.expected_log_joint(params, stats) "
            "(the expected complete-data log-likelihood from statistics) to track its free "
            "energy; this model does not provide it"
        )
    return q


def run_incremental(
    model: Any,
    params: Any,
    source: Any,
    *,
    tol: float,
    max_iter: int,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    monitor: Any = None,
    resume: RunState | None = None,
) -> EMResult:
    """Incremental EM (Neal & Hinton 1998) over the blocks of a source.

    Iteration 1 is one E-step over all blocks (keeping each block's
    statistics) and an M-step; every further iteration is one pass over the
    blocks, each replacing its statistics and re-maximising.  An iteration
    costs one pass over the data, like a batch EM iteration, plus one M-step
    per block.

    ``objective_history[i]`` is the free energy per unit of row weight (plus
    the log prior, with a prior: a lower bound of the log posterior) of the
    state entering iteration ``i + 1`` (``objective_history[0]`` is the
    log-likelihood of ``params``); the run has converged when an iteration
    changes it by less than ``tol``.  The monotonicity check asserts the free
    energy after every partial E-step and every M-step (with the M-step's
    ``step_deficit`` allowance).

    Parameters
    ----------
    model : object
        Engine model with ``expected_log_joint(params, stats)``.
    params, source, tol, max_iter, monitor, resume
        As :func:`~emkit.em.engine.run_em` (``resume`` must come from a run of
        this function: its extra state holds the blocks' statistics).
    batch_size : int or None
        Rows per block for an array source (None: the source's chunks).

    Returns
    -------
    EMResult
        ``n_iter`` counts iterations (passes); ``n_e_steps`` passes over the
        data.
    """
    check_closed_form(model)
    expected = _expected_log_joint(model)
    rtol = objective_rtol(model)
    step_deficit = getattr(model, "step_deficit", None)

    def deficit(stats, new, old) -> float:
        return 0.0 if step_deficit is None else float(step_deficit(stats, new, old))

    history: list[float] = [] if resume is None else [float(v) for v in resume.history]
    converged = stopped = False
    iteration = len(history)
    if resume is None:
        if max_iter <= 0:
            return EMResult(params, np.asarray(history), False, 0)
        # iteration 1: every block's statistics at the starting parameters
        blocks, constants = [], []
        loglik = weight = 0.0
        for block in iter_blocks(source, batch_size):
            stats, total, w = block_expectation(model, params, block)
            blocks.append(stats)
            constants.append(total - expected(params, stats))
            loglik += total
            weight += w
        S = _total(blocks)
        start = (loglik + _log_prior(model, params)) / weight
        check_finite_objective(start)
        history.append(start)
        new = model.maximize(S, params)
        allowance = deficit(S, new, params)
        params = new
        energy = (math.fsum(constants) + expected(params, S) + _log_prior(model, params)) / weight
        check_monotone(start, energy, 1, allowance, rtol)
        iteration = 1
        converged = abs(energy - start) < tol
        extra = {"blocks": blocks, "constants": np.asarray(constants), "energy": energy,
                 "weight": weight}
        if monitor is not None and monitor.iteration(
            RunState(1, params, history, 0.0, extra, converged)) and not converged:
            stopped = True
    else:
        template = next(iter_blocks(source, batch_size))
        like = block_expectation(model, params, template)[0]
        blocks = restore(resume.extra["blocks"], [like])
        constants = list(np.asarray(restore(resume.extra["constants"]), dtype=float))
        energy = float(restore(resume.extra["energy"]))
        weight = float(restore(resume.extra["weight"]))
        converged = resume.converged
    while not (converged or stopped) and iteration < max_iter:
        iteration += 1
        start = energy
        history.append(start)
        S = _total(blocks)  # exact sum once per pass (no drift from replacements)
        for b, block in enumerate(iter_blocks(source, batch_size)):
            old = blocks[b]
            stats, total, _ = block_expectation(model, params, block)
            # partial E-step: block b's q becomes the posterior; F rises by a KL divergence
            gained = energy + (total - constants[b] - expected(params, old)) / weight
            check_monotone(energy, gained, iteration, 0.0, rtol)
            constants[b] = total - expected(params, stats)
            blocks[b] = stats
            S = S + stats + old * -1.0
            new = model.maximize(S, params)
            allowance = deficit(S, new, params)
            params = new
            energy = (math.fsum(constants) + expected(params, S)
                      + _log_prior(model, params)) / weight
            check_monotone(gained, energy, iteration, allowance, rtol)
        converged = abs(energy - start) < tol
        extra = {"blocks": blocks, "constants": np.asarray(constants), "energy": energy,
                 "weight": weight}
        if monitor is not None and monitor.iteration(
            RunState(iteration, params, history, 0.0, extra, converged)
        ) and not converged:
            stopped = True
    result = EMResult(params, np.asarray(history, dtype=float), converged, iteration,
                      stopped=stopped)
    if monitor is not None:
        monitor.end(result, RunState(iteration, params, history, 0.0, {
            "blocks": blocks, "constants": np.asarray(constants), "energy": energy,
            "weight": weight}, converged))
    return result


def _total(blocks: list) -> Any:
    """Sum of the blocks' statistics, starting from the last (its centres are the latest)."""
    total = blocks[-1]
    for stats in reversed(blocks[:-1]):
        total = total + stats
    return total
