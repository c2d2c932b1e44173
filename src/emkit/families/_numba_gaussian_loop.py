"""The whole EM loop of a complete-data Gaussian mixture, compiled (numba).

Import through :mod:`emkit.families.gaussian_compiled` only (numba is
optional).  :func:`em_loop` runs E-step, statistics, M-step (one kernel of
:mod:`emkit.families._compiled_mstep` per covariance model, chosen by its
index in :data:`MODEL_CODES`), the engine's stopping rule and monotonicity
check, and the covariance checks, in one call.  It never raises and never
decides anything the NumPy path would report: any unusual event returns a
status other than :data:`OK` and the caller redoes the fit on the NumPy path
(:func:`emkit.em.engine.run_em`), which then gives the usual warning or error.

The E-step is the engine's blocked, vectorised kernel
(:func:`emkit._numba_kernels.gmm_full_chunk_into`, its work arrays allocated
once per run), or for one to four features
:mod:`emkit.families._numba_small_estep` (D a compile-time constant):
log-densities from the Cholesky factors ``L`` of the covariances
(``(x - mu)' Sigma^-1 (x - mu) = |L^-1 (x - mu)|^2``), moments about the
current means, from which the new means and the scatter about them follow (no
cancellation for data far from the origin).  Results
equal the NumPy path's up to float rounding.

A long run is cut into calls of a bounded amount of work by the caller
(:func:`emkit.families.gaussian_compiled.run_loop`): compiled code does not
see Ctrl-C, Python sees it between calls, and a run cut into calls equals the
run in one call bit for bit.

numba's disk cache of :func:`em_loop` is keyed by this file only: after
editing :mod:`emkit.families._compiled_mstep`, :mod:`emkit._numba_kernels` or
:mod:`emkit.families._numba_small_estep` (whose kernels are compiled into the
loop), delete this module's numba cache files
(``__pycache__/_numba_gaussian_loop.*.nbi`` / ``.nbc``) so the loop is recompiled.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numba_kernels import gmm_full_chunk_into, gmm_full_work
from ._compiled_mstep import (
    mstep_EEE,
    mstep_EEI,
    mstep_EEV,
    mstep_EII,
    mstep_EVE,
    mstep_EVI,
    mstep_EVV,
    mstep_VEE,
    mstep_VEI,
    mstep_VEV,
    mstep_VII,
    mstep_VVE,
    mstep_VVI,
    mstep_VVV,
)
from ._numba_small_estep import MAX_FEATURES as SMALL_MAX_FEATURES
from ._numba_small_estep import small_e_step

#: Covariance models in the order of their codes (mclust's order).
MODEL_CODES = ("EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
               "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")

# statuses of em_loop (anything but OK: redo the fit on the NumPy path)
OK = 0
NON_FINITE = 1      # an objective, mean or covariance is not finite
DECREASE = 2        # the objective decreased beyond float noise
EMPTY = 3           # a component's weight fell below the empty threshold
NOT_POSITIVE = 4    # a covariance is not positive definite (Cholesky failed)
NEAR_SINGULAR = 5   # the cheap degeneracy bound does not settle the check
M_STEP = 6          # the M-step kernel reported a problem
STATUS_NAMES = {OK: "ok", NON_FINITE: "non-finite value", DECREASE: "objective decreased",
                EMPTY: "empty component", NOT_POSITIVE: "covariance not positive definite",
                NEAR_SINGULAR: "covariance near singular", M_STEP: "M-step kernel failed"}

_LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True, nogil=True, error_model="numpy")
def _mstep(code, counts, scatter, previous, has_previous, reg_covar, max_inner, inner_tol,
           out):
    """The M-step kernel of model ``code`` (see MODEL_CODES)."""
    if code == 0:
        return mstep_EII(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 1:
        return mstep_VII(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 2:
        return mstep_EEI(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 3:
        return mstep_VEI(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 4:
        return mstep_EVI(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 5:
        return mstep_VVI(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 6:
        return mstep_EEE(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 7:
        return mstep_VEE(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 8:
        return mstep_EVE(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 9:
        return mstep_VVE(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 10:
        return mstep_EEV(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 11:
        return mstep_VEV(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    if code == 12:
        return mstep_EVV(counts, scatter, previous, has_previous, reg_covar, max_inner,
                         inner_tol, out)
    return mstep_VVV(counts, scatter, previous, has_previous, reg_covar, max_inner,
                     inner_tol, out)


@njit(cache=True, nogil=True, error_model="numpy")
def _factor(covariances, lower, half_log_det):
    """Cholesky factors ``L_k`` (lower) and ``sum log diag L_k``; False when one fails."""
    K, D, _ = covariances.shape
    for k in range(K):
        for a in range(D):
            for b in range(a + 1):
                s = covariances[k, a, b]
                for c in range(b):
                    s -= lower[k, a, c] * lower[k, b, c]
                if a == b:
                    if not s > 0.0 or not math.isfinite(s):
                        return False
                    lower[k, a, a] = math.sqrt(s)
                else:
                    lower[k, a, b] = s / lower[k, b, b]
            for b in range(a + 1, D):
                lower[k, a, b] = 0.0
        total = 0.0
        for a in range(D):
            total += math.log(lower[k, a, a])
        half_log_det[k] = total
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _inverse_factors(lower, inverse):
    """``inverse[k] = L_k^-1`` (lower triangular), so ``Sigma_k^-1 = inverse[k]' inverse[k]``."""
    K, D, _ = lower.shape
    for k in range(K):
        for j in range(D):
            for a in range(D):
                if a < j:
                    inverse[k, a, j] = 0.0
                    continue
                s = 1.0 if a == j else 0.0
                for c in range(j, a):
                    s -= lower[k, a, c] * inverse[k, c, j]
                inverse[k, a, j] = s / lower[k, a, a]


@njit(cache=True, nogil=True, error_model="numpy")
def _degeneracy_bound_ok(inverse, reference, limit):
    """Whether every covariance passes the degeneracy rule's cheap bound.

    With ``P = L^-T`` (``Sigma^-1 = P P'``; ``inverse`` holds ``L^-1``) the
    smallest variance of ``R^-1/2 Sigma R^-1/2`` is at least
    ``1 / sum_ij R_i P_ij^2`` (``CovarianceStructure.relative_variance_bound``).
    """
    K, D, _ = inverse.shape
    for k in range(K):
        total = 0.0
        for i in range(D):  # P_ij = (L^-1)_ji
            row = 0.0
            for j in range(D):
                row += inverse[k, j, i] * inverse[k, j, i]
            total += reference[i] * row
        if not 1.0 / total > limit:
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _e_step(X, w, log_weights, means, inverse, half_log_det, counts, first, second,
            factors, constant, origin, row_objective, work, XT, L, top, total):
    """Fused E-step and statistics about the current means; the weighted log-likelihood.

    ``counts`` (K,), ``first`` (K, D) = sum_i r_ik (x_i - mu_k) and ``second``
    (K, D, D) = sum_i r_ik (x_i - mu_k)(x_i - mu_k)', with ``r_ik`` the
    responsibilities times the row weights (``inverse`` holds the factors
    ``L_k^-1``), from the engine's blocked, vectorised kernel
    :func:`emkit._numba_kernels.gmm_full_chunk` (precision factors
    ``P_k = L_k^-T``), or at D <= 4 from
    :func:`~emkit.families._numba_small_estep.small_e_step` on the
    feature-major rows ``XT``.  ``factors``, ``constant``, ``origin`` (zeros),
    ``row_objective``, ``work`` (:func:`~emkit._numba_kernels.gmm_full_work`),
    ``L``, ``top`` and ``total`` are work arrays.  Returns NaN when a row of positive
    weight has a non-finite log-likelihood.
    """
    n, D = X.shape
    K = means.shape[0]
    for k in range(K):
        constant[k] = log_weights[k] - half_log_det[k] - 0.5 * D * _LOG_2PI
    if D <= SMALL_MAX_FEATURES:
        small_e_step(XT, w, constant, means, inverse, L, top, total, row_objective, counts,
                     first, second)
    else:
        for k in range(K):
            for a in range(D):
                for b in range(D):
                    factors[k, b, a] = inverse[k, a, b]
        counts[:] = 0.0
        first[:] = 0.0
        second[:] = 0.0
        gmm_full_chunk_into(X, w, origin, means, factors, constant, means, False,
                            row_objective, counts, first, second, work)
    total = 0.0
    for i in range(n):
        if w[i] != 0.0:
            if not math.isfinite(row_objective[i]):
                return np.nan
            total += w[i] * row_objective[i]
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _about_new_means(counts, first, second, centers, new_means, scatter):
    """New means and the scatter about them, from moments about ``centers``.

    As ``scatter_full``: ``W_k = S_k - f_k (f_k / n_k)'`` (symmetric by construction).
    """
    K, D = first.shape
    for k in range(K):
        c = counts[k]
        for a in range(D):
            new_means[k, a] = centers[k, a] + first[k, a] / c
        for a in range(D):
            shift = first[k, a] / c
            for b in range(a + 1):
                value = second[k, a, b] - first[k, b] * shift
                scatter[k, a, b] = value
                scatter[k, b, a] = value


@njit(cache=True, nogil=True, error_model="numpy")
def _partition_statistics(X, w, labels, counts, means, scatter):
    """Counts, means and scatter about the means of a hard partition (two passes)."""
    n, D = X.shape
    K = counts.shape[0]
    counts[:] = 0.0
    means[:] = 0.0
    scatter[:] = 0.0
    for i in range(n):
        k = labels[i]
        counts[k] += w[i]
        for a in range(D):
            means[k, a] += w[i] * X[i, a]
    for k in range(K):
        if counts[k] > 0.0:
            for a in range(D):
                means[k, a] /= counts[k]
    for i in range(n):
        k = labels[i]
        for a in range(D):
            da = w[i] * (X[i, a] - means[k, a])
            for b in range(a + 1):
                scatter[k, a, b] += da * (X[i, b] - means[k, b])
    for k in range(K):
        for a in range(D):
            for b in range(a):
                scatter[k, b, a] = scatter[k, a, b]


@njit(cache=True, nogil=True, error_model="numpy")
def _m_step(code, counts, new_means, scatter, covariances, has_previous, reg_covar,
            max_inner, inner_tol, empty_fraction, new_covariances, lower, half_log_det,
            reference, degenerate_rtol, inverse):
    """The M-step's covariances and their checks; a status (OK or why not)."""
    K, D = new_means.shape
    total = 0.0
    for k in range(K):
        total += counts[k]
    for k in range(K):
        if not counts[k] >= empty_fraction * total or not counts[k] > 0.0:
            return EMPTY
    status = _mstep(code, counts, scatter, covariances, has_previous, reg_covar, max_inner,
                    inner_tol, new_covariances)
    if status != 0:
        return M_STEP
    for k in range(K):
        for a in range(D):
            if not math.isfinite(new_means[k, a]):
                return NON_FINITE
            for b in range(D):
                if not math.isfinite(new_covariances[k, a, b]):
                    return NON_FINITE
    if not _factor(new_covariances, lower, half_log_det):
        return NOT_POSITIVE
    _inverse_factors(lower, inverse)
    if not _degeneracy_bound_ok(inverse, reference, degenerate_rtol):
        return NEAR_SINGULAR
    return OK


@njit(cache=True, nogil=True, error_model="numpy")
def em_loop(X, w, labels, weights, means, covariances, code, reg_covar, tol, max_iter,
            monotone, rtol, reference, degenerate_rtol, empty_fraction, max_inner,
            start_inner, inner_tol, history, done, last, previous):
    """Plain EM from (weights, means, covariances), updated in place.

    With ``labels`` of length n (a partition; else length 0) the run starts with
    the M-step from that partition (``params_from_responsibilities``; its
    inner iterations get ``start_inner`` rounds) and the given parameters are
    only overwritten.  Then, as :func:`emkit.em.engine.run_em`: at iteration t
    the E-step at the current parameters gives the mean objective
    ``history[t-1]``; a decrease beyond ``rtol * max(1, |previous|)`` (when
    ``monotone``) stops with DECREASE; the M-step follows; the run stops when
    the objective changed by less than ``tol``.  The parameters after the last
    M-step are left in the arrays.  Returns ``(status, n_iter, converged,
    log-likelihood sum, sum of log max responsibility)``, the last two at the
    final parameters with unit row weights (:func:`final_scores`).

    The run may be cut into calls (a compiled call does not see Ctrl-C): a call
    runs iterations ``done + 1 .. last`` (``last <= max_iter``) after ``done``
    ones, ``previous`` being the objective of iteration ``done`` (-inf when
    ``done`` is 0); ``labels`` are read only when ``done`` is 0.  A call that
    stops at ``last < max_iter`` without converging returns NaN scores; the next
    call goes on exactly where it stopped.
    """
    n, D = X.shape
    K = weights.shape[0]
    lower = np.empty((K, D, D))
    half_log_det = np.empty(K)
    log_weights = np.empty(K)
    factors = np.empty((K, D, D))
    constant = np.empty(K)
    origin = np.zeros(D)
    row_objective = np.empty(n)
    work = gmm_full_work(D, K, K)
    small = D <= SMALL_MAX_FEATURES
    XT = np.ascontiguousarray(X.T) if small else np.empty((D, 0))
    L = np.empty((K, n if small else 0))
    row_top = np.empty(n if small else 0)
    row_total = np.empty(n if small else 0)
    counts = np.empty(K)
    first = np.empty((K, D))
    second = np.empty((K, D, D))
    new_means = np.empty((K, D))
    scatter = np.empty((K, D, D))
    new_covariances = np.empty((K, D, D))
    inverse = np.empty((K, D, D))
    total_weight = 0.0
    for i in range(n):
        total_weight += w[i]
    if done == 0 and labels.shape[0] == n:
        _partition_statistics(X, w, labels, counts, new_means, scatter)
        status = _m_step(code, counts, new_means, scatter, covariances, False, reg_covar,
                         start_inner, inner_tol, empty_fraction, new_covariances, lower,
                         half_log_det, reference, degenerate_rtol, inverse)
        if status != OK:
            return status, 0, False, np.nan, np.nan
        total = counts.sum()
        for k in range(K):
            weights[k] = counts[k] / total
            for a in range(D):
                means[k, a] = new_means[k, a]
                for b in range(D):
                    covariances[k, a, b] = new_covariances[k, a, b]
    elif not _factor(covariances, lower, half_log_det):
        return NOT_POSITIVE, 0, False, np.nan, np.nan
    else:
        _inverse_factors(lower, inverse)
    converged = False
    n_iter = done
    for iteration in range(done + 1, last + 1):
        n_iter = iteration
        for k in range(K):
            log_weights[k] = math.log(weights[k]) if weights[k] > 0.0 else -np.inf
        objective = _e_step(X, w, log_weights, means, inverse, half_log_det, counts, first,
                            second, factors, constant, origin, row_objective, work, XT, L,
                            row_top, row_total) / total_weight
        if not math.isfinite(objective):
            return NON_FINITE, n_iter, False, np.nan, np.nan
        history[iteration - 1] = objective
        if monotone and math.isfinite(previous) and \
                objective < previous - rtol * max(1.0, abs(previous)):
            return DECREASE, n_iter, False, np.nan, np.nan
        _about_new_means(counts, first, second, means, new_means, scatter)
        status = _m_step(code, counts, new_means, scatter, covariances, True, reg_covar,
                         max_inner, inner_tol, empty_fraction, new_covariances, lower,
                         half_log_det, reference, degenerate_rtol, inverse)
        if status != OK:
            return status, n_iter, False, np.nan, np.nan
        total = counts.sum()
        for k in range(K):
            weights[k] = counts[k] / total
            for a in range(D):
                means[k, a] = new_means[k, a]
                for b in range(D):
                    covariances[k, a, b] = new_covariances[k, a, b]
        converged = abs(objective - previous) < tol
        previous = objective
        if converged:
            break
    if not converged and n_iter < max_iter:
        return OK, n_iter, False, np.nan, np.nan
    loglik, map_log_z = final_scores(X, weights, means, covariances)
    return OK, n_iter, converged, loglik, map_log_z


@njit(cache=True, nogil=True, error_model="numpy")
def final_scores(X, weights, means, covariances):
    """(sum of row log-likelihoods, sum of log max responsibility) at the parameters.

    NaN when a covariance cannot be factored or a row is not finite.
    """
    n, D = X.shape
    K = weights.shape[0]
    lower = np.empty((K, D, D))
    half_log_det = np.empty(K)
    if not _factor(covariances, lower, half_log_det):
        return np.nan, np.nan
    log_weights = np.empty(K)
    for k in range(K):
        log_weights[k] = math.log(weights[k]) if weights[k] > 0.0 else -np.inf
    y = np.empty(D)
    values = np.empty(K)
    constant = 0.5 * D * _LOG_2PI
    loglik = 0.0
    map_log_z = 0.0
    for i in range(n):
        top = -np.inf
        for k in range(K):
            q = 0.0
            for a in range(D):
                s = X[i, a] - means[k, a]
                for b in range(a):
                    s -= lower[k, a, b] * y[b]
                s /= lower[k, a, a]
                y[a] = s
                q += s * s
            values[k] = log_weights[k] - half_log_det[k] - constant - 0.5 * q
            if values[k] > top:
                top = values[k]
        s = 0.0
        for k in range(K):
            s += math.exp(values[k] - top)
        row = top + math.log(s)
        loglik += row
        map_log_z += top - row
    return loglik, map_log_z
