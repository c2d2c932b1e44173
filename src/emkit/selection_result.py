"""The result of :func:`emkit.select_model`: :class:`ModelSelection` (tables, best model).

The sign conventions of the criteria are described in :mod:`emkit.selection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_int, check_option
from .families.gaussian import GaussianMixtureModel

#: Sign conventions: mclust's (larger is better) and scikit-learn's (smaller is better).
CONVENTIONS = ("mclust", "sklearn")
#: The convention used when none is given.
DEFAULT_CONVENTION = "mclust"
#: Criteria that can choose the model.
CRITERIA = ("bic", "icl", "aic")
_LABELS = {"bic": "BIC", "icl": "ICL", "aic": "AIC"}
_FORMULAS = {
    ("bic", "mclust"): "2 logL - p log n",
    ("bic", "sklearn"): "-2 logL + p log n",
    ("icl", "mclust"): "BIC + 2 sum log z_map",
    ("icl", "sklearn"): "BIC - 2 sum log z_map",
    ("aic", "mclust"): "2 logL - 2 p",
    ("aic", "sklearn"): "-2 logL + 2 p",
}


def _check_convention(convention: str) -> str:
    return check_option(convention, "convention", CONVENTIONS)


def _check_criterion(criterion: str) -> str:
    return check_option(criterion, "criterion", CRITERIA)


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
        self.estimators_: dict[tuple[int, str], Any] = {}
        for (G, m), cell in cells.items():
            self._store(self.n_components.index(G), self.models.index(m), cell, feature_names)
        self._choose_best()

    def _store(self, i: int, j: int, cell: Any, feature_names) -> None:
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
