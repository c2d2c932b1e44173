"""Plain-text input and output: a strict numeric CSV reader and atomic file writing.

The reader needs only the standard library and numpy.  Its errors are
``ValueError`` messages naming the file, the 1-based line number and the
column *name*, so a command-line user can go straight to the bad cell.

Every writer goes through a temporary file in the destination directory that
is renamed over the target with :func:`os.replace`, so an output file is
either complete or absent, never half written.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["OutputBatch", "atomic_write", "csv_text", "read_csv", "write_csv"]

PathLike = str | os.PathLike


def _read_error(exc: OSError, path: PathLike) -> OSError:
    """The same kind of OSError with a one-line message naming the file."""
    reason = exc.strerror or str(exc)
    return type(exc)(f"cannot read {os.fspath(path)!s}: {reason}")


def _parse_header(row: list[str], path: PathLike, line: int) -> list[str]:
    names = [cell.strip() for cell in row]
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


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Cells that mean "missing" for ``read_csv(..., allow_missing=True)`` (besides
#: empty cells and any spelling of NaN), compared case-insensitively.
MISSING_TOKENS = frozenset({"na"})


def _parse_cell(
    cell: str, path: PathLike, line: int, column: str, allow_missing: bool = False
) -> float:
    where = f"{path}, line {line}, column {column!r}"
    text = cell.strip()
    if allow_missing and (not text or text.lower() in MISSING_TOKENS):
        return math.nan
    if not text:
        raise ValueError(f"{where}: empty cell (missing values are not allowed)")
    try:
        if "_" in text:  # float() accepts "1_000"; a CSV cell should not
            raise ValueError
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: non-numeric value {text!r}") from None
    if allow_missing and math.isnan(value):
        return math.nan
    if not math.isfinite(value):
        if allow_missing:
            raise ValueError(f"{where}: {text!r} is not a finite number (inf is not allowed; "
                             "empty cells, NA and NaN mark missing values)")
        raise ValueError(f"{where}: {text!r} is not a finite number (NaN and inf are not allowed)")
    return value


def read_csv(path: PathLike, *, allow_missing: bool = False) -> tuple[np.ndarray, list[str]]:
    """Read a numeric CSV file with a header row.

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
    OSError
        The file cannot be opened (the message names it).
    ValueError
        Naming the file, the 1-based line number and the column name: a
        non-numeric or infinite cell, an empty or NaN cell (unless
        ``allow_missing``); a row with the wrong number of cells; no header;
        no data rows; not UTF-8 text.
    """
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise _read_error(exc, path) from None
    with handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header: list[str] | None = None
        rows: list[list[float]] = []
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if header is None:
                    header = _parse_header(row, path, line)
                    continue
                if len(row) != len(header):
                    raise ValueError(_ragged(path, line, len(row), header))
                cells = zip(row, header, strict=True)
                rows.append([_parse_cell(cell, path, line, name, allow_missing)
                             for cell, name in cells])
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})"
            ) from None
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
        except OSError as exc:
            raise _read_error(exc, path) from None
    if header is None:
        raise ValueError(f"{path}: the file is empty (expected a header row and data rows)")
    if not rows:
        raise ValueError(f"{path}: the file has a header but no data rows")
    return np.array(rows, dtype=np.float64), header


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _csv_writer(columns: Sequence[str], rows: np.ndarray | Sequence[Sequence[Any]]):
    def write(handle: IO[str]) -> None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format_cell(v) for v in row])

    return write


def write_csv(
    path: PathLike,
    columns: Sequence[str],
    rows: np.ndarray | Sequence[Sequence[Any]],
) -> None:
    """Write a header and rows to ``path`` atomically (floats written with ``repr``)."""
    atomic_write(path, _csv_writer(columns, rows))


def csv_text(columns: Sequence[str], rows: np.ndarray | Sequence[Sequence[Any]]) -> str:
    """The text :func:`write_csv` would write."""
    import io

    buffer = io.StringIO()
    _csv_writer(columns, rows)(buffer)
    return buffer.getvalue()


def _write_error(exc: OSError, path: PathLike) -> OSError:
    reason = exc.strerror or str(exc)
    return type(exc)(f"cannot write {os.fspath(path)!s}: {reason}")


def _stage(path: PathLike, write: Callable[[IO[Any]], None], binary: bool) -> str:
    """Write to a fresh temporary file next to ``path``; return the temporary's name."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            write(handle)
        os.chmod(tmp, _new_file_mode(target))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(exc, path) from None
        raise
    return tmp


def _new_file_mode(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets 0o666 minus the umask.

    (``mkstemp`` creates private 0o600 files.)  The umask is read from
    ``/proc`` where possible: setting it to read it is not thread-safe.
    """
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    umask = 0o022
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
                break
    return 0o666 & ~umask


def atomic_write(
    path: PathLike, write: Callable[[IO[Any]], None] | str | bytes, *, binary: bool = False
) -> None:
    """Write a file atomically: a temporary file in the same directory, then :func:`os.replace`.

    Parameters
    ----------
    path : str or path-like
        Destination; it is replaced only once the new content is complete.
    write : callable, str or bytes
        The content, or a function writing it to an open text (or binary) handle.
    binary : bool, default=False
        Open the temporary file in binary mode (implied for ``bytes`` content).

    Raises
    ------
    OSError
        With a message naming ``path``; no temporary or partial file is left.
    """
    with OutputBatch() as batch:
        batch.add(path, write, binary=binary)


class OutputBatch:
    """Several output files that appear together or not at all.

    :meth:`add` writes each file to a temporary next to its destination;
    leaving the ``with`` block normally renames them all into place.  On an
    error nothing is renamed and the temporaries are deleted; if a rename
    itself fails, the files already renamed in this batch are removed too.

    Examples
    --------
    >>> with OutputBatch() as out:                        # doctest: +SKIP
    ...     out.add("model.json", text)
    ...     out.add("labels.csv", lambda f: f.write("label\\n0\\n"))
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    def add(
        self, path: PathLike, write: Callable[[IO[Any]], None] | str | bytes, *,
        binary: bool = False,
    ) -> None:
        """Stage one output (see :func:`atomic_write` for the arguments)."""
        if isinstance(write, (str, bytes)):
            content = write
            binary = binary or isinstance(content, bytes)

            def write(handle: IO[Any]) -> None:
                handle.write(content)

        self._staged.append((_stage(path, write, binary), Path(path)))

    def commit(self) -> list[Path]:
        """Rename every staged file into place; return the destinations."""
        done: list[Path] = []
        try:
            for tmp, target in self._staged:
                try:
                    os.replace(tmp, target)
                except OSError as exc:
                    raise _write_error(exc, target) from None
                done.append(target)
        except BaseException:
            for target in done:
                with contextlib.suppress(OSError):
                    os.unlink(target)
            self.discard()
            raise
        self._staged = []
        return done

    def discard(self) -> None:
        """Delete the staged temporaries."""
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged = []

    def __enter__(self) -> OutputBatch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
