"""What the ``emkit`` subcommands share: their outcome, errors, output checks and formats.

A command reads its inputs, calls the public API and returns an
:class:`Outcome`: the files to write and the text for stdout and stderr.
It writes nothing itself: :func:`emkit.cli.main` stages the files, prints
the text, and renames the files into place only when all of that
succeeded, so a failed command leaves no output behind.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._cli_parser import one_line  # one definition, shared with the parser
from .io import check_output_path

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
    "alpha": "--alpha",
    "dof": "--dof",
    "family": "--regression-family",
    "schedule": "--schedule",
    "batch_size": "--batch-size",
    "learning_decay": "--learning-decay",
    "verbose_interval": "--verbose-interval",
    "checkpoint_interval": "--checkpoint-interval",
    "checkpoint": "--checkpoint",
    "assignment": "--assignment",
    "annealing": "--annealing",
    "stochastic_iter": "--stochastic-iter",
    "sparse": "--sparse",
    "sticky": "--sticky",
    "transmat_mask": "--transmat-mask",
    "n_mix": "--n-mix",
    "weight_concentration": "--weight-concentration",
}
# Column-selection errors of emkit.io.select_columns start with these.
SELECTION_OPTIONS = {"columns": "--columns", "drop": "--drop", "id_column": "--id-column"}
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


def model_document(model) -> str:
    """The model file text of a fitted estimator (``--out``), or a one-line CommandError
    for an estimator the model files do not cover."""
    from .persist import model_to_json

    try:
        return model_to_json(model)
    except TypeError as exc:
        raise CommandError(f"--out: cannot save the {type(model).__name__}: "
                           f"{one_line(exc)}") from None


def explain(exc: BaseException, data: str | None = None) -> str:
    """A library message with the command-line option (and data file) it concerns."""
    message = one_line(exc)
    for param, option in OPTIONS.items():
        if message.startswith((f"{param} ", f"{param}=", f"{param}[")):
            return f"{option}: {message}"
    if data is not None and message.startswith("X "):
        return f"{data}{message[1:]}"
    return message


#: Library messages about one cell or row of X: "X has value 2.0 at row 3, column 1",
#: "X contains NaN at row 3, column 1", "column 2 has level 'x' at row 0" (0-based).
_CELL_MESSAGES = (
    re.compile(r"\bX (?P<what>has \w+ .+?|contains .+?) at row (?P<row>\d+), "
               r"column (?P<col>\d+)"),
    re.compile(r"\bcolumn (?P<col>\d+) (?P<what>has \w+ .+?) at row (?P<row>\d+)"),
)
_ROW = re.compile(r"\bat row (\d+)")


def shift_rows(message: str, start: int) -> str:
    """A library message about rows of a chunk, with rows counted from the data's start."""
    return _ROW.sub(lambda m: f"at row {int(m[1]) + start}", message, count=1)


def locate(exc: BaseException | str, data: str, columns: list[str] | None) -> str:
    """A library error about the data: a cell named by the file, the data row (1-based)
    and the column name; an option named (:func:`explain`); else the file in front."""
    message = one_line(exc)
    for pattern in _CELL_MESSAGES:
        found = pattern.search(message)
        if found:
            j = int(found["col"])
            column = (repr(columns[j]) if columns is not None and j < len(columns)
                      else str(j + 1))
            where = f"{data}, data row {int(found['row']) + 1}, column {column}"
            return (message[:found.start()] + f"{where}: {found['what']}"
                    + message[found.end():])
    message = explain(message, data)
    if data in message or message.startswith("--"):
        return message
    return f"{data}: {message}"


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


def keyed(ids: list[str] | None, id_column: str | None, header: list[str],
          rows: Any) -> tuple[list[str], Any]:
    """Prefix the id column, when there is one, to an output table."""
    if ids is None:
        return header, rows
    rows = rows.tolist() if isinstance(rows, np.ndarray) else rows
    return [id_column, *header], [[i, *row] for i, row in zip(ids, rows, strict=True)]


def check_finite(values: np.ndarray, what: str, ids: list[str] | None, data: str) -> None:
    """Refuse to write NaN or inf results (name the first row, and its id)."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        ident = "" if ids is None else f" (id {ids[row]!r})"
        raise CommandError(f"{data}, row {row + 1}{ident}: the model gives a non-finite {what} "
                           f"({int(bad.sum())} rows in all; values beyond the float64 range?)")


def check_columns(model, columns: list[str] | None, data: str, model_path: str) -> None:
    """The data's feature columns are the model's (names when both have them, else the count)."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None and columns is not None:
        names = [str(x) for x in names]
        if columns != names:
            how = "in a different order than" if sorted(columns) == sorted(names) else "but"
            hint = (f"; choose them with --columns {','.join(names)}"
                    if set(names) <= set(columns) and "," not in "".join(names) else "")
            raise CommandError(f"{data}: columns {columns} {how} the model {model_path} "
                               f"expects {names}{hint}")
    elif columns is not None and len(columns) != model.n_features_in_:
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
