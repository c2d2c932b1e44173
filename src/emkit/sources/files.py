"""File sources: CSV (streamed by pyarrow's parser), Parquet files and folders, Zarr, HDF5.

Each reads its rows in batches in a background thread (see
:func:`emkit.sources._map.read_ahead`), converts them to float64 rows and cuts
them into chunks of exactly ``chunk_size`` rows, whatever the file layout (row
groups, files of a folder, CSV blocks), so the chunks, and with them every
result, are those of the same rows in memory.  Errors are one line naming the
file, the row (the line, for CSV) and the column.

These readers need the optional dependencies of the ``files`` extra:
``pip install emkit[files]`` (pyarrow, zarr, h5py).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._base import Source
from ._checks import Segment, Where, check_column_names

#: Cells of a CSV file that mean "missing" (as :func:`emkit.io.read_csv`): empty,
#: NA and NaN in any letter case.
CSV_MISSING = tuple(sorted({"", *(
    "".join(c.upper() if bit else c for c, bit in zip(word, bits, strict=True))
    for word in ("na", "nan")
    for bits in np.ndindex(*(2,) * len(word))
)}))


def require(module: str, extra: str = "files"):
    """Import an optional dependency or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"reading this file type needs {module.split('.')[0]}: "
                          f"pip install 'emkit[{extra}]'") from None


def rechunk(batches: Iterator[tuple[np.ndarray, str, int]], chunk_size: int):
    """Cut batches of rows ``(rows, file label, first row in file)`` into chunks.

    Yields ``(block, where, start)`` with blocks of exactly ``chunk_size`` rows
    (the last may be shorter) starting at multiples of ``chunk_size``.
    """
    pieces: list[np.ndarray] = []
    segments: list[Segment] = []
    held = 0
    start = 0
    for rows, label, file_row in batches:
        offset = 0
        while offset < rows.shape[0]:
            take = min(chunk_size - held, rows.shape[0] - offset)
            pieces.append(rows[offset:offset + take])
            segments.append(Segment(held, label, file_row + offset))
            held += take
            offset += take
            if held == chunk_size:
                block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
                yield np.ascontiguousarray(block), Where(tuple(segments)), start
                start += held
                pieces, segments, held = [], [], 0
    if held:
        block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        yield np.ascontiguousarray(block), Where(tuple(segments)), start


class _NamedSource(Source):
    """A source whose columns have names (CSV, Parquet): features, weight and label columns."""

    #: Line of data row 0 in messages (text files), or None (rows are counted).
    line_offset: int | None = None

    def __init__(self, label: str, names: Sequence[str], columns: Sequence[str] | None):
        super().__init__()
        self.label = label
        self.all_columns = list(names)
        self._selected = None if columns is None else check_column_names(
            columns, self.all_columns, label)
        self._features = self._feature_columns()

    def _feature_columns(self) -> list[str]:
        extras = set(self._extra_columns())
        if self._selected is None:
            return [name for name in self.all_columns if name not in extras]
        for name in self._selected:
            if name in extras:
                raise ValueError(f"{self.label}: column {name!r} is selected as a feature "
                                 "and also given as sample_weight or labels")
        return list(self._selected)

    def _after_configure(self) -> None:
        self._features = self._feature_columns()
        if not self._features:
            raise ValueError(f"{self.label}: no feature columns are left")

    def _extra_column(self, column: str, name: str) -> str:
        check_column_names([column], self.all_columns, self.label)
        return column

    @property
    def n_features(self) -> int:
        return len(self._features)

    @property
    def feature_names(self) -> list[str]:
        return list(self._features)

    def _read_columns(self) -> list[str]:
        return self._features + self._extra_columns()

    def _where(self, where: Where) -> Where:
        return Where(where.segments, self._read_columns(), self.line_offset)

    def _read(self, chunk_size: int):
        for block, where, start in rechunk(self._batches(chunk_size), chunk_size):
            yield block, self._where(where), start

    def _batches(self, chunk_size: int) -> Iterator[tuple[np.ndarray, str, int]]:
        raise NotImplementedError


# ---------------------------------------------------------------------- Parquet
_NUMERIC = re.compile(r"^(u?int\d+|float\d*|halffloat|double|bool|decimal\d*\(.*\)|null)$")


def _numeric_type(arrow_type) -> bool:
    return bool(_NUMERIC.match(str(arrow_type)))


def parquet_files(path: str) -> list[str]:
    """The Parquet files of a file or a folder (recursively, sorted, hidden files skipped)."""
    if os.path.isfile(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        files.extend(os.path.join(root, name) for name in sorted(names)
                     if not name.startswith((".", "_"))
                     and name.endswith((".parquet", ".pq", ".parq")))
    if not files:
        raise ValueError(f"{path}: the folder holds no .parquet files")
    return files


class ParquetSource(_NamedSource):
    """A Parquet file, or a folder of Parquet files with the same columns.

    Parameters
    ----------
    path : str or path-like
        A ``.parquet`` file or a folder (searched recursively; files whose
        names start with ``.`` or ``_`` are skipped; files are read in sorted
        path order).
    columns : sequence of str, optional
        Feature columns (default: every column except a weight or label column).

    Every file's schema is checked before anything is read: a selected column
    that is missing from a file, or not numeric (integer, float, boolean,
    decimal) in it, is an error naming the file and the column.  Null values
    are missing values (NaN).  Row counts come from the files' metadata.
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str] | None = None):
        pq = require("pyarrow.parquet")
        path = os.fspath(path)
        self._files = parquet_files(path)
        self._schemas = []
        self._file_rows = []
        for file in self._files:
            try:
                metadata = pq.read_metadata(file)
            except Exception as error:  # ArrowInvalid, OSError: not a Parquet file
                raise ValueError(f"{file}: cannot read Parquet metadata "
                                 f"({_first_line(error)})") from None
            self._schemas.append(metadata.schema.to_arrow_schema())
            self._file_rows.append(metadata.num_rows)
        super().__init__(path, self._schemas[0].names, columns)
        self._check_schemas()

    def _check_schemas(self) -> None:
        first = self._schemas[0]
        for file, schema in zip(self._files, self._schemas, strict=True):
            if self._selected is None and schema.names != first.names:
                extra = [n for n in schema.names if n not in first.names]
                gone = [n for n in first.names if n not in schema.names]
                what = (f"has column {extra[0]!r} that {self._files[0]} has not" if extra
                        else f"has no column {gone[0]!r}" if gone
                        else "has the columns in another order")
                raise ValueError(f"{file}: the schema changes between files: it {what}")
            for name in self._read_columns():
                if name not in schema.names:
                    raise ValueError(f"{file}: the schema changes between files: no column "
                                     f"{name!r}")
                kind = schema.field(name).type
                if not _numeric_type(kind):
                    raise ValueError(f"{file}, column {name!r}: not numeric ({kind}); select "
                                     "numeric columns with columns=[...]")

    def _after_configure(self) -> None:
        super()._after_configure()
        self._check_schemas()

    def _known_rows(self) -> int:
        return int(sum(self._file_rows))

    def _read(self, chunk_size: int):
        """Chunks filled straight from the row groups, one column of one row group at a time.

        The chunks a row group's rows land in are allocated first, then each
        column of the row group is read and copied into them; memory is the
        chunks of about one row group plus one decoded column.
        """
        pa = require("pyarrow")
        pq = require("pyarrow.parquet")
        names = self._read_columns()
        total = self._known_rows()
        start = 0  # first row of the chunk being filled
        current: list = []  # [array, rows filled, segments] of the chunk being filled
        for file in self._files:
            row = 0
            with pq.ParquetFile(file) as reader:
                try:
                    for group in range(reader.num_row_groups):
                        n = reader.metadata.row_group(group).num_rows
                        pieces = []  # (chunk, rows filled before, offset in group, rows)
                        chunks = []
                        offset = 0
                        while offset < n:
                            if not current:
                                size = min(chunk_size, total - start - sum(
                                    c[0].shape[0] for c in chunks))
                                current = [np.empty((size, len(names))), 0, []]
                            take = min(current[0].shape[0] - current[1], n - offset)
                            pieces.append((current[0], current[1], offset, take))
                            current[2].append(Segment(current[1], file, row + offset))
                            current[1] += take
                            offset += take
                            if current[1] == current[0].shape[0]:
                                chunks.append(current)
                                current = []
                        for j, name in enumerate(names):
                            column = reader.read_row_group(group, columns=[name]).column(0)
                            if column.type != pa.float64():
                                column = column.cast(pa.float64())
                            values = column.to_numpy()
                            for array, before, at, take in pieces:
                                array[before:before + take, j] = values[at:at + take]
                            del column, values
                        for array, _, segments in chunks:
                            yield array, self._where(Where(tuple(segments))), start
                            start += array.shape[0]
                        row += n
                except (pa.ArrowException, OSError) as error:
                    raise ValueError(f"{file}, row {row}: cannot read "
                                     f"({_first_line(error)})") from None
        if current:
            raise ValueError(f"{self.label}: the files hold fewer rows than their metadata "
                             f"says ({start + current[1]} of {total})")


def _to_rows(batch, names: list[str], pa) -> np.ndarray:
    """A record batch's (or table's) columns as one float64 (rows, columns) array; nulls
    are NaN."""
    out = np.empty((batch.num_rows, len(names)))
    for j, name in enumerate(names):
        column = batch.column(name)
        if column.type != pa.float64():
            column = column.cast(pa.float64())
        out[:, j] = column.to_numpy(zero_copy_only=False)
    return out


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# -------------------------------------------------------------------------- CSV
_CSV_CONVERSION = re.compile(r"CSV column #(\d+): Row #(\d+): CSV conversion error to "
                             r"\w+: invalid value '(.*)'")
_CSV_ROW = re.compile(r"Row #(\d+): Expected (\d+) columns, got (\d+)")


class CsvSource(_NamedSource):
    """A CSV file with a header row, streamed by pyarrow's CSV reader.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 text file (``.csv``, ``.tsv``, optionally ``.gz``/``.bz2``
        compressed): a header line of distinct column names, then one line per
        row.  Empty cells, ``NA`` and ``NaN`` (any letter case) are missing
        values.
    columns : sequence of str, optional
        Feature columns (default: every column except a weight or label column).
    delimiter : str, optional
        Default: tab for ``.tsv`` files, else comma.
    block_size : int, default=4 MiB
        Bytes the parser reads at a time.

    Errors name the file, the line (lines are counted as the parser counts
    rows: the header is line 1 and blank lines are not counted) and the
    column.  The number of rows is learnt by the pass before EM.
    """

    line_offset = 2

    def __init__(self, path: str | os.PathLike, columns: Sequence[str] | None = None,
                 delimiter: str | None = None, block_size: int = 4 * 2**20):
        require("pyarrow.csv")
        path = os.fspath(path)
        if delimiter is None:
            stem = path[:-3] if path.endswith(".gz") else path
            delimiter = "\t" if stem.endswith(".tsv") else ","
        self._path = path
        self._delimiter = delimiter
        self._block_size = int(block_size)
        super().__init__(path, self._header(), columns)

    def _header(self) -> list[str]:
        """The header line's names (read with the standard csv module, decompressed)."""
        from .._csv_reader import _parse_header

        pa = require("pyarrow")
        try:
            with pa.input_stream(self._path, compression="detect") as stream:
                head = stream.read(1 << 20)
        except (OSError, pa.ArrowException) as error:
            raise OSError(f"cannot read {self._path}: {_first_line(error)}") from None
        try:
            text = head.decode("utf-8-sig", errors="strict")
        except UnicodeDecodeError as error:
            if error.start < len(head) - 4:  # not a character cut at the 1 MB boundary
                raise ValueError(f"{self._path}: not a UTF-8 text file ({error.reason} at "
                                 f"byte {error.start})") from None
            text = head[:error.start].decode("utf-8-sig")
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{self._path}: the file is empty (expected a header row and "
                             "data rows)")
        names = next(csv.reader([lines[0]], delimiter=self._delimiter,
                                skipinitialspace=True))
        return _parse_header(names, self._path, 1)

    def _batches(self, chunk_size: int):
        pa = require("pyarrow")
        pa_csv = require("pyarrow.csv")
        names = self._read_columns()
        convert = pa_csv.ConvertOptions(
            include_columns=names, column_types=dict.fromkeys(names, pa.float64()),
            null_values=list(CSV_MISSING), strings_can_be_null=False)
        row = 0
        try:
            reader = pa_csv.open_csv(
                self._path,
                read_options=pa_csv.ReadOptions(
                    use_threads=False, block_size=self._block_size,
                    column_names=self.all_columns, skip_rows=1),  # names as the header check
                parse_options=pa_csv.ParseOptions(delimiter=self._delimiter),
                convert_options=convert)
            for batch in reader:
                yield _to_rows(batch, names, pa), self._path, row
                row += batch.num_rows
        except pa.ArrowInvalid as error:
            raise ValueError(self._explain(error, row)) from None
        except OSError as error:
            raise OSError(f"cannot read {self._path}: {error.strerror or error}") from None

    def _explain(self, error: BaseException, row: int) -> str:
        message = _first_line(error)
        found = _CSV_CONVERSION.search(message)
        if found:
            column = self.all_columns[int(found.group(1))]
            return (f"{self._path}, line {found.group(2)}, column {column!r}: non-numeric "
                    f"value {found.group(3)!r}")
        found = _CSV_ROW.search(message)
        if found:
            line, expected, got = found.groups()
            return (f"{self._path}, line {line}: {got} cells but the header has {expected} "
                    "columns")
        if "UTF8" in message or "utf8" in message.lower():
            return f"{self._path}: not a UTF-8 text file ({message})"
        return f"{self._path}, after line {row + 1}: malformed CSV ({message})"


# ----------------------------------------------------------------- Zarr and HDF5
def _pick_array(found: dict[str, Any], path: str, dataset: str | None, kind: str):
    if dataset is not None:
        if dataset not in found:
            raise ValueError(f"{path}: no 2-D {kind} named {dataset!r} (2-D {kind}s: "
                             f"{', '.join(map(repr, sorted(found))) or 'none'})")
        return found[dataset], dataset
    if len(found) != 1:
        what = ", ".join(map(repr, sorted(found))) if found else "none"
        raise ValueError(f"{path}: holds {len(found)} 2-D {kind}s ({what}); choose one "
                         f"with dataset=")
    name = next(iter(found))
    return found[name], name


def zarr_source(path: str | os.PathLike, columns: Sequence[int] | None = None,
                dataset: str | None = None) -> Source:
    """A Zarr array (a ``.zarr`` store holding one array, or ``dataset`` in a group)."""
    from .array import SlicedArraySource

    zarr = require("zarr")
    path = os.fspath(path)
    try:
        store = zarr.open(path, mode="r")
    except Exception as error:
        raise ValueError(f"{path}: cannot open as Zarr ({_first_line(error)})") from None
    if hasattr(store, "shape"):
        array, name = store, None
        if dataset is not None:
            raise ValueError(f"{path} is a single array; dataset={dataset!r} does not apply")
    else:
        found = {key: value for key, value in store.arrays() if len(value.shape) == 2}
        array, name = _pick_array(found, path, dataset, "array")
    label = path if name is None else f"{path}/{name}"
    return SlicedArraySource(array, columns, label=label)


def hdf5_source(path: str | os.PathLike, columns: Sequence[int] | None = None,
                dataset: str | None = None) -> Source:
    """An HDF5 dataset (the file's only 2-D dataset, or ``dataset``), opened per pass."""
    from .array import SlicedArraySource

    h5py = require("h5py")
    path = os.fspath(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: cannot open as HDF5 ({_first_line(error)})") from None
    with handle:
        found: dict[str, Any] = {}

        def visit(key: str, item) -> None:
            if isinstance(item, h5py.Dataset) and item.ndim == 2:
                found[key] = item

        handle.visititems(visit)
        item, name = _pick_array(found, path, dataset.lstrip("/") if dataset else None,
                                 "dataset")
        shape_only = _Meta(item.shape, item.dtype)

    def opener():
        opened = h5py.File(path, "r")
        return opened[name], opened

    return SlicedArraySource(shape_only, columns, label=f"{path}:{name}", opener=opener)


class _Meta:
    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = dtype


# ------------------------------------------------------------------ by file type
FILE_TYPES = {
    ".npy": "npy", ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".parq": "parquet",
    ".zarr": "zarr", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".he5": "hdf5",
}


def file_type(path: str) -> str:
    """``"npy"``, ``"csv"``, ``"parquet"``, ``"zarr"`` or ``"hdf5"`` from the path."""
    name = path.rstrip("/\\").lower()
    for compression in (".gz", ".bz2"):
        if name.endswith(compression):
            name = name[: -len(compression)]
            if os.path.splitext(name)[1] in (".csv", ".tsv", ".txt"):
                return "csv"
    suffix = os.path.splitext(name)[1]
    if suffix in FILE_TYPES:
        return FILE_TYPES[suffix]
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, marker))
               for marker in ("zarr.json", ".zarray", ".zgroup")):
            return "zarr"
        return "parquet"
    raise ValueError(f"{path}: cannot tell the file type from {suffix or 'a missing'!r} "
                     "suffix; use .csv, .tsv, .parquet (or a folder of them), .npy, .zarr "
                     "or .h5")


def from_file(path: str | os.PathLike, columns: Sequence | None = None, *,
              dataset: str | None = None, delimiter: str | None = None,
              scheduler: str | None = None) -> Source:
    """A source reading ``path``, with the reader chosen from the file type.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.tsv`` (optionally ``.gz``), ``.parquet`` or a folder of
        Parquet files, ``.npy``, ``.zarr`` (a store or folder), ``.h5``/``.hdf5``.
    columns : sequence, optional
        Feature columns: names for CSV and Parquet, integer indices for
        arrays (``.npy``, Zarr, HDF5).  Default: all columns (except a weight
        or label column given to ``fit``).
    dataset : str, optional
        Which 2-D array of a Zarr group or an HDF5 file (needed when it holds
        more than one).
    delimiter : str, optional
        CSV field delimiter (default: tab for ``.tsv``, else comma).
    scheduler : str, optional
        Address of a Dask scheduler (``"tcp://host:8786"``): the file is then
        read by the cluster's workers (CSV, Parquet, Zarr; the path must be
        readable there) and EM runs on the cluster
        (:class:`~emkit.sources.DaskSource`).

    Returns
    -------
    Source
        Accepted by every estimator's ``fit`` in place of X.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Unknown file type, unknown or non-numeric column, a schema that changes
        between the files of a folder, ... (one line naming file and column).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    kind = file_type(path)
    if scheduler is not None:
        from .dask import dask_from_file

        return dask_from_file(path, kind, columns, scheduler=scheduler, dataset=dataset,
                              delimiter=delimiter)
    if kind == "csv":
        return CsvSource(path, columns, delimiter)
    if kind == "parquet":
        return ParquetSource(path, columns)
    if kind == "npy":
        from .array import NpySource

        return NpySource(path, columns)
    if kind == "zarr":
        return zarr_source(path, columns, dataset)
    return hdf5_source(path, columns, dataset)
