"""GaussianMixture: the scikit-learn estimator on top of the EM engine."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import check_real
from ..em.generalized import check_m_step_iterations
from ..families.gaussian import GaussianMixtureModel, GaussianParams
from ..families.structures import get_structure
from ..init import one_hot
from ..priors import check_prior, observed_moments, resolve_prior
from ..sources import ChunkCheck
from ._base import validate_X
from ._gradient import GradientFitMixin
from ._mixture import INIT_METHODS as MIXTURE_INIT_METHODS
from ._mixture import BaseMixture, clone_with, labelled_start

INIT_METHODS = (*MIXTURE_INIT_METHODS, "hierarchical")
#: Relative rounding noise of a float32 E-step's mean log-likelihood (~16 float32
#: ulps): smaller decreases are not reported by the monotonicity check.
FLOAT32_OBJECTIVE_RTOL = 1e-6
#: With init_params="hierarchical", larger data are initialised from a random
#: subset of this many rows (as mclust.options("subset")).
HIERARCHICAL_SUBSET = 2000


def _mean_imputed(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """X with NaN replaced by weighted column means (X itself when nothing is missing)."""
    missing = np.isnan(X)
    if not missing.any():
        return X
    observed = np.where(missing, 0.0, X)
    means = (weights @ observed) / (weights @ ~missing)
    return np.where(missing, means, X)


class GaussianMixture(GradientFitMixin, BaseMixture):
    """Gaussian mixture fitted by EM, with scikit-learn's API.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default="full"
        Structure of the component covariances: one of mclust's 14 models
        Sigma_k = lambda_k D_k A_k D_k' (volume, orientation, shape) "EII",
        "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE", "EEV",
        "VEV", "EVV", "VVV", or "E", "V" for one-dimensional data; or
        scikit-learn's names "spherical" (= VII), "diag" (= VVI), "tied"
        (= EEE), "full" (= VVV).  See :mod:`emkit.families.structures`.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than this.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance (keeps them positive definite).
    max_iter : int, default=100
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest final log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", \
"hierarchical"}, default="kmeans"
        Starting partition: k-means labels; the nearest-seed partition of
        k-means++ seeds or of random rows; random soft responsibilities; or
        mclust's default, model-based agglomerative hierarchical clustering
        (VVV criterion on the scaled SVD transform, :mod:`emkit.hierarchical`;
        quantile classes for one-dimensional data) cut at ``n_components``
        clusters.  With more than 2000 rows "hierarchical" clusters a random
        subset of 2000 rows, takes one M-step from that partition and starts
        from the resulting responsibilities on all rows (as ``mclustBIC``:
        ``mstep`` on the subset, ``estep`` on all rows).  (scikit-learn starts
        "k-means++" and "random_from_data" from the seed rows alone; emkit
        assigns every row to its nearest seed, which gives sensible starting
        covariances.)
    weights_init, means_init, precisions_init : array-like, optional
        User-given initial parameters; each overrides what ``init_params`` gives.
        Shapes as the fitted ``weights_``, ``means_``, ``precisions_``.
    labels_init : array-like, optional
        A starting partition (like mclust's ``z``): one component index per row
        (0 .. n_components - 1), or responsibilities of shape
        (n_samples, n_components) with rows summing to 1.  EM starts with an
        M-step from it; ``init_params`` is then not used and ``n_init`` must be 1.
    random_state : int, RandomState or None, default=None
        Seeds every random choice (initialisation and restarts).
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters (``n_init`` is then
        1); as in scikit-learn, its first convergence test compares with
        ``lower_bound_``, so plain EM continues exactly where the last fit
        stopped.  With ``checkpoint``, an unfitted estimator resumes from the
        checkpoint file.
    verbose : int, default=0
        > 0: print the iteration, objective, its change and the elapsed time
        every ``verbose_interval`` iterations, and a line when each run ends
        (to stdout, as scikit-learn); >= 2 also prints the accelerators' steps.
    verbose_interval : int, default=1
        Iterations between two verbose lines.
    chunk_size : int or None, default=None
        Rows per chunk in the E-step (None: automatic, a few MB of work arrays).
    accelerate : {None, "squarem", "overrelax"}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`): None for plain EM,
        "squarem" for SQUAREM (Varadhan & Roland 2008, as R's ``squarem``),
        "overrelax" for adaptive over-relaxed EM.  Both reach the same fixed
        point as plain EM with a non-decreasing ``lower_bounds_``, usually with
        far fewer passes over the data when components overlap.  ``tol`` keeps
        its meaning; ``max_iter`` then bounds EM-map evaluations, and
        ``n_iter_`` / ``lower_bounds_`` count / score the accepted steps.
    fixed : tuple of {"weights", "means", "covariances"}, default=()
        Parameter groups held at their initial values (``weights_init``,
        ``means_init``, ``precisions_init``, which must then be given); EM
        estimates the rest (conditional M-steps, still monotone).  Fixed groups
        count as zero free parameters in :meth:`bic` and :meth:`aic`.
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as partial component labels (-1 = unknown).
        Off by default because scikit-learn pipelines pass their *target* as
        ``y`` to every step, and a density model must then ignore it.
    prior : None, "default" or GaussianPrior, default=None
        Conjugate prior for MAP-EM (:mod:`emkit.priors`): "default" is mclust's
        default prior (Fraley & Raftery 2007) computed from the data; a
        :class:`~emkit.priors.GaussianPrior` sets the hyperparameters.  EM then
        maximises the log posterior (``lower_bounds_`` is the log posterior per
        row, still non-decreasing), a fit that is degenerate for maximum
        likelihood (a component on one point) stays finite, and
        :meth:`bic` uses the log-likelihood at the MAP estimate, as mclust.
    schedule : {"batch", "incremental", "stepwise"}, default="batch"
        How :meth:`fit` runs EM (:mod:`emkit.em.online`): "batch" is plain EM
        (one M-step per pass over the data); "incremental" is Neal & Hinton's
        incremental EM: the rows are cut into blocks of ``batch_size``, each
        block's statistics are kept, and every block's E-step is followed by
        an M-step; each step increases the free energy (a lower bound of the
        log-likelihood, recorded in ``lower_bounds_`` and checked for
        monotonicity), which reaches batch EM's fixed points in fewer passes
        on large data.  "stepwise" is stepwise (online) EM over the blocks,
        ``max_iter`` passes in random block order (as :meth:`partial_fit`).
        ``accelerate`` applies to "batch" only.
    batch_size : int or None, default=None
        Rows per block of the "incremental" and "stepwise" schedules (None:
        10,000).  Not used by :meth:`partial_fit` (each call is one batch).
    learning_decay : float, default=0.7
        Exponent ``kappa`` in (0.5, 1] of stepwise EM's step size
        ``(t + 2) ** -kappa`` (:meth:`partial_fit`, ``schedule="stepwise"``):
        1 averages all batches equally; smaller values forget the early
        batches (and the start) faster.
    callback : callable, list of callables or None, default=None
        Called after every iteration with an
        :class:`~emkit.em.progress.IterationInfo` (iteration, objective,
        change, elapsed seconds, current parameters, and
        ``estimator_view()``: a copy of the estimator with them); returning
        True stops the fit (without a ConvergenceWarning).  Objects may also
        have ``start(info)`` and ``finish(info)``;
        :class:`~emkit.em.progress.ProgressBar` draws a tqdm progress bar.
    checkpoint : str, path or None, default=None
        A file to which the run's state is written atomically every
        ``checkpoint_interval`` iterations and when it ends (a ``.npz``
        archive, :mod:`emkit.em.checkpoint`).  A ``warm_start=True`` fit of
        an *unfitted* estimator whose checkpoint file exists continues that run
        exactly (same iterates as if it had never stopped; ``max_iter`` counts
        all its iterations) after checking that it was written by this
        estimator with the same parameters for the same data.  Needs
        ``n_init=1``.
    checkpoint_interval : int, default=10
        Iterations between two checkpoints.
    dtype : {"float64", "float32"} or numpy float type, default="float64"
        Precision of the E-step arithmetic.  "float32" (opt-in) keeps X in
        single precision and runs the log-densities and the per-chunk moment
        GEMMs in float32, about twice as fast for many features; the
        statistics of every chunk are still added in float64 and all
        parameters are float64.  The fitted log-likelihood then typically
        agrees with the float64 fit to ~1e-6 relative; ``score_samples`` and
        ``predict_proba`` are computed in the same precision.
    assignment : {"soft", "hard", "stochastic", "monte-carlo"}, default="soft"
        The E-step (:mod:`emkit.em.variants`, ``docs/variants.md``): "soft" is
        EM (maximises the log-likelihood); "hard" is classification EM
        (Celeux & Govaert 1992): each row goes to its most probable
        component, which maximises the classification log-likelihood
        ``sum_i log pi_z_i p(x_i | z_i)`` (``lower_bounds_`` is that, per row,
        non-decreasing; not the log-likelihood); "stochastic" is stochastic
        EM: ``stochastic_iter`` iterations drawing each row's component from
        its posterior (seeded by ``random_state``), then plain EM (at most
        ``max_iter`` iterations) from the iterate with the highest
        log-likelihood, so the fit ends at a fixed point of EM;
        "monte-carlo" is Monte Carlo EM (Wei & Tanner 1990): ``stochastic_iter``
        iterations whose statistics come from ``S_t`` posterior draws per row
        (``monte_carlo``), then plain EM from the iterate with the highest
        log-likelihood.  ``accelerate`` does not apply to "hard"; with
        "stochastic" and "monte-carlo" it applies to the final EM only.
    annealing : None, True, dict or Annealing, default=None
        Deterministic annealing EM (Ueda & Nakano 1998): levels of tempered
        E-steps ``r_ik ∝ (pi_k p(x_i | k)) ** beta`` with ``beta`` from
        ``beta0`` growing by ``growth`` while below 1, at most ``n_iter``
        iterations each, then plain EM to convergence (``max_iter``; with
        ``accelerate``, accelerated).  True uses
        ``{"beta0": 0.5, "growth": 1.2, "n_iter": 50}``; a dict sets some of
        them (a small ``beta0`` merges Gaussian components whose covariances
        are estimated: see ``docs/variants.md``).  Each level never
        decreases its annealed free energy (checked); ``lower_bounds_`` holds
        it for the levels' iterations, then the log-likelihood; ``phases_``
        describes the phases.
    stochastic_iter : int, default=100
        Stochastic or Monte Carlo EM iterations before plain EM
        (``assignment="stochastic"`` or ``"monte-carlo"``).
    monte_carlo : None, int, dict or emkit.em.variants.MonteCarloEM, default=None
        Draws per row of Monte Carlo EM: ``S_t = min(ceil(draws * growth **
        (t - 1)), max_draws)`` at MCEM iteration t; None is ``{"draws": 10,
        "growth": 1.2, "max_draws": 1000}``, an int a constant number of
        draws.  ``phases_[0]`` records ``n_draws`` and ``mc_standard_error``
        (the Monte Carlo standard error, per row, of the estimated expected
        complete-data log-likelihood) per iteration.
    sparse : None, True, int, dict or emkit.em.sparse.SparseEM, default=None
        Sparse EM (Neal & Hinton 1998): every row keeps its ``n_active``
        most responsible components (an int sets it; default 4); between
        full E-steps, every ``full_every`` (default 10) iterations, only
        their log-densities are computed and their responsibilities
        renormalised with the others' frozen, then the M-step.  The
        monitored objective (``lower_bounds_`` of the sparse phase) is the free
        energy it maximises, a lower bound of the log-likelihood, never
        decreasing (checked); plain EM then runs to convergence (at most
        ``max_iter`` iterations per phase; ``accelerate`` applies to it), so
        the fit ends at a fixed point of EM.  Faster per iteration for many
        components (compiled kernels for the diagonal, full and tied models
        with numba; NumPy for the diagonal and per-component full ones); chunks
        with missing values evaluate every component (correct, not faster).
        Works on Dask sources: each block's active lists stay on the worker
        that computed it (:mod:`emkit.em.sparse_dask`).
        Labelled rows (``semi_supervised``) keep their component.  Refused with
        Dask sources, ``checkpoint`` and other assignments.
    fit_method : {"em", "gradient"}, default="em"
        "em" fits by EM; "gradient" maximises the log-likelihood (the log
        posterior with a ``prior``) directly with scipy's L-BFGS-B
        (:mod:`emkit.em.gradient`) over an unconstrained parametrisation
        (softmax logits for the weights, free means, log-Cholesky factors
        ``C`` of the covariances, :mod:`emkit.families.gaussian_gradient`;
        for mclust's constrained models log-volumes, zero-sum log-shapes and
        rotations, :mod:`emkit.families.gaussian_gradient_constrained`) with
        analytic gradients, from the same start as EM.  ``reg_covar`` is
        added to every covariance the parameters build (``Sigma = C C' +
        reg_covar I``; for the constrained models the model's equalities hold
        for ``Sigma - reg_covar I``), so with ``reg_covar > 0`` the optimum
        differs from EM's fixed point by O(``reg_covar``) (they agree for
        ``reg_covar=0``).  ``n_iter_`` counts L-BFGS-B iterations (each
        evaluates the objective and its gradient about once: one pass over the
        data, as an EM iteration), ``lower_bounds_`` the mean log-likelihood
        (log posterior) after each, ``lower_bound_`` the final one; ``tol`` is
        EM's rule (change of the mean objective between iterations).  Supports
        every covariance_type (the scikit-learn four and mclust's 14 models),
        ``prior``, ``fixed`` (the fixed groups drop out of the optimisation),
        sample weights, missing values and ``semi_supervised``; not float32,
        ``accelerate``, ``m_step_iterations``, the other EM variants,
        ``schedule`` or ``checkpoint``.
    m_step_iterations : int or None, default=None
        Generalized EM for mclust's covariance models whose M-step is an
        inner iteration (VEI, VEE, EVE, VVE, VEV; :mod:`emkit.em.generalized`):
        None runs it to convergence in every M-step; an integer k >= 1 runs
        at most k rounds from the current covariances, each of which does not
        decrease EM's ``Q``, so EM stays monotone and has the same fixed
        points.  The other covariance models' M-steps are in closed form and
        do not use it.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical; mclust's
        other models store (K,) for EII/E/V, (K, D) for EEI/VEI/EVI and
        (K, D, D) for the rest.
    precisions_ : ndarray
        Inverses of ``covariances_`` (same shapes).
    precisions_cholesky_ : ndarray
        Cholesky factors P of the precisions, P @ P.T = precision (same shapes).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean objective per sample of the parameters entering the last
        iteration (as scikit-learn reports it): the log-likelihood (the log
        posterior with a ``prior``), except with ``assignment="hard"``
        (the classification log-likelihood).  Every schedule that ends with
        plain EM (annealing, stochastic, Monte Carlo, sparse) ends with the
        log-likelihood.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        The monitored objective at every iteration (the quantity each
        iteration maximises; ``docs/variants.md`` has the table): the mean
        log-likelihood for EM, never decreasing.  With
        ``schedule="incremental"`` and in the phase of ``sparse`` EM the free
        energy (a lower bound of the log-likelihood, never decreasing); in
        ``annealing`` levels the annealed free energy (never decreasing within
        a level); in stochastic and Monte Carlo EM phases the log-likelihood
        (not monotone, not checked); with "stepwise" each pass's running
        estimate (not monotone).
    n_steps_ : int
        After :meth:`partial_fit` or a "stepwise" fit: mini-batches folded in.
    phases_ : list of dict
        Only after a fit with ``annealing``, ``sparse`` or ``assignment``
        "stochastic" or "monte-carlo":
        each phase's ``name`` ("anneal", "stochastic", "em"), ``beta``,
        ``n_iter``, ``converged`` and ``objective_history`` (their iterations
        together are ``n_iter_`` and ``lower_bounds_``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Notes
    -----
    Empty components: a component that receives no responsibility keeps its
    previous mean and covariance with weight ~0 (a ``UserWarning`` names it).
    Collapsing components: if a covariance stops being positive definite,
    :class:`~emkit.exceptions.DegenerateComponentError` (a ``ValueError``) names
    the component and suggests a larger ``reg_covar`` or fewer components.

    Examples
    --------
    >>> from emkit import GaussianMixture
    >>> from emkit.datasets import load_faithful
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(load_faithful())
    >>> gm.means_.round(1)
    array([[ 2. , 54.5],
           [ 4.3, 80. ]])
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
        weights_init=None,
        means_init=None,
        precisions_init=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
        fixed=(),
        semi_supervised: bool = False,
        prior=None,
        dtype="float64",
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
        fit_method: str = "em",
        m_step_iterations: int | None = None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
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
        self.fixed = fixed
        self.semi_supervised = semi_supervised
        self.prior = prior
        self.dtype = dtype
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
        self.fit_method = fit_method
        self.m_step_iterations = m_step_iterations

    _init_methods = INIT_METHODS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ checks
    def _dtype(self) -> type:
        """The validated ``dtype``: numpy.float64 or numpy.float32."""
        try:
            dtype = np.dtype(self.dtype)
        except TypeError:
            dtype = None
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        return dtype.type

    def _check_family_parameters(self) -> None:
        get_structure(self.covariance_type)
        check_real(self.reg_covar, "reg_covar", 0.0)
        self._fixed_groups()
        check_prior(self.prior)
        self._dtype()
        check_m_step_iterations(self.m_step_iterations)

    def _fixed_groups(self) -> frozenset:
        """Validated ``fixed``: known groups, each with its initial value given."""
        fixed = (self.fixed,) if isinstance(self.fixed, str) else self.fixed
        try:
            groups = frozenset(fixed)
        except TypeError:
            raise ValueError(
                f"fixed must be a tuple of parameter groups, got {self.fixed!r}"
            ) from None
        needs = {"weights": "weights_init", "means": "means_init",
                 "covariances": "precisions_init"}
        unknown = groups - needs.keys()
        if unknown:
            raise ValueError(
                f"fixed must contain only {sorted(needs)}, got {sorted(map(str, unknown))}"
            )
        for group in sorted(groups):
            if getattr(self, needs[group]) is None:
                raise ValueError(
                    f"fixed contains {group!r} but {needs[group]} is not given: a fixed "
                    "group is held at its initial value, so provide it"
                )
        return groups

    def _user_initial_values(self, n_features: int) -> dict:
        K = self.n_components
        structure = get_structure(self.covariance_type)
        values = super()._user_initial_values(n_features)
        if self.means_init is not None:
            m = np.asarray(self.means_init, dtype=float)
            if m.shape != (K, n_features):
                raise ValueError(f"means_init must have shape ({K}, {n_features}), got {m.shape}")
            if not np.isfinite(m).all():
                raise ValueError("means_init contains NaN or inf")
            values["means"] = m
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
                p, K, n_features
            )
        return values

    def _fitted_matches(self) -> str | None:
        reason = super()._fitted_matches()
        structure = get_structure(self.covariance_type)
        fitted_with = getattr(self, "_fitted_structure", structure.name)
        if reason is None and fitted_with != structure.name:
            reason = (f"the model was fitted with covariance_type {fitted_with!r}, now "
                      f"{self.covariance_type!r}")
        if reason is None:
            shape = structure.shape(*self.means_.shape)
            if np.shape(self.covariances_) != shape:
                reason = (f"the fitted covariances have shape {np.shape(self.covariances_)}, "
                          f"not {shape} as covariance_type={self.covariance_type!r} needs")
        return reason

    def _hierarchical_start(self, X, w, rng) -> np.ndarray:
        """Starting responsibilities as mclust's: hierarchical partition (subset if large)."""
        from ..hierarchical import initial_partition

        K = self.n_components
        if X.shape[0] <= HIERARCHICAL_SUBSET:
            return one_hot(initial_partition(X, K), K)
        rows = np.sort(rng.choice(X.shape[0], size=HIERARCHICAL_SUBSET, replace=False))
        subset_fit = clone_with(
            self, labels_init=initial_partition(X[rows], K), init_params="kmeans",
            n_init=1, warm_start=False, semi_supervised=False, verbose=0, max_iter=0,
        ).fit(X[rows], sample_weight=w[rows])
        return subset_fit.predict_proba(X)

    # -------------------------------------------------------------- fitting
    # -------------------------------------------------------------- fitting
    def _validate_data(self, X, *, reset: bool):
        return validate_X(self, X, reset=reset, min_samples=2 if reset else 1,
                          allow_nan=True, dtype=self._dtype())

    def _engine_model(self) -> GaussianMixtureModel:
        model = GaussianMixtureModel(self.covariance_type, self.reg_covar,
                                     fixed=self._fixed_groups())
        model.m_step_iterations = check_m_step_iterations(
            getattr(self, "m_step_iterations", None))
        return model

    def _engine_model_for(self, X) -> GaussianMixtureModel:
        model = self._engine_model()
        model.structure.check_n_features(X.shape[1])
        model.kernel_work = X.shape[0] * self.n_components
        model.whole_loop = True  # small plain fits: one compiled EM loop
        if X.dtype == np.float32:
            model.objective_rtol = FLOAT32_OBJECTIVE_RTOL
        return model

    def _chunk_check(self) -> ChunkCheck:
        return ChunkCheck(self._dtype(), allow_nan=True, n_components=self.n_components)

    def _prepare(self, model, X, source, sample=None) -> None:
        prior = check_prior(self.prior)
        if prior is not None:
            moments = source.moments()
            if source.has_missing():
                # the defaults (mean, scale) from the observed entries; MAP-EM then runs
                # the posterior M-step on the expected statistics of the missing-data E-step
                rows = source if sample is None else sample
                mean, covariance = observed_moments(rows.X, rows.sample_weight)
                moments = (mean, covariance, moments[2])
            model.prior = resolve_prior(prior, X, None, self.n_components, model.structure,
                                        moments=moments)

    def _row_width(self, model: GaussianMixtureModel, X: np.ndarray) -> int:
        """Floats of E-step work per row, which sets the default chunk size.

        The fused kernels form no (rows x K) arrays, so complete data that they
        serve get larger chunks (fewer per-chunk overheads); widths count
        float64, so float32 rows get twice as many rows per chunk.
        """
        D = X.shape[1]
        if model.fused_applies(D) and not self.semi_supervised and not np.isnan(X).any():
            return D + 2
        width = model.structure.work_width(self.n_components, D)
        # float32 work arrays take half the bytes: twice the rows for the same memory
        return max(1, width // 2) if X.dtype == np.float32 else width

    def _init_view(self, model, source) -> np.ndarray:
        # initialisers see missing values filled with the (weighted) column means
        return _mean_imputed(source.X, source.sample_weight)

    def _initial_responsibilities(self, model, source, rng) -> np.ndarray:
        if self.labels_init is None and self.init_params == "hierarchical":
            return self._hierarchical_start(self._init_view(model, source),
                                            source.sample_weight, rng)
        return super()._initial_responsibilities(model, source, rng)

    def _initial_params(self, model, source, rng, user: dict) -> GaussianParams:
        values = {}
        if not {"weights", "means", "covariances"} <= user.keys():
            resp = self._initial_responsibilities(model, source, rng)
            X, w = self._init_view(model, source), source.sample_weight
            if source.labels is not None:
                resp = labelled_start(X, w, source.labels, resp, self.n_components,
                                      source.chunk_size)
            start = model.params_from_responsibilities(X, w, resp, source.chunk_size)
            values = dataclasses.asdict(start)
        values.update(user)
        return GaussianParams(**values)

    def _set_params(self, params: GaussianParams, model: GaussianMixtureModel) -> None:
        self._fitted_structure = model.structure.name
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = model.structure.precisions(params.precisions_cholesky)

    def _params(self) -> GaussianParams:
        return GaussianParams(
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_
        )

    def _gradient_unsupported(self) -> str | None:
        from ..families.gaussian_gradient import gradient_supported

        if not gradient_supported(self.covariance_type):
            return f"has no parametrisation of covariance_type {self.covariance_type!r}"
        if getattr(self, "m_step_iterations", None) is not None:
            return ("has no M-step; it does not combine with m_step_iterations (generalized "
                    "EM: use fit_method='em')")
        if self._dtype() is not np.float64:
            return ("needs dtype='float64' (a float32 E-step's rounding would stall the "
                    "line searches)")
        return None

    def _gradient_parametrisation(self, model, params):
        from ..families.gaussian_gradient import parametrise

        return parametrise(model, params)

    # ------------------------------------------------------ model selection
    def _n_parameters(self) -> int:
        return self._engine_model().n_parameters(self.n_components, self.means_.shape[1])
