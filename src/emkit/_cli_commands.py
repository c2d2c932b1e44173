"""The ``emkit`` subcommands: ``demo``, ``fit``, ``select``, ``predict``, ``impute``, ``score``.

Each command reads its inputs, calls the public API and returns an
:class:`Outcome`: the files to write and the text for stdout and stderr.
It writes nothing itself: :func:`emkit.cli.main` stages the files, prints
the text, and renames the files into place only when all of that
succeeded, so a failed command leaves no output behind.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .io import Table, TextColumnsError, check_output_path, csv_text, read_table, select_columns

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEMO_KS = range(1, 7)
DEMO_N_INIT = 10
DEMO_TOL = 1e-6
DEMO_SEED = 0
# Library parameter -> the option that sets it (for error messages).
OPTIONS = {
    "n_components": "--k",
    "covariance_type": "--covariance",
    "n_init": "--n-init",
    "random_state": "--random-state",
    "max_iter": "--max-iter",
    "tol": "--tol",
    "reg_covar": "--reg-covar",
    "contamination": "--contamination",
    "threshold": "--threshold",
    "n_jobs": "--n-jobs",
    "init": "--init",
    "criterion": "--criterion",
    "top": "--top",
}
# Column-selection errors of emkit.io.select_columns start with these.
SELECTION_OPTIONS = {"columns": "--columns", "drop": "--drop", "id_column": "--id-column"}
# select names some library parameters differently
SELECT_OPTIONS = {"n_components": "--components", "covariance_type": "--models",
                  "covariance_types": "--models"}
NAMES_WARNING = "X does not have valid feature names"


class CommandError(ValueError):
    """An input problem found by the command itself (reported like library errors)."""


@dataclasses.dataclass
class Outcome:
    """What a command produced: files to write, text for stdout and for stderr."""

    files: list[tuple[str, str | bytes]] = dataclasses.field(default_factory=list)
    directories: list[str] = dataclasses.field(default_factory=list)
    stdout: list[str] = dataclasses.field(default_factory=list)
    stderr: list[str] = dataclasses.field(default_factory=list)

    def say(self, *lines: str) -> None:
        self.stdout.extend(f"{line}\n" for line in lines)

    def write(self, path: str, content: str | bytes) -> None:
        self.files.append((path, content))


def one_line(message: Any) -> str:
    return " ".join(str(message).split())


def explain(exc: BaseException, data: str | None = None) -> str:
    """A library message with the command-line option (and data file) it concerns."""
    message = one_line(exc)
    for param, option in OPTIONS.items():
        if message.startswith(f"{param} "):
            return f"{option}: {message}"
    if data is not None and message.startswith("X "):
        return f"{data}{message[1:]}"
    return message


def check_outputs(inputs: Sequence[str], outputs: Sequence[str | None]) -> list[str]:
    """Refuse, before any work, outputs that would overwrite an input or each other,
    or that are not regular files or new paths."""
    given = [o for o in outputs if o is not None]
    real = [os.path.realpath(o) for o in given]
    for path, resolved in zip(given, real, strict=True):
        for source in inputs:
            if resolved == os.path.realpath(source):
                raise CommandError(f"output {path} is the input file {source}; "
                                   "choose another name (inputs are never modified)")
        check_output_path(path)
    if len(set(real)) != len(real):
        raise CommandError(f"the same output file is given twice: {given}")
    return given


# ------------------------------------------------------------------ reading tables
def _tokens(values: list[str] | None, option: str) -> list[str] | None:
    """``--columns a,b --columns 3`` as ["a", "b", "3"]."""
    if values is None:
        return None
    tokens = []
    for value in values:
        for token in value.split(","):
            if not token.strip():
                raise CommandError(f"{option}: empty column name in {value!r} (give names or "
                                   "1-based column numbers separated by commas)")
            tokens.append(token.strip())
    return tokens


def read_data(args: argparse.Namespace, path: str, *, training: bool) -> Table:
    """The data file with the columns chosen by --columns, --drop and --id-column.

    NaN (empty cells, NA, NaN) marks a missing value; to fit, every column
    needs an observed value.
    """
    columns = _tokens(getattr(args, "columns", None), "--columns")
    drop = _tokens(getattr(args, "drop", None), "--drop")
    id_column = getattr(args, "id_column", None)

    def select(header: list[str]):
        try:
            return select_columns(header, columns, drop, id_column)
        except ValueError as exc:
            name, _, rest = str(exc).partition(": ")
            raise CommandError(f"{SELECTION_OPTIONS.get(name, name)}: {path}: {rest}") from None

    try:
        table = read_table(path, allow_missing=True, select=select)
    except TextColumnsError as exc:
        names = ",".join(exc.columns)
        if len(exc.columns) == 1 and id_column is None and exc.columns[0] == exc.header[0]:
            hint = (f"a text column? leave it out with --drop {names}, or keep it as row ids "
                    f"with --id-column {names}")
        elif len(exc.columns) == 1:
            hint = f"a text column? leave it out with --drop {names}"
        else:
            hint = f"text columns? leave them out with --drop {names}"
        raise CommandError(f"{one_line(exc)}; {hint}") from None
    if training:
        for name, column in zip(table.columns, np.isnan(table.X).T, strict=True):
            if column.all():
                raise CommandError(f"{path}: column {name!r} has no observed value (every "
                                   f"cell is missing); leave it out with --drop {name}")
    return table


def keyed(table: Table, header: list[str], rows: Any) -> tuple[list[str], Any]:
    """Prefix the id column, when there is one, to an output table."""
    if table.ids is None:
        return header, rows
    rows = rows.tolist() if isinstance(rows, np.ndarray) else rows
    return [table.id_column, *header], [[i, *row] for i, row in
                                        zip(table.ids, rows, strict=True)]


def check_finite(values: np.ndarray, what: str, table: Table, data: str) -> None:
    """Refuse to write NaN or inf results (name the first row, and its id)."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        ident = "" if table.ids is None else f" (id {table.ids[row]!r})"
        raise CommandError(f"{data}, row {row + 1}{ident}: the model gives a non-finite {what} "
                           f"({int(bad.sum())} rows in all; values beyond the float64 range?)")


def _check_columns(model, columns: list[str], data: str, model_path: str) -> None:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(x) for x in names]
        if columns != names:
            how = "in a different order than" if sorted(columns) == sorted(names) else "but"
            hint = (f"; choose them with --columns {','.join(names)}"
                    if set(names) <= set(columns) and "," not in "".join(names) else "")
            raise CommandError(f"{data}: columns {columns} {how} the model {model_path} "
                               f"expects {names}{hint}")
    elif len(columns) != model.n_features_in_:
        raise CommandError(f"{data} has {len(columns)} columns but the model {model_path} "
                           f"expects {model.n_features_in_}")


def density_text(log_p: float) -> str:
    """``exp(log_p)`` in ``%.4g`` style, also beyond the float64 range (no overflow)."""
    if -700.0 < log_p < 700.0:
        return f"{math.exp(log_p):.4g}"
    log10 = log_p / math.log(10.0)
    exponent = math.floor(log10)
    mantissa = 10.0 ** (log10 - exponent)
    if float(f"{mantissa:.4g}") >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.4g}e{exponent:+d}"


def density_rule(offset: float) -> str:
    """``log p(x) < offset`` with the density threshold itself."""
    return f"log p(x) < {offset:.4f}, i.e. p(x) < {density_text(offset)}"


# ------------------------------------------------------------------ demo
def _fit_quietly(model, X: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def _demo_table(results: list[dict], best: dict) -> str:
    header = ("K", "covariance", "log-likelihood", "BIC", "AIC", "converged", "")
    rows = []
    for r in results:
        mark = "<- lowest BIC" if r is best else ""
        if r["error"]:
            rows.append((str(r["K"]), r["cov"], "failed", "-", "-", "-", r["error"]))
            continue
        rows.append((str(r["K"]), r["cov"], f"{r['loglik']:.2f}", f"{r['bic']:.2f}",
                     f"{r['aic']:.2f}", "yes" if r["converged"] else "no", mark))
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    align = [">", "<", ">", ">", ">", "<", "<"]

    def fmt(row: Sequence[str], star: str = " ") -> str:
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths, strict=True)]
        return (star + " " + "  ".join(cells)).rstrip()

    lines = [fmt(header), fmt(["-" * w for w in widths[:-1]] + [""])]
    previous = None
    for r, row in zip(results, rows, strict=True):
        if previous is not None and r["cov"] != previous:
            lines.append("")
        previous = r["cov"]
        lines.append(fmt(row, "*" if r is best else " "))
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> Outcome:
    from .datasets import FAITHFUL_COLUMNS, load_faithful
    from .models import GaussianMixture
    from .persist import model_to_json

    out = Outcome()
    X = load_faithful()
    names = list(FAITHFUL_COLUMNS)
    directory = args.out
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CommandError(f"--out: {directory} exists and is not a directory")
    model_path = os.path.join(directory, "faithful_model.json")
    png_path: str | None = os.path.join(directory, "faithful_clusters.png")
    check_outputs([], [model_path, png_path])
    n = X.shape[0]
    results = []
    for cov in COVARIANCE_TYPES:
        for K in DEMO_KS:
            model = GaussianMixture(K, covariance_type=cov, n_init=DEMO_N_INIT,
                                    init_params="k-means++", tol=DEMO_TOL, max_iter=1000,
                                    random_state=DEMO_SEED)
            row: dict[str, Any] = {"K": K, "cov": cov, "model": model, "error": None}
            try:
                _fit_quietly(model, X)
            except ValueError as exc:  # e.g. a collapsing component
                row["error"] = one_line(exc)[:60]
            else:
                row.update(loglik=model.score(X) * n, bic=model.bic(X), aic=model.aic(X),
                           converged=model.converged_)
            results.append(row)
    fitted = [r for r in results if not r["error"]]
    best = min(fitted, key=lambda r: r["bic"])
    model = best["model"]
    out.say(f"Old Faithful geyser: {n} eruptions, columns {', '.join(names)}",
            f"Gaussian mixtures for K = {DEMO_KS.start}..{DEMO_KS.stop - 1} and every covariance "
            f"type (k-means++ starts, n_init={DEMO_N_INIT}, tol={DEMO_TOL:g}, "
            f"random_state={DEMO_SEED})\n",
            _demo_table(results, best),
            f"\nchosen model (lowest BIC): K={best['K']}, covariance={best['cov']!r}, "
            f"BIC={best['bic']:.2f}")
    out.directories.append(directory)
    try:
        from .plotting import mixture_png

        title = (f"Old Faithful: lowest-BIC Gaussian mixture "
                 f"(K={best['K']}, covariance={best['cov']!r})")
        png = mixture_png(model, X, ["eruptions (minutes)", "waiting (minutes)"], title=title)
    except ImportError as exc:
        out.say(f"plot skipped: {exc}")
        png_path = None
    else:
        out.write(png_path, png)
    # Record the column names (after predicting on the unnamed array above).
    model.feature_names_in_ = np.asarray(names, dtype=object)
    out.write(model_path, model_to_json(model))
    out.say(f"wrote {model_path}")
    if png_path is not None:
        out.say(f"wrote {png_path}")
    return out


# ------------------------------------------------------------------- fit
def _given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The library parameters set by command-line options (None: not given)."""
    values = {
        "n_components": getattr(args, "k", None),
        "covariance_type": getattr(args, "covariance", None),
        "n_init": getattr(args, "n_init", None),
        "random_state": getattr(args, "random_state", None),
        "max_iter": getattr(args, "max_iter", None),
        "tol": getattr(args, "tol", None),
        "reg_covar": getattr(args, "reg_covar", None),
        "contamination": getattr(args, "contamination", None),
        "threshold": getattr(args, "threshold", None),
    }
    return {k: values[k] for k in names if values[k] is not None}


def cmd_fit(args: argparse.Namespace) -> Outcome:
    from .models import GaussianMixture, MixtureOutlierDetector
    from .models.outlier import _check_contamination, _check_threshold
    from .persist import model_to_json

    out = Outcome()
    check_outputs([args.data], [args.out, args.labels])
    detect = args.contamination is not None or args.threshold is not None
    mixture_params = ("n_components", "covariance_type", "n_init", "random_state",
                      "max_iter", "tol", "reg_covar")
    if detect:
        # Check these before reading the data (cheap, and clearer).
        try:
            _check_threshold(args.threshold)
            if args.contamination is not None:
                _check_contamination(args.contamination)
        except ValueError as exc:
            raise CommandError(explain(exc)) from None
    table = read_data(args, args.data, training=True)
    X, columns = table.X, table.columns
    if detect:
        model: Any = MixtureOutlierDetector(
            **_given(args, *mixture_params, "contamination", "threshold"))
    else:
        model = GaussianMixture(**_given(args, *mixture_params))
    try:
        model.fit(X)
        mixture = model.mixture_ if detect else model
        log_density = mixture.score_samples(X)
        check_finite(log_density, "log-density", table, args.data)
        labels = mixture.predict(X) if args.labels else None
        n = X.shape[0]
        summary = [
            ("K", str(mixture.n_components)),
            ("covariance", mixture.covariance_type),
            ("log-likelihood", f"{log_density.sum():.4f}"),
            ("BIC", f"{mixture.bic(X):.4f}"),
            ("converged", "yes" if mixture.converged_ else "no"),
            ("iterations", str(mixture.n_iter_)),
        ]
        if detect:
            flagged = int((model.predict(X) == -1).sum())
            summary += [("outlier rule", density_rule(model.offset_)),
                        ("flagged", f"{flagged} of {n} training rows")]
        # Record the CSV header (after predicting on the unnamed array), so that
        # `emkit predict` can check the columns of its input.
        model.feature_names_in_ = np.asarray(columns, dtype=object)
        out.write(args.out, model_to_json(model))
    except ValueError as exc:
        raise CommandError(explain(exc, args.data)) from None
    if labels is not None:
        out.write(args.labels, csv_text(*keyed(table, ["label"], labels[:, None])))
    out.say(f"{type(model).__name__} fitted to {args.data} ({n} rows; "
            f"columns {', '.join(columns)})")
    out.say(*(f"  {key:<15} {value}" for key, value in summary))
    out.say(f"wrote model to {args.out}")
    if labels is not None:
        out.say(f"wrote {n} labels to {args.labels}")
    return out


# ---------------------------------------------------------------- select
def _parse_components(text: str) -> list[int]:
    """``1-9``, ``1,2,5`` or a mix such as ``1-3,6`` as a list of integers >= 1."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            if dash:
                first, last = int(low), int(high)
                if first > last or last - first > 10_000:
                    raise ValueError
                values.extend(range(first, last + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise CommandError(f"--components: expected numbers of components like 1-9 or "
                               f"1,2,5, got {text!r}") from None
    if min(values) < 1:
        raise CommandError(f"--components: numbers of components must be >= 1, got {text!r}")
    return values


def _parse_models(text: str) -> Any:
    """``all`` or a comma-separated list of model names (checked by the library)."""
    if text.strip() == "all":
        return "all"
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise CommandError(f"--models: expected 'all' or names like EII,VVV, got {text!r}")
    return names


def _explain_select(exc: BaseException, data: str) -> str:
    message = one_line(exc)
    for param, option in SELECT_OPTIONS.items():
        if message.startswith(f"{param} "):
            return f"{option}: {message}"
    if message.startswith(("covariance_type must be", "covariance_type=")):
        return f"--models: {message}"
    return explain(exc, data)


@contextlib.contextmanager
def detached_children():
    """Child processes started in the block get /dev/null as stdout and stderr.

    ``select --n-jobs`` starts worker processes (joblib's loky) that inherit
    file descriptors 1 and 2: they would hold a pipe open after emkit ends
    (``emkit select ... | tee`` would wait for them) and print their own
    tracebacks into emkit's output when stopped.  In the block, descriptors 1
    and 2 point at /dev/null and ``sys.stdout``/``sys.stderr`` write to
    private, non-inheritable copies of the real ones.
    """
    saved = []
    try:
        for fd, name in ((1, "stdout"), (2, "stderr")):
            stream = getattr(sys, name)
            try:
                if stream.fileno() != fd:
                    continue
                stream.flush()
            except (AttributeError, OSError, ValueError):  # replaced or closed stream
                continue
            private = os.dup(fd)  # not inherited by child processes
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            replacement = os.fdopen(private, "w", encoding=stream.encoding,
                                    errors=stream.errors)
            replacement.reconfigure(line_buffering=stream.line_buffering)
            saved.append((fd, name, stream, replacement, private))
            setattr(sys, name, replacement)
        yield
    finally:
        for fd, name, stream, replacement, private in reversed(saved):
            with contextlib.suppress(OSError, ValueError):
                replacement.flush()
            os.dup2(private, fd)
            with contextlib.suppress(OSError, ValueError):
                replacement.close()
            setattr(sys, name, stream)


def cmd_select(args: argparse.Namespace) -> Outcome:
    from .persist import model_to_json
    from .selection import _format_G, select_model

    out = Outcome()
    check_outputs([args.data], [args.plot, args.out])
    components = _parse_components(args.components)
    models = _parse_models(args.models)
    if args.plot is not None:
        from .plotting import _matplotlib

        _matplotlib()  # fail before the fits when matplotlib is missing
    table = read_data(args, args.data, training=True)
    X, columns = table.X, table.columns
    options = {k: v for k, v in {"init": args.init, "n_init": args.n_init,
                                 "random_state": args.random_state, "max_iter": args.max_iter,
                                 "tol": args.tol, "reg_covar": args.reg_covar,
                                 "n_jobs": args.n_jobs}.items() if v is not None}
    parallel = args.n_jobs not in (None, 1)
    try:
        with detached_children() if parallel else contextlib.nullcontext():
            result = select_model(X, components, models, args.criterion, top=args.top,
                                  **options)
        model = result.best_model_
        model.feature_names_in_ = np.asarray(columns, dtype=object)
        if args.plot is not None:
            from .plotting import bic_png

            out.write(args.plot, bic_png(result, args.convention, args.criterion))
        if args.out is not None:
            out.write(args.out, model_to_json(model))
    except ValueError as exc:
        raise CommandError(_explain_select(exc, args.data)) from None
    G, name = result.best_cell()
    out.say(f"Gaussian mixtures fitted to {args.data} ({result.n_samples} rows; columns "
            f"{', '.join(columns)}): G = {_format_G(result.n_components)}, "
            f"{len(result.models)} covariance models, {result.settings['init']} starts\n",
            result.to_string(args.convention),
            f"\nchosen model (best {args.criterion.upper()}): G={G}, covariance={name!r}")
    if args.plot is not None:
        out.say(f"wrote {args.criterion.upper()} plot to {args.plot}")
    if args.out is not None:
        out.say(f"wrote model to {args.out}")
    return out


# --------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> Outcome:
    from .persist import load_model

    out = Outcome()
    check_outputs([args.model, args.data], [args.out])
    model = load_model(args.model)
    if not hasattr(model, "predict"):
        raise CommandError(f"the {type(model).__name__} in {args.model} does not predict "
                           "labels")
    if args.proba and not hasattr(model, "predict_proba"):
        raise CommandError(f"--proba: the {type(model).__name__} in {args.model} has no "
                           "probabilities")
    table = read_data(args, args.data, training=False)
    _check_columns(model, table.columns, args.data, args.model)
    with warnings.catch_warnings():
        # The columns were checked above; the array just has no names attached.
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        try:
            labels = model.predict(table.X)
            proba = model.predict_proba(table.X) if hasattr(model, "predict_proba") else None
            check = (model.score_samples(table.X) if hasattr(model, "score_samples")
                     else model.transform(table.X) if hasattr(model, "transform") else labels)
        except ValueError as exc:
            raise CommandError(explain(exc, args.data)) from None
    check_finite(check, "log-density" if hasattr(model, "score_samples") else "distance",
                 table, args.data)
    if proba is not None:
        check_finite(proba, "probability", table, args.data)
    header = ["label"]
    rows: Any = labels[:, None]
    if args.proba:
        header += [f"p{k}" for k in range(proba.shape[1])]
        rows = [[int(label), *p] for label, p in zip(labels, proba.tolist(), strict=True)]
    text = csv_text(*keyed(table, header, rows))
    if args.out is None:
        out.stdout.append(text)
    else:
        out.write(args.out, text)
        out.say(f"wrote {len(labels)} predictions to {args.out}")
    return out


# ---------------------------------------------------------------- impute
def cmd_impute(args: argparse.Namespace) -> Outcome:
    from .models import GaussianMixtureImputer

    out = Outcome()
    check_outputs([args.data], [args.out])
    table = read_data(args, args.data, training=True)
    X, columns = table.X, table.columns
    missing = np.isnan(X)
    model = GaussianMixtureImputer(
        **_given(args, "n_components", "covariance_type", "n_init", "random_state"),
        sample_posterior=args.draw)
    try:
        filled = model.fit_transform(X)
    except ValueError as exc:
        raise CommandError(explain(exc, args.data)) from None
    check_finite(filled, "imputed value", table, args.data)
    out.write(args.out, csv_text(*keyed(table, columns, filled)))
    n = X.shape[0]
    how = ("draws from p(missing | observed)" if args.draw
           else "conditional means E[missing | observed]")
    out.say(f"GaussianMixtureImputer fitted to {args.data} ({n} rows; "
            f"columns {', '.join(columns)})")
    for key, value in [
        ("K", str(model.n_components)),
        ("covariance", model.covariance_type),
        ("missing values", f"{int(missing.sum())} in {int(missing.any(axis=1).sum())} rows"),
        ("imputed with", how),
    ]:
        out.say(f"  {key:<15} {value}")
    out.say(f"wrote {n} completed rows to {args.out}")
    return out


# ----------------------------------------------------------------- score
def cmd_score(args: argparse.Namespace) -> Outcome:
    from .models import GaussianMixture, MixtureOutlierDetector
    from .models.outlier import _check_contamination, _check_threshold
    from .persist import load_model

    out = Outcome()
    check_outputs([args.model, args.data], [args.out])
    try:
        _check_threshold(args.threshold)
        if args.contamination is not None:
            _check_contamination(args.contamination)
    except ValueError as exc:
        raise CommandError(explain(exc)) from None
    model = load_model(args.model)
    kind = type(model).__name__
    if not isinstance(model, (GaussianMixture, MixtureOutlierDetector)):
        raise CommandError(f"{args.model} holds a {kind}; score needs a GaussianMixture or a "
                           "MixtureOutlierDetector (emkit fit ... --contamination C)")
    if (isinstance(model, GaussianMixture) and args.threshold is None
            and args.contamination is None):
        raise CommandError(f"{args.model} holds a GaussianMixture: give --threshold EPS (flag "
                           "rows with p(x) < EPS) or --contamination C (flag the fraction C "
                           "of the rows with the lowest density)")
    table = read_data(args, args.data, training=False)
    _check_columns(model, table.columns, args.data, args.model)
    with warnings.catch_warnings():
        # The columns were checked above; the array just has no names attached.
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        try:
            log_density = model.score_samples(table.X)
        except ValueError as exc:
            raise CommandError(explain(exc, args.data)) from None
    check_finite(log_density, "log-density", table, args.data)
    if args.threshold is not None:
        offset = math.log(args.threshold)
    elif args.contamination is not None:
        offset = float(np.percentile(log_density, 100.0 * args.contamination))
    else:
        offset = model.offset_
    outlier = log_density < offset
    rows = [[float(v), int(o)] for v, o in zip(log_density, outlier, strict=True)]
    text = csv_text(*keyed(table, ["log_density", "outlier"], rows))
    message = (f"flagged {int(outlier.sum())} of {len(outlier)} rows of {args.data} as "
               f"outliers ({density_rule(offset)})")
    if args.out is None:
        out.stdout.append(text)
        out.stderr.append(message + "\n")
    else:
        out.write(args.out, text)
        out.say(message, f"wrote {len(outlier)} scores to {args.out}")
    return out
