"""Initialisers: seeds and starting partitions for EM.

All take ``sample_weight`` with *count* semantics: a row of weight 2 is drawn as
often as two copies of it would be, so weighting and duplicating agree.
"""

from __future__ import annotations

import numpy as np


def squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, K), computed about the centres' mean and clipped at 0."""
    origin = centers.mean(axis=0)
    Xc = X - origin
    Cc = centers - origin
    d = np.einsum("ij,ij->i", Xc, Xc)[:, None] - 2.0 * (Xc @ Cc.T) + (Cc * Cc).sum(axis=1)
    np.maximum(d, 0.0, out=d)
    return d


def _draw_weighted(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn with probability proportional to the increments of ``cumulative``."""
    idx = np.searchsorted(cumulative, u * cumulative[-1], side="right")
    return np.minimum(idx, cumulative.shape[0] - 1)


def kmeans_plusplus(
    X: np.ndarray,
    n_clusters: int,
    *,
    sample_weight: np.ndarray | None = None,
    random_state: np.random.RandomState,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007).

    The first centre is a row drawn with probability proportional to its
    weight; each further centre is the best (lowest total weighted squared
    distance) of ``n_local_trials`` rows drawn with probability proportional
    to ``w * D(x)^2``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    sample_weight : ndarray of shape (n_samples,), optional
    random_state : numpy.random.RandomState
    n_local_trials : int, optional
        Candidates per step; default ``2 + int(log(n_clusters))``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
        Row indices of the chosen centres.
    """
    n_samples = X.shape[0]
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.intp)
    indices[0] = _draw_weighted(np.cumsum(w), random_state.uniform(size=1))[0]
    closest = squared_distances(X, X[indices[:1]])[:, 0]
    for c in range(1, n_clusters):
        cumulative = np.cumsum(w * closest)
        if cumulative[-1] <= 0:  # every row sits on a centre already
            candidates = _draw_weighted(np.cumsum(w), random_state.uniform(size=n_local_trials))
        else:
            candidates = _draw_weighted(cumulative, random_state.uniform(size=n_local_trials))
        trial = np.minimum(closest[:, None], squared_distances(X, X[candidates]))
        best = int(np.argmin(w @ trial))
        indices[c] = candidates[best]
        closest = trial[:, best]
    return X[indices].copy(), indices


def random_rows(
    X: np.ndarray,
    n_clusters: int,
    *,
    sample_weight: np.ndarray | None = None,
    random_state: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows drawn without replacement, with probability proportional to weight."""
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    positive = np.flatnonzero(w > 0)
    p = w[positive] / w[positive].sum()
    indices = positive[random_state.choice(positive.shape[0], n_clusters, replace=False, p=p)]
    return X[indices].copy(), indices


def nearest_center(X: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre and the squared distance to it, for every row.

    Uses ``argmax_k (x . c_k - |c_k|^2 / 2)`` (one GEMM and one pass over the
    (n, K) scores) on rows and centres shifted by the centres' mean.
    """
    origin = centers.mean(axis=0)
    Xc = X - origin
    Cc = centers - origin
    scores = Xc @ Cc.T
    scores -= 0.5 * (Cc * Cc).sum(axis=1)
    labels = np.argmax(scores, axis=1)
    best = np.take_along_axis(scores, labels[:, None], axis=1)[:, 0]
    distances = np.einsum("ij,ij->i", Xc, Xc)
    distances -= 2.0 * best
    np.maximum(distances, 0.0, out=distances)
    return labels, distances


def nearest_partition(
    X: np.ndarray, centers: np.ndarray, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_center` computed in chunks of rows (memory O(chunk x K))."""
    labels = np.empty(X.shape[0], dtype=np.intp)
    distances = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk_size):
        stop = start + chunk_size
        labels[start:stop], distances[start:stop] = nearest_center(X[start:stop], centers)
    return labels, distances


def one_hot(labels: np.ndarray, n_components: int) -> np.ndarray:
    """(n, K) indicator matrix of integer labels."""
    resp = np.zeros((labels.shape[0], n_components))
    resp[np.arange(labels.shape[0]), labels] = 1.0
    return resp
