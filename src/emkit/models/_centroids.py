"""The fit machinery shared by the k-means estimators (:mod:`emkit.models.kmeans`).

:class:`_CentroidEstimator` (parameter checks, opening the data, batch and
stepwise fits with restarts, ``partial_fit``, nearest-centre queries), the
check of ``init`` and the chunked inertia and feature-variance helpers.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import (
    BaseEstimator,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _kernels
from .._validation import check_enough_samples, check_int, check_partial_labels, check_real
from ..em.engine import expectation
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
