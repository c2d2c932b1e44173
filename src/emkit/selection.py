"""Model selection over G and covariance models, as R's ``mclust::mclustBIC``.

:func:`select_model` fits a :class:`~emkit.GaussianMixture` for every number
of components ``G`` and every covariance model (mclust's 14 by default) and
tabulates log-likelihood, number of parameters, BIC, ICL and AIC; cells that
cannot be estimated are missing (NaN, mclust's NA) with the reason kept.
The result is a :class:`ModelSelection`.

Sign conventions
----------------
Both are available everywhere through a ``convention`` argument; the default
is mclust's, :data:`DEFAULT_CONVENTION`.

=========  ======================================  ===============================
criterion  ``convention="mclust"`` (larger wins)   ``"sklearn"`` (smaller wins)
=========  ======================================  ===============================
BIC        ``2 logL - p log n``                    ``-2 logL + p log n``
ICL        ``BIC + 2 sum_i log z_i,map(i)``        ``BIC - 2 sum_i log z_i,map(i)``
AIC        ``2 logL - 2 p``                        ``-2 logL + 2 p``
=========  ======================================  ===============================

(each BIC in its own convention)

``z`` are the responsibilities at the fitted parameters and ``map(i)`` the
most probable component of row ``i`` (mclust's ``icl.Mclust``).  The sklearn
convention is that of :meth:`GaussianMixture.bic` and
:meth:`GaussianMixture.aic`.  Each value in one convention is minus the other.

How the defaults map to mclust
------------------------------
* ``covariance_types="all"``: ``model_names(n_features)`` (E, V for 1-D
  data; only the six diagonal models when ``n_samples <= n_features``).
* ``init="hierarchical"``: one model-based hierarchical tree
  (:func:`emkit.hierarchical.hierarchical_tree`, mclust's ``hc``) computed once
  and cut at every G (``hclass``); quantile classes (``qclass``) for 1-D
  data; ``G = 1`` is the closed-form single Gaussian (``mvn``).  With more
  than ``subset_size`` (2000) rows the tree is grown on a random subset of
  that many rows; each cell then takes one M-step on the subset and one
  E-step on all rows, and EM starts from those responsibilities, exactly as
  ``mclustBIC`` does.
* ``reg_covar=0``: mclust adds nothing to the covariances.
* ``tol``: emkit stops when the mean log-likelihood per row changes by less
  than ``tol``; mclust when the total changes by less than ``1e-5 (1 + |logL|)``
  (relative).  For the usual ``|logL| / n`` of 1 to 10 per row mclust's rule
  is an absolute per-row tolerance of 1e-5 to 1e-4, so the default
  ``tol=1e-6`` converges at least as far as mclust (further where mclust's EM
  crawls and stops early; emkit's values are then a little larger).
* A cell fails (NaN) when the fit raises (too few rows, ...), in particular
  when a covariance is singular up to rounding at some EM iteration
  (:class:`~emkit.exceptions.DegenerateComponentError`: emkit's scale-free form
  of mclust's ``emControl(eps)`` test, docs/covariance-models.md), when a
  component becomes empty, or when EM's objective decreases.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.utils import check_random_state

from ._config import config_context, get_config
from ._validation import check_finite, check_int, check_option, check_real
from .exceptions import MonotonicityError
from .families.gaussian import GaussianMixtureModel
from .families.structures import get_structure, mclust_name, model_names
from .hierarchical import hierarchical_tree, quantile_classes
from .models.gaussian_mixture import HIERARCHICAL_SUBSET, GaussianMixture

__all__ = ["CONVENTIONS", "CRITERIA", "DEFAULT_CONVENTION", "ModelSelection", "select_model"]

#: Sign conventions: mclust's (larger is better) and scikit-learn's (smaller is better).
CONVENTIONS = ("mclust", "sklearn")
#: The convention used when none is given.
DEFAULT_CONVENTION = "mclust"
#: Criteria that can choose the model.
CRITERIA = ("bic", "icl", "aic")
#: Starting partitions: mclust's, or one of GaussianMixture's ``init_params``.
INITS = ("hierarchical", "kmeans", "k-means++", "random", "random_from_data")
#: Default tolerance on the change of the mean log-likelihood per row.
DEFAULT_TOL = 1e-6
#: Default cap on EM iterations per cell (mclust has none).
DEFAULT_MAX_ITER = 1000
#: GaussianMixture parameters ``select_model`` passes through unchanged.
PASSED_THROUGH = ("accelerate", "chunk_size", "verbose", "prior")
_SET_PER_CELL = ("n_components", "covariance_type", "labels_init", "init_params",
                 "weights_init", "means_init", "precisions_init", "fixed", "warm_start",
                 "semi_supervised")
_LABELS = {"bic": "BIC", "icl": "ICL", "aic": "AIC"}
_FORMULAS = {
    ("bic", "mclust"): "2 logL - p log n",
    ("bic", "sklearn"): "-2 logL + p log n",
    ("icl", "mclust"): "BIC + 2 sum log z_map",
    ("icl", "sklearn"): "BIC - 2 sum log z_map",
    ("aic", "mclust"): "2 logL - 2 p",
    ("aic", "sklearn"): "-2 logL + 2 p",
}
# fit failures that make a cell NA (anything else is a bug and propagates)
_BACKEND = "loky"  # processes: cells are Python-bound, threads would share the GIL
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, MonotonicityError)


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------


def _check_X(X) -> tuple[np.ndarray, np.ndarray | None]:
    """X as a 2-D float array (NaN = missing) and its string column names, if any."""
    columns = getattr(X, "columns", None)
    names = None
    if columns is not None and all(isinstance(c, str) for c in columns):
        names = np.asarray(list(columns), dtype=object)
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"X needs at least 2 rows, got {X.shape[0]}")
    check_finite(X, "X", allow_nan=True)
    if np.isnan(X).all(axis=0).any():
        raise ValueError("X has a column with no observed value (every entry is NaN)")
    return X, names


def _check_components(n_components) -> tuple[int, ...]:
    """The numbers of components as a sorted tuple of distinct integers >= 1."""
    if isinstance(n_components, Integral) and not isinstance(n_components, bool):
        n_components = [n_components]
    try:
        values = list(n_components)
    except TypeError:
        raise ValueError(f"n_components must be an integer or a sequence of integers, "
                         f"got {n_components!r}") from None
    if not values:
        raise ValueError("n_components is empty: give at least one number of components")
    for value in values:
        check_int(value, "n_components", 1)
    return tuple(sorted({int(v) for v in values}))


def _check_models(covariance_types, n_samples: int, n_features: int) -> tuple[str, ...]:
    """Covariance models as mclust names, in the order given, without repeats."""
    if isinstance(covariance_types, str) and covariance_types == "all":
        names = model_names(n_features)
        if n_features > 1 and n_samples <= n_features:  # mclust: diagonal models only
            names = names[:6]
        return names
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    try:
        given = list(covariance_types)
    except TypeError:
        raise ValueError(f"covariance_types must be 'all', a model name or a sequence of "
                         f"names, got {covariance_types!r}") from None
    if not given:
        raise ValueError("covariance_types is empty: give 'all' or at least one model name")
    names: list[str] = []
    for name in given:
        mclust = mclust_name(name)
        get_structure(mclust).check_n_features(n_features)
        if mclust not in names:
            names.append(mclust)
    return tuple(names)


def _check_convention(convention: str) -> str:
    return check_option(convention, "convention", CONVENTIONS)


def _check_criterion(criterion: str) -> str:
    return check_option(criterion, "criterion", CRITERIA)


def _check_extra_params(params: dict) -> dict:
    """The GaussianMixture keyword arguments passed through to every cell."""
    for name in params:
        if name in _SET_PER_CELL:
            raise ValueError(f"{name} cannot be given to select_model: it is set for every "
                             "(G, model) cell by select_model itself")
        if name not in PASSED_THROUGH:
            raise TypeError(f"select_model() got an unexpected keyword argument {name!r} "
                            f"(GaussianMixture parameters passed through: "
                            f"{list(PASSED_THROUGH)})")
    return params


def _base_seed(random_state) -> int:
    """One integer seed from which every random choice is derived."""
    rng = check_random_state(random_state)
    return int(rng.randint(np.iinfo(np.int32).max))


def _cell_seed(base: int, G: int, model: str) -> int:
    """Seed of one cell; does not depend on the other cells requested."""
    code = sum(ord(c) << (8 * i) for i, c in enumerate(model))
    return int(np.random.SeedSequence([base, G, code]).generate_state(1)[0] >> 1)


# ---------------------------------------------------------------------------
# starting partitions (mclustBIC's initialisation)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Start:
    """Where one G's cells start: a partition of ``rows`` (None: all rows)."""

    labels: np.ndarray | None = None
    rows: np.ndarray | None = None
    reason: str | None = None


def _mean_imputed(X: np.ndarray) -> np.ndarray:
    """NaN replaced by column means (the hierarchical tree needs complete rows)."""
    missing = np.isnan(X)
    if not missing.any():
        return X
    return np.where(missing, np.nanmean(X, axis=0), X)


def _hierarchical_starts(X: np.ndarray, Gs: Sequence[int], subset_size: int,
                         seed: int) -> dict[int, _Start]:
    """mclustBIC's starting partition for every G, from one tree (or quantiles in 1-D)."""
    n, d = X.shape
    data = _mean_imputed(X)
    rows = None
    if n > subset_size:
        rng = np.random.default_rng([seed, 0])
        rows = np.sort(rng.choice(n, size=subset_size, replace=False))
        data = data[rows]
    m = data.shape[0]
    tree = None
    if d > 1 and any(1 < G <= m for G in Gs):
        tree = hierarchical_tree(data, model="VVV" if n > d else "EII")
    starts = {}
    for G in Gs:
        if G > n:
            starts[G] = _Start(reason=f"G={G} components but only {n} rows")
        elif G == 1:
            starts[G] = _Start(labels=np.zeros(n, dtype=np.intp))
        elif G > m:
            starts[G] = _Start(reason=f"G={G} components but the hierarchical subset has "
                                      f"{m} rows")
        else:
            labels = tree.cut(G) if tree is not None else quantile_classes(data[:, 0], G)
            starts[G] = _check_partition(labels, G, rows)
    return starts


def _check_partition(labels: np.ndarray, G: int, rows: np.ndarray | None) -> _Start:
    """A start, or a failure when a class is empty (mclust's EM then returns NA)."""
    empty = np.flatnonzero(np.bincount(labels, minlength=G) == 0)
    if empty.size:
        return _Start(reason=f"the starting partition has {empty.size} empty class(es) "
                             "(tied values); mclust reports NA here too")
    return _Start(labels=labels, rows=rows)


# ---------------------------------------------------------------------------
# one cell
# ---------------------------------------------------------------------------


@dataclass
class _Cell:
    """What one (G, model) fit gives back."""

    loglik: float = np.nan
    map_log_z: float = np.nan
    converged: bool = False
    n_iter: int = 0
    reason: str | None = None
    estimator: GaussianMixture | None = None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _starting_responsibilities(X, G, model, start: _Start, reg_covar: float, prior=None):
    """labels_init for a cell: the partition, or (subset) one M-step + one E-step."""
    if start.rows is None or G == 1:
        return start.labels
    on_subset = GaussianMixture(G, covariance_type=model, labels_init=start.labels,
                                reg_covar=reg_covar, max_iter=0, prior=prior)
    return on_subset.fit(X[start.rows]).predict_proba(X)


def _problem(gm: GaussianMixture, caught: list, loglik: float) -> str | None:
    """Why a finished fit is not a valid cell (None when it is)."""
    for w in caught:
        if issubclass(w.category, UserWarning) and "became empty" in str(w.message):
            return ("a component became empty (mclust: mixing proportion fell below "
                    f"threshold): {' '.join(str(w.message).split())}")
    if not np.isfinite(loglik):
        return f"the log-likelihood is not finite ({loglik})"
    return None


def _fit_cell(X, G: int, model: str, start: _Start, params: dict, config: dict) -> _Cell:
    """Fit one cell; failures become a reason instead of an exception."""
    if start.reason is not None:
        return _Cell(reason=start.reason)
    with config_context(**config), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            labels = _starting_responsibilities(X, G, model, start, params["reg_covar"],
                                                params.get("prior"))
            gm = GaussianMixture(G, covariance_type=model, labels_init=labels, **params)
            gm.fit(X)
            loglik = float(gm.score_samples(X).sum())
            z = gm.predict_proba(X)
        except _FAILURES as exc:
            return _Cell(reason=_describe(exc))
    reason = _problem(gm, caught, loglik)
    if reason is not None:
        return _Cell(reason=reason)
    if labels is not None and np.ndim(labels) == 2:
        gm.set_params(labels_init=None)  # do not keep n x G responsibilities per cell
    with np.errstate(divide="ignore"):
        map_log_z = float(np.log(z.max(axis=1)).sum())
    return _Cell(loglik, map_log_z, bool(gm.converged_), int(gm.n_iter_), None, gm)


# ---------------------------------------------------------------------------
# running the cells
# ---------------------------------------------------------------------------


def _cost_order(jobs: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Expensive cells first (large G, iterative M-steps), for load balancing."""
    weight = {c: i for i, c in enumerate("IEV")}
    return sorted(jobs, key=lambda job: (-job[0], -sum(weight.get(c, 2) for c in job[1])))


def _worker_config() -> dict:
    """Options every cell runs with: the caller's (worker processes start from the
    defaults), except that a decreasing objective fails the cell (unless checks are off)."""
    accepted = inspect.signature(config_context).parameters
    config = {k: v for k, v in get_config().items() if k in accepted}
    if config.get("monotonic") != "ignore":
        config["monotonic"] = "raise"
    return config


def _run_cells(X, jobs, starts, params_of, n_jobs: int | None) -> dict:
    """Fit every cell, sequentially or on ``n_jobs`` worker processes."""
    config = _worker_config()
    workers = effective_n_jobs(n_jobs)
    if workers == 1 or len(jobs) == 1:
        return {job: _fit_cell(X, *job, starts[job[0]], params_of(job), config)
                for job in jobs}
    config["n_threads"] = 1  # one E-step thread per worker process
    ordered = _cost_order(jobs)
    cells = Parallel(n_jobs=workers, backend=_BACKEND, batch_size=1)(
        delayed(_fit_cell)(X, *job, starts[job[0]], params_of(job), config)
        for job in ordered)
    return dict(zip(ordered, cells, strict=True))


def select_model(
    X,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_types: str | Iterable[str] = "all",
    criterion: str = "bic",
    *,
    init: str = "hierarchical",
    n_init: int = 1,
    reg_covar: float = 0.0,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    random_state=None,
    n_jobs: int | None = None,
    top: int = 3,
    subset_size: int = HIERARCHICAL_SUBSET,
    estimator=None,
    y=None,
    param_grid: dict | None = None,
    **gaussian_mixture_params: Any,
) -> ModelSelection:
    """Fit Gaussian mixtures over a grid of G and covariance models; pick the best.

    The defaults reproduce R's ``mclustBIC(X)``: mclust's models, G = 1..9,
    starts from one model-based hierarchical clustering cut at every G, no
    regularisation.  See the module docstring for the details and the sign
    conventions.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NaN entries are missing values (the hierarchical tree then sees
        column means in their place, as GaussianMixture's initialisers do).
    n_components : int or iterable of int, default=range(1, 10)
        The numbers of components G to try.
    covariance_types : "all", str or iterable of str, default="all"
        Covariance models (mclust names or scikit-learn aliases, which are
        shown under their mclust names).  "all": ``model_names(n_features)``,
        only the diagonal models when ``n_samples <= n_features`` (as mclust).
    criterion : {"bic", "icl", "aic"}, default="bic"
        What chooses ``best_model_`` (and orders :meth:`ModelSelection.top`).
    init : {"hierarchical", "kmeans", "k-means++", "random", \
"random_from_data"}, default="hierarchical"
        "hierarchical": mclust's starts (deterministic, one tree for all
        cells).  The others are GaussianMixture's ``init_params``, with
        ``n_init`` restarts per cell; they can find better optima than
        mclust's single start.
    n_init : int, default=1
        Restarts per cell (must be 1 with ``init="hierarchical"``).
    reg_covar : float, default=0.0
        Added to covariance diagonals (mclust adds nothing).
    tol : float, default=1e-6
        EM stops when the mean log-likelihood per row changes by less than
        this (mclust: relative change 1e-5 of the total, which is looser for
        typical data; see the module docstring).
    max_iter : int, default=1000
        EM iterations per cell; a cell that hits it is kept, with
        ``converged`` False.
    random_state : int, RandomState or None, default=None
        Seeds the row subset (``n_samples > subset_size``) and, for the
        random inits, every cell (each cell's seed depends only on this, G
        and the model, not on the other cells or on ``n_jobs``).
    n_jobs : int or None, default=None
        Worker processes over the cells (joblib's convention: None is 1, -1
        all CPUs).  Results do not depend on it.
    top : int, default=3
        How many models :meth:`ModelSelection.top` and the text summary list.
    subset_size : int, default=2000
        With more rows, the hierarchical tree is grown on a random subset of
        this many (mclust's ``mclust.options("subset")``).
    estimator : emkit mixture estimator, optional
        Select over any estimator instead of mclust's Gaussian grid:
        ``BernoulliMixture()``, ``CategoricalMixture()``, ``StudentTMixture()``,
        ``RegressionMixture()`` (with ``y``), a configured ``GaussianMixture``...
        Every cell is a clone with ``n_components=G`` and one variant's
        parameters (the columns): ``covariance_types`` when the estimator has
        ``covariance_type`` (the estimator's own setting when "all"), the
        points of ``param_grid``, or the estimator as given.  Its own
        ``init_params``/``n_init`` start every cell; ``random_state`` seeds
        each cell independently.  (mclust's hierarchical start, ``init``,
        ``reg_covar``, ``tol`` and ``max_iter`` are the estimator's business.)
    y : array-like, optional
        The response, with a conditional ``estimator`` (RegressionMixture,
        MixtureOfExperts): cells are scored on log p(y | x).
    param_grid : dict, optional
        With ``estimator``: more parameters to vary, ``{"name": [values]}``;
        each combination is a column (e.g. ``{"family": ["gaussian",
        "poisson"]}``).
    **gaussian_mixture_params
        Passed to every GaussianMixture: ``accelerate``, ``chunk_size``,
        ``verbose``, ``prior`` (MAP-EM with a conjugate prior, e.g. "default"
        for mclust's ``priorControl()``; the log-likelihood, BIC and ICL are then
        those of the MAP estimates, as mclust reports them, and every model
        has a prior, where ``mclustBIC`` drops EVE, VEE, VVE and EVV).

    Returns
    -------
    ModelSelection

    Raises
    ------
    ValueError
        Bad parameters or data, or no cell could be estimated (the message
        lists the reasons).

    Examples
    --------
    >>> from emkit import select_model
    >>> from emkit.datasets import load_faithful
    >>> result = select_model(load_faithful())           # doctest: +SKIP
    >>> result.best_params_                              # doctest: +SKIP
    {'n_components': 3, 'covariance_type': 'EEE'}
    >>> result.bic_table()                               # doctest: +SKIP
    """
    if estimator is not None:
        return _select_estimator(X, y, estimator, n_components, covariance_types, criterion,
                                 param_grid, random_state, n_jobs, top, gaussian_mixture_params)
    if y is not None or param_grid is not None:
        raise ValueError("y and param_grid need an estimator= (select_model's default grid is "
                         "mclust's Gaussian one)")
    X, feature_names = _check_X(X)
    n, d = X.shape
    Gs = _check_components(n_components)
    models = _check_models(covariance_types, n, d)
    criterion = _check_criterion(criterion)
    check_option(init, "init", INITS)
    n_init = check_int(n_init, "n_init", 1)
    if init == "hierarchical" and n_init != 1:
        raise ValueError("n_init must be 1 with init='hierarchical' (one deterministic "
                         "start per cell); use init='k-means++' for restarts")
    top = check_int(top, "top", 1)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral)
                               or n_jobs == 0):
        raise ValueError(f"n_jobs must be None or a non-zero integer (-1: all CPUs), "
                         f"got {n_jobs!r}")
    subset_size = check_int(subset_size, "subset_size", 2)
    extra = _check_extra_params(gaussian_mixture_params)
    common = {"reg_covar": check_real(reg_covar, "reg_covar", 0.0),
              "tol": check_real(tol, "tol", 0.0), "max_iter": check_int(max_iter, "max_iter", 1),
              **extra}
    seed = _base_seed(random_state)
    if init == "hierarchical":
        starts = _hierarchical_starts(X, Gs, subset_size, seed)
    else:
        starts = {G: _Start(reason=f"G={G} components but only {n} rows") if G > n
                  else _Start() for G in Gs}

    def params_of(job):
        if init == "hierarchical":
            return common
        return {**common, "init_params": init, "n_init": n_init,
                "random_state": _cell_seed(seed, *job)}

    jobs = [(G, m) for G in Gs for m in models]
    cells = _run_cells(X, jobs, starts, params_of, n_jobs)
    settings = {"init": init, "n_init": n_init, "tol": common["tol"],
                "max_iter": common["max_iter"], "reg_covar": common["reg_covar"],
                "subset_size": subset_size if n > subset_size and init == "hierarchical"
                else None}
    return ModelSelection(cells, Gs, models, n, d, criterion, top, settings, feature_names)


def _select_estimator(X, y, estimator, n_components, covariance_types, criterion,
                      param_grid, random_state, n_jobs, top, extra) -> ModelSelection:
    """select_model over any estimator's clones (see :mod:`emkit.selection_generic`)."""
    from .selection_generic import fit_grid, variants

    if extra:
        raise TypeError(f"select_model() with estimator= takes no GaussianMixture keyword "
                        f"arguments (got {sorted(extra)}): set them on the estimator")
    if not hasattr(estimator, "n_components") or not hasattr(estimator, "fit"):
        raise ValueError(f"estimator must be an emkit mixture estimator with n_components, "
                         f"got {type(estimator).__name__}")
    Gs = _check_components(n_components)
    criterion = _check_criterion(criterion)
    top = check_int(top, "top", 1)
    labels = variants(estimator, covariance_types, param_grid)
    seed = _base_seed(random_state)
    seeds = {(G, label): _cell_seed(seed, G, label) for G in Gs for label in labels}
    results = fit_grid(estimator, X, y, Gs, labels, seeds, n_jobs, _worker_config())
    cells, counts = {}, np.full((len(Gs), len(labels)), np.nan)
    for (G, label), (loglik, map_log_z, n_params, converged, n_iter, reason, fitted) in (
            results.items()):
        cells[G, label] = _Cell(loglik, map_log_z, converged, n_iter, reason, fitted)
        if n_params is not None:
            counts[Gs.index(G), list(labels).index(label)] = n_params
    n_samples = int(np.shape(X)[0])
    n_features = int(np.shape(X)[1]) if np.ndim(X) == 2 else 1
    settings = {"estimator": repr(estimator), "max_iter": getattr(estimator, "max_iter", None)}
    return ModelSelection(cells, Gs, tuple(labels), n_samples, n_features, criterion, top,
                          settings, None, n_parameters=counts, model_params=labels)


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------


def _pandas():
    """pandas, or None when it is not installed."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _format_G(Gs: Sequence[int]) -> str:
    if len(Gs) > 2 and list(Gs) == list(range(Gs[0], Gs[-1] + 1)):
        return f"{Gs[0]}..{Gs[-1]}"
    return ",".join(map(str, Gs))


class ModelSelection:
    """Result of :func:`select_model`: the table over (G, model) and the best model.

    Attributes
    ----------
    n_components : tuple of int
        The G values (rows of the tables), increasing.
    models : tuple of str
        The covariance models (columns), mclust names.
    criterion : str
        The criterion that chose ``best_model_``.
    n_samples, n_features : int
    log_likelihood : ndarray of shape (len(n_components), len(models))
        Total log-likelihood at the fitted parameters; NaN where the cell failed.
    n_parameters : ndarray of int, same shape
        Free parameters of each cell's model (known also for failed cells).
    converged : ndarray of bool, same shape
        EM met ``tol`` within ``max_iter`` (False for failed cells).
    n_iter : ndarray of int, same shape
    reasons : dict
        ``reasons[(G, model)]`` says why that cell is missing (only failed
        cells are keys).
    estimators_ : dict
        ``estimators_[(G, model)]`` is the fitted GaussianMixture of every
        cell that was estimated.  Cells started from responsibilities (more
        rows than ``subset_size``) keep ``labels_init=None``.
    best_params_ : dict
        ``{"n_components": G, "covariance_type": model}`` of the best cell.
    best_model_ : GaussianMixture
        The fitted model of the best cell under ``criterion``.
    settings : dict
        init, n_init, tol, max_iter, reg_covar and subset_size used.

    Notes
    -----
    Tables are pandas DataFrames when pandas is installed; otherwise dicts
    of 1-D NumPy arrays, one per column (index columns included).
    ``str(result)`` (or :meth:`to_string`) renders the tables as text.
    """

    def __init__(self, cells: dict, Gs: Sequence[int], models: Sequence[str], n_samples: int,
                 n_features: int, criterion: str, top: int, settings: dict,
                 feature_names: np.ndarray | None = None, *,
                 n_parameters: np.ndarray | None = None,
                 model_params: dict | None = None) -> None:
        self.n_components = tuple(Gs)
        self.models = tuple(models)
        self.criterion = criterion
        self.n_samples, self.n_features = n_samples, n_features
        self.settings = dict(settings)
        self._top = top
        shape = (len(Gs), len(models))
        self.log_likelihood = np.full(shape, np.nan)
        self._map_log_z = np.full(shape, np.nan)
        self.converged = np.zeros(shape, dtype=bool)
        self.n_iter = np.zeros(shape, dtype=int)
        self._model_params = model_params
        self.n_parameters = n_parameters if n_parameters is not None else np.array(
            [[GaussianMixtureModel(m).n_parameters(G, n_features) for m in models] for G in Gs])
        self.reasons: dict[tuple[int, str], str] = {}
        self.estimators_: dict[tuple[int, str], GaussianMixture] = {}
        for (G, m), cell in cells.items():
            self._store(self.n_components.index(G), self.models.index(m), cell, feature_names)
        self._choose_best()

    def _store(self, i: int, j: int, cell: _Cell, feature_names) -> None:
        key = (self.n_components[i], self.models[j])
        if cell.reason is not None:
            self.reasons[key] = cell.reason
            return
        self.log_likelihood[i, j] = cell.loglik
        self._map_log_z[i, j] = cell.map_log_z
        self.converged[i, j] = cell.converged
        self.n_iter[i, j] = cell.n_iter
        if feature_names is not None:
            cell.estimator.feature_names_in_ = feature_names
        self.estimators_[key] = cell.estimator

    def _choose_best(self) -> None:
        ranking = self._ranking(self.criterion)
        if not ranking:
            reasons = sorted(set(self.reasons.values()))
            raise ValueError("none of the models could be estimated: "
                             + "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else ""))
        G, model = ranking[0]
        variant = (self._model_params[model] if self._model_params is not None
                   else {"covariance_type": model})
        self.best_params_ = {"n_components": G, **variant}
        self.best_model_ = self.estimators_[(G, model)]

    # ----------------------------------------------------------- values
    def values(self, criterion: str = "bic", convention: str = DEFAULT_CONVENTION) -> np.ndarray:
        """A criterion over the grid, shape (len(n_components), len(models)); NaN = failed.

        Parameters
        ----------
        criterion : {"bic", "icl", "aic"}
        convention : {"mclust", "sklearn"}
            "mclust": ``2 logL - penalty`` (larger is better); "sklearn":
            ``-2 logL + penalty`` (smaller is better).
        """
        criterion = _check_criterion(criterion)
        sign = 1.0 if _check_convention(convention) == "mclust" else -1.0
        logn = np.log(self.n_samples)
        if criterion == "aic":
            value = 2.0 * self.log_likelihood - 2.0 * self.n_parameters
        else:
            value = 2.0 * self.log_likelihood - self.n_parameters * logn
            if criterion == "icl":
                value = value + 2.0 * self._map_log_z
        return sign * value

    def bic(self, convention: str = DEFAULT_CONVENTION) -> np.ndarray:
        """BIC over the grid (see :meth:`values`)."""
        return self.values("bic", convention)

    def icl(self, convention: str = DEFAULT_CONVENTION) -> np.ndarray:
        """ICL over the grid (see :meth:`values`)."""
        return self.values("icl", convention)

    def aic(self, convention: str = DEFAULT_CONVENTION) -> np.ndarray:
        """AIC over the grid (see :meth:`values`)."""
        return self.values("aic", convention)

    def best_cell(self, criterion: str | None = None) -> tuple[int, str]:
        """(G, model) of the best estimated cell under ``criterion`` (default: the
        criterion given to :func:`select_model`)."""
        criterion = self.criterion if criterion is None else _check_criterion(criterion)
        return self._ranking(criterion)[0]

    def _ranking(self, criterion: str) -> list[tuple[int, str]]:
        """Estimated cells, best first; near-ties (1e-10 relative) by G, then model name."""
        values = self.values(criterion, "mclust")
        cells = [(float(values[i, j]), G, m) for i, G in enumerate(self.n_components)
                 for j, m in enumerate(self.models) if np.isfinite(values[i, j])]
        cells.sort(key=lambda c: (-float(f"{c[0]:.10g}"), c[1], c[2]))
        return [(G, m) for _, G, m in cells]

    # ----------------------------------------------------------- tables
    def criterion_table(self, criterion: str = "bic", convention: str = DEFAULT_CONVENTION):
        """A criterion as a G x model table (like printing mclust's ``mclustBIC``).

        Returns
        -------
        pandas.DataFrame (index G, one column per model) or, without pandas,
        dict ``{"G": array, model: array, ...}``.
        """
        values = self.values(criterion, convention)
        columns = {m: values[:, j] for j, m in enumerate(self.models)}
        pd = _pandas()
        if pd is None:
            return {"G": np.asarray(self.n_components), **columns}
        frame = pd.DataFrame(columns, index=pd.Index(self.n_components, name="G"))
        frame.columns.name = "model"
        return frame

    def bic_table(self, convention: str = DEFAULT_CONVENTION):
        """BIC as a G x model table (see :meth:`criterion_table`)."""
        return self.criterion_table("bic", convention)

    def icl_table(self, convention: str = DEFAULT_CONVENTION):
        """ICL as a G x model table (see :meth:`criterion_table`)."""
        return self.criterion_table("icl", convention)

    def aic_table(self, convention: str = DEFAULT_CONVENTION):
        """AIC as a G x model table (see :meth:`criterion_table`)."""
        return self.criterion_table("aic", convention)

    def to_frame(self, convention: str = DEFAULT_CONVENTION):
        """One row per (G, model): log_likelihood, n_parameters, bic, icl, aic, converged,
        n_iter, reason (None where estimated).

        Returns
        -------
        pandas.DataFrame indexed by (G, model), or without pandas a dict of
        1-D arrays with "G" and "model" among the keys.
        """
        G = np.repeat(self.n_components, len(self.models))
        model = np.tile(np.asarray(self.models, dtype=object), len(self.n_components))
        columns = {
            "log_likelihood": self.log_likelihood.ravel(),
            "n_parameters": self.n_parameters.ravel(),
            **{c: self.values(c, convention).ravel() for c in CRITERIA},
            "converged": self.converged.ravel(),
            "n_iter": self.n_iter.ravel(),
            "reason": np.array([self.reasons.get((g, m)) for g, m in zip(G, model, strict=True)],
                               dtype=object),
        }
        pd = _pandas()
        if pd is None:
            return {"G": G, "model": model, **columns}
        index = pd.MultiIndex.from_arrays([G, model], names=["G", "model"])
        return pd.DataFrame(columns, index=index)

    @property
    def table(self):
        """:meth:`to_frame` in the default (mclust) convention."""
        return self.to_frame()

    def top(self, n: int | None = None, criterion: str | None = None,
            convention: str = DEFAULT_CONVENTION):
        """The ``n`` best cells, as mclust's ``summary(mclustBIC)``.

        Parameters
        ----------
        n : int, optional
            Default: ``top`` given to :func:`select_model`.
        criterion : {"bic", "icl", "aic"}, optional
            Default: the criterion that chose the best model.
        convention : {"mclust", "sklearn"}

        Returns
        -------
        Table with columns rank, G, model, the criterion (upper case) and
        ``difference`` (value minus the best value: <= 0 in the mclust
        convention, as mclust's "BIC diff", >= 0 in sklearn's).
        """
        n = self._top if n is None else check_int(n, "n", 1)
        criterion = self.criterion if criterion is None else _check_criterion(criterion)
        values = self.values(criterion, convention)
        picked = self._ranking(criterion)[:n]
        best = values[self.n_components.index(picked[0][0]), self.models.index(picked[0][1])]
        chosen = np.array([values[self.n_components.index(G), self.models.index(m)]
                           for G, m in picked])
        columns = {"rank": np.arange(1, len(picked) + 1),
                   "G": np.array([G for G, _ in picked]),
                   "model": np.array([m for _, m in picked], dtype=object),
                   _LABELS[criterion]: chosen, "difference": chosen - best}
        pd = _pandas()
        return columns if pd is None else pd.DataFrame(columns).set_index("rank")

    # ------------------------------------------------------------- text
    def _grid_text(self, criterion: str, convention: str, block: int = 7) -> list[str]:
        values = self.values(criterion, convention)
        cells = [["NA" if not np.isfinite(v) else f"{v:.3f}" for v in row] for row in values]
        width = max([len(c) for row in cells for c in row] + [len(m) for m in self.models])
        gw = max(len(str(G)) for G in self.n_components)
        lines = []
        for start in range(0, len(self.models), block):
            cols = range(start, min(start + block, len(self.models)))
            lines.append(" " * gw + "".join(f"  {self.models[j]:>{width}}" for j in cols))
            for i, G in enumerate(self.n_components):
                lines.append(f"{G:>{gw}}" + "".join(f"  {cells[i][j]:>{width}}" for j in cols))
        return lines

    def _top_text(self, convention: str) -> list[str]:
        label = _LABELS[self.criterion]
        values = self.values(self.criterion, convention)
        picked = self._ranking(self.criterion)[:self._top]
        best = values[self.n_components.index(picked[0][0]), self.models.index(picked[0][1])]
        width = max(5, *(len(m) for m in self.models))
        lines = [f"Top {len(picked)} models by {label}:",
                 f"  rank  {'model':<{width}}  {'G':>3}  {label:>12}  {'difference':>10}"]
        for rank, (G, m) in enumerate(picked, 1):
            v = values[self.n_components.index(G), self.models.index(m)]
            lines.append(f"  {rank:>4}  {m:<{width}}  {G:>3}  {v:>12.3f}  {v - best:>10.3f}")
        return lines

    def to_string(self, convention: str = DEFAULT_CONVENTION) -> str:
        """The criterion table, the top models and the failed cells, as text."""
        convention = _check_convention(convention)
        label = _LABELS[self.criterion]
        better = "larger" if convention == "mclust" else "smaller"
        lines = [f"{label} ({convention} convention: {_FORMULAS[self.criterion, convention]}, "
                 f"{better} is better):"]
        lines += self._grid_text(self.criterion, convention)
        lines += ["", *self._top_text(convention)]
        not_converged = int(self.converged.size - self.converged.sum() - len(self.reasons))
        if not_converged:
            lines += ["", f"{not_converged} estimated cell(s) did not converge within "
                          f"max_iter={self.settings['max_iter']}"]
        if self.reasons:
            lines += ["", f"Not estimated (NA): {len(self.reasons)} cell(s)"]
            lines += [f"  G={G} {m}: {reason}" for (G, m), reason in sorted(self.reasons.items())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        G, model = self.best_cell()
        value = self.values(self.criterion)[self.n_components.index(G), self.models.index(model)]
        models = (", ".join(self.models) if len(self.models) <= 4
                  else f"{self.models[0]}..{self.models[-1]} ({len(self.models)})")
        return (f"ModelSelection(n_samples={self.n_samples}, n_features={self.n_features}, "
                f"G={_format_G(self.n_components)}, models={models}, "
                f"criterion={self.criterion!r}, best=({G}, {model!r}), "
                f"{_LABELS[self.criterion]}={value:.3f} [{DEFAULT_CONVENTION}], "
                f"failed={len(self.reasons)}/{self.log_likelihood.size})")
