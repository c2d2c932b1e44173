"""Pictures of fitted mixtures (needs matplotlib: ``pip install 'emkit[plot]'``).

matplotlib is imported inside the functions, so ``import emkit.plotting``
works without it and the error only comes when a plot is asked for.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .families.structures import get_structure
from .io import atomic_write

__all__ = [
    "bic_png",
    "ellipse_geometry",
    "mixture_png",
    "plot_bic",
    "plot_gate",
    "plot_mixture",
    "plot_regression_mixture",
    "save_bic_plot",
    "save_mixture_plot",
]

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'emkit[plot]'"
SIGMAS = (1, 2)
#: Marker of each model's line in :func:`plot_bic` (cycled).
#: plot_regression_mixture draws an expert's curve solid where its gate is at least this.
GATE_SHOWN = 0.1
MODEL_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "p", "h", "*", "d", "8")
#: ``plot_bic(..., ylim="top")`` keeps at least this many of the best cells in view.
ZOOM_MIN_CELLS = 5


def _matplotlib():
    """Import matplotlib, or raise an ImportError saying how to get it."""
    try:
        import matplotlib
        import matplotlib.lines
        import matplotlib.patches
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc
    return matplotlib


def ellipse_geometry(cov: np.ndarray, n_sigma: float = 1.0) -> tuple[float, float, float]:
    """Width, height and angle of the ``n_sigma`` contour of a 2-D Gaussian.

    The contour is the set of points at Mahalanobis distance ``n_sigma`` from
    the mean.  With eigenvalues ``l1 >= l2`` of ``cov`` and ``v1`` the
    eigenvector of ``l1``, it is the ellipse of full axes
    ``2 n_sigma sqrt(l1)`` (along ``v1``) and ``2 n_sigma sqrt(l2)``.

    Parameters
    ----------
    cov : ndarray of shape (2, 2)
        Symmetric positive semi-definite covariance.
    n_sigma : float, default=1.0

    Returns
    -------
    width, height, angle : float
        Full major and minor axis lengths, and the angle of the major axis
        in degrees counter-clockwise from the x axis (in ``[0, 180)``), as
        :class:`matplotlib.patches.Ellipse` takes them.
    """
    values, vectors = np.linalg.eigh(np.asarray(cov, dtype=float))
    values = np.clip(values, 0.0, None)
    major = vectors[:, 1]
    angle = float(np.degrees(np.arctan2(major[1], major[0]))) % 180.0
    return 2 * n_sigma * float(np.sqrt(values[1])), 2 * n_sigma * float(np.sqrt(values[0])), angle


def _components(estimator, n_features: int) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Means and (D, D) covariances of the components (None for k-means)."""
    if hasattr(estimator, "means_"):
        structure = get_structure(estimator.covariance_type)
        covs = [structure.component_covariance(estimator.covariances_, k, n_features)
                for k in range(len(estimator.means_))]
        return np.asarray(estimator.means_), covs
    centers = np.asarray(estimator.cluster_centers_)
    if hasattr(estimator, "beta"):  # SoftKMeans: isotropic variance 1 / beta
        return centers, [np.eye(n_features) / estimator.beta] * len(centers)
    return centers, None


def _feature_names(estimator, X, feature_names, n_features: int) -> list[str]:
    if feature_names is None:
        feature_names = getattr(estimator, "feature_names_in_", None)
    if feature_names is None and hasattr(X, "columns"):
        feature_names = list(X.columns)
    if feature_names is None:
        return [f"feature {j}" for j in range(n_features)]
    names = [str(n) for n in feature_names]
    if len(names) != n_features:
        raise ValueError(f"feature_names has {len(names)} names but X has {n_features} columns")
    return names


def _colors(n: int) -> list:
    import matplotlib

    name = "tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"
    cmap = matplotlib.colormaps[name]
    if n > 20:
        return [cmap(x) for x in np.linspace(0.05, 0.95, n)]
    return [cmap(k) for k in range(n)]


def plot_mixture(
    estimator,
    X,
    ax=None,
    feature_names: Sequence[str] | None = None,
    *,
    features: tuple[int, int] = (0, 1),
    title: str | None = None,
) -> Any:
    """Scatter the rows coloured by cluster, with each component's mean and ellipses.

    Parameters
    ----------
    estimator : fitted GaussianMixture, KMeans or SoftKMeans
        Gaussian components get their 1- and 2-sigma ellipses (the contours at
        Mahalanobis distance 1 and 2), whatever the ``covariance_type``;
        SoftKMeans gets circles of radius ``1/sqrt(beta)``; KMeans only centres.
    X : array-like of shape (n_samples, n_features), n_features >= 2
        Rows to show, coloured by ``estimator.predict(X)``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure (from pyplot) is made when None.
    feature_names : sequence of str, optional
        Axis labels; default the estimator's ``feature_names_in_``, then the
        columns of a DataFrame ``X``, then "feature j".
    features : (int, int), default=(0, 1)
        The two columns shown.  With more than two features the ellipses are
        those of the marginal distribution of these two columns.
    title : str, optional
        Default: the estimator, K and covariance type.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (``ax.figure`` is the figure).  Ellipse patches carry
        the gid ``"component{k}-{s}sigma"``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        X has fewer than two columns, or ``features`` is out of range.
    """
    mpl = _matplotlib()
    check_is_fitted(estimator)
    labels = estimator.predict(X)
    data = np.asarray(X, dtype=float)
    D = data.shape[1]
    i, j = features
    if D < 2 or not (0 <= i < D and 0 <= j < D) or i == j:
        raise ValueError(f"plot_mixture needs two distinct feature indices below n_features={D},"
                         f" got features={features}")
    names = _feature_names(estimator, X, feature_names, D)
    means, covs = _components(estimator, D)
    K = len(means)
    colors = _colors(K)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
    weights = getattr(estimator, "weights_", None)
    handles = []
    for k in range(K):
        rows = data[labels == k]
        ax.scatter(rows[:, i], rows[:, j], s=14, color=colors[k], alpha=0.55, linewidths=0)
        handles.append(mpl.lines.Line2D(
            [], [], marker="o", linestyle="", color=colors[k],
            label=f"component {k}: "
            + ("" if weights is None else f"weight {weights[k]:.2f}, ")
            + f"{len(rows)} points",
        ))
        if covs is None:
            continue
        sub = covs[k][np.ix_([i, j], [i, j])]
        for n_sigma, style in zip(SIGMAS, ("-", "--"), strict=True):
            width, height, angle = ellipse_geometry(sub, n_sigma)
            ax.add_patch(mpl.patches.Ellipse(
                (means[k, i], means[k, j]), width, height, angle=angle, fill=False,
                edgecolor=colors[k], linestyle=style, linewidth=2.0 if n_sigma == 1 else 1.2,
                gid=f"component{k}-{n_sigma}sigma", zorder=2,
            ))
    ax.scatter(means[:, i], means[:, j], marker="X", s=140, c=colors[:K], edgecolors="black",
               linewidths=1.2, zorder=3)
    handles.append(mpl.lines.Line2D([], [], marker="X", linestyle="", color="white",
                                    markeredgecolor="black", markersize=10, label="mean"))
    if covs is not None:
        handles += [
            mpl.lines.Line2D([], [], color="0.3", linewidth=2.0, label="1σ ellipse"),
            mpl.lines.Line2D([], [], color="0.3", linestyle="--", linewidth=1.2,
                             label="2σ ellipse"),
        ]
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)
    ax.set_xlabel(names[i])
    ax.set_ylabel(names[j])
    if title is None:
        title = f"{type(estimator).__name__}, K={K}"
        if hasattr(estimator, "covariance_type"):
            title += f", covariance_type={estimator.covariance_type!r}"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.autoscale_view()
    return ax


def mixture_png(
    estimator,
    X,
    feature_names: Sequence[str] | None = None,
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (7.5, 5.5),
    dpi: int = 120,
) -> bytes:
    """:func:`plot_mixture` rendered to PNG bytes with the Agg backend.

    The figure is made without pyplot, so no GUI backend is touched and no
    figure is left open.  Parameters as :func:`plot_mixture`.
    """
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    plot_mixture(estimator, X, fig.add_subplot(), feature_names, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_mixture_plot(estimator, X, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write :func:`mixture_png` to ``path`` atomically (keyword arguments passed on)."""
    atomic_write(path, mixture_png(estimator, X, **kwargs))


def plot_bic(
    selection,
    ax=None,
    convention: str = "mclust",
    criterion: str = "bic",
    *,
    title: str | None = None,
    ylim: str | tuple[float, float] | None = None,
) -> Any:
    """Criterion curves against G, one line per covariance model (mclust's ``plot(mclustBIC)``).

    Parameters
    ----------
    selection : emkit.selection.ModelSelection
        The result of :func:`emkit.select_model`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure (from pyplot) is made when None.
    convention : {"mclust", "sklearn"}, default="mclust"
        mclust's ``2 logL - penalty`` (larger is better, curves rise to the
        best model) or scikit-learn's ``-2 logL + penalty`` (smaller is better).
    criterion : {"bic", "icl", "aic"}, default="bic"
    title : str, optional
    ylim : None, "top" or (float, float), default=None
        None: every value is in view, so the scale is set by the worst models
        (often G = 1 and the spherical ones) and the competitive curves are
        squashed together at the top.  ``"top"``: zoom on the competitive
        models, the better half of the estimated cells (at least
        :data:`ZOOM_MIN_CELLS`), from the best value down to the worst of
        them, padded by 5%; curves leaving the window are clipped.  A pair
        ``(bottom, top)`` sets the limits in the plotted convention.

    Returns
    -------
    matplotlib.axes.Axes
        Each model's line has the model name as label and gid
        ``"model-<name>"``; cells that could not be estimated are gaps.  The
        best cell under ``criterion`` is ringed (gid ``"best"``).

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        ``ylim`` is not None, "top" or a pair of increasing finite numbers.
    """
    limits = _bic_limits(selection, criterion, convention, ylim)
    _matplotlib()
    values = selection.values(criterion, convention)
    Gs = np.asarray(selection.n_components)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    colors = _colors(len(selection.models))
    for j, model in enumerate(selection.models):
        ax.plot(Gs, values[:, j], marker=MODEL_MARKERS[j % len(MODEL_MARKERS)],
                color=colors[j], linewidth=1.4, markersize=5, label=model, gid=f"model-{model}")
    G, model = selection.best_cell(criterion)
    best = values[list(selection.n_components).index(G), list(selection.models).index(model)]
    ax.plot([G], [best], marker="o", markersize=14, markerfacecolor="none",
            markeredgecolor="black", linestyle="", gid="best", label=f"best: {model}, G={G}")
    label = criterion.upper()
    better = "larger" if convention == "mclust" else "smaller"
    ax.set_xlabel("number of components G")
    ax.set_ylabel(f"{label} ({convention} convention, {better} is better)")
    ax.set_xticks(Gs)
    ax.legend(loc="best", fontsize="small", ncol=2, framealpha=0.9)
    ax.set_title(title if title is not None else
                 f"{label} by number of components and covariance model"
                 + (" (zoom on the best models)" if ylim == "top" else ""))
    ax.grid(True, alpha=0.3)
    if limits is not None:
        ax.set_ylim(*limits)
    return ax


def _bic_limits(selection, criterion: str, convention: str,
                ylim: str | tuple[float, float] | None) -> tuple[float, float] | None:
    """The y limits :func:`plot_bic` sets (None: matplotlib's automatic ones)."""
    if ylim is None:
        return None
    if isinstance(ylim, str):
        if ylim != "top":
            raise ValueError(f"ylim must be None, 'top' or (bottom, top), got {ylim!r}")
        values = selection.values(criterion, convention)
        finite = np.sort(values[np.isfinite(values)])
        if convention == "mclust":  # larger is better: best last
            finite = finite[::-1]
        n = min(len(finite), max(ZOOM_MIN_CELLS, math.ceil(len(finite) / 2)))
        low, high = sorted((float(finite[0]), float(finite[n - 1])))
        pad = 0.05 * (high - low) if high > low else max(1.0, 0.01 * abs(high))
        return low - pad, high + pad
    try:
        bottom, top = (float(v) for v in ylim)
    except (TypeError, ValueError):
        raise ValueError(f"ylim must be None, 'top' or (bottom, top), got {ylim!r}") from None
    if not (math.isfinite(bottom) and math.isfinite(top) and bottom < top):
        raise ValueError(f"ylim must be None, 'top' or (bottom, top) with bottom < top, "
                         f"got {ylim!r}")
    return bottom, top


def bic_png(
    selection,
    convention: str = "mclust",
    criterion: str = "bic",
    *,
    title: str | None = None,
    ylim: str | tuple[float, float] | None = None,
    figsize: tuple[float, float] = (7.5, 5.5),
    dpi: int = 120,
) -> bytes:
    """:func:`plot_bic` rendered to PNG bytes with the Agg backend (no pyplot)."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    plot_bic(selection, fig.add_subplot(), convention, criterion, title=title, ylim=ylim)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_bic_plot(selection, path: str | os.PathLike, **kwargs: Any) -> None:
    """Write :func:`bic_png` to ``path`` atomically (keyword arguments passed on)."""
    atomic_write(path, bic_png(selection, **kwargs))


def _regime_grid(X, design, n_points: int = 200):
    """A grid over the one plotted input column and the model's X on that grid."""
    x = np.asarray(X, dtype=float)
    if design is None and (x.ndim != 2 or x.shape[1] != 1):
        raise ValueError(
            "these plots show one input: pass X with one column, or pass the 1-D input and "
            "design=callable mapping it to the model's X (e.g. lambda x: np.c_[x, x ** 2])")
    x1 = x.ravel() if design is None else np.asarray(X, dtype=float).ravel()
    grid = np.linspace(x1.min(), x1.max(), n_points)
    model_X = grid[:, None] if design is None else np.asarray(design(grid), dtype=float)
    data_X = x1[:, None] if design is None else np.asarray(design(x1), dtype=float)
    return x1, grid, data_X, model_X


def plot_regression_mixture(estimator, X, y, ax=None, *, design=None,
                            title: str | None = None) -> Any:
    """Scatter (x, y) coloured by the most probable regime, with every regime's fitted curve.

    Parameters
    ----------
    estimator : fitted RegressionMixture or MixtureOfExperts
        With a one-dimensional response.
    X : array-like of shape (n_samples, 1), or (n_samples,) with ``design``
        The plotted input.
    y : array-like of shape (n_samples,)
    ax : matplotlib Axes, optional
    design : callable, optional
        Maps the plotted 1-D input to the model's X (for features derived from
        one input, such as ``lambda x: np.c_[x, x ** 2]``).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Curves carry the gid ``"regime{k}"``.  For a mixture of experts an
        expert's curve is solid where its gate probability is at least
        :data:`GATE_SHOWN` and dotted elsewhere.
    """
    _matplotlib()
    check_is_fitted(estimator)
    x1, grid, data_X, model_X = _regime_grid(X, design)
    y = np.asarray(y, dtype=float)
    regimes = estimator.predict_regime(data_X, y)
    curves = estimator.predict_components(model_X)
    if curves.ndim != 2:
        raise ValueError("plot_regression_mixture draws a one-dimensional response")
    K = curves.shape[1]
    colors = _colors(K)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    weights = getattr(estimator, "weights_", None)
    gate = (estimator.predict_proba_gate(model_X) if hasattr(estimator, "predict_proba_gate")
            else None)
    for k in range(K):
        mine = regimes == k
        ax.scatter(x1[mine], y[mine], s=14, color=colors[k], alpha=0.55, linewidths=0)
        label = f"regime {k}: {int(mine.sum())} points"
        if weights is not None:
            label += f", weight {weights[k]:.2f}"
        if gate is None:
            ax.plot(grid, curves[:, k], color=colors[k], linewidth=2.2, label=label,
                    gid=f"regime{k}")
            continue
        # experts: solid where the gate gives them weight, dotted elsewhere
        ax.plot(grid, curves[:, k], color=colors[k], linewidth=1.0, linestyle=":")
        ax.plot(grid, np.where(gate[:, k] >= GATE_SHOWN, curves[:, k], np.nan),
                color=colors[k], linewidth=2.2, label=label, gid=f"regime{k}")
    ax.plot(grid, estimator.predict(model_X), color="0.2", linestyle="--", linewidth=1.3,
            label="mixture mean")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"{type(estimator).__name__}, K={K}")
    ax.grid(True, alpha=0.3)
    return ax


def plot_gate(estimator, X, ax=None, *, design=None, title: str | None = None) -> Any:
    """The gate of a mixture of experts: each regime's probability pi_k(x) against x.

    Parameters
    ----------
    estimator : fitted MixtureOfExperts
    X : array-like of shape (n_samples, 1), or (n_samples,) with ``design``
        The plotted input (its range sets the curve's).
    ax : matplotlib Axes, optional
    design : callable, optional
        As :func:`plot_regression_mixture`.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        Curves carry the gid ``"gate{k}"``.
    """
    _matplotlib()
    check_is_fitted(estimator)
    x1, grid, _, model_X = _regime_grid(X, design)
    gate = estimator.predict_proba_gate(model_X)
    colors = _colors(gate.shape[1])
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    for k in range(gate.shape[1]):
        ax.plot(grid, gate[:, k], color=colors[k], linewidth=2.2, label=f"regime {k}",
                gid=f"gate{k}")
    ax.plot(x1, np.full_like(x1, -0.03), "|", color="0.4", markersize=6, label="data")
    ax.set_ylim(-0.06, 1.04)
    ax.set_xlabel("x")
    ax.set_ylabel("gate probability")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    ax.set_title(title or f"{type(estimator).__name__}: gate")
    ax.grid(True, alpha=0.3)
    return ax
