"""PoissonMixture: latent classes over count features (multivariate Poisson mixture)."""

from __future__ import annotations

import numpy as np

from .._validation import check_real
from ..families.poisson import PoissonFamily
from ._base import validate_X
from ._mixture import BaseMixture


class PoissonMixture(BaseMixture):
    """Mixture of independent Poisson distributions, fitted by EM.

    Each component k has a rate ``lambda_kd`` (expected count) per feature,
    and the features are independent given the component (flexmix's
    ``FLXMCmvpois``, pomegranate's Poisson mixture).  Used for counts: events
    per subject, visits, word or read counts.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K.
    alpha : float, default=0.0
        Pseudo-rows of a Gamma prior on every rate (MAP-EM):
        ``lambda_kd = (sum_i r_ik x_id + alpha m_d) / (sum_i r_ik + alpha)``,
        with ``m_d`` the weighted mean of feature d in the data being fitted
        (the prior is Gamma with shape ``1 + alpha m_d`` and rate ``alpha``).
        0 is maximum likelihood, whose rates can be exactly 0 (a component
        whose rows all have count 0 in a feature); a row with a positive count
        there is then impossible under that component, and a row impossible
        under every component has ``score_samples = -inf`` and
        :meth:`predict_proba` raises for it.  Any ``alpha > 0`` keeps every
        rate positive (for a feature that is not all zeros).
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the mixing weights (>= 1; 1 is flat, i.e.
        maximum likelihood): ``pi_k = (n_k + a - 1) / (n + K (a - 1))``.
    tol : float, default=1e-6
        EM stops when the mean objective (log-likelihood, or log posterior
        with a prior, per unit row weight) changes by less than this.
    max_iter : int, default=200
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the highest final objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition, found on ``sqrt(counts)`` (which gives Poisson
        counts roughly equal spreads, as k-means assumes): k-means labels, the
        nearest-seed partition of k-means++ seeds or of random rows, or random
        responsibilities.
    weights_init : array-like of shape (n_components,), optional
    rates_init : array-like of shape (n_components, n_features), optional
        Starting values; each overrides what ``init_params`` gives.
    labels_init : array-like, optional
        A starting partition: a component index per row, or responsibilities
        (n_samples, n_components); EM starts with an M-step from it.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters.
    verbose : int, default=0
    chunk_size : int or None, default=None
        Rows per E-step chunk (None: a few MB of work arrays).
    accelerate : {None, "squarem", "overrelax"}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`).
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as partial component labels (-1 = unknown).
    schedule, batch_size, learning_decay
        How :meth:`fit` runs EM ("batch", "incremental", "stepwise") and the
        online schedules' block size and step decay, as
        :class:`~emkit.GaussianMixture`; :meth:`partial_fit` is stepwise EM.
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.
    assignment, annealing, stochastic_iter, monte_carlo, sparse
        EM variants (classification EM "hard", stochastic EM "stochastic",
        Monte Carlo EM "monte-carlo", deterministic annealing, sparse EM), as
        :class:`~emkit.GaussianMixture` (sparse EM evaluates every component
        of this family: correct, not faster).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    rates_ : ndarray of shape (n_components, n_features)
        ``lambda_kd = E[x_d | component k]``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean objective of the parameters entering the last iteration.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        The mean objective at every iteration; never decreases.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Notes
    -----
    X holds non-negative integer counts in any numeric dtype; NaN marks a
    missing value (its term is dropped from the row's log-density, which is
    exact under the model's independence).  A negative or non-integer value is
    an error naming its row and column: the Poisson formula evaluated at a
    non-integer is not a density, so such data are refused rather than
    silently fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import PoissonMixture
    >>> rng = np.random.default_rng(0)
    >>> rates = np.array([[1.0, 8.0], [6.0, 2.0]])
    >>> X = rng.poisson(rates[rng.integers(2, size=1000)])
    >>> pm = PoissonMixture(2, random_state=0).fit(X)
    >>> np.round(pm.rates_[np.argsort(pm.rates_[:, 0])])
    array([[1., 8.],
           [6., 2.]])
    """

    _component_attributes = {"rates": "rates_"}  # noqa: RUF012

    def __init__(
        self,
        n_components: int = 1,
        *,
        alpha: float = 0.0,
        weight_concentration: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 200,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        rates_init=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
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
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.weight_concentration = weight_concentration
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.rates_init = rates_init
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.positive_only = True
        return tags

    def _check_family_parameters(self) -> None:
        check_real(self.alpha, "alpha", 0.0)

    def _family(self) -> PoissonFamily:
        return PoissonFamily(alpha=check_real(self.alpha, "alpha", 0.0))

    def _validate_data(self, X, *, reset: bool):
        X = validate_X(self, X, reset=reset, min_samples=self._min_samples if reset else 1,
                       allow_nan=True)
        return self._family().check_data(X, "X")

    def _user_initial_values(self, n_features: int) -> dict:
        values = super()._user_initial_values(n_features)
        if self.rates_init is not None:
            rates = np.asarray(self.rates_init, dtype=float)
            shape = (self.n_components, n_features)
            if rates.shape != shape:
                raise ValueError(f"rates_init must have shape {shape}, got {rates.shape}")
            if not np.isfinite(rates).all() or (rates < 0).any():
                raise ValueError("rates_init must hold finite non-negative rates")
            values["rates"] = rates.copy()
        return values

    def _row_width(self, model, X) -> int:
        return 2 * self.n_components + int(X.shape[1])
