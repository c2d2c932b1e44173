"""``emkit fit --probit``, and ``predict``/``score`` with a saved probit regression.

:class:`emkit.ProbitRegression` is a classifier, not a mixture: ``--target COL``
is its two-class response (numbers, as for ``--target`` of a mixture of
regressions), the other columns its inputs.  The report lists the fitted
coefficients (the estimator gives no standard errors, so none are printed),
the log-likelihood and the iterations.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Callable

import numpy as np

from ._cli_common import (
    NAMES_WARNING,
    CommandError,
    Outcome,
    check_finite,
    check_outputs,
    keyed,
    locate,
    model_document,
    one_line,
)
from ._cli_data import Data, load
from .io import csv_text


def is_probit(model) -> bool:
    return type(model).__name__ == "ProbitRegression"


def class_text(value) -> int | float | str:
    """A class label for output: a whole number without ".0" (the response is read as
    numbers)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def _target_error(exc: ValueError, data: Data, path: str) -> CommandError:
    message = one_line(exc)
    if message.startswith("y "):
        message = f"{path}, target column {data.target!r}{message[1:]}"
    elif message.startswith(("Unknown label type", "Only binary classification")):
        message = f"{path}, target column {data.target!r}: {message}"
    return CommandError(locate(message, path, data.columns))


def fit_probit(args: argparse.Namespace, cls: type, params: dict) -> Outcome:
    """``emkit fit --probit --target COL``: fit ``cls(**params)`` of COL on the other
    columns."""

    out = Outcome()
    check_outputs([args.data], [args.out, args.labels])
    data = load(args, args.data, training=True, target=args.target)
    model = cls(**params)
    verbose = (contextlib.redirect_stdout(sys.stderr) if params.get("verbose")
               else contextlib.nullcontext())
    try:
        with warnings.catch_warnings(), verbose:
            model.fit(data.X, data.y)
            loglik = model.log_likelihood(data.X, data.y)
            labels = model.predict(data.X) if args.labels else None
    except ValueError as exc:
        raise _target_error(exc, data, args.data) from None
    if not np.isfinite(loglik):
        raise CommandError(f"{args.data}: the fitted model gives a non-finite log-likelihood "
                           f"({loglik})")
    model.feature_names_in_ = np.asarray(data.columns, dtype=object)
    document = model_document(model)
    out.write(args.out, document)
    if labels is not None:
        out.write(args.labels, csv_text(*keyed(data.ids, data.id_column, ["prediction"],
                                               [[class_text(v)] for v in labels])))
    n = data.X.shape[0]
    negative, positive = (class_text(c) for c in model.classes_)
    names = (["(intercept)"] if model.fit_intercept else []) + list(data.columns)
    values = ([model.intercept_[0]] if model.fit_intercept else []) + list(model.coef_[0])
    width = max(15, *(len(name) for name in names))
    out.say(f"ProbitRegression fitted to {args.data} ({n} rows; target {data.target}; "
            f"columns {', '.join(data.columns)})",
            f"  {'classes':<15} {negative}, {positive}: P({data.target} = {positive} | x) = "
            "Phi(x'beta)",
            "  coefficients",
            *(f"    {name:<{width - 2}} {value:.6g}" for name, value in zip(names, values,
                                                                           strict=True)),
            f"  {'log-likelihood':<15} {loglik:.4f}",
            f"  {'converged':<15} {'yes' if model.converged_ else 'no'}",
            f"  {'iterations':<15} {model.n_iter_}")
    out.say(f"wrote model to {args.out}")
    if labels is not None:
        out.say(f"wrote {n} predictions to {args.labels}")
    return out


def predict_probit(model, data: Data, proba: bool, in_rows: Callable
                   ) -> tuple[list[str], list[list], int]:
    """(header, rows, number of rows) of predict's output: the predicted class, and
    with --proba the probability of each class (``in_rows(data, function)`` applies a
    function to the rows, also of a file read in chunks)."""
    labels = in_rows(data, model.predict)
    rows = [[class_text(v)] for v in labels]
    header = ["prediction"]
    if proba:
        p = in_rows(data, model.predict_proba)
        check_finite(p, "probability", data.ids, data.path)
        header += [f"p_{class_text(c)}" for c in model.classes_]
        rows = [[*row, *q] for row, q in zip(rows, p.tolist(), strict=True)]
    return header, rows, len(rows)


def score_probit(args: argparse.Namespace, model, data: Data) -> Outcome:
    """``emkit score`` with a probit regression: log p(y | x) of every row."""
    out = Outcome()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NAMES_WARNING)
            log_p = model.predict_log_proba(data.X)
    except ValueError as exc:
        raise CommandError(locate(exc, args.data, data.columns)) from None
    known = np.isin(data.y, model.classes_)
    if not known.all():
        row = int(np.argmin(known))
        classes = ", ".join(str(class_text(c)) for c in model.classes_)
        raise CommandError(f"--target: {args.data}, data row {row + 1}: the target "
                           f"{data.target!r} is {class_text(data.y[row])!r}, not a class of "
                           f"the model {args.model} ({classes})")
    log_lik = np.where(data.y == model.classes_[1], log_p[:, 1], log_p[:, 0])
    check_finite(log_lik, "log-likelihood", data.ids, args.data)
    text = csv_text(*keyed(data.ids, data.id_column, ["log_likelihood"], log_lik[:, None]))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NAMES_WARNING)
        accuracy = model.score(data.X, data.y)
    message = (f"log-likelihood of the {len(log_lik)} rows of {args.data}: "
               f"{float(log_lik.sum()):.4f} (accuracy {accuracy:.4f})")
    if args.out is None:
        out.stdout.append(text)
        out.stderr.append(message + "\n")
    else:
        out.write(args.out, text)
        out.say(message, f"wrote {len(log_lik)} scores to {args.out}")
    return out
