"""The ``emkit`` command line's parser: subcommands, options and their help.

Building it imports nothing heavy (``emkit --help`` and usage errors stay
instant); the commands themselves are in :mod:`emkit._cli_commands` and
:mod:`emkit._cli_fit`.
"""

from __future__ import annotations

import argparse


def one_line(message) -> str:
    """A message on one line (whitespace runs folded)."""
    return " ".join(str(message).split())

COVARIANCE_HELP = ("an mclust model (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, "
                   "VEV, EVV, VVV; E or V for one column) or full, tied, diag, spherical "
                   "(default: full)")
FILES_HELP = (
    "DATA: a CSV file with a header row, read in memory; .csv.gz, .tsv, .parquet (or a "
    "folder of Parquet files), .npy, .zarr and .h5 files are read in chunks (numeric "
    "columns; pip install 'emkit[files]')")


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


def _dof(text: str) -> float | str:
    """A --dof value: "estimate", "shared" or a number (checked by the estimator)."""
    if text in ("estimate", "shared"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'estimate', 'shared' or a number, got "
                                         f"{text!r}") from None


def _annealing(text: str) -> bool | dict[str, float]:
    """An --annealing value: nothing (the defaults) or BETA0[,GROWTH[,N_ITER]]."""
    if text == "":
        return True
    parts = text.split(",")
    if len(parts) > 3:
        raise argparse.ArgumentTypeError(f"expected BETA0[,GROWTH[,N_ITER]], got {text!r}")
    try:
        settings: dict[str, float] = {
            name: (int(part) if name == "n_iter" else float(part))
            for name, part in zip(("beta0", "growth", "n_iter"), parts, strict=False)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers BETA0[,GROWTH[,N_ITER]] "
                                         f"(N_ITER an integer), got {text!r}") from None
    return settings


def _sparse(text: str) -> bool | dict[str, int]:
    """A --sparse value: nothing (the defaults) or N_ACTIVE[,FULL_EVERY]."""
    if text == "":
        return True
    parts = text.split(",")
    try:
        if len(parts) > 2:
            raise ValueError
        return dict(zip(("n_active", "full_every"), map(int, parts), strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers N_ACTIVE[,FULL_EVERY], got "
                                         f"{text!r}") from None


def _add_input(command: argparse.ArgumentParser, dask: bool = False) -> None:
    group = command.add_argument_group("input files read in chunks")
    group.add_argument("--stream", action="store_true",
                       help="read a plain CSV file in chunks too (for files larger than the "
                       "memory; numeric columns, no --id-column)")
    group.add_argument("--dataset", metavar="NAME",
                       help="which 2-D array of a .zarr group or an .h5 file")
    if dask:
        group.add_argument("--dask-scheduler", metavar="ADDRESS",
                           help="fit on the Dask cluster at ADDRESS (tcp://host:8786): the "
                           "workers read the file (CSV, Parquet, Zarr; the path must be "
                           "readable there) and run the E-steps (pip install 'emkit[dask]')")


def build_parser(cmd_demo, cmd_fit, cmd_select, cmd_predict, cmd_impute,
                 cmd_score) -> argparse.ArgumentParser:
    """The ``emkit`` parser, each subcommand calling its handler."""
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

    fit = sub.add_parser(
        "fit", help="fit a mixture (any family), a mixture of regressions, an outlier "
        "detector, a hidden Markov model or a probit regression",
        description="Fit a model by EM to a data file and save it as a JSON model file: a "
        "mixture of Gaussian (default), Bernoulli (0/1 columns), categorical (text columns: "
        "latent class analysis), Poisson (counts) or Student-t components, or of mixed "
        "column groups (--family mixed --group ...); with --target a mixture of regressions "
        "of that column on the others; with --contamination or --threshold a Gaussian "
        "outlier detector; with --hmm a hidden Markov model (the rows are sequences); with "
        "--probit a probit regression. " + FILES_HELP + ".")
    fit.add_argument("data", metavar="DATA")
    fit.add_argument("--k", type=int, metavar="K",
                     help="number of components (of states with --hmm; required except "
                     "with --probit)")
    fit.add_argument("--states", dest="k", type=int, metavar="K",
                     help="--hmm: number of states (the same as --k)")
    fit.add_argument("--out", "--output", dest="out", required=True, metavar="MODEL.json",
                     help="model file to write")
    fit.add_argument("--labels", metavar="LABELS.csv",
                     help="also write the most probable component of every row (--hmm: the "
                     "Viterbi state; --probit: the predicted class)")
    model = fit.add_argument_group("model")
    model.add_argument("--family", choices=("gaussian", "bernoulli", "categorical", "poisson",
                                            "student-t", "mixed", "gmm"),
                       help="component distribution (default: gaussian; mixed: column "
                       "groups given by --group; with --hmm the emission distribution, "
                       "gmm: a Gaussian mixture per state, GMMHMM)")
    model.add_argument("--group", action="append", metavar="NAME:FAMILY:COLS",
                       help="--family mixed: a group of columns (names or 1-based numbers, "
                       "separated by commas) with its own family (gaussian, categorical, "
                       "poisson, bernoulli); repeat for every group: every column must be "
                       "in one group")
    model.add_argument("--covariance", "--covariance-type", dest="covariance", metavar="TYPE",
                       help="gaussian and student-t: " + COVARIANCE_HELP)
    model.add_argument("--reg-covar", type=float, metavar="R",
                       help="gaussian and student-t: added to covariance diagonals "
                       "(default: 1e-6)")
    model.add_argument("--alpha", type=float, metavar="A",
                       help="bernoulli, categorical, poisson: pseudo-count of the prior on "
                       "the component probabilities or rates (default: 0, maximum "
                       "likelihood; > 0 keeps every probability positive)")
    model.add_argument("--dof", type=_dof, metavar="NU",
                       help="student-t: degrees of freedom, 'estimate' (per component, the "
                       "default), 'shared' (one estimated value) or a fixed number")
    model.add_argument("--target", metavar="COL",
                       help="fit a mixture of regressions of this column on the others")
    model.add_argument("--gate", action="store_true",
                       help="with --target: a mixture of experts, whose regime probabilities "
                       "depend on the inputs through a softmax gate (MixtureOfExperts)")
    model.add_argument("--regression-family", choices=("gaussian", "binomial", "poisson"),
                       help="with --target: the regression in each component (default: "
                       "gaussian; binomial: y in {0, 1}; poisson: counts)")
    model.add_argument("--hmm", action="store_true",
                       help="fit a hidden Markov model with --k (--states) states and "
                       "--family emissions (gaussian, categorical, bernoulli, poisson, "
                       "student-t, gmm); the rows are in time order")
    model.add_argument("--lengths-column", metavar="COL",
                       help="--hmm: a column whose runs of equal values are the sequences "
                       "(the rows of a sequence must be consecutive; default: the whole "
                       "file is one sequence)")
    model.add_argument("--transmat-mask", "--transitions", dest="transmat_mask",
                       metavar="full|left-right|bakis|FILE",
                       help="--hmm: which transitions exist (transmat_mask): every one "
                       "(full, the default), i -> j for j >= i (left-right), i -> i and "
                       "i -> i + 1 (bakis), or a CSV file of K rows of K values 1 "
                       "(allowed) or 0 (a structural zero), no header")
    model.add_argument("--sticky", type=float, metavar="S",
                       help="--hmm: added to the diagonal of the transition prior (sticky): "
                       "favours staying in a state (default: 0)")
    model.add_argument("--n-mix", type=int, metavar="M",
                       help="--hmm --family gmm: Gaussians per state (n_mix; default: 1)")
    model.add_argument("--weight-concentration", type=float, metavar="W",
                       help="--hmm --family gmm: Dirichlet prior on every state's mixture "
                       "weights (weight_concentration, >= 1; default: 1, maximum "
                       "likelihood)")
    model.add_argument("--probit", action="store_true",
                       help="fit a probit regression of the --target column (two classes) on "
                       "the other columns (ProbitRegression)")
    model.add_argument("--n-init", type=int, metavar="N", help="initialisations (default: 1)")
    model.add_argument("--random-state", type=_seed, metavar="S", help="random seed")
    model.add_argument("--max-iter", type=int, metavar="M",
                       help="EM iterations (default: the estimator's, 100 for gaussian)")
    model.add_argument("--tol", type=float, metavar="T", help="convergence tolerance on the "
                       "mean log-likelihood (default: the estimator's, 1e-3 for gaussian)")
    flag = model.add_mutually_exclusive_group()
    flag.add_argument("--contamination", type=float, metavar="C",
                      help="fit an outlier detector instead (for `emkit score`): flag the "
                      "fraction C (in (0, 0.5]) of training rows with the lowest density")
    flag.add_argument("--threshold", type=float, metavar="EPS",
                      help="fit an outlier detector instead (for `emkit score`) that flags "
                      "rows with density p(x) < EPS")
    long = fit.add_argument_group(
        "long fits", "Watch, checkpoint and resume a fit; online EM schedules.")
    long.add_argument("--progress", action=argparse.BooleanOptionalAction,
                      help="draw a progress bar on stderr (default: only when stderr is a "
                      "terminal; needs tqdm)")
    long.add_argument("--verbose", action="store_true",
                      help="print a line per EM iteration on stderr")
    long.add_argument("--verbose-interval", type=int, metavar="N",
                      help="print the iteration lines every N iterations (implies --verbose)")
    long.add_argument("--checkpoint", metavar="FILE",
                      help="save the fit's state to FILE as it runs (kept when the fit is "
                      "interrupted)")
    long.add_argument("--checkpoint-interval", type=int, metavar="N",
                      help="iterations between checkpoints (default: 10)")
    long.add_argument("--resume", action="store_true",
                      help="continue from the --checkpoint FILE when it exists (same data "
                      "and model options; otherwise start afresh)")
    long.add_argument("--schedule", choices=("batch", "incremental", "stepwise"),
                      help="batch EM (default), incremental EM (blocks of --batch-size "
                      "rows) or stepwise (online) EM")
    long.add_argument("--batch-size", type=int, metavar="B",
                      help="rows per block of the incremental and stepwise schedules "
                      "(default: 10000)")
    long.add_argument("--learning-decay", type=float, metavar="KAPPA",
                      help="stepwise EM step size (t + 2)^-KAPPA, KAPPA in (0.5, 1] "
                      "(default: 0.7)")
    variants = fit.add_argument_group(
        "EM variants", "How the E-step assigns rows (see docs/variants.md); mixtures only.")
    variants.add_argument("--assignment",
                          choices=("soft", "hard", "stochastic", "monte-carlo"),
                          help="soft: EM (default); hard: classification EM; stochastic: "
                          "stochastic EM, monte-carlo: Monte Carlo EM, each then EM from "
                          "its best iterate")
    variants.add_argument("--annealing", type=_annealing, nargs="?", const="",
                          metavar="BETA0[,GROWTH[,N_ITER]]",
                          help="deterministic annealing, then EM: the E-step at inverse "
                          "temperature BETA0 (default 0.5) raised by the factor GROWTH "
                          "(1.2) after at most N_ITER (50) iterations per level")
    variants.add_argument("--stochastic-iter", type=int, metavar="N",
                          help="--assignment stochastic or monte-carlo: iterations before EM "
                          "(default: 100)")
    variants.add_argument("--sparse", type=_sparse, nargs="?", const="",
                          metavar="N_ACTIVE[,FULL_EVERY]",
                          help="sparse EM: each row keeps its N_ACTIVE (default 4) most "
                          "probable components between full E-steps every FULL_EVERY (10) "
                          "iterations")
    _add_columns(fit)
    _add_input(fit, dask=True)
    fit.set_defaults(handler=cmd_fit)

    select = sub.add_parser(
        "select", help="choose G and the covariance model by BIC (as mclust's mclustBIC)",
        description="Fit a Gaussian mixture for every number of components G and covariance "
        "model (by default mclust's 14 models and G = 1..9, started as mclust does from one "
        "hierarchical clustering, no regularisation), print the BIC table (NA: the model "
        "could not be estimated, reason listed) and the best models, and optionally plot the "
        "BIC curves and save the best model. With --family bernoulli, categorical, poisson "
        "or student-t, the same over that family's estimator. The input file is never "
        "modified.")
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
                        help="EM iterations per model (default: 1000; with --family: the "
                        "estimator's)")
    select.add_argument("--tol", type=float, metavar="T", help="convergence tolerance on the "
                        "mean log-likelihood per row (default: 1e-6; with --family: the "
                        "estimator's)")
    select.add_argument("--reg-covar", type=float, metavar="R",
                        help="added to covariance diagonals (default: 0, as mclust; "
                        "student-t: the estimator's 1e-6)")
    select.add_argument("--family", choices=("gaussian", "bernoulli", "categorical",
                                             "poisson", "student-t"),
                        help="component distribution (default: gaussian, mclust's grid); "
                        "another family selects G (and for student-t the --models) over "
                        "that estimator (select_model's estimator=), started by its own "
                        "initialisation")
    select.add_argument("--alpha", type=float, metavar="A",
                        help="bernoulli, categorical, poisson: pseudo-count of the prior on "
                        "the probabilities or rates (default: 0)")
    select.add_argument("--dof", type=_dof, metavar="NU",
                        help="student-t: degrees of freedom, 'estimate' (default), 'shared' "
                        "or a fixed number")
    select.add_argument("--n-jobs", type=int, metavar="J",
                        help="worker processes over the models (default: 1; -1: all CPUs)")
    _add_columns(select, ids=False)
    select.set_defaults(handler=cmd_select)

    predict = sub.add_parser("predict", help="label the rows of a CSV file with a saved model",
                             description="Print (or write) the most probable component of "
                             "every row, as CSV with a 'label' column (a mixture of "
                             "regressions: the prediction E[y | x], column 'prediction'; a "
                             "probit regression: the predicted class, column 'prediction'; a "
                             "hidden Markov model: the Viterbi state of every row, column "
                             "'state', the sequences cut by --lengths-column). "
                             + FILES_HELP + ".")
    predict.add_argument("model", metavar="MODEL.json")
    predict.add_argument("data", metavar="DATA")
    predict.add_argument("--out", metavar="FILE.csv", help="write here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="add the responsibilities as columns p0..pK-1")
    predict.add_argument("--target", metavar="COL",
                         help="a mixture of regressions: the response column (then also the "
                         "most probable regime of every row, and with --proba its "
                         "probabilities); a probit regression: the response column, left "
                         "out of the inputs")
    predict.add_argument("--lengths-column", metavar="COL",
                         help="a hidden Markov model: the column of sequence ids (as in "
                         "`emkit fit --hmm`)")
    _add_columns(predict)
    _add_input(predict)
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
        "score", help="flag low-density rows (anomalies) of a CSV file; log-likelihoods of "
        "the sequences (HMM) or rows (probit)",
        description="Write the log-density log p(x) of every row and whether it is an "
        "outlier, as CSV with columns log_density,outlier (1 = outlier). MODEL is a "
        "detector saved by `emkit fit ... --contamination C` or `--threshold EPS` (its "
        "threshold is used unless overridden here), or a mixture saved by `emkit fit` (any "
        "family; p(x) is then a probability for discrete families, and p(y | x) for a "
        "mixture of regressions), which then needs --threshold or --contamination. Without "
        "--out the CSV goes to stdout and the count of flagged rows to stderr. A hidden "
        "Markov model (fit --hmm) writes instead the log-likelihood of every sequence "
        "(columns ID,rows,log_likelihood), a probit regression (fit --probit) the "
        "log-likelihood log p(y | x) of every row (needs --target), and the total goes to "
        "stderr; neither takes --threshold or --contamination. " + FILES_HELP + ".")
    score.add_argument("model", metavar="MODEL.json")
    score.add_argument("data", metavar="DATA")
    score.add_argument("--out", metavar="FLAGS.csv", help="write here instead of stdout")
    rule = score.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, metavar="EPS",
                      help="flag rows with density p(x) < EPS")
    rule.add_argument("--contamination", type=float, metavar="C",
                      help="flag the fraction C (in (0, 0.5]) of the rows of DATA.csv with "
                      "the lowest density")
    score.add_argument("--target", metavar="COL",
                       help="a mixture of regressions or a probit regression: the response "
                       "column (scored: log p(y | x))")
    score.add_argument("--lengths-column", metavar="COL",
                       help="a hidden Markov model: the column of sequence ids (as in `emkit "
                       "fit --hmm`); the log-likelihood of every sequence is written")
    _add_columns(score)
    _add_input(score)
    score.set_defaults(handler=cmd_score)
    return parser


