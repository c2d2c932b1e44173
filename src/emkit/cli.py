"""The ``emkit`` command: ``demo``, ``fit``, ``select``, ``predict``, ``impute``, ``score``.

The command only does input and output; the modelling is the public API
(:class:`~emkit.GaussianMixture`, :mod:`emkit.persist`, :mod:`emkit.plotting`)
and the subcommands are in :mod:`emkit._cli_commands`.

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

Input files are never modified.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from ._cli_commands import (
    Outcome,
    cmd_demo,
    cmd_fit,
    cmd_impute,
    cmd_predict,
    cmd_score,
    cmd_select,
    explain,
    one_line,
)
from ._config import get_config

__all__ = ["main"]

COVARIANCE_HELP = ("an mclust model (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, "
                   "VEV, EVV, VVV; E or V for one column) or full, tied, diag, spherical "
                   "(default: full)")
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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message: str):
        self.exit(2, f"emkit: error: {one_line(message)} (see `{self.prog} --help`)\n")


def _seed(text: str) -> int:
    """A --random-state value: an integer in [0, 2**32 - 1] (numpy's seeds)."""
    value = int(text)  # ValueError: argparse reports "invalid _seed value"
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 4294967295], got {text!r}")
    return value


_seed.__name__ = "int"  # argparse names the type in "invalid int value: 'x'"


def _add_columns(command: argparse.ArgumentParser, ids: bool = True) -> None:
    group = command.add_argument_group(
        "columns", "Choose the columns of DATA.csv: names or 1-based numbers, separated by "
        "commas (a column name takes precedence over a number).")
    group.add_argument("--columns", action="append", metavar="COLS",
                       help="use only these columns, in this order (default: all)")
    group.add_argument("--drop", action="append", metavar="COLS",
                       help="leave these columns out (text, ids, targets)")
    if ids:
        group.add_argument("--id-column", metavar="COL",
                           help="a column of row ids (any text, unique): never a feature, "
                           "and the first column of the rows written")
    else:
        group.add_argument("--id-column", metavar="COL",
                           help="a column of row ids (any text, unique): never a feature")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="emkit", description="Fit latent-variable models with EM and use them.")
    parser.add_argument("--version", action="version", version=f"emkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="model selection on Old Faithful, with a plot",
        description="Fit Gaussian mixtures (K = 1..6, four covariance types) to the Old "
        "Faithful data, print log-likelihood, BIC and AIC, and save the lowest-BIC model "
        "and its plot.")
    demo.add_argument("--out", default=".", metavar="DIR",
                      help="directory for faithful_clusters.png and faithful_model.json "
                      "(default: the current directory)")
    demo.set_defaults(handler=cmd_demo)

    fit = sub.add_parser("fit", help="fit a Gaussian mixture to a CSV file",
                         description="Fit a Gaussian mixture to a numeric CSV file with a "
                         "header row and save it as a JSON model file.")
    fit.add_argument("data", metavar="DATA.csv")
    fit.add_argument("--k", type=int, required=True, metavar="K", help="number of components")
    fit.add_argument("--covariance", "--covariance-type", dest="covariance", metavar="TYPE",
                     help=COVARIANCE_HELP)
    fit.add_argument("--out", required=True, metavar="MODEL.json", help="model file to write")
    fit.add_argument("--labels", metavar="LABELS.csv",
                     help="also write the most probable component of every row")
    fit.add_argument("--n-init", type=int, metavar="N", help="initialisations (default: 1)")
    fit.add_argument("--random-state", type=_seed, metavar="S", help="random seed")
    fit.add_argument("--max-iter", type=int, metavar="M", help="EM iterations (default: 100)")
    fit.add_argument("--tol", type=float, metavar="T", help="convergence tolerance on the "
                     "mean log-likelihood (default: 1e-3)")
    fit.add_argument("--reg-covar", type=float, metavar="R",
                     help="added to covariance diagonals (default: 1e-6)")
    flag = fit.add_mutually_exclusive_group()
    flag.add_argument("--contamination", type=float, metavar="C",
                      help="fit an outlier detector instead (for `emkit score`): flag the "
                      "fraction C (in (0, 0.5]) of training rows with the lowest density")
    flag.add_argument("--threshold", type=float, metavar="EPS",
                      help="fit an outlier detector instead (for `emkit score`) that flags "
                      "rows with density p(x) < EPS")
    _add_columns(fit)
    fit.set_defaults(handler=cmd_fit)

    select = sub.add_parser(
        "select", help="choose G and the covariance model by BIC (as mclust's mclustBIC)",
        description="Fit a Gaussian mixture for every number of components G and covariance "
        "model (by default mclust's 14 models and G = 1..9, started as mclust does from one "
        "hierarchical clustering, no regularisation), print the BIC table (NA: the model "
        "could not be estimated, reason listed) and the best models, and optionally plot the "
        "BIC curves and save the best model. The input file is never modified.")
    select.add_argument("data", metavar="DATA.csv")
    select.add_argument("--components", default="1-9", metavar="G",
                        help="numbers of components: a range 1-9, a list 1,2,5 or both "
                        "(default: 1-9)")
    select.add_argument("--models", default="all", metavar="NAMES",
                        help="'all' (default: mclust's models for the data's dimension) or "
                        "names such as EII,VVV (scikit-learn's full, tied, diag, spherical "
                        "too)")
    select.add_argument("--criterion", default="bic", choices=("bic", "icl", "aic"),
                        help="what chooses the model (default: bic)")
    select.add_argument("--top", type=int, default=3, metavar="N",
                        help="how many of the best models to list (default: 3)")
    select.add_argument("--convention", default="mclust", choices=("mclust", "sklearn"),
                        help="sign of the printed criteria: mclust's 2 logL - penalty, larger "
                        "is better (default), or scikit-learn's -2 logL + penalty, smaller "
                        "is better")
    select.add_argument("--plot", metavar="FILE.png",
                        help="write the criterion curves (one line per model) as a PNG")
    select.add_argument("--output", "--out", dest="out", metavar="MODEL.json",
                        help="save the best model (as emkit fit does)")
    select.add_argument("--init", choices=("hierarchical", "kmeans", "k-means++", "random",
                                           "random_from_data"),
                        help="starting partitions (default: hierarchical, as mclust)")
    select.add_argument("--n-init", type=int, metavar="N",
                        help="restarts per model with a random --init (default: 1)")
    select.add_argument("--random-state", type=_seed, metavar="S", help="random seed")
    select.add_argument("--max-iter", type=int, metavar="M",
                        help="EM iterations per model (default: 1000)")
    select.add_argument("--tol", type=float, metavar="T", help="convergence tolerance on the "
                        "mean log-likelihood per row (default: 1e-6)")
    select.add_argument("--reg-covar", type=float, metavar="R",
                        help="added to covariance diagonals (default: 0, as mclust)")
    select.add_argument("--n-jobs", type=int, metavar="J",
                        help="worker processes over the models (default: 1; -1: all CPUs)")
    _add_columns(select, ids=False)
    select.set_defaults(handler=cmd_select)

    predict = sub.add_parser("predict", help="label the rows of a CSV file with a saved model",
                             description="Print (or write) the most probable component of "
                             "every row, as CSV with a 'label' column.")
    predict.add_argument("model", metavar="MODEL.json")
    predict.add_argument("data", metavar="DATA.csv")
    predict.add_argument("--out", metavar="FILE.csv", help="write here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="add the responsibilities as columns p0..pK-1")
    _add_columns(predict)
    predict.set_defaults(handler=cmd_predict)

    impute = sub.add_parser(
        "impute", help="fill the missing cells of a CSV file",
        description="Fit a Gaussian mixture by EM to a numeric CSV file in which empty "
        "cells, NA and NaN are missing values, and write a copy with every missing cell "
        "replaced by its conditional mean given the row's observed cells (or, with --draw, "
        "a draw from that conditional distribution). Observed cells keep their values; "
        "the input file is never modified.")
    impute.add_argument("data", metavar="DATA.csv")
    impute.add_argument("--out", required=True, metavar="FILLED.csv",
                        help="completed CSV to write (same header)")
    impute.add_argument("--k", type=int, metavar="K",
                        help="number of mixture components (default: 1)")
    impute.add_argument("--covariance", "--covariance-type", dest="covariance",
                        metavar="TYPE", help=COVARIANCE_HELP)
    impute.add_argument("--n-init", type=int, metavar="N", help="initialisations (default: 1)")
    impute.add_argument("--random-state", type=_seed, metavar="S",
                        help="random seed (of the fit and of the --draw draws)")
    impute.add_argument("--draw", action="store_true",
                        help="draw the missing values from their conditional distribution "
                        "(multiple imputation: run again with other --random-state values)")
    _add_columns(impute)
    impute.set_defaults(handler=cmd_impute)

    score = sub.add_parser(
        "score", help="flag low-density rows (anomalies) of a CSV file",
        description="Write the log-density log p(x) of every row and whether it is an "
        "outlier, as CSV with columns log_density,outlier (1 = outlier). MODEL is a "
        "detector saved by `emkit fit ... --contamination C` or `--threshold EPS` (its "
        "threshold is used unless overridden here), or a GaussianMixture saved by `emkit "
        "fit`, which then needs --threshold or --contamination. Without --out the CSV goes "
        "to stdout and the count of flagged rows to stderr.")
    score.add_argument("model", metavar="MODEL.json")
    score.add_argument("data", metavar="DATA.csv")
    score.add_argument("--out", metavar="FLAGS.csv", help="write here instead of stdout")
    rule = score.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, metavar="EPS",
                      help="flag rows with density p(x) < EPS")
    rule.add_argument("--contamination", type=float, metavar="C",
                      help="flag the fraction C (in (0, 0.5]) of the rows of DATA.csv with "
                      "the lowest density")
    _add_columns(score)
    score.set_defaults(handler=cmd_score)
    return parser


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
