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
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_finite
from ..em.engine import soft_assignment
from ._mixture import BaseMixture


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
    """Base of the conditional mixtures (not used directly)."""

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
        self._check_parameters()
        warm = self._warm()
        Z = self._validate_pair(X, y, reset=not warm)
        self._fit_validated(Z, sample_weight, None, warm)
        return self

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
