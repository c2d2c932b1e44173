"""Linear-Gaussian regression components: ``y | x, z = k ~ N(B_k' a(x), S_k)``.

Conditional models see rows of a combined array ``Z = [X | Y]``; a
:class:`Design` says which columns of Z are the inputs of the regression
(``a(x)``, with a leading 1 when there is an intercept) and which are the
response.  The expected sufficient statistics are the responsibility-weighted
normal equations, which add over chunks like every other family's, so
mixtures of regressions fit out of core, on Dask and online like the rest.

Prior (``ridge``): ``B_k`` has a Gaussian prior with covariance ``S_k / ridge``
on every coefficient but the intercept, so the M-step is an exact joint
maximiser: ``B_k = (A'W_kA + ridge I)^{-1} A'W_kY`` (ridge regression on the
weighted rows, whatever ``S_k``) and ``S_k = (residual scatter + ridge B_k'B_k)
/ n_k``; the objective is the log-likelihood plus that log prior.

Degenerate components: a component whose noise variance falls below
``variance_floor`` is held at the floor (the exact constrained maximiser, so EM
stays monotone); without a floor, a variance below ``1e-10`` of the response's
scale (a component on as many points as coefficients) raises
:class:`~emkit.exceptions.DegenerateComponentError` naming the component.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..em.statistics import SufficientStatistics
from ..exceptions import DegenerateComponentError
from .base import ComponentFamily
from .mixture import empty_components

LOG_2PI = np.log(2.0 * np.pi)
#: Without a floor, a noise variance below this fraction of the response's
#: variance means the component interpolates its rows: an error.
DEGENERATE_VARIANCE = 1e-10


@dataclasses.dataclass(frozen=True)
class Design:
    """Which columns of the combined rows ``Z = [X | Y]`` a conditional family uses.

    Attributes
    ----------
    inputs : tuple of int
        Columns of Z that are regressors.
    targets : tuple of int
        Columns of Z that are the response.
    fit_intercept : bool
        Whether the design has a leading column of ones.
    """

    inputs: tuple[int, ...]
    targets: tuple[int, ...]
    fit_intercept: bool = True

    @property
    def n_coefficients(self) -> int:
        return len(self.inputs) + int(self.fit_intercept)

    def matrix(self, Z: np.ndarray) -> np.ndarray:
        """The design matrix A (n, p) of a chunk."""
        X = Z[:, list(self.inputs)]
        if not self.fit_intercept:
            return np.ascontiguousarray(X)
        return np.hstack([np.ones((Z.shape[0], 1)), X])

    def response(self, Z: np.ndarray) -> np.ndarray:
        """The response Y (n, m) of a chunk."""
        return Z[:, list(self.targets)]


@dataclasses.dataclass(frozen=True)
class RegressionParams:
    """Coefficients (K, p, m) (intercept first when fitted) and noise covariances (K, m, m)."""

    coefficients: np.ndarray
    noise_covariances: np.ndarray


@dataclasses.dataclass(frozen=True)
class RegressionStatistics(SufficientStatistics):
    """Weighted normal equations per component: n_k, A'W_kA, A'W_kY, Y'W_kY."""

    counts: np.ndarray
    design_design: np.ndarray
    design_response: np.ndarray
    response_response: np.ndarray


def _cholesky(matrices: np.ndarray) -> np.ndarray | None:
    try:
        return np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        return None


class LinearRegressionFamily(ComponentFamily):
    """Gaussian linear regressions as mixture components.

    Parameters
    ----------
    design : Design
    common_noise : bool, default=False
        One noise covariance shared by all components (else one each).
    ridge : float, default=0.0
        Strength of the Gaussian prior on the non-intercept coefficients.
    variance_floor : float, default=0.0
        Smallest noise variance (each diagonal entry of the noise
        covariance); 0 means none, and a collapsing component is an error.
    response_scale : float, default=1.0
        The response's variance, which sets the degeneracy threshold.
    """

    name = "linear_regression"
    params_type = RegressionParams

    def __init__(self, design: Design, common_noise: bool = False, ridge: float = 0.0,
                 variance_floor: float = 0.0, response_scale: float = 1.0):
        self.design = design
        self.common_noise = bool(common_noise)
        self.ridge = float(ridge)
        self.variance_floor = float(variance_floor)
        self.response_scale = float(response_scale)

    @property
    def has_prior(self) -> bool:
        return self.ridge > 0.0

    def init_view(self, Z: np.ndarray) -> np.ndarray:
        """Standardised inputs and response, so that k-means sees them on one scale."""
        columns = list(self.design.inputs) + list(self.design.targets)
        view = Z[:, columns]
        scale = view.std(axis=0)
        return (view - view.mean(axis=0)) / np.where(scale > 0, scale, 1.0)

    # --- E-step -------------------------------------------------------------
    def predictions(self, params: RegressionParams, A: np.ndarray) -> np.ndarray:
        """Every component's fitted response, shape (n, K, m)."""
        K, p, m = params.coefficients.shape
        flat = params.coefficients.transpose(1, 0, 2).reshape(p, K * m)
        return (A @ flat).reshape(A.shape[0], K, m)

    #: Every component's E[y | x], as the GLM families name it.
    mean_response = predictions

    def log_prob(self, params: RegressionParams, Z: np.ndarray) -> np.ndarray:
        A, Y = self.design.matrix(Z), self.design.response(Z)
        residuals = Y[:, None, :] - self.predictions(params, A)  # (n, K, m)
        chol = np.linalg.cholesky(params.noise_covariances)  # (K, m, m)
        m = Y.shape[1]
        out = np.empty((Z.shape[0], chol.shape[0]))
        for k in range(chol.shape[0]):
            solved = np.linalg.solve(chol[k], residuals[:, k, :].T)  # (m, n)
            out[:, k] = -0.5 * np.einsum("ij,ij->j", solved, solved)
            out[:, k] -= np.log(np.diag(chol[k])).sum() + 0.5 * m * LOG_2PI
        return out

    def statistics(self, params, Z: np.ndarray, resp: np.ndarray) -> RegressionStatistics:
        A, Y = self.design.matrix(Z), self.design.response(Z)
        K = resp.shape[1]
        p, m = A.shape[1], Y.shape[1]
        aa = np.empty((K, p, p))
        ay = np.empty((K, p, m))
        yy = np.empty((K, m, m))
        for k in range(K):
            weighted_a = A * resp[:, k:k + 1]
            aa[k] = weighted_a.T @ A
            ay[k] = weighted_a.T @ Y
            yy[k] = (Y * resp[:, k:k + 1]).T @ Y
        return RegressionStatistics(resp.sum(axis=0), aa, ay, yy)

    # --- M-step -------------------------------------------------------------
    def _penalty(self, p: int) -> np.ndarray:
        penalty = np.full(p, self.ridge)
        if self.design.fit_intercept:
            penalty[0] = 0.0
        return np.diag(penalty)

    def maximize(self, stats: RegressionStatistics, params: RegressionParams | None = None
                 ) -> RegressionParams:
        K, p, _ = stats.design_response.shape
        empty = empty_components(stats.counts)
        penalty = self._penalty(p)
        coefficients = np.empty_like(stats.design_response)
        scatter = np.empty_like(stats.response_response)
        for k in range(K):
            if empty[k] and params is not None:
                coefficients[k] = params.coefficients[k]
                scatter[k] = 0.0
                continue
            normal = stats.design_design[k] + penalty
            try:
                beta = np.linalg.solve(normal, stats.design_response[k])
            except np.linalg.LinAlgError:
                beta = np.linalg.lstsq(normal, stats.design_response[k], rcond=None)[0]
            coefficients[k] = beta
            cross = beta.T @ stats.design_response[k]
            residual = (stats.response_response[k] - cross - cross.T
                        + beta.T @ stats.design_design[k] @ beta)
            scatter[k] = residual + self.ridge * beta[int(self.design.fit_intercept):].T @ \
                beta[int(self.design.fit_intercept):]
        counts = np.where(empty, 1.0, stats.counts)
        if self.common_noise:
            pooled = scatter.sum(axis=0) / stats.counts.sum()
            covariances = np.broadcast_to(pooled, scatter.shape).copy()
        else:
            covariances = scatter / counts[:, None, None]
        covariances = 0.5 * (covariances + covariances.transpose(0, 2, 1))
        if params is not None and not self.common_noise:
            covariances[empty] = params.noise_covariances[empty]
        return RegressionParams(coefficients, self._floored(covariances))

    def _floored(self, covariances: np.ndarray) -> np.ndarray:
        """Apply the variance floor, or refuse a collapsed component."""
        variances = np.diagonal(covariances, axis1=1, axis2=2)
        if self.variance_floor > 0:
            low = variances < self.variance_floor
            if low.any():
                covariances = covariances.copy()
                for k, d in zip(*np.nonzero(low), strict=True):
                    covariances[k, d, d] = self.variance_floor
            if _cholesky(covariances) is not None:
                return covariances
        threshold = DEGENERATE_VARIANCE * self.response_scale
        bad = np.flatnonzero((variances <= threshold).any(axis=1) | ~np.isfinite(variances).all(
            axis=1))
        if bad.size == 0 and _cholesky(covariances) is None:
            bad = np.arange(covariances.shape[0])
        if bad.size:
            raise DegenerateComponentError(
                f"component {int(bad[0])} collapsed: its noise variance fell to "
                f"{float(variances[bad[0]].min()):.3g} (the regression interpolates its rows); "
                "set variance_floor > 0, a ridge penalty, or use fewer components"
            )
        return covariances

    def expected_log_prob(self, params: RegressionParams, stats: RegressionStatistics) -> float:
        """sum_i r_ik log p(y_i | x_i, k) over rows and components, from the statistics."""
        total = 0.0
        m = stats.response_response.shape[1]
        for k in range(params.coefficients.shape[0]):
            beta = params.coefficients[k]
            cross = beta.T @ stats.design_response[k]
            residual = (stats.response_response[k] - cross - cross.T
                        + beta.T @ stats.design_design[k] @ beta)
            log_det = np.linalg.slogdet(params.noise_covariances[k])[1]
            trace = float(np.trace(np.linalg.solve(params.noise_covariances[k], residual)))
            total += -0.5 * stats.counts[k] * (m * LOG_2PI + log_det) - 0.5 * trace
        return total

    def log_prior(self, params: RegressionParams) -> float:
        if self.ridge == 0.0:
            return 0.0
        start = int(self.design.fit_intercept)
        value = 0.0
        for k in range(params.coefficients.shape[0]):
            beta = params.coefficients[k, start:]
            solved = np.linalg.solve(params.noise_covariances[k], beta.T)
            value -= 0.5 * self.ridge * float(np.trace(beta @ solved))
        return value

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: RegressionParams) -> int:
        K, p, m = params.coefficients.shape
        noise = m * (m + 1) // 2
        return K * p * m + (noise if self.common_noise else K * noise)

    def sample(self, params: RegressionParams, labels: np.ndarray, rng: np.random.Generator):
        raise NotImplementedError(
            "a regression mixture models y given x: draw responses with sample_y(X)")

    def sample_response(self, params: RegressionParams, A: np.ndarray, labels: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """One draw of y for each row of the design, from the component in ``labels``."""
        mean = self.predictions(params, A)[np.arange(A.shape[0]), labels]
        chol = np.linalg.cholesky(params.noise_covariances)[labels]
        noise = rng.standard_normal(mean.shape)
        return mean + np.einsum("nij,nj->ni", chol, noise)

    def to_vector(self, params: RegressionParams) -> np.ndarray:
        return np.concatenate([params.coefficients.ravel(), params.noise_covariances.ravel()])

    def from_vector(self, vector: np.ndarray, like: RegressionParams) -> RegressionParams | None:
        size = like.coefficients.size
        coefficients = vector[:size].reshape(like.coefficients.shape).copy()
        covariances = vector[size:].reshape(like.noise_covariances.shape).copy()
        covariances = 0.5 * (covariances + covariances.transpose(0, 2, 1))
        if _cholesky(covariances) is None:
            return None
        if self.variance_floor > 0 and (
                np.diagonal(covariances, axis1=1, axis2=2) < self.variance_floor).any():
            return None
        if self.common_noise and not np.allclose(covariances, covariances[:1], rtol=1e-12,
                                                 atol=0):
            covariances = np.broadcast_to(covariances.mean(axis=0), covariances.shape).copy()
        return RegressionParams(coefficients, covariances)

    def vector_size(self, like: RegressionParams) -> int:
        return int(like.coefficients.size + like.noise_covariances.size)
