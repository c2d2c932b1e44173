"""Where the rows come from: a source yields ``(X_chunk, weight_chunk)`` pairs.

The EM engine only iterates over a source, so an in-memory array, a memory map,
a file reader or a Dask array (later) are interchangeable.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Target size in bytes of one chunk's per-component work arrays.
_CHUNK_BYTES = 8 * 2**20


#: The default splits the rows into at least this many chunks (when each still
#: has ``_MIN_SPLIT_ROWS`` rows), so that the E-step threads share the work even
#: when the per-row work arrays are small (fused kernels, few components).
_MIN_CHUNKS = 8
_MIN_SPLIT_ROWS = 8192


def default_chunk_size(n_samples: int, row_width: int) -> int:
    """Rows per chunk so that work arrays of ``row_width`` float64 per row stay a few MB.

    Depends only on its arguments (never on the number of threads), so the
    chunking, and with it every result, is the same whatever the threads.
    """
    rows = _CHUNK_BYTES // (8 * max(row_width, 1))
    rows = min(rows, max(_MIN_SPLIT_ROWS, -(-n_samples // _MIN_CHUNKS)))
    return int(max(1, min(n_samples, max(256, rows))))


class ArraySource:
    """Chunks of an in-memory (or memory-mapped) 2-D array with row weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights (counts); None means all ones.
    chunk_size : int
        Rows per chunk.
    labels : ndarray of shape (n_samples,) or None
        Known component per row, -1 where unknown (semi-supervised EM).
    """

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        chunk_size: int,
        labels: np.ndarray | None = None,
    ):
        self.X = X
        #: Known component of each row (-1: unknown), or None (nothing labelled).
        self.labels = labels
        self.sample_weight = (
            np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
        )
        #: True when every weight is 1 (the engine then skips weighting).
        self.unweighted = bool(np.all(self.sample_weight == 1.0))
        self.chunk_size = int(chunk_size)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def total_weight(self) -> float:
        return float(self.sample_weight.sum())

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            yield self.X[start:stop], self.sample_weight[start:stop]

    def labelled_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """Like :meth:`chunks`, with each chunk's labels (None when nothing is labelled)."""
        for start in range(0, self.X.shape[0], self.chunk_size):
            stop = start + self.chunk_size
            labels = None if self.labels is None else self.labels[start:stop]
            yield self.X[start:stop], self.sample_weight[start:stop], labels
