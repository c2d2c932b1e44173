"""Per-chunk checks of rows read from a source, with errors naming file, row and column.

Every chunk a source yields has passed :class:`ChunkCheck`: cast to the
estimator's float type, no infinity (nor NaN unless missing values are
allowed), the estimator's own support check (a Bernoulli family's 0/1 ...),
sample weights finite and non-negative, partial labels integers in range.
An error is a one-line :class:`ValueError` that names where the value is:
the file (and line, for CSV), the row and the column name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Segment:
    """A run of a chunk's rows that come from one file (or block).

    ``chunk_row`` is the first row of the run within the chunk, ``file_row``
    the same row's index within its file (0-based, data rows only).
    """

    chunk_row: int
    label: str
    file_row: int


@dataclasses.dataclass(frozen=True)
class Where:
    """Where a chunk's rows come from, to name a cell in an error message.

    Parameters
    ----------
    segments : sequence of Segment
        Runs of rows by file (one for single-file sources).
    columns : sequence of str or None
        Names of the chunk's columns (None: columns are numbered).
    line_offset : int or None
        For text files: line of data row 0 (2 after a header line); the
        message then names the line.
    """

    segments: Sequence[Segment]
    columns: Sequence[str] | None = None
    line_offset: int | None = None

    def file(self, row: int) -> tuple[str, int]:
        """(file label, row within that file) of a chunk row."""
        segment = self.segments[0]
        for candidate in self.segments:
            if candidate.chunk_row <= row:
                segment = candidate
        return segment.label, segment.file_row + row - segment.chunk_row

    def column(self, col: int | str) -> str:
        if isinstance(col, str):
            return repr(col)
        if self.columns is not None and 0 <= col < len(self.columns):
            return repr(self.columns[col])
        return str(col)

    def cell(self, row: int, col: int | str | None = None) -> str:
        """``"file.csv, line 12, column 'x'"`` (or ``row 10`` for binary files)."""
        label, file_row = self.file(row)
        if self.line_offset is not None:
            place = f"{label}, line {file_row + self.line_offset}"
        else:
            place = f"{label}, row {file_row}"
        return place if col is None else f"{place}, column {self.column(col)}"


_ROW = re.compile(r"\brow (\d+)")
_COLUMN = re.compile(r"\bcolumn (\d+)")


def relocate(message: str, where: Where) -> str:
    """Rewrite a check's message about chunk-local ``row r, column c`` for the file.

    Family checks (``ComponentFamily.check_data``) name the first offending
    row and column of the array they are given; for a chunk, that row is
    turned into the row (or line) of the file, and the column index into the
    column's name.
    """
    found = _ROW.search(message)
    if found is None:
        return f"{where.cell(0)}: {message}" if where.segments else message
    row = int(found.group(1))
    label, file_row = where.file(row)
    if where.line_offset is not None:
        replacement = f"line {file_row + where.line_offset}"
    else:
        replacement = f"row {file_row}"
    message = message[:found.start()] + replacement + message[found.end():]
    message = _COLUMN.sub(lambda m: f"column {where.column(int(m.group(1)))}", message, count=1)
    return message if label in message else f"{label}: {message}"


@dataclasses.dataclass(frozen=True)
class ChunkCheck:
    """What every chunk must satisfy before the E-step sees it.

    Parameters
    ----------
    dtype : numpy float type
        The estimator's float type (float64, or float32 when opted in).
    allow_nan : bool
        Whether NaN marks a missing value (else it is an error).
    check : callable or None
        ``check(X, what) -> X``: the estimator's support check, which may also
        convert X to the form its family uses; it raises a ValueError naming
        the first offending row and column of X.
    n_components : int or None
        For partial labels: labels must be -1 .. n_components - 1.
    """

    dtype: type = np.float64
    allow_nan: bool = True
    check: Callable | None = None
    n_components: int | None = None

    def values(self, X: np.ndarray, where: Where) -> np.ndarray:
        """The chunk's features, checked and in the estimator's form."""
        X = np.asarray(X, dtype=self.dtype)
        if X.size and not np.isfinite(X).all():
            bad = np.isinf(X) if self.allow_nan else ~np.isfinite(X)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                value = X[row, col]
                what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
                rule = ("inf is not allowed; empty cells and NaN mark missing values"
                        if self.allow_nan else
                        "NaN and inf are not allowed: this estimator needs complete rows")
                raise ValueError(f"{where.cell(row, col)}: {what} ({rule})")
        if self.check is not None:
            label = where.segments[0].label if where.segments else "X"
            try:
                X = self.check(X, label)
            except ValueError as error:
                raise ValueError(relocate(str(error), where)) from None
        return X

    @staticmethod
    def weights(w: np.ndarray, where: Where, name: str) -> np.ndarray:
        """Sample weights of a chunk: finite and non-negative."""
        w = np.asarray(w, dtype=np.float64)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where.cell(row, name)}: sample weight {float(w[row])!r} is not a finite "
                "non-negative number"
            )
        return w

    def labels(self, y: np.ndarray, where: Where, name: str) -> np.ndarray:
        """Partial labels of a chunk: integers in -1 .. K - 1 (NaN, an empty cell: -1)."""
        y = np.asarray(y)
        if y.dtype.kind == "f":
            unknown = np.isnan(y)
            bad = ~unknown & (~np.isfinite(y) | (y != np.round(y)))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{where.cell(row, name)}: label {float(y[row])!r} is not an "
                                 "integer component index")
            y = np.where(unknown, -1, y)
        elif y.dtype.kind not in "iub":
            raise ValueError(f"{where.cell(0, name)}: labels must be integers, got dtype "
                             f"{y.dtype}")
        y = y.astype(np.intp)
        K = self.n_components
        bad = (y < -1) | (y >= K) if K is not None else (y < -1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where.cell(row, name)}: label {int(y[row])} is not a component index "
                f"0..{(K or 1) - 1} (or -1 for an unlabelled row)"
            )
        return y


def check_column_names(requested: Sequence, available: Sequence[str], label: str,
                       what: str = "column") -> list[str]:
    """``requested`` names, each present in ``available`` and given once."""
    names = [str(name) for name in requested]
    seen: set[str] = set()
    for name in names:
        if name not in available:
            raise ValueError(f"{label}: no {what} named {name!r} (columns: "
                             f"{', '.join(map(repr, available[:20]))}"
                             f"{', ...' if len(available) > 20 else ''})")
        if name in seen:
            raise ValueError(f"{label}: {what} {name!r} is selected twice")
        seen.add(name)
    return names
