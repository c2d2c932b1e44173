"""EM on a Dask cluster: a dask array or data frame as a source.

:class:`DaskSource` runs the E-step of each block where the block is (on the
workers with the ``distributed`` scheduler when a ``Client`` is active, else in
Dask's local threads) and reduces the statistics with a fixed binary tree over
the blocks: block ``2i`` with ``2i + 1``, then the pairs, and so on.  Only the
current parameters (with the model) travel to the workers, once per
iteration and worker (they are one key of the graph that every block task
depends on), and only statistics come back: one per block into the tree, one
to the client.  The tree depends on the number of blocks only, so the result
does not depend on the number of workers, and equals the in-memory fit with
``chunk_size`` equal to the block size up to float rounding (the in-memory
engine adds chunks left to right).

The per-block tasks and the tree (:meth:`DaskSource.block_tasks`,
:meth:`DaskSource.reduce_tree`) take any block layout: hidden Markov models
use them for blocks of whole sequences (:mod:`emkit.hmm.dask`).

Losing a worker during a fit is Dask's business: the scheduler recomputes the
lost blocks and partial sums from the graph, and the iteration returns the
same statistics.  Needs the ``dask`` extra: ``pip install 'emkit[dask]'``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._config import get_config, set_config
from ._base import Source, add_results, checked_chunk, is_dask_collection, scan_chunk_size
from ._checks import ChunkCheck, Segment, Where, check_column_names
from ._map import blas_controller
from .files import require


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "npartitions")


@dataclasses.dataclass
class _Layout:
    """What a block task needs to turn a block into checked chunks."""

    n_features: int
    names: list[str] | None
    weight: str | None
    labels: str | None
    check: ChunkCheck
    label: str
    chunk_size: int
    kernels: str
    label_name: str = "labels"

    def chunks(self, block, weights, labels, start: int):
        """The checked chunks of one block (``start``: its first row in the data)."""
        return _block_chunks(self, block, weights, labels, start)


def _rows(block: Any, layout: _Layout) -> tuple[np.ndarray, np.ndarray | None,
                                                  np.ndarray | None]:
    """Features, weight column and label column of a block as float64 arrays."""
    if hasattr(block, "columns"):  # a pandas partition
        names = list(layout.names)
        X = block[names].to_numpy(dtype=np.float64, na_value=np.nan)
        w = None if layout.weight is None else block[layout.weight].to_numpy(
            dtype=np.float64, na_value=np.nan)
        y = None if layout.labels is None else block[layout.labels].to_numpy(
            dtype=np.float64, na_value=np.nan)
        return X, w, y
    return np.asarray(block, dtype=np.float64), None, None


def _block_chunks(layout: _Layout, block, weights, labels, start: int):
    X, w, y = _rows(block, layout)
    w = w if weights is None else np.asarray(weights)
    y = y if labels is None else np.asarray(labels)
    size = layout.chunk_size
    for a in range(0, X.shape[0], size):
        where = Where((Segment(0, layout.label, start + a),), layout.names)
        yield checked_chunk(layout.check, np.ascontiguousarray(X[a:a + size]),
                            None if w is None else w[a:a + size],
                            None if y is None else y[a:a + size], where, start + a,
                            layout.weight or "sample_weight",
                            layout.labels or layout.label_name)


@dataclasses.dataclass
class _Payload:
    """What travels to the workers once per iteration: the chunk function (the model and
    its current parameters), how to combine results, and the block layout (any object
    with ``kernels``, the client's kernel setting, and ``chunks(*part)``, the chunks of
    a block given its task arguments)."""

    function: Callable
    combine: Callable
    layout: Any


def _map_block(payload: _Payload, reduce: bool, *part):
    """The per-block task: ``function`` on every chunk, combined in order (or listed)."""
    function, combine, layout = payload.function, payload.combine, payload.layout
    if get_config()["kernels"] != layout.kernels:  # the client's setting, on a worker
        set_config(kernels=layout.kernels)
    results = []
    with blas_controller().limit(limits=1, user_api="blas"):
        for chunk in layout.chunks(*part):
            result = function(chunk)
            if reduce and results:
                results[0] = combine(results[0], result)
            else:
                results.append(result)
    if reduce:
        return results[0] if results else None
    return results


def _combine_pair(combine: Callable, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return combine(a, b)


def _identity(value):
    return value


class DaskSource(Source):
    """A dask array (n_samples, n_features) or a dask data frame, for EM on Dask.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
        A 2-D numeric array with known chunk sizes along the rows (blocks
        split across columns are joined), or a data frame whose selected
        columns are numeric or boolean (nulls are missing values).
    columns : sequence, optional
        Data frames: feature column names (default: every column except a
        weight or label column).  Arrays: column indices.
    scheduler : str or distributed.Client, optional
        A scheduler address (``"tcp://host:8786"``) or client to run on; by
        default the active ``distributed.Client`` if there is one, else Dask's
        local threads.
    label : str, optional
        How error messages name the data (default: "dask array" / "dask dataframe").

    Notes
    -----
    ``sample_weight`` and ``y`` given to ``fit`` may be column names of a data
    frame, dask arrays with the same row blocks as X (rechunked otherwise),
    or NumPy arrays (sent to the workers once per fit, not per iteration).
    """

    def __init__(self, X: Any, columns: Sequence | None = None, *,
                 scheduler: Any = None, label: str | None = None):
        super().__init__()
        require("dask", "dask")
        self._frame = _is_frame(X)
        self._scheduler = scheduler
        self._client = None
        self._owns_client = False
        self._lengths: np.ndarray | None = None
        self._persisted: list = []
        #: How messages name an array of partial labels.
        self.label_name = "labels"
        if self._frame:
            self.label = label or "dask dataframe"
            self.all_columns = [str(c) for c in X.columns]
            self._selected = None if columns is None else check_column_names(
                columns, self.all_columns, self.label)
            self._data = X
            self._features = self._feature_columns()
            self._check_frame_types()
        else:
            self.label = label or "dask array"
            self._data = self._check_array(X, columns)
            self._lengths = np.asarray(self._data.chunks[0], dtype=np.int64)
        self._blocks: list | None = None

    # ------------------------------------------------------------------ checks
    def _check_array(self, X: Any, columns: Sequence | None):
        if X.ndim != 2:
            raise ValueError(f"{self.label} has shape {X.shape}; a 2-D array (n_samples, "
                             "n_features) is needed")
        if np.dtype(X.dtype).kind not in "fiub":
            raise ValueError(f"{self.label} holds {X.dtype} values; a numeric array is "
                             "needed")
        if any(np.isnan(size) for size in X.chunks[0]) or any(
                np.isnan(size) for size in X.chunks[1]):
            raise ValueError(f"{self.label} has unknown chunk sizes (rows per block); call "
                             "X.compute_chunk_sizes() first, or pass the dask DataFrame")
        if columns is not None:
            from .array import _columns

            X = X[:, _columns(columns, X.shape[1], self.label)]
        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        return X

    def _feature_columns(self) -> list[str]:
        extras = set(self._extra_columns())
        if self._selected is None:
            return [name for name in self.all_columns if name not in extras]
        for name in self._selected:
            if name in extras:
                raise ValueError(f"{self.label}: column {name!r} is selected as a feature "
                                 "and also given as sample_weight or labels")
        return list(self._selected)

    def _check_frame_types(self) -> None:
        pandas = require("pandas", "dask")
        dtypes = self._data.dtypes
        for name in self._features + self._extra_columns():
            dtype = dtypes[name]
            if not (pandas.api.types.is_numeric_dtype(dtype)
                    or pandas.api.types.is_bool_dtype(dtype)):
                raise ValueError(f"{self.label}, column {name!r}: not numeric ({dtype}); "
                                 "select numeric columns with columns=[...]")

    def _extra_column(self, column: str, name: str) -> str:
        if not self._frame:
            return super()._extra_column(column, name)
        check_column_names([column], self.all_columns, self.label)
        return column

    def _after_configure(self) -> None:
        if self._frame:
            self._features = self._feature_columns()
            if not self._features:
                raise ValueError(f"{self.label}: no feature columns are left")
            self._check_frame_types()
        self._blocks = None
        self._persisted = []

    # -------------------------------------------------------------- description
    @property
    def n_features(self) -> int:
        return len(self._features) if self._frame else int(self._data.shape[1])

    @property
    def feature_names(self) -> list[str] | None:
        return list(self._features) if self._frame else None

    @property
    def n_blocks(self) -> int:
        return int(self._data.npartitions if self._frame else len(self._data.chunks[0]))

    def _known_rows(self) -> int | None:
        return None if self._lengths is None else int(self._lengths.sum())

    # ------------------------------------------------------------------ client
    def client(self):
        """The distributed client to run on, or None (the default scheduler)."""
        if self._client is None and self._scheduler is not None:
            distributed = require("distributed", "dask")
            if isinstance(self._scheduler, str):
                self._client = distributed.Client(self._scheduler, set_as_default=False)
                self._owns_client = True
            else:
                self._client = self._scheduler
        return self._client

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        self._client = None
        self._owns_client = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_client"] = None
        state["_owns_client"] = False
        return state

    def _compute(self, *collections):
        import dask

        client = self.client()
        if client is not None:
            return dask.compute(*collections, scheduler=client)
        return dask.compute(*collections)

    # ------------------------------------------------------------------ blocks
    def _lengths_known(self) -> np.ndarray:
        if self._lengths is None:  # a data frame: one pass to count partition rows
            counts = self._data.map_partitions(len)
            self._lengths = np.asarray(self._compute(counts)[0], dtype=np.int64)
        return self._lengths

    def _extra_blocks(self, spec, name: str) -> list | None:
        """Per-block delayed values of an array weight or label spec (None for columns)."""
        if spec is None or spec[0] == "column":
            return None
        import dask.array as da

        lengths = tuple(int(n) for n in self._lengths_known())
        values = spec[1]
        if is_dask_collection(values):
            if values.ndim != 1 or any(np.isnan(c) for c in values.chunks[0]):
                raise ValueError(f"{name} must be a 1-D dask array with known chunk sizes")
            if int(values.shape[0]) != sum(lengths):
                raise ValueError(f"{name} has {values.shape[0]} entries but {self.label} has "
                                 f"{sum(lengths)} rows")
            if tuple(values.chunks[0]) != lengths:
                values = values.rechunk((lengths,))
        else:
            values = np.asarray(values)
            if values.shape[0] != sum(lengths):
                raise ValueError(f"{name} has {values.shape[0]} entries but {self.label} has "
                                 f"{sum(lengths)} rows")
            values = self.persist(da.from_array(values, chunks=(lengths,)))[0]
        return list(values.to_delayed().ravel())

    def persist(self, *collections) -> list:
        """``collections`` computed once where the blocks are computed (the workers),
        for values sent once per fit rather than once per iteration (recomputable
        from the graph if a worker is lost); the source holds them for the fit."""
        import dask

        client = self.client()
        persisted = (list(client.persist(list(collections))) if client is not None
                     else list(dask.persist(*collections)))
        self._persisted.extend(persisted)  # holds the futures (their data)
        return persisted

    def _resolve_extra(self, value: Any, name: str) -> Any:
        if value is not None and not isinstance(value, str) and is_dask_collection(value):
            return ("array", value)
        return super()._resolve_extra(value, name)

    def _block_parts(self) -> list[tuple]:
        """(block, weights, labels, start) of every block, as delayed values."""
        if self._blocks is None:
            lengths = self._lengths_known()
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            data = self._data
            if self._frame:  # only the columns used are read (projection pushdown)
                data = data[self._features + self._extra_columns()]
            blocks = data.to_delayed()
            blocks = list(blocks.ravel()) if hasattr(blocks, "ravel") else list(blocks)
            weights = self._extra_blocks(self._weight_spec, "sample_weight")
            labels = self._extra_blocks(self._label_spec, "labels")
            self._blocks = [
                (block, None if weights is None else weights[i],
                 None if labels is None else labels[i], int(starts[i]))
                for i, block in enumerate(blocks)
            ]
        return self._blocks

    def _layout(self, chunk_size: int | None) -> _Layout:
        spec_w, spec_y = self._weight_spec, self._label_spec
        return _Layout(
            self.n_features, self.feature_names,
            spec_w[1] if spec_w is not None and spec_w[0] == "column" else None,
            spec_y[1] if spec_y is not None and spec_y[0] == "column" else None,
            self._check, self.label,
            int(chunk_size or self.chunk_size or scan_chunk_size(self.n_features)),
            get_config()["kernels"], self.label_name)

    def block_tasks(self, function: Callable, combine: Callable, layout: Any,
                    parts: Sequence[tuple], reduce: bool) -> list:
        """One delayed task per block: ``function`` on the chunks ``layout.chunks(*part)``
        of the block, combined in order (``reduce``) or listed.

        The layout, function and combine travel as one key of the graph that every
        block task depends on (once per iteration and worker).
        """
        import dask

        payload = dask.delayed(_identity, pure=False)(
            _Payload(function, combine, layout),
            dask_key_name=f"emkit-parameters-{uuid.uuid4().hex}")
        run = dask.delayed(_map_block, pure=False)
        return [run(payload, reduce, *part) for part in parts]

    @staticmethod
    def tree(tasks: list, combine: Callable) -> Any:
        """The delayed root of the fixed binary tree over per-block ``tasks`` (block
        ``2i`` with ``2i + 1``, then the pairs, ...); None without blocks."""
        import dask

        pair = dask.delayed(_combine_pair, pure=False)
        while len(tasks) > 1:
            paired = [pair(combine, tasks[i], tasks[i + 1])
                      for i in range(0, len(tasks) - 1, 2)]
            if len(tasks) % 2:
                paired.append(tasks[-1])
            tasks = paired
        return tasks[0] if tasks else None

    def reduce_tree(self, tasks: list, combine: Callable) -> Any:
        """The results of per-block ``tasks`` combined by :meth:`tree`, computed; None
        without blocks."""
        root = self.tree(tasks, combine)
        return None if root is None else self._compute(root)[0]

    # ---------------------------------------------------------- map and reduce
    def map_reduce(self, function: Callable, combine: Callable = add_results,
                   chunk_size: int | None = None) -> Any:
        """``function`` of every chunk of every block, reduced by a fixed binary tree."""
        tasks = self.block_tasks(function, combine, self._layout(chunk_size),
                                 self._block_parts(), reduce=True)
        return self.reduce_tree(tasks, combine)

    def map_chunks(self, function: Callable, chunk_size: int | None = None):
        """``function(chunk)`` of every chunk, in order (all results come to the client)."""
        tasks = self.block_tasks(function, add_results, self._layout(chunk_size),
                                 self._block_parts(), reduce=False)
        for block_results in self._compute(*tasks):
            yield from block_results

    def _chunks(self, chunk_size: int | None = None):
        """Checked chunks, computed block by block on the client (for small uses)."""
        layout = self._layout(chunk_size)
        for block, weights, labels, start in self._block_parts():
            values = self._compute(block, weights, labels)
            yield from _block_chunks(layout, *values, start)

    def scan(self, cap: int, seed: int, moments: bool = True):
        self._lengths_known()
        return super().scan(cap, seed, moments)


def dask_from_file(path: str, kind: str, columns: Sequence | None, *, scheduler: Any,
                   dataset: str | None = None, delimiter: str | None = None) -> DaskSource:
    """A :class:`DaskSource` reading ``path`` on the cluster at ``scheduler``."""
    if kind == "parquet":
        from .files import ParquetSource

        ParquetSource(path, columns)  # schema checks from the metadata, before any work
        dd = require("dask.dataframe", "dask")
        # partitions of about 64 MB: enough blocks to share among workers
        frame = dd.read_parquet(path, blocksize="64 MiB")
        return DaskSource(frame, columns, scheduler=scheduler, label=path)
    if kind == "csv":
        from .files import CSV_MISSING, CsvSource

        local = CsvSource(path, columns, delimiter)  # header checks
        dd = require("dask.dataframe", "dask")
        frame = dd.read_csv(path, sep=local._delimiter, usecols=local.all_columns,
                            na_values=list(CSV_MISSING), keep_default_na=False,
                            dtype=dict.fromkeys(local.all_columns, np.float64))
        return DaskSource(frame, columns, scheduler=scheduler, label=path)
    if kind == "zarr":
        da = require("dask.array", "dask")
        array = da.from_zarr(path, component=dataset)
        return DaskSource(array, columns, scheduler=scheduler, label=path)
    raise ValueError(f"{path}: reading {kind} files on a Dask cluster is not supported; "
                     "convert to Parquet or Zarr, or fit without a scheduler")
