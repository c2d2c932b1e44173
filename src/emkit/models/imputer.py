"""GaussianMixtureImputer: fill missing values with a Gaussian mixture fitted by EM."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import validate_X
from ._mixture_inference import complete, generator_from, make_mixture, validate_rows


class GaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) from a Gaussian mixture fitted by EM on the incomplete data.

    :meth:`fit` fits a :class:`~emkit.GaussianMixture` to X by EM, marginalising
    the missing entries (missing at random); the fitted mixture is
    ``mixture_``.  :meth:`transform` returns a copy of X in which every NaN is
    replaced, given the observed entries x_O of its row, by

    * the conditional mean (default)::

          E[x_M | x_O] = sum_k p(k | x_O) (mu_kM + Sigma_kMO Sigma_kOO^{-1} (x_O - mu_kO))

      the best prediction in squared error under the model; or
    * with ``sample_posterior=True``, a draw from ``p(x_M | x_O)``: a component
      k ~ p(k | x_O), then x_M from component k's Gaussian conditional.  Repeat
      with different ``random_state`` values for *multiple imputation*: the
      spread between the completed data sets reflects the uncertainty of the
      imputed values, which a single conditional-mean imputation understates.

    Observed entries are never changed.  A row with nothing observed gets the
    mixture mean ``sum_k pi_k mu_k`` (or a draw from the mixture).  Input
    without NaN comes back unchanged (as a float64 copy).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.  With 1 the imputation is the classical
        multivariate-normal (EM) imputation, linear in the observed values.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Component covariance structure.  Within a component, "diag" and
        "spherical" make the features independent, so the observed values then
        inform the imputation only through ``p(k | x_O)``.
    tol, reg_covar, max_iter, n_init, init_params
        Passed to the :class:`~emkit.GaussianMixture` (same meaning and defaults).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the mixture's fit and, with ``sample_posterior=True``, the draws.
        An int gives the same draws on every ``transform`` call.
    sample_posterior : bool, default=False
        Draw the missing values from their conditional distribution instead of
        using the conditional mean.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The mixture fitted to the incomplete training data.
    n_iter_ : int
        EM iterations of the mixture's best initialisation (``mixture_.n_iter_``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : imputation by chained regressions.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import GaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 7.9], [np.nan, 10.0]])
    >>> GaussianMixtureImputer().fit_transform(X).round(1)
    array([[ 1. ,  2. ],
           [ 2. ,  4.1],
           [ 3. ,  6. ],
           [ 4. ,  7.9],
           [ 5.1, 10. ]])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state: Any = None,
        sample_posterior: bool = False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.sample_posterior = sample_posterior

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _check_parameters(self) -> None:
        if not isinstance(self.sample_posterior, (bool, np.bool_)):
            raise ValueError(
                f"sample_posterior must be True or False, got {self.sample_posterior!r}"
            )

    def fit(self, X: Any, y: Any = None) -> GaussianMixtureImputer:
        """Fit the Gaussian mixture to X by EM (NaN entries are missing values).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Every column needs at least one observed value; inf is an error.
        y : ignored

        Returns
        -------
        self
        """
        self._check_parameters()
        X = validate_X(self, X, reset=True, min_samples=2, allow_nan=True)
        self.mixture_ = make_mixture(self).fit(X)
        self.n_iter_ = self.mixture_.n_iter_
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Replace every NaN of X by its conditional mean (or a conditional draw).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Same features as in :meth:`fit`.  Any entry may be NaN (a column may
            even be missing in every row); inf is an error.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            A completed copy of X; observed entries are unchanged.
        """
        check_is_fitted(self, "mixture_")
        self._check_parameters()
        X = validate_rows(self, X)
        rng = generator_from(self.random_state) if self.sample_posterior else None
        return complete(self.mixture_, X, rng)
