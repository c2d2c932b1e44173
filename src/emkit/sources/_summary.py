"""One pass over a source before EM: counts, moments and a bounded uniform sample.

Estimators fitted from a source that is not in memory need, before EM, the
number of rows, the total weight, which columns have observed values, the
weighted mean and covariance (k-means' tolerance, the default Gaussian prior)
and a sample of rows to initialise from.  :class:`ScanStep` computes these for
one chunk and :func:`combine` merges two adjacent summaries, so the scan is a
map and a reduction like the E-step (threads locally, a tree on Dask).

The sample is uniform without replacement over the rows, of at most ``cap``
rows: a chunk larger than ``cap`` is subsampled, and two samples are merged by
drawing how many rows come from each side from the hypergeometric law (exact:
the merge of uniform samples is uniform).  When all rows fit in ``cap`` the
sample *is* the data, in order, so initialisation is the same as in memory.
Random draws are seeded by ``(seed, first row of each side)``, so the sample
depends neither on threads nor on workers.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Rows an initialisation sample holds at most (fewer for wide data, see :func:`sample_rows`).
INIT_SAMPLE_ROWS = 100_000
#: Bytes of float64 an initialisation sample holds at most.
INIT_SAMPLE_BYTES = 64 * 2**20


def sample_rows(n_features: int) -> int:
    """Rows of the initialisation sample for data of ``n_features`` columns."""
    return int(max(1000, min(INIT_SAMPLE_ROWS, INIT_SAMPLE_BYTES // (8 * max(n_features, 1)))))


@dataclasses.dataclass
class Summary:
    """Counts, weighted moments and a uniform sample of a run of rows."""

    n_rows: int
    first: int
    weight: float
    observed: np.ndarray
    labelled: int
    mean: np.ndarray
    scatter: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    labels: np.ndarray | None
    rows: np.ndarray
    subsampled: bool = False

    @property
    def has_missing(self) -> bool:
        return bool((self.observed < self.n_rows).any())

    def covariance(self) -> np.ndarray:
        """Weighted covariance with R's ``n - 1`` denominator (as ``cov.wt``)."""
        return self.scatter / max(self.weight - 1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ScanStep:
    """The summary of one chunk (a picklable callable, for Dask workers)."""

    cap: int
    seed: int
    moments: bool = True

    def __call__(self, chunk) -> Summary:
        X, w, labels, start = chunk
        m, D = X.shape
        if X.dtype.kind == "f":
            observed = m - np.isnan(X).sum(axis=0)
        else:
            observed = np.full(D, m)
        weight = float(w.sum())
        mean = np.zeros(D)
        scatter = np.zeros((D, D))
        if self.moments and weight > 0 and X.dtype.kind in "fiub":
            values = np.asarray(X, dtype=np.float64)
            mean = (w @ values) / weight
            centred = values - mean
            weighted = centred if np.all(w == 1.0) else centred * w[:, None]
            scatter = weighted.T @ centred
            del centred, weighted
        labelled = 0 if labels is None else int((labels >= 0).sum())
        rows = np.arange(start, start + m, dtype=np.int64)
        subsampled = m > self.cap
        if subsampled:
            rng = np.random.default_rng([self.seed, start, 1])
            keep = np.sort(rng.choice(m, self.cap, replace=False))
            X, w, rows = X[keep], w[keep], rows[keep]
            labels = None if labels is None else labels[keep]
        return Summary(m, start, weight, observed.astype(np.int64), labelled, mean, scatter,
                       X, w, labels, rows, subsampled)

    def combine(self, a: Summary, b: Summary) -> Summary:
        """Merge the summaries of two adjacent runs of rows (``a`` before ``b``)."""
        weight = a.weight + b.weight
        if a.weight == 0:
            mean, scatter = b.mean, b.scatter
        elif b.weight == 0:
            mean, scatter = a.mean, a.scatter
        else:  # Chan, Golub & LeVeque's update of weighted moments
            delta = b.mean - a.mean
            mean = a.mean + delta * (b.weight / weight)
            scatter = a.scatter + b.scatter + np.outer(delta, delta) * (
                a.weight * b.weight / weight)
        kept = a.X.shape[0] + b.X.shape[0]
        pick_a = pick_b = None
        subsampled = a.subsampled or b.subsampled
        if kept > self.cap:
            rng = np.random.default_rng([self.seed, a.first, b.first, 2])
            from_a = int(rng.hypergeometric(a.n_rows, b.n_rows, self.cap))
            pick_a = np.sort(rng.choice(a.X.shape[0], from_a, replace=False))
            pick_b = np.sort(rng.choice(b.X.shape[0], self.cap - from_a, replace=False))
            subsampled = True

        def join(left, right):
            if left is None or right is None:
                return None
            if pick_a is None:
                return np.concatenate([left, right])
            # a full left sample is overwritten in place (it is not used again)
            out = left if left.shape[0] == self.cap and left.flags.writeable and (
                left.base is None) else np.empty((self.cap, *left.shape[1:]), left.dtype)
            out[:pick_a.shape[0]] = left[pick_a]
            out[pick_a.shape[0]:] = right[pick_b]
            return out

        return Summary(a.n_rows + b.n_rows, a.first, weight, a.observed + b.observed,
                       a.labelled + b.labelled, mean, scatter, join(a.X, b.X),
                       join(a.weights, b.weights), join(a.labels, b.labels),
                       join(a.rows, b.rows), subsampled)
