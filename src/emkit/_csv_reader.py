"""A strict numeric CSV reader with column selection, for the command line.

Needs only the standard library and numpy.  Its errors are ``ValueError``
messages naming the file, the 1-based line number and the column *name*, so
a command-line user can go straight to the bad cell.  What it reads is
bounded: a line longer than :data:`MAX_LINE_CHARS` (``/dev/zero``, a binary
file) stops the reader with an error instead of filling the memory, and the
rows are parsed one at a time into a compact float buffer.
"""

from __future__ import annotations

import array
import codecs
import csv
import dataclasses
import math
import os
from collections.abc import Callable, Sequence

import numpy as np

PathLike = str | os.PathLike

#: Longest line :func:`read_table` accepts (characters); longer ones are refused.
MAX_LINE_CHARS = 16 * 2**20
#: Cells that mean "missing" with ``allow_missing=True`` (besides empty cells and
#: any spelling of NaN), compared case-insensitively.
MISSING_TOKENS = frozenset({"na"})
#: Separators that other CSV dialects use, named in the error for a one-column header.
OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}


class TextColumnsError(ValueError):
    """Columns that hold text where numbers are needed (no number in them before).

    Attributes
    ----------
    columns : list of str
        The text columns found on the first line holding text.
    header : list of str
        All the column names of the file.
    """

    def __init__(self, message: str, columns: list[str], header: list[str]) -> None:
        super().__init__(message)
        self.columns = columns
        self.header = header


@dataclasses.dataclass
class Table:
    """A numeric table read by :func:`read_table`.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_columns), float64
        The selected columns; NaN marks a missing cell (``allow_missing``).
    columns : list of str
        Their names, in the order of X's columns.
    ids : list of str or None
        The id column's cells, one per row (None without an id column).
    id_column : str or None
        The id column's name.
    """

    X: np.ndarray
    columns: list[str]
    ids: list[str] | None = None
    id_column: str | None = None


#: A selection: given the header, the indices of the feature columns and of the id column.
Selector = Callable[[list[str]], tuple[list[int], int | None]]


def _read_error(exc: OSError, path: PathLike) -> OSError:
    """The same kind of OSError with a one-line message naming the file."""
    reason = exc.strerror or str(exc)
    return type(exc)(f"cannot read {os.fspath(path)!s}: {reason}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_header(row: list[str], path: PathLike, line: int) -> list[str]:
    names = [cell.strip() for cell in row]
    if len(names) == 1:
        for sep, name in OTHER_SEPARATORS.items():
            if sep in names[0]:
                raise ValueError(
                    f"{path}, line {line}: one column named {names[0][:40]!r}: the file looks "
                    f"{name}-separated; emkit reads comma-separated files")
    for j, name in enumerate(names):
        if not name:
            raise ValueError(f"{path}, line {line}: column {j + 1} of the header has no name")
    if all(_is_number(name) for name in names):
        raise ValueError(
            f"{path}, line {line}: no header row (the first line holds numbers); "
            "add a first line with the column names"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path}, line {line}: column name {name!r} appears twice")
        seen.add(name)
    return names


def _ragged(path: PathLike, line: int, n_cells: int, header: list[str]) -> str:
    what = (f"no value for column {header[n_cells]!r}" if n_cells < len(header)
            else f"extra cells after column {header[-1]!r}")
    return (f"{path}, line {line}: {n_cells} cell{'s' if n_cells != 1 else ''} but the header "
            f"has {len(header)} columns ({what})")


def _number(text: str, allow_missing: bool) -> float | None:
    """The cell's value (NaN: missing), or None when it is not a number."""
    if allow_missing and (not text or text.lower() in MISSING_TOKENS):
        return math.nan
    if not text or "_" in text:  # float() accepts "1_000"; a CSV cell should not
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _cell_error(text: str, where: str, allow_missing: bool) -> str:
    if not text:
        return f"{where}: empty cell (missing values are not allowed)"
    value = _number(text, allow_missing)
    if value is None:
        return f"{where}: non-numeric value {text[:40]!r}"
    if allow_missing:
        return (f"{where}: {text!r} is not a finite number (inf is not allowed; empty cells, NA "
                "and NaN mark missing values)")
    return f"{where}: {text!r} is not a finite number (NaN and inf are not allowed)"


def _bounded_lines(handle, path: PathLike, max_chars: int):
    """The file's lines, refusing a line longer than ``max_chars`` or holding a NUL."""
    number = 0
    while True:
        line = handle.readline(max_chars + 1)
        if not line:
            return
        number += 1
        if "\0" in line:
            raise ValueError(f"{path}, line {number}: holds a NUL character (a binary file, "
                             "not CSV text)")
        if len(line) > max_chars:
            raise ValueError(f"{path}, line {number}: longer than {max_chars} characters "
                             "(not a CSV file?)")
        yield line


def _decode_error(path: PathLike, exc: UnicodeDecodeError) -> str:
    """Where the first invalid UTF-8 byte is (line and byte), read again in binary."""
    where = ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            if head in (b"\xff\xfe", b"\xfe\xff"):
                return f"{path}: not a UTF-8 text file (it is UTF-16); save it as UTF-8"
            handle.seek(0)
            decoder = codecs.getincrementaldecoder("utf-8")()
            line, offset = 1, 0
            while block := handle.read(1 << 16):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as inner:
                    bad_at = offset + inner.start
                    line += block[: inner.start].count(b"\n")
                    where = f", line {line} (byte {bad_at})"
                    break
                line += block.count(b"\n")
                offset += len(block)
    except (OSError, ValueError):  # not seekable (a pipe): no position
        pass
    return f"{path}{where}: not a UTF-8 text file ({exc.reason}); save it as UTF-8"


def read_table(
    path: PathLike,
    *,
    allow_missing: bool = False,
    select: Selector | None = None,
    max_line_chars: int | None = None,
    text: bool = False,
) -> Table:
    """Read a numeric CSV file with a header row, keeping only some columns.

    Parameters
    ----------
    path : str or path-like
        A comma-separated UTF-8 file: one header line of distinct column
        names, then one line per row.  Blank lines are skipped; cells may be
        quoted and surrounded by spaces.
    allow_missing : bool, default=False
        Read empty cells, ``NA`` and ``NaN`` (any letter case) as missing
        values (NaN).  Infinities are still errors.
    select : callable, optional
        ``select(header) -> (feature_indices, id_index)``: the 0-based
        columns to read as numbers (in this order) and the column to keep as
        row ids (None: no ids).  Default: every column, no ids.  Cells of the
        other columns are not parsed (they may hold text).
    max_line_chars : int, optional
        Longest line accepted (default: :data:`MAX_LINE_CHARS`, 16 Mi characters).
    text : bool, default=False
        Keep the cells as text (stripped strings; categorical data): X is then
        an object array, with None for a missing cell (empty, ``NA`` or
        ``NaN`` with ``allow_missing``; otherwise an empty cell is an error).

    Returns
    -------
    Table

    Raises
    ------
    OSError
        The file cannot be opened (the message names it).
    TextColumnsError
        Selected columns hold text (the message names them all).
    ValueError
        Naming the file, the 1-based line number and the column name: a
        non-numeric or infinite cell, an empty or NaN cell (unless
        ``allow_missing``), an empty or repeated id; a row with the wrong
        number of cells; no header; no data rows; not UTF-8 text; a line
        that is too long or holds a NUL character.
    """
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise _read_error(exc, path) from None
    with handle:
        limit = MAX_LINE_CHARS if max_line_chars is None else max_line_chars
        reader = csv.reader(_bounded_lines(handle, path, limit), skipinitialspace=True)
        header: list[str] | None = None
        features: list[int] = []
        id_index: int | None = None
        values: array.array | list = [] if text else array.array("d")
        ids: list[str] = []
        first_line_of: dict[str, int] = {}
        numeric_seen: list[bool] = []
        n_rows = 0
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if header is None:
                    header = _parse_header(row, path, line)
                    features, id_index = (list(range(len(header))), None) if select is None \
                        else select(header)
                    numeric_seen = [False] * len(header)
                    continue
                if len(row) != len(header):
                    raise ValueError(_ragged(path, line, len(row), header))
                if text:
                    values.extend(_text_cells(row, features, path, line, header,
                                              allow_missing))
                else:
                    values.extend(_numeric_cells(row, features, path, line, header,
                                                 numeric_seen, allow_missing))
                if id_index is not None:
                    ids.append(_row_id(row[id_index].strip(), path, line, header[id_index],
                                       first_line_of))
                n_rows += 1
        except UnicodeDecodeError as exc:
            raise ValueError(_decode_error(path, exc)) from None
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
        except OSError as exc:
            raise _read_error(exc, path) from None
    if header is None:
        raise ValueError(f"{path}: the file is empty (expected a header row and data rows)")
    if n_rows == 0:
        raise ValueError(f"{path}: the file has a header but no data rows")
    if text:
        X = np.empty(n_rows * len(features), dtype=object)
        X[:] = values
        X = X.reshape(n_rows, len(features))
    else:
        X = np.frombuffer(values, dtype=np.float64).reshape(n_rows, len(features)).copy()
    return Table(X, [header[j] for j in features],
                 ids if id_index is not None else None,
                 header[id_index] if id_index is not None else None)


def _numeric_cells(row: list[str], features: list[int], path: PathLike, line: int,
                   header: list[str], numeric_seen: list[bool], allow_missing: bool
                   ) -> list[float]:
    """The selected cells of a row as numbers (NaN: missing); raises for a bad cell."""
    parsed = []
    for j in features:
        value = _number(row[j].strip(), allow_missing)
        if value is None or not (math.isfinite(value) or (allow_missing and math.isnan(value))):
            _refuse_cell(path, line, header, features, row, numeric_seen, j, allow_missing)
        if not math.isnan(value):
            numeric_seen[j] = True
        parsed.append(value)
    return parsed


def _text_cells(row: list[str], features: list[int], path: PathLike, line: int,
                header: list[str], allow_missing: bool) -> list[str | None]:
    """The selected cells of a row as text; None for a missing cell."""
    cells: list[str | None] = []
    for j in features:
        cell = row[j].strip()
        missing = not cell or cell.lower() in MISSING_TOKENS or cell.lower() == "nan"
        if missing and not allow_missing:
            raise ValueError(f"{path}, line {line}, column {header[j]!r}: empty cell (missing "
                             "values are not allowed)")
        cells.append(None if missing else cell)
    return cells


def _row_id(text: str, path: PathLike, line: int, column: str, first_line_of: dict) -> str:
    if not text:
        raise ValueError(f"{path}, line {line}, id column {column!r}: empty id")
    if text in first_line_of:
        raise ValueError(f"{path}, line {line}, id column {column!r}: id {text[:40]!r} "
                         f"already used on line {first_line_of[text]}; ids must be unique")
    first_line_of[text] = line
    return text


def _refuse_cell(path, line, header, features, row, numeric_seen, j, allow_missing) -> None:
    """Raise the error for a bad cell: a text column (no number in it so far) or a bad value."""
    text = row[j].strip()
    if text and _number(text, allow_missing) is None and not numeric_seen[j]:
        text_columns = [header[i] for i in features
                        if not numeric_seen[i] and row[i].strip()
                        and _number(row[i].strip(), allow_missing) is None]
        if len(text_columns) == 1:
            message = (f"{path}, line {line}, column {header[j]!r}: non-numeric value "
                       f"{text[:40]!r}")
        else:
            cells = ", ".join(f"{header[i]!r} ({row[i].strip()[:20]!r})" for i in features
                              if header[i] in text_columns)
            message = f"{path}, line {line}: non-numeric values in columns {cells}"
        raise TextColumnsError(message, text_columns, header)
    raise ValueError(_cell_error(text, f"{path}, line {line}, column {header[j]!r}",
                                 allow_missing))


def read_csv(path: PathLike, *, allow_missing: bool = False) -> tuple[np.ndarray, list[str]]:
    """Read a numeric CSV file with a header row: every column, as floats.

    Parameters
    ----------
    path : str or path-like
        A comma-separated UTF-8 file: one header line of distinct column names,
        then one line per row, every cell a finite number.  Blank lines are
        skipped; cells may be quoted and surrounded by spaces.
    allow_missing : bool, default=False
        Read empty cells, ``NA`` and ``NaN`` (any letter case) as missing
        values, returned as NaN.  Infinities are still errors.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns), float64
    columns : list of str
        The column names from the header.

    Raises
    ------
    OSError, ValueError
        As :func:`read_table`.
    """
    table = read_table(path, allow_missing=allow_missing)
    return table.X, table.columns


def select_columns(
    header: list[str],
    columns: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    id_column: str | None = None,
) -> tuple[list[int], int | None]:
    """Resolve a column selection against a header (for :func:`read_table`'s ``select``).

    Each entry is a column name or a 1-based column number (a name that
    exists wins over a number).  ``columns`` keeps those columns in that
    order (default: all), ``drop`` removes some, ``id_column`` is kept as
    row ids and never as a feature.

    Raises
    ------
    ValueError
        Starting with the parameter's name: an unknown name, a number out of
        range, a column given twice, the id column among the features, no
        column left.
    """
    def resolve(token: str, what: str) -> int:
        token = str(token).strip()
        if token in header:
            return header.index(token)
        if token.isdigit():
            number = int(token)
            if 1 <= number <= len(header):
                return number - 1
            raise ValueError(f"{what}: column number {number} is out of range (the file has "
                             f"{len(header)} columns)")
        raise ValueError(f"{what}: no column {token[:40]!r} (the columns are "
                         f"{_list_names(header)})")

    id_index = None if id_column is None else resolve(id_column, "id_column")
    if columns is not None:
        chosen = [resolve(c, "columns") for c in columns]
        for position, j in enumerate(chosen):
            if j in chosen[:position]:
                raise ValueError(f"columns: column {header[j]!r} is given twice")
        if id_index is not None and id_index in chosen:
            raise ValueError(f"columns: {header[id_index]!r} is the id column; it cannot also "
                             "be a feature")
    else:
        chosen = [j for j in range(len(header)) if j != id_index]
    if drop is not None:
        dropped = {resolve(c, "drop") for c in drop}
        chosen = [j for j in chosen if j not in dropped]
    if not chosen:
        raise ValueError(f"{'drop' if drop else 'columns'}: no column is left to use as a "
                         "feature")
    return chosen, id_index


def _list_names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
