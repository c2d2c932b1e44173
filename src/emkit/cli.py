"""The ``emkit`` command: ``demo``, ``fit``, ``select``, ``predict``, ``impute``, ``score``.

The command only does input and output; the modelling is the public API (the
estimators, :mod:`emkit.sources`, :mod:`emkit.persist`, :mod:`emkit.plotting`).
This module runs a command (signals, staged outputs, exit statuses); the parser
is in :mod:`emkit._cli_parser`, ``fit`` in :mod:`emkit._cli_fit`, ``select`` in
:mod:`emkit._cli_select`, the other subcommands in :mod:`emkit._cli_commands`,
what is particular to hidden Markov models, mixed column groups and probit
regression in :mod:`emkit._cli_hmm`, :mod:`emkit._cli_mixed` and
:mod:`emkit._cli_probit`, the data readers in :mod:`emkit._cli_data` and what they
share in :mod:`emkit._cli_common` (user guide: docs/cli.md).

The contract, for every subcommand:

* success: exit status 0, every output file written completely;
* an input problem (file, cell, column, option, model file): one line
  ``emkit: error: ...`` on stderr naming it, exit status 2, nothing on stdout
  and no output file written (outputs are staged as temporaries and renamed
  into place only after the report reached stdout, so a closed or full stdout
  fails the command too);
* Ctrl-C: ``emkit: interrupted``, exit status 130; SIGTERM and SIGHUP:
  ``emkit: terminated``, exit status 128 + the signal number; no temporary
  file left and the worker processes of ``select --n-jobs`` stopped;
* a bug: ``emkit: internal error: ...`` (one line), exit status 70
  (``EMKIT_TRACEBACK=1`` shows the traceback instead).

Input files are never modified.  The one file written while a command runs is
``fit --checkpoint FILE`` (by the library, atomically): it is kept when the fit
is interrupted, so that ``--resume`` can continue it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._cli_parser import build_parser, one_line
from ._config import get_config

# The commands (and NumPy with them) are imported when one runs, so that
# `emkit --help` and usage errors answer at once.
if TYPE_CHECKING:
    from ._cli_common import Outcome


def _command(name: str):
    """The command ``name`` of :mod:`emkit._cli_commands`, imported when it runs."""
    def run(*args, **kwargs):
        from . import _cli_commands

        return getattr(_cli_commands, name)(*args, **kwargs)

    run.__name__ = name
    return run


def explain(exc: BaseException, data: str | None = None) -> str:
    from ._cli_common import explain as explain_message

    return explain_message(exc, data)

__all__ = ["main"]

#: Exit status of an unexpected error (a bug): sysexits' EX_SOFTWARE.
EXIT_INTERNAL = 70
#: Signals that end the command cleanly (temporaries removed, workers stopped).
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                    if hasattr(signal, name))


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM or SIGHUP (like KeyboardInterrupt for SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame) -> None:
    for other in TERMINATING:  # a second signal must not interrupt the clean-up
        signal.signal(other, signal.SIG_IGN)
    raise Terminated(signum)


class _ClosedStream:
    """Stands for a standard stream that was closed when emkit started (``>&-``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, f"standard {self.name} is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"emkit: warning: {one_line(message)}", file=sys.stderr)


def _parser():
    """The parser, each subcommand calling its handler (:mod:`emkit._cli_parser`)."""
    return build_parser(*(_command(f"cmd_{name}") for name in
                          ("demo", "fit", "select", "predict", "impute", "score")))


def _stop_workers() -> None:
    """Stop the worker processes of ``select --n-jobs`` (joblib's loky executor), if any.

    Called when the command is interrupted: loky keeps its workers alive for
    reuse, and orphaned workers would keep running (and hold stdout open).
    """
    module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(module, "_executor", None)
    if executor is not None:
        with contextlib.suppress(Exception):
            executor.shutdown(wait=True, kill_workers=True)


def _silence(stream) -> None:
    """Point a failed standard stream's descriptor at /dev/null (no error again at exit)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _emit(stream, chunks: list[str]) -> None:
    if not chunks:
        return
    try:
        stream.write("".join(chunks))
        stream.flush()
    except OSError as exc:
        _silence(stream)
        if isinstance(exc, BrokenPipeError):
            raise
        name = "output" if stream is sys.stdout else "error"
        raise OSError(f"cannot write to standard {name}: {exc.strerror or exc}") from None


def _finish(outcome: Outcome) -> None:
    """Stage the files, print the report, then rename the files into place."""
    from .io import OutputBatch

    created = []  # directories made here, removed again if the command fails
    try:
        for directory in outcome.directories:
            missing = []
            parent = os.path.abspath(directory)
            while not os.path.exists(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise OSError(f"cannot create output directory {directory}: "
                              f"{exc.strerror or exc}") from None
            created += missing
        with OutputBatch() as batch:
            for path, content in outcome.files:
                batch.add(path, content)
            _emit(sys.stdout, outcome.stdout)
            _emit(sys.stderr, outcome.stderr)
    except BaseException:
        for directory in created:  # deepest first; only if still empty
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        raise


def _open_standard_streams() -> None:
    """Closed standard streams: keep descriptors 0-2 taken (by /dev/null) so that no
    file opened later lands on them, and make writes to stdout fail loudly."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_RDWR)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)
            if name == "stdout":
                sys.stdout = _ClosedStream("output")  # type: ignore[assignment]
            elif name == "stderr":
                sys.stderr = open(os.devnull, "w")  # lives until exit


def _interruption(exc: BaseException) -> BaseException | None:
    """The Ctrl-C or SIGTERM an exception was raised while handling, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (KeyboardInterrupt, Terminated)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _report(line: str) -> None:
    with contextlib.suppress(Exception):
        print(line, file=sys.stderr)
        sys.stderr.flush()


def _failure(exc: BaseException) -> int:
    """Report a failed command in one line on stderr; return the exit status."""
    if isinstance(exc, BrokenPipeError):  # e.g. `emkit demo | head`: stop quietly
        _silence(sys.stdout)
        return 1
    cause = _interruption(exc)  # also when a clean-up failed after the signal
    if cause is not None:
        _stop_workers()
        if isinstance(cause, Terminated):
            _report(f"emkit: terminated ({signal.Signals(cause.signum).name})")
            return 128 + cause.signum
        _report("emkit: interrupted")
        return 130
    if isinstance(exc, (ValueError, OSError, ImportError)):  # CommandError is a ValueError
        _report(f"emkit: error: {explain(exc)}")
        return 2
    if isinstance(exc, MemoryError):
        _report("emkit: error: out of memory (the data or the model is too large for this "
                "machine)")
        return 2
    _stop_workers()  # a bug: one line, unless asked for the traceback
    if os.environ.get("EMKIT_TRACEBACK") or not isinstance(exc, Exception):
        raise exc
    _report(f"emkit: internal error: {type(exc).__name__}: {one_line(exc)[:300]} (please "
            "report it; EMKIT_TRACEBACK=1 shows the traceback)")
    return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``emkit`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 on an input error (after one ``emkit: error:`` line
        on stderr, with nothing written); 130 on Ctrl-C; 128 + N on the
        terminating signal N; 70 on an internal error.  Usage errors raise
        SystemExit(2) through argparse, after one line on stderr.
    """
    _open_standard_streams()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in TERMINATING:
            previous[signum] = signal.signal(signum, _terminate)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args = _parser().parse_args(argv)
            get_config()  # an invalid EMKIT_KERNELS fails here, before any work
            _finish(args.handler(args))
        return 0
    except SystemExit:
        raise
    except BaseException as exc:
        return _failure(exc)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
