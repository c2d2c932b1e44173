"""Hidden Markov models on Dask: a dask array as blocks of whole sequences.

``HMM.fit(X, lengths)`` with X a dask array (or data frame) runs every
E-step where the blocks are: each block holds whole sequences, its task
builds the block's :class:`~emkit.hmm.sources.SequenceChunk` objects on the
worker and runs forward-backward there, and the statistics are added by the
fixed binary tree of :class:`~emkit.sources.DaskSource` (the same code), so
the fit does not depend on the number of workers and equals the in-memory
fit whose chunks are the blocks.

X's row blocks are kept when every block ends at a sequence boundary (see
:func:`rechunk_sequences` to prepare, and persist, such an array); otherwise
X is rechunked at sequence boundaries: consecutive whole sequences packed
into blocks of at most X's largest block (a longer sequence is a block of
its own).  Within a block, sequences are packed into chunks of
``chunk_size`` rows as in memory.

Before EM, one pass checks every row (categorical emissions learn their
levels in that pass), and the start (k-means, ..., counted
transitions) is computed in memory from a bounded sample of whole sequences
(all of them when the data have no more rows than
:func:`~emkit.sources.sample_rows`; then the start, and the fit, equal the
in-memory ones).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._validation import check_int, check_partial_labels
from ..families.structures import get_structure
from ..sources import ChunkCheck, DaskSource, default_chunk_size, sample_rows
from ..sources._base import add_results, is_dask_collection
from ..sources._checks import Segment, Where
from .sources import (
    SequenceSource,
    check_lengths,
    check_sequence_weight,
    pack_sequences,
    with_sequence,
)


# ------------------------------------------------------------------ blocks
def sequence_blocks(lengths: np.ndarray, block_rows: int) -> tuple[int, ...]:
    """Rows of every block: consecutive whole sequences packed into blocks of at most
    ``block_rows`` rows (a longer sequence is a block of its own)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return tuple(int(offsets[hi] - offsets[lo])
                 for lo, hi in pack_sequences(offsets, int(block_rows)))


def _aligned(X, lengths: np.ndarray, block_rows: int | None):
    """X with row blocks that end at sequence boundaries (X itself when they already do
    and no ``block_rows`` is asked for)."""
    sizes = np.asarray(X.chunks[0], dtype=np.int64)
    if block_rows is None:
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        if np.isin(np.cumsum(sizes), offsets).all():
            return X
        block_rows = int(sizes.max())
    blocks = sequence_blocks(lengths, block_rows)
    return X if tuple(X.chunks[0]) == blocks else X.rechunk({0: blocks})


def rechunk_sequences(X, lengths, block_rows: int | None = None):
    """A dask array whose row blocks hold whole sequences, for :meth:`HMM.fit` and co.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    lengths : array-like of int
        Sequence lengths summing to ``n_samples``.
    block_rows : int, optional
        Target rows per block (default: X's largest block).  Blocks then hold
        consecutive whole sequences, at most ``block_rows`` rows (a longer
        sequence is a block of its own); without it, X is returned as it is
        when its blocks already end at sequence boundaries.

    Returns
    -------
    dask.array.Array
        X rechunked along the rows.  Fitting rechunks X in the same way on
        every E-step; persist the result (``client.persist``) to rechunk once.
    """
    source = DaskSource(X)
    lengths = check_lengths(lengths, source.n_samples)
    if block_rows is not None:
        block_rows = check_int(block_rows, "block_rows", 1)
    return _aligned(source._data, lengths, block_rows)


@dataclasses.dataclass
class _SequenceLayout:
    """What a block task needs to turn a block into sequence chunks: the row layout of
    the block (one checked chunk of all its rows) and the chunk size."""

    rows: Any
    chunk_size: int

    @property
    def kernels(self) -> str:
        return self.rows.kernels

    def chunks(self, block, labels, info) -> Iterator[tuple]:
        """``(SequenceChunk, row weights)`` of a block (``info``: its first row, first
        sequence, sequence lengths and weights)."""
        start, first, lengths, weights = info
        for rows in self.rows.chunks(block, None, labels, start):
            source = SequenceSource(rows.X, lengths, weights, self.chunk_size, rows.labels)
            for chunk, w in source.chunks():
                yield dataclasses.replace(chunk, first_sequence=chunk.first_sequence + first,
                                          first_row=chunk.first_row + start), w


class DaskSequenceSource:
    """Sequences of a dask array, in blocks of whole sequences, for the EM engine.

    Parameters
    ----------
    rows : DaskSource
        The rows, configured with the per-row check and any partial labels,
        whose blocks end at sequence boundaries.
    lengths : ndarray of shape (n_sequences,)
    sequence_weight : ndarray of shape (n_sequences,) or None
    chunk_size : int
        Target rows per chunk within a block (sequences are never split).
    """

    #: The engine reads partial labels from the chunks, not from the source.
    labels = None

    def __init__(self, rows: DaskSource, lengths: np.ndarray,
                 sequence_weight: np.ndarray | None, chunk_size: int):
        self.rows = rows
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)
        self.sequence_weight = (np.ones(self.lengths.shape[0]) if sequence_weight is None
                                else np.asarray(sequence_weight, dtype=np.float64))
        self.unweighted = bool(np.all(self.sequence_weight == 1.0))
        self.chunk_size = int(chunk_size)
        sizes = rows._lengths_known()
        ends = np.cumsum(sizes)
        firsts = np.searchsorted(self.offsets, ends - sizes)
        lasts = np.searchsorted(self.offsets, ends)
        self._infos = [(int(end - size), int(lo), self.lengths[lo:hi],
                        self.sequence_weight[lo:hi])
                       for size, end, lo, hi in zip(sizes, ends, firsts, lasts, strict=True)]
        self._shipped: list | None = None

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_sequences(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def n_blocks(self) -> int:
        return len(self._infos)

    def total_weight(self) -> float:
        return float(self.sequence_weight @ self.lengths)

    def _tasks(self, function: Callable, combine: Callable, reduce: bool) -> list:
        sizes = self.rows._lengths_known()
        layout = _SequenceLayout(self.rows._layout(max(int(sizes.max()), 1)),  # one chunk
                                 self.chunk_size)                                # per block
        if self._shipped is None:  # sequence lengths and weights: sent once per fit
            import dask

            self._shipped = self.rows.persist(*[dask.delayed(info, traverse=False)
                                                for info in self._infos])
        parts = [(block, labels, info) for (block, _, labels, _), info
                 in zip(self.rows._block_parts(), self._shipped, strict=True)]
        return self.rows.block_tasks(function, combine, layout, parts, reduce)

    def map_reduce(self, function: Callable, combine: Callable = add_results) -> Any:
        """``function`` of every chunk, reduced by the fixed tree over the blocks."""
        try:
            return self.rows.reduce_tree(self._tasks(function, combine, True), combine)
        except ValueError as exc:
            raise with_sequence(exc, self.lengths) from None

    def map_chunks(self, function: Callable) -> Iterator:
        """``function`` of every chunk, in order (all results come to the client)."""
        try:
            results = self.rows._compute(*self._tasks(function, add_results, False))
        except ValueError as exc:
            raise with_sequence(exc, self.lengths) from None
        for block in results:
            yield from block

    def close(self) -> None:
        self.rows.close()


# ------------------------------------------------------------------ opening
def _rows_of(X) -> tuple[DaskSource, list[str] | None]:
    """X's rows as a DaskSource over a dask array (a data frame's feature columns are
    converted, their names kept); X may be a DaskSource (its client is kept)."""
    source = X if isinstance(X, DaskSource) else DaskSource(X)
    scheduler = source.client()
    if not source._frame:
        return source, None
    names = source.feature_names
    array = source._data[names].to_dask_array(lengths=True)
    return DaskSource(array, label=source.label, scheduler=scheduler), names


def _record_features(estimator, D: int, names: list[str] | None, reset: bool,
                     label: str) -> None:
    if reset:
        estimator.n_features_in_ = D
        if names is not None:
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif D != estimator.n_features_in_:
        raise ValueError(f"{label} has {D} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input")


def _row_check(estimator, emission, D: int, *, fitting: bool) -> ChunkCheck:
    """Every block's rows: the emission's support (numeric) or its level codes."""
    K = estimator.n_components
    if not emission.numeric:
        from ..models.categorical import encoding_check

        return encoding_check(estimator.categories_, K,
                              "error" if fitting else emission.handle_unknown)
    covariance_type = getattr(emission, "covariance_type", None)
    if covariance_type is not None:
        get_structure(covariance_type).check_n_features(D)
    family = emission.family(estimator, D)
    return ChunkCheck(np.float64, allow_nan=True, check=family.check_data, n_components=K)


def _sample_windows(lengths: np.ndarray, cap: int, rng) -> list[tuple[int, int, int]]:
    """(sequence, first row within it, rows) of the initialisation sample: every sequence
    when the data fit in ``cap`` rows, else sequences in random order, whole while they
    fit, the last one a random window of the remaining rows."""
    if int(lengths.sum()) <= cap:
        return [(s, 0, int(T)) for s, T in enumerate(lengths)]
    windows = []
    remaining = cap
    for s in rng.permutation(lengths.shape[0]):
        take = int(min(lengths[s], remaining))
        windows.append((int(s), int(rng.randint(0, lengths[s] - take + 1)), take))
        remaining -= take
        if remaining == 0:
            break
    return sorted(windows)


def _sample(source: DaskSequenceSource, check: ChunkCheck, labels, rng,
            chunk_size: int) -> SequenceSource:
    """The in-memory initialisation sample: whole sequences (or a window of one)."""
    rows = source.rows
    windows = _sample_windows(source.lengths, sample_rows(rows.n_features), rng)
    starts = [int(source.offsets[s]) + lo for s, lo, _ in windows]
    index = np.concatenate([np.arange(a, a + T) for a, (_, _, T) in zip(starts, windows,
                                                                         strict=True)])
    whole = index.shape[0] == source.n_samples
    data = rows._data if whole else rows._data[index]
    values = rows._compute(data)[0]
    segments, row = [], 0
    for a, (_, _, T) in zip(starts, windows, strict=True):
        segments.append(Segment(row, rows.label, a))
        row += T
    where = Where(tuple(segments))
    X = check.values(values, where)
    y = None
    if labels is not None:
        y = labels if whole else labels[index]
        if is_dask_collection(y):
            y = rows._compute(y)[0]
        y = check.labels(np.asarray(y), where, "y")
    lengths = np.array([T for _, _, T in windows], dtype=np.int64)
    weights = source.sequence_weight[[s for s, _, _ in windows]]
    return SequenceSource(X, lengths, weights, chunk_size, y)


def is_dask_input(X) -> bool:
    """Whether an HMM reads X on Dask: a dask array or data frame, or a DaskSource.

    Raises
    ------
    TypeError
        X is another source (a file read chunk by chunk): HMMs read X in memory
        or on Dask.
    """
    from ..sources import is_source

    if is_dask_collection(X) or isinstance(X, DaskSource):
        return True
    if is_source(X):
        raise TypeError(f"HMMs read X in memory or on Dask, not from a {type(X).__name__}: "
                        "load the rows (sequences in order) or pass a dask array")
    return False


def open_dask(estimator, X, lengths, y, sample_weight, *, fitting: bool, reset: bool,
              rng=None) -> tuple[DaskSequenceSource, SequenceSource | None]:
    """X (a dask collection or DaskSource) as a :class:`DaskSequenceSource`, checked, and (when
    ``fitting``) the in-memory initialisation sample.

    Records ``n_features_in_`` (and ``categories_`` for categorical emissions)
    on ``reset``.  ``y`` (partial labels) may be a NumPy or a 1-D dask array,
    ``sample_weight`` one weight per sequence.
    """
    emission = estimator._emission()
    rows, names = _rows_of(X)
    n, D = rows.n_samples, rows.n_features
    lengths = check_lengths(lengths, n)
    K = estimator.n_components
    if fitting and n < K:
        raise ValueError(f"X has {n} rows but n_components={K}: need at least as many rows "
                         "as states")
    rows = DaskSource(_aligned(rows._data, lengths, None), label=rows.label,
                      scheduler=rows.client())
    if not reset:
        _record_features(estimator, D, names, reset, rows.label)
    labels = None
    if fitting and estimator.semi_supervised:
        if y is None:
            raise ValueError("semi_supervised=True needs y: the known state of every row, "
                             "-1 where unknown")
        labels = y if is_dask_collection(y) else check_partial_labels(y, n, K)
    weights = check_sequence_weight(sample_weight, lengths.shape[0]) if fitting else None
    if fitting and reset and not emission.numeric:
        from ..models.categorical import source_categories

        estimator.categories_ = source_categories(emission.categories, rows)
    check = _row_check(estimator, emission, D, fitting=fitting)
    rows = rows.configured(check=check, labels=labels)
    rows.label_name = "y"  # how messages name the partial labels
    if fitting and emission.numeric:  # every row checked before EM
        try:
            summary = rows.scan(1, 0, moments=False)
        except ValueError as exc:
            raise with_sequence(exc, lengths) from None
        unobserved = np.flatnonzero(summary.observed == 0)
        if unobserved.size:
            column = repr(names[unobserved[0]]) if names else str(unobserved[0])
            raise ValueError(f"{rows.label}: column {column} has no observed value (every "
                             "entry is missing); drop the column")
    if reset:  # only now that every row passed its checks
        _record_features(estimator, D, names, reset, rows.label)
    chunk_size = estimator.chunk_size if fitting else None
    chunk_size = chunk_size or default_chunk_size(n, 4 * K + D)
    source = DaskSequenceSource(rows, lengths, weights, chunk_size)
    if not fitting:
        return source, None
    return source, _sample(source, check, labels, rng, chunk_size)
