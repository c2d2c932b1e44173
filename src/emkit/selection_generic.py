"""Model selection for any emkit mixture estimator: the G x variant grid by BIC/ICL/AIC.

:func:`emkit.select_model` with ``estimator=`` comes here: every cell is a clone
of the estimator with ``n_components = G`` and one variant's parameters (its
covariance models for estimators that have ``covariance_type``, the points of a
``param_grid``, or just the estimator as given), fitted on X (and y for the
conditional mixtures), and scored by its total log-likelihood, its free
parameters and, for ICL, the entropy of its classification.  The result is the
same :class:`~emkit.selection.ModelSelection` as for Gaussian mixtures.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone

from ._config import config_context
from .exceptions import MonotonicityError

#: Fit failures that make a cell NA (anything else propagates).
FAILURES = (ValueError, ArithmeticError, np.linalg.LinAlgError, MonotonicityError)


def variants(estimator, covariance_types, param_grid) -> dict[str, dict[str, Any]]:
    """Label -> parameters of every variant (the grid's columns), in order."""
    grid: dict[str, list] = {}
    if param_grid:
        for name, values in dict(param_grid).items():
            if name not in estimator.get_params():
                raise ValueError(f"param_grid names {name!r}, which "
                                 f"{type(estimator).__name__} does not have")
            if name == "n_components":
                raise ValueError("n_components is the grid's rows: give it as n_components")
            values = list(values) if isinstance(values, Iterable) and not isinstance(
                values, str) else [values]
            if not values:
                raise ValueError(f"param_grid[{name!r}] is empty")
            grid[name] = values
    if covariance_types != "all" and "covariance_type" not in grid:
        if "covariance_type" not in estimator.get_params():
            raise ValueError(f"{type(estimator).__name__} has no covariance_type: leave "
                             "covariance_types at its default, or use param_grid")
        names = [covariance_types] if isinstance(covariance_types, str) else list(
            covariance_types)
        grid = {"covariance_type": names, **grid}
    if not grid:
        return {type(estimator).__name__.replace("Mixture", "") or "model": {}}
    out = {}
    for combo in itertools.product(*grid.values()):
        params = dict(zip(grid, combo, strict=True))
        label = ",".join(str(v) if len(grid) == 1 else f"{k}={v}" for k, v in params.items())
        out[label] = params
    return out


def _fit_cell(estimator, X, y, G: int, params: dict, seed: int | None, config: dict):
    """(loglik, map_log_z, n_parameters, converged, n_iter, reason, fitted) of one cell."""
    model = clone(estimator).set_params(n_components=G, **params)
    if seed is not None and "random_state" in model.get_params():
        model.set_params(random_state=seed)
    args = (X,) if y is None else (X, y)
    with config_context(**config), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(*args)
            scores = model.score_samples(*args)
            proba = model.predict_proba(*args)
            n_parameters = model.n_parameters()
        except FAILURES as exc:
            return (np.nan, np.nan, None, False, 0, f"{type(exc).__name__}: "
                    f"{' '.join(str(exc).split())}", None)
    for record in caught:
        if issubclass(record.category, UserWarning) and "became empty" in str(record.message):
            return (np.nan, np.nan, None, False, 0,
                    "a component became empty: " + " ".join(str(record.message).split()), None)
    loglik = float(np.sum(scores))
    if not np.isfinite(loglik):
        return (np.nan, np.nan, None, False, 0, f"the log-likelihood is {loglik}", None)
    with np.errstate(divide="ignore"):
        map_log_z = float(np.log(proba.max(axis=1)).sum())
    return (loglik, map_log_z, int(n_parameters), bool(getattr(model, "converged_", True)),
            int(getattr(model, "n_iter_", 0)), None, model)


def fit_grid(estimator, X, y, Gs, labels: dict[str, dict], seeds: dict, n_jobs, config: dict):
    """Fit every (G, variant) cell; returns {(G, label): cell tuple}."""
    jobs = [(G, label) for G in Gs for label in labels]
    workers = effective_n_jobs(n_jobs)
    if workers == 1 or len(jobs) == 1:
        results = [_fit_cell(estimator, X, y, G, labels[label], seeds[G, label], config)
                   for G, label in jobs]
    else:
        config = {**config, "n_threads": 1}
        results = Parallel(n_jobs=workers, backend="loky", batch_size=1)(
            delayed(_fit_cell)(estimator, X, y, G, labels[label], seeds[G, label], config)
            for G, label in jobs)
    return dict(zip(jobs, results, strict=True))
