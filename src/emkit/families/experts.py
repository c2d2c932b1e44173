"""Mixture of experts: a softmax gate ``pi_k(x)`` as the latent prior of a conditional family.

``p(y | x) = sum_k pi_k(x) p(y | x, z = k)`` with ``pi(x) = softmax(V g(x))``,
``g(x)`` the gate's design (a leading 1 with an intercept) and the last row of
``V`` fixed at 0 (the baseline class, as a multinomial logit).  The gate's
M-step maximises ``Q_gate(V) = sum_i w_i sum_k r_ik log pi_k(x_i)``, a concave
function, by Newton's method with step halving (the same checked IRLS loop as
the GLM components, :func:`emkit.families.glm.newton_refine`, with the whole
gate as one block), each candidate scored on the data through the engine's
``data_maximize`` hook; so each M-step increases Q and EM stays monotone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

from ..em.statistics import SufficientStatistics
from .base import ComponentFamily
from .glm import NewtonStatistics, newton_refine, ridge_matrix
from .regression import Design


@dataclasses.dataclass(frozen=True)
class GatedParams:
    """Gate coefficients (K, q) (last row 0) and the family's component parameters."""

    gate: np.ndarray
    components: Any


@dataclasses.dataclass(frozen=True)
class GatedStatistics(SufficientStatistics):
    """The gate's Newton statistics (one block) and the family's statistics."""

    gate: NewtonStatistics
    components: Any


class GatedMixtureModel:
    """A mixture whose weights are a softmax gate of the inputs, as the EM engine sees it.

    Parameters
    ----------
    family : ComponentFamily
        The experts (a conditional family reading its own columns of Z).
    gate_design : Design
        The gate's input columns of Z (its ``targets`` are not used).
    gate_ridge : float, default=0.0
        Gaussian prior (ridge penalty) on the non-intercept gate coefficients.
    gate_iterations : int or None, default=None
        Newton steps of the gate's M-step (and of GLM experts') in EM
        iterations: None to convergence (exact); k at most k Q-increasing
        steps from the current coefficients (generalized EM,
        :mod:`emkit.em.generalized`).  The starting M-step (from the initial
        responsibilities) is always exact.
    """

    def __init__(self, family: ComponentFamily, gate_design: Design, gate_ridge: float = 0.0,
                 gate_iterations: int | None = None):
        self.family = family
        self.gate_design = gate_design
        self.gate_ridge = float(gate_ridge)
        self.gate_iterations = gate_iterations
        self.objective_rtol: float | None = None

    # --- the gate ---------------------------------------------------------------
    def log_gate(self, gate: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """log pi_k(x) per row, shape (n, K)."""
        return log_softmax(self.gate_design.matrix(Z) @ gate.T, axis=1)

    def gate_statistics(self, gate: np.ndarray, Z: np.ndarray, resp: np.ndarray
                        ) -> NewtonStatistics:
        """Q_gate, its gradient and information over the free rows (all but the last)."""
        G = self.gate_design.matrix(Z)
        log_pi = log_softmax(G @ gate.T, axis=1)
        pi = np.exp(log_pi)
        K, q = gate.shape
        totals = resp.sum(axis=1)
        objective = float((resp * log_pi).sum())
        free = K - 1
        gradient = ((resp - totals[:, None] * pi)[:, :free].T @ G).ravel()
        # information = sum_i s_i (diag(pi_i) - pi_i pi_i') (x) g_i g_i' over the free rows:
        # a block diagonal of weighted Gram matrices minus one Gram matrix of pi_i (x) g_i
        weighted = pi[:, :free] * totals[:, None]
        outer = (pi[:, :free, None] * G[:, None, :]).reshape(G.shape[0], free * q)
        information = -(outer * totals[:, None]).T @ outer
        information = information.reshape(free, q, free, q)
        for a in range(free):
            information[a, :, a, :] += (G * weighted[:, a:a + 1]).T @ G
        size = free * q
        return NewtonStatistics(np.array([totals.sum()]), np.array([objective]),
                                gradient[None, :], information.reshape(1, size, size))

    def _gate_penalty(self, K: int, q: int) -> np.ndarray:
        single = ridge_matrix(q, self.gate_ridge, self.gate_design.fit_intercept)
        return np.kron(np.eye(K - 1), single)

    def _refine_gate(self, gate: np.ndarray, stats: NewtonStatistics, weighted_pass,
                     max_iter: int | None = None) -> np.ndarray:
        K, q = gate.shape
        if K == 1:
            return gate

        def evaluate(flat: np.ndarray) -> NewtonStatistics:
            candidate = _full_gate(flat[0], K, q)
            return weighted_pass(lambda Z, r: self.gate_statistics(candidate, Z, r))

        flat = newton_refine(gate[:-1].reshape(1, -1), stats, self._gate_penalty(K, q),
                             evaluate, max_iter)
        return _full_gate(flat[0], K, q)

    # --- engine interface -------------------------------------------------------
    def log_joint(self, params: GatedParams, Z: np.ndarray) -> np.ndarray:
        out = self.family.log_prob(params.components, Z)
        out += self.log_gate(params.gate, Z)
        return out

    def statistics(self, params: GatedParams, Z: np.ndarray, resp: np.ndarray
                   ) -> GatedStatistics:
        return GatedStatistics(self.gate_statistics(params.gate, Z, resp),
                               self.family.statistics(params.components, Z, resp))

    def maximize(self, stats: GatedStatistics, params: GatedParams | None = None
                 ) -> GatedParams:
        """The experts' M-step (the gate needs the data: :meth:`data_maximize`)."""
        components = self.family.maximize(stats.components,
                                          None if params is None else params.components)
        return GatedParams(params.gate, components)

    def data_maximize(self, stats: GatedStatistics, params: GatedParams, data_pass
                      ) -> GatedParams:
        def weighted_pass(function):
            return data_pass.weighted(lambda X: self.log_joint(params, X), function)

        return self._exact_m_step(stats, params, weighted_pass,
                                  getattr(self, "gate_iterations", None))

    def _exact_m_step(self, stats: GatedStatistics, params: GatedParams, weighted_pass,
                      gate_iterations: int | None = None) -> GatedParams:
        components = self.family.maximize(stats.components, params.components)
        if hasattr(self.family, "maximize_with_data"):
            components = self.family.maximize_with_data(stats.components, params.components,
                                                        weighted_pass, gate_iterations)
        gate = self._refine_gate(params.gate, stats.gate, weighted_pass, gate_iterations)
        return GatedParams(gate, components)

    def log_prior(self, params: GatedParams) -> float:
        value = self.family.log_prior(params.components)
        if self.gate_ridge > 0:
            start = int(self.gate_design.fit_intercept)
            value -= 0.5 * self.gate_ridge * float((params.gate[:, start:] ** 2).sum())
        return value

    # --- the rest ---------------------------------------------------------------
    def params_from_responsibilities(self, Z, sample_weight: np.ndarray, resp: np.ndarray,
                                     chunk_size: int) -> GatedParams:
        """Exact M-step (gate and experts) from given responsibilities."""
        from ..em.engine import responsibility_pass

        weighted = resp * sample_weight[:, None]
        weighted_pass = responsibility_pass(Z, weighted, chunk_size)

        start = self.family.maximize(weighted_pass(
            lambda X, r: self.family.statistics(None, X, r)))
        K = resp.shape[1]
        q = self.gate_design.n_coefficients
        gate = np.zeros((K, q))
        if self.gate_design.fit_intercept:  # start from the partition's proportions
            totals = np.maximum(weighted.sum(axis=0), 1e-300)
            gate[:, 0] = np.log(totals) - np.log(totals[-1])
        params = GatedParams(gate, start)
        stats = weighted_pass(lambda X, r: self.statistics(params, X, r))
        return self._exact_m_step(stats, params, weighted_pass)

    def n_parameters(self, params: GatedParams) -> int:
        K, q = params.gate.shape
        return (K - 1) * q + int(self.family.n_parameters(params.components))

    def to_vector(self, params: GatedParams) -> np.ndarray:
        return np.concatenate([params.gate[:-1].ravel(),
                               self.family.to_vector(params.components)])

    def from_vector(self, vector: np.ndarray, like: GatedParams) -> GatedParams | None:
        vector = np.asarray(vector, dtype=float)
        K, q = like.gate.shape
        size = (K - 1) * q
        if not np.isfinite(vector).all():
            return None
        components = self.family.from_vector(vector[size:], like.components)
        if components is None:
            return None
        return GatedParams(_full_gate(vector[:size], K, q), components)


def _full_gate(free: np.ndarray, K: int, q: int) -> np.ndarray:
    """Gate coefficients (K, q) from the free rows, the baseline row being 0."""
    return np.vstack([np.reshape(free, (K - 1, q)), np.zeros((1, q))])


def gate_probabilities(gate: np.ndarray, G: np.ndarray) -> np.ndarray:
    """pi(x) for a gate design matrix G (n, q)."""
    return softmax(G @ gate.T, axis=1)
