"""CategoricalMixture: latent class analysis (a mixture of independent categorical variables)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_option, check_real
from ..families.categorical import CategoricalFamily
from ._encoding import (
    HANDLE_UNKNOWN,
    Table,
    check_categories,
    decode_codes,
    encode_column,
    learn_categories,
)
from ._mixture import BaseMixture


class CategoricalMixture(BaseMixture):
    """Latent class analysis: a mixture of independent categorical variables, fitted by EM.

    Each column is a categorical variable with its own levels (survey
    answers, diagnoses, genotypes); given its latent class, a row's columns
    are independent, and class k gives level l of column j probability
    ``P_j[k, l]`` (poLCA, flexmix, StepMix's categorical measurement model).

    Parameters
    ----------
    n_components : int, default=1
        Number of latent classes K.
    alpha : float, default=0.0
        Pseudo-count of a symmetric Dirichlet(1 + alpha) prior on every class's
        level probabilities (MAP-EM): ``P_j[k, l] = (n_kjl + alpha) / (n_kj +
        L_j alpha)``.  0 is maximum likelihood, whose probabilities can be
        exactly 0 (a level a class never shows); a row that is then
        impossible under every class has ``score_samples = -inf`` and
        :meth:`predict_proba` raises for it.  Any ``alpha > 0`` keeps every
        probability positive.
    categories : "auto" or list of array-like, default="auto"
        The levels of every column (as scikit-learn's ``OneHotEncoder``).
        "auto": a pandas categorical column's declared categories, otherwise
        the sorted distinct values seen in ``fit``.  A list gives each
        column's levels (at least two); a value outside them in ``fit`` is an
        error.  Levels that never occur still count as parameters.
    handle_unknown : {"error", "missing"}, default="error"
        A level that is not in ``categories_`` when predicting or scoring:
        "error" raises a ValueError naming the column, row and level;
        "missing" treats the entry as a missing value (its column is then
        left out of that row's log-density).
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the class weights (>= 1; 1 is flat).
    tol : float, default=1e-6
        EM stops when the mean objective (log-likelihood, or log posterior
        with a prior, per unit row weight) changes by less than this.
    max_iter : int, default=200
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the highest final objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition, found on the one-hot encoded rows (a random
        projection of them to 64 columns when there are more levels in all):
        k-means labels, the nearest-seed partition of k-means++ seeds or of
        random rows, or random responsibilities.
    weights_init : array-like of shape (n_components,), optional
    probabilities_init : list of array-like, optional
        Starting level probabilities: one (n_components, L_j) array per
        column, in the order of ``categories_``; rows sum to 1.  Each starting
        value overrides what ``init_params`` gives.
    labels_init : array-like, optional
        A starting partition: a class index per row, or responsibilities
        (n_samples, n_components); EM starts with an M-step from it.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters (the data must then
        use the fitted ``categories_``).
    verbose : int, default=0
    chunk_size : int or None, default=None
        Rows per E-step chunk (None: a few MB of work arrays).
    accelerate : {None, "squarem", "overrelax"}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`).
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as partial class labels (-1 = unknown).
    schedule, batch_size, learning_decay
        How :meth:`fit` runs EM ("batch", "incremental", "stepwise") and the
        online schedules' block size and step decay, as
        :class:`~emkit.GaussianMixture`; :meth:`partial_fit` is stepwise EM.
        Every batch of :meth:`partial_fit` is encoded with ``categories_``
        (learnt from the first batch unless ``categories`` gives them), so
        declare ``categories`` when later batches may show new levels.
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
    categories_ : list of ndarray
        The levels of every column, in the order of the probabilities.
    weights_ : ndarray of shape (n_components,)
    probabilities_ : list of ndarray
        One (n_components, L_j) array per column: ``P_j[k, l]``, the
        probability that class k gives column j its level
        ``categories_[j][l]``.
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
    X may be a pandas DataFrame (strings, pandas categoricals, numbers or
    objects per column) or any 2-D array of labels (strings, integers,
    objects).  NaN, None and pandas NA mark missing values: their column is
    left out of the row's log-density and statistics (exact under the
    model's local independence).  A contingency table is fitted as its cells
    with the counts as ``sample_weight``.

    ``fit`` also reads a source (:mod:`emkit.sources`: ``.npy``, CSV,
    Parquet, Zarr, HDF5, Dask) of numeric levels, such as integer codes, NaN
    for missing: ``categories="auto"`` then takes one extra pass to find every
    column's distinct values (given ``categories`` must be numbers), and the
    fit equals the in-memory fit of the same numbers (``categories_`` then
    holds floats).

    The number of free parameters is ``(K - 1) + K sum_j (L_j - 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import CategoricalMixture
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(2, size=600)
    >>> answers = np.array([["yes", "no"], ["no", "yes"]])
    >>> X = np.where(rng.random((600, 4)) < 0.85, answers[z][:, [0, 0, 1, 1]],
    ...              answers[1 - z][:, [0, 0, 1, 1]])
    >>> lca = CategoricalMixture(2, random_state=0).fit(X)
    >>> lca.categories_[0]
    array(['no', 'yes'], dtype='<U3')
    >>> np.round(np.sort(lca.probabilities_[0][:, 1]), 1)
    array([0.2, 0.9])
    """

    _component_attributes = {"probabilities": "probabilities_"}  # noqa: RUF012

    def __init__(
        self,
        n_components: int = 1,
        *,
        alpha: float = 0.0,
        categories="auto",
        handle_unknown: str = "error",
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
        self.categories = categories
        self.handle_unknown = handle_unknown
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
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------------ checks
    def _check_family_parameters(self) -> None:
        check_real(self.alpha, "alpha", 0.0)
        check_option(self.handle_unknown, "handle_unknown", HANDLE_UNKNOWN)
        if isinstance(self.categories, str) and self.categories != "auto":
            raise ValueError(f"categories must be 'auto' or a list of level lists, got "
                             f"{self.categories!r}")

    def _family(self) -> CategoricalFamily:
        check_is_fitted(self, "categories_")
        return CategoricalFamily([len(c) for c in self.categories_],
                                 alpha=check_real(self.alpha, "alpha", 0.0))

    # ------------------------------------------------------------------ data
    def _validate_data(self, X, *, reset: bool):
        """Integer codes (n, D), -1 for a missing entry; learns ``categories_`` on reset."""
        table = Table(X, min_samples=self._min_samples if reset else 1)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if reset:
            if isinstance(self.categories, str):
                categories = [learn_categories(table.column(j), table.label(j))
                              for j in range(table.n_columns)]
            else:
                categories = check_categories(self.categories, table.n_columns)
            handle_unknown = "error"  # fitting data must use the categories
        else:
            categories = self.categories_
            handle_unknown = self.handle_unknown
        codes = np.empty((table.n_rows, table.n_columns), dtype=np.int32)
        for j in range(table.n_columns):
            codes[:, j] = encode_column(table.column(j), categories[j], table.label(j),
                                        handle_unknown)
        if reset:
            self.categories_ = categories
        observed = (codes >= 0).any(axis=0)
        if reset and not observed.all():
            raise ValueError(f"{table.label(int(np.argmin(observed)))} has no observed value "
                             "(every entry is missing); drop the column")
        return codes

    # ------------------------------------------------------------------ sources
    def _open_source(self, X, sample_weight, y, warm: bool, rng):
        """A source (file, memory map, Dask): ``categories_`` first, then the shared pass.

        A source's chunks are numbers (float64, NaN: missing), so its levels
        are numbers too: the given ``categories`` or, with "auto", the sorted
        distinct observed values of every column, found in one extra pass
        (the in-memory rule, so the fit equals the in-memory fit).  Every
        chunk is then encoded to codes by the chunk check.
        """
        if not warm:
            self.categories_ = self._source_categories(X, sample_weight)
        return super()._open_source(X, sample_weight, y, warm, rng)

    def _source_categories(self, X, sample_weight) -> list[np.ndarray]:
        return source_categories(self.categories, X, sample_weight)

    def _chunk_check(self):
        """Every chunk of a source: encoded to codes with ``categories_`` (an unknown
        level is an error naming file, row and column)."""
        return encoding_check(self.categories_, self.n_components)

    def _user_initial_values(self, n_features: int) -> dict:
        values = super()._user_initial_values(n_features)
        if self.probabilities_init is not None:
            given = self.probabilities_init
            levels = [len(c) for c in self.categories_]
            if len(given) != len(levels):
                raise ValueError(f"probabilities_init must have one array per column "
                                 f"({len(levels)}), got {len(given)}")
            out = []
            for j, (p, L) in enumerate(zip(given, levels, strict=True)):
                p = np.asarray(p, dtype=float)
                shape = (self.n_components, L)
                if p.shape != shape:
                    raise ValueError(f"probabilities_init[{j}] must have shape {shape}, "
                                     f"got {p.shape}")
                if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(
                        p.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                    raise ValueError(f"probabilities_init[{j}] must hold probabilities whose "
                                     "rows sum to 1")
                out.append(p / p.sum(axis=1, keepdims=True))
            values["probabilities"] = out
        return values

    def _row_width(self, model, X) -> int:
        return 3 * self.n_components + 2 * int(X.shape[1])

    def _set_params(self, params, model) -> None:
        self.weights_ = params.weights
        self.probabilities_ = list(params.components.probabilities)

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples: int = 1, random_state=None):
        """Draw rows from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Levels from ``categories_``: a float array when every column's
            levels are numbers, else an object array.
        y : ndarray of shape (n_samples,)
            Class of each row (rows are grouped by class).
        """
        codes, labels = super().sample(n_samples, random_state)
        return decode_codes(codes, self.categories_), labels


def source_categories(categories, X, sample_weight=None) -> list[np.ndarray]:
    """The levels of every column of a source of numeric levels (NaN: missing).

    ``categories`` is the estimator's parameter: "auto" takes one pass over
    the source (where its chunks are computed: threads, or the Dask workers)
    and learns the sorted distinct observed values of every column (the
    in-memory rule); given levels must be numbers.
    """
    from ..sources import ChunkCheck, as_source

    source = as_source(X).configured(check=ChunkCheck(np.float64, allow_nan=True),
                                     sample_weight=sample_weight)
    D = source.n_features
    names = source.feature_names

    def label(j: int) -> str:
        return f"{source.label}: column {names[j]!r}" if names else \
            f"{source.label}: column {j}"

    if not isinstance(categories, str):
        categories = check_categories(categories, D)
        for j, levels in enumerate(categories):
            if levels.dtype.kind not in "fiu":
                raise ValueError(f"categories[{j}] must hold numbers: {source.label} "
                                 f"holds numbers, got {levels.tolist()!r}")
        return [levels.astype(np.float64) for levels in categories]
    seen = source.map_reduce(_levels, _union)  # on the E-step threads, or the workers
    return [learn_categories(np.empty(0) if seen is None else seen[j], label(j))
            for j in range(D)]


def _levels(chunk) -> list[np.ndarray]:
    """The sorted distinct observed values of every column of a chunk."""
    X = chunk[0]
    return [np.unique(column[~np.isnan(column)]) for column in X.T]


def _union(a: list[np.ndarray], b: list[np.ndarray]) -> list[np.ndarray]:
    return [np.union1d(x, y) for x, y in zip(a, b, strict=True)]


def encoding_check(categories: list[np.ndarray], n_components: int | None,
                   handle_unknown: str = "error"):
    """The chunk check of a source of numeric levels: every chunk encoded to int32 codes
    with ``categories`` (an unknown level is an error naming file, row and column, or
    with ``handle_unknown="missing"`` a missing entry)."""
    from ..sources import ChunkCheck

    def encode(X: np.ndarray, what: str) -> np.ndarray:
        codes = np.empty(X.shape, dtype=np.int32)
        for j in range(X.shape[1]):
            codes[:, j] = encode_column(X[:, j], categories[j], f"column {j}",
                                        handle_unknown)
        return codes

    return ChunkCheck(np.float64, allow_nan=True, check=encode,
                      n_components=n_components)
