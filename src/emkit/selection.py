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

from collections.abc import Iterable
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ._selection_grid import (
    _Cell,
    _hierarchical_starts,
    _run_cells,
    _Start,
    _worker_config,
)
from ._validation import check_finite, check_int, check_option, check_real
from .families.structures import get_structure, mclust_name, model_names
from .models.gaussian_mixture import HIERARCHICAL_SUBSET
from .selection_result import (  # noqa: F401 (_format_G: the CLI uses it)
    CONVENTIONS,
    CRITERIA,
    DEFAULT_CONVENTION,
    ModelSelection,
    _check_criterion,
    _format_G,
)

__all__ = ["CONVENTIONS", "CRITERIA", "DEFAULT_CONVENTION", "ModelSelection", "select_model"]

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
