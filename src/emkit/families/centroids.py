"""Centroid models: k-means (hard EM) and soft k-means (soft EM, fixed variance 1/beta).

Both are the isotropic Gaussian mixture with equal weights and a shared, fixed
variance ``1/beta``; only the centres are learned.  With hard assignments the
objective is ``-beta/2`` times the mean squared distance (k-means' inertia per
unit weight); with soft assignments it is the mixture's log-likelihood.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _kernels
from ..em.statistics import SufficientStatistics
from ..init import nearest_center, squared_distances
from ._numeric import check_rows_evaluable

LOG_2PI = np.log(2.0 * np.pi)


@dataclasses.dataclass(frozen=True)
class CentroidStatistics(SufficientStatistics):
    """Per-cluster weight and weighted sum of rows, plus relocation candidates.

    ``far_*`` hold up to K rows farthest from their assigned centre (hard EM
    only); adding two statistics keeps the K farthest of both, so the empty-
    cluster policy works chunk by chunk.  They are not scaled by ``*``.
    """

    counts: np.ndarray
    sums: np.ndarray
    far_distances: np.ndarray = dataclasses.field(metadata={"intensive": True})
    far_rows: np.ndarray = dataclasses.field(metadata={"intensive": True})
    far_weights: np.ndarray = dataclasses.field(metadata={"intensive": True})
    far_labels: np.ndarray = dataclasses.field(metadata={"intensive": True})

    def aligned(self, other):
        return other

    def __add__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        merged = _keep_farthest(
            np.concatenate([self.far_distances, other.far_distances]),
            np.concatenate([self.far_rows, other.far_rows]),
            np.concatenate([self.far_weights, other.far_weights]),
            np.concatenate([self.far_labels, other.far_labels]),
            self.counts.shape[0],
        )
        return CentroidStatistics(self.counts + other.counts, self.sums + other.sums, *merged)


def _keep_farthest(distances, rows, weights, labels, n_keep):
    if distances.shape[0] > n_keep:
        order = np.argsort(-distances, kind="stable")[:n_keep]
        return distances[order], rows[order], weights[order], labels[order]
    return distances, rows, weights, labels


def _assign_numpy(X: np.ndarray, weights: np.ndarray, centers: np.ndarray):
    """NumPy hard E-step of a chunk: labels, distances, counts, sums, farthest rows."""
    K, D = centers.shape
    labels, distances = nearest_center(X, centers)
    counts = np.bincount(labels, weights=weights, minlength=K)
    weighted = X * weights[:, None]
    sums = np.empty((K, D))
    for j in range(D):
        sums[:, j] = np.bincount(labels, weights=weighted[:, j], minlength=K)
    live = np.flatnonzero(weights > 0)
    if live.shape[0] > K:
        live = live[np.argpartition(-distances[live], K - 1)[:K]]
    return labels, distances, counts, sums, live


class CentroidModel:
    """Engine model for k-means (``hard=True``) and soft k-means (``hard=False``).

    Parameters are the (K, D) array of centres.

    Parameters
    ----------
    beta : float
        Inverse of the shared isotropic variance (stiffness).
    hard : bool
        Hard assignments with empty-cluster relocation (k-means) or soft
        responsibilities (soft k-means).
    """

    def __init__(self, beta: float = 1.0, hard: bool = True):
        self.beta = float(beta)
        self.hard = hard
        #: Rows x clusters of the fit (None: unknown); lets ``kernels="auto"``
        #: keep small fits on the NumPy path.
        self.kernel_work: int | None = None

    def log_joint(self, centers: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``-beta/2 |x - c_k|^2`` (+ the normal constant for soft k-means), shape (n, K).

        Raises a ValueError when a row's value overflows to -inf for every
        centre (beta times its squared distances beyond float64's range).
        """
        K, D = centers.shape
        log_joint = squared_distances(X, centers)
        with np.errstate(over="ignore"):  # rows beyond float64's range are refused below
            log_joint *= -0.5 * self.beta
        if not self.hard:
            log_joint += -np.log(K) - 0.5 * D * (LOG_2PI - np.log(self.beta))
        return check_rows_evaluable(log_joint, X)

    def hard_e_step(self, centers: np.ndarray, X: np.ndarray, weights: np.ndarray):
        """Fast hard E-step of a chunk: (objective, statistics).

        Equivalent to the generic one-hot path (``log_joint`` + argmax +
        ``statistics``) but never forms one-hot responsibilities.  With the
        compiled kernels (:mod:`emkit._kernels`) one pass per chunk does the
        argmax, the counts, the sums, the farthest rows and the inertia, and
        the objective is returned as its weighted sum over the chunk (a float);
        otherwise counts and sums are weighted bincounts of the labels and the
        objective is per row.
        """
        if _kernels.use_numba(self.kernel_work):
            inertia, counts, sums, far, far_distances, far_labels = _kernels.kmeans_assign(
                X, weights, centers
            )
            stats = CentroidStatistics(
                counts, sums, far_distances, X[far], weights[far], far_labels
            )
            return -0.5 * self.beta * inertia, stats
        labels, distances, counts, sums, live = _assign_numpy(X, weights, centers)
        stats = CentroidStatistics(
            counts, sums, distances[live], X[live], weights[live], labels[live]
        )
        return -0.5 * self.beta * distances, stats

    def statistics(self, centers: np.ndarray, X: np.ndarray, resp: np.ndarray):
        counts = resp.sum(axis=0)
        sums = resp.T @ X
        K, D = centers.shape
        if not self.hard:
            empty = np.empty(0)
            return CentroidStatistics(counts, sums, empty, np.empty((0, D)), empty, empty)
        row_weight = resp.sum(axis=1)
        live = np.flatnonzero(row_weight > 0)
        labels = np.argmax(resp[live], axis=1)
        diff = X[live] - centers[labels]
        distances = np.einsum("ij,ij->i", diff, diff)
        if live.shape[0] > K:
            top = np.argpartition(-distances, K - 1)[:K]
        else:
            top = np.arange(live.shape[0])
        return CentroidStatistics(
            counts, sums, distances[top], X[live[top]], row_weight[live[top]], labels[top]
        )

    def maximize(self, stats: CentroidStatistics, centers: np.ndarray) -> np.ndarray:
        """Centres = weighted means of their rows.

        Empty cluster policy.  k-means: each empty cluster is moved onto one of
        the rows farthest from its assigned centre (farthest first), and that
        row's weight moves with it, as scikit-learn does; this never increases
        the inertia.  Soft k-means: an empty cluster keeps its centre.
        """
        counts = stats.counts.copy()
        sums = stats.sums.copy()
        empty = np.flatnonzero(counts <= 0)
        if empty.size and self.hard:
            order = np.argsort(-stats.far_distances, kind="stable")
            for cluster, pick in zip(empty, order, strict=False):
                row, weight, owner = (
                    stats.far_rows[pick], stats.far_weights[pick], stats.far_labels[pick]
                )
                sums[owner] -= weight * row
                counts[owner] -= weight
                sums[cluster] = weight * row
                counts[cluster] = weight
        new = centers.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        return new

    def converged(self, old: np.ndarray, new: np.ndarray, change: float, tol: float) -> bool:
        """k-means: total squared centre shift <= tol; soft: |objective change| < tol."""
        if self.hard:
            return float(((new - old) ** 2).sum()) <= tol
        return abs(change) < tol

    # --- parameter vectors (EM acceleration, emkit.em.accelerate) ------------
    def to_vector(self, centers: np.ndarray) -> np.ndarray:
        """The centres as one flat vector."""
        return np.array(centers, dtype=float).ravel()

    def from_vector(self, vector: np.ndarray, like: np.ndarray) -> np.ndarray | None:
        """Centres of ``like``'s shape from a flat vector; None if it is not finite.

        Raises
        ------
        ValueError
            If ``vector`` does not have ``like.size`` entries.
        """
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (like.size,):
            raise ValueError(f"parameter vector must have shape ({like.size},), got {vector.shape}")
        if not np.isfinite(vector).all():
            return None
        return vector.reshape(like.shape).copy()
