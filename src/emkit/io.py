"""Plain-text input and output: a strict numeric CSV reader and atomic file writing.

The reader (:func:`read_csv`, :func:`read_table`, in :mod:`emkit._csv_reader`)
needs only the standard library and numpy.  Its errors are ``ValueError``
messages naming the file, the 1-based line number and the column *name*, so
a command-line user can go straight to the bad cell.

Every writer goes through a temporary file in the destination directory that
is renamed over the target with :func:`os.replace`, so an output file is
either complete or absent, never half written.  Only regular files and new
paths are written: a directory, device, FIFO or socket is refused (an
``os.replace`` would put a regular file in its place), and a symbolic link
is followed to the regular file it names, which is replaced (the link
stays).  Interrupting signals are held back while a temporary file is
created and while a batch is renamed into place, so ``SIGINT``/``SIGTERM``
handlers that raise never leave a temporary file behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._csv_reader import Table, TextColumnsError, read_csv, read_table, select_columns

__all__ = ["OutputBatch", "Table", "TextColumnsError", "atomic_write", "check_output_path",
           "csv_text", "read_csv", "read_table", "select_columns", "write_csv"]

PathLike = str | os.PathLike


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


_HELD_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _signals_held():
    """Hold back SIGINT, SIGTERM and SIGHUP (delivered when the block ends).

    Keeps "create a temporary file and remember it" and "rename a batch into
    place" indivisible for handlers that raise (Ctrl-C, the CLI's SIGTERM).
    Blocking the signals in this thread is not enough: a thread started
    earlier (BLAS, a reader) may receive them, and Python then runs the
    handler in the main thread at once.  So, in the main thread, the handlers
    are also swapped for one that only records the signal; the recorded
    signals go to the previous handlers when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    import threading

    pending: list[int] = []
    handlers: dict[int, Any] = {}
    # Nothing is changed before the try: an exception raised by another signal's
    # handler (a test's SIGALRM time limit) at any point must not leave these
    # signals blocked or swapped (a blocked SIGINT is inherited by every child
    # process started later: Ctrl-C would no longer reach them).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, [])  # only reads the mask
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in _HELD_SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):  # a Python handler (default_int_handler, the CLI's)
                    handlers[signum] = handler  # recorded before it is swapped
                    signal.signal(signum, lambda n, _f: pending.append(n))
        signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            handlers[signum](signum, None)


_KINDS = {stat.S_ISDIR: "a directory", stat.S_ISCHR: "a character device",
          stat.S_ISBLK: "a block device", stat.S_ISFIFO: "a FIFO (named pipe)",
          stat.S_ISSOCK: "a socket"}


def check_output_path(path: PathLike) -> Path:
    """The regular file that writing ``path`` replaces (or creates).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Path
        ``path`` itself, or for a symbolic link the regular file it finally
        names (so that the link is kept and its target replaced).

    Raises
    ------
    OSError
        ``path`` (or the file a link names) exists and is not a regular
        file, or the link names nothing.
    """
    target = Path(path)
    if os.path.islink(target):
        resolved = Path(os.path.realpath(target))
        if not resolved.exists():
            raise OSError(f"cannot write {os.fspath(path)}: it is a symbolic link to "
                          f"{resolved}, which does not exist")
        target = resolved
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise _write_error(exc, path) from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS.items() if test(mode)), "not a regular file")
        raise OSError(f"cannot write {os.fspath(path)}: it is {kind}; emkit writes only "
                      "regular files or new paths")
    return target


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
        Destination: a new path or a regular file (a symbolic link is
        followed); it is replaced only once the new content is complete.
    write : callable, str or bytes
        The content, or a function writing it to an open text (or binary) handle.
    binary : bool, default=False
        Open the temporary file in binary mode (implied for ``bytes`` content).

    Raises
    ------
    OSError
        With a message naming ``path``; no temporary or partial file is left.
        Also when ``path`` is a directory, device, FIFO or socket.
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
        # (temporary, file it replaces, the path as given)
        self._staged: list[tuple[str, Path, PathLike]] = []

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

        target = check_output_path(path)
        with _signals_held():
            try:
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                           suffix=".tmp")
            except OSError as exc:
                raise _write_error(exc, path) from None
            self._staged.append((tmp, target, path))
        try:
            mode = "wb" if binary else "w"
            kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
            with os.fdopen(fd, mode, **kwargs) as handle:
                write(handle)
            os.chmod(tmp, _new_file_mode(target))
        except BaseException as exc:
            with _signals_held():
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                self._staged.pop()
            if isinstance(exc, OSError):
                raise _write_error(exc, path) from None
            raise

    def commit(self) -> list[Path]:
        """Rename every staged file into place; return the destinations."""
        done: list[Path] = []
        with _signals_held():
            try:
                for _, _, path in self._staged:
                    check_output_path(path)  # still a regular file or absent
                for tmp, target, path in self._staged:
                    try:
                        os.replace(tmp, target)
                    except OSError as exc:
                        raise _write_error(exc, path) from None
                    done.append(target)
            except BaseException:
                for target in done:
                    with contextlib.suppress(OSError):
                        os.unlink(target)
                self._discard()
                raise
            self._staged = []
        return done

    def _discard(self) -> None:
        for tmp, _, _ in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged = []

    def discard(self) -> None:
        """Delete the staged temporaries."""
        with _signals_held():
            self._discard()

    def __enter__(self) -> OutputBatch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
