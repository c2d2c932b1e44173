"""The merge step of model-based hierarchical clustering (:mod:`emkit.hierarchical`).

Cluster statistics, the two merge criteria (``VVV`` and ``EII``) and the
agglomeration loop that merges the cheapest pair until one cluster is left,
reproducing mclust 6.0.0's ``hcVVV`` / ``hcEII`` merge for merge.

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

With numba installed the whole loop runs compiled (:func:`merge_tree`,
:mod:`emkit._numba_hierarchical`; ``kernels="numpy"`` keeps the loop here,
which is the reference).  It does the same operations in the same order except
for the log-determinants (an LU of its own instead of LAPACK's) and a few sums,
so the costs agree to about 1e-14 and the merges are the same, exact ties
included; only the exact-arithmetic ties above may again go either way.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import _kernels
from ._config import get_config

_SQRT_HALF = 0.7071067811865476
_DOUBLE_EPS = float(np.finfo(np.float64).eps)


def _trace_w(X: np.ndarray) -> float:
    """Total within sum of squares of ``X`` about its column means."""
    n = X.shape[0]
    fac = 1.0 / np.sqrt(n)
    col_sum = np.cumsum(fac * X, axis=0)[-1]
    centered = X - fac * col_sum
    return float(np.cumsum(np.cumsum(centered * centered, axis=0)[-1])[-1])


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
        # ``lead`` may be a view of a row of ``self.lead`` (the fallback of
        # _first_stored_row): it is kept as a view on purpose, so that a later
        # fallback reads whatever cluster then occupies that slot.  mclust 6.0.0
        # does the same (checked on lattice data with grouped starts, where a copy
        # changes the merges); the compiled loop reproduces it.
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
# entry point: compiled loop or the NumPy reference
# ---------------------------------------------------------------------------

#: ``kernels="auto"`` compiles the loop from this many starting groups (below,
#: the NumPy loop takes a few milliseconds, less than loading numba).
NUMBA_MIN_GROUPS = 64


def _compiled_loop(n_groups: int):
    """The compiled loop (:mod:`emkit._numba_hierarchical`), or None for NumPy.

    ``kernels="numpy"``: None; ``"numba"``: compiled (ImportError without
    numba); ``"auto"``: compiled when numba is installed and there are at
    least :data:`NUMBA_MIN_GROUPS` starting groups.
    """
    mode = get_config()["kernels"]
    if mode == "numpy" or (mode == "auto" and n_groups < NUMBA_MIN_GROUPS):
        return None
    if not _kernels.use_numba(None):
        return None
    return importlib.import_module("emkit._numba_hierarchical")


def merge_tree(Z: np.ndarray, groups: np.ndarray, n_groups: int,
               model: str) -> tuple[np.ndarray, np.ndarray]:
    """Merge the starting groups of ``Z`` down to one cluster.

    Parameters
    ----------
    Z : ndarray of shape (n_rows, p)
        Transformed data.
    groups : ndarray of shape (n_rows,)
        Starting group of every row, ``0 .. n_groups - 1`` in order of first
        appearance.
    n_groups : int
        Number of starting groups (at least 2).
    model : {"VVV", "EII"}
        Merge criterion.

    Returns
    -------
    merges : ndarray of shape (n_groups - 1, 2)
        1-based label pairs ``(low, high)`` in merge order.
    costs : ndarray of shape (n_groups - 1,)
        Cost of every merge.

    Raises
    ------
    ValueError
        If the sum of squares of ``Z`` about its means exceeds 1e300 (the
        merge costs would overflow; reachable with ``use="VARS"`` only).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        spread = _trace_w(Z)
    if not spread <= 1e300:
        raise ValueError("X is too large in magnitude for the merge criterion (its sum "
                         "of squares overflows float64): rescale it or use 'SVD' or 'STD'")
    criterion = (_VVVCriterion if model == "VVV" else _EIICriterion)(Z, groups, n_groups)
    loop = _compiled_loop(n_groups)
    if loop is None:
        return _Agglomerator(criterion, criterion.initial_costs()).run()
    st = criterion.stats
    if model == "EII":
        return loop.eii_tree(st.size, np.ascontiguousarray(st.mean))
    return loop.vvv_tree(float(criterion.alpha), st.size, np.ascontiguousarray(st.mean),
                         st.trace, np.ascontiguousarray(criterion.stored),
                         np.ascontiguousarray(criterion.lead), criterion.term)
