"""Model-based agglomerative hierarchical clustering, as in R's mclust.

mclust (``Mclust`` / ``mclustBIC``) starts EM from a partition taken from a
model-based agglomerative tree: ``hc(data, modelName = "VVV", use = "SVD")``
cut at ``G`` clusters by ``hclass``.  For one-dimensional data it uses the
quantile classes of ``qclass`` instead.  This module reproduces the three so
that emkit can start from exactly the partitions mclust starts from.

The merge criterion, how mclust 6.0.0 actually evaluates it and its
tie-breaking are described in :mod:`emkit.hierarchical_merges`, which holds the
merge loop; this module holds the public functions, the input checks, the
transformations of the data and the quantile classes for one-dimensional data.

References
----------
C. Fraley (1998).  Algorithms for model-based Gaussian hierarchical
clustering.  SIAM Journal on Scientific Computing 20:270-281.

L. Scrucca, M. Fop, T. B. Murphy, A. E. Raftery (2016).  mclust 5:
clustering, classification and density estimation using Gaussian finite
mixture models.  The R Journal 8:289-317.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from ._validation import check_finite
from .hierarchical_merges import merge_tree

__all__ = [
    "HierarchicalTree",
    "hierarchical_tree",
    "initial_partition",
    "quantile_classes",
    "svd_transform",
]

_MODELS = ("VVV", "EII")
_USES = ("SVD", "VARS", "STD")
_DOUBLE_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _as_matrix(X, *, min_rows: int = 2) -> np.ndarray:
    """Return ``X`` as a finite float64 (n, d) array or raise ValueError."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_rows, n_features), got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError("X has no columns")
    if X.shape[0] < min_rows:
        raise ValueError(f"X needs at least {min_rows} rows, got {X.shape[0]}")
    check_finite(X)
    return X


def _check_n_clusters(n_clusters, upper: int, what: str) -> int:
    """Check ``1 <= n_clusters <= upper``; ``what`` says where ``upper`` comes from."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral):
        raise ValueError(f"n_clusters must be an integer, got {n_clusters!r}")
    n_clusters = int(n_clusters)
    if not 1 <= n_clusters <= upper:
        raise ValueError(f"n_clusters must be between 1 and {upper} ({what}), got {n_clusters}")
    return n_clusters


# ---------------------------------------------------------------------------
# R arithmetic: column means and standard deviations as base R computes them
# ---------------------------------------------------------------------------


def _sequential_long_sum(values: np.ndarray) -> np.ndarray:
    """Column sums accumulated row by row in long double, like R's ``sum``."""
    return np.cumsum(values.astype(np.longdouble), axis=0)[-1]


def _r_scale(X: np.ndarray) -> np.ndarray:
    """R's ``scale(X)``: centre by ``colMeans``, divide by the column sd.

    Constant columns become NaN (0/0), exactly as in R.
    """
    n = X.shape[0]
    center = (_sequential_long_sum(X) / n).astype(np.float64)
    centered = X - center
    sum_sq = _sequential_long_sum(centered * centered).astype(np.float64)
    scale = np.sqrt(sum_sq / max(1, n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return centered / scale


def svd_transform(X: np.ndarray) -> np.ndarray:
    """Scale and sphere ``X`` like mclust's ``hc(..., use = "SVD")``.

    The columns are standardised (``scale(X)``: centred, divided by their
    standard deviation), constant columns are dropped, and with the thin SVD
    ``X_s = U diag(s) V^T`` the result is ``Z = X_s V diag(1 / sqrt(s))``.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Data, at least two rows and no NaN or inf.

    Returns
    -------
    Z : ndarray of shape (n_rows, min(n_rows, n_kept_features))
        The transformed data.  Columns of ``V`` are defined up to sign, so
        columns of ``Z`` may differ in sign from R's; the hierarchical
        criterion does not depend on those signs.

    Raises
    ------
    ValueError
        If ``X`` has NaN/inf, fewer than two rows, only constant columns, or
        a zero singular value after scaling (mclust then fails too, on NaN).
    """
    scaled = _r_scale(_as_matrix(X))
    scaled = scaled[:, np.isfinite(scaled).all(axis=0)]
    if scaled.shape[1] == 0:
        raise ValueError("every column of X is constant: nothing is left after scaling")
    _, sing, vt = np.linalg.svd(scaled, full_matrices=False)
    if not np.all(sing > 0):
        raise ValueError(
            "X is rank deficient after scaling (a singular value is 0), so the SVD "
            "transform divides by zero; drop linearly dependent columns or use='VARS'"
        )
    # transform each distinct row once: identical rows must stay bit-identical
    unique_rows, inverse = np.unique(scaled, axis=0, return_inverse=True)
    Z = (unique_rows @ vt.T) * (1.0 / np.sqrt(sing))
    return Z[inverse.reshape(-1)]


def _duplicate_partition(X: np.ndarray) -> np.ndarray:
    """mclust's ``dupPartition``: identical rows share a group.

    Groups are numbered 0, 1, ... in order of first appearance.
    """
    _, first, inverse = np.unique(X + 0.0, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def _relabel_by_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0, 1, ... in order of first appearance (R's ``partconv``)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HierarchicalTree:
    """Merge history of a model-based agglomerative hierarchical clustering.

    Attributes
    ----------
    merges : ndarray of shape (n_initial - 1, 2)
        The merges in order, as mclust's ``hcPairs`` transposed: row ``s`` is
        ``(i, j)`` with ``i < j``, 1-based cluster labels like R.  A cluster
        is labelled by the smallest initial group it contains; label ``c``
        is the group ``c - 1`` of ``initial_partition``.  At merge ``(i, j)``
        cluster ``j`` joins cluster ``i``.
    n_rows : int
        Number of rows that were clustered.
    initial_partition : ndarray of shape (n_rows,)
        Starting groups, 0-based in order of first appearance (by default
        every row alone, ``arange(n_rows)``).
    costs : ndarray of shape (n_initial - 1,)
        Cost of each merge as mclust's Fortran computes it (``hcvvv`` and
        ``hceii`` return these values; R's ``hc`` drops them): the increase
        of the criterion summed over clusters (see the module notes; for
        ``"EII"`` the increase of the within sum of squares).  Not monotone
        in general.
    model : str
        Criterion used, ``"VVV"`` or ``"EII"``.
    use : str
        Data transformation applied before clustering.
    """

    merges: np.ndarray
    n_rows: int
    initial_partition: np.ndarray = field(repr=False)
    costs: np.ndarray = field(repr=False)
    model: str = "VVV"
    use: str = "SVD"

    @property
    def n_initial(self) -> int:
        """Number of starting groups (``n_rows`` unless a partition was given)."""
        return int(self.merges.shape[0]) + 1

    def cut(self, n_clusters: int) -> np.ndarray:
        """Partition of the rows into ``n_clusters`` clusters.

        Same partition and numbering (minus one) as mclust's
        ``hclass(hcPairs, n_clusters)``: clusters are numbered 0, 1, ... in
        order of their first row.

        Parameters
        ----------
        n_clusters : int
            Number of clusters, ``1 <= n_clusters <= n_initial``.

        Returns
        -------
        labels : ndarray of shape (n_rows,)
        """
        n_clusters = _check_n_clusters(n_clusters, self.n_initial,
                                       "the number of starting groups of the tree")
        target = np.arange(self.n_initial + 1)
        for low, high in self.merges[: self.n_initial - n_clusters][::-1]:
            target[high] = target[low]
        return _relabel_by_appearance(target[self.initial_partition + 1])


def _transform(X: np.ndarray, use: str) -> np.ndarray:
    """Apply mclust's ``use`` transformation."""
    if use == "SVD":
        return svd_transform(X)
    if use == "STD":
        scaled = _r_scale(X)
        scaled = scaled[:, np.isfinite(scaled).all(axis=0)]
        if scaled.shape[1] == 0:
            raise ValueError("every column of X is constant: nothing is left after scaling")
        return scaled
    return X


def _initial_groups(X: np.ndarray, partition) -> np.ndarray:
    """Starting groups (0-based, by first appearance) from the ``partition`` option."""
    n = X.shape[0]
    if partition is None:
        return np.arange(n)
    if isinstance(partition, str):
        if partition != "duplicates":
            raise ValueError(f"partition must be None, 'duplicates' or an array of labels, "
                             f"got {partition!r}")
        return _duplicate_partition(X)
    labels = np.asarray(partition)
    if labels.shape != (n,):
        raise ValueError(f"partition must have one label per row, shape ({n},), "
                         f"got {labels.shape}")
    return _relabel_by_appearance(labels)


def hierarchical_tree(X, *, use: str = "SVD", model: str = "VVV",
                      partition=None) -> HierarchicalTree:
    """Model-based agglomerative hierarchical clustering, as mclust's ``hc``.

    Equivalent to ``hc(X, modelName = model, use = use)``: every row starts
    alone, then the two clusters whose merge costs least are merged until one
    cluster is left.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_features)
        Data with ``n_features >= 2`` and no NaN or inf.  For one feature
        mclust uses quantile classes instead (see :func:`quantile_classes`).
    use : {"SVD", "VARS", "STD"}, default="SVD"
        Transformation first applied to ``X``: ``"SVD"`` is
        :func:`svd_transform`, ``"VARS"`` the raw data, ``"STD"`` the
        standardised columns.
    model : {"VVV", "EII"}, default="VVV"
        Merge criterion: ``"VVV"`` unconstrained Gaussian clusters (mclust's
        default), ``"EII"`` spherical clusters of equal volume (Ward's method;
        mclust's choice when ``n_rows <= n_features``).
    partition : None, "duplicates" or array-like of shape (n_rows,), default=None
        Starting groups.  ``None``: every row alone, which is what mclust 6.0.0
        does by default (``hc`` documents ``partition = dupPartition(data)``
        but does not pass it on, so ``hc(X)`` and ``Mclust`` start from
        singletons).  ``"duplicates"``: identical rows start together, as
        ``hc(X, partition = dupPartition(X))``.  An array: any labels, as
        ``hc(X, partition = labels)``.

    Returns
    -------
    HierarchicalTree

    Raises
    ------
    ValueError
        On NaN/inf, fewer than two rows, a single feature, a starting
        partition with a single group, or an unknown ``use`` / ``model``.

    Notes
    -----
    With numba installed (``emkit[fast]``) the merge loop runs compiled from
    64 starting groups (``kernels="auto"``; ``"numba"`` always, ``"numpy"``
    never): the same merges, costs equal to about 1e-14, 10-20x faster on a few
    hundred rows (see :mod:`emkit.hierarchical_merges`).
    """
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    if use not in _USES:
        raise ValueError(f"use must be one of {_USES}, got {use!r}")
    X = _as_matrix(X)
    if X.shape[1] < 2:
        raise ValueError("hierarchical_tree needs at least 2 features; for 1-D data "
                         "mclust uses quantile_classes(x, n_clusters)")
    groups = _initial_groups(X, partition)
    n_groups = int(groups.max()) + 1
    if n_groups < 2:
        raise ValueError("the starting partition has a single group (are all rows of X "
                         "identical?): there is nothing to merge")
    Z = _transform(X, use)
    merges, costs = merge_tree(Z, groups, n_groups, model)
    return HierarchicalTree(merges=merges, n_rows=X.shape[0], initial_partition=groups,
                            costs=costs, model=model, use=use)


def _r_sd(x: np.ndarray) -> float:
    """R's ``sd``: two-pass variance accumulated in long double."""
    n = x.size
    mean = _sequential_long_sum(x[:, None])[0] / n
    mean = float(mean + _sequential_long_sum((x - mean)[:, None])[0] / n)
    dev = x.astype(np.longdouble) - mean
    return float(np.sqrt(float(_sequential_long_sum((dev * dev)[:, None])[0] / (n - 1))))


def _r_quantiles(sorted_x: np.ndarray, n_probs: int) -> np.ndarray:
    """R's type-7 ``quantile(x, seq(0, 1, length = n_probs))``."""
    n = sorted_x.size
    step = 1.0 / (n_probs - 1)
    probs = np.concatenate(([0.0], np.arange(1, n_probs - 1) * step, [1.0]))
    index = 1.0 + (n - 1) * probs
    lo = np.floor(index).astype(np.intp)
    hi = np.ceil(index).astype(np.intp)
    qs = sorted_x[lo - 1]
    upper = sorted_x[hi - 1]
    interp = (index > lo) & (upper != qs)
    h = index - lo
    return np.where(interp, (1.0 - h) * qs + h * upper, qs)


def quantile_classes(x: np.ndarray, n_clusters: int) -> np.ndarray:
    """Quantile classes of 1-D data, as mclust's ``qclass``.

    mclust's default start for one-dimensional data: the range is split at
    ``n_clusters - 1`` sample quantiles (type 7, on the coarsest equally
    spaced probability grid that gives at least ``n_clusters + 1`` distinct
    values; surplus cut points at the narrowest gaps are dropped).

    Parameters
    ----------
    x : array-like of shape (n_rows,) or (n_rows, 1)
        Data, no NaN or inf, at least two distinct values.
    n_clusters : int
        Number of classes, ``1 <= n_clusters <= n_rows``.

    Returns
    -------
    labels : ndarray of shape (n_rows,)
        Class of every value, 0-based, increasing with ``x`` (qclass minus 1).
        As in mclust a class can be empty when ``x`` has many ties.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (or a single column), got shape {x.shape}")
    x = _as_matrix(x)[:, 0]
    k = _check_n_clusters(n_clusters, x.size, "the number of values in x")
    sorted_x = np.sort(x)
    if sorted_x[0] == sorted_x[-1]:
        raise ValueError("all values of x are identical: quantile classes are undefined "
                         "(mclust's qclass loops forever)")
    n_probs = k + 1
    q = np.unique(_r_quantiles(sorted_x, n_probs))
    while q.size < k + 1:
        n_probs += 1
        q = np.unique(_r_quantiles(sorted_x, n_probs))
    if q.size > k + 1:
        drop = np.argsort(np.diff(q), kind="stable")[: q.size - k - 1]
        q = np.delete(q, drop)
    eps = _r_sd(x) * np.sqrt(_DOUBLE_EPS)
    q[0] = sorted_x[0] - eps
    q[-1] = sorted_x[-1] + eps
    return np.searchsorted(q, x, side="right") - 1


def initial_partition(X, n_clusters: int) -> np.ndarray:
    """mclust's default starting partition for ``n_clusters`` clusters.

    ``quantile_classes`` for one-dimensional data, otherwise
    ``hierarchical_tree(X).cut(n_clusters)`` (model ``"EII"`` instead of
    ``"VVV"`` when ``n_rows <= n_features``, as mclust does).  mclust runs
    the tree on a random subset of 2000 rows when there are more; subsample
    ``X`` first to do the same (R's random subset cannot be reproduced).

    Parameters
    ----------
    X : array-like of shape (n_rows,) or (n_rows, n_features)
    n_clusters : int

    Returns
    -------
    labels : ndarray of shape (n_rows,)
        Cluster of every row, 0-based.
    """
    X = _as_matrix(X)
    if X.shape[1] == 1:
        return quantile_classes(X[:, 0], n_clusters)
    model = "VVV" if X.shape[0] > X.shape[1] else "EII"
    return hierarchical_tree(X, model=model).cut(n_clusters)
