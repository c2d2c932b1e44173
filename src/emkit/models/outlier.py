"""MixtureOutlierDetector: anomaly detection by thresholding a Gaussian-mixture density."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from ._base import validate_X
from ._mixture_inference import log_density, make_mixture, validate_rows


def _check_contamination(value: Any) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and 0.0 < value <= 0.5
    if not ok:
        raise ValueError(f"contamination must be in (0, 0.5], got {value!r}")
    return float(value)


def _check_threshold(value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise ValueError(
            f"threshold must be None or a finite density > 0 (the epsilon in p(x) < epsilon), "
            f"got {value!r}"
        )
    return float(value)


class MixtureOutlierDetector(OutlierMixin, BaseEstimator):
    """Flag rows of low density under a Gaussian mixture fitted by EM.

    The density-estimation approach to anomaly detection: model p(x) with a
    Gaussian mixture (``mixture_``, fitted to the training rows), then call a
    row an anomaly when ``p(x) < epsilon``.  The classic example: measure
    features (vibration, heat, ...) of every aircraft engine coming off the
    assembly line, model their density, and send an engine whose features have
    a very small density under the model for further inspection -- even when
    each feature on its own is within its usual range, an unusual
    *combination* has low density.  A mixture can model densities that no
    single Gaussian fits (an L-shaped cloud, several engine types).

    Follows scikit-learn's outlier-detection API (as
    :class:`~sklearn.ensemble.IsolationForest` and
    :class:`~sklearn.covariance.EllipticEnvelope`): ``score_samples(X)`` is
    ``log p(x)``, ``decision_function(X) = score_samples(X) - offset_`` is
    negative for outliers, and ``predict`` returns -1 for outliers and +1 for
    inliers.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Component covariance structure.
    contamination : float in (0, 0.5], default=0.01
        Expected fraction of outliers in the training data: ``offset_`` is set
        so that this fraction of the training rows (to within one row) has a
        lower log-density.  Ignored when ``threshold`` is given.
    threshold : float > 0 or None, default=None
        The density epsilon: a row is an outlier when ``p(x) < threshold``
        (``offset_ = log(threshold)``).  Takes priority over
        ``contamination``.  p is a density, so epsilon depends on the units and
        on the number of features.
    tol, reg_covar, max_iter, n_init, init_params, random_state
        Passed to the :class:`~emkit.GaussianMixture` (same meaning and defaults).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The mixture fitted to the training rows.
    n_iter_ : int
        EM iterations of the mixture's best initialisation (``mixture_.n_iter_``).
    offset_ : float
        log of the density threshold: ``log(threshold)``, or the
        ``contamination`` quantile of the training log-densities.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Notes
    -----
    Missing values (NaN): the mixture is fitted by EM marginalising them, and
    a row with missing values is scored by the marginal density of its
    observed coordinates.  That density is over fewer coordinates, so it is on
    another scale than the full density (a row with nothing observed has
    log-density 0); the same ``offset_`` applies to it.  Infinite values are
    errors.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import MixtureOutlierDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
    >>> detector = MixtureOutlierDetector(n_components=2, random_state=0).fit(X)
    >>> detector.predict([[0.0, 0.5], [8.0, 7.5], [4.0, 4.0], [0.0, 8.0]])
    array([ 1,  1, -1, -1])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        contamination: float = 0.01,
        threshold: float | None = None,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state: Any = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.contamination = contamination
        self.threshold = threshold
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: Any, y: Any = None) -> MixtureOutlierDetector:
        """Fit the mixture to X by EM and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; NaN marks a missing value, inf is an error.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad ``contamination`` (not in (0, 0.5]) or ``threshold`` (not None
            and not a finite number > 0), or bad X.
        """
        contamination = _check_contamination(self.contamination)
        threshold = _check_threshold(self.threshold)
        X = validate_X(self, X, reset=True, min_samples=2, allow_nan=True)
        self.mixture_ = make_mixture(self).fit(X)
        self.n_iter_ = self.mixture_.n_iter_
        if threshold is not None:
            self.offset_ = math.log(threshold)
        else:
            self.offset_ = float(np.percentile(log_density(self.mixture_, X),
                                               100.0 * contamination))
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-density ``log p(x)`` of every row (of the observed coordinates if some are NaN).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Larger is more normal.
        """
        check_is_fitted(self, "mixture_")
        return log_density(self.mixture_, validate_rows(self, X))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers, >= 0 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """-1 for outliers (``p(x) < exp(offset_)``), +1 for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
