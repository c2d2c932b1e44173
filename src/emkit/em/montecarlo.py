"""Monte Carlo EM's E-step: ``S`` posterior draws per row (Wei & Tanner 1990).

:class:`MonteCarlo` is an assignment of the engine (:func:`~emkit.em.engine.run_em`)
like :class:`~emkit.em.assignments.Stochastic`; :class:`~emkit.em.variants.MonteCarloSchedule`
runs it and then plain EM.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .engine import row_uniforms, soft_assignment


def draw_counts(resp: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Counts (n, K) of ``S`` draws per row from the rows of ``resp``, given uniforms (n, S).

    Draw s of row i is the component whose cumulative-probability interval
    holds ``uniforms[i, s]`` (inverse CDF); all rows at once by one search in
    the row-offset sorted uniforms.
    """
    n, K = resp.shape
    S = uniforms.shape[1]
    cumulative = np.cumsum(resp, axis=1)
    cumulative /= cumulative[:, -1:]
    cumulative[:, -1] = 1.0  # every uniform (< 1) falls in some interval
    offsets = np.arange(n, dtype=np.float64)[:, None]
    # uniforms of row i shifted to [2i, 2i + 1): rows stay apart after sorting
    u = np.sort(uniforms, axis=1) + 2.0 * offsets
    below = np.searchsorted(u.ravel(), (cumulative + 2.0 * offsets).ravel(), side="left")
    below = below.reshape(n, K) - S * np.arange(n)[:, None]
    return np.diff(below, axis=1, prepend=0).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class MonteCarlo:
    """Monte Carlo E-step (MCEM; Wei & Tanner 1990): ``S`` posterior draws per row.

    Responsibilities are the draws' frequencies ``r_ik = #{s: z_is = k} / S``,
    so the statistics are those of the Monte Carlo estimate
    ``Q_hat(theta) = sum_i w_i (1 / S) sum_s log p(x_i, z_is | theta)`` of the
    EM objective ``Q``.  The per-row objective is the (exact) log-likelihood of
    the parameters entering the iteration, not monotone along MCEM: the engine
    neither checks nor stops on it.  A third per-row result is the posterior
    variance of ``log p(x_i, z | theta)``: summed with the squared row
    weights and divided by ``S`` it is the Monte Carlo variance of ``Q_hat``
    at those parameters (:class:`~emkit.em.variants.MonteCarloSchedule`
    reports its standard error).  ``seed``, the iteration and the row fix the
    draws (:func:`row_uniforms`, ``S`` consecutive uniforms per row).
    """

    seed: int
    draws: int = 10
    growth: float = 1.0
    max_draws: int = 10
    iteration: int = 1
    #: Filled by :meth:`finish`: (iteration, draws, standard error per unit weight).
    record: list = dataclasses.field(default_factory=list, compare=False)

    monotone = False
    converges = False

    @property
    def n_draws(self) -> int:
        """``S_t = min(ceil(draws * growth ** (t - 1)), max_draws)`` at iteration t."""
        value = self.draws * self.growth ** max(int(self.iteration) - 1, 0)
        return int(min(math.ceil(value - 1e-9), self.max_draws))

    def at(self, iteration: int) -> MonteCarlo:
        return dataclasses.replace(self, iteration=iteration)

    def __call__(self, log_joint: np.ndarray, overwrite: bool = False, start: int = 0):
        S = int(self.n_draws)
        log_norm, resp = soft_assignment(log_joint, overwrite=False)
        with np.errstate(invalid="ignore"):
            centred = np.where(resp > 0, log_joint - (log_norm[:, None]), 0.0)
            mean = (resp * centred).sum(axis=1)
            variance = np.maximum((resp * centred * centred).sum(axis=1) - mean * mean, 0.0)
        n = resp.shape[0]
        u = row_uniforms(self.seed, self.iteration, start * S, n * S).reshape(n, S)
        counts = draw_counts(resp, u)
        counts /= S
        return log_norm, counts, variance

    def finish(self, model, params, result):
        total, weight, stats, variance = result
        error = float(np.sqrt(variance / self.n_draws)) / weight
        self.record.append((self.iteration, int(self.n_draws), error))
        return total, weight, stats
