"""BernoulliMixture: latent classes over binary features (multivariate Bernoulli mixture)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import check_real
from ..families.bernoulli import BernoulliFamily
from ._mixture import BaseMixture


class BernoulliMixture(BaseMixture):
    """Mixture of independent Bernoulli distributions, fitted by EM.

    Each component k has a success probability ``p_kd`` per binary feature;
    rows are drawn from component k with probability ``pi_k``.  Used for binary
    answers, presence/absence data and binarised images or bag-of-words
    (flexmix's ``FLXMCmvbinary``, pomegranate's Bernoulli mixture).

    Parameters
    ----------
    n_components : int, default=1
        Number of components K.
    alpha : float, default=0.0
        Pseudo-count of a Beta(1 + alpha, 1 + alpha) prior on every
        probability (MAP-EM): ``p_kd = (ones + alpha) / (observed + 2 alpha)``.
        0 is maximum likelihood, whose probabilities can reach exactly 0 or 1;
        a row that is then impossible under every component (a 1 where every
        component has ``p = 0``) has ``score_samples = -inf`` and
        :meth:`predict_proba` raises for it.  Any ``alpha > 0`` keeps every
        probability inside (0, 1).
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the mixing weights (>= 1; 1 is flat, i.e.
        maximum likelihood).  Larger values keep small components alive:
        ``pi_k = (n_k + a - 1) / (n + K (a - 1))``.
    tol : float, default=1e-6
        EM stops when the mean objective (log-likelihood, or log posterior
        with a prior, per unit row weight) changes by less than this.
    max_iter : int, default=200
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the highest final objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition: k-means labels, the nearest-seed partition of
        k-means++ seeds or of random rows, or random responsibilities.  For a
        sparse X the partitions are found on a random projection of the rows
        to 64 columns.
    weights_init : array-like of shape (n_components,), optional
    probabilities_init : array-like of shape (n_components, n_features), optional
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
    probabilities_ : ndarray of shape (n_components, n_features)
        ``p_kd = P(x_d = 1 | component k)``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean objective of the parameters entering the last iteration.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        The mean objective at every iteration; never decreases.
    n_features_in_ : int

    Notes
    -----
    X may be a dense array of 0/1 (or bool) values with NaN for missing
    entries, or a ``scipy.sparse`` matrix (CSR preferred) of 0/1 values, which
    is never densified: the E-step costs O(non-zeros x K).

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import BernoulliMixture
    >>> rng = np.random.default_rng(0)
    >>> p = np.array([[0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9]])
    >>> X = (rng.random((500, 4)) < p[rng.integers(2, size=500)]).astype(float)
    >>> bm = BernoulliMixture(2, random_state=0).fit(X)
    >>> np.round(np.sort(bm.probabilities_[:, 0]), 1)
    array([0.1, 0.9])
    """

    _component_attributes = {"probabilities": "probabilities_"}  # noqa: RUF012

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
        probabilities_init=None,
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
        self.probabilities_init = probabilities_init
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
        tags.input_tags.sparse = True
        return tags

    def _check_family_parameters(self) -> None:
        check_real(self.alpha, "alpha", 0.0)

    def _family(self) -> BernoulliFamily:
        return BernoulliFamily(alpha=check_real(self.alpha, "alpha", 0.0))

    def _validate_data(self, X, *, reset: bool):
        X = validate_data(self, X, reset=reset, accept_sparse="csr", dtype=np.float64,
                          ensure_all_finite="allow-nan",
                          ensure_min_samples=self._min_samples if reset else 1)
        return self._family().check_data(X, "X")

    def _user_initial_values(self, n_features: int) -> dict:
        values = super()._user_initial_values(n_features)
        if self.probabilities_init is not None:
            p = np.asarray(self.probabilities_init, dtype=float)
            shape = (self.n_components, n_features)
            if p.shape != shape:
                raise ValueError(f"probabilities_init must have shape {shape}, got {p.shape}")
            if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
                raise ValueError("probabilities_init must hold probabilities in [0, 1]")
            values["probabilities"] = p.copy()
        return values

    def _row_width(self, model, X) -> int:
        return 2 * self.n_components + (0 if hasattr(X, "tocsr") else int(X.shape[1]))
