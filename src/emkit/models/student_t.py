"""StudentTMixture: mixtures of multivariate t distributions (robust clustering)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._validation import check_real
from ..em.engine import soft_assignment
from ..em.generalized import check_m_step_iterations
from ..families.structures import get_structure
from ..families.student_t import StudentTFamily, StudentTMixtureModel
from ..families.student_t_dof import (
    DEFAULT_DOF_BOUNDS,
    DEFAULT_DOF_INIT,
    check_dof,
    check_dof_bounds,
)
from ..families.student_t_fused import fused_applies
from ._mixture import BaseMixture


class StudentTMixture(BaseMixture):
    """Mixture of multivariate Student-t distributions, fitted by EM.

    Each component k is a multivariate t with location ``means_[k]``, scale
    matrix ``covariances_[k]`` and ``degrees_of_freedom_[k]``: a Gaussian whose
    precision is scaled, row by row, by a latent weight ``u ~ Gamma(nu/2,
    nu/2)``.  Rows far from every component get small weights, so outliers pull
    the locations and scales far less than in a Gaussian mixture (McLachlan &
    Peel 2000, ch. 7; R's ``teigen`` and ``EMMIXskew``).  Small ``nu`` means
    heavy tails; as ``nu`` grows the component tends to a Gaussian.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K.
    covariance_type : str, default="full"
        Structure of the scale matrices, as in :class:`~emkit.GaussianMixture`:
        mclust's 14 models "EII" ... "VVV" ("E"/"V" for one-dimensional data)
        or scikit-learn's "full", "tied", "diag", "spherical".
    dof : "estimate", "shared", float or array-like of shape (n_components,), \
default="estimate"
        Degrees of freedom: estimated per component (``"estimate"``), estimated
        as one value shared by all components (``"shared"``), or fixed to the
        given positive value(s) (e.g. ``dof=4.0``; a very large value gives a
        Gaussian mixture).  Estimation solves a digamma equation in additive
        statistics at every M-step (the ECM update; see Notes).
    dof_init : float or array-like of shape (n_components,), default=4.0
        Starting degrees of freedom when they are estimated (inside
        ``dof_bounds``).  A heavy-tailed start lets the first E-steps
        down-weight gross outliers, which inflate the starting scales of any
        partition that contains them; with a start near Gaussian (say 50) such
        fits more often end in a local optimum where one component covers the
        outliers (measured in tests/test_student_t.py).
    dof_bounds : (float, float), default=(0.1, 200.0)
        Estimated degrees of freedom are kept within these bounds; the upper
        bound stands for "practically Gaussian" (a t with 200 degrees of freedom
        is within a few percent of the normal density near its centre).
    tol : float, default=1e-6
        EM stops when the mean log-likelihood per row changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scale matrix.
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the mixing weights (>= 1; 1 is flat).
    max_iter : int, default=500
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the highest final log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition (an M-step with unit precision weights follows).
    weights_init, means_init, precisions_init : array-like, optional
        Starting values, shapes as ``weights_``, ``means_``, ``precisions_``
        (inverse *scale* matrices); each overrides what ``init_params`` gives.
    labels_init : array-like, optional
        A starting partition: component index per row, or responsibilities.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters.
    verbose : int, default=0
    chunk_size : int or None, default=None
        Rows per E-step chunk (None: a few MB of work arrays).
    accelerate : {"squarem", None, "overrelax"}, default="squarem"
        EM acceleration (:mod:`emkit.em.accelerate`).  Unlike
        :class:`~emkit.GaussianMixture` the default is SQUAREM: the ECM update
        of nu converges linearly, often slowly (rates of 0.9 to 0.99 where nu
        is weakly identified), and SQUAREM, which extrapolates nu too (in log
        scale), reaches the same fixed point in several times fewer passes
        over the data.  ``None`` runs plain EM (``max_iter`` then counts E/M
        steps rather than EM-map evaluations).
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as partial component labels (-1 = unknown).
    schedule, batch_size, learning_decay
        How :meth:`fit` runs EM ("batch", "incremental", "stepwise") and the
        online schedules' block size and step decay, as
        :class:`~emkit.GaussianMixture`; :meth:`partial_fit` is stepwise EM.
        The online schedules need ``accelerate=None`` (SQUAREM, the default,
        accelerates batch EM only).
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.
    assignment, annealing, stochastic_iter, monte_carlo, sparse
        EM variants (classification EM "hard", stochastic EM "stochastic",
        Monte Carlo EM "monte-carlo", deterministic annealing, sparse EM), as
        :class:`~emkit.GaussianMixture` (sparse EM evaluates every component
        of this family: correct, not faster).
    m_step_iterations : int or None, default=None
        Generalized EM for the degrees of freedom (:mod:`emkit.em.generalized`):
        None solves their M-step exactly (Newton's method to convergence);
        an integer k >= 1 takes at most k Newton steps on ``log nu`` from the
        current value, each halved until it does not decrease EM's ``Q``, so
        EM stays monotone and has the same fixed points.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        Locations (the component means when ``nu > 1``).
    covariances_ : ndarray
        **Scale** matrices ``Sigma_k`` (shapes as ``GaussianMixture.covariances_``
        for the same ``covariance_type``).  The covariance of component k is
        ``nu_k / (nu_k - 2) Sigma_k`` when ``nu_k > 2`` (infinite otherwise):
        see :meth:`component_covariances`.
    precisions_ : ndarray
        Inverses of the scale matrices (same shapes).
    precisions_cholesky_ : ndarray
        Cholesky factors of ``precisions_``.
    degrees_of_freedom_ : ndarray of shape (n_components,)
        ``nu_k`` (all equal with ``dof="shared"``; the given values when fixed).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per row of the parameters entering the last iteration.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        The mean log-likelihood at every iteration; never decreases.
    n_features_in_ : int

    Notes
    -----
    **Degrees of freedom.**  EM treats the labels and the precision weights u
    as missing data.  Its M-step for nu maximises the expected complete-data
    log-likelihood: ``log(nu/2) - psi(nu/2) = -S_k / N_k`` with ``S_k =
    sum_i r_ik (E[log u_ik] - E[u_ik] + 1)`` and ``N_k = sum_i r_ik``, a concave
    problem with one root, found by Brent's method (the ECM update of Liu &
    Rubin 1995 and McLachlan & Peel 2000, section 7.5).  ECME instead maximises
    the observed-data likelihood over nu at the updated locations and scales,
    which needs the Mahalanobis distances at those: a second pass over the data
    per iteration.  emkit's M-step sees only statistics summed over chunks (so
    that chunked, out-of-core and online EM work), so it uses the ECM update:
    each iteration is one pass, EM stays exactly monotone and has the same
    fixed points as ECME; SQUAREM (the default ``accelerate``) offsets its
    slower convergence in nu.

    **Missing values** (NaN) are marginalised: the observed coordinates of a
    row follow a t with the same nu and the sub-matrix of the scale; the
    precision weight depends on the observed distance and on the number of
    observed coordinates, and the missing coordinates enter the statistics
    through their conditional means and covariances.

    **Outliers.**  :meth:`precision_weights` gives ``E[u | x]`` per row: values
    well below 1 mark the rows the fit down-weighted.

    **Starting values with gross outliers.**  k-means is not robust: on data
    with gross outliers its partition tends to give the outliers a cluster of
    their own, and EM then stays in that local optimum (a component spent on
    the outliers, as a Gaussian mixture does) although the robust fit has a
    clearly higher likelihood.  Starting from several nearest-seed partitions
    of random rows, ``init_params="random_from_data", n_init=5``, finds the
    robust fit far more often (see docs/student-t.md for the measurements).

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import StudentTMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2)),
    ...                rng.uniform(-30, 30, (20, 2))])        # 5% gross outliers
    >>> tm = StudentTMixture(2, init_params="random_from_data", n_init=5,
    ...                      random_state=0).fit(X)
    >>> [round(m) for m in sorted(tm.means_[:, 0])]
    [0, 6]
    >>> bool(tm.precision_weights(X)[-20:].mean() < 0.2)
    True
    """

    _component_attributes = {  # noqa: RUF012
        "means": "means_",
        "covariances": "covariances_",
        "precisions_cholesky": "precisions_cholesky_",
        "dof": "degrees_of_freedom_",
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        dof="estimate",
        dof_init=DEFAULT_DOF_INIT,
        dof_bounds=DEFAULT_DOF_BOUNDS,
        tol: float = 1e-6,
        reg_covar: float = 1e-6,
        weight_concentration: float = 1.0,
        max_iter: int = 500,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = "squarem",
        semi_supervised: bool = False,
        schedule: str = "batch",
        batch_size: int | None = None,
        learning_decay: float = 0.7,
        verbose_interval: int = 1,
        callback=None,
        checkpoint=None,
        checkpoint_interval: int = 10,
        assignment: str = "soft",
        annealing=None,
        stochastic_iter: int = 100,
        monte_carlo=None,
        sparse=None,
        m_step_iterations: int | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.dof = dof
        self.dof_init = dof_init
        self.dof_bounds = dof_bounds
        self.tol = tol
        self.reg_covar = reg_covar
        self.weight_concentration = weight_concentration
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.accelerate = accelerate
        self.semi_supervised = semi_supervised
        self.schedule = schedule
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.verbose_interval = verbose_interval
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.assignment = assignment
        self.annealing = annealing
        self.stochastic_iter = stochastic_iter
        self.monte_carlo = monte_carlo
        self.sparse = sparse
        self.m_step_iterations = m_step_iterations

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------ checks
    def _dof_init_values(self) -> np.ndarray:
        """Validated ``dof_init`` (K,) inside ``dof_bounds``."""
        low, high = check_dof_bounds(self.dof_bounds)
        try:
            values = np.asarray(self.dof_init, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"dof_init must be a positive number, got {self.dof_init!r}"
                             ) from None
        if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != self.n_components):
            raise ValueError(f"dof_init must be a number or one value per component "
                             f"({self.n_components}), got shape {values.shape}")
        if not (np.isfinite(values).all() and (values >= low).all() and (values <= high).all()):
            raise ValueError(f"dof_init must lie within dof_bounds ({low:g}, {high:g}), "
                             f"got {self.dof_init!r}")
        return np.broadcast_to(values, (self.n_components,)).copy()

    def _check_family_parameters(self) -> None:
        get_structure(self.covariance_type)
        check_real(self.reg_covar, "reg_covar", 0.0)
        check_dof(self.dof, self.n_components)
        self._dof_init_values()
        check_m_step_iterations(self.m_step_iterations)

    def _family(self) -> StudentTFamily:
        check_dof(self.dof, self.n_components)
        return StudentTFamily(self.covariance_type, dof=self.dof, dof_init=self._dof_init_values(),
                              dof_bounds=self.dof_bounds, reg_covar=self.reg_covar,
                              dof_iterations=check_m_step_iterations(
                                  getattr(self, "m_step_iterations", None)))

    def _engine_model(self) -> StudentTMixtureModel:
        return StudentTMixtureModel(self._family(),
                                    weight_concentration=self.weight_concentration)

    def _engine_model_for(self, X) -> StudentTMixtureModel:
        model = self._engine_model()
        model.family.structure.check_n_features(X.shape[1])
        model.family.kernel_work = X.shape[0] * self.n_components
        return model

    def _row_width(self, model, X) -> int:
        D = X.shape[1]
        family = model.family
        if fused_applies(family.structure, D, family.kernel_work) and \
                not self.semi_supervised and not np.isnan(X).any():
            return D + 2
        return family.structure.work_width(self.n_components, D) + 3 * self.n_components

    def _user_initial_values(self, n_features: int) -> dict:
        K = self.n_components
        structure = get_structure(self.covariance_type)
        values = super()._user_initial_values(n_features)
        values["dof"] = self._family().dof_values(K)
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=float)
            if m.shape != (K, n_features):
                raise ValueError(f"means_init must have shape ({K}, {n_features}), got {m.shape}")
            if not np.isfinite(m).all():
                raise ValueError("means_init contains NaN or inf")
            values["means"] = m.copy()
        if self.precisions_init is not None:
            p = np.asarray(self.precisions_init, dtype=float)
            shape = structure.shape(K, n_features)
            if p.shape != shape:
                raise ValueError(
                    f"precisions_init must have shape {shape} for covariance_type="
                    f"{self.covariance_type!r}, got {p.shape}"
                )
            if not np.isfinite(p).all():
                raise ValueError("precisions_init contains NaN or inf")
            values["covariances"], values["precisions_cholesky"] = structure.from_precisions(
                p, K, n_features)
        return values

    def _fitted_matches(self) -> str | None:
        reason = super()._fitted_matches()
        if reason is not None:
            return reason
        structure = get_structure(self.covariance_type)
        fitted_with = getattr(self, "_fitted_structure", structure.name)
        if fitted_with != structure.name:
            return (f"the model was fitted with covariance_type {fitted_with!r}, now "
                    f"{self.covariance_type!r}")
        fitted = self.degrees_of_freedom_
        mode, fixed = check_dof(self.dof, self.n_components)
        low, high = check_dof_bounds(self.dof_bounds)
        if mode == "fixed" and not np.array_equal(
                np.broadcast_to(fixed, fitted.shape), fitted):
            return f"the fitted degrees of freedom {fitted} differ from the fixed dof={self.dof!r}"
        if mode != "fixed" and ((fitted < low).any() or (fitted > high).any()):
            return (f"the fitted degrees of freedom {fitted} lie outside dof_bounds "
                    f"{self.dof_bounds}")
        if mode == "shared" and not (fitted == fitted[0]).all():
            return "the fitted degrees of freedom differ between components but dof='shared'"
        return None

    # ------------------------------------------------------------ fitted state
    def _set_params(self, params, model) -> None:
        super()._set_params(params, model)
        self._fitted_structure = model.family.structure.name
        self.precisions_ = model.family.structure.precisions(params.components.precisions_cholesky)

    # ------------------------------------------------------------ outliers
    def precision_weights(self, X, by_component: bool = False) -> np.ndarray:
        """Expected precision weights ``E[u | x]`` of the rows of X.

        ``u`` scales a row's precision in the scale-mixture form of the t; its
        posterior mean is ``(nu_k + p) / (nu_k + delta_k)`` under component k
        (p observed coordinates, ``delta_k`` the squared Mahalanobis distance
        of the observed part to the component).  Values well below 1 mark rows
        that the fit treats as outlying and down-weights; rows near a
        component's centre get values above 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value.
        by_component : bool, default=False
            Return ``E[u | x, z = k]`` for every component, shape
            (n_samples, n_components), instead of ``E[u | x] = sum_k
            p(k | x) E[u | x, k]``, shape (n_samples,).
        """
        check_is_fitted(self)
        X = self._validate_data(X, reset=False)
        model = self._engine_model()
        params = self._params()
        weights = model.family.precision_weights(params.components, X)
        if by_component:
            return weights
        resp = soft_assignment(model.log_joint(params, X))[1]
        return np.einsum("nk,nk->n", resp, weights)

    def component_covariances(self) -> np.ndarray:
        """Covariance matrices (K, D, D): ``nu_k / (nu_k - 2)`` times the scale matrix.

        Components with ``nu_k <= 2`` have infinite variance: their matrices are ``inf``.
        """
        check_is_fitted(self)
        structure = get_structure(self.covariance_type)
        K, D = self.means_.shape
        out = np.empty((K, D, D))
        for k, nu in enumerate(self.degrees_of_freedom_):
            scale = structure.component_covariance(self.covariances_, k, D)
            out[k] = scale * (nu / (nu - 2.0)) if nu > 2 else np.inf
        return out
