"""``emkit fit --hmm``, and ``predict``/``score`` with a saved hidden Markov model.

The rows of the data file are in time order.  ``--lengths-column ID`` cuts
them into sequences: every run of equal values of column ID is one sequence
(its length goes into the estimators' ``lengths=``), and the rows of a
sequence must be consecutive (an id that appears again after another
sequence is an error naming it and its row).  Without it the whole file is
one sequence.  The estimator is :mod:`emkit.hmm`'s, chosen by ``--family``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import re
import sys
import warnings

import numpy as np

from ._cli_common import (
    NAMES_WARNING,
    CommandError,
    Outcome,
    check_columns,
    check_finite,
    check_outputs,
    locate,
    model_document,
    one_line,
)
from ._cli_data import Data, is_streamed, read_memory
from .io import csv_text, read_table, select_columns

#: --family -> the HMM estimator of emkit.hmm it fits.
HMM_FAMILIES = {
    "gaussian": "GaussianHMM",
    "categorical": "CategoricalHMM",
    "bernoulli": "BernoulliHMM",
    "poisson": "PoissonHMM",
    "student-t": "StudentTHMM",
    "gmm": "GMMHMM",
}
#: --transmat-mask values that name a structure (else the value is a CSV file).
MASK_NAMES = ("full", "left-right", "bakis")
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")
#: Largest number of states whose transition matrix the report prints.
MAX_PRINTED_STATES = 12


#: The library's ways of naming a sequence and its rows (0-based, in X).
_ROW_OF_SEQUENCE = re.compile(r" ?\(row \d+ of X is row (\d+) of sequence (\d+)\)")
_SEQUENCE_ROWS = re.compile(r"\bsequence (\d+) \(rows (\d+) to (\d+) of X\)")


def is_hmm(model) -> bool:
    """A hidden Markov model (the estimators of :mod:`emkit.hmm`)."""
    return hasattr(model, "transmat_")


@dataclasses.dataclass
class Sequences:
    """The rows of a data file cut into sequences."""

    data: Data
    lengths: np.ndarray  # rows of every sequence, in file order
    names: list[str]  # the id of every sequence ("1" without --lengths-column)
    row_ids: list[str] | None  # the sequence id of every row (None: no --lengths-column)
    column: str | None  # the --lengths-column as named in the header


def _runs(ids: list[str | None], path: str, column: str) -> tuple[np.ndarray, list[str]]:
    """Lengths and ids of the runs of equal ids; an id seen again later is an error."""
    for row, value in enumerate(ids):
        if value is None:
            raise CommandError(f"--lengths-column {column}: {path}, data row {row + 1}: no "
                               "sequence id (empty, NA or NaN); every row needs one")
    values = np.asarray(ids, dtype=object)
    starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    names = [str(v) for v in values[starts]]
    first: dict[str, int] = {}
    for s, name in enumerate(names):
        if name in first:
            ended = int(starts[first[name] + 1])
            raise CommandError(
                f"--lengths-column {column}: {path}, data row {int(starts[s]) + 1}: sequence "
                f"{name[:40]!r} appears again after other sequences (its rows ended at data "
                f"row {ended}); the rows of a sequence must be consecutive (sort the file by "
                f"{column}, keeping the time order within each sequence)")
        first[name] = s
    return np.diff(np.concatenate([starts, [len(ids)]])), names


def read_sequences(args: argparse.Namespace, path: str, *, training: bool,
                   text: bool) -> Sequences:
    """The data file's feature columns and its sequences (see the module docstring)."""
    if is_streamed(args, path):
        raise CommandError(f"{path}: hidden Markov models read their sequences from a plain "
                           ".csv file in memory (not from a file read in chunks)")
    column = getattr(args, "lengths_column", None)
    data = read_memory(args, path, training=training, text=text, exclude=column)
    n = data.X.shape[0]
    if column is None:
        return Sequences(data, np.array([n]), ["1"], None, None)
    header = data.header or []
    where = select_columns(header, [column])[0][0]  # checked by read_memory already
    ids = read_table(path, allow_missing=True, text=True,
                     select=lambda names: ([where], None)).X[:, 0].tolist()
    lengths, names = _runs(ids, path, header[where])
    return Sequences(data, lengths, names, ids, header[where])


def _error(exc: ValueError, seq: Sequences, path: str) -> CommandError:
    """A library error about the data, its sequences named by their ids and its rows
    counted in the data file."""
    def row_of(found: re.Match) -> str:
        if seq.column is None:
            return ""
        return f" (row {int(found[1]) + 1} of sequence {seq.names[int(found[2])][:40]!r})"

    def rows(found: re.Match) -> str:
        name = seq.names[int(found[1])][:40] if seq.column else found[1]
        return (f"sequence {name!r} (data rows {int(found[2]) + 1} to "
                f"{int(found[3]) + 1})")

    message = _ROW_OF_SEQUENCE.sub(row_of, one_line(exc))
    message = _SEQUENCE_ROWS.sub(rows, message)
    return CommandError(locate(message, path, seq.data.columns))


def _table(seq: Sequences, header: list[str], rows: list[list]) -> str:
    """Per-row output: the --id-column and the sequence id first, when there are."""
    data = seq.data
    front, values = [], []
    if data.ids is not None:
        front.append(data.id_column)
        values.append(data.ids)
    if seq.row_ids is not None:
        front.append(seq.column)
        values.append(seq.row_ids)
    keys = list(zip(*values, strict=True)) if values else [()] * len(rows)
    return csv_text([*front, *header], [[*key, *row] for key, row in
                                        zip(keys, rows, strict=True)])


def read_mask(value: str, n_states: int) -> str | np.ndarray:
    """The ``transmat_mask`` of ``--transmat-mask VALUE``: a structure's name as it is,
    else the (K, K) booleans of the CSV file VALUE (1/true/yes: allowed; 0/false/no: a
    structural zero; no header)."""
    if value in MASK_NAMES:
        return value
    option = f"--transmat-mask {value}"
    expected = (f"expected {', '.join(MASK_NAMES)} or a CSV file of {n_states} rows of "
                f"{n_states} values 1 (allowed) or 0 (forbidden)")
    # a K x K mask is small: read a bounded amount (``--transmat-mask /dev/zero`` must end)
    limit = 2**20 + 64 * n_states * n_states
    try:
        with open(value, encoding="utf-8-sig", newline="") as handle:
            text = handle.read(limit + 1)
        if len(text) > limit:
            raise CommandError(f"{option}: the file holds more than {limit} characters, "
                               f"far more than a mask ({expected})")
        rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    except FileNotFoundError:
        raise CommandError(f"{option}: no such file ({expected})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"{option}: cannot read the file ({one_line(exc)})") from None
    if len(rows) != n_states:
        raise CommandError(f"{option}: {len(rows)} rows for {n_states} states ({expected})")
    mask = np.zeros((n_states, n_states), dtype=bool)
    for i, row in enumerate(rows):
        if len(row) != n_states:
            raise CommandError(f"{option}: row {i + 1} has {len(row)} values for {n_states} "
                               f"states ({expected})")
        for j, cell in enumerate(row):
            word = cell.strip().lower()
            if word not in _TRUE + _FALSE:
                raise CommandError(f"{option}: row {i + 1}, value {j + 1} is {cell[:40]!r} "
                                   "(expected 1 for an allowed transition or 0 for a "
                                   "forbidden one)")
            mask[i, j] = word in _TRUE
    return mask


def _report(model, seq: Sequences, loglik: float, bic: float) -> list[str]:
    """The fit's report after its first line: numbers, then start and transition
    probabilities."""
    lines = [("states", str(model.n_components))]
    if hasattr(model, "n_mix"):
        lines.append(("per state", f"{model.n_mix} Gaussian{'s' if model.n_mix != 1 else ''}"))
    if hasattr(model, "covariance_type"):
        lines.append(("covariance", str(model.covariance_type)))
    dof = getattr(model, "degrees_of_freedom_", None)
    if dof is not None:
        lines.append(("dof", ", ".join(f"{v:.4g}" for v in np.atleast_1d(dof))))
    lines += [("log-likelihood", f"{loglik:.4f}"), ("BIC", f"{bic:.4f}"),
              ("converged", "yes" if model.converged_ else "no"),
              ("iterations", str(model.n_iter_))]
    text = [f"  {key:<15} {value}" for key, value in lines]
    K = model.n_components

    def row(values) -> str:
        return "  ".join(f"{v:.4f}" for v in values)

    text.append(f"  {'start':<15} {row(model.startprob_)}")
    if K > MAX_PRINTED_STATES:
        text.append(f"  {'transitions':<15} {K} x {K} matrix: see the model file (transmat_)")
    else:
        text += [f"  {'transitions' if i == 0 else '':<15} {row(model.transmat_[i])}  "
                 f"(from state {i})" for i in range(K)]
    return text


def fit_hmm(args: argparse.Namespace, cls: type, params: dict) -> Outcome:
    """``emkit fit --hmm``: fit ``cls(**params)`` to the sequences of the data file."""

    out = Outcome()
    mask = params.get("transmat_mask")
    mask_file = [mask] if mask is not None and mask not in MASK_NAMES else []
    check_outputs([args.data, *mask_file], [args.out, args.labels])
    if mask is not None:
        params = {**params, "transmat_mask": read_mask(mask, args.k)}
    seq = read_sequences(args, args.data, training=True,
                         text=cls.__name__ == "CategoricalHMM")
    data = seq.data
    model = cls(**params)
    verbose = (contextlib.redirect_stdout(sys.stderr) if params.get("verbose")
               else contextlib.nullcontext())
    try:
        with warnings.catch_warnings(), verbose:
            model.fit(data.X, seq.lengths)
            loglik = model.score(data.X, seq.lengths)
            bic = model.bic(data.X, seq.lengths)
            states = model.predict(data.X, seq.lengths) if args.labels else None
    except ValueError as exc:
        raise _error(exc, seq, args.data) from None
    if not np.isfinite(loglik):
        raise CommandError(f"{args.data}: the fitted model gives a non-finite log-likelihood "
                           f"({loglik})")
    if data.columns is not None:  # recorded so that predict and score check their input
        model.feature_names_in_ = np.asarray(data.columns, dtype=object)
    document = model_document(model)
    out.write(args.out, document)
    if states is not None:
        out.write(args.labels, _table(seq, ["state"], [[int(s)] for s in states]))
    n, count = data.X.shape[0], len(seq.lengths)
    where = "" if seq.column is None else f" by {seq.column!r}"
    out.say(f"{cls.__name__} fitted to {args.data} ({n} rows in {count} "
            f"sequence{'s' if count != 1 else ''}{where}; columns {', '.join(data.columns)})",
            *_report(model, seq, loglik, bic), f"wrote model to {args.out}")
    if states is not None:
        out.say(f"wrote {n} states to {args.labels}")
    return out


def _model_data(args: argparse.Namespace, model) -> Sequences:
    from ._cli_commands import reads_text

    for option in ("target",):
        if getattr(args, option, None) is not None:
            raise CommandError(f"--{option}: the {type(model).__name__} in {args.model} is a "
                               f"hidden Markov model; leave out --{option}")
    seq = read_sequences(args, args.data, training=False, text=reads_text(model))
    check_columns(model, seq.data.columns, args.data, args.model)
    return seq


def predict_hmm(args: argparse.Namespace, model) -> Outcome:
    """``emkit predict`` with a hidden Markov model: the decoded state of every row
    (the Viterbi path unless the model's ``algorithm`` is "map"), with --proba the
    state posteriors p(z_t = k | the whole sequence)."""
    out = Outcome()
    seq = _model_data(args, model)
    X = seq.data.X
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NAMES_WARNING)
            states = model.predict(X, seq.lengths)
            proba = model.predict_proba(X, seq.lengths) if args.proba else None
    except ValueError as exc:
        raise _error(exc, seq, args.data) from None
    header, rows = ["state"], [[int(s)] for s in states]
    if proba is not None:
        check_finite(proba, "probability", seq.data.ids, args.data)
        header += [f"p{k}" for k in range(proba.shape[1])]
        rows = [[*r, *p] for r, p in zip(rows, proba.tolist(), strict=True)]
    text = _table(seq, header, rows)
    if args.out is None:
        out.stdout.append(text)
    else:
        out.write(args.out, text)
        out.say(f"wrote {len(rows)} states to {args.out}")
    return out


def score_hmm(args: argparse.Namespace, model) -> Outcome:
    """``emkit score`` with a hidden Markov model: the log-likelihood of every sequence."""
    for option in ("threshold", "contamination"):
        if getattr(args, option, None) is not None:
            raise CommandError(f"--{option}: the {type(model).__name__} in {args.model} is "
                               "scored per sequence (log-likelihoods, no outlier rule); "
                               f"leave out --{option}")
    out = Outcome()
    seq = _model_data(args, model)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NAMES_WARNING)
            loglik = model.score_sequences(seq.data.X, seq.lengths)
    except ValueError as exc:
        raise _error(exc, seq, args.data) from None
    bad = np.flatnonzero(~np.isfinite(loglik))
    if bad.size:
        s = int(bad[0])
        raise CommandError(f"{args.data}: sequence {seq.names[s][:40]!r} has probability 0 "
                           f"under the model {args.model} (log-likelihood {loglik[s]}; "
                           f"{bad.size} sequences in all)")
    rows = [[name, int(length), float(v)] for name, length, v in
            zip(seq.names, seq.lengths, loglik, strict=True)]
    text = csv_text([seq.column or "sequence", "rows", "log_likelihood"], rows)
    total = float(loglik.sum())
    message = (f"total log-likelihood of the {len(rows)} sequence"
               f"{'s' if len(rows) != 1 else ''} ({int(seq.lengths.sum())} rows) of "
               f"{args.data}: {total:.4f}")
    if args.out is None:
        out.stdout.append(text)
        out.stderr.append(message + "\n")
    else:
        out.write(args.out, text)
        out.say(message, f"wrote {len(rows)} sequence scores to {args.out}")
    return out
