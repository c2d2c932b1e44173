"""GLM components: logistic regressions (binary y) and Poisson regressions (count y, log link).

A GLM has no closed-form M-step: the expected complete-data log-likelihood of
component k, ``Q_k(beta) = sum_i w_i r_ik l(y_i, a_i' beta)``, is maximised by
weighted IRLS (Newton's method; ``Q_k`` is concave).  The E-step's statistics
are ``Q_k``, its gradient and its information matrix at the current
coefficients (they add over chunks); the M-step takes Newton steps from them
and, through the engine's ``data_maximize`` hook, checks every candidate on the
data with step halving, so each M-step increases Q and EM stays monotone.
:func:`newton_refine` is that loop; the softmax gate of a mixture of experts
uses it too.

The first M-step (from a starting partition) is a weighted least-squares fit
to a transformed response (``log(y + 1/2)`` for counts, a shrunk logit for
binary y); EM's Newton M-steps take over from there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from scipy.special import expit, gammaln

from ..em.statistics import SufficientStatistics
from .base import ComponentFamily
from .mixture import empty_components
from .regression import Design

#: Newton iterations per M-step at most, and the relative change of Q that stops them.
NEWTON_MAX_ITER = 50
NEWTON_RTOL = 1e-13
#: Step halvings per Newton step at most.
MAX_HALVINGS = 40
#: Largest linear predictor of a Poisson regression (exp(700) is near float's limit).
MAX_ETA = 700.0


@dataclasses.dataclass(frozen=True)
class GLMParams:
    """Coefficients (K, p, 1), intercept first when fitted."""

    coefficients: np.ndarray


@dataclasses.dataclass(frozen=True)
class NewtonStatistics(SufficientStatistics):
    """Per component: weight, Q_k, its gradient (K, p) and information -Hessian (K, p, p)."""

    counts: np.ndarray
    objective: np.ndarray
    gradient: np.ndarray
    information: np.ndarray


@dataclasses.dataclass(frozen=True)
class StartStatistics(SufficientStatistics):
    """Weighted least squares on a transformed response (the first M-step only)."""

    counts: np.ndarray
    design_design: np.ndarray
    design_response: np.ndarray


def ridge_matrix(p: int, ridge: float, fit_intercept: bool) -> np.ndarray:
    """The penalty's Hessian: ``ridge`` on the diagonal, 0 for the intercept."""
    penalty = np.full(p, float(ridge))
    if fit_intercept:
        penalty[0] = 0.0
    return np.diag(penalty)


def newton_direction(gradient: np.ndarray, information: np.ndarray) -> np.ndarray:
    """Solve ``information @ step = gradient`` (least squares when singular)."""
    try:
        return np.linalg.solve(information, gradient)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(information, gradient, rcond=None)[0]


def newton_refine(current: np.ndarray, stats: NewtonStatistics, penalty: np.ndarray,
                  evaluate: Callable[[np.ndarray], NewtonStatistics],
                  max_iter: int | None = None) -> np.ndarray:
    """Maximise the separable concave ``sum_k Q_k(beta_k) - beta_k' P beta_k / 2`` by Newton.

    Parameters
    ----------
    current : ndarray (K, p)
        Coefficients at which ``stats`` were computed (the E-step's).
    stats : NewtonStatistics
        Q_k, gradient and information at ``current``.
    penalty : ndarray (p, p)
        The ridge penalty's Hessian (zeros for maximum likelihood).
    evaluate : callable
        ``evaluate(beta)`` -> NewtonStatistics at ``beta`` (one pass over the data).
    max_iter : int or None
        Newton steps at most (None: :data:`NEWTON_MAX_ITER`, to convergence);
        a small number gives a generalized-EM M-step (:mod:`emkit.em.generalized`):
        Q still does not decrease.

    Returns
    -------
    ndarray (K, p)
        Coefficients whose penalised Q is at least that of ``current`` for
        every component (each step is halved until it does not decrease).
    """
    beta = np.array(current, dtype=float)
    K = beta.shape[0]

    def penalised(s: NewtonStatistics, b: np.ndarray) -> np.ndarray:
        return s.objective - 0.5 * np.einsum("kp,pq,kq->k", b, penalty, b)

    value = penalised(stats, beta)
    active = stats.counts > 0
    for _ in range(NEWTON_MAX_ITER if max_iter is None else max_iter):
        gradient = stats.gradient - beta @ penalty
        steps = np.zeros_like(beta)
        for k in np.flatnonzero(active):
            steps[k] = newton_direction(gradient[k], stats.information[k] + penalty)
        if not np.isfinite(steps).all():
            steps[~np.isfinite(steps).all(axis=1)] = 0.0
        scale = np.ones(K)
        accepted = np.zeros(K, dtype=bool)
        accepted[~active] = True
        new_beta, new_stats = beta, stats
        for _halving in range(MAX_HALVINGS):
            candidate = np.where(accepted[:, None], beta, beta + scale[:, None] * steps)
            trial = evaluate(candidate)
            trial_value = penalised(trial, candidate)
            ok = np.isfinite(trial_value) & (trial_value >= value - 1e-15 * np.abs(value))
            newly = ok & ~accepted
            if newly.any():
                new_beta = np.where(newly[:, None], candidate, new_beta)
                new_stats = _merge(new_stats, trial, newly)
            accepted |= ok
            if accepted.all():
                break
            scale[~accepted] *= 0.5
        new_value = penalised(new_stats, new_beta)
        change = np.abs(new_value - value)
        beta, stats, value = new_beta, new_stats, np.maximum(new_value, value)
        if np.all(change <= NEWTON_RTOL * np.maximum(1.0, np.abs(value))):
            break
    return beta


def _merge(old: NewtonStatistics, new: NewtonStatistics, take: np.ndarray) -> NewtonStatistics:
    """Per component, the statistics of ``new`` where ``take`` else ``old``."""
    return NewtonStatistics(
        np.where(take, new.counts, old.counts),
        np.where(take, new.objective, old.objective),
        np.where(take[:, None], new.gradient, old.gradient),
        np.where(take[:, None, None], new.information, old.information),
    )


class GLMFamily(ComponentFamily):
    """Base of the GLM regression families (canonical links)."""

    params_type = GLMParams

    def __init__(self, design: Design, ridge: float = 0.0):
        self.design = design
        self.ridge = float(ridge)

    @property
    def has_prior(self) -> bool:
        return self.ridge > 0.0

    def init_view(self, Z: np.ndarray) -> np.ndarray:
        columns = list(self.design.inputs) + list(self.design.targets)
        view = Z[:, columns]
        scale = view.std(axis=0)
        return (view - view.mean(axis=0)) / np.where(scale > 0, scale, 1.0)

    # --- the distribution (subclasses) --------------------------------------------
    def log_density(self, y: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """log p(y | eta) elementwise."""
        raise NotImplementedError

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """E[y | eta] (the inverse link)."""
        raise NotImplementedError

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Var[y | mu] (the IRLS weight of the canonical link)."""
        raise NotImplementedError

    def working_response(self, y: np.ndarray) -> np.ndarray:
        """A transformed response for the first, least-squares M-step."""
        raise NotImplementedError

    # --- E-step ---------------------------------------------------------------------
    def linear_predictors(self, params: GLMParams, A: np.ndarray) -> np.ndarray:
        return A @ params.coefficients[:, :, 0].T  # (n, K)

    def log_prob(self, params: GLMParams, Z: np.ndarray) -> np.ndarray:
        A, y = self.design.matrix(Z), self.design.response(Z)
        return self.log_density(y, self.linear_predictors(params, A))

    def mean_response(self, params: GLMParams, A: np.ndarray) -> np.ndarray:
        """Every component's E[y | x], shape (n, K, 1)."""
        return self.mean(self.linear_predictors(params, A))[:, :, None]

    def newton_statistics(self, coefficients: np.ndarray, Z: np.ndarray, resp: np.ndarray
                          ) -> NewtonStatistics:
        """Q_k, gradient and information at ``coefficients`` (K, p) for weights ``resp``."""
        A, y = self.design.matrix(Z), self.design.response(Z)
        eta = A @ coefficients.T
        mu = self.mean(eta)
        with np.errstate(invalid="ignore"):
            objective = (resp * self.log_density(y, eta)).sum(axis=0)
        gradient = ((y - mu) * resp).T @ A
        weights = resp * self.variance(mu)
        information = np.stack([(A * weights[:, k:k + 1]).T @ A
                                for k in range(weights.shape[1])])
        return NewtonStatistics(resp.sum(axis=0), objective, gradient, information)

    def statistics(self, params: GLMParams | None, Z: np.ndarray, resp: np.ndarray):
        if params is None:
            A = self.design.matrix(Z)
            z = self.working_response(self.design.response(Z))
            aa = np.stack([(A * resp[:, k:k + 1]).T @ A for k in range(resp.shape[1])])
            az = np.einsum("nk,np->kp", resp * z, A)
            return StartStatistics(resp.sum(axis=0), aa, az)
        return self.newton_statistics(params.coefficients[:, :, 0], Z, resp)

    # --- M-step ---------------------------------------------------------------------
    def _penalty(self, p: int) -> np.ndarray:
        return ridge_matrix(p, self.ridge, self.design.fit_intercept)

    def maximize(self, stats, params: GLMParams | None = None) -> GLMParams:
        """One Newton step from the E-step's statistics (the first M-step: least squares).

        Through the engine, :meth:`maximize_with_data` refines it to the exact
        maximiser of Q with checked steps.
        """
        if isinstance(stats, StartStatistics):
            K, p = stats.design_response.shape
            penalty = self._penalty(p) + 1e-10 * np.eye(p)
            beta = np.stack([newton_direction(stats.design_response[k],
                                              stats.design_design[k] + penalty)
                             for k in range(K)])
            return GLMParams(beta[:, :, None])
        beta = params.coefficients[:, :, 0]
        return GLMParams(beta[:, :, None].copy())

    def maximize_with_data(self, stats: NewtonStatistics, params: GLMParams,
                           weighted_pass, max_iter: int | None = None) -> GLMParams:
        """The exact M-step: Newton with step halving, each candidate scored on the data.

        ``weighted_pass(function)`` sums ``function(Z, r)`` over the chunks, ``r``
        the E-step's row-weighted responsibilities of the chunk.  ``max_iter``
        (None: to convergence) bounds the Newton steps (generalized EM).
        """
        current = params.coefficients[:, :, 0]
        empty = empty_components(stats.counts)

        def evaluate(beta: np.ndarray) -> NewtonStatistics:
            return weighted_pass(lambda Z, r: self.newton_statistics(beta, Z, r))

        beta = newton_refine(current, stats, self._penalty(current.shape[1]), evaluate,
                             max_iter)
        beta[empty] = current[empty]
        return GLMParams(beta[:, :, None])

    def log_prior(self, params: GLMParams) -> float:
        if self.ridge == 0.0:
            return 0.0
        beta = params.coefficients[:, int(self.design.fit_intercept):, 0]
        return -0.5 * self.ridge * float((beta * beta).sum())

    # --- the rest ---------------------------------------------------------------------
    def n_parameters(self, params: GLMParams) -> int:
        return int(params.coefficients.size)

    def sample(self, params, labels, rng):
        raise NotImplementedError(
            "a regression mixture models y given x: draw responses with sample_y(X)")

    def to_vector(self, params: GLMParams) -> np.ndarray:
        return params.coefficients.ravel().astype(float)

    def from_vector(self, vector: np.ndarray, like: GLMParams) -> GLMParams | None:
        coefficients = np.asarray(vector, dtype=float).reshape(like.coefficients.shape)
        if not np.isfinite(coefficients).all():
            return None
        return GLMParams(coefficients.copy())

    def vector_size(self, like: GLMParams) -> int:
        return int(like.coefficients.size)


class LogisticRegressionFamily(GLMFamily):
    """Logistic regressions: ``P(y = 1 | x, k) = expit(a(x)' beta_k)``."""

    name = "binomial"

    def log_density(self, y, eta):
        return y * eta - np.logaddexp(0.0, eta)

    def mean(self, eta):
        return expit(eta)

    def variance(self, mu):
        return mu * (1.0 - mu)

    def working_response(self, y):
        shrunk = (y + 0.5) / 2.0
        return np.log(shrunk / (1.0 - shrunk))

    def sample_response(self, params, A, labels, rng):
        mu = self.mean(self.linear_predictors(params, A))[np.arange(A.shape[0]), labels]
        return (rng.random(mu.shape) < mu).astype(float)[:, None]


class PoissonRegressionFamily(GLMFamily):
    """Poisson regressions with a log link: ``y | x, k ~ Poisson(exp(a(x)' beta_k))``."""

    name = "poisson"

    def log_density(self, y, eta):
        eta = np.minimum(eta, MAX_ETA)
        return y * eta - np.exp(eta) - gammaln(y + 1.0)

    def mean(self, eta):
        return np.exp(np.minimum(eta, MAX_ETA))

    def variance(self, mu):
        return mu

    def working_response(self, y):
        return np.log(y + 0.5)

    def sample_response(self, params, A, labels, rng):
        mu = self.mean(self.linear_predictors(params, A))[np.arange(A.shape[0]), labels]
        return rng.poisson(mu).astype(float)[:, None]


GLM_FAMILIES = {"binomial": LogisticRegressionFamily, "poisson": PoissonRegressionFamily}


def check_glm_response(family: str, Y: np.ndarray) -> None:
    """A named error for a response outside the family's support."""
    if Y.shape[1] != 1:
        raise ValueError(f"the {family} family takes one response column, got {Y.shape[1]}")
    y = Y[:, 0]
    if family == "binomial":
        bad = ~((y == 0) | (y == 1))
        need = "binary values (0 or 1)"
    else:
        bad = (y < 0) | (y != np.round(y))
        need = "non-negative integer counts"
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"y has value {float(y[row])!r} at row {row}: the {family} family "
                         f"needs {need}")
