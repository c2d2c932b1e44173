"""ProbitRegression fitted by EM on the latent utility (a classifier with scikit-learn's API)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import log_ndtr, ndtr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_finite, check_int, check_real
from ..em.accelerate import check_accelerate
from ..families.probit import ProbitModel
from ._base import fit_with_restarts, make_source


class ProbitRegression(ClassifierMixin, BaseEstimator):
    """Binary probit regression, ``P(y = 1 | x) = Phi(x' beta)``, fitted by EM.

    The EM of Albert & Chib's latent utility: ``u = x' beta + e``,
    ``e ~ N(0, 1)``, ``y = 1[u > 0]``; the E-step takes the truncated-normal mean
    of ``u`` given y, the M-step is least squares (see
    :mod:`emkit.families.probit`).  It reaches the maximum-likelihood estimate
    (the same as a Newton fit, e.g. statsmodels' ``Probit``), and the monitored
    log-likelihood never decreases.  Plain EM converges slowly for probit (the
    latent utilities carry much more information than the signs), so SQUAREM
    is on by default; ``accelerate=None`` gives the textbook iteration.

    Parameters
    ----------
    fit_intercept : bool, default=True
    tol : float, default=1e-10
        Stop when the mean log-likelihood per row changes by less than this.
    max_iter : int, default=10000
        EM iterations (EM-map evaluations with SQUAREM).
    accelerate : {"squarem", "overrelax", None}, default="squarem"
    verbose : int, default=0
    chunk_size : int or None, default=None

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The labels; the second is the "positive" class (y = 1).
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    n_iter_ : int
    converged_ : bool
    lower_bound_ : float
        Mean log-likelihood per row at the last iteration's parameters.
    lower_bounds_ : ndarray
        The mean log-likelihood at every iteration (non-decreasing).
    n_features_in_ : int
    """

    def __init__(self, *, fit_intercept: bool = True, tol: float = 1e-10,
                 max_iter: int = 10000, accelerate: str | None = "squarem", verbose: int = 0,
                 chunk_size: int | None = None):
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.accelerate = accelerate
        self.verbose = verbose
        self.chunk_size = chunk_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _design(self, X: np.ndarray) -> np.ndarray:
        if self.fit_intercept:
            return np.hstack([np.ones((X.shape[0], 1)), X])
        return X

    def fit(self, X, y, sample_weight=None) -> ProbitRegression:
        """Fit the coefficients by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two distinct labels.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        check_real(self.tol, "tol", 0.0)
        check_int(self.max_iter, "max_iter", 0)
        check_accelerate(self.accelerate)
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", 1)
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False,
                             ensure_min_samples=2)
        check_finite(X, "X")
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if self.classes_.shape[0] != 2:
            raise ValueError(
                f"Only binary classification is supported: ProbitRegression needs y with "
                f"exactly two classes, got {self.classes_.shape[0]}: "
                f"{self.classes_.tolist()[:5]}")
        A = self._design(X)
        Z = np.hstack([A, encoded[:, None].astype(float)])
        source = make_source(Z, sample_weight, self.chunk_size, Z.shape[1] + 2)
        model = ProbitModel(A.shape[1])
        start = np.zeros(A.shape[1])
        result = fit_with_restarts(model, lambda: start, source, n_init=1, tol=self.tol,
                                   max_iter=self.max_iter, verbose=self.verbose,
                                   accelerate=self.accelerate)
        beta = result.params
        self.intercept_ = beta[:1].copy() if self.fit_intercept else np.zeros(1)
        self.coef_ = beta[int(bool(self.fit_intercept)):][None, :].copy()
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.lower_bounds_ = result.objective_history
        self.lower_bound_ = result.objective
        margins = (2.0 * encoded - 1.0) * (A @ beta)
        weights = source.sample_weight
        if np.all(margins[weights > 0] > 0):
            warnings.warn(
                "the classes are perfectly separated by a hyperplane: the maximum-likelihood "
                "coefficients are infinite, and the fitted ones only grow with max_iter",
                UserWarning, stacklevel=2)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The linear predictor ``x' beta`` (the probit index), shape (n_samples,)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)
        check_finite(X, "X")
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[1 - Phi(x' beta), Phi(x' beta)]``, shape (n_samples, 2)."""
        index = self.decision_function(X)
        return np.column_stack([ndtr(-index), ndtr(index)])

    def predict_log_proba(self, X) -> np.ndarray:
        """Log class probabilities (computed without underflow)."""
        index = self.decision_function(X)
        return np.column_stack([log_ndtr(-index), log_ndtr(index)])

    def predict(self, X) -> np.ndarray:
        """The more probable class of every row."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` on (X, y) (scikit-learn's classifier score)."""
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def log_likelihood(self, X, y) -> float:
        """Total log-likelihood of labels y given X."""
        index = self.decision_function(X)
        positive = np.asarray(y) == self.classes_[1]
        return float(np.where(positive, log_ndtr(index), log_ndtr(-index)).sum())
