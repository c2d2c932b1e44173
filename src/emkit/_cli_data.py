"""The data of an ``emkit`` command: a CSV file read in memory, or a file read in chunks.

Which reader a file gets is decided by its name, never by its size (so the
same file always gives the same errors and the same fit):

* a plain CSV file (any name not listed below) is read in memory by the
  strict reader of :mod:`emkit._csv_reader`: errors name the line and the
  column, ``--id-column`` keeps row ids, ``--target`` picks the response,
  and ``--family categorical`` reads its cells as text;
* ``.csv.gz``/``.csv.bz2``, ``.tsv``, ``.parquet`` (or a folder of Parquet
  files), ``.npy``, ``.zarr``, ``.h5``/``.hdf5`` are read in chunks through
  :func:`emkit.sources.from_file` (numeric columns only; memory stays a few
  chunks); ``--stream`` does the same for a plain CSV file larger than the
  memory, and ``--dask-scheduler`` reads the file on a Dask cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._cli_common import SELECTION_OPTIONS, CommandError, one_line, shift_rows
from .io import TextColumnsError, read_table, select_columns

#: Suffixes (after a .gz/.bz2 compression suffix, any file is streamed) read by emkit.sources.
STREAMED_SUFFIXES = frozenset({".tsv", ".parquet", ".pq", ".parq", ".npy", ".zarr", ".h5",
                               ".hdf5", ".hdf", ".he5"})


@dataclasses.dataclass
class Data:
    """The rows a command works on.

    In memory, ``X`` holds them (float64 with NaN for a missing cell, or
    objects for text); streamed, ``source`` reads them in chunks.
    """

    path: str
    columns: list[str] | None  # feature names; None for the unnamed columns of an array
    X: Any = None
    y: np.ndarray | None = None  # the --target column (in memory only)
    target: str | None = None
    source: Any = None
    ids: list[str] | None = None
    id_column: str | None = None
    header: list[str] | None = None  # every column of the file (in memory only)

    @property
    def streamed(self) -> bool:
        return self.source is not None

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def tokens(values: list[str] | None, option: str) -> list[str] | None:
    """``--columns a,b --columns 3`` as ["a", "b", "3"]."""
    if values is None:
        return None
    found = []
    for value in values:
        for token in value.split(","):
            if not token.strip():
                raise CommandError(f"{option}: empty column name in {value!r} (give names or "
                                   "1-based column numbers separated by commas)")
            found.append(token.strip())
    return found


def streamed_by_name(path: str) -> bool:
    """Whether the file's name makes it a file read in chunks (see the module docstring)."""
    name = path.rstrip("/\\").lower()
    if name.endswith((".gz", ".bz2")):
        return True
    return os.path.splitext(name)[1] in STREAMED_SUFFIXES or os.path.isdir(path)


def is_streamed(args: argparse.Namespace, path: str) -> bool:
    return bool(getattr(args, "stream", False) or getattr(args, "dask_scheduler", None)
                or streamed_by_name(path))


def _selector(args: argparse.Namespace, path: str, target: str | None = None,
              exclude: str | None = None) -> Callable:
    """``select(header) -> (features, id_index)`` from --columns, --drop, --id-column
    (with the --target column moved to the end of the features, and the
    --lengths-column ``exclude`` left out of them)."""
    columns = tokens(getattr(args, "columns", None), "--columns")
    drop = tokens(getattr(args, "drop", None), "--drop")
    id_column = getattr(args, "id_column", None)

    def fail(exc: ValueError, option: str | None = None):
        name, _, rest = str(exc).partition(": ")
        option = option or SELECTION_OPTIONS.get(name, name)
        raise CommandError(f"{option}: {path}: {rest}") from None

    def select(header: list[str]):
        try:
            features, id_index = select_columns(header, columns, drop, id_column)
        except ValueError as exc:
            fail(exc)
        if exclude is not None:
            try:
                where = select_columns(header, [exclude])[0][0]
            except ValueError as exc:
                fail(exc, "--lengths-column")
            if where == id_index:
                raise CommandError(f"--lengths-column: {path}: {header[where]!r} is the id "
                                   "column (row ids are unique; sequence ids repeat)")
            features = [j for j in features if j != where]
            if not features:
                raise CommandError(f"--lengths-column: {path}: no column is left besides "
                                   f"the sequence ids {header[where]!r} to use as a feature")
        if target is None:
            return features, id_index
        try:
            where = select_columns(header, [target])[0][0]
        except ValueError as exc:
            fail(exc, "--target")
        if where == id_index:
            raise CommandError(f"--target: {path}: {header[where]!r} is the id column")
        features = [j for j in features if j != where]
        if not features:
            raise CommandError(f"--target: {path}: no column is left besides the target "
                               f"{header[where]!r} to use as a feature")
        return [*features, where], id_index

    return select


def require_csv(path: str, command: str) -> None:
    """Commands that read plain CSV files only (select, impute) refuse other file types."""
    if streamed_by_name(path):
        raise CommandError(f"{path}: `emkit {command}` reads a plain CSV file in memory; "
                           "files of this type are read by `emkit fit`, `predict` and `score`")


def read_memory(args: argparse.Namespace, path: str, *, training: bool, text: bool = False,
                target: str | None = None, exclude: str | None = None) -> Data:
    """A CSV file read in memory with the columns chosen by --columns, --drop, --id-column.

    NaN (empty cells, NA, NaN) marks a missing value; to fit, every column
    needs an observed value.  ``text``: the cells as strings (categorical
    data).  ``target``: that column becomes ``y`` (numeric), the others X.
    """
    id_column = getattr(args, "id_column", None)
    header: list[str] = []
    selector = _selector(args, path, target, exclude)

    def select(names: list[str]):
        header.extend(names)
        return selector(names)

    try:
        table = read_table(path, allow_missing=True, select=select, text=text)
    except TextColumnsError as exc:
        names = ",".join(exc.columns)
        response = (exc.header[select_columns(exc.header, [target])[0][0]]
                    if target is not None else None)
        if response in exc.columns:
            raise CommandError(f"{one_line(exc)}; the --target column {response!r} must hold "
                               "numbers (--probit: code the two classes as 0 and 1)") from None
        if len(exc.columns) == 1 and id_column is None and exc.columns[0] == exc.header[0]:
            hint = (f"a text column? leave it out with --drop {names}, or keep it as row ids "
                    f"with --id-column {names}")
        elif len(exc.columns) == 1:
            hint = f"a text column? leave it out with --drop {names}"
        else:
            hint = f"text columns? leave them out with --drop {names}"
        if training and not text:
            hint += " (or fit categorical data with --family categorical)"
        raise CommandError(f"{one_line(exc)}; {hint}") from None
    data = Data(path, table.columns, table.X, ids=table.ids, id_column=table.id_column,
                header=header)
    if target is not None:
        data.target, data.columns = table.columns[-1], table.columns[:-1]
        data.X, data.y = table.X[:, :-1], table.X[:, -1]
        if np.isnan(data.y).any():
            row = int(np.argmax(np.isnan(data.y)))
            raise CommandError(f"--target: {path}, row {row + 1}: the target "
                               f"{data.target!r} is missing (every row needs a response)")
    if training:
        observed = (data.X != None) if text else ~np.isnan(data.X)  # noqa: E711
        for name, column in zip(data.columns, observed.T, strict=True):
            if not column.any():
                raise CommandError(f"{path}: column {name!r} has no observed value (every "
                                   f"cell is missing); leave it out with --drop {name}")
    return data


def open_stream(args: argparse.Namespace, path: str) -> Data:
    """A file read in chunks (emkit.sources), with the columns chosen by --columns and --drop."""
    from .sources import from_file

    if getattr(args, "id_column", None) is not None:
        raise CommandError(f"--id-column: {path} is read in chunks (numeric columns only); "
                           "row ids need a plain .csv file read in memory")
    dataset = getattr(args, "dataset", None)
    probe = from_file(path, dataset=dataset)  # the header or the shape: no rows read
    try:
        named = hasattr(probe, "all_columns")
        header = (list(probe.all_columns) if named
                  else [str(j + 1) for j in range(probe.n_features)])
    finally:
        probe.close()
    chosen, _ = _selector(args, path)(header)
    if getattr(args, "columns", None) is None and getattr(args, "drop", None) is None:
        columns = None
    else:
        columns = [header[j] for j in chosen] if named else chosen
    source = from_file(path, columns, dataset=dataset,
                       scheduler=getattr(args, "dask_scheduler", None))
    return Data(path, [header[j] for j in chosen] if named else None, source=source)


def load(args: argparse.Namespace, path: str, *, training: bool, text: bool = False,
         target: str | None = None) -> Data:
    """The command's data, in memory or streamed (see the module docstring)."""
    if not is_streamed(args, path):
        return read_memory(args, path, training=training, text=text, target=target)
    if text:
        raise CommandError(f"{path}: categorical and mixed data are read as text from a plain .csv "
                           "file in memory (not from a file read in chunks)")
    if target is not None:
        raise CommandError(f"--target: {path}: regression data are read from a plain .csv "
                           "file in memory (not from a file read in chunks)")
    return open_stream(args, path)


def _apply(function: Callable, chunk) -> np.ndarray:
    try:
        return function(chunk.X)
    except ValueError as exc:  # rows of the chunk -> rows of the data
        raise ValueError(shift_rows(str(exc), chunk.start)) from None


def per_row(source, function: Callable) -> np.ndarray:
    """``function(X_chunk)`` for every chunk of a source, concatenated in row order.

    Runs where the source computes (threads, or the Dask workers).
    """
    parts = list(source.map_chunks(functools.partial(_apply, function)))
    return np.concatenate(parts) if parts else np.empty(0)
