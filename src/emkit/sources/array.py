"""Array sources: in-memory arrays, memory maps and anything sliceable by rows.

:class:`ArraySource` is what every estimator builds around an in-memory X
(validated once, chunks are views).  :class:`SlicedArraySource` reads row
ranges of an array-like that lives elsewhere (``numpy.memmap``, a Zarr array,
an HDF5 dataset) and checks each chunk as it is read; :class:`NpySource`
reads a ``.npy`` file with plain file reads (no memory map, so the process's
resident memory stays at a few chunks however large the file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ._base import Chunk, Source
from ._checks import Segment, Where


class ArraySource(Source):
    """Chunks of an in-memory (or memory-mapped) 2-D array with row weights.

    X is used as given (the estimator has validated it), and chunks are views.

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

    persistent_chunks = True
    read_ahead = False
    #: Known component of each row (-1: unknown), or None (nothing labelled).
    labels: np.ndarray | None = None

    def __init__(
        self,
        X: np.ndarray,
        sample_weight: np.ndarray | None,
        chunk_size: int,
        labels: np.ndarray | None = None,
    ):
        super().__init__()
        self.X = X
        self.labels = labels
        self.sample_weight = (
            np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
        )
        self.chunk_size = int(chunk_size)
        #: Global row index of each row (set for an initialisation sample), or None.
        self.rows: np.ndarray | None = None
        #: Rows of the data the sample was drawn from (None: this is all the data).
        self.n_total: int | None = None

    @property
    def unweighted(self) -> bool:  # type: ignore[override]
        """True when every weight is 1 (the engine then skips weighting)."""
        return bool(np.all(self.sample_weight == 1.0))

    @property
    def n_samples(self) -> int:  # type: ignore[override]
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    def total_weight(self) -> float:
        return float(self.sample_weight.sum())

    def has_missing(self) -> bool:
        return bool(self.X.dtype.kind == "f" and np.isnan(self.X).any())

    def moments(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Weighted means and covariance with R's ``n - 1`` denominator, total weight."""
        w = self.sample_weight
        total = float(w.sum())
        mean = w @ self.X / total
        centred = self.X - mean
        covariance = (centred * w[:, None]).T @ centred / max(total - 1.0, 1.0)
        return mean, covariance, total

    def mean_feature_variance(self) -> float:
        total = self.total_weight()
        mean = sum(w @ X for X, w in self.chunks()) / total
        squares = sum(w @ ((X - mean) ** 2) for X, w in self.chunks())
        return float(np.mean(squares / total))

    def _chunks(self, chunk_size: int | None = None) -> Iterator[Chunk]:
        size = int(chunk_size or self.chunk_size)
        for start in range(0, self.X.shape[0], size):
            stop = start + size
            labels = None if self.labels is None else self.labels[start:stop]
            yield Chunk(self.X[start:stop], self.sample_weight[start:stop], labels, start)


def _columns(selection: Sequence[int] | None, n_columns: int, label: str) -> list[int] | None:
    """Column indices of an unnamed array (None: all)."""
    if selection is None:
        return None
    indices = []
    for value in selection:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{label}: columns of an array are selected by index, got "
                             f"{value!r}")
        if not -n_columns <= value < n_columns:
            raise ValueError(f"{label}: column {value} does not exist (the array has "
                             f"{n_columns} columns)")
        indices.append(int(value) % n_columns)
    if len(set(indices)) != len(indices):
        raise ValueError(f"{label}: a column is selected twice in columns={list(selection)}")
    return indices


def check_numeric_dtype(dtype: np.dtype, label: str) -> None:
    if dtype.kind not in "fiub":
        raise ValueError(f"{label} holds {dtype} values; a numeric array is needed")


class SlicedArraySource(Source):
    """Row ranges of any 2-D array-like that supports ``array[start:stop]``.

    Parameters
    ----------
    array : array-like of shape (n_samples, n_columns)
        ``numpy.memmap``, a Zarr array, an HDF5 dataset, ...
    columns : sequence of int, optional
        Column indices to use as features (default: all).
    label : str
        How messages name the data (a file name).
    opener : callable, optional
        ``opener()`` returns the array anew for each pass (files opened per
        pass and closed after it); default: ``array`` itself.
    """

    def __init__(self, array: Any, columns: Sequence[int] | None = None, label: str = "X",
                 opener: Callable[[], Any] | None = None):
        super().__init__()
        shape = tuple(array.shape)
        if len(shape) != 2:
            raise ValueError(f"{label} has shape {shape}; a 2-D array (n_samples, "
                             "n_features) is needed")
        check_numeric_dtype(np.dtype(array.dtype), label)
        self._array = array
        self._opener = opener
        self._shape = shape
        self.label = label
        self._columns = _columns(columns, shape[1], label)

    @property
    def n_features(self) -> int:
        return self._shape[1] if self._columns is None else len(self._columns)

    def _known_rows(self) -> int:
        return self._shape[0]

    def _open(self):
        return (self._array, None) if self._opener is None else self._opener()

    def _rows_of(self, array, start: int, stop: int) -> np.ndarray:
        block = np.asarray(array[start:stop], dtype=np.float64)
        return block if self._columns is None else block[:, self._columns]

    def _read(self, chunk_size: int):
        array, handle = self._open()
        try:
            for start in range(0, self._shape[0], chunk_size):
                stop = min(start + chunk_size, self._shape[0])
                block = np.ascontiguousarray(self._rows_of(array, start, stop))
                yield block, Where((Segment(0, self.label, start),)), start
        finally:
            if handle is not None:
                handle.close()


class NpySource(SlicedArraySource):
    """A ``.npy`` file read in row ranges with plain file reads (C order, numeric).

    Fortran-ordered files are read through a memory map instead.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[int] | None = None):
        path = os.fspath(path)
        try:  # the header only: mapping the file reads none of its data
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except OSError as error:
            raise OSError(f"cannot read {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise ValueError(f"{path}: not a numeric .npy file ({error})") from None
        if not isinstance(mapped, np.memmap):
            raise ValueError(f"{path}: not a .npy file")
        self._path = path
        self._dtype = mapped.dtype
        self._offset = int(mapped.offset)
        self._fortran = bool(mapped.flags.f_contiguous and not mapped.flags.c_contiguous)
        if self._dtype.hasobject or self._dtype.names is not None:
            raise ValueError(f"{path} holds {self._dtype} values; a numeric array is needed")
        array = mapped if self._fortran else _Shape(mapped.shape, self._dtype)
        del mapped
        super().__init__(array, columns, label=path)

    def _read(self, chunk_size: int):
        if self._fortran:  # read through the memory map
            yield from super()._read(chunk_size)
            return
        n, width = self._shape
        row_bytes = width * self._dtype.itemsize
        with open(self._path, "rb") as handle:
            for start in range(0, n, chunk_size):
                stop = min(start + chunk_size, n)
                handle.seek(self._offset + start * row_bytes)
                count = (stop - start) * width
                block = np.fromfile(handle, dtype=self._dtype, count=count)
                if block.shape[0] != count:
                    raise ValueError(f"{self._path}: the file ends at row {start} of {n} "
                                     "(truncated)")
                block = block.reshape(stop - start, width).astype(np.float64, copy=False)
                if self._columns is not None:
                    block = np.ascontiguousarray(block[:, self._columns])
                yield block, Where((Segment(0, self.label, start),)), start


class _Shape:
    """Shape and dtype of an array that is not opened (a .npy read with file reads)."""

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape = shape
        self.dtype = dtype
