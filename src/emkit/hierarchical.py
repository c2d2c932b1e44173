"""Model-based agglomerative hierarchical clustering, as in R's mclust.

mclust (``Mclust`` / ``mclustBIC``) starts EM from a partition taken from a
model-based agglomerative tree: ``hc(data, modelName = "VVV", use = "SVD")``
cut at ``G`` clusters by ``hclass``.  For one-dimensional data it uses the
quantile classes of ``qclass`` instead.  This module reproduces the three so
that emkit can start from exactly the partitions mclust starts from.

The merge criterion (Fraley 1998; Banfield & Raftery 1993) is the change in
the classification log-likelihood of a Gaussian model with unconstrained
covariances, regularised so that small clusters have a defined value.  A
cluster ``C`` with ``n`` rows and scatter matrix ``W`` (sum of outer products
of the centred rows) costs::

    n * log(det(W / n) + (trace(W) + alpha) / n)

(``det`` is dropped when ``n <= p``, where it is zero), with
``alpha = trace(W_all) / (n_rows * p)`` computed on the whole data set.
Merging two clusters costs ``cost(A ∪ B) - cost(A) - cost(B)``; the cheapest
pair is merged at every step.  Model ``"EII"`` is Ward's criterion,
``n_a n_b / (n_a + n_b) * |mean_a - mean_b|^2``.

What mclust 6.0.0 computes differs from that formula once clusters have
more than two rows: for every cluster it keeps ``min(n - 1, p)`` rows of a
triangular factor of ``W`` but, as compiled, writes the factor's first row
into all of them.  Only the cluster made by the latest merge enters merge
costs with its exact ``W``; every other cluster enters through the Gram
matrix of those stored rows (``_stored_gram``).  This module reproduces that
(the merge costs agree with the values mclust's ``hcvvv`` returns to about
1e-14), because the order of the merges depends on it.

Tie-breaking follows mclust: clusters occupy numbered slots (the initial
groups in order of first appearance); a merged cluster takes the lower slot
of the pair and the cluster in the last slot moves into the freed higher
slot.  Among equal costs the pair with the highest upper slot, then the
highest lower slot, wins.  Exactly equal costs arise from identical rows and
are reproduced; costs that are equal only in exact arithmetic (lattice-like
data) differ in their last bits between mclust's Fortran and NumPy, and
either implementation may then pick either pair.

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

__all__ = [
    "HierarchicalTree",
    "hierarchical_tree",
    "initial_partition",
    "quantile_classes",
    "svd_transform",
]

_MODELS = ("VVV", "EII")
_USES = ("SVD", "VARS", "STD")
_SQRT_HALF = 0.7071067811865476
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


def _trace_w(X: np.ndarray) -> float:
    """Total within sum of squares of ``X`` about its column means."""
    n = X.shape[0]
    fac = 1.0 / np.sqrt(n)
    col_sum = np.cumsum(fac * X, axis=0)[-1]
    centered = X - fac * col_sum
    return float(np.cumsum(np.cumsum(centered * centered, axis=0)[-1])[-1])


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
# cluster statistics and merge costs
# ---------------------------------------------------------------------------


class _GroupStats:
    """Size, mean and within sum of squares (trace) of every cluster slot."""

    def __init__(self, Z: np.ndarray, groups: np.ndarray, n_groups: int) -> None:
        self.size = np.bincount(groups, minlength=n_groups).astype(np.float64)
        sums = np.zeros((n_groups, Z.shape[1]))
        np.add.at(sums, groups, Z)
        self.mean = sums / self.size[:, None]
        centered = Z - self.mean[groups]
        self.trace = np.bincount(groups, np.einsum("ij,ij->i", centered, centered),
                                 minlength=n_groups)

    @staticmethod
    def scatter(Z: np.ndarray, groups: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """Scatter matrix (sum of centred outer products) of every group."""
        n_groups, p = mean.shape
        scatter = np.zeros((n_groups, p, p))
        if n_groups < Z.shape[0]:
            centered = Z - mean[groups]
            np.add.at(scatter, groups, centered[:, :, None] * centered[:, None, :])
        return scatter

    def merge(self, a: int, b: int) -> None:
        """Put the union of slots ``a`` and ``b`` in slot ``a``."""
        na, nb = self.size[a], self.size[b]
        nab = na + nb
        diff = self.mean[b] - self.mean[a]
        self.trace[a] += self.trace[b] + (na * nb / nab) * (diff @ diff)
        self.mean[a] += (nb / nab) * diff
        self.size[a] = nab

    def move(self, src: int, dst: int) -> None:
        """Copy slot ``src`` into slot ``dst``."""
        for arr in (self.size, self.mean, self.trace):
            arr[dst] = arr[src]


def _lead_row(gram: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """First row of the upper Cholesky-type factor ``R`` of ``gram`` (``R^T R = gram``).

    When the first column of ``gram`` is zero the Givens updates that build ``R``
    leave its first row as it was; ``fallback`` is that row.
    """
    if gram[0, 0] > 0:
        return gram[0] / np.sqrt(gram[0, 0])
    return fallback


def _stored_gram(lead: np.ndarray, size: float, p: int) -> np.ndarray:
    """Gram matrix of the factor rows mclust 6.0.0 keeps for a merged cluster.

    mclust keeps ``min(size - 1, p)`` rows of a cluster's triangular factor,
    row ``k`` read from column ``k`` on.  The compiled mclust 6.0.0 writes the
    factor's first row into every one of them, so row ``k`` is ``lead`` with
    its first ``k`` entries dropped: entry ``(i, j)`` of the Gram matrix is
    ``lead[i] * lead[j] * min(min(i, j) + 1, size - 1, p)``.
    """
    n_rows = min(int(size) - 1, p)
    idx = np.arange(p)
    multiplicity = np.minimum(np.minimum.outer(idx, idx) + 1, n_rows)
    return np.outer(lead, lead) * multiplicity


class _VVVCriterion:
    """Regularised unconstrained-covariance Gaussian criterion (mclust ``hcVVV``).

    mclust (compiled 6.0.0) does not see every cluster through its exact
    scatter matrix ``W``.  It keeps, per cluster, rows of a triangular factor
    ``R`` (``R^T R = W``) and, as built, stores only the first row ``R[0]``
    (see :func:`_stored_gram`).  The cluster formed by the latest merge is used
    with its exact factor: its merge costs with every other cluster are
    computed from ``R_latest^T R_latest + G_other + c d d^T``, and if the next
    merge involves it the new factor is built the same way; any other merge
    builds the new factor from the stored matrices ``G_a + G_b + c d d^T``.
    Reproducing this is what makes the merge sequence equal to mclust's.
    """

    def __init__(self, Z: np.ndarray, groups: np.ndarray, n_groups: int) -> None:
        n, p = Z.shape
        self.p = p
        self.alpha = max(_trace_w(Z / np.sqrt(n * p)), _DOUBLE_EPS)
        self.stats = st = _GroupStats(Z, groups, n_groups)
        # starting groups are stored exactly (their whole factor is kept)
        self.stored = _GroupStats.scatter(Z, groups, st.mean)
        self.lead = np.zeros((n_groups, p))
        for g in np.flatnonzero(st.size > 1):
            self.lead[g] = _lead_row(self.stored[g], np.zeros(p))
        self.term = self._term(st.size, st.trace, self._logdet(self.stored, st.size))
        self.latest = -1
        self.latest_gram = np.zeros((p, p))
        self.latest_lead = np.zeros(p)

    def _term(self, size, trace, logdet):
        """``size * log(det(W/size) + (trace + alpha) / size)``, stably."""
        return size * np.logaddexp(logdet, np.log((trace + self.alpha) / size))

    def _logdet(self, gram: np.ndarray, size: np.ndarray) -> np.ndarray:
        """``log det(gram / size)`` per cluster; ``-inf`` when ``size <= p`` or singular."""
        size = np.asarray(size, dtype=np.float64)
        logdet = np.full(size.shape, -np.inf)
        full_rank = np.flatnonzero(size > self.p)
        if full_rank.size:
            logdet[full_rank] = self._full_rank_logdet(gram[full_rank], size[full_rank])
        return logdet

    def _full_rank_logdet(self, gram: np.ndarray, size: np.ndarray) -> np.ndarray:
        """``log det(gram / size)`` for clusters larger than ``p`` (``-inf`` if singular)."""
        sign, value = np.linalg.slogdet(gram)
        return np.where(sign > 0, value - self.p * np.log(size), -np.inf)

    def initial_costs(self) -> np.ndarray:
        """Full (n_groups, n_groups) matrix of merge costs (upper triangle used)."""
        size = self.stats.size
        costs = self._singleton_pair_costs(self.stats.mean)
        for g in np.flatnonzero(size > 1):
            row = self.costs_against(g, np.arange(size.size), self.stored[g])
            costs[g, :] = row
            costs[:, g] = row
        return costs

    def _singleton_pair_costs(self, Z: np.ndarray) -> np.ndarray:
        """Costs of merging two single rows, in mclust's order of operations."""
        trace = np.zeros((Z.shape[0], Z.shape[0]))
        half_diff = np.empty_like(trace)
        for col in Z.T:
            np.subtract.outer(col, col, out=half_diff)
            half_diff *= _SQRT_HALF
            np.multiply(half_diff, half_diff, out=half_diff)
            trace += half_diff
        ablog = np.log(self.alpha)
        trace += self.alpha
        trace /= 2.0
        np.log(trace, out=trace)
        trace *= 2.0
        trace -= ablog + ablog
        return trace

    def costs_against(self, a: int, others: np.ndarray, gram_a: np.ndarray) -> np.ndarray:
        """Merge costs of slot ``a`` (seen through ``gram_a``) with the slots ``others``."""
        st = self.stats
        na, nb = st.size[a], st.size[others]
        nab = na + nb
        diff = st.mean[others] - st.mean[a]
        weight = na * nb / nab
        trace = st.trace[a] + st.trace[others] + weight * np.einsum("ij,ij->i", diff, diff)
        logdet = np.full(others.size, -np.inf)
        big = np.flatnonzero(nab > self.p)
        if big.size:
            gram = gram_a + self.stored[others[big]]
            gram += weight[big, None, None] * diff[big, :, None] * diff[big, None, :]
            logdet[big] = self._full_rank_logdet(gram, nab[big])
        return self._term(nab, trace, logdet) - self.term[a] - self.term[others]

    def merge(self, a: int, b: int, n_active: int, distance) -> np.ndarray:
        """Merge slot ``b`` into ``a``; return costs of ``a`` against slots ``< n_active``."""
        st = self.stats
        diff = st.mean[b] - st.mean[a]
        weight = st.size[a] * st.size[b] / (st.size[a] + st.size[b])
        if self.latest in (a, b):
            other = b if self.latest == a else a
            gram = self.latest_gram + self.stored[other]
            fallback = self.latest_lead
        else:
            gram = self.stored[a] + self.stored[b]
            fallback = self._first_stored_row(a, b, diff)
        gram = gram + weight * np.outer(diff, diff)
        self.term[a] = distance(a, b) + self.term[a] + self.term[b]
        st.merge(a, b)
        lead = _lead_row(gram, fallback)
        self.lead[a] = lead
        self.stored[a] = _stored_gram(lead, st.size[a], self.p)
        self.latest, self.latest_gram, self.latest_lead = a, gram, lead
        return self.costs_against(a, np.arange(n_active), gram)

    def _first_stored_row(self, a: int, b: int, diff: np.ndarray) -> np.ndarray:
        """First factor row mclust starts from when rebuilding the pair ``(a, b)``."""
        if self.stats.size[b] > 1:
            return self.lead[b]
        if self.stats.size[a] > 1:
            return self.lead[a]
        return diff * _SQRT_HALF

    def move(self, src: int, dst: int) -> None:
        """Copy slot ``src`` into slot ``dst``."""
        self.stats.move(src, dst)
        self.stored[dst] = self.stored[src]
        self.lead[dst] = self.lead[src]
        self.term[dst] = self.term[src]
        if self.latest == src:
            self.latest = dst


class _EIICriterion:
    """Ward's criterion (mclust ``hcEII``), updated by the Lance-Williams formula."""

    def __init__(self, Z: np.ndarray, groups: np.ndarray, n_groups: int) -> None:
        self.stats = _GroupStats(Z, groups, n_groups)

    def initial_costs(self) -> np.ndarray:
        """Full (n_groups, n_groups) matrix of Ward costs."""
        size, mean = self.stats.size, self.stats.mean
        scaled = np.sqrt(size)[:, None] * mean
        nab = size[:, None] + size[None, :]
        w_i = np.sqrt(size[None, :] / nab)
        w_j = np.sqrt(size[:, None] / nab)
        costs = np.zeros(nab.shape)
        for col in scaled.T:
            v = w_i * col[:, None] - w_j * col[None, :]
            costs += v * v
        return costs

    def merge(self, a: int, b: int, n_active: int, distance) -> np.ndarray:
        """Merge slot ``b`` into ``a``; Lance-Williams costs against slots ``< n_active``."""
        size = self.stats.size
        na, nb = size[a], size[b]
        nk = size[:n_active]
        row = ((nk + na) * distance(a) + (nk + nb) * distance(b) - nk * distance(a, b))
        self.stats.merge(a, b)
        return row / (nk + na + nb)

    def move(self, src: int, dst: int) -> None:
        """Copy slot ``src`` into slot ``dst``."""
        self.stats.move(src, dst)


# ---------------------------------------------------------------------------
# the agglomeration loop
# ---------------------------------------------------------------------------


class _Agglomerator:
    """Greedy merging over a matrix of pair costs with mclust's slot rules.

    ``cost[j, i]`` for ``i < j`` is the cost of merging slots ``i`` and ``j``
    (row ``j`` holds slot ``j``'s partners in lower slots, the order of
    mclust's packed cost vector); entries with ``i >= j`` are ``inf``.
    ``row_min[j]`` / ``row_arg[j]`` cache the minimum of row ``j`` and the
    last (highest) column holding it, so that a merge costs O(K) updates.
    """

    def __init__(self, criterion, costs: np.ndarray) -> None:
        self.criterion = criterion
        self.n_active = costs.shape[0]
        self.cost = np.where(np.tri(self.n_active, k=-1, dtype=bool), costs, np.inf)
        self.label = np.arange(1, self.n_active + 1)
        self.row_min = np.full(self.n_active, np.inf)
        self.row_arg = np.zeros(self.n_active, dtype=np.intp)
        self._rescan(np.arange(self.n_active))

    def _rescan(self, rows: np.ndarray) -> None:
        """Recompute the cached minimum of the given rows."""
        if rows.size == 0:
            return
        k = self.n_active
        block = self.cost[rows, k - 1::-1]
        last = k - 1 - np.argmin(block, axis=1)
        self.row_arg[rows] = last
        self.row_min[rows] = self.cost[rows, last]

    def _offer(self, col: int, rows: np.ndarray) -> None:
        """Let entries of column ``col`` in ``rows`` replace the cached row minima."""
        values = self.cost[rows, col]
        current = self.row_min[rows]
        better = (values < current) | ((values == current) & (col > self.row_arg[rows]))
        self.row_min[rows[better]] = values[better]
        self.row_arg[rows[better]] = col

    def _distance(self, i: int, j: int | None = None):
        """Symmetric view of the costs (all partners of ``i``, or the pair ``(i, j)``)."""
        k = self.n_active
        if j is None:
            return np.minimum(self.cost[i, :k], self.cost[:k, i])
        return min(self.cost[i, j], self.cost[j, i])

    def best_pair(self) -> tuple[int, int]:
        """Cheapest pair ``(i, j)``, ``i < j``; ties go to the highest ``j``, then ``i``."""
        k = self.n_active
        j = k - 1 - int(np.argmin(self.row_min[k - 1::-1]))
        return int(self.row_arg[j]), j

    def step(self) -> tuple[int, int, float]:
        """Merge the cheapest pair; return its labels ``(low, high)`` and its cost."""
        a, b = self.best_pair()
        la, lb = self.label[a], self.label[b]
        cost = float(self.cost[b, a])
        new_costs = self.criterion.merge(a, b, self.n_active, self._distance)
        last = self.n_active - 1
        self.label[a] = min(la, lb)
        if b != last:
            self._move_last_into(b, last, new_costs)
        self.n_active -= 1
        self._store_costs(a, new_costs[: self.n_active], b)
        return min(la, lb), max(la, lb), cost

    def _move_last_into(self, b: int, last: int, new_costs: np.ndarray) -> None:
        """Move the cluster in the last slot into slot ``b``."""
        self.criterion.move(last, b)
        self.label[b] = self.label[last]
        new_costs[b] = new_costs[last]
        self.cost[b, :b] = self.cost[last, :b]
        self.cost[b + 1:last, b] = self.cost[last, b + 1:last]

    def _store_costs(self, a: int, new_costs: np.ndarray, b: int) -> None:
        """Store the merged cluster's costs and refresh the cached row minima."""
        k = self.n_active
        self.cost[a, :a] = new_costs[:a]
        self.cost[a + 1:k, a] = new_costs[a + 1:k]
        rows = np.arange(a + 1, k)
        args = self.row_arg[rows]
        stale = (args == a) | (args == b)
        fresh = rows[~stale]
        self._offer(a, fresh)
        if b < k:
            self._offer(b, fresh[fresh > b])
        rescan = np.concatenate(([a], [b] if b < k else [], rows[stale]))
        self._rescan(np.unique(rescan.astype(np.intp)))

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """Merge down to one cluster; return the (K - 1, 2) label pairs and their costs."""
        n_merges = max(self.n_active - 1, 0)
        pairs = np.empty((n_merges, 2), dtype=np.intp)
        costs = np.empty(n_merges)
        for s in range(n_merges):
            low, high, costs[s] = self.step()
            pairs[s] = low, high
        return pairs, costs


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
    crit_class = _VVVCriterion if model == "VVV" else _EIICriterion
    criterion = crit_class(Z, groups, n_groups)
    merges, costs = _Agglomerator(criterion, criterion.initial_costs()).run()
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
