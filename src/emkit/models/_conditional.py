"""What the conditional mixture estimators share: (X, y) pairs on the mixture engine.

A conditional mixture models ``p(y | x) = sum_k pi_k(x) p(y | x, z = k)``.
The engine sees rows of ``Z = [X | Y]``; the component family reads its
design and response columns (:class:`~emkit.families.regression.Design`).
Estimators follow scikit-learn's regressor conventions: ``fit(X, y)``,
``predict(X)``, ``score(X, y)`` (R^2 of ``predict``); the density-model
methods take the pair: ``score_samples(X, y)``, ``predict_proba(X, y)``
(the posterior of each row's regime), ``bic(X, y)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_finite, check_option, check_real
from ..em.engine import soft_assignment
from ..families.glm import GLM_FAMILIES, check_glm_response
from ..families.regression import Design, LinearRegressionFamily, RegressionParams
from ._mixture import BaseMixture

#: The regressions a regime can hold.
FAMILIES = ("gaussian", *GLM_FAMILIES)
#: One noise variance per regime, or one for all.
NOISE = ("component", "common")


def check_response(y, n_samples: int, name: str = "y") -> tuple[np.ndarray, bool]:
    """(the response as a float (n, m) array, whether it was 1-D), with named errors."""
    if y is None:
        raise ValueError(f"this estimator requires y to be passed, but the target {name} is "
                         "None: a conditional mixture models y given X")
    Y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y),
                   dtype=np.float64)
    one_dimensional = Y.ndim == 1
    if one_dimensional:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have one value (or row of values) per row of X ({n_samples}), "
            f"got shape {Y.shape}"
        )
    check_finite(Y, name)
    return Y, one_dimensional


def unpack_coefficients(coefficients: np.ndarray, fit_intercept: bool, y_1d: bool):
    """(coef_, intercept_) from coefficients (K, p, m) whose first row is the intercept.

    ``coef_`` is (K, D) for a 1-D response, else (K, m, D); ``intercept_`` (K,)
    or (K, m) (zeros without an intercept).
    """
    start = int(bool(fit_intercept))
    K, _, m = coefficients.shape
    slopes = coefficients[:, start:, :].transpose(0, 2, 1)
    intercepts = coefficients[:, 0, :] if start else np.zeros((K, m))
    if y_1d:
        return slopes[:, 0, :], intercepts[:, 0]
    return slopes, intercepts


def pack_coefficients(coef: np.ndarray, intercept: np.ndarray, fit_intercept: bool,
                      y_1d: bool) -> np.ndarray:
    """The inverse of :func:`unpack_coefficients`: coefficients (K, p, m)."""
    slopes = coef[:, None, :] if y_1d else coef
    coefficients = slopes.transpose(0, 2, 1)
    if fit_intercept:
        intercepts = np.reshape(intercept, (coef.shape[0], 1, -1))
        coefficients = np.concatenate([intercepts, coefficients], axis=1)
    return coefficients


class ConditionalMixture(RegressorMixin, BaseMixture):
    """Base of the conditional mixtures (not used directly).

    Subclasses have the parameters ``family``, ``fit_intercept``, ``noise``,
    ``ridge`` and ``variance_floor`` and implement ``_expert_design()``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.input_tags.allow_nan = False
        return tags

    # --- data -------------------------------------------------------------------
    def _validate_pair(self, X, y, *, reset: bool) -> np.ndarray:
        """Z = [X | Y] from validated X (finite, named errors) and y."""
        X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False,
                          ensure_min_samples=self._min_samples if reset else 1)
        check_finite(X, "X")
        Y, one_dimensional = check_response(y, X.shape[0])
        if reset:
            self._n_targets = Y.shape[1]
            self._y_was_1d = one_dimensional
        elif Y.shape[1] != self._n_targets:
            raise ValueError(f"y has {Y.shape[1]} columns but the model was fitted with "
                             f"{self._n_targets}")
        self._check_response_support(Y)
        return np.hstack([X, Y])

    def _check_response_support(self, Y: np.ndarray) -> None:
        """Families with a restricted response (binary, counts) refuse others here."""
        if self.family != "gaussian":
            check_glm_response(self.family, Y)

    # --- the regressions ------------------------------------------------------------
    def _check_family_parameters(self) -> None:
        check_option(self.family, "family", FAMILIES)
        check_option(self.noise, "noise", NOISE)
        check_real(self.ridge, "ridge", 0.0)
        check_real(self.variance_floor, "variance_floor", 0.0)

    def _expert_design(self) -> Design:
        raise NotImplementedError

    def _family(self):
        """The regressions of the regimes (linear-Gaussian or a GLM)."""
        if self.family == "gaussian":
            return LinearRegressionFamily(
                self._expert_design(), common_noise=self.noise == "common", ridge=self.ridge,
                variance_floor=self.variance_floor,
                response_scale=getattr(self, "_response_scale", 1.0))
        return GLM_FAMILIES[self.family](self._expert_design(), ridge=self.ridge)

    def _prepare(self, model, Z, source, sample=None) -> None:
        Y = Z[:, self.n_features_in_:]
        self._response_scale = float(np.mean(np.var(Y, axis=0))) or 1.0
        model.family.response_scale = self._response_scale

    def _store_regressions(self, components) -> None:
        """``coef_``, ``intercept_`` (and ``noise_variance_``) from the family's parameters."""
        self.coef_, self.intercept_ = unpack_coefficients(
            components.coefficients, self.fit_intercept, self._y_was_1d)
        if self.family == "gaussian":
            noise = components.noise_covariances
            self.noise_variance_ = noise[:, 0, 0] if self._y_was_1d else noise

    def _regressions(self):
        """The family's parameters from ``coef_``, ``intercept_`` (and ``noise_variance_``)."""
        coefficients = pack_coefficients(self.coef_, self.intercept_, self.fit_intercept,
                                         self._y_was_1d)
        if self.family != "gaussian":
            return self._family().params_type(coefficients)
        noise = (self.noise_variance_[:, None, None] if self._y_was_1d
                 else self.noise_variance_)
        return RegressionParams(coefficients, noise)

    def _fitted_family_reason(self) -> str | None:
        fitted = getattr(self, "_fitted_family", self.family)
        return None if fitted == self.family else f"the model was fitted with family {fitted!r}"

    def _fit_validated(self, X, sample_weight, labels, warm: bool, online_start: bool = False):
        super()._fit_validated(X, sample_weight, labels, warm, online_start)
        self._fitted_family = self.family
        return self

    def _validate_batch(self, X, y, *, reset: bool):
        return self._validate_pair(X, y, reset=reset), None

    def _validate_inputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)
        check_finite(X, "X")
        return X

    # --- fitting ----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the mixture of regressions by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights with count semantics.

        Returns
        -------
        self
        """
        return self._fit(X, sample_weight, y)

    def _online_capable(self) -> bool:
        """Whether the M-step works from running statistics (Gaussian regressions only:
        GLM regimes and a softmax gate need passes over the data)."""
        return self.family == "gaussian"

    @available_if(lambda self: self._online_capable())
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one mini-batch of (x, y) pairs (stepwise EM).

        As :meth:`BaseMixture.partial_fit`, with the response ``y``; only
        for Gaussian regressions (``family="gaussian"``).
        """
        return super().partial_fit(X, y, sample_weight)

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 of :meth:`predict` on (X, y) (scikit-learn's regressor score).

        For the log-likelihood of the pairs use :meth:`score_samples` or
        :meth:`log_likelihood`.
        """
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))

    def fit_predict(self, X, y, sample_weight=None) -> np.ndarray:
        """Fit, then return the most probable regime of every (x, y) pair."""
        return self.fit(X, y, sample_weight).predict_regime(X, y)

    # --- inference --------------------------------------------------------------
    def _log_joint_pair(self, X, y) -> np.ndarray:
        check_is_fitted(self)
        Z = self._validate_pair(X, y, reset=False)
        return self._engine_model().log_joint(self._params(), Z)

    def score_samples(self, X, y) -> np.ndarray:
        """log p(y | x) of every pair, shape (n_samples,)."""
        return soft_assignment(self._log_joint_pair(X, y))[0]

    def log_likelihood(self, X, y) -> float:
        """Mean log p(y | x) per pair."""
        return float(self.score_samples(X, y).mean())

    def predict_proba(self, X, y=None) -> np.ndarray:
        """Regime probabilities, shape (n_samples, n_components).

        With y: the posterior ``p(z = k | x, y)`` of the regime of each pair.
        Without: ``p(z = k | x)`` before y is seen (the weights, or the gate
        of a mixture of experts).
        """
        if y is None:
            return self._prior_regimes(X)
        return soft_assignment(self._log_joint_pair(X, y))[1]

    def _prior_regimes(self, X) -> np.ndarray:
        X = self._validate_inputs(X)
        return np.broadcast_to(self.weights_, (X.shape[0], self.weights_.shape[0])).copy()

    def predict_regime(self, X, y) -> np.ndarray:
        """Most probable regime of every pair (x, y)."""
        return np.argmax(self._log_joint_pair(X, y), axis=1)

    def _total_log_likelihood(self, X, y=None) -> tuple[float, int]:
        scores = self.score_samples(X, y)
        return float(scores.sum()), int(scores.shape[0])

    def bic(self, X, y) -> float:
        """``-2 log L + p log n`` on the pairs (smaller is better)."""
        loglik, n = self._total_log_likelihood(X, y)
        return -2.0 * loglik + self._n_parameters() * np.log(n)

    def aic(self, X, y) -> float:
        """``-2 log L + 2 p`` on the pairs (smaller is better)."""
        return -2.0 * self._total_log_likelihood(X, y)[0] + 2.0 * self._n_parameters()

    def icl(self, X, y) -> float:
        """BIC minus twice the summed log posterior of each pair's regime (smaller is better)."""
        log_norm, resp = soft_assignment(self._log_joint_pair(X, y))
        with np.errstate(divide="ignore"):
            map_log_z = float(np.log(resp.max(axis=1)).sum())
        n = resp.shape[0]
        return -2.0 * float(log_norm.sum()) + self._n_parameters() * np.log(n) - 2.0 * map_log_z

    def sample(self, n_samples: int = 1, random_state=None):
        raise NotImplementedError(
            f"{type(self).__name__} models y given X; draw responses with sample_y(X)")
