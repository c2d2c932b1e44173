"""Sequences as chunks: every chunk holds whole sequences, so its E-step is forward-backward.

:class:`SequenceSource` is a source in the engine's sense (``chunks()`` yields
``(chunk, row_weights)`` pairs; :mod:`emkit.em.engine`): the chunk is a
:class:`SequenceChunk` (the rows of some consecutive whole sequences, their
boundaries, weights and any known states) and the row weights are every
row's sequence weight, so that the engine's objective is the log-likelihood
per observation.  Sequences are packed into chunks of about ``chunk_size``
rows; a longer sequence is a chunk of its own (memory is O(longest chunk x
K), whatever the total length).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from numbers import Integral

import numpy as np

_ROW = re.compile(r"\brow (\d+)\b")


@dataclasses.dataclass(frozen=True)
class SequenceChunk:
    """The rows of consecutive whole sequences.

    Attributes
    ----------
    X : ndarray (n, D)
        The rows (a view of the source's X: per-chunk caches key on it).
    offsets : ndarray (S + 1,)
        Sequence boundaries within ``X`` (0 ... n).
    weights : ndarray (S,)
        Weight of every sequence.
    first_sequence : int
        Index of the chunk's first sequence in the source.
    first_row : int
        Row of the source where the chunk starts.
    labels : ndarray (n,) or None
        Known state of every row (-1: unknown), or None.
    """

    X: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray
    first_sequence: int
    first_row: int
    labels: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.X.shape

    def sequence_rows(self, s: int) -> tuple[int, int]:
        """First and last+1 row of local sequence ``s`` in the source's X."""
        return self.first_row + int(self.offsets[s]), self.first_row + int(self.offsets[s + 1])


def check_lengths(lengths, n_samples: int) -> np.ndarray:
    """``lengths`` as an int64 array of positive sequence lengths summing to ``n_samples``.

    None means one sequence of all rows.

    Raises
    ------
    ValueError
        Naming the offending sequence (a length that is 0, negative or not an
        integer) or the mismatch between the sum and the rows of X.
    """
    if lengths is None:
        return np.array([n_samples], dtype=np.int64)
    values = np.asarray(lengths)
    if values.ndim != 1:
        raise ValueError(f"lengths must be a 1-D array of sequence lengths, got shape "
                         f"{values.shape}")
    if values.size == 0:
        raise ValueError("lengths is empty: give at least one sequence length")
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            s = int(np.flatnonzero(bad)[0])
            raise ValueError(f"lengths[{s}] = {values[s]!r} is not an integer length")
    elif values.dtype.kind not in "iu" or values.dtype == bool:
        raise ValueError(f"lengths must hold integers, got dtype {values.dtype}")
    values = values.astype(np.int64)
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        s = int(bad[0])
        raise ValueError(f"sequence {s} has length {values[s]} (lengths[{s}]): every sequence "
                         "needs at least one row")
    total = int(values.sum())
    if total != n_samples:
        raise ValueError(f"lengths sum to {total} but X has {n_samples} rows: the sequence "
                         "lengths must add up to the rows of X")
    return values


def split_sequences(X) -> tuple[object, np.ndarray | None]:
    """A list/tuple of 2-D arrays (one per sequence) as (stacked rows, lengths).

    Anything else is returned unchanged with ``None``.
    """
    if isinstance(X, (list, tuple)) and X and all(
            hasattr(part, "shape") and len(part.shape) == 2 for part in X):
        lengths = np.array([part.shape[0] for part in X], dtype=np.int64)
        if hasattr(X[0], "iloc"):  # DataFrames keep their columns
            import pandas as pd

            return pd.concat(list(X), axis=0, ignore_index=True), lengths
        return np.concatenate([np.asarray(part) for part in X], axis=0), lengths
    return X, None


def check_sequence_weight(sample_weight, n_sequences: int) -> np.ndarray:
    """Non-negative finite weights, one per sequence (None: all ones)."""
    if sample_weight is None:
        return np.ones(n_sequences)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_sequences, float(w))
    if w.shape != (n_sequences,):
        raise ValueError(f"sample_weight must have one weight per sequence ({n_sequences}), "
                         f"got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"sample_weight of sequence {int(bad[0])} is {w[bad[0]]!r}: weights "
                         "must be finite and non-negative")
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: at least one sequence needs a positive "
                         "weight")
    return w


def pack_sequences(offsets: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive sequence ranges [lo, hi) of at most ``size`` rows each (a longer
    sequence is a range of its own); ``offsets`` are the sequence boundaries (S + 1,)."""
    out = []
    lo = 0
    S = offsets.shape[0] - 1
    while lo < S:
        # the last sequence that still fits (at least one sequence per range)
        hi = int(np.searchsorted(offsets, offsets[lo] + size, side="right")) - 1
        hi = min(max(hi, lo + 1), S)
        out.append((lo, hi))
        lo = hi
    return out


def with_sequence(exc: ValueError, lengths: np.ndarray) -> ValueError:
    """The error of a row of X, also naming its sequence and its row in that sequence."""
    message = str(exc)
    found = _ROW.search(message)
    if found is None or lengths.shape[0] == 1:
        return exc
    row = int(found.group(1))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    s = int(np.searchsorted(offsets, row, side="right")) - 1
    if not 0 <= s < lengths.shape[0]:
        return exc
    return ValueError(f"{message.rstrip('.')} (row {row} of X is row {row - offsets[s]} of "
                      f"sequence {s})")


class SequenceSource:
    """Chunks of whole sequences of an in-memory (or memory-mapped) array.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows of all sequences, one after the other.
    lengths : ndarray of shape (n_sequences,)
        Positive lengths summing to ``n_samples`` (:func:`check_lengths`).
    sequence_weight : ndarray of shape (n_sequences,) or None
        Non-negative weights (None: all ones).
    chunk_size : int
        Target rows per chunk; sequences are never split.
    labels : ndarray of shape (n_samples,) or None
        Known state of every row, -1 where unknown (semi-supervised EM).
    """

    #: The engine reads partial labels from the chunks, not from the source.
    labels = None

    def __init__(self, X, lengths: np.ndarray, sequence_weight: np.ndarray | None,
                 chunk_size: int, labels: np.ndarray | None = None):
        if not isinstance(chunk_size, Integral) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.X = X
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.sequence_weight = (np.ones(self.lengths.shape[0]) if sequence_weight is None
                                else np.asarray(sequence_weight, dtype=np.float64))
        #: Every row's sequence weight (what the engine sums into the objective's weight).
        self.sample_weight = np.repeat(self.sequence_weight, self.lengths)
        self.unweighted = bool(np.all(self.sequence_weight == 1.0))
        self.state_labels = labels
        self.chunk_size = int(chunk_size)
        self.boundaries = self._pack()

    def _pack(self) -> list[tuple[int, int]]:
        """Consecutive sequence ranges [lo, hi) of about ``chunk_size`` rows each."""
        return pack_sequences(self.offsets, self.chunk_size)

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_sequences(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def longest(self) -> int:
        return int(self.lengths.max())

    def total_weight(self) -> float:
        return float(self.sample_weight.sum())

    def chunk(self, lo: int, hi: int) -> SequenceChunk:
        """The chunk of sequences ``lo`` to ``hi - 1``."""
        r0, r1 = int(self.offsets[lo]), int(self.offsets[hi])
        labels = None if self.state_labels is None else self.state_labels[r0:r1]
        return SequenceChunk(self.X[r0:r1], self.offsets[lo:hi + 1] - r0,
                             self.sequence_weight[lo:hi], lo, r0, labels)

    def chunks(self) -> Iterator[tuple[SequenceChunk, np.ndarray]]:
        for lo, hi in self.boundaries:
            chunk = self.chunk(lo, hi)
            r0, r1 = int(self.offsets[lo]), int(self.offsets[hi])
            yield chunk, self.sample_weight[r0:r1]
