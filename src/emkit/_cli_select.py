"""``emkit select``: choose the number of components (and a covariance model) by a criterion.

The default is mclust's Gaussian grid (:func:`emkit.select_model`); ``--family``
selects over another family's estimator (``select_model(estimator=...)``), the
options set on it one-to-one.  The command adds no modelling of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from typing import Any

import numpy as np

from ._cli_common import (
    CommandError,
    Outcome,
    check_outputs,
    explain,
    one_line,
)
from ._cli_data import read_memory, require_csv

# select names some library parameters differently
SELECT_OPTIONS = {"n_components": "--components", "covariance_type": "--models",
                  "covariance_types": "--models"}


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
    failed = "none of the models could be estimated: "
    if message.startswith(failed) and ";" not in message:
        # one reason for every cell: a --family estimator's parameter, named by its option
        reason = re.sub(r"^\w+Error: ", "", message[len(failed):])
        if explain(reason).startswith("--"):
            return explain(reason)
    return explain(exc, data)


#: select --family (other than gaussian) -> the estimator select_model clones.
SELECT_FAMILIES = {"bernoulli": "BernoulliMixture", "categorical": "CategoricalMixture",
                   "poisson": "PoissonMixture", "student-t": "StudentTMixture"}
#: select option (attribute) -> the parameter of a --family estimator it sets.
SELECT_ESTIMATOR_PARAMS = {"n_init": "n_init", "max_iter": "max_iter", "tol": "tol",
                           "reg_covar": "reg_covar", "alpha": "alpha", "dof": "dof"}


def _select_estimator(args: argparse.Namespace):
    """The estimator of ``select --family`` (None: mclust's Gaussian grid), with the
    options it has a parameter for; an option it lacks is an error naming both."""
    family = args.family or "gaussian"
    if family == "gaussian":
        for attr in ("alpha", "dof"):
            if getattr(args, attr) is not None:
                raise CommandError(f"--{attr} does not apply to --family gaussian (mclust's "
                                   "Gaussian grid); choose the family with --family")
        return None
    import emkit

    cls = getattr(emkit, SELECT_FAMILIES[family])
    if args.init is not None:
        raise CommandError(f"--init does not apply to --family {family}: every cell starts "
                           f"from {cls.__name__}'s own initialisation (--n-init restarts)")
    accepted = cls().get_params()
    models = _parse_models(args.models)
    if models != "all":
        if "covariance_type" not in accepted:
            raise CommandError(f"--models: --family {family} has no covariance models; leave "
                               "out --models (the table has one column)")
        from .families import get_structure

        for name in models:  # a name the estimator would refuse in every cell
            try:
                get_structure(name)
            except ValueError as exc:
                raise CommandError(f"--models: {one_line(exc)}") from None
    params = {}
    for attr, name in SELECT_ESTIMATOR_PARAMS.items():
        value = getattr(args, attr)
        if value is None:
            continue
        if name not in accepted:
            raise CommandError(f"--{attr.replace('_', '-')} does not apply to --family "
                               f"{family} ({cls.__name__} has no parameter {name!r})")
        params[name] = value
    return cls(**params)


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
    require_csv(args.data, "select")
    components = _parse_components(args.components)
    models = _parse_models(args.models)
    if args.plot is not None:
        from .plotting import _matplotlib

        _matplotlib()  # fail before the fits when matplotlib is missing
    estimator = _select_estimator(args)
    table = read_memory(args, args.data, training=True, text=args.family == "categorical")
    X, columns = table.X, table.columns
    if estimator is None:
        options = {k: v for k, v in {"init": args.init, "n_init": args.n_init,
                                     "random_state": args.random_state,
                                     "max_iter": args.max_iter, "tol": args.tol,
                                     "reg_covar": args.reg_covar,
                                     "n_jobs": args.n_jobs}.items() if v is not None}
    else:  # the estimator's own options are set on it; these are select_model's
        options = {k: v for k, v in {"estimator": estimator, "random_state": args.random_state,
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
    n = len(result.models)
    if estimator is None:
        what, chosen = "Gaussian mixtures", f"covariance={name!r}"
        grid = f"{n} covariance models, {result.settings['init']} starts"
    elif "covariance_type" in model.get_params():
        what, chosen = f"{type(estimator).__name__}s", f"covariance={model.covariance_type!r}"
        grid = f"{n} covariance model{'s' if n != 1 else ''}, the estimator's starts"
    else:
        what, chosen = f"{type(estimator).__name__}s", type(estimator).__name__
        grid = "the estimator's starts"
    out.say(f"{what} fitted to {args.data} ({result.n_samples} rows; columns "
            f"{', '.join(columns)}): G = {_format_G(result.n_components)}, {grid}\n",
            result.to_string(args.convention),
            f"\nchosen model (best {args.criterion.upper()}): G={G}, {chosen}")
    if args.plot is not None:
        out.say(f"wrote {args.criterion.upper()} plot to {args.plot}")
    if args.out is not None:
        out.say(f"wrote model to {args.out}")
    return out
