"""The source protocol: rows in chunks, mapped and reduced for the EM engine.

A source knows how many features it has (and their names, if any), reads its
rows in chunks of ``chunk_size`` rows (chunk ``i`` is always rows
``[i * chunk_size, (i + 1) * chunk_size)``, whatever the file layout, so that
every result depends on the chunk size only) and offers the engine two ways to
compute over them:

``map_chunks(function)``
    ``function(chunk)`` for every chunk, results in chunk order;
``map_reduce(function, combine)``
    the results combined in a fixed order (local sources: left to right;
    Dask: a fixed binary tree over the blocks), so the result does not depend
    on threads or workers.

A chunk is a :class:`Chunk` ``(X, weights, labels, start)``.  Before any chunk
reaches the engine it has passed the estimator's :class:`ChunkCheck` (cast,
NaN/inf, family support, weights, labels), applied as the chunk is read.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .._config import effective_threads
from ._checks import ChunkCheck, Where
from ._map import ordered_map, read_ahead, single_threaded_blas
from ._summary import ScanStep, Summary

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


#: Bytes of float64 per chunk in the pass before EM (it keeps few arrays per row).
_SCAN_CHUNK_BYTES = 2 * 2**20


def scan_chunk_size(n_features: int) -> int:
    """Rows per chunk of the pass before EM (about 2 MB of float64 per chunk)."""
    return int(max(4096, _SCAN_CHUNK_BYTES // (8 * max(n_features, 1))))


#: ``configured()``'s default: keep the current setting.
_KEEP: Any = object()


class Chunk(NamedTuple):
    """Rows ``start`` to ``start + len(X)`` of a source, checked."""

    X: Any
    weights: np.ndarray
    labels: np.ndarray | None
    start: int


def is_dask_collection(X: Any) -> bool:
    """Whether X is a dask array or dask data frame (without importing dask)."""
    module = type(X).__module__
    return module.startswith("dask.") and hasattr(X, "__dask_graph__")


def add_results(a, b):
    """Fieldwise sum of two tuples of chunk results (the E-step's reduction)."""
    return tuple(map(operator.add, a, b))


def checked_chunk(check: ChunkCheck, X: np.ndarray, weights: np.ndarray | None,
                  labels: np.ndarray | None, where: Where, start: int,
                  weight_name: str = "sample_weight", label_name: str = "labels") -> Chunk:
    """A :class:`Chunk` from raw rows, after the estimator's checks."""
    X = check.values(X, where)
    m = X.shape[0]
    weights = np.ones(m) if weights is None else check.weights(weights, where, weight_name)
    if labels is not None:
        labels = check.labels(labels, where, label_name)
    return Chunk(X, weights, labels, start)


class Source:
    """Base class of the chunked sources (not used directly).

    Subclasses implement :meth:`_read`, :attr:`n_features` and, when they
    know it without reading, :meth:`_known_rows`; named sources (CSV,
    Parquet, data frames) also :attr:`all_columns` and accept weight and label
    *columns*.
    """

    #: Whether every pass yields views of the same memory (in-memory arrays), so
    #: that models may cache per-chunk work keyed by the chunk's address.
    persistent_chunks: ClassVar[bool] = False
    #: Whether chunks are read in a background thread ahead of the E-step.
    read_ahead: ClassVar[bool] = True
    #: How messages name the data.
    label: str = "X"

    def __init__(self) -> None:
        self.chunk_size: int | None = None
        self._check = ChunkCheck()
        self._weight_spec: Any = None
        self._label_spec: Any = None
        self._rows: int | None = None
        self.summary: Summary | None = None

    # ----------------------------------------------------------- description
    @property
    def n_features(self) -> int:
        raise NotImplementedError

    @property
    def feature_names(self) -> list[str] | None:
        """Names of the feature columns (None for unnamed array columns)."""
        return None

    def _known_rows(self) -> int | None:
        """Rows known without a pass over the data (file metadata), else None."""
        return None

    @property
    def n_samples(self) -> int:
        """Number of rows (known from metadata, or after :meth:`scan`)."""
        rows = self._rows if self._rows is not None else self._known_rows()
        if rows is None:
            raise RuntimeError(f"{self.label}: the number of rows is not known before a "
                               "pass over the data (call scan() first)")
        return rows

    @property
    def unweighted(self) -> bool:
        """True when every row has weight 1 (no weights given)."""
        return self._weight_spec is None

    @property
    def labels(self):
        """Marker that partial labels are configured (engine compatibility)."""
        return self._label_spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r}, n_features={self.n_features})"

    # --------------------------------------------------------- configuration
    def configured(self, *, check: ChunkCheck | None = None, sample_weight: Any = _KEEP,
                   labels: Any = _KEEP, chunk_size: int | None = None) -> Source:
        """A copy of this source with per-chunk checks, weights, labels or chunk size.

        Parameters
        ----------
        check : ChunkCheck, optional
            What every chunk must satisfy (the estimator's checks).
        sample_weight : None, str or array of shape (n_samples,)
            Row weights: a column name (named sources: the column is then not
            a feature), an array, or None (all ones).
        labels : None, str or array of shape (n_samples,)
            Partial labels for semi-supervised EM (-1 or empty: unknown).
        chunk_size : int, optional
            Rows per chunk of :meth:`map_chunks` and :meth:`map_reduce`.
        """
        other = copy.copy(self)
        if check is not None:
            other._check = check
        if sample_weight is not _KEEP:
            other._weight_spec = other._resolve_extra(sample_weight, "sample_weight")
        if labels is not _KEEP:
            other._label_spec = other._resolve_extra(labels, "labels")
        if chunk_size is not None:
            other.chunk_size = int(chunk_size)
        other._after_configure()
        return other

    def _after_configure(self) -> None:
        """Hook: re-derive anything that depends on the weight/label columns."""

    def _resolve_extra(self, value: Any, name: str) -> Any:
        """A weight or label specification: None, ("column", name) or ("array", values)."""
        if value is None:
            return None
        if isinstance(value, str):
            return ("column", self._extra_column(value, name))
        values = np.asarray(value)
        if values.ndim != 1:
            raise ValueError(f"{name} must be one value per row (1-D), got shape {values.shape}")
        known = self._rows if self._rows is not None else self._known_rows()
        if known is not None and values.shape[0] != known:
            raise ValueError(f"{name} has {values.shape[0]} entries but {self.label} has "
                             f"{known} rows")
        return ("array", values)

    def _extra_column(self, column: str, name: str) -> str:
        raise ValueError(f"{name}={column!r} names a column, but {self.label} has no column "
                         "names; give an array with one value per row")

    def _extra_columns(self) -> list[str]:
        """Columns read besides the features: the weight, then the label column."""
        return [spec[1] for spec in (self._weight_spec, self._label_spec)
                if spec is not None and spec[0] == "column"]

    # ---------------------------------------------------------------- reading
    def _read(self, chunk_size: int) -> Iterator[tuple[np.ndarray, Where, int]]:
        """Raw float64 rows ``(block, where, start)``: features then extra columns.

        Blocks hold exactly ``chunk_size`` rows (the last may hold fewer) and
        start at multiples of ``chunk_size``.
        """
        raise NotImplementedError

    def _chunks(self, chunk_size: int | None = None) -> Iterator[Chunk]:
        """Checked chunks of ``chunk_size`` rows (default: the configured chunk size)."""
        size = int(chunk_size or self.chunk_size or scan_chunk_size(self.n_features))
        D = self.n_features
        column = D
        weight_col = label_col = None
        if self._weight_spec is not None and self._weight_spec[0] == "column":
            weight_col, column = column, column + 1
        if self._label_spec is not None and self._label_spec[0] == "column":
            label_col = column
        for block, where, start in self._read(size):
            m = block.shape[0]
            w = self._extra_values(self._weight_spec, block, weight_col, start, m,
                                   "sample_weight")
            y = self._extra_values(self._label_spec, block, label_col, start, m, "labels")
            yield checked_chunk(self._check, block[:, :D], w, y, where, start,
                                self._extra_name(self._weight_spec, "sample_weight"),
                                self._extra_name(self._label_spec, "labels"))

    def _extra_values(self, spec, block: np.ndarray, column: int | None, start: int, m: int,
                      name: str):
        if spec is None:
            return None
        if spec[0] == "column":
            return block[:, column]
        values = spec[1]
        if start + m > values.shape[0]:
            raise ValueError(f"{name} has {values.shape[0]} entries but {self.label} has "
                             "more rows")
        return values[start:start + m]

    @staticmethod
    def _extra_name(spec, default: str) -> str:
        return spec[1] if spec is not None and spec[0] == "column" else default

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(X, weights)`` of every chunk, in order."""
        for chunk in self._chunks():
            yield chunk.X, chunk.weights

    def labelled_chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """``(X, weights, labels)`` of every chunk (labels None when none are given)."""
        for chunk in self._chunks():
            yield chunk.X, chunk.weights, chunk.labels

    # ------------------------------------------------------- map and reduce
    def map_chunks(self, function: Callable, chunk_size: int | None = None) -> Iterator:
        """``function(chunk)`` of every chunk, in chunk order.

        Chunks are computed by ``emkit.get_config()["n_threads"]`` threads with
        single-threaded BLAS inside each, and read (parsed, converted,
        checked) one thread ahead for file sources.
        """
        chunks = self._chunks(chunk_size)
        threads = effective_threads()
        ahead = None
        if self.read_ahead:  # a reader thread keeps the next chunk ready: queue less
            chunks = read_ahead(chunks)
            ahead = threads + 1
        with single_threaded_blas():
            yield from ordered_map(function, chunks, threads, ahead)

    def map_reduce(self, function: Callable, combine: Callable = add_results,
                   chunk_size: int | None = None) -> Any:
        """``function`` of every chunk, combined left to right in chunk order.

        Returns None when the source has no rows.
        """
        result = None
        for part in self.map_chunks(function, chunk_size):
            result = part if result is None else combine(result, part)
        return result

    # --------------------------------------------------------------- scanning
    def scan(self, cap: int, seed: int, moments: bool = True) -> Summary:
        """One pass: counts, weighted moments and a uniform sample of at most ``cap`` rows.

        Also records the number of rows (CSV files and data frames learn it
        here) and checks every chunk.  See :mod:`emkit.sources._summary`.
        """
        step = ScanStep(int(cap), int(seed), moments)
        summary = self.map_reduce(step, step.combine, scan_chunk_size(self.n_features))
        if summary is None:
            raise ValueError(f"{self.label} has no data rows")
        self._finish_scan(summary)
        return summary

    def _finish_scan(self, summary: Summary) -> None:
        self._rows = summary.n_rows
        self.summary = summary
        for spec, name in ((self._weight_spec, "sample_weight"), (self._label_spec, "labels")):
            if spec is not None and spec[0] == "array" and spec[1].shape[0] != summary.n_rows:
                raise ValueError(f"{name} has {spec[1].shape[0]} entries but {self.label} "
                                 f"has {summary.n_rows} rows")

    # ----------------------------------------------- data-dependent settings
    def _require_summary(self) -> Summary:
        if self.summary is None:
            raise RuntimeError(f"{self.label}: scan() the source first")
        return self.summary

    def total_weight(self) -> float:
        return self._require_summary().weight

    def has_missing(self) -> bool:
        """Whether some feature value is missing (NaN)."""
        return self._require_summary().has_missing

    def moments(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Weighted column means, covariance (``n - 1`` denominator) and total weight."""
        summary = self._require_summary()
        return summary.mean, summary.covariance(), summary.weight

    def mean_feature_variance(self) -> float:
        """Weighted variance of each column (denominator: total weight), averaged."""
        summary = self._require_summary()
        return float(np.mean(np.diag(summary.scatter) / summary.weight))

    def close(self) -> None:
        """Release what the source holds open (a Dask client it connected)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
