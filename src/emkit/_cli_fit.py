"""``emkit fit``: a mixture of any family, a mixture of regressions or an outlier detector
(``--hmm`` and ``--probit`` are handed to :mod:`emkit._cli_hmm` and
:mod:`emkit._cli_probit`; ``--family mixed`` reads its groups with :mod:`emkit._cli_mixed`).

The command maps its options to the estimator's parameters and calls the
public API; an option the chosen estimator has no parameter for is an error
naming both.  Long fits: a progress bar or progress lines on stderr, a
checkpoint file to resume from, the online schedules.  The data are a CSV
file in memory or any file :mod:`emkit.sources` reads in chunks, optionally
on a Dask cluster (:mod:`emkit._cli_data`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from typing import Any

import numpy as np

from ._cli_common import (
    NAMES_WARNING,
    OPTIONS,
    CommandError,
    Outcome,
    check_finite,
    check_outputs,
    density_rule,
    explain,
    keyed,
    locate,
    model_document,
    one_line,
)
from ._cli_data import Data, load, per_row
from .io import csv_text

#: --family -> the estimator it fits.
FAMILIES = {
    "gaussian": "GaussianMixture",
    "bernoulli": "BernoulliMixture",
    "categorical": "CategoricalMixture",
    "poisson": "PoissonMixture",
    "student-t": "StudentTMixture",
}
REGRESSION_FAMILIES = ("gaussian", "binomial", "poisson")
SCHEDULES = ("batch", "incremental", "stepwise")
#: Library parameter -> the attribute of the parsed arguments that sets it.
FIT_PARAMS = {
    "n_components": "k",
    "covariance_type": "covariance",
    "n_init": "n_init",
    "random_state": "random_state",
    "max_iter": "max_iter",
    "tol": "tol",
    "reg_covar": "reg_covar",
    "alpha": "alpha",
    "dof": "dof",
    "family": "regression_family",
    "schedule": "schedule",
    "batch_size": "batch_size",
    "learning_decay": "learning_decay",
    "checkpoint": "checkpoint",
    "checkpoint_interval": "checkpoint_interval",
    "verbose_interval": "verbose_interval",
    "contamination": "contamination",
    "threshold": "threshold",
    "assignment": "assignment",
    "annealing": "annealing",
    "stochastic_iter": "stochastic_iter",
    "sparse": "sparse",
    "sticky": "sticky",
    "transmat_mask": "transmat_mask",
    "n_mix": "n_mix",
    "weight_concentration": "weight_concentration",
}
OPTIONS_OF = {**OPTIONS, "verbose": "--verbose", "warm_start": "--resume",
              "callback": "--progress"}


def _refuse(args: argparse.Namespace, what: str, *options: str) -> None:
    """Options (attribute names) that do not apply to ``what``: an error naming the first."""
    for attr in options:
        value = getattr(args, attr, None)
        if value not in (None, False):
            option = "--" + attr.replace("_", "-")
            raise CommandError(f"{option} does not apply to {what}; leave it out")


def _other_class(args: argparse.Namespace) -> type | None:
    """The estimator of --hmm or --probit (None: a mixture)."""
    if args.hmm:
        import emkit.hmm

        from ._cli_hmm import HMM_FAMILIES

        if args.probit:
            raise CommandError("--probit: choose one of --hmm and --probit")
        _refuse(args, "--hmm (a hidden Markov model)", "target", "gate", "regression_family",
                "contamination", "threshold", "group")
        if args.family == "mixed":
            raise CommandError("--family mixed: hidden Markov models take --family gaussian, "
                               "categorical, bernoulli, poisson, student-t or gmm")
        return getattr(emkit.hmm, HMM_FAMILIES[args.family or "gaussian"])
    if args.probit:
        from .models.probit import ProbitRegression

        _refuse(args, "--probit (a probit regression, not a mixture)", "k", "family", "group",
                "gate", "regression_family", "contamination", "threshold", "lengths_column")
        if args.target is None:
            raise CommandError("--probit needs --target COL: the response column (two "
                               "classes)")
        return ProbitRegression
    return None


def _estimator_class(args: argparse.Namespace) -> type:
    import emkit

    if args.lengths_column is not None:
        raise CommandError("--lengths-column needs --hmm (it cuts the rows into the sequences "
                           "of a hidden Markov model)")
    if args.group is not None and args.family != "mixed":
        raise CommandError("--group needs --family mixed (column groups with their own "
                           "families)")
    if args.target is not None:
        if args.family not in (None, "gaussian"):
            raise CommandError(f"--family {args.family}: --target fits a mixture of "
                               "regressions; choose its family with --regression-family")
        if args.contamination is not None or args.threshold is not None:
            option = "--contamination" if args.contamination is not None else "--threshold"
            raise CommandError(f"{option}: outlier detectors are Gaussian mixtures; leave "
                               "out --target")
        return emkit.MixtureOfExperts if args.gate else emkit.RegressionMixture
    if args.gate:
        raise CommandError("--gate needs --target COL (a mixture of experts models the "
                           "response column given the others)")
    if args.regression_family is not None:
        raise CommandError("--regression-family needs --target COL (the response column)")
    family = args.family or "gaussian"
    if family == "gmm":
        raise CommandError("--family gmm: Gaussian-mixture emissions are for --hmm (GMMHMM); "
                           "a mixture of Gaussians is --family gaussian")
    if family == "mixed":
        if args.contamination is not None or args.threshold is not None:
            option = "--contamination" if args.contamination is not None else "--threshold"
            raise CommandError(f"{option}: outlier detectors are Gaussian mixtures; leave out "
                               "--family mixed")
        return emkit.MixedMixture
    if args.contamination is not None or args.threshold is not None:
        if family != "gaussian":
            option = "--contamination" if args.contamination is not None else "--threshold"
            raise CommandError(f"{option}: outlier detectors are Gaussian mixtures; leave out "
                               f"--family {family}")
        return emkit.MixtureOutlierDetector
    return getattr(emkit, FAMILIES[family])


def _progress(args: argparse.Namespace, accepted: set[str]):
    """The callback drawing a progress bar on stderr, or None (see --progress)."""
    if args.progress is False or (args.progress is None and not _stderr_is_terminal()):
        return None
    if "callback" not in accepted:
        if args.progress is None:  # the default: a bar where the estimator can draw one
            return None
        raise CommandError(f"--progress does not apply to {accepted_name(args)} (no "
                           "per-iteration callback); leave it out")
    from .em.progress import ProgressBar

    if args.progress is None:
        try:
            return ProgressBar(file=sys.stderr, leave=False)
        except ImportError:  # no tqdm: no bar unless asked for
            return None
    return ProgressBar(file=sys.stderr, disable=False, leave=False)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _parameters(args: argparse.Namespace, cls: type,
                skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The estimator's parameters from the options given (except ``skip``, set
    elsewhere); refuses options it lacks."""
    accepted = set(cls().get_params(deep=False))
    params = {name: getattr(args, attr) for name, attr in FIT_PARAMS.items()
              if getattr(args, attr, None) is not None and name not in skip}
    if args.resume:
        if args.checkpoint is None:
            raise CommandError("--resume needs --checkpoint FILE (the file to resume from)")
        params["warm_start"] = True
    if args.verbose or args.verbose_interval is not None:
        params["verbose"] = 1
    for name in params:
        if name not in accepted:
            raise CommandError(f"{OPTIONS_OF.get(name, name)} does not apply to "
                               f"{accepted_name(args)} ({cls.__name__} has no parameter "
                               f"{name!r})")
    progress = _progress(args, accepted)
    if progress is not None:
        params["callback"] = [progress]
    return params


def accepted_name(args: argparse.Namespace) -> str:
    """What the options fit, for messages: "--family poisson", "--target", ..."""
    if args.hmm:
        return f"--hmm --family {args.family or 'gaussian'}"
    if args.probit:
        return "--probit"
    if args.target is not None:
        if args.gate:
            return "--target with --gate (a mixture of experts)"
        return "--target (a mixture of regressions)"
    if args.contamination is not None or args.threshold is not None:
        return "an outlier detector"
    return f"--family {args.family or 'gaussian'}"


def _bic(model, data: Data, log_density: np.ndarray) -> float:
    mixture = getattr(model, "mixture_", model)
    if data.target is not None:
        return mixture.bic(data.X, data.y)
    if not data.streamed:
        return mixture.bic(data.X)
    # Data read in chunks: the estimators' -2 log L + p log n from the pass already made.
    return -2.0 * float(log_density.sum()) + mixture.n_parameters() * np.log(len(log_density))


def _summary(model, data: Data, log_density: np.ndarray) -> list[tuple[str, str]]:
    """The lines of the fit's report."""
    mixture = getattr(model, "mixture_", model)
    loglik = float(log_density.sum())
    bic = _bic(model, data, log_density)
    lines = [("K", str(mixture.n_components))]
    for name, family, columns, options in getattr(mixture, "groups_", ()):
        names = [data.columns[j] if data.columns is not None else str(j) for j in columns]
        settings = "".join(f", {key}={value}" for key, value in options.items())
        lines.append((f"group {name}", f"{family} ({', '.join(names)}{settings})"))
    if hasattr(mixture, "covariance_type"):
        lines.append(("covariance", str(mixture.covariance_type)))
    if data.target is not None:
        lines.append(("family", str(mixture.family)))
    dof = getattr(mixture, "degrees_of_freedom_", None)
    if dof is not None:
        lines.append(("dof", ", ".join(f"{v:.4g}" for v in np.atleast_1d(dof))))
    lines += [
        ("log-likelihood", f"{loglik:.4f}"),
        ("BIC", f"{bic:.4f}"),
        ("converged", "yes" if mixture.converged_ else "no"),
        ("iterations", str(mixture.n_iter_)),
    ]
    return lines


def _fit(model, data: Data) -> tuple[np.ndarray, Any]:
    """Fit; return the log-density of every row and the function giving labels.

    Call in a ``warnings.catch_warnings()`` block (filters are changed).
    """
    if data.streamed:
        model.fit(data.source)
        mixture = getattr(model, "mixture_", model)
        warnings.filterwarnings("ignore", message=NAMES_WARNING)  # arrays of named data
        log_density = per_row(data.source, mixture.score_samples)
        return log_density, lambda: per_row(data.source, mixture.predict)
    if data.target is not None:
        model.fit(data.X, data.y)
        return (model.score_samples(data.X, data.y),
                lambda: model.predict_regime(data.X, data.y))
    model.fit(data.X)
    mixture = getattr(model, "mixture_", model)
    return mixture.score_samples(data.X), lambda: mixture.predict(data.X)


def _fit_and_save(args: argparse.Namespace, model, data: Data):
    """Fit; return the log-densities, the labels (--labels), the report and the model file."""

    verbose = (contextlib.redirect_stdout(sys.stderr) if model.get_params().get("verbose")
               else contextlib.nullcontext())
    try:
        with verbose:  # progress lines go to stderr; stdout is the report
            try:
                log_density, labelling = _fit(model, data)
            except BaseException:
                if model.get_params().get("callback"):  # end the bar's line before the error
                    with contextlib.suppress(Exception):
                        print(file=sys.stderr, flush=True)
                raise
        warnings.filterwarnings("ignore", message=NAMES_WARNING)  # arrays of named data
        check_finite(log_density, "log-density", data.ids, args.data)
        labels = labelling() if args.labels else None
        summary = _summary(model, data, log_density)
        if hasattr(model, "offset_"):  # an outlier detector
            flagged = int((log_density < model.offset_).sum())
            summary += [("outlier rule", density_rule(model.offset_)),
                        ("flagged", f"{flagged} of {log_density.shape[0]} training rows")]
        if data.columns is not None and not data.streamed:
            # Record the CSV header (after predicting on the unnamed array), so that
            # `emkit predict` can check the columns of its input.
            model.feature_names_in_ = np.asarray(data.columns, dtype=object)
        if model.get_params().get("callback") is not None:
            model.set_params(callback=None)  # a progress bar is not saved
        document = model_document(model)
    except CommandError:
        raise
    except ValueError as exc:
        message = one_line(exc)
        if data.target is not None and message.startswith("y "):
            message = f"{args.data}, target column {data.target!r}{message[1:]}"
        raise CommandError(locate(message, args.data, data.columns)) from None
    return log_density, labels, summary, document


def cmd_fit(args: argparse.Namespace) -> Outcome:
    from .models.outlier import _check_contamination, _check_threshold

    other = _other_class(args)
    if other is not None:  # an HMM or a probit regression (their own modules)
        params = _parameters(args, other)
        if other.__name__ == "ProbitRegression":
            from ._cli_probit import fit_probit

            return fit_probit(args, other, params)
        from ._cli_hmm import fit_hmm

        if args.k is None:
            raise CommandError("--k K (or --states K) is required: the number of states")
        return fit_hmm(args, other, params)
    out = Outcome()
    check_outputs([args.data], [args.out, args.labels, args.checkpoint])
    cls = _estimator_class(args)
    if args.k is None:
        raise CommandError("--k K is required: the number of components")
    groups = None
    if cls.__name__ == "MixedMixture":
        from ._cli_mixed import GROUP_OPTIONS, parse_groups

        groups = parse_groups(args.group)
    if args.contamination is not None or args.threshold is not None:
        # Check these before reading the data (cheap, and clearer).
        try:
            _check_threshold(args.threshold)
            if args.contamination is not None:
                _check_contamination(args.contamination)
        except ValueError as exc:
            raise CommandError(explain(exc)) from None
    params = _parameters(args, cls, frozenset(GROUP_OPTIONS) if groups else frozenset())
    text = cls.__name__ in ("CategoricalMixture", "MixedMixture")
    resumed = args.resume and os.path.exists(args.checkpoint)
    try:
        data = load(args, args.data, training=True, text=text, target=args.target)
        try:
            if groups is not None:
                from ._cli_mixed import families_spec, numeric_groups

                params["families"] = families_spec(args, data, groups)
                data.X = numeric_groups(data, params["families"])
            with warnings.catch_warnings():
                log_density, labels, summary, document = _fit_and_save(args, cls(**params),
                                                                       data)
        finally:
            data.close()
    except OSError as exc:
        if args.dask_scheduler is None or isinstance(exc, FileNotFoundError):
            raise
        # distributed reports an unreachable scheduler as an OSError (the client connects
        # on first use)
        raise CommandError(f"--dask-scheduler {args.dask_scheduler}: {one_line(exc)}") from None
    n = log_density.shape[0]
    out.write(args.out, document)
    if labels is not None:
        out.write(args.labels, csv_text(*keyed(data.ids, data.id_column, ["label"],
                                               labels[:, None])))
    columns = "" if data.columns is None else f"; columns {', '.join(data.columns)}"
    target = "" if data.target is None else f"; target {data.target}"
    out.say(f"{cls.__name__} fitted to {args.data} ({n} rows{target}{columns})")
    if resumed:
        out.say(f"  resumed from the checkpoint {args.checkpoint}")
    out.say(*(f"  {key:<15} {value}" for key, value in summary))
    if args.checkpoint is not None:
        out.say(f"checkpoint in {args.checkpoint}")
    out.say(f"wrote model to {args.out}")
    if labels is not None:
        out.say(f"wrote {n} labels to {args.labels}")
    return out
