"""RegressionMixture: K regressions with a hidden regime (mixtools regmixEM, flexmix FLXMRglm)."""

from __future__ import annotations

import numpy as np

from ..em.generalized import check_m_step_iterations
from ..families.mixture import MixtureParams
from ..families.regression import Design
from ._conditional import ConditionalMixture, pack_coefficients
from ._mixture import random_generator


class RegressionMixture(ConditionalMixture):
    """Mixture of K regressions fitted by EM: ``p(y | x) = sum_k pi_k p(y | x, beta_k)``.

    Parameters
    ----------
    n_components : int, default=2
        Number of regimes K.
    family : {"gaussian", "binomial", "poisson"}, default="gaussian"
        The regression in each component: linear with Gaussian noise (y may
        have several columns), logistic (y in {0, 1}) or Poisson with a log
        link (y a count).  GLM components are fitted by weighted IRLS in the
        M-step (Newton steps with step halving on the expected log-likelihood,
        so EM stays monotone).
    fit_intercept : bool, default=True
    noise : {"component", "common"}, default="component"
        Gaussian family: one noise variance (covariance for several targets)
        per component, or one shared by all.
    ridge : float, default=0.0
        Ridge penalty on the coefficients (not the intercept), a Gaussian
        prior: MAP-EM.  For the Gaussian family the prior's scale is the
        component's noise variance (``||beta||^2 / (2 sigma^2 / ridge)``), so the
        coefficient M-step is exactly a weighted ridge regression.
    variance_floor : float, default=0.0
        Gaussian family: smallest noise variance a component may take (0: no
        floor; a component that interpolates its rows then raises
        :class:`~emkit.exceptions.DegenerateComponentError`).
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the weights (>= 1; 1 = maximum likelihood).
    tol : float, default=1e-8
        EM stops when the mean objective per pair changes by less than this.
    max_iter : int, default=1000
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition, found on the standardised (x, y) pairs.
    weights_init : array-like of shape (n_components,), optional
    coef_init, intercept_init, noise_variance_init : array-like, optional
        Starting coefficients, intercepts (needed when ``fit_intercept``) and
        noise variances (Gaussian family), shaped as the fitted attributes.
        When all are given (with ``weights_init``), EM starts from them (as
        mixtools' ``regmixEM(beta=, sigma=, lambda=)``).
    labels_init : array-like, optional
        A starting partition (one regime index per row, or responsibilities):
        EM starts with an M-step from it.
    random_state, warm_start, verbose, chunk_size, accelerate
        As :class:`~emkit.GaussianMixture`.
    schedule, batch_size, learning_decay
        How :meth:`fit` runs EM ("batch", "incremental", "stepwise") and the
        online schedules' block size and step decay, as
        :class:`~emkit.GaussianMixture`; :meth:`partial_fit` is stepwise EM on
        (x, y) batches (Gaussian family only: GLM regimes need the data).
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.
    assignment, annealing, stochastic_iter
        EM variants (classification EM "hard", stochastic EM "stochastic",
        deterministic annealing of the regime posterior), as
        :class:`~emkit.GaussianMixture`.
    m_step_iterations : int or None, default=None
        Generalized EM for ``family="binomial"`` / ``"poisson"``
        (:mod:`emkit.em.generalized`): None runs the regimes' Newton
        iterations to convergence in every M-step; an integer k >= 1 takes at
        most k steps from the current coefficients, each halved until it does
        not decrease EM's ``Q`` (monotone, the same fixed points, fewer passes
        over the data per M-step).  The "gaussian" family's M-step is in
        closed form and does not use it.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    coef_ : ndarray of shape (n_components, n_features) (or (n_components, n_targets, n_features))
    intercept_ : ndarray of shape (n_components,) (or (n_components, n_targets))
    noise_variance_ : ndarray of shape (n_components,) (or (n_components, n_targets, n_targets))
        Gaussian family only.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_
        As :class:`~emkit.GaussianMixture`; ``lower_bounds_`` is the mean log
        p(y | x) per pair (plus the log prior with ``ridge``).

    Notes
    -----
    ``predict(X)`` is the mixture mean ``sum_k pi_k E[y | x, k]``;
    :meth:`predict_components` gives every regime's prediction, and
    :meth:`predict_proba` the posterior of the regime of each (x, y) pair.
    ``score(X, y)`` is the R^2 of ``predict`` (scikit-learn's regressor
    convention); :meth:`score_samples` gives log p(y | x).

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import RegressionMixture
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 10, 400)
    >>> regime = rng.integers(2, size=400)
    >>> y = np.where(regime == 0, 1 + 2 * x, 20 - x) + rng.normal(0, 0.5, 400)
    >>> rm = RegressionMixture(2, random_state=0, n_init=5).fit(x[:, None], y)
    >>> np.sort(rm.coef_.ravel()).round(1)
    array([-1.,  2.])
    """

    _component_attributes = {}  # noqa: RUF012

    def __init__(
        self,
        n_components: int = 2,
        *,
        family: str = "gaussian",
        fit_intercept: bool = True,
        noise: str = "component",
        ridge: float = 0.0,
        variance_floor: float = 0.0,
        weight_concentration: float = 1.0,
        tol: float = 1e-8,
        max_iter: int = 1000,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        coef_init=None,
        intercept_init=None,
        noise_variance_init=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
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
        m_step_iterations: int | None = None,
    ):
        self.n_components = n_components
        self.family = family
        self.fit_intercept = fit_intercept
        self.noise = noise
        self.ridge = ridge
        self.variance_floor = variance_floor
        self.weight_concentration = weight_concentration
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.coef_init = coef_init
        self.intercept_init = intercept_init
        self.noise_variance_init = noise_variance_init
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.accelerate = accelerate
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
        self.m_step_iterations = m_step_iterations

    # ------------------------------------------------------------------ family
    def _check_family_parameters(self) -> None:
        super()._check_family_parameters()
        check_m_step_iterations(self.m_step_iterations)

    def _engine_model(self):
        model = super()._engine_model()
        model.m_step_iterations = check_m_step_iterations(
            getattr(self, "m_step_iterations", None))
        return model

    def _expert_design(self) -> Design:
        D, m = self.n_features_in_, self._n_targets
        return Design(tuple(range(D)), tuple(range(D, D + m)), bool(self.fit_intercept))

    def _row_width(self, model, Z) -> int:
        p = self.n_features_in_ + 1
        return self.n_components * (self._n_targets + 2) + p * (self._n_targets + 1)

    def _user_initial_values(self, n_features: int) -> dict:
        values = super()._user_initial_values(n_features)
        K, D, m = self.n_components, self.n_features_in_, self._n_targets
        given = {"coef_init": self.coef_init, "intercept_init": self.intercept_init,
                 "noise_variance_init": self.noise_variance_init}
        if self.coef_init is None:
            return values
        shapes = {"coef_init": (K, D) if self._y_was_1d else (K, m, D),
                  "intercept_init": (K,) if self._y_was_1d else (K, m),
                  "noise_variance_init": (K,) if self._y_was_1d else (K, m, m)}
        arrays = {}
        for name, value in given.items():
            if value is None:
                continue
            array = np.asarray(value, dtype=float)
            if array.shape != shapes[name]:
                raise ValueError(f"{name} must have shape {shapes[name]}, got {array.shape}")
            if not np.isfinite(array).all():
                raise ValueError(f"{name} contains NaN or inf")
            arrays[name] = array
        if self.fit_intercept and "intercept_init" not in arrays:
            raise ValueError("intercept_init is needed with coef_init when fit_intercept")
        coefficients = pack_coefficients(arrays["coef_init"], arrays.get("intercept_init"),
                                         self.fit_intercept, self._y_was_1d)
        values["coefficients"] = coefficients
        if self.family == "gaussian" and "noise_variance_init" in arrays:
            noise = arrays["noise_variance_init"]
            noise = noise[:, None, None] if self._y_was_1d else noise
            if np.any(np.linalg.eigvalsh(noise) <= 0):
                raise ValueError("noise_variance_init must be positive (definite)")
            values["noise_covariances"] = noise
        return values

    # ------------------------------------------------------------------ state
    def _set_params(self, params: MixtureParams, model) -> None:
        self.weights_ = params.weights
        self._store_regressions(params.components)

    def _params(self) -> MixtureParams:
        return MixtureParams(self.weights_, self._regressions())

    def _fitted_matches(self) -> str | None:
        return super()._fitted_matches() or self._fitted_family_reason()

    # ------------------------------------------------------------------ prediction
    def _design_matrix(self, X) -> np.ndarray:
        X = self._validate_inputs(X)
        return self._expert_design().matrix(np.hstack([X, np.zeros((X.shape[0], self._n_targets))]))

    def predict_components(self, X) -> np.ndarray:
        """Every regime's prediction E[y | x, k]: shape (n, K), or (n, K, n_targets)."""
        A = self._design_matrix(X)  # checks that the model is fitted
        out = self._family().mean_response(self._regressions(), A)
        return out[:, :, 0] if self._y_was_1d else out

    def predict(self, X) -> np.ndarray:
        """The mixture mean ``sum_k pi_k E[y | x, k]``: shape (n,) or (n, n_targets)."""
        components = self.predict_components(X)
        if self._y_was_1d:
            return components @ self.weights_
        return np.einsum("nkm,k->nm", components, self.weights_)

    def sample_y(self, X, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one response per row of X and its regime.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        regimes : ndarray of shape (n_samples,)
        """
        A = self._design_matrix(X)
        rng = random_generator(self.random_state if random_state is None else random_state)
        regimes = rng.choice(self.weights_.shape[0], size=A.shape[0],
                             p=self.weights_ / self.weights_.sum())
        draws = self._family().sample_response(self._params().components, A, regimes, rng)
        return (draws[:, 0] if self._y_was_1d else draws), regimes
