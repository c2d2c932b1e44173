"""The compiled agglomeration loop of model-based hierarchical clustering.

Import through :func:`emkit.hierarchical_merges.merge_tree` only (numba is
optional).  :func:`vvv_tree` and :func:`eii_tree` run the whole loop of
:class:`emkit.hierarchical_merges._Agglomerator` with the criteria
``_VVVCriterion`` / ``_EIICriterion``: the same slot rules, the same
tie-breaking (highest upper slot, then highest lower slot) and the same
floating-point operations in the same order, so that equal inputs give equal
costs here exactly as they do there (exact ties from identical rows are broken
the same way).  The starting statistics (sizes, means, traces, scatter
matrices, first factor rows and cluster terms) are computed by the NumPy
criteria and passed in.

Log-determinants come from an LU factorisation with partial pivoting, as
``numpy.linalg.slogdet`` (LAPACK ``getrf``) computes them: ``-inf`` when a
pivot is exactly zero or the sign of the determinant is not positive.  The
values agree with NumPy's to rounding (about 1e-15 relative); a sign decided by
rounding alone (a numerically singular matrix) may differ, but the cluster term
``log(det + trace)`` is then the same to rounding either way.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT_HALF = 0.7071067811865476
_LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------
# arithmetic helpers (NumPy's order of operations)
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _logaddexp(x, y):
    """``numpy.logaddexp`` (same branches)."""
    if x == y:
        return x + _LOG2
    tmp = x - y
    if tmp > 0:
        return x + math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return y + math.log1p(math.exp(tmp))
    return tmp


@njit(cache=True, nogil=True, error_model="numpy")
def _logdet_lu(work):
    """``log det(work)`` by LU with partial pivoting; ``-inf`` unless det > 0.

    ``work`` (p, p) is overwritten by the factors.  As LAPACK's ``getf2``, the
    column below a pivot is scaled by the pivot's reciprocal.  The product of
    the pivots is accumulated and its log taken once (folded into the log
    whenever it leaves [1e-100, 1e100], so it never overflows).
    """
    p = work.shape[0]
    negative = False
    logdet = 0.0
    product = 1.0
    for k in range(p):
        piv = k
        best = math.fabs(work[k, k])
        for i in range(k + 1, p):
            value = math.fabs(work[i, k])
            if value > best:
                best = value
                piv = i
        if best == 0.0:
            return -np.inf
        if piv != k:
            negative = not negative
            for j in range(k, p):  # columns < k hold multipliers, not needed
                tmp = work[k, j]
                work[k, j] = work[piv, j]
                work[piv, j] = tmp
        pivot = work[k, k]
        if pivot < 0.0:
            negative = not negative
        product *= best
        if product > 1e100 or product < 1e-100:
            logdet += math.log(product)
            product = 1.0
        inverse = 1.0 / pivot
        for i in range(k + 1, p):
            factor = work[i, k] * inverse
            for j in range(k + 1, p):
                work[i, j] -= factor * work[k, j]
    if negative:
        return -np.inf
    return logdet + math.log(product)


# ---------------------------------------------------------------------------
# the agglomeration bookkeeping (_Agglomerator)
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _rescan(cost, row, k, row_min, row_arg):
    """Minimum of row ``row`` over columns ``< row``; ties go to the highest column.

    A row without partners (row 0) gets ``inf`` at column ``k - 1``, as the
    NumPy path's scan over the ``inf`` upper triangle gives.
    """
    best = np.inf
    arg = k - 1
    for col in range(row - 1, -1, -1):
        value = cost[row, col]
        if value < best:
            best = value
            arg = col
    row_min[row] = best
    row_arg[row] = arg


@njit(cache=True, nogil=True, error_model="numpy")
def _best_row(row_min, k):
    """Row of the cheapest pair; ties go to the highest row."""
    best = np.inf
    arg = k - 1
    for row in range(k - 1, -1, -1):
        if row_min[row] < best:
            best = row_min[row]
            arg = row
    return arg


@njit(cache=True, nogil=True, error_model="numpy")
def _init_cache(cost, row_min, row_arg):
    k = cost.shape[0]
    for row in range(k):
        _rescan(cost, row, k, row_min, row_arg)


@njit(cache=True, nogil=True, error_model="numpy")
def _apply_merge(cost, label, row_min, row_arg, new_costs, a, b, k):
    """Slot moves, new costs of ``a`` and cached minima after merging ``b`` into ``a``.

    ``k`` is the number of active slots before the merge and ``new_costs``
    the merged cluster's costs against slots ``< k`` (before the last slot
    moves into ``b``).  Returns the (low, high) labels of the merge.
    """
    la = label[a]
    lb = label[b]
    last = k - 1
    label[a] = min(la, lb)
    if b != last:
        label[b] = label[last]
        new_costs[b] = new_costs[last]
        for col in range(b):
            cost[b, col] = cost[last, col]
        for row in range(b + 1, last):
            cost[row, b] = cost[last, row]
    k -= 1
    for col in range(a):
        cost[a, col] = new_costs[col]
    for row in range(a + 1, k):
        cost[row, a] = new_costs[row]
    for row in range(a + 1, k):
        arg = row_arg[row]
        if arg == a or arg == b:
            _rescan(cost, row, k, row_min, row_arg)
            continue
        # offer the new entries in columns a and b (ties go to the higher column)
        current = row_min[row]
        value = cost[row, a]
        if value < current or (value == current and a > arg):
            current = value
            arg = a
        if b < row:
            value = cost[row, b]
            if value < current or (value == current and b > arg):
                current = value
                arg = b
        row_min[row] = current
        row_arg[row] = arg
    _rescan(cost, a, k, row_min, row_arg)
    if b < k:
        _rescan(cost, b, k, row_min, row_arg)
    return min(la, lb), max(la, lb)


# ---------------------------------------------------------------------------
# VVV (_VVVCriterion)
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _vvv_costs_against(a, skip, k, gram_a, size, mean, trace, stored, term, alpha, p_log,
                       out, work):
    """Merge costs of slot ``a`` (seen through ``gram_a``) with every slot ``< k``.

    ``out[o]`` is left as it was for ``o`` in ``(a, skip)``.  ``p_log[n]`` is
    ``p * log(n)``; ``work`` (p, p) is scratch.
    """
    p = mean.shape[1]
    na = size[a]
    for o in range(k):
        if o == a or o == skip:
            continue
        nb = size[o]
        nab = na + nb
        weight = na * nb / nab
        sq = 0.0
        for j in range(p):
            d = mean[o, j] - mean[a, j]
            sq += d * d
        tr = trace[a] + trace[o] + weight * sq
        log_trace = math.log((tr + alpha) / nab)
        logdet = -np.inf
        if nab > p:
            for i in range(p):
                wi = weight * (mean[o, i] - mean[a, i])
                for j in range(p):
                    work[i, j] = gram_a[i, j] + stored[o, i, j] + wi * (mean[o, j] - mean[a, j])
            logdet = _logdet_lu(work)
        if logdet > -np.inf:
            term_ab = nab * _logaddexp(logdet - p_log[int(nab)], log_trace)
        else:  # logaddexp(-inf, log_trace) is log_trace
            term_ab = nab * log_trace
        out[o] = term_ab - term[a] - term[o]


@njit(cache=True, nogil=True, error_model="numpy")
def _p_log_table(size, p):
    """``p * log(n)`` for ``n = 0 .. sum(size)`` (cluster sizes are whole numbers)."""
    n_rows = int(np.sum(size) + 0.5)
    table = np.full(n_rows + 1, -np.inf)
    for n in range(1, n_rows + 1):
        table[n] = p * math.log(float(n))
    return table


@njit(cache=True, nogil=True, error_model="numpy")
def _vvv_initial_costs(alpha, size, mean, trace, stored, term, p_log):
    """Starting cost matrix: ``cost[row, col]`` for ``col < row`` (the rest unset).

    The squared distances are accumulated column of the data by column of the
    data, as the NumPy path does, a row of the matrix at a time (so that the
    inner loop runs over contiguous memory).
    """
    k, p = mean.shape
    cost = np.empty((k, k))
    mean_t = np.ascontiguousarray(mean.T)
    ablog = math.log(alpha)
    for row in range(k):
        out = cost[row]
        for col in range(row):
            out[col] = 0.0
        for j in range(p):
            z = mean[row, j]
            column = mean_t[j]
            for col in range(row):
                half = (z - column[col]) * _SQRT_HALF
                out[col] += half * half
        for col in range(row):
            acc = out[col] + alpha
            acc /= 2.0
            acc = math.log(acc)
            acc *= 2.0
            out[col] = acc - (ablog + ablog)
    work = np.empty((p, p))
    row = np.empty(k)
    for g in range(k):
        if size[g] > 1:
            _vvv_costs_against(g, g, k, stored[g], size, mean, trace, stored, term, alpha,
                               p_log, row, work)
            for o in range(k):
                if o != g:
                    cost[max(g, o), min(g, o)] = row[o]
    return cost


@njit(cache=True, nogil=True, error_model="numpy")
def vvv_tree(alpha, size, mean, trace, stored, lead, term):
    """Whole VVV agglomeration from the starting statistics of ``_VVVCriterion``.

    The arrays are copied, not modified.  Returns the (K - 1, 2) 1-based
    label pairs and the merge costs, as ``_Agglomerator.run``.
    """
    size = size.copy()
    mean = mean.copy()
    trace = trace.copy()
    stored = stored.copy()
    lead = lead.copy()
    term = term.copy()
    k, p = mean.shape
    p_log = _p_log_table(size, p)
    cost = _vvv_initial_costs(alpha, size, mean, trace, stored, term, p_log)
    label = np.arange(1, k + 1)
    row_min = np.empty(k)
    row_arg = np.empty(k, dtype=np.intp)
    _init_cache(cost, row_min, row_arg)
    n_merges = max(k - 1, 0)
    pairs = np.empty((n_merges, 2), dtype=np.intp)
    costs = np.empty(n_merges)
    new_costs = np.empty(k)
    gram = np.empty((p, p))
    work = np.empty((p, p))
    diff = np.empty(p)
    # The first factor row of the latest cluster is, as in the NumPy path, either
    # a row of its own (latest_src = -1, in latest_lead) or whatever row of
    # ``lead`` sits in slot latest_src when it is read: a fallback taken from a
    # slot stays tied to that slot, also after another cluster moves into it
    # (mclust 6.0.0 reads it from its slot storage the same way).
    latest = -1
    latest_gram = np.zeros((p, p))
    latest_lead = np.zeros(p)
    latest_src = -1
    fallback = np.empty(p)
    for s in range(n_merges):
        b = _best_row(row_min, k)
        a = row_arg[b]
        merge_cost = cost[b, a]
        costs[s] = merge_cost
        na = size[a]
        nb = size[b]
        nab = na + nb
        weight = na * nb / nab
        for j in range(p):
            diff[j] = mean[b, j] - mean[a, j]
        # the new cluster's gram: exact when it involves the latest merge
        if latest == a or latest == b:
            other = b if latest == a else a
            for i in range(p):
                for j in range(p):
                    gram[i, j] = latest_gram[i, j] + stored[other, i, j]
            fallback_src = latest_src
            for i in range(p):
                fallback[i] = latest_lead[i] if latest_src < 0 else lead[latest_src, i]
        else:
            for i in range(p):
                for j in range(p):
                    gram[i, j] = stored[a, i, j] + stored[b, i, j]
            fallback_src = b if nb > 1 else (a if na > 1 else -1)
            for i in range(p):
                fallback[i] = diff[i] * _SQRT_HALF if fallback_src < 0 else lead[fallback_src, i]
        for i in range(p):
            for j in range(p):
                gram[i, j] = gram[i, j] + weight * (diff[i] * diff[j])
        term[a] = merge_cost + term[a] + term[b]
        # _GroupStats.merge
        sq = 0.0
        for j in range(p):
            sq += diff[j] * diff[j]
        trace[a] += trace[b] + (na * nb / nab) * sq
        for j in range(p):
            mean[a, j] += (nb / nab) * diff[j]
        size[a] = nab
        # first factor row (_lead_row) and mclust's stored gram (_stored_gram)
        if gram[0, 0] > 0:
            root = math.sqrt(gram[0, 0])
            for j in range(p):
                lead[a, j] = gram[0, j] / root
            latest_src = -1
        else:
            for j in range(p):
                lead[a, j] = fallback[j]
            latest_src = fallback_src
        for j in range(p):
            latest_lead[j] = lead[a, j]
        n_rows = min(int(nab) - 1, p)
        for i in range(p):
            for j in range(p):
                stored[a, i, j] = (lead[a, i] * lead[a, j]) * min(min(i, j) + 1, n_rows)
        latest = a
        for i in range(p):
            for j in range(p):
                latest_gram[i, j] = gram[i, j]
        _vvv_costs_against(a, b, k, latest_gram, size, mean, trace, stored, term, alpha,
                           p_log, new_costs, work)
        last = k - 1
        if b != last:  # _VVVCriterion.move(last, b)
            size[b] = size[last]
            trace[b] = trace[last]
            term[b] = term[last]
            for i in range(p):
                mean[b, i] = mean[last, i]
                lead[b, i] = lead[last, i]
                for j in range(p):
                    stored[b, i, j] = stored[last, i, j]
            if latest == last:
                latest = b
        low, high = _apply_merge(cost, label, row_min, row_arg, new_costs, a, b, k)
        pairs[s, 0] = low
        pairs[s, 1] = high
        k -= 1
    return pairs, costs


# ---------------------------------------------------------------------------
# EII (_EIICriterion, Ward)
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def eii_tree(size, mean):
    """Whole EII (Ward) agglomeration from the starting sizes and means.

    Costs follow the Lance-Williams formula from the starting Ward costs.
    Returns the (K - 1, 2) 1-based label pairs and the merge costs.
    """
    size = size.copy()
    k, p = mean.shape
    scaled = np.empty((k, p))
    for g in range(k):
        root = math.sqrt(size[g])
        for j in range(p):
            scaled[g, j] = root * mean[g, j]
    cost = np.empty((k, k))  # only the lower triangle is used
    for row in range(k):
        for col in range(row):
            nab = size[row] + size[col]
            w_row = math.sqrt(size[col] / nab)
            w_col = math.sqrt(size[row] / nab)
            acc = 0.0
            for j in range(p):
                v = w_row * scaled[row, j] - w_col * scaled[col, j]
                acc += v * v
            cost[row, col] = acc
    label = np.arange(1, k + 1)
    row_min = np.empty(k)
    row_arg = np.empty(k, dtype=np.intp)
    _init_cache(cost, row_min, row_arg)
    n_merges = max(k - 1, 0)
    pairs = np.empty((n_merges, 2), dtype=np.intp)
    costs = np.empty(n_merges)
    new_costs = np.empty(k)
    for s in range(n_merges):
        b = _best_row(row_min, k)
        a = row_arg[b]
        d_ab = cost[b, a]
        costs[s] = d_ab
        na = size[a]
        nb = size[b]
        for o in range(k):
            if o != a and o != b:
                nk = size[o]
                d_a = cost[max(a, o), min(a, o)]
                d_b = cost[max(b, o), min(b, o)]
                new_costs[o] = ((nk + na) * d_a + (nk + nb) * d_b - nk * d_ab) / (nk + na + nb)
        size[a] = na + nb
        last = k - 1
        if b != last:
            size[b] = size[last]
        low, high = _apply_merge(cost, label, row_min, row_arg, new_costs, a, b, k)
        pairs[s, 0] = low
        pairs[s, 1] = high
        k -= 1
    return pairs, costs
