"""Compiled E-step kernels (numba).  Import through :mod:`emkit._kernels` only.

Every kernel processes one chunk of rows in a single pass and writes the
chunk's statistics into arrays the caller allocated (zero-filled), so that the
engine's chunk threads run them in parallel (``nogil``) and add the chunk
results in chunk order, as for the NumPy path.  ``cache=True`` keeps the
machine code on disk (next to this file, or in numba's user cache directory
when that is read-only), so only the very first call on a machine compiles.

``error_model="numpy"``: a division by zero gives inf/NaN as in NumPy instead
of raising; ``fastmath`` stays off, so results are those of IEEE arithmetic in
the written order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

#: Rows per block of the Gaussian kernels: their (K, block) work arrays stay in
#: cache; a multiple of LANES whose row stride (960 bytes) is a multiple of the
#: 64-byte cache line but not of 4 KiB (no 4K aliasing between rows of L).
GMM_BLOCK = 120
#: Partial sums per statistic (one SIMD register of float64): rows i go to slot i % LANES.
LANES = 8


@njit(**_JIT)
def kmeans_chunk(X, weights, unweighted, anchor, centers_a, block, counts, sums, far_index,
                 far_distance, far_label):
    """Nearest centres of a chunk: weighted counts, sums, farthest rows and the inertia.

    Rows are scored ``(x - a) . c_k - |c_k|^2 / 2`` (``a`` an ``anchor`` near the
    data, ``centers_a`` the centres minus it) with one BLAS GEMM per block of
    ``block`` rows, ``X c'`` with the anchor folded into the constant; the
    scores are (K, rows), so the argmax over k runs across rows, vectorised
    (first best on ties, as ``argmax``).  The squared distance is ``|x - a|^2 -
    2 max_k score`` (clipped at 0).  Rows of positive weight (all rows when
    ``unweighted``: ``weights`` is then not read) update the cluster's count
    and sum, and the K farthest of them are kept in ``far_*`` (index -1: unused
    slot).  Returns the weighted sum of the squared distances.
    """
    n, D = X.shape
    K = centers_a.shape[0]
    half = np.empty(K)
    for k in range(K):
        norm = 0.0
        shift = 0.0
        for j in range(D):
            norm += centers_a[k, j] * centers_a[k, j]
            shift += anchor[j] * centers_a[k, j]
        half[k] = 0.5 * norm + shift
    best = np.empty(block)
    label = np.empty(block, dtype=np.intp)
    # one score buffer for all blocks: a fresh (K, block) array per GEMM would be
    # a large malloc/free (mmap, page faults) per block
    buffer = np.empty(K * block)
    low = 0  # slot of the smallest distance kept in far_distance
    inertia = 0.0
    for start in range(0, n, block):
        rows = min(block, n - start)
        scores = buffer[: K * rows].reshape((K, rows))
        np.dot(centers_a, X[start : start + rows].T, scores)
        for i in range(rows):
            best[i] = scores[0, i] - half[0]
            label[i] = 0
        for k in range(1, K):
            for i in range(rows):
                value = scores[k, i] - half[k]
                better = value > best[i]
                best[i] = value if better else best[i]
                label[i] = k if better else label[i]
        for i in range(rows):
            row = start + i
            w = 1.0 if unweighted else weights[row]
            if not w > 0.0:
                continue
            cluster = label[i]
            counts[cluster] += w
            norm = 0.0
            for j in range(D):
                value = X[row, j]
                sums[cluster, j] += w * value
                t = value - anchor[j]
                norm += t * t
            distance = max(norm - 2.0 * best[i], 0.0)
            inertia += w * distance
            if distance > far_distance[low]:
                far_distance[low] = distance
                far_index[low] = row
                far_label[low] = cluster
                for k in range(K):
                    if far_distance[k] < far_distance[low]:
                        low = k
    return inertia


# ------------------------------------------------------------------ exp(x <= 0)
@intrinsic
def _int64_bits_as_float64(typingctx, value):
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return signature, codegen


@intrinsic
def _float64_bits_as_int64(typingctx, value):
    """Reinterpret the bits of a float64 as an int64 (no conversion)."""
    signature = types.int64(types.float64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return signature, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1
_LN2_LO = 1.42860682030941723212e-6
_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
      2.00000000000000000009e0)
#: Below this exp(x) is flushed to 0 (2^-1022, the smallest normal float64).
_EXP_FLUSH = -600.0
#: 1.5 * 2^52: adding it rounds a float of magnitude < 2^51 to an integer that its
#: low mantissa bits then hold (bits(v + ROUND) = bits(ROUND) + round(v)).
_ROUND = 6755399441055744.0
#: bits(ROUND) - 1023: ``(bits(v + ROUND) - _EXPONENT_OFFSET) << 52`` are the bits of 2^round(v).
_EXPONENT_OFFSET = 0x4338000000000000 - 1023


@njit(inline="always", **_JIT)
def exp_nonpositive(x):
    """exp(x) for x <= 0, vectorisable (no calls), within 2 ulp of libm.

    Cephes' rational approximation: x = n ln2 + r with |r| <= ln2/2, exp(r)
    from a (2, 3) Pade form, 2^n from the exponent bits.  n is rounded by
    adding 1.5 * 2^52 and read from the sum's bits, not converted with
    ``int64(floor(.))``: AVX2 has no packed float64 -> int64 conversion, and
    with one the loops calling this were not vectorised (9 ns per call
    instead of about 1).  Results below 2^-1022 are flushed to 0 (they cannot
    change a sum that contains 1).
    """
    flush = x < _EXP_FLUSH
    x = max(x, _EXP_FLUSH)
    rounded = _LOG2E * x + _ROUND
    n = rounded - _ROUND
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    rr = r * r
    p = r * ((_P[0] * rr + _P[1]) * rr + _P[2])
    q = ((_Q[0] * rr + _Q[1]) * rr + _Q[2]) * rr + _Q[3]
    scale = _int64_bits_as_float64((_float64_bits_as_int64(rounded) - _EXPONENT_OFFSET) << 52)
    value = (1.0 + 2.0 * (p / (q - p))) * scale
    return 0.0 if flush else value


# ------------------------------------------------------------ work arrays
_ALIGN = 64  # bytes: a cache line, one AVX-512 register


@njit(inline="always", **_JIT)
def _aligned(shape, fill):
    """Work array of ``shape`` starting on a cache line (misaligned SIMD loads split lines).

    ``fill`` None leaves it uninitialised, else every entry is set to it.
    """
    size = 1
    for extent in shape:
        size *= extent
    buffer = np.empty(size + _ALIGN // 8)
    offset = ((_ALIGN - buffer.ctypes.data % _ALIGN) % _ALIGN) // 8
    out = buffer[offset : offset + size]
    if fill is not None:
        out[:] = fill
    return out.reshape(shape)


# ------------------------------------------------------------ Gaussian mixtures
@njit(inline="always", **_JIT)
def _normalize_block(L, top, total, rows, K):
    """Per row of a block: max_k, then L <- exp(L - max) and their sum (in place)."""
    for i in range(rows):
        top[i] = L[0, i]
    for k in range(1, K):
        for i in range(rows):
            value = L[k, i]
            top[i] = value if value > top[i] else top[i]
    for i in range(rows):
        if not top[i] > -np.inf:  # every component impossible: as the NumPy path
            top[i] = 0.0
        total[i] = 0.0
    for k in range(K):
        for i in range(rows):
            e = exp_nonpositive(L[k, i] - top[i])
            L[k, i] = e
            total[i] += e


@njit(inline="always", **_JIT)
def _finish_block(L, top, total, weights, start, rows, padded, K, row_objective):
    """Row log-likelihoods; L becomes the weighted responsibilities (0 past ``rows``)."""
    for i in range(rows):
        row_objective[start + i] = math.log(total[i]) + top[i]
        total[i] = weights[start + i] / total[i]
    for k in range(K):
        for i in range(rows):
            L[k, i] *= total[i]
        for i in range(rows, padded):
            L[k, i] = 0.0


@njit(inline="always", **_JIT)
def _add_lanes(acc, values, padded):
    """acc[l] += sum of values[i] over i = l (mod LANES), i < padded (vectorised)."""
    for base in range(0, padded, LANES):
        for lane in range(LANES):
            acc[lane] += values[base + lane]


@njit(inline="always", **_JIT)
def _add_lanes_product(acc, values, other, padded):
    """acc[l] += sum of values[i] * other[i] over i = l (mod LANES), i < padded."""
    for base in range(0, padded, LANES):
        for lane in range(LANES):
            acc[lane] += values[base + lane] * other[base + lane]


@njit(inline="always", **_JIT)
def _diag_block(X, start, rows, padded, center, stat_center, means_c, precisions, constant,
                y, d, dd, L):
    """Rows ``start .. start + rows`` of X into the block buffers (feature-major: ``y``
    about ``center``, ``d`` and ``dd = d**2`` about ``stat_center``, zero-padded to
    ``padded``) and their unnormalised log joints under diagonal precisions in ``L``."""
    D = X.shape[1]
    K = means_c.shape[0]
    for j in range(D):
        for i in range(rows):
            x = X[start + i, j]
            y[j, i] = x - center[j]
            d[j, i] = x - stat_center[j]
            dd[j, i] = d[j, i] * d[j, i]
        for i in range(rows, padded):
            d[j, i] = 0.0
            dd[j, i] = 0.0
    for k in range(K):
        for i in range(rows):
            L[k, i] = 0.0
        for j in range(D):
            mean = means_c[k, j]
            precision = precisions[k, j]
            for i in range(rows):
                t = y[j, i] - mean
                L[k, i] += precision * t * t
        for i in range(rows):
            L[k, i] = constant[k] - 0.5 * L[k, i]


@njit(**_JIT)
def gmm_diag_chunk(X, weights, center, means_c, precisions, constant, stat_center,
                   row_objective, counts, first, second):
    """Fused soft E-step for diagonal precisions (diagonal and spherical storages).

    ``log pi_k + log N = constant_k - sum_j precisions[k, j] (x_j - m_kj)^2 / 2``
    (rows and means shifted by ``center``), log-sum-exp over k, weighted
    responsibilities ``r``, and moments about the shared ``stat_center`` (D,):
    ``first[k] += r (x - c)``, ``second[k] += r (x - c)^2`` (K, D).  Rows are
    processed in blocks with the row index innermost (vectorised); sums run in
    per-row-slot accumulators, reduced at the end.
    """
    n, D = X.shape
    K = means_c.shape[0]
    B = GMM_BLOCK
    y = _aligned((D, B), None)
    d = _aligned((D, B), None)
    dd = _aligned((D, B), None)
    L = _aligned((K, B), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((K, D, LANES), 0.0)
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        _diag_block(X, start, rows, padded, center, stat_center, means_c, precisions,
                    constant, y, d, dd, L)
        _normalize_block(L, top, total, rows, K)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        for k in range(K):
            _add_lanes(acc_n[k], L[k], padded)
            for j in range(D):
                _add_lanes_product(acc_f[k, j], L[k], d[j], padded)
                _add_lanes_product(acc_s[k, j], L[k], dd[j], padded)
    for k in range(K):
        counts[k] += acc_n[k].sum()
        for j in range(D):
            first[k, j] += acc_f[k, j].sum()
            second[k, j] += acc_s[k, j].sum()


@njit(inline="always", **_JIT)
def _full_block(X, start, rows, padded, center, stat_center, means_c, factors, constant,
                x, y, diff, proj, L):
    """Rows ``start .. start + rows`` of X into the block buffers (feature-major: ``x``
    the rows, padded with ``stat_center[0]``; ``y`` about ``center``) and their
    unnormalised log joints ``constant_k - |(x - m_k) P_k|^2 / 2`` in ``L``."""
    D = X.shape[1]
    K = means_c.shape[0]
    for j in range(D):
        for i in range(rows):
            x[j, i] = X[start + i, j]
            y[j, i] = x[j, i] - center[j]
        for i in range(rows, padded):
            x[j, i] = stat_center[0, j]
    for k in range(K):
        for j in range(D):
            mean = means_c[k, j]
            for i in range(rows):
                diff[j, i] = y[j, i] - mean
        for i in range(rows):
            L[k, i] = 0.0
        for a in range(D):
            for i in range(rows):
                proj[i] = 0.0
            for b in range(D):
                factor = factors[k, b, a]
                if factor != 0.0:
                    for i in range(rows):
                        proj[i] += diff[b, i] * factor
            for i in range(rows):
                L[k, i] += proj[i] * proj[i]
        for i in range(rows):
            L[k, i] = constant[k] - 0.5 * L[k, i]


@njit(inline="always", **_JIT)
def _full_moments(L, x, diff, wd, weights, start, rows, padded, stat_center, pooled,
                  acc_n, acc_f, acc_s):
    """A block's moments (L: weighted responsibilities) into the per-lane sums: about
    each component's centre, or (``pooled``) about ``stat_center[0]`` with the second
    moments summed over components; upper triangles only."""
    D = x.shape[0]
    K = L.shape[0]
    if pooled:
        for j in range(D):
            for i in range(padded):
                diff[j, i] = x[j, i] - stat_center[0, j]
        for a in range(D):
            for i in range(rows):
                wd[i] = weights[start + i] * diff[a, i]
            for i in range(rows, padded):
                wd[i] = 0.0
            for b in range(a, D):
                _add_lanes_product(acc_s[0, a, b], wd, diff[b], padded)
    for k in range(K):
        _add_lanes(acc_n[k], L[k], padded)
        if not pooled:
            for j in range(D):
                for i in range(padded):
                    diff[j, i] = x[j, i] - stat_center[k, j]
        for j in range(D):
            _add_lanes_product(acc_f[k, j], L[k], diff[j], padded)
        if not pooled:
            for a in range(D):
                for i in range(padded):
                    wd[i] = L[k, i] * diff[a, i]
                for b in range(a, D):
                    _add_lanes_product(acc_s[k, a, b], wd, diff[b], padded)


@njit(inline="always", **_JIT)
def _full_reduce(acc_n, acc_f, acc_s, counts, first, second):
    """The per-lane sums into the statistics; second moments mirrored."""
    K, D = first.shape
    for k in range(K):
        counts[k] += acc_n[k].sum()
        for j in range(D):
            first[k, j] += acc_f[k, j].sum()
    for k in range(second.shape[0]):
        for a in range(D):
            for b in range(a, D):
                second[k, a, b] += acc_s[k, a, b].sum()
                second[k, b, a] = second[k, a, b]


@njit(inline="always", **_JIT)
def gmm_full_work(n_features, n_components, n_pooled):
    """Work arrays of :func:`gmm_full_chunk_into` (allocated once for many calls)."""
    D, K, B = n_features, n_components, GMM_BLOCK
    return (_aligned((D, B), None), _aligned((D, B), None), _aligned((D, B), None),
            _aligned((B,), None), _aligned((K, B), None), _aligned((B,), None),
            _aligned((B,), None), _aligned((B,), None), _aligned((K, LANES), 0.0),
            _aligned((K, D, LANES), 0.0), _aligned((n_pooled, D, D, LANES), 0.0))


@njit(**_JIT)
def gmm_full_chunk(X, weights, center, means_c, factors, constant, stat_center, pooled,
                   row_objective, counts, first, second):
    """Fused soft E-step for precision factors of any shape (full and tied storages).

    ``log pi_k + log N(x | m_k, Sigma_k) = constant_k - |(x - m_k) P_k|^2 / 2``
    (rows and means shifted by ``center``), log-sum-exp over k, weighted
    responsibilities ``r`` and the moments.  Per-component centres (``pooled``
    False, ``stat_center`` (K, D) the means): ``first[k] += r (x - m_k)``,
    ``second[k] += r (x - m_k)(x - m_k)'`` (K, D, D).  Pooled (tied): about the
    shared ``stat_center[0]``, ``second`` (1, D, D) summed over components
    (``sum_k r_k`` is the row weight).  Blocks of rows, row index innermost;
    only upper triangles of the second moments are accumulated, then mirrored.
    """
    work = gmm_full_work(X.shape[1], means_c.shape[0], second.shape[0])
    gmm_full_chunk_into(X, weights, center, means_c, factors, constant, stat_center, pooled,
                        row_objective, counts, first, second, work)


@njit(**_JIT)
def gmm_full_chunk_into(X, weights, center, means_c, factors, constant, stat_center, pooled,
                        row_objective, counts, first, second, work):
    """:func:`gmm_full_chunk` with its work arrays given (:func:`gmm_full_work`)."""
    n = X.shape[0]
    K = means_c.shape[0]
    B = GMM_BLOCK
    x, y, diff, proj, L, top, total, wd, acc_n, acc_f, acc_s = work
    acc_n[:] = 0.0
    acc_f[:] = 0.0
    acc_s[:] = 0.0
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        _full_block(X, start, rows, padded, center, stat_center, means_c, factors,
                    constant, x, y, diff, proj, L)
        _normalize_block(L, top, total, rows, K)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        _full_moments(L, x, diff, wd, weights, start, rows, padded, stat_center, pooled,
                      acc_n, acc_f, acc_s)
    _full_reduce(acc_n, acc_f, acc_s, counts, first, second)


@njit(**_JIT)
def gmm_diag_active_chunk(X, weights, mass, active, center, means_c, precisions, constant,
                          stat_center, row_objective, counts, first, second):
    """Sparse EM's partial E-step for diagonal precisions (:mod:`emkit.em.sparse`).

    For row i only the components ``active[i]`` are evaluated:
    ``l_a = constant_k - sum_j precisions[k, j] (x_j - m_kj)^2 / 2``; the
    responsibilities within the list are ``mass_i softmax(l)``, the row's
    objective ``mass_i (logsumexp(l) - log mass_i)``, and the moments about
    ``stat_center`` are added for those components only.  Rows of weight 0
    are skipped (objective 0).
    """
    n, D = X.shape
    m = active.shape[1]
    L = np.empty(m)
    y = np.empty(D)
    d = np.empty(D)
    for i in range(n):
        w = weights[i]
        if w == 0.0:
            row_objective[i] = 0.0
            continue
        for j in range(D):
            x = X[i, j]
            y[j] = x - center[j]
            d[j] = x - stat_center[j]
        top = -np.inf
        for a in range(m):
            k = active[i, a]
            s = 0.0
            for j in range(D):
                t = y[j] - means_c[k, j]
                s += precisions[k, j] * t * t
            L[a] = constant[k] - 0.5 * s
            if L[a] > top:
                top = L[a]
        total = 0.0
        for a in range(m):
            L[a] = math.exp(L[a] - top)
            total += L[a]
        q = mass[i]
        row_objective[i] = q * (top + math.log(total) - math.log(q))
        scale = w * q / total
        for a in range(m):
            k = active[i, a]
            r = L[a] * scale
            counts[k] += r
            for j in range(D):
                first[k, j] += r * d[j]
                second[k, j] += r * d[j] * d[j]


@njit(inline="always", **_JIT)
def _select_block(L, total, weights, start, rows, kept, best, active, mass):
    """Each row's ``m`` largest (unnormalised, ``L`` after :func:`_normalize_block`)
    responsibilities in descending order into ``active``, their share of ``total``
    into ``mass`` (1 for rows of weight 0); components outermost so that L is read
    along its rows."""
    K = L.shape[0]
    m = kept.shape[0]
    for a in range(m):
        for i in range(rows):
            kept[a, i] = a
            best[a, i] = -1.0
    for k in range(K):
        for i in range(rows):
            value = L[k, i]
            if value > best[m - 1, i]:
                a = m - 1
                while a > 0 and value > best[a - 1, i]:
                    best[a, i] = best[a - 1, i]
                    kept[a, i] = kept[a - 1, i]
                    a -= 1
                best[a, i] = value
                kept[a, i] = k
    for i in range(rows):
        inside = 0.0
        for a in range(m):
            active[start + i, a] = kept[a, i]
            inside += best[a, i]
        mass[start + i] = inside / total[i] if weights[start + i] != 0.0 else 1.0


@njit(**_JIT)
def gmm_diag_select_chunk(X, weights, center, means_c, precisions, constant, stat_center,
                          n_active, row_objective, counts, first, second, active, mass,
                          counts_a, first_a, second_a):
    """Sparse EM's full E-step for diagonal precisions: :func:`gmm_diag_chunk` plus lists.

    Besides the fused E-step's row log-likelihoods and moments (every
    component), each row's ``n_active`` components of largest responsibility
    go to ``active[i]`` (descending), their summed (unweighted) responsibility
    to ``mass[i]`` (1 for rows of weight 0), and their own moments to
    ``counts_a``, ``first_a``, ``second_a`` (the frozen part is the difference).
    """
    n, D = X.shape
    K = means_c.shape[0]
    m = n_active
    B = GMM_BLOCK
    y = _aligned((D, B), None)
    d = _aligned((D, B), None)
    dd = _aligned((D, B), None)
    L = _aligned((K, B), None)
    top = _aligned((B,), None)
    total = _aligned((B,), None)
    acc_n = _aligned((K, LANES), 0.0)
    acc_f = _aligned((K, D, LANES), 0.0)
    acc_s = _aligned((K, D, LANES), 0.0)
    kept = np.empty((m, B), dtype=np.int64)
    best = np.empty((m, B))
    for start in range(0, n, B):
        rows = min(B, n - start)
        padded = -(-rows // LANES) * LANES
        _diag_block(X, start, rows, padded, center, stat_center, means_c, precisions,
                    constant, y, d, dd, L)
        _normalize_block(L, top, total, rows, K)
        _select_block(L, total, weights, start, rows, kept, best, active, mass)
        _finish_block(L, top, total, weights, start, rows, padded, K, row_objective)
        for i in range(rows):
            for a in range(m):
                k = active[start + i, a]
                r = L[k, i]
                counts_a[k] += r
                for j in range(D):
                    first_a[k, j] += r * d[j, i]
                    second_a[k, j] += r * dd[j, i]
        for k in range(K):
            _add_lanes(acc_n[k], L[k], padded)
            for j in range(D):
                _add_lanes_product(acc_f[k, j], L[k], d[j], padded)
                _add_lanes_product(acc_s[k, j], L[k], dd[j], padded)
    for k in range(K):
        counts[k] += acc_n[k].sum()
        for j in range(D):
            first[k, j] += acc_f[k, j].sum()
            second[k, j] += acc_s[k, j].sum()
