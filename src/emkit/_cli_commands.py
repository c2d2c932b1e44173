"""The ``emkit`` subcommands ``demo``, ``predict``, ``impute`` and ``score``.

``fit`` is in :mod:`emkit._cli_fit`, ``select`` in :mod:`emkit._cli_select` (both
re-exported here), what the commands share in
:mod:`emkit._cli_common` and the data readers in :mod:`emkit._cli_data`.
Each command returns an :class:`~emkit._cli_common.Outcome` and writes
nothing itself (see :mod:`emkit._cli_common`).
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._cli_common import (
    NAMES_WARNING,
    CommandError,
    Outcome,
    check_columns,
    check_finite,
    check_outputs,
    density_rule,
    density_text,
    explain,
    keyed,
    locate,
    one_line,
)
from ._cli_data import Data, load, per_row, read_memory, require_csv
from ._cli_fit import cmd_fit
from ._cli_hmm import is_hmm, predict_hmm, score_hmm
from ._cli_mixed import is_mixed, model_spec, numeric_groups
from ._cli_probit import is_probit, predict_probit, score_probit
from ._cli_select import cmd_select
from .io import csv_text

__all__ = ["Outcome", "cmd_demo", "cmd_fit", "cmd_impute", "cmd_predict", "cmd_score",
           "cmd_select", "density_text", "explain", "one_line"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DEMO_KS = range(1, 7)
DEMO_N_INIT = 10
DEMO_TOL = 1e-6
DEMO_SEED = 0


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


# ------------------------------------------------------------------ options
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


# --------------------------------------------------------------- predict
def reads_text(model) -> bool:
    """Whether the model takes text (categorical) columns."""
    try:
        return bool(model.__sklearn_tags__().input_tags.string)
    except AttributeError:
        return False


def is_regression(model) -> bool:
    """A mixture of regressions (p(y | x)): its data are features and a --target column."""
    return hasattr(model, "predict_regime")


def is_conditional(model) -> bool:
    """A model of a response given features (--target): a mixture of regressions or a
    probit regression."""
    return is_regression(model) or is_probit(model)


def load_for(args: argparse.Namespace, model, *, needs_target: bool = False) -> Data:
    """The data file for a saved model: text for a categorical model, the --target column
    for a mixture of regressions; columns checked against the model's."""
    target = getattr(args, "target", None)
    if target is not None and not is_conditional(model):
        raise CommandError(f"--target: the {type(model).__name__} in {args.model} is not a "
                           "mixture of regressions; leave out --target")
    if needs_target and target is None:
        raise CommandError(f"--target COL: the {type(model).__name__} in {args.model} models "
                           "a response given the features: name the response column")
    if getattr(args, "lengths_column", None) is not None:
        raise CommandError(f"--lengths-column: the {type(model).__name__} in {args.model} is "
                           "not a hidden Markov model; leave out --lengths-column")
    data = load(args, args.data, training=False, text=reads_text(model), target=target)
    try:
        check_columns(model, data.columns, args.data, args.model)
        if is_mixed(model):  # the numeric groups' cells as numbers
            data.X = numeric_groups(data, model_spec(model))
        if data.columns is None and data.source.n_features != model.n_features_in_:
            raise CommandError(f"{args.data} has {data.source.n_features} columns but the "
                               f"model {args.model} expects {model.n_features_in_}")
    except BaseException:
        data.close()
        raise
    return data


def _in_rows(data: Data, function) -> np.ndarray:
    """``function`` of the rows (of every chunk, for data read in chunks)."""
    if data.streamed:
        return per_row(data.source, function)
    return function(data.X)


def _predictions(model, data: Data, proba: bool) -> tuple[list[str], Any, int]:
    """(header, rows, number of rows) of predict's output."""
    if is_probit(model):
        return predict_probit(model, data, proba, _in_rows)
    if is_regression(model):
        prediction = _in_rows(data, model.predict)
        check_finite(prediction, "prediction", data.ids, data.path)
        if data.y is None:
            return ["prediction"], prediction[:, None], prediction.shape[0]
        labels = model.predict_regime(data.X, data.y)
        header, rows = ["label", "prediction"], [[int(a), float(b)] for a, b in
                                                zip(labels, prediction, strict=True)]
        if proba:
            p = model.predict_proba(data.X, data.y)
            check_finite(p, "probability", data.ids, data.path)
            header += [f"p{k}" for k in range(p.shape[1])]
            rows = [[*row, *q] for row, q in zip(rows, p.tolist(), strict=True)]
        return header, rows, len(rows)
    labels = _in_rows(data, model.predict)
    scores = getattr(model, "score_samples", None) or getattr(model, "transform", None)
    if scores is not None:
        check_finite(_in_rows(data, scores),
                     "log-density" if hasattr(model, "score_samples") else "distance",
                     data.ids, data.path)
    if not proba:
        return ["label"], labels[:, None], labels.shape[0]
    p = _in_rows(data, model.predict_proba)
    check_finite(p, "probability", data.ids, data.path)
    rows = [[int(label), *q] for label, q in zip(labels, p.tolist(), strict=True)]
    return ["label", *(f"p{k}" for k in range(p.shape[1]))], rows, len(rows)


def cmd_predict(args: argparse.Namespace) -> Outcome:
    from .persist import load_model

    out = Outcome()
    check_outputs([args.model, args.data], [args.out])
    model = load_model(args.model)
    if is_hmm(model):
        return predict_hmm(args, model)
    if not hasattr(model, "predict"):
        raise CommandError(f"the {type(model).__name__} in {args.model} does not predict "
                           "labels")
    if args.proba and not hasattr(model, "predict_proba"):
        raise CommandError(f"--proba: the {type(model).__name__} in {args.model} has no "
                           "probabilities")
    if args.proba and is_regression(model) and args.target is None:
        raise CommandError(f"--proba: the regime probabilities of the {type(model).__name__} "
                           f"in {args.model} need the response: give --target COL")
    data = load_for(args, model)
    try:
        with warnings.catch_warnings():
            # The columns were checked above; the array just has no names attached.
            warnings.filterwarnings("ignore", message=NAMES_WARNING)
            try:
                header, rows, n = _predictions(model, data, args.proba)
            except ValueError as exc:
                raise CommandError(locate(exc, args.data, data.columns)) from None
    finally:
        data.close()
    text = csv_text(*keyed(data.ids, data.id_column, header, rows))
    if args.out is None:
        out.stdout.append(text)
    else:
        out.write(args.out, text)
        out.say(f"wrote {n} predictions to {args.out}")
    return out


# ---------------------------------------------------------------- impute
def cmd_impute(args: argparse.Namespace) -> Outcome:
    from .models import GaussianMixtureImputer

    out = Outcome()
    check_outputs([args.data], [args.out])
    require_csv(args.data, "impute")
    table = read_memory(args, args.data, training=True)
    X, columns = table.X, table.columns
    missing = np.isnan(X)
    model = GaussianMixtureImputer(
        **_given(args, "n_components", "covariance_type", "n_init", "random_state"),
        sample_posterior=args.draw)
    try:
        filled = model.fit_transform(X)
    except ValueError as exc:
        raise CommandError(explain(exc, args.data)) from None
    check_finite(filled, "imputed value", table.ids, args.data)
    out.write(args.out, csv_text(*keyed(table.ids, table.id_column, columns, filled)))
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
    from .models import MixtureOutlierDetector
    from .models._mixture import BaseMixture
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
    if is_hmm(model):
        return score_hmm(args, model)
    if is_probit(model):
        for option in ("threshold", "contamination"):
            if getattr(args, option) is not None:
                raise CommandError(f"--{option}: the {kind} in {args.model} is scored by the "
                                   f"log-likelihood of every row (no outlier rule); leave "
                                   f"out --{option}")
        data = load_for(args, model, needs_target=True)
        try:
            return score_probit(args, model, data)
        finally:
            data.close()
    if not isinstance(model, (BaseMixture, MixtureOutlierDetector)):
        raise CommandError(f"{args.model} holds a {kind}; score needs a mixture (emkit fit) or "
                           "a MixtureOutlierDetector (emkit fit ... --contamination C)")
    if (not isinstance(model, MixtureOutlierDetector) and args.threshold is None
            and args.contamination is None):
        raise CommandError(f"{args.model} holds a {kind}: give --threshold EPS (flag "
                           "rows with p(x) < EPS) or --contamination C (flag the fraction C "
                           "of the rows with the lowest density)")
    data = load_for(args, model, needs_target=is_regression(model))
    try:
        with warnings.catch_warnings():
            # The columns were checked above; the array just has no names attached.
            warnings.filterwarnings("ignore", message=NAMES_WARNING)
            try:
                log_density = (model.score_samples(data.X, data.y) if data.y is not None
                               else _in_rows(data, model.score_samples))
            except ValueError as exc:
                raise CommandError(locate(exc, args.data, data.columns)) from None
    finally:
        data.close()
    check_finite(log_density, "log-density", data.ids, args.data)
    if args.threshold is not None:
        offset = math.log(args.threshold)
    elif args.contamination is not None:
        offset = float(np.percentile(log_density, 100.0 * args.contamination))
    else:
        offset = model.offset_
    outlier = log_density < offset
    rows = [[float(v), int(o)] for v, o in zip(log_density, outlier, strict=True)]
    text = csv_text(*keyed(data.ids, data.id_column, ["log_density", "outlier"], rows))
    message = (f"flagged {int(outlier.sum())} of {len(outlier)} rows of {args.data} as "
               f"outliers ({density_rule(offset)})")
    if args.out is None:
        out.stdout.append(text)
        out.stderr.append(message + "\n")
    else:
        out.write(args.out, text)
        out.say(message, f"wrote {len(outlier)} scores to {args.out}")
    return out
