"""The ``emkit`` command: ``demo``, ``fit``, ``select``, ``predict``, ``impute``, ``score``.

The command only does input and output; the modelling is the public API
(:class:`~emkit.GaussianMixture`, :mod:`emkit.persist`, :mod:`emkit.plotting`).
Errors in the input (files, cells, parameters) print one line
``emkit: error: ...`` to stderr and exit with status 2; output files are
written atomically and all together, so a failed run leaves none behind.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .datasets import FAITHFUL_COLUMNS, load_faithful
from .io import OutputBatch, csv_text, read_csv

# The estimators (scikit-learn, SciPy) are imported inside the commands, so
# that `emkit --help` and argument errors answer at once.
if TYPE_CHECKING:
    from .models import GaussianMixture

__all__ = ["main"]

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
# select names some library parameters differently
SELECT_OPTIONS = {"n_components": "--components", "covariance_type": "--models",
                  "covariance_types": "--models"}
COVARIANCE_HELP = ("an mclust model (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, "
                   "VEV, EVV, VVV; E or V for one column) or full, tied, diag, spherical "
                   "(default: full)")
NAMES_WARNING = "X does not have valid feature names"


class CommandError(ValueError):
    """An input problem found by the command itself (reported like library errors)."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"emkit: warning: {_one_line(message)}", file=sys.stderr)


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


def _explain(exc: BaseException, data: str | None = None) -> str:
    """A library message with the command-line option (and data file) it concerns."""
    message = _one_line(exc)
    for param, option in OPTIONS.items():
        if message.startswith(f"{param} "):
            return f"{option}: {message}"
    if data is not None and message.startswith("X "):
        return f"{data}{message[1:]}"
    return message


def _check_outputs(inputs: Sequence[str], outputs: Sequence[str | None]) -> list[str]:
    """Refuse outputs that would overwrite an input or each other."""
    given = [o for o in outputs if o is not None]
    real = [os.path.realpath(o) for o in given]
    for path, resolved in zip(given, real, strict=True):
        for source in inputs:
            if resolved == os.path.realpath(source):
                raise CommandError(f"output {path} is the input file {source}; "
                                   "choose another name (inputs are never modified)")
    if len(set(real)) != len(real):
        raise CommandError(f"the same output file is given twice: {given}")
    return given


# ------------------------------------------------------------------ demo
def _fit_quietly(model: GaussianMixture, X: np.ndarray) -> GaussianMixture:
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from .models import GaussianMixture
    from .persist import model_to_json

    X = load_faithful()
    names = list(FAITHFUL_COLUMNS)
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
                row["error"] = _one_line(exc)[:60]
            else:
                row.update(loglik=model.score(X) * n, bic=model.bic(X), aic=model.aic(X),
                           converged=model.converged_)
            results.append(row)
    fitted = [r for r in results if not r["error"]]
    best = min(fitted, key=lambda r: r["bic"])
    model = best["model"]
    print(f"Old Faithful geyser: {n} eruptions, columns {', '.join(names)}")
    print(f"Gaussian mixtures for K = {DEMO_KS.start}..{DEMO_KS.stop - 1} and every covariance "
          f"type (k-means++ starts, n_init={DEMO_N_INIT}, tol={DEMO_TOL:g}, "
          f"random_state={DEMO_SEED})\n")
    print(_demo_table(results, best))
    print(f"\nchosen model (lowest BIC): K={best['K']}, covariance={best['cov']!r}, "
          f"BIC={best['bic']:.2f}")

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    model_path, png_path = out / "faithful_model.json", out / "faithful_clusters.png"
    with OutputBatch() as batch:
        try:
            from .plotting import mixture_png

            title = (f"Old Faithful: lowest-BIC Gaussian mixture "
                     f"(K={best['K']}, covariance={best['cov']!r})")
            png = mixture_png(model, X, ["eruptions (minutes)", "waiting (minutes)"],
                              title=title)
        except ImportError as exc:
            print(f"plot skipped: {exc}")
            png_path = None
        else:
            batch.add(png_path, png)
        # Record the column names (after predicting on the unnamed array above).
        model.feature_names_in_ = np.asarray(names, dtype=object)
        batch.add(model_path, model_to_json(model))
    print(f"wrote {model_path}")
    if png_path is not None:
        print(f"wrote {png_path}")
    return 0


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


def _density_rule(offset: float) -> str:
    """``log p(x) < offset`` with the density threshold itself."""
    return f"log p(x) < {offset:.4f}, i.e. p(x) < {math.exp(offset):.4g}"


def _cmd_fit(args: argparse.Namespace) -> int:
    from .models import GaussianMixture, MixtureOutlierDetector
    from .models.outlier import _check_contamination, _check_threshold
    from .persist import model_to_json

    _check_outputs([args.data], [args.out, args.labels])
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
            raise CommandError(_explain(exc)) from None
    X, columns = _read_training_csv(args.data)
    if detect:
        model: Any = MixtureOutlierDetector(
            **_given(args, *mixture_params, "contamination", "threshold"))
    else:
        model = GaussianMixture(**_given(args, *mixture_params))
    try:
        model.fit(X)
    except ValueError as exc:
        raise CommandError(_explain(exc, args.data)) from None
    mixture = model.mixture_ if detect else model
    n = X.shape[0]
    labels = mixture.predict(X) if args.labels else None
    summary = [
        ("K", str(mixture.n_components)),
        ("covariance", mixture.covariance_type),
        ("log-likelihood", f"{mixture.score(X) * n:.4f}"),
        ("BIC", f"{mixture.bic(X):.4f}"),
        ("converged", "yes" if mixture.converged_ else "no"),
        ("iterations", str(mixture.n_iter_)),
    ]
    if detect:
        flagged = int((model.predict(X) == -1).sum())
        summary += [("outlier rule", _density_rule(model.offset_)),
                    ("flagged", f"{flagged} of {n} training rows")]
    # Record the CSV header (after predicting on the unnamed array), so that
    # `emkit predict` can check the columns of its input.
    model.feature_names_in_ = np.asarray(columns, dtype=object)
    with OutputBatch() as batch:
        batch.add(args.out, model_to_json(model))
        if labels is not None:
            batch.add(args.labels, csv_text(["label"], labels[:, None]))
    print(f"{type(model).__name__} fitted to {args.data} ({n} rows; "
          f"columns {', '.join(columns)})")
    for key, value in summary:
        print(f"  {key:<15} {value}")
    print(f"wrote model to {args.out}")
    if labels is not None:
        print(f"wrote {n} labels to {args.labels}")
    return 0


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
                if first > last:
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
    message = _one_line(exc)
    for param, option in SELECT_OPTIONS.items():
        if message.startswith(f"{param} "):
            return f"{option}: {message}"
    if message.startswith(("covariance_type must be", "covariance_type=")):
        return f"--models: {message}"
    return _explain(exc, data)


def _cmd_select(args: argparse.Namespace) -> int:
    from .persist import model_to_json
    from .selection import _format_G, select_model

    _check_outputs([args.data], [args.plot, args.out])
    components = _parse_components(args.components)
    models = _parse_models(args.models)
    if args.plot is not None:
        from .plotting import _matplotlib

        _matplotlib()  # fail before the fits when matplotlib is missing
    X, columns = _read_training_csv(args.data)
    options = {k: v for k, v in {"init": args.init, "n_init": args.n_init,
                                 "random_state": args.random_state, "max_iter": args.max_iter,
                                 "tol": args.tol, "reg_covar": args.reg_covar,
                                 "n_jobs": args.n_jobs}.items() if v is not None}
    try:
        result = select_model(X, components, models, args.criterion, top=args.top, **options)
    except ValueError as exc:
        raise CommandError(_explain_select(exc, args.data)) from None
    model = result.best_model_
    model.feature_names_in_ = np.asarray(columns, dtype=object)
    with OutputBatch() as batch:
        if args.plot is not None:
            from .plotting import bic_png

            batch.add(args.plot, bic_png(result, args.convention, args.criterion))
        if args.out is not None:
            batch.add(args.out, model_to_json(model))
    G, name = result.best_cell()
    print(f"Gaussian mixtures fitted to {args.data} ({result.n_samples} rows; columns "
          f"{', '.join(columns)}): G = {_format_G(result.n_components)}, "
          f"{len(result.models)} covariance models, {result.settings['init']} starts\n")
    print(result.to_string(args.convention))
    print(f"\nchosen model (best {args.criterion.upper()}): G={G}, covariance={name!r}")
    if args.plot is not None:
        print(f"wrote {args.criterion.upper()} plot to {args.plot}")
    if args.out is not None:
        print(f"wrote model to {args.out}")
    return 0



# --------------------------------------------------------------- predict
def _check_columns(model, columns: list[str], data: str, model_path: str) -> None:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(x) for x in names]
        if columns != names:
            how = "in a different order than" if sorted(columns) == sorted(names) else "but"
            raise CommandError(f"{data}: columns {columns} {how} the model {model_path} "
                               f"expects {names}")
    elif len(columns) != model.n_features_in_:
        raise CommandError(f"{data} has {len(columns)} columns but the model {model_path} "
                           f"expects {model.n_features_in_}")


def _cmd_predict(args: argparse.Namespace) -> int:
    from .persist import load_model

    _check_outputs([args.model, args.data], [args.out])
    model = load_model(args.model)
    if not hasattr(model, "predict"):
        raise CommandError(f"the {type(model).__name__} in {args.model} does not predict "
                           "labels")
    X, columns = read_csv(args.data, allow_missing=True)
    _check_columns(model, columns, args.data, args.model)
    if args.proba and not hasattr(model, "predict_proba"):
        raise CommandError(f"--proba: the {type(model).__name__} in {args.model} has no "
                           "probabilities")
    with warnings.catch_warnings():
        # The columns were checked above; the array just has no names attached.
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        try:
            labels = model.predict(X)
            proba = model.predict_proba(X) if args.proba else None
        except ValueError as exc:
            raise CommandError(_explain(exc, args.data)) from None
    header = ["label"]
    rows: Any = labels[:, None]
    if proba is not None:
        header += [f"p{k}" for k in range(proba.shape[1])]
        rows = [[int(label), *p] for label, p in zip(labels, proba.tolist(), strict=True)]
    text = csv_text(header, rows)
    if args.out is None:
        sys.stdout.write(text)
    else:
        with OutputBatch() as batch:
            batch.add(args.out, text)
        print(f"wrote {len(labels)} predictions to {args.out}")
    return 0


def _read_training_csv(path: str) -> tuple[np.ndarray, list[str]]:
    """A CSV to fit on: missing cells allowed, but every column needs an observed value."""
    X, columns = read_csv(path, allow_missing=True)
    for name, column in zip(columns, np.isnan(X).T, strict=True):
        if column.all():
            raise CommandError(f"{path}: column {name!r} has no observed value (every "
                               "cell is missing); drop the column")
    return X, columns


# ---------------------------------------------------------------- impute
def _cmd_impute(args: argparse.Namespace) -> int:
    from .models import GaussianMixtureImputer

    _check_outputs([args.data], [args.out])
    X, columns = _read_training_csv(args.data)
    missing = np.isnan(X)
    model = GaussianMixtureImputer(
        **_given(args, "n_components", "covariance_type", "n_init", "random_state"),
        sample_posterior=args.draw)
    try:
        filled = model.fit_transform(X)
    except ValueError as exc:
        raise CommandError(_explain(exc, args.data)) from None
    with OutputBatch() as batch:
        batch.add(args.out, csv_text(columns, filled))
    n = X.shape[0]
    how = ("draws from p(missing | observed)" if args.draw
           else "conditional means E[missing | observed]")
    print(f"GaussianMixtureImputer fitted to {args.data} ({n} rows; "
          f"columns {', '.join(columns)})")
    for key, value in [
        ("K", str(model.n_components)),
        ("covariance", model.covariance_type),
        ("missing values", f"{int(missing.sum())} in {int(missing.any(axis=1).sum())} rows"),
        ("imputed with", how),
    ]:
        print(f"  {key:<15} {value}")
    print(f"wrote {n} completed rows to {args.out}")
    return 0


# ----------------------------------------------------------------- score
def _cmd_score(args: argparse.Namespace) -> int:
    from .models import GaussianMixture, MixtureOutlierDetector
    from .models.outlier import _check_contamination, _check_threshold
    from .persist import load_model

    _check_outputs([args.model, args.data], [args.out])
    try:
        _check_threshold(args.threshold)
        if args.contamination is not None:
            _check_contamination(args.contamination)
    except ValueError as exc:
        raise CommandError(_explain(exc)) from None
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
    X, columns = read_csv(args.data, allow_missing=True)
    _check_columns(model, columns, args.data, args.model)
    with warnings.catch_warnings():
        # The columns were checked above; the array just has no names attached.
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        try:
            log_density = model.score_samples(X)
        except ValueError as exc:
            raise CommandError(_explain(exc, args.data)) from None
    if args.threshold is not None:
        offset = math.log(args.threshold)
    elif args.contamination is not None:
        offset = float(np.percentile(log_density, 100.0 * args.contamination))
    else:
        offset = model.offset_
    outlier = log_density < offset
    text = csv_text(["log_density", "outlier"],
                    [[float(v), int(o)] for v, o in zip(log_density, outlier, strict=True)])
    message = (f"flagged {int(outlier.sum())} of {len(outlier)} rows of {args.data} as "
               f"outliers ({_density_rule(offset)})")
    if args.out is None:
        sys.stdout.write(text)
        print(message, file=sys.stderr)
    else:
        with OutputBatch() as batch:
            batch.add(args.out, text)
        print(message)
        print(f"wrote {len(outlier)} scores to {args.out}")
    return 0


# ------------------------------------------------------------------ main
def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
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
    demo.set_defaults(handler=_cmd_demo)

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
    fit.add_argument("--random-state", type=int, metavar="S", help="random seed")
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
    fit.set_defaults(handler=_cmd_fit)

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
    select.add_argument("--random-state", type=int, metavar="S", help="random seed")
    select.add_argument("--max-iter", type=int, metavar="M",
                        help="EM iterations per model (default: 1000)")
    select.add_argument("--tol", type=float, metavar="T", help="convergence tolerance on the "
                        "mean log-likelihood per row (default: 1e-6)")
    select.add_argument("--reg-covar", type=float, metavar="R",
                        help="added to covariance diagonals (default: 0, as mclust)")
    select.add_argument("--n-jobs", type=int, metavar="J",
                        help="worker processes over the models (default: 1; -1: all CPUs)")
    select.set_defaults(handler=_cmd_select)

    predict = sub.add_parser("predict", help="label the rows of a CSV file with a saved model",
                             description="Print (or write) the most probable component of "
                             "every row, as CSV with a 'label' column.")
    predict.add_argument("model", metavar="MODEL.json")
    predict.add_argument("data", metavar="DATA.csv")
    predict.add_argument("--out", metavar="FILE.csv", help="write here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="add the responsibilities as columns p0..pK-1")
    predict.set_defaults(handler=_cmd_predict)

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
    impute.add_argument("--random-state", type=int, metavar="S",
                        help="random seed (of the fit and of the --draw draws)")
    impute.add_argument("--draw", action="store_true",
                        help="draw the missing values from their conditional distribution "
                        "(multiple imputation: run again with other --random-state values)")
    impute.set_defaults(handler=_cmd_impute)

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
    score.set_defaults(handler=_cmd_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``emkit`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on an input error (after one ``emkit: error:`` line
        on stderr).  Usage errors exit with status 2 through argparse.
    """
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except BrokenPipeError:  # e.g. `emkit demo | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (ValueError, OSError, ImportError) as exc:
            print(f"emkit: error: {_explain(exc)}", file=sys.stderr)
            return 2
