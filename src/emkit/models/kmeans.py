"""KMeans (hard EM) and SoftKMeans (soft EM with a fixed isotropic variance)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _kernels
from .._validation import check_enough_samples, check_int, check_partial_labels, check_real
from ..em.accelerate import check_accelerate
from ..em.engine import expectation, soft_assignment
from ..em.online import DEFAULT_BATCH_SIZE, check_learning_decay, stepwise_update
from ..families._numeric import (
    check_points_in_range,
    check_resolution,
    check_squared_scale,
)
from ..families.centroids import CentroidModel
from ..init import (
    kmeans_plusplus,
    nearest_center,
    nearest_partition,
    random_rows,
    squared_distances,
)
from ..sources import ChunkCheck, default_chunk_size, is_source
from ._base import ReadableReprMixin, fit_with_restarts, make_source, validate_X
from ._long_fits import LongFitMixin
from ._sources import open_source, source_chunk_size


def _mean_feature_variance(source) -> float:
    """Weighted variance of each column of the source, averaged over columns (chunked)."""
    total = source.total_weight()
    mean = sum(w @ X for X, w in source.chunks()) / total
    squares = sum(w @ ((X - mean) ** 2) for X, w in source.chunks())
    return float(np.mean(squares / total))


class _InertiaStep:
    """Weighted sum of squared distances of a chunk's rows to their nearest centre."""

    def __init__(self, centers: np.ndarray):
        self.centers = centers

    def __call__(self, chunk) -> tuple[float]:
        distances = nearest_center(chunk[0], self.centers)[1]
        return (float(chunk[1] @ distances),)


def _streamed_inertia(source, centers: np.ndarray) -> float:
    return float(source.map_reduce(_InertiaStep(centers))[0])


def _check_init(init, n_clusters: int, n_features: int):
    if isinstance(init, str):
        if init not in ("k-means++", "random"):
            raise ValueError(
                f"init must be 'k-means++', 'random' or an array of shape "
                f"(n_clusters, n_features), got {init!r}"
            )
        return init
    centers = np.asarray(init, dtype=float)
    if centers.shape != (n_clusters, n_features):
        raise ValueError(
            f"init array must have shape ({n_clusters}, {n_features}), got {centers.shape}"
        )
    if not np.isfinite(centers).all():
        raise ValueError("init array contains NaN or inf")
    return centers


class _CentroidEstimator(ReadableReprMixin, LongFitMixin, BaseEstimator):
    """Shared fit logic of KMeans, SoftKMeans and MiniBatchKMeans."""

    _hard = True
    #: How ``fit`` runs: "batch" (Lloyd / soft EM) or "stepwise" (mini-batches).
    _schedule = "batch"

    def _beta(self) -> float:
        return 1.0

    def _accelerate(self) -> str | None:
        """EM acceleration of the fit (k-means: never; see KMeans' Notes)."""
        return None

    def _n_init(self) -> int:
        """Restarts: 1 for given centres (they are deterministic), else n_init ("auto":
        1 for k-means++, 10 for random rows)."""
        if not isinstance(self.init, str):
            return 1
        if self.n_init == "auto":
            return 1 if self.init == "k-means++" else 10
        return check_int(self.n_init, "n_init", 1)

    def _check_parameters(self) -> None:
        check_int(self.n_clusters, "n_clusters", 1)
        check_int(self.max_iter, "max_iter", 1)
        check_real(self.tol, "tol", 0.0)
        if self.n_init != "auto":
            check_int(self.n_init, "n_init", 1)
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", 1)
        self._accelerate()
        self._check_long_fit_parameters()

    def _row_width(self, n_samples: int, n_features: int) -> int:
        """Floats of E-step work per row, which sets the default chunk size.

        The generic path forms (rows x K) arrays; the compiled k-means kernel
        none (its (K x block) score arrays have a fixed size), so it gets
        larger chunks.
        """
        fused = (self._hard and not self.semi_supervised
                 and _kernels.use_numba(n_samples * self.n_clusters))
        return n_features + 2 if fused else max(self.n_clusters, n_features)

    def _labels(self, y, n_samples: int | None):
        if not self.semi_supervised:
            return None
        if y is None:
            raise ValueError("semi_supervised=True needs y: a cluster index per row, "
                             "-1 for unlabelled rows")
        return y if n_samples is None else check_partial_labels(y, n_samples, self.n_clusters)

    def _open(self, X, sample_weight, y, rng):
        """(source, rows to seed from, their weights, mean feature variance or None)."""
        if is_source(X):
            source, sample = open_source(
                self, X, sample_weight, self._labels(y, None),
                check=ChunkCheck(np.float64, allow_nan=False, n_components=self.n_clusters),
                reset=True, rng=rng)
            n = source.n_samples
            check_enough_samples(n, self.n_clusters, "n_clusters")
            chunk = source_chunk_size(self.chunk_size, source,
                                      self._row_width(n, source.n_features))
            source = source.configured(chunk_size=chunk)
            return source, sample.X, sample.sample_weight, source.mean_feature_variance()
        X = validate_X(self, X, reset=True)
        check_enough_samples(X.shape[0], self.n_clusters, "n_clusters")
        source = make_source(X, sample_weight, self.chunk_size,
                             self._row_width(X.shape[0], X.shape[1]))
        source.labels = self._labels(y, X.shape[0])
        return source, X, source.sample_weight, None

    def _fit(self, X, sample_weight, y=None, online_start: bool = False):
        self._check_parameters()
        self._stepwise = None
        rng = check_random_state(self.random_state)
        source, X_init, w, variance = self._open(X, sample_weight, y, rng)
        init = _check_init(self.init, self.n_clusters, source.n_features)
        if not is_source(X):
            check_squared_scale(X_init, w, beta=self._beta())
            if not self._hard:
                check_resolution(X_init, self._beta())
            if not isinstance(init, str):
                check_points_in_range(X_init, init, w, "init",
                                      beta=1.0 if self._hard else self._beta())
        model = CentroidModel(self._beta(), hard=self._hard)
        model.kernel_work = source.n_samples * self.n_clusters

        def initial_centers():
            if not isinstance(init, str):
                return init.copy()
            seeder = kmeans_plusplus if init == "k-means++" else random_rows
            return seeder(X_init, self.n_clusters, sample_weight=w, random_state=rng)[0]

        schedule = "batch" if online_start else self._schedule
        if self._hard:
            if variance is None:
                variance = _mean_feature_variance(source)
            tol = self.tol * variance

            def final_objective(result):
                return expectation(model, result.params, source, "hard")[1]
        else:
            tol, final_objective = self.tol, None
        n_init = self._n_init()
        runner = self._runner_name(schedule)
        resume = None if online_start else self._read_checkpoint(source, runner)
        monitor = None if online_start else self._monitor(source, runner, n_init, model)
        options = {}
        if schedule == "stepwise":
            options = {"batch_size": self.batch_size or DEFAULT_BATCH_SIZE,
                       "decay": check_learning_decay(self.learning_decay),
                       "seed": int(rng.randint(np.iinfo(np.int32).max))}
        result = fit_with_restarts(
            model, initial_centers, source, n_init=n_init, tol=tol,
            max_iter=self.max_iter, assignment="hard" if self._hard else "soft",
            verbose=self.verbose, final_objective=final_objective,
            accelerate=self._accelerate(), schedule=schedule, schedule_options=options,
            monitor=monitor, resume=resume,
        )
        self.cluster_centers_ = result.params
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.objective_history_ = result.objective_history
        if schedule == "stepwise":
            self._stepwise = getattr(result, "stepwise_state", None)
            self.n_steps_ = self._stepwise.n_steps if self._stepwise is not None else 0
        return (None if is_source(X) else X_init), source

    def _set_params(self, centers, model=None) -> None:
        self.cluster_centers_ = centers

    def _partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one mini-batch (stepwise EM; mini-batch k-means).

        The first call (unfitted) clusters the batch with ``fit``'s algorithm;
        every call then folds the batch into running per-cluster counts and
        sums per unit of row weight, ``s <- (1 - eta) s + eta s_batch`` with
        ``eta = (t + 2) ** -learning_decay``, and moves the centres to
        ``sums / counts``.  With ``learning_decay=1`` and equal batch sizes a
        centre is the mean of every row ever assigned to it, as in
        scikit-learn's MiniBatchKMeans.  See
        :meth:`emkit.GaussianMixture.partial_fit`.

        Returns
        -------
        self
        """
        self._check_parameters()
        decay = check_learning_decay(self._option("learning_decay"))
        if not hasattr(self, "cluster_centers_"):
            self._fit(X, sample_weight, y, online_start=True)
            self._stream_rows = 0
        X = validate_X(self, X, reset=False)
        source = make_source(X, sample_weight, self.chunk_size,
                             self._row_width(X.shape[0], X.shape[1]))
        if self.semi_supervised and y is not None:
            source.labels = check_partial_labels(y, X.shape[0], self.n_clusters)
        model = CentroidModel(self._beta(), hard=self._hard)
        # compiled kernels pay off over the stream, not over one batch
        self._stream_rows = getattr(self, "_stream_rows", 0) + X.shape[0]
        model.kernel_work = self._stream_rows * self.n_clusters
        centers, state, objective = stepwise_update(
            model, self.cluster_centers_, getattr(self, "_stepwise", None), source, decay,
            assignment="hard" if self._hard else "soft")
        self.cluster_centers_ = centers
        self._stepwise = state
        self.n_steps_ = state.n_steps
        self.n_iter_ = 1
        self.converged_ = False
        self.objective_history_ = np.array([objective])
        self._online_callbacks(state.n_steps, objective, centers, model)
        return self

    def _distances(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        return squared_distances(X, self.cluster_centers_)

    def _nearest(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Labels and squared distances to the nearest centre, in chunks."""
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        return self._nearest_validated(X)

    def _nearest_validated(self, X) -> tuple[np.ndarray, np.ndarray]:
        K, D = self.cluster_centers_.shape
        chunk = self.chunk_size or default_chunk_size(X.shape[0], max(K, D))
        return nearest_partition(X, self.cluster_centers_, chunk)

    def predict(self, X) -> np.ndarray:
        """Index of the nearest centre for every row."""
        return self._nearest(X)[0]


class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, _CentroidEstimator):
    """k-means clustering as hard-assignment EM (Lloyd's algorithm).

    Also a vector quantiser: :meth:`encode` maps rows to codes (nearest centre),
    :meth:`decode` maps codes back to centres, :meth:`reconstruction_error` is
    the mean squared distance of rows to their code vectors.

    As a transformer, :meth:`transform` gives the distances to the centres,
    in columns named ``kmeans0 .. kmeans{K-1}`` (:meth:`get_feature_names_out`),
    and ``set_output(transform="pandas")`` makes it return a DataFrame, as
    scikit-learn's ``KMeans``.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features)
        Greedy k-means++ seeding, distinct random rows, or given centres.
    n_init : int or "auto", default="auto"
        Restarts (the lowest inertia is kept); "auto" is 1 for k-means++ and
        given centres, 10 for "random".
    max_iter : int, default=300
    tol : float, default=1e-4
        Stop when the total squared shift of the centres is at most
        ``tol`` times the mean feature variance of X (scikit-learn's rule).
    random_state : int, RandomState or None
    verbose : int, default=0
    chunk_size : int or None, default=None
        Rows per chunk of the assignment step.
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as known clusters of some rows (-1 = unknown):
        those rows stay in their cluster (semi-supervised EM).  Off by default
        because pipelines pass their target as ``y``.
    verbose_interval : int, default=1
        Iterations between two verbose lines.
    callback : callable, list of callables or None, default=None
        Called after every iteration with an
        :class:`~emkit.em.progress.IterationInfo`; returning True stops the
        fit.  See :class:`~emkit.GaussianMixture` (k-means has no
        ``checkpoint``: it has no ``warm_start`` to resume with).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Weighted sum of squared distances of rows to their nearest centre.
    n_iter_ : int
    converged_ : bool
    objective_history_ : ndarray
        ``-0.5 * inertia / total weight`` at every iteration (non-decreasing).

    Notes
    -----
    Empty clusters: when a cluster loses all its rows, it is moved onto the row
    farthest from its assigned centre (the next farthest for a second empty
    cluster, ...), exactly like scikit-learn's Lloyd implementation; this never
    increases the inertia.

    No ``accelerate`` parameter: Lloyd's iteration is a fixed-point map too, but
    on hard assignments it is piecewise constant in the centres, so SQUAREM or
    over-relaxation along it is not meaningful (and k-means converges in few
    iterations anyway).  :class:`SoftKMeans` and
    :class:`~emkit.GaussianMixture` have it.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state=None,
        verbose: int = 0,
        chunk_size: int | None = None,
        semi_supervised: bool = False,
        verbose_interval: int = 1,
        callback=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.semi_supervised = semi_supervised
        self.verbose_interval = verbose_interval
        self.callback = callback

    def fit(self, X, y=None, sample_weight=None) -> KMeans:
        """Cluster X; ``sample_weight`` has count semantics.

        X may be a source (:mod:`emkit.sources`: a file, a memory map, a dask
        collection; ``sample_weight`` and ``y`` may then name columns); the
        centres and ``inertia_`` are those of the same rows in memory, and
        ``labels_`` is not stored (it would hold one entry per row): use
        :meth:`predict` on rows in memory.
        """
        X, source = self._fit(X, sample_weight, y)
        if X is None:
            self.inertia_ = _streamed_inertia(source, self.cluster_centers_)
            if hasattr(self, "labels_"):
                del self.labels_
            return self
        self.labels_, distances = self._nearest_validated(X)
        self.inertia_ = float(source.sample_weight @ distances)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        if is_source(X):
            raise TypeError("fit_predict needs X in memory; with a source, fit(source) and "
                            "then predict() rows in memory")
        return self.fit(X, sample_weight=sample_weight).labels_

    @property
    def _n_features_out(self) -> int:
        """Columns of :meth:`transform` (for ``get_feature_names_out``); also on loaded models."""
        return self.cluster_centers_.shape[0]

    def transform(self, X) -> np.ndarray:
        """Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        return np.sqrt(self._distances(X))

    def score(self, X, y=None, sample_weight=None) -> float:
        """Opposite of the (weighted) inertia of X."""
        d = self._nearest(X)[1]
        w = np.ones_like(d) if sample_weight is None else np.asarray(sample_weight, float)
        return -float(w @ d)

    def encode(self, X) -> np.ndarray:
        """Vector quantisation: code (index of the nearest centre) of every row."""
        return self.predict(X)

    def decode(self, codes) -> np.ndarray:
        """Code vectors (centres) for an array of codes."""
        check_is_fitted(self)
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu" or (codes < 0).any() or (codes >= self.n_clusters).any():
            raise ValueError(f"codes must be integers in [0, {self.n_clusters - 1}]")
        return self.cluster_centers_[codes]

    def reconstruction_error(self, X) -> float:
        """Mean squared distance between rows and their decoded codes."""
        return float(self._nearest(X)[1].mean())


class SoftKMeans(ClusterMixin, _CentroidEstimator):
    """Soft k-means: EM for equal-weight isotropic Gaussians of fixed variance 1/beta.

    Only the centres are learned; responsibilities are
    ``softmax(-beta/2 * ||x - mu_k||^2)``.  As ``beta`` grows it becomes k-means.

    Parameters
    ----------
    n_clusters : int, default=8
    beta : float, default=1.0
        Stiffness: the inverse of the shared variance.
    init, n_init, max_iter, random_state, verbose, chunk_size, semi_supervised
        As :class:`KMeans`.
    tol : float, default=1e-6
        Stop when the mean log-likelihood changes by less than this.
    accelerate : {None, "squarem", "overrelax"}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`) of the centres: None for
        plain soft EM, "squarem" for SQUAREM, "overrelax" for adaptive
        over-relaxation.  Same fixed point as plain EM, non-decreasing
        ``objective_history_``; ``max_iter`` then bounds EM-map evaluations and
        ``n_iter_`` counts accepted steps.
    learning_decay : float, default=0.7
        Step-size exponent of :meth:`partial_fit` (stepwise EM), in (0.5, 1].
    verbose_interval, callback
        As :class:`KMeans`.

    Attributes
    ----------
    cluster_centers_, labels_, n_iter_, converged_ : as KMeans
    objective_history_ : ndarray
        Mean log-likelihood at every iteration (non-decreasing).
    """

    _hard = False

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        beta: float = 1.0,
        init="k-means++",
        n_init="auto",
        max_iter: int = 300,
        tol: float = 1e-6,
        random_state=None,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
        semi_supervised: bool = False,
        learning_decay: float = 0.7,
        verbose_interval: int = 1,
        callback=None,
    ):
        self.learning_decay = learning_decay
        self.verbose_interval = verbose_interval
        self.callback = callback
        self.n_clusters = n_clusters
        self.beta = beta
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.semi_supervised = semi_supervised
        self.accelerate = accelerate

    def _beta(self) -> float:
        return check_real(self.beta, "beta", 0.0, strict=True)

    def _accelerate(self) -> str | None:
        return check_accelerate(self.accelerate)

    def fit(self, X, y=None, sample_weight=None) -> SoftKMeans:
        """Fit the centres by soft EM (X may be a source, as for :meth:`KMeans.fit`)."""
        X, _ = self._fit(X, sample_weight, y)
        if X is None:
            if hasattr(self, "labels_"):
                del self.labels_
            return self
        self.labels_ = self.predict(X)
        return self

    def partial_fit(self, X, y=None, sample_weight=None) -> SoftKMeans:
        """Update the centres with one mini-batch (stepwise soft EM).

        The first call fits the batch; later calls fold each batch into
        running statistics with step ``(t + 2) ** -learning_decay`` (see
        :meth:`emkit.GaussianMixture.partial_fit`).  ``labels_`` is not set.
        """
        return self._partial_fit(X, y, sample_weight)

    def _log_joint(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_X(self, X, reset=False)
        return CentroidModel(self._beta(), hard=False).log_joint(self.cluster_centers_, X)

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities, shape (n_samples, n_clusters)."""
        return soft_assignment(self._log_joint(X))[1]

    def score_samples(self, X) -> np.ndarray:
        """Log-density of every row under the equal-weight isotropic mixture."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None) -> float:
        """Mean log-density per row."""
        return float(self.score_samples(X).mean())


class MiniBatchKMeans(KMeans):
    """Mini-batch k-means: stepwise (online) hard EM over mini-batches.

    ``fit`` shuffles the rows once, cuts them into mini-batches of
    ``batch_size`` and, for up to ``max_iter`` passes (in a new random batch
    order each pass), assigns a batch's rows to their nearest centres and
    folds the per-cluster counts and sums into running statistics,
    ``s <- (1 - eta) s + eta s_batch`` with ``eta = (t + 2) ** -learning_decay``;
    the centres are ``sums / counts`` (:mod:`emkit.em.online`, the machinery
    of :meth:`GaussianMixture.partial_fit <emkit.GaussianMixture.partial_fit>`).
    With ``learning_decay=1`` and equal batches a centre is the mean of every
    row ever assigned to it (scikit-learn's MiniBatchKMeans update, without
    its random reassignment of small clusters: here a cluster left empty by
    the first batch is moved to a far row, as in :class:`KMeans`).
    :meth:`partial_fit` takes one batch per call.

    Parameters
    ----------
    n_clusters, init, n_init, random_state, verbose, chunk_size, semi_supervised
        As :class:`KMeans` (the starting centres come from the whole data in
        ``fit``, from the first batch in ``partial_fit``).
    max_iter : int, default=100
        Passes over the data.
    batch_size : int, default=1024
        Rows per mini-batch in ``fit``.
    learning_decay : float, default=0.7
        Step-size exponent in (0.5, 1].
    tol : float, default=1e-4
        Stop when the pass's mean squared distance (each batch scored before
        its update) changes by less than ``tol`` times the mean feature
        variance between two passes.
    verbose_interval, callback
        As :class:`KMeans` (one iteration = one pass).

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_iter_, converged_ : as KMeans
        ``labels_`` and ``inertia_`` are computed on all rows at the end of ``fit``.
    n_steps_ : int
        Mini-batches folded in.
    objective_history_ : ndarray
        ``-0.5`` times each pass's mean squared distance (not monotone).
    """

    _schedule = "stepwise"

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter: int = 100,
        batch_size: int = 1024,
        learning_decay: float = 0.7,
        tol: float = 1e-4,
        random_state=None,
        verbose: int = 0,
        chunk_size: int | None = None,
        semi_supervised: bool = False,
        verbose_interval: int = 1,
        callback=None,
    ):
        super().__init__(n_clusters, init=init, n_init=n_init, max_iter=max_iter, tol=tol,
                         random_state=random_state, verbose=verbose, chunk_size=chunk_size,
                         semi_supervised=semi_supervised, verbose_interval=verbose_interval,
                         callback=callback)
        self.batch_size = batch_size
        self.learning_decay = learning_decay

    def _check_parameters(self) -> None:
        super()._check_parameters()
        check_int(self.batch_size, "batch_size", 1)
        check_learning_decay(self.learning_decay)

    def partial_fit(self, X, y=None, sample_weight=None) -> MiniBatchKMeans:
        """Update the centres with one mini-batch (see :meth:`KMeans` and the class notes).

        The first call seeds the centres with ``init`` on the batch and runs
        Lloyd's iterations on it; ``labels_`` and ``inertia_`` are not set.
        """
        return self._partial_fit(X, y, sample_weight)
