"""The grid runner of :func:`emkit.select_model`: starting partitions and cell fits.

mclustBIC's starts (one hierarchical tree cut at every G, quantile classes in
1-D, a subset for large data), one fit per (G, model) cell where failures
become a reason, and the cells run sequentially or on worker processes.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from ._config import config_context, get_config
from .exceptions import MonotonicityError
from .hierarchical import hierarchical_tree, quantile_classes
from .models.gaussian_mixture import GaussianMixture

# fit failures that make a cell NA (anything else is a bug and propagates)
_BACKEND = "loky"  # processes: cells are Python-bound, threads would share the GIL
#: Tasks (lists of cells) per worker process with ``n_jobs`` > 1.
TASKS_PER_WORKER = 4
_FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, MonotonicityError)


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


#: Cell parameters the compiled loop serves only at these values (others: NumPy path).
_FAST_DEFAULTS = {"accelerate": None, "verbose": 0, "prior": None}


def _fast_cell(X, G: int, model: str, start: _Start, params: dict,
               reference: np.ndarray | None) -> _Cell | None:
    """The cell fitted by the compiled EM loop (:mod:`emkit.families.gaussian_compiled`).

    None when the loop does not serve the cell (no numba, ``kernels="numpy"``,
    a subset start, a prior, ...) or met anything unusual: the cell is then
    fitted by :class:`GaussianMixture` as usual, which reports it.  The fitted
    estimator is the one ``GaussianMixture.fit`` would give (same attributes;
    parameters equal up to float rounding).  ``reference``: the degeneracy
    rule's reference variances of X (None: X failed the scale check).
    """
    if reference is None or start.labels is None or start.rows is not None or any(
            params.get(name, value) != value for name, value in _FAST_DEFAULTS.items()):
        return None
    from .families import gaussian_compiled as compiled
    from .families.gaussian import GaussianMixtureModel

    kernels = compiled.loop_kernels()
    if kernels is None or not compiled.applies_to_rows(X, G):
        return None
    engine = GaussianMixtureModel(model, params["reg_covar"])
    try:
        engine.structure.check_n_features(X.shape[1])
    except ValueError:
        return None
    n = X.shape[0]
    engine.kernel_work = n * G
    done = compiled.run_loop(kernels, engine, X, np.ones(n), labels=start.labels,
                             n_components=G, tol=params["tol"], max_iter=params["max_iter"],
                             reference=reference)
    if done is None:
        return None
    if not done.ok:
        return _resumed_cell(X, G, model, start, params, engine, done,
                             done.resume_state(engine, kernels.DECREASE))
    if not (np.isfinite(done.loglik) and np.isfinite(done.map_log_z)):
        return None
    try:
        fitted = compiled.make_params(engine, done.weights, done.means, done.covariances)
    except _FAILURES:
        return None
    gm = GaussianMixture(G, covariance_type=model, labels_init=start.labels, **params)
    compiled.set_fitted(gm, engine, fitted, done.history, done.converged)
    return _Cell(done.loglik, done.map_log_z, done.converged, int(done.history.shape[0]),
                 None, gm)


def _resumed_cell(X, G: int, model: str, start: _Start, params: dict, engine, done,
                  resume) -> _Cell | None:
    """A cell whose compiled loop stopped on something unusual at some iteration: the
    NumPy engine redoes that iteration (and goes on), reporting what it meets as the
    cell's reason, as the fit from the start would (None: refit from the start)."""
    from .em.engine import run_em
    from .families import gaussian_compiled as compiled
    from .sources.array import ArraySource

    if resume is None:
        return None
    source = ArraySource(X, None, X.shape[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run_em(engine, resume.params, source, tol=params["tol"],
                            max_iter=params["max_iter"], resume=resume)
        except _FAILURES as exc:
            return _Cell(reason=_describe(exc))
        gm = GaussianMixture(G, covariance_type=model, labels_init=start.labels, **params)
        compiled.set_fitted(gm, engine, result.params, result.objective_history,
                            bool(result.converged))
        try:
            loglik = float(gm.score_samples(X).sum())
            z = gm.predict_proba(X)
        except _FAILURES as exc:
            return _Cell(reason=_describe(exc))
    reason = _problem(gm, caught, loglik)
    if reason is not None:
        return _Cell(reason=reason)
    with np.errstate(divide="ignore"):
        map_log_z = float(np.log(z.max(axis=1)).sum())
    return _Cell(loglik, map_log_z, bool(gm.converged_), int(gm.n_iter_), None, gm)


def _reference_variances(X: np.ndarray, reg_covar: float) -> np.ndarray | None:
    """The degeneracy rule's reference variances of complete X (as the fit's first
    M-step computes them), or None when X fails the scale check (the NumPy path
    then reports it) or has missing values."""
    from .families._numeric import check_squared_scale
    from .families.covariance import reference_variances

    if np.isnan(X).any():
        return None
    try:
        check_squared_scale(X)
    except ValueError:
        return None
    mean = X.mean(axis=0)
    return reference_variances(((X - mean) ** 2).mean(axis=0), mean, reg_covar)


def _fit_cell(X, G: int, model: str, start: _Start, params: dict, config: dict,
              reference: np.ndarray | None = None) -> _Cell:
    """Fit one cell; failures become a reason instead of an exception."""
    if start.reason is not None:
        return _Cell(reason=start.reason)
    with config_context(**config):
        fast = _fast_cell(X, G, model, start, params, reference)
    if fast is not None:
        return fast
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
    reference = _reference_variances(X, params_of(jobs[0])["reg_covar"])
    workers = effective_n_jobs(n_jobs)
    if workers == 1 or len(jobs) == 1:
        return {job: _fit_cell(X, *job, starts[job[0]], params_of(job), config, reference)
                for job in jobs}
    config["n_threads"] = 1  # one E-step thread per worker process
    ordered = _cost_order(jobs)
    # a few tasks per worker, each a list of cells dealt round-robin from the costliest:
    # a compiled cell takes about a millisecond, as long as sending one task
    groups = [ordered[i::TASKS_PER_WORKER * workers]
              for i in range(min(TASKS_PER_WORKER * workers, len(ordered)))]
    results = Parallel(n_jobs=workers, backend=_BACKEND, batch_size=1)(
        delayed(_fit_cells)(X, [(job, starts[job[0]], params_of(job)) for job in group],
                            config, reference)
        for group in groups)
    return {job: cell for group, cells in zip(groups, results, strict=True)
            for job, cell in zip(group, cells, strict=True)}


def _fit_cells(X, cells: list, config: dict, reference: np.ndarray | None) -> list[_Cell]:
    """:func:`_fit_cell` of every ``(job, start, params)`` (one worker task)."""
    return [_fit_cell(X, *job, start, params, config, reference)
            for job, start, params in cells]


