"""KMeans (hard EM), SoftKMeans (soft EM with a fixed isotropic variance) and MiniBatchKMeans.

The estimators' public classes; the fit machinery they share lives in
:mod:`emkit.models._centroids`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from .._validation import check_int, check_real
from ..em.accelerate import check_accelerate
from ..em.engine import soft_assignment
from ..em.online import check_learning_decay
from ..families.centroids import CentroidModel
from ..sources import is_source
from ._base import validate_X
from ._centroids import _CentroidEstimator, _streamed_inertia
from ._centroids import _check_init as _check_init  # imported from here by _persist_estimators


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
