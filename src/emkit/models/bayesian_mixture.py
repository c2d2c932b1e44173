"""BayesianGaussianMixture: variational Bayes on the EM engine (scikit-learn's API and names)."""

from __future__ import annotations

import numpy as np

from .._validation import check_option, check_real
from ..families.variational import VariationalGaussianModel, VariationalParams, VariationalPrior
from ._mixture import BaseMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WEIGHT_PRIORS = ("dirichlet_process", "dirichlet_distribution")
#: A component counts as effective when its expected number of rows is at least this.
EFFECTIVE_COUNT = 1.0


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian Gaussian mixture, fitted by coordinate ascent on the ELBO.

    The posterior over the weights, means and precisions is approximated by
    conjugate factors (see :mod:`emkit.families.variational`); with a
    (truncated) Dirichlet-process prior the unneeded components get
    vanishing weights, so ``n_components`` is an upper bound and
    :attr:`n_effective_components_` what the data support.  Parameter and
    attribute names are scikit-learn's; ``lower_bounds_`` is the evidence lower
    bound per row, which never decreases.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Stop when the ELBO per row changes by less than this.
    reg_covar : float, default=1e-6
        Added to the empirical covariances in each update (scikit-learn's
        rule); the monotonicity check allows for its exact effect.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float or None, default=None
        gamma of the stick-breaking Beta(1, gamma) priors, or the symmetric
        Dirichlet's concentration; None is ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        beta_0 (None: 1).
    mean_prior : array-like of shape (n_features,) or None, default=None
        m_0 (None: the mean of X).
    degrees_of_freedom_prior : float or None, default=None
        nu_0 (None: n_features; must exceed n_features - 1).
    covariance_prior : float or array-like or None, default=None
        The prior's scale: (D, D) for "full"/"tied", (D,) for "diag", a float
        for "spherical" (None: the empirical covariance of X, its diagonal, or
        the mean variance).
    labels_init : array-like, optional
        Starting responsibilities (n_samples, n_components) or a partition:
        the first update of q(theta) is taken from them (as scikit-learn
        initialises from k-means labels).
    random_state, warm_start, verbose, chunk_size
        As :class:`~emkit.GaussianMixture`.
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Expected weights under q(pi).
    weight_concentration_ : ndarray or tuple of two ndarrays
    mean_precision_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    degrees_of_freedom_ : ndarray of shape (n_components,) (a float for "tied")
    covariances_, precisions_, precisions_cholesky_ : ndarray
        The inverse expected precisions ``E[Lambda]^{-1}``, ``E[Lambda]`` and
        its Cholesky factor, in scikit-learn's shapes.
    n_effective_components_ : int
        Components whose expected number of rows is at least 1.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The prior's hyperparameters used (defaults resolved from X).
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_

    Notes
    -----
    For "full" covariances the updates are scikit-learn's, so from the same
    starting responsibilities the fitted attributes agree with
    ``sklearn.mixture.BayesianGaussianMixture`` to 1e-8 or better.  For "tied",
    "diag" and "spherical" scikit-learn's steps are not exact variational
    inference and emkit's results differ by design
    (:mod:`emkit.families.variational` says how).  ``lower_bound_`` is the true
    ELBO per row (scikit-learn's drops constant terms and is not per row).
    """

    _component_attributes = {}  # noqa: RUF012

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
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior=None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        verbose_interval: int = 1,
        callback=None,
        checkpoint=None,
        checkpoint_interval: int = 10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.verbose_interval = verbose_interval
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval

    #: Variational Bayes is not accelerated (the bound is the monitored objective).
    accelerate = None
    semi_supervised = False

    # ------------------------------------------------------------------ checks
    def _check_family_parameters(self) -> None:
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_option(self.weight_concentration_prior_type, "weight_concentration_prior_type",
                     WEIGHT_PRIORS)
        check_real(self.reg_covar, "reg_covar", 0.0)
        for name in ("weight_concentration_prior", "mean_precision_prior"):
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, 0.0, strict=True)

    def _validate_data(self, X, *, reset: bool):
        from ._base import validate_X

        return validate_X(self, X, reset=reset, min_samples=2 if reset else 1)

    def _resolve_prior(self, X: np.ndarray) -> VariationalPrior:
        D = X.shape[1]
        K = self.n_components
        mean = (X.mean(axis=0) if self.mean_prior is None
                else np.asarray(self.mean_prior, dtype=float))
        if mean.shape != (D,) or not np.isfinite(mean).all():
            raise ValueError(f"mean_prior must be {D} finite numbers, got shape {mean.shape}")
        nu0 = D if self.degrees_of_freedom_prior is None else check_real(
            self.degrees_of_freedom_prior, "degrees_of_freedom_prior", D - 1.0, strict=True)
        if self.covariance_prior is None:
            covariance = {
                "full": np.atleast_2d(np.cov(X.T)), "tied": np.atleast_2d(np.cov(X.T)),
                "diag": np.var(X, axis=0, ddof=1),
                "spherical": float(np.var(X, axis=0, ddof=1).mean()),
            }[self.covariance_type]
        else:
            covariance = self._check_covariance_prior(D)
        return VariationalPrior(
            weight_concentration=(1.0 / K if self.weight_concentration_prior is None
                                  else float(self.weight_concentration_prior)),
            dirichlet_process=self.weight_concentration_prior_type == "dirichlet_process",
            mean_precision=(1.0 if self.mean_precision_prior is None
                            else float(self.mean_precision_prior)),
            mean=mean, degrees_of_freedom=float(nu0), covariance=covariance)

    def _check_covariance_prior(self, D: int):
        value = np.asarray(self.covariance_prior, dtype=float)
        expected = {"full": (D, D), "tied": (D, D), "diag": (D,), "spherical": ()}[
            self.covariance_type]
        if value.shape != expected or not np.isfinite(value).all():
            raise ValueError(f"covariance_prior must have shape {expected} for "
                             f"covariance_type={self.covariance_type!r}, got {value.shape}")
        if value.ndim == 2:
            if not np.allclose(value, value.T) or np.linalg.eigvalsh(value).min() <= 0:
                raise ValueError("covariance_prior must be symmetric positive definite")
        elif (value <= 0).any():
            raise ValueError("covariance_prior must be positive")
        return float(value) if value.ndim == 0 else value

    # ------------------------------------------------------------------ model
    def _fitted_prior(self) -> VariationalPrior:
        """The prior the fit used (scikit-learn's ``*_prior_`` attributes)."""
        return VariationalPrior(
            weight_concentration=self.weight_concentration_prior_,
            dirichlet_process=self.weight_concentration_prior_type == "dirichlet_process",
            mean_precision=self.mean_precision_prior_, mean=self.mean_prior_,
            degrees_of_freedom=self.degrees_of_freedom_prior_,
            covariance=self.covariance_prior_)

    def _engine_model(self) -> VariationalGaussianModel:
        return VariationalGaussianModel(self.covariance_type, self._fitted_prior(),
                                        self.reg_covar)

    def _engine_model_for(self, X) -> VariationalGaussianModel:
        prior = self._resolve_prior(X)
        self.weight_concentration_prior_ = prior.weight_concentration
        self.mean_precision_prior_ = prior.mean_precision
        self.mean_prior_ = prior.mean
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom
        self.covariance_prior_ = prior.covariance
        model = VariationalGaussianModel(self.covariance_type, prior, self.reg_covar)
        model.kernel_work = X.shape[0] * self.n_components
        return model

    def _init_view(self, model, source) -> np.ndarray:
        return source.X

    def _prepare(self, model, X, source, sample=None) -> None:
        """Nothing to prepare: the prior is resolved from X in :meth:`_engine_model_for`
        (the variational model has no component family to prepare)."""

    def _row_width(self, model, X) -> int:
        return model.structure.work_width(self.n_components, X.shape[1])

    def _initial_params(self, model, source, rng, user: dict) -> VariationalParams:
        resp = self._initial_responsibilities(model, source, rng)
        return model.params_from_responsibilities(source.X, source.sample_weight, resp,
                                                  source.chunk_size)

    def _fitted_matches(self) -> str | None:
        fitted = getattr(self, "means_", None)
        if fitted is not None and fitted.shape[0] != self.n_components:
            return (f"the fitted model has {fitted.shape[0]} components but "
                    f"n_components={self.n_components}")
        if getattr(self, "_fitted_type", self.covariance_type) != self.covariance_type:
            return f"the model was fitted with covariance_type {self._fitted_type!r}"
        return None

    # ------------------------------------------------------------------ state
    def _set_params(self, params: VariationalParams, model) -> None:
        self._fitted_type = self.covariance_type
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.means_ = params.means
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = model.structure.precisions(params.precisions_cholesky)
        if model.prior.dirichlet_process:
            a, b = params.weight_concentration
            sticks = a / (a + b)
            weights = sticks * np.concatenate([[1.0], np.cumprod(1.0 - sticks)[:-1]])
        else:
            weights = np.asarray(params.weight_concentration, dtype=float)
        self.weights_ = weights / weights.sum()
        counts = params.mean_precision - model.prior.mean_precision
        self.n_effective_components_ = int((counts >= EFFECTIVE_COUNT).sum())

    def _params(self) -> VariationalParams:
        return VariationalParams(self.weight_concentration_, self.mean_precision_, self.means_,
                                 self.degrees_of_freedom_, self.covariances_,
                                 self.precisions_cholesky_)

    def _n_parameters(self) -> int:
        from ..families.structures import get_structure

        K, D = self.means_.shape
        return K - 1 + K * D + get_structure(self.covariance_type).n_parameters(K, D)
