"""Variational Bayes for Gaussian mixtures, as an engine model (Bishop 2006, ch. 10.2).

The posterior over the parameters is approximated by ``q(pi) q(mu, Lambda)``:
a Dirichlet (or, for a truncated Dirichlet process, one Beta per stick) on the
weights and a Normal-Wishart per component (Normal-Gamma per coordinate for
"diag", one Normal-Gamma per component for "spherical", one shared Wishart for
"tied").  Given ``q(theta)`` the optimal ``q(z)`` has responsibilities
``softmax(rho)`` with ``rho_ik = E[log pi_k] + E[log N(x_i | mu_k, Lambda_k)]``,
and at that ``q(z)`` the evidence lower bound is

    ELBO = sum_i w_i logsumexp_k rho_ik - KL(q(theta) || p(theta)),

so the engine's objective (the row-wise logsumexp of ``log_joint``, plus the
``log_prior`` hook, here ``-KL``) *is* the ELBO: coordinate ascent never lowers
it and the engine's strict monotonicity check applies unchanged.

``rho`` is a Gaussian log-density with precision ``E[Lambda_k]`` plus a
constant per component, so the E-step reuses the Gaussian covariance
structures (and their compiled kernels).  The statistics are the Gaussian
ones.  The M-step is the conjugate update; ``reg_covar`` is added to the
empirical covariances as scikit-learn does, and the exact shortfall of that
step in the bound is reported to the engine (``step_deficit``), as for
:class:`~emkit.families.gaussian.GaussianMixtureModel`.

scikit-learn's ``BayesianGaussianMixture`` takes the same steps for "full"
(both weight priors).  For the other types it is not exact variational
inference, and emkit's results differ from it by design: its "diag" and
"spherical" E-steps use the Wishart's ``E[log |Lambda|]`` for precisions that
are Gamma distributed, and its "tied" update uses ``nu_0 + N / K`` degrees of
freedom where the shared Wishart's posterior has ``nu_0 + N``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln

from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics

LOG_2PI = np.log(2.0 * np.pi)


@dataclasses.dataclass(frozen=True)
class VariationalPrior:
    """Hyperparameters of p(theta) (scikit-learn's names, resolved)."""

    weight_concentration: float
    dirichlet_process: bool
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: Any  # (D, D) full/tied, (D,) diag, float spherical


@dataclasses.dataclass(frozen=True)
class VariationalParams:
    """q(theta) in scikit-learn's storage.

    ``covariances`` are ``E[Lambda]^{-1}`` (the Wishart's ``W^{-1} / nu``), so
    ``precisions_cholesky`` factor the expected precisions.
    """

    weight_concentration: Any  # (K,) Dirichlet, or (a (K,), b (K,)) Beta sticks
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any  # (K,), or a float for "tied"
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def _multigammaln(x: np.ndarray, D: int) -> np.ndarray:
    """log Gamma_D(x) elementwise."""
    x = np.asarray(x, dtype=float)
    terms = gammaln(x[..., None] - 0.5 * np.arange(D))
    return 0.25 * D * (D - 1) * np.log(np.pi) + terms.sum(axis=-1)


def _wishart_expected_log_det(nu, log_det_precision, D: int):
    """E[log |Lambda|] for Lambda ~ Wishart(W, nu), given log |nu W| (the expected precision)."""
    nu = np.asarray(nu, dtype=float)
    psi = digamma(0.5 * (nu[..., None] - np.arange(D))).sum(axis=-1)
    return psi + D * np.log(2.0) + log_det_precision - D * np.log(nu)


def _log_wishart_normaliser(nu, log_det_precision, D: int):
    """log B(W, nu) of the Wishart density, with ``log |W| = log |nu W| - D log nu``."""
    nu = np.asarray(nu, dtype=float)
    log_det_w = log_det_precision - D * np.log(nu)
    return -0.5 * nu * log_det_w - 0.5 * nu * D * np.log(2.0) - _multigammaln(0.5 * nu, D)


class VariationalGaussianModel:
    """The variational Gaussian mixture as the EM engine sees it.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    prior : VariationalPrior
    reg_covar : float
        Added to the empirical covariances in the M-step (scikit-learn's rule).
    """

    def __init__(self, covariance_type: str, prior: VariationalPrior, reg_covar: float = 1e-6):
        self.covariance_type = covariance_type
        self.gaussian = GaussianMixtureModel(covariance_type, 0.0)
        self.structure = self.gaussian.structure
        self.prior = prior
        self.reg_covar = float(reg_covar)
        self.objective_rtol: float | None = None
        self._view_cache: tuple | None = None

    @property
    def kernel_work(self):
        return self.gaussian.kernel_work

    @kernel_work.setter
    def kernel_work(self, value):
        self.gaussian.kernel_work = value

    # --- expectations under q ---------------------------------------------------
    def expected_log_weights(self, params: VariationalParams) -> np.ndarray:
        alpha = params.weight_concentration
        if self.prior.dirichlet_process:
            a, b = alpha
            total = digamma(a + b)
            stick = digamma(b) - total
            return digamma(a) - total + np.concatenate([[0.0], np.cumsum(stick)[:-1]])
        return digamma(alpha) - digamma(np.sum(alpha))

    def _log_det_precision(self, params: VariationalParams, K: int, D: int) -> np.ndarray:
        """log |E[Lambda_k]| per component (K,)."""
        return 2.0 * self.structure.log_det_cholesky(params.precisions_cholesky, K, D)

    def expected_log_det(self, params: VariationalParams) -> np.ndarray:
        """E[log |Lambda_k|] per component (K,)."""
        K, D = params.means.shape
        log_det = self._log_det_precision(params, K, D)
        nu = np.broadcast_to(params.degrees_of_freedom, (K,))
        if self.covariance_type in ("full", "tied"):
            return _wishart_expected_log_det(nu, log_det, D)
        # Gamma precisions: E[log lambda] = psi(a) - log(a) + log E[lambda], with shape
        # a = nu / 2 per coordinate ("diag") or nu D / 2 for the shared one ("spherical")
        shape = 0.5 * nu * (1.0 if self.covariance_type == "diag" else D)
        return log_det + D * (digamma(shape) - np.log(shape))

    def _component_constants(self, params: VariationalParams) -> np.ndarray:
        """rho_ik minus log N(x_i | m_k, E[Lambda_k]^{-1}): a constant per component."""
        K, D = params.means.shape
        log_det = self._log_det_precision(params, K, D)
        return (self.expected_log_weights(params)
                + 0.5 * (self.expected_log_det(params) - log_det)
                - 0.5 * D / params.mean_precision)

    def _gaussian_view(self, params: VariationalParams) -> tuple[GaussianParams, float]:
        """Gaussian parameters whose log_joint is rho minus a shift, and the shift
        (computed once per parameter value and shared by the chunks)."""
        cached = self._view_cache
        if cached is not None and cached[0] is params:
            return cached[1], cached[2]
        constants = self._component_constants(params)
        shift = float(constants.max())
        view = GaussianParams(np.exp(constants - shift), params.means, params.covariances,
                              params.precisions_cholesky)
        self._view_cache = (params, view, shift)
        return view, shift

    # --- engine interface ---------------------------------------------------------
    def log_joint(self, params: VariationalParams, X: np.ndarray) -> np.ndarray:
        view, shift = self._gaussian_view(params)
        return self.gaussian.log_joint(view, X) + shift

    def soft_e_step(self, params: VariationalParams, X: np.ndarray, weights: np.ndarray):
        """The Gaussian fused kernel's E-step, shifted back (None when it does not apply)."""
        view, shift = self._gaussian_view(params)
        fused = self.gaussian.soft_e_step(view, X, weights)
        if fused is None:
            return None
        row_objective, stats = fused
        return row_objective + shift, stats

    def statistics(self, params: VariationalParams, X: np.ndarray, resp: np.ndarray
                   ) -> GaussianStatistics:
        centers = self.gaussian.centers(np.ones(params.means.shape[0]), params.means)
        return self.gaussian.statistics_about(X, resp, centers)

    def _empirical(self, stats: GaussianStatistics, reg_covar: float):
        """(N_k, means x_k, empirical covariances S_k per the structure)."""
        counts = stats.counts
        safe = np.where(counts > 10 * np.finfo(float).eps * max(counts.sum(), 1.0), counts, 1.0)
        xbar = stats.centers + stats.first / safe[:, None]
        cov = self.structure.estimate(safe, stats.first, stats.second, reg_covar, None)
        return counts, xbar, cov

    def maximize(self, stats: GaussianStatistics, params: VariationalParams | None = None,
                 reg_covar: float | None = None) -> VariationalParams:
        """The conjugate update of q(theta) from the statistics."""
        reg = self.reg_covar if reg_covar is None else reg_covar
        counts, xbar, cov = self._empirical(stats, reg)
        prior = self.prior
        if prior.dirichlet_process:
            tail = np.concatenate([np.cumsum(counts[::-1])[-2::-1], [0.0]])
            alpha: Any = (1.0 + counts, prior.weight_concentration + tail)
        else:
            alpha = prior.weight_concentration + counts
        beta = prior.mean_precision + counts
        means = (prior.mean_precision * prior.mean + counts[:, None] * xbar) / beta[:, None]
        diff = xbar - prior.mean
        shrink = counts * prior.mean_precision / beta
        kind = self.covariance_type
        if kind == "full":
            nu = prior.degrees_of_freedom + counts
            scale = (prior.covariance + counts[:, None, None] * cov
                     + shrink[:, None, None] * diff[:, :, None] * diff[:, None, :])
            covariances = scale / nu[:, None, None]
        elif kind == "tied":
            nu = prior.degrees_of_freedom + counts.sum()
            scale = prior.covariance + counts.sum() * cov + (shrink * diff.T) @ diff
            covariances = scale / nu
        elif kind == "diag":
            nu = prior.degrees_of_freedom + counts
            scale = prior.covariance + counts[:, None] * cov + shrink[:, None] * diff ** 2
            covariances = scale / nu[:, None]
        else:
            nu = prior.degrees_of_freedom + counts
            scale = (prior.covariance + counts * cov + shrink * np.mean(diff ** 2, axis=1))
            covariances = scale / nu
        chol = self.structure.precisions_cholesky(covariances, reg)
        return VariationalParams(alpha, beta, means, nu, covariances, chol)

    def log_prior(self, params: VariationalParams) -> float:
        """-KL(q(theta) || p(theta)): added to the summed objective, making it the ELBO."""
        return self._weights_term(params) + self._component_term(params)

    def _weights_term(self, params: VariationalParams) -> float:
        prior = self.prior
        if prior.dirichlet_process:
            a, b = params.weight_concentration
            total = digamma(a + b)
            log_v, log_rest = digamma(a) - total, digamma(b) - total
            gamma = prior.weight_concentration
            expected_log_p = np.log(gamma) + (gamma - 1.0) * log_rest
            expected_log_q = (gammaln(a + b) - gammaln(a) - gammaln(b)
                              + (a - 1.0) * log_v + (b - 1.0) * log_rest)
            return float((expected_log_p - expected_log_q).sum())
        alpha = np.asarray(params.weight_concentration)
        alpha0 = prior.weight_concentration
        K = alpha.shape[0]
        log_pi = self.expected_log_weights(params)
        expected_log_p = gammaln(K * alpha0) - K * gammaln(alpha0) + (alpha0 - 1.0) * log_pi.sum()
        expected_log_q = (gammaln(alpha.sum()) - gammaln(alpha).sum()
                          + ((alpha - 1.0) * log_pi).sum())
        return float(expected_log_p - expected_log_q)

    def _component_term(self, params: VariationalParams) -> float:
        """E_q[log p(mu, Lambda)] - E_q[log q(mu, Lambda)] summed over components."""
        prior = self.prior
        K, D = params.means.shape
        beta0, beta = prior.mean_precision, params.mean_precision
        offsets = params.means - prior.mean
        precisions = self.structure.full_precisions(params.precisions_cholesky, K, D)
        quadratic = np.einsum("ki,kij,kj->k", offsets, precisions, offsets)
        log_det_e = self._log_det_precision(params, K, D)
        expected_log_det = self.expected_log_det(params)
        # the means given the precisions: E log p(mu | Lambda) - E log q(mu | Lambda)
        means_term = (0.5 * D * (np.log(beta0) - np.log(beta)) - 0.5 * beta0 * D / beta
                      - 0.5 * beta0 * quadratic + 0.5 * D).sum()
        kind = self.covariance_type
        nu0 = prior.degrees_of_freedom
        if kind in ("full", "tied"):
            nu = np.broadcast_to(params.degrees_of_freedom, (K,))
            psi0 = np.atleast_2d(prior.covariance)
            log_det_psi0 = np.linalg.slogdet(psi0)[1]
            traces = np.einsum("ij,kji->k", psi0, precisions)
            prior_norm = _log_wishart_normaliser(nu0, -log_det_psi0 + D * np.log(nu0), D)
            post_norm = _log_wishart_normaliser(nu, log_det_e, D)
            p_term = prior_norm + 0.5 * (nu0 - D - 1.0) * expected_log_det - 0.5 * traces
            q_term = post_norm + 0.5 * (nu - D - 1.0) * expected_log_det - 0.5 * nu * D
            if kind == "tied":  # one Wishart shared by the components
                return float(means_term + p_term[0] - q_term[0])
            return float(means_term + (p_term - q_term).sum())
        # Gamma precisions: "diag" one per coordinate, "spherical" one for D coordinates
        nu = np.asarray(params.degrees_of_freedom, dtype=float)
        diag_prec = np.diagonal(precisions, axis1=1, axis2=2)  # E[lambda] (K, D)
        if kind == "diag":
            a0, a = 0.5 * nu0, 0.5 * nu[:, None]
            b0 = 0.5 * np.asarray(prior.covariance, dtype=float)[None, :]
            expected = diag_prec
        else:
            a0, a = 0.5 * nu0 * D, 0.5 * nu * D
            b0 = 0.5 * D * float(prior.covariance)
            expected = diag_prec[:, 0]
        b = a / expected
        log_lambda = digamma(a) - np.log(b)
        p_term = a0 * np.log(b0) - gammaln(a0) + (a0 - 1.0) * log_lambda - b0 * expected
        q_term = a * np.log(b) - gammaln(a) + (a - 1.0) * log_lambda - a
        return float(means_term + (p_term - q_term).sum())

    def step_deficit(self, stats: GaussianStatistics, new_params: VariationalParams,
                     params: VariationalParams | None = None) -> float:
        """Per unit weight, how much adding ``reg_covar`` can lower the bound.

        The bound as a function of q(theta), with q(z) (the statistics) held,
        is largest at the exact update (``reg_covar = 0``); the difference to
        the regularised update is the allowance of the monotonicity check.
        """
        if self.reg_covar == 0.0:
            return 0.0
        try:
            exact = self.maximize(stats, params, reg_covar=0.0)
        except ValueError:
            return np.inf
        deficit = self.bound_given_statistics(stats, exact) - self.bound_given_statistics(
            stats, new_params)
        return max(deficit, 0.0) / float(stats.counts.sum())

    def bound_given_statistics(self, stats: GaussianStatistics, params: VariationalParams
                               ) -> float:
        """The ELBO's terms that depend on q(theta), for fixed responsibilities."""
        counts, xbar, cov = self._empirical(stats, 0.0)
        K, D = xbar.shape
        precisions = self.structure.full_precisions(params.precisions_cholesky, K, D)
        scatter = np.stack([self.structure.component_covariance(cov, k, D) for k in range(K)])
        offsets = xbar - params.means
        spread = scatter + offsets[:, :, None] * offsets[:, None, :]
        expected_quadratic = np.einsum("kij,kji->k", precisions, spread)
        data = (counts * (self.expected_log_weights(params)
                          + 0.5 * (self.expected_log_det(params) - D * LOG_2PI
                                   - D / params.mean_precision - expected_quadratic))).sum()
        return float(data + self.log_prior(params))

    # --- the rest ---------------------------------------------------------------------
    def params_from_responsibilities(self, X, sample_weight, resp, chunk_size) -> VariationalParams:
        weighted = resp * sample_weight[:, None]
        centers = self.gaussian.centers(np.ones(resp.shape[1]),
                                        (weighted.T @ X) / np.maximum(weighted.sum(axis=0),
                                                                      1e-300)[:, None])
        stats = None
        for start in range(0, X.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            part = self.gaussian.statistics_about(X[rows], weighted[rows], centers)
            stats = part if stats is None else stats + part
        return self.maximize(stats)
