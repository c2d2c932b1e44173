"""Shared helpers of the compiled covariance M-steps (numba; see :mod:`._compiled_mstep`).

Status codes, input checks and small dense algebra.

Import through :mod:`emkit.families._compiled_mstep` only (numba is optional).
Each helper mirrors one NumPy helper of :mod:`emkit.families.decomposed` or
:mod:`emkit.families.covariance` (named in its docstring), in the same order
of operations where that is cheap: the kernels agree with the NumPy M-step up
to rounding.  Where the NumPy helper takes a general route (LU for
``slogdet``/``inv``) these use a Cholesky factorisation, which fails on
matrices that are not positive definite: the kernels then report failure and
the caller runs the NumPy M-step instead, so such matrices never get a
different treatment.

Everything is written as scalar loops: numba compiles array expressions
(``a += b``, ``np.where``, comparisons of arrays) into ufunc machinery that
costs seconds of compilation each, and the cache is cold on a new machine.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

#: Kernel statuses (see :mod:`._compiled_mstep`).
OK, NOT_FINITE, BAD_INPUT, NOT_POSITIVE_DEFINITE, ZERO_COUNT = 0, 1, 2, 3, 4


@njit(**_JIT)
def load_full(counts, scatter, reg_covar, out):
    """``scatter_full``: ``0.5 (S_k + S_k') + reg_covar n_k I`` for every k."""
    K, D, _ = scatter.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = 0.5 * (scatter[k, i, j] + scatter[k, j, i])
            out[k, i, i] += reg_covar * counts[k]


@njit(**_JIT)
def load_diagonal(counts, scatter, reg_covar, out):
    """``scatter_diagonal``: ``max(diag S_k, 0) + reg_covar n_k`` (K, D); NaN stays NaN."""
    K, D, _ = scatter.shape
    for k in range(K):
        for j in range(D):
            value = scatter[k, j, j]
            if value < 0.0:
                value = 0.0
            out[k, j] = value + reg_covar * counts[k]


@njit(**_JIT)
def all_finite(array) -> bool:
    """Whether every entry of a (K, D, D) array is finite."""
    K, D, _ = array.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                if not np.isfinite(array[k, i, j]):
                    return False
    return True


@njit(**_JIT)
def write_diagonal(values, out):
    """Diagonal matrices (K, D, D) from their diagonals (K, D)."""
    K, D = values.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = 0.0
            out[k, i, i] = values[k, i]


@njit(**_JIT)
def geometric_mean(values) -> float:
    """``decomposed.geometric_mean`` of a vector: exp(mean(log v)) (0 when an entry is 0)."""
    total = 0.0
    for j in range(values.shape[0]):
        total += np.log(values[j])
    return math.exp(total / values.shape[0])


@njit(**_JIT)
def unit_determinant(values):
    """``decomposed.unit_determinant`` of a vector (a new array)."""
    mean = geometric_mean(values)
    out = np.empty(values.shape[0])
    for j in range(values.shape[0]):
        out[j] = values[j] / mean
    return out


@njit(**_JIT)
def active_weights(counts):
    """(active, weight): ``decomposed._active`` (counts > 0) and the counts where active."""
    K = counts.shape[0]
    active = np.empty(K, dtype=np.bool_)
    weight = np.zeros(K)
    for k in range(K):
        active[k] = counts[k] > 0.0
        if active[k]:
            weight[k] = counts[k]
    return active, weight


@njit(**_JIT)
def copy_matrices(source, out):
    """out[k] = source[k] for (K, D, D) arrays."""
    K, D, _ = source.shape
    for k in range(K):
        for i in range(D):
            for j in range(D):
                out[k, i, j] = source[k, i, j]


@njit(**_JIT)
def sorted_eigh(matrix, values, vectors):
    """``decomposed._sorted_eigh`` of one matrix: descending eigenvalues clipped at 0."""
    D = matrix.shape[0]
    ascending, basis = np.linalg.eigh(matrix)
    for j in range(D):
        value = ascending[D - 1 - j]
        values[j] = 0.0 if value < 0.0 else value
        for i in range(D):
            vectors[i, j] = basis[i, D - 1 - j]


#: Sweeps of :func:`jacobi_sorted_eigh` before it hands over to LAPACK (it needs 4-8).
JACOBI_SWEEPS = 30
#: Eigenvalues closer than this (relative to the largest) hand over to LAPACK too.
TIED_EIGENVALUES = 1e-6
#: Largest matrices given to Jacobi (measured: 0.2 / 0.7 / 1.7 us against LAPACK's
#: 0.7 / 1.6 / 4.6 us at D = 2 / 3 / 4, but 29 against 18 us at D = 13).
JACOBI_MAX_FEATURES = 6


@njit(**_JIT)
def jacobi_sorted_eigh(matrix, values, vectors):
    """:func:`sorted_eigh` by cyclic Jacobi rotations, for the small matrices of the
    M-steps (numba's ``np.linalg.eigh`` costs 2-4 us of LAPACK set-up per call,
    about as much as the E-step of a small fit; this takes a fraction of that at
    D <= 20).  Off-diagonal entries that no longer change their diagonal entries
    (below rounding) are set to 0 after the fourth sweep; with
    :data:`JACOBI_SWEEPS` sweeps not enough, LAPACK finishes the job.  Both are
    backward stable: eigenvalues agree with LAPACK's to rounding of the norm,
    eigenvectors up to sign (which no M-step depends on) where the eigenvalues
    are distinct.  A repeated eigenvalue leaves the basis of its eigenspace free
    (any choice is an M-step, e.g. for a component without spread) and nearly
    repeated ones make the eigenvectors ill-conditioned: eigenvalues within
    :data:`TIED_EIGENVALUES` of each other are left to LAPACK, so that the
    M-step stays the NumPy path's.  Matrices larger than
    :data:`JACOBI_MAX_FEATURES` go to LAPACK directly (faster there).
    """
    D = matrix.shape[0]
    if D > JACOBI_MAX_FEATURES:
        sorted_eigh(matrix, values, vectors)
        return
    a = matrix.copy()
    v = np.zeros((D, D))
    for i in range(D):
        v[i, i] = 1.0
    for sweep in range(JACOBI_SWEEPS + 1):
        off = 0.0
        for p in range(D):
            for q in range(p + 1, D):
                off += abs(a[p, q])
        if off == 0.0:
            break
        if sweep == JACOBI_SWEEPS:
            sorted_eigh(matrix, values, vectors)
            return
        for p in range(D - 1):
            for q in range(p + 1, D):
                apq = a[p, q]
                if apq == 0.0:
                    continue
                app, aqq = a[p, p], a[q, q]
                negligible = 100.0 * abs(apq)
                if sweep > 3 and abs(app) + negligible == abs(app) and \
                        abs(aqq) + negligible == abs(aqq):
                    a[p, q] = 0.0
                    a[q, p] = 0.0
                    continue
                theta = (aqq - app) / (2.0 * apq)
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                a[p, p] = app - t * apq
                a[q, q] = aqq + t * apq
                a[p, q] = 0.0
                a[q, p] = 0.0
                for r in range(D):
                    if r != p and r != q:
                        arp, arq = a[r, p], a[r, q]
                        a[r, p] = c * arp - s * arq
                        a[p, r] = a[r, p]
                        a[r, q] = s * arp + c * arq
                        a[q, r] = a[r, q]
                for r in range(D):
                    vrp, vrq = v[r, p], v[r, q]
                    v[r, p] = c * vrp - s * vrq
                    v[r, q] = s * vrp + c * vrq
    taken = np.zeros(D, dtype=np.bool_)
    # descending, clipped at 0; ties: the earlier column first (as LAPACK orders a
    # diagonal matrix)
    for j in range(D):
        best = -1
        for i in range(D):
            if not taken[i] and (best < 0 or a[i, i] > a[best, best]):
                best = i
        taken[best] = True
        value = a[best, best]
        values[j] = 0.0 if value < 0.0 else value
        for i in range(D):
            vectors[i, j] = v[i, best]
    for j in range(1, D):
        if values[j - 1] - values[j] <= TIED_EIGENVALUES * values[0]:
            sorted_eigh(matrix, values, vectors)  # LAPACK's basis, as the NumPy M-step
            return


@njit(**_JIT)
def from_eigen(vectors, values, out):
    """``decomposed._from_eigen`` of one matrix: V diag(values) V', symmetrised."""
    D = vectors.shape[0]
    for i in range(D):
        for m in range(D):
            total = 0.0
            for j in range(D):
                total += vectors[i, j] * values[j] * vectors[m, j]
            out[i, m] = total
    for i in range(D):
        for m in range(i + 1, D):
            mean = 0.5 * (out[i, m] + out[m, i])
            out[i, m] = mean
            out[m, i] = mean


@njit(**_JIT)
def equal_volume_variable_shapes(counts, values, active, out):
    """``decomposed.equal_volume_variable_shapes``: lambda A_k (K, D) into ``out``."""
    K, D = values.shape
    volumes = np.zeros(K)
    total_volume = 0.0
    total_count = 0.0
    for k in range(K):
        if active[k]:
            volumes[k] = geometric_mean(values[k])
            total_count += counts[k]
        total_volume += volumes[k]
    volume = total_volume / total_count
    for k in range(K):
        for j in range(D):
            out[k, j] = volume * (values[k, j] / volumes[k]) if active[k] else volume


@njit(**_JIT)
def diagonal_objective(weight, scatter_diagonals, variances) -> float:
    """``decomposed._diagonal_objective``: Q of diagonal covariances (K, D)."""
    K, D = variances.shape
    total = 0.0
    for k in range(K):
        if weight[k] > 0.0:
            for j in range(D):
                total += (weight[k] * np.log(variances[k, j])
                          + scatter_diagonals[k, j] / variances[k, j])
    return -0.5 * total


@njit(**_JIT)
def cholesky(matrix, lower) -> bool:
    """Lower Cholesky factor into ``lower``; False unless the matrix is positive definite."""
    D = matrix.shape[0]
    for j in range(D):
        pivot = matrix[j, j]
        for m in range(j):
            pivot -= lower[j, m] * lower[j, m]
        if not pivot > 0.0:
            return False
        root = math.sqrt(pivot)
        lower[j, j] = root
        for i in range(j + 1, D):
            value = matrix[i, j]
            for m in range(j):
                value -= lower[i, m] * lower[j, m]
            lower[i, j] = value / root
        for i in range(j):
            lower[i, j] = 0.0
    return True


@njit(**_JIT)
def spd_inverse(matrix, lower, inverse):
    """(log det, ok) of a positive definite matrix, its inverse into ``inverse``.

    ``lower`` is work space (D, D).  Replaces NumPy's ``slogdet`` and ``inv``
    (LU) for matrices that must be positive definite.
    """
    D = matrix.shape[0]
    if not cholesky(matrix, lower):
        return 0.0, False
    logdet = 0.0
    for j in range(D):
        logdet += 2.0 * math.log(lower[j, j])
    # L^-1 in place of the upper triangle's transpose: solve L X = I column by column
    for c in range(D):
        for i in range(D):
            value = 1.0 if i == c else 0.0
            for m in range(c, i):
                value -= lower[i, m] * inverse[m, c]
            inverse[i, c] = value / lower[i, i] if i >= c else 0.0
    # (L L')^-1 = L^-T L^-1, symmetric
    for i in range(D):
        for j in range(i, D):
            total = 0.0
            for m in range(j, D):
                total += inverse[m, i] * inverse[m, j]
            lower[i, j] = total
    for i in range(D):
        for j in range(i, D):
            inverse[i, j] = lower[i, j]
            inverse[j, i] = lower[i, j]
    return logdet, True


@njit(**_JIT)
def trace_product(scatter, precision) -> float:
    """tr(W P) for symmetric W, P (``einsum("ij,ji->", W, P)``)."""
    D = scatter.shape[0]
    total = 0.0
    for i in range(D):
        for j in range(D):
            total += scatter[i, j] * precision[j, i]
    return total


@njit(**_JIT)
def full_objective(weight, scatter, covariances):
    """``decomposed._full_objective`` over the components with weight: (Q, ok).

    ``ok`` is False when a weighted covariance is not positive definite
    (NumPy's LU path would still give a number: the kernels then defer to it).
    """
    K, D, _ = scatter.shape
    lower = np.empty((D, D))
    inverse = np.empty((D, D))
    total = 0.0
    for k in range(K):
        if weight[k] > 0.0:
            logdet, ok = spd_inverse(covariances[k], lower, inverse)
            if not ok:
                return 0.0, False
            total += weight[k] * logdet + trace_product(scatter[k], inverse)
    return -0.5 * total, True


@njit(**_JIT)
def converged(old, new, tol) -> bool:
    """``decomposed._converged`` with the tolerance as an argument."""
    return abs(new - old) <= tol * max(1.0, abs(new))


@njit(**_JIT)
def circle_pairs(D):
    """``_orientation.flat_pairs(D)``: the circle ordering's pairs, round after round."""
    m = D + D % 2
    first = np.empty(max(m - 1, 0) * (m // 2), dtype=np.intp)
    second = np.empty(first.shape[0], dtype=np.intp)
    ring = np.empty(m - 1, dtype=np.intp)
    for t in range(m - 1):
        ring[t] = t + 1
    members = np.empty(m, dtype=np.intp)
    count = 0
    for _ in range(m - 1):
        members[0] = 0
        for t in range(m - 1):
            members[t + 1] = ring[t]
        for i in range(m // 2):
            a = members[i]
            b = members[m - 1 - i]
            low, high = min(a, b), max(a, b)
            if high < D:
                first[count] = low
                second[count] = high
                count += 1
        last = ring[m - 2]
        for t in range(m - 2, 0, -1):
            ring[t] = ring[t - 1]
        ring[0] = last
    first_pairs = np.empty(count, dtype=np.intp)
    second_pairs = np.empty(count, dtype=np.intp)
    for t in range(count):
        first_pairs[t] = first[t]
        second_pairs[t] = second[t]
    return first_pairs, second_pairs


@njit(**_JIT)
def check_inputs(counts, scatter):
    """BAD_INPUT when the counts or the scatter hold non-finite numbers, else OK."""
    for k in range(counts.shape[0]):
        if not np.isfinite(counts[k]):
            return BAD_INPUT
    return OK if all_finite(scatter) else BAD_INPUT


@njit(**_JIT)
def finish(out):
    return OK if all_finite(out) else NOT_FINITE


@njit(**_JIT)
def any_zero(counts) -> bool:
    for k in range(counts.shape[0]):
        if counts[k] == 0.0:
            return True
    return False


@njit(**_JIT)
def vector_sum(values) -> float:
    total = 0.0
    for k in range(values.shape[0]):
        total += values[k]
    return total


@njit(**_JIT)
def eigen_decompositions(counts, scatter, reg_covar):
    """The regularised scatter (K, D, D) and its ``_sorted_eigh`` (values, vectors)."""
    K, D, _ = scatter.shape
    regularized = np.empty((K, D, D))
    load_full(counts, scatter, reg_covar, regularized)
    values = np.empty((K, D))
    vectors = np.empty((K, D, D))
    for k in range(K):
        jacobi_sorted_eigh(regularized[k], values[k], vectors[k])
    return regularized, values, vectors


@njit(**_JIT)
def pooled_active(values, active):
    """sum over the active components of values[k] (K, D) -> (D,)."""
    K, D = values.shape
    pooled = np.zeros(D)
    for k in range(K):
        if active[k]:
            for j in range(D):
                pooled[j] += values[k, j]
    return pooled
