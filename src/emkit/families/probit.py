"""Probit regression as a latent-variable model, for the EM engine.

``u_i = x_i' beta + e_i`` with ``e_i ~ N(0, 1)`` and ``y_i = 1[u_i > 0]``: the
utility ``u`` is the missing datum.  The E-step replaces ``u_i`` by its
truncated-normal mean given ``y_i``,
``E[u | y = 1] = mu + phi(mu) / Phi(mu)`` and
``E[u | y = 0] = mu - phi(mu) / Phi(-mu)`` (``mu = x' beta``), and the M-step
is least squares of those means on x.  The objective is the probit
log-likelihood ``sum_i w_i log Phi((2 y_i - 1) mu_i)``.  It is a one-component
model (``log_joint`` has one column), so the engine's monotonicity check,
restarts and SQUAREM apply unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import log_ndtr

from ..em.statistics import SufficientStatistics

LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclasses.dataclass(frozen=True)
class ProbitStatistics(SufficientStatistics):
    """X'WX and X'W E[u | y] (design including the intercept column)."""

    design_design: np.ndarray
    design_utility: np.ndarray


def signed_mills(margin: np.ndarray) -> np.ndarray:
    """``phi(m) / Phi(m)``, computed in log space (no underflow for very negative m)."""
    return np.exp(-0.5 * margin * margin - LOG_SQRT_2PI - log_ndtr(margin))


class ProbitModel:
    """The EM engine's view of probit regression.

    Rows are ``Z = [A | y]`` with A the design (a leading 1 for the
    intercept) and y in {0, 1}; parameters are the coefficient vector (p,).
    """

    def __init__(self, n_coefficients: int):
        self.n_coefficients = int(n_coefficients)

    def _split(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return Z[:, :self.n_coefficients], 2.0 * Z[:, self.n_coefficients] - 1.0

    def log_joint(self, beta: np.ndarray, Z: np.ndarray) -> np.ndarray:
        A, sign = self._split(Z)
        return log_ndtr(sign * (A @ beta))[:, None]

    def statistics(self, beta: np.ndarray, Z: np.ndarray, resp: np.ndarray
                   ) -> ProbitStatistics:
        A, sign = self._split(Z)
        mu = A @ beta
        utility = mu + sign * signed_mills(sign * mu)
        weights = resp[:, 0]
        weighted = A * weights[:, None]
        return ProbitStatistics(weighted.T @ A, weighted.T @ utility)

    def maximize(self, stats: ProbitStatistics, beta: np.ndarray | None = None) -> np.ndarray:
        try:
            return np.linalg.solve(stats.design_design, stats.design_utility)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(stats.design_design, stats.design_utility, rcond=None)[0]

    def to_vector(self, beta: np.ndarray) -> np.ndarray:
        return np.asarray(beta, dtype=float).copy()

    def from_vector(self, vector: np.ndarray, like: np.ndarray) -> np.ndarray | None:
        vector = np.asarray(vector, dtype=float)
        return vector.copy() if np.isfinite(vector).all() else None
