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

and may supply ``converged(old_params, new_params, change, tol) -> bool`` (the
default stops when the mean objective changes by less than ``tol``) and
``step_deficit(stats, new_params) -> float``: how much a deliberately inexact
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
from typing import Any

import numpy as np

from .._config import get_config
from ..exceptions import MonotonicityError, MonotonicityWarning

#: Relative size of a decrease of the mean objective that counts as float noise.
MONOTONE_RTOL = 1e-10


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
    """

    params: Any
    objective_history: np.ndarray
    converged: bool
    n_iter: int

    @property
    def objective(self) -> float:
        return float(self.objective_history[-1]) if self.objective_history.size else -np.inf


def expectation(model, params, source, assignment: str = "soft"):
    """One E-step over all chunks: summed statistics and mean objective."""
    assign = ASSIGNMENTS[assignment]
    stats = None
    total = 0.0
    weight = 0.0
    unweighted = getattr(source, "unweighted", False)
    for X, w in source.chunks():
        row_objective, resp = assign(model.log_joint(params, X), overwrite=True)
        if not unweighted:
            resp *= w[:, None]
        chunk_stats = model.statistics(params, X, resp)
        stats = chunk_stats if stats is None else stats + chunk_stats
        total += float(w @ row_objective)
        weight += float(w.sum())
    return stats, total / weight


def check_monotone(
    previous: float, current: float, iteration: int, allowance: float = 0.0
) -> None:
    """Report a decrease of the objective beyond float noise (config ``monotonic``).

    ``allowance`` is the decrease the model's last M-step can cause by design
    (a regularised M-step that is not the exact maximiser; 0 for exact EM).
    """
    mode = get_config()["monotonic"]
    if mode == "ignore" or not np.isfinite(previous) or not np.isfinite(allowance):
        return
    if current < previous - allowance - MONOTONE_RTOL * max(1.0, abs(previous)):
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
        history.append(objective)
        check_monotone(previous, objective, n_iter, allowance)
        new_params = model.maximize(stats, params)
        if step_deficit is not None:
            allowance = step_deficit(stats, new_params)
        if verbose:
            print(f"  iteration {n_iter:4d}  objective {objective: .10g}")
        done = converged_rule(params, new_params, objective - previous, tol)
        params = new_params
        previous = objective
        if done:
            converged = True
            break
    return EMResult(params, np.asarray(history, dtype=float), converged, n_iter)
