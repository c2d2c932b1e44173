"""Gaussian log-densities and moments on a subset of (row, component) pairs.

Sparse EM (:mod:`emkit.em.sparse`) evaluates, for every row, only its few
active components: ``active`` is an (n, m) array of component indices.  The
work is O(n m D) instead of O(n K D) (O(n m D^2) instead of O(n K D^2) for
full covariances).  Implemented for the diagonal structures ("diag",
"spherical" and mclust's EII, VII, EEI, VEI, EVI, VVI, E, V: moments about one
common centre) and the per-component full ones ("full" and mclust's EEV, EVV,
VEE, VEV, EVE, VVE, VVV: moments about each mean, one product per component
over its pairs); for the pooled "tied" models the functions return None and
the caller evaluates every component (correct, not faster).  The compiled
kernels (:meth:`ActivePairsMixin.active_e_step`, :meth:`~ActivePairsMixin.select_e_step`)
cover the diagonal, full and tied models.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .. import _kernels
from ._numeric import check_rows_evaluable
from .covariance import LOG_2PI, CovarianceStructure, Diagonal, Full, work_dtype


def supports_active(structure: CovarianceStructure) -> bool:
    """Whether :func:`log_prob_active` and :func:`moments_active` apply to ``structure``."""
    return isinstance(structure, (Diagonal, Full))


def _pairs_by_component(active: np.ndarray, n_components: int):
    """(pair order sorted by component, start of each component's pairs (K + 1,))."""
    flat = np.asarray(active).ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.zeros(n_components + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat, minlength=n_components), out=bounds[1:])
    return order, bounds


def _full_mahalanobis_active(Xc, means_c, precisions_cholesky, active):
    """||(x_i - m_k) P_k||^2 on the pairs, one product per component (its pairs' rows)."""
    n, m = active.shape
    K = means_c.shape[0]
    out = np.empty(n * m, dtype=Xc.dtype)
    order, bounds = _pairs_by_component(active, K)
    factors = np.asarray(precisions_cholesky, dtype=Xc.dtype)
    for k in range(K):
        pairs = order[bounds[k]:bounds[k + 1]]
        if pairs.size:
            y = (Xc[pairs // m] - means_c[k]) @ factors[k]
            out[pairs] = np.einsum("ij,ij->i", y, y)
    return out.reshape(n, m)


def log_prob_active(structure: CovarianceStructure, X: np.ndarray, means: np.ndarray,
                    precisions_cholesky: np.ndarray, center: np.ndarray,
                    log_weights: np.ndarray, active: np.ndarray) -> np.ndarray | None:
    """``log pi_k + log N(x_i | mean_k, Sigma_k)`` for ``k = active[i, j]``, shape (n, m).

    Equal (to rounding) to the same entries of ``structure.log_prob``; rows
    and means are centred at ``center`` first and the squares formed from
    differences (no cancellation).  None when the structure has no such path.
    """
    if not supports_active(structure):
        return None
    K, D = means.shape
    dtype = work_dtype(X)
    center = np.asarray(center, dtype=dtype)
    Xc = X - center
    means_c = np.asarray(means - center, dtype=dtype)
    if isinstance(structure, Full):
        maha = _full_mahalanobis_active(Xc, means_c, precisions_cholesky, active)
    else:
        factors = np.asarray(precisions_cholesky, dtype=dtype)
        if factors.ndim == 1:  # spherical storage: one factor per component
            factors = factors[:, None]
        diff = Xc[:, None, :] - means_c[active]
        diff *= factors[active]
        maha = np.einsum("imd,imd->im", diff, diff)
    constant = structure.log_det_cholesky(precisions_cholesky, K, D) - 0.5 * D * LOG_2PI
    constant = (constant + log_weights).astype(dtype, copy=False)
    maha *= -0.5
    maha += constant[active]
    return maha


def moments_active(structure: CovarianceStructure, X: np.ndarray, active: np.ndarray,
                   resp: np.ndarray, centers: np.ndarray, n_components: int):
    """(counts, first, second) of responsibilities ``resp`` (n, m) on the pairs ``active``.

    The moments are those of ``structure.moments`` with a dense (n, K)
    responsibility matrix that is ``resp`` on the pairs and 0 elsewhere:
    ``first_k = sum_i r_ik (x_i - c)``, ``second_k = sum_i r_ik (x_i - c) ** 2``
    about the common centre ``c = centers[0]``, by one sparse product.
    None when the structure has no such path.
    """
    if not supports_active(structure):
        return None
    n, m = active.shape
    dtype = work_dtype(X)
    values = np.asarray(resp, dtype=np.float64).ravel()
    if isinstance(structure, Full):  # moments about each component's own centre
        K, D = centers.shape
        order, bounds = _pairs_by_component(active, K)
        first, second = np.zeros((K, D)), np.zeros((K, D, D))
        for k in range(K):
            pairs = order[bounds[k]:bounds[k + 1]]
            if pairs.size:
                diff = (X[pairs // m] - np.asarray(centers[k], dtype=dtype)).astype(
                    np.float64, copy=False)
                r = values[pairs]
                first[k] = r @ diff
                second[k] = (diff * r[:, None]).T @ diff
        counts = np.bincount(np.asarray(active).ravel(), weights=values, minlength=K)
        return counts, first, second
    Xc = X - np.asarray(centers[0], dtype=dtype)
    rows = np.repeat(np.arange(n), m)
    flat = np.asarray(active).ravel()
    R = scipy.sparse.csc_matrix((values, (flat, rows)), shape=(n_components, n))
    both = R @ np.hstack([Xc, Xc * Xc]).astype(np.float64, copy=False)
    D = X.shape[1]
    counts = np.bincount(flat, weights=values, minlength=n_components)
    return counts, np.ascontiguousarray(both[:, :D]), np.ascontiguousarray(both[:, D:])


class ActivePairsMixin:
    """Sparse EM's hooks of :class:`~emkit.families.gaussian.GaussianMixtureModel`."""

    def log_joint_active(self, params, X: np.ndarray, active: np.ndarray):
        """:meth:`log_joint` on the pairs ``(i, active[i, j])`` only, shape (n, m), or None.

        Sparse EM's partial E-step (:mod:`emkit.em.sparse`); None (evaluate every
        component) for chunks with missing values and structures without the
        path (:mod:`emkit.families.active_pairs`).
        """
        if self._layout(X) is not None:
            return None
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        out = log_prob_active(
            self.structure, X, params.means, params.precisions_cholesky,
            self._global_center(params), log_weights, active)
        return None if out is None else check_rows_evaluable(out, X)

    def statistics_active(self, params, X: np.ndarray, active: np.ndarray,
                          resp: np.ndarray):
        """:meth:`statistics` of responsibilities ``resp`` (n, m) on the pairs ``active``.

        None (use the dense path) as for :meth:`log_joint_active`.
        """
        if self._layout(X) is not None:
            return None
        centers = self.centers(params.weights, params.means)
        out = moments_active(self.structure, X, active, resp, centers,
                             params.weights.shape[0])
        if out is None:
            return None
        from .gaussian import GaussianStatistics

        counts, first, second = out
        return GaussianStatistics(counts, first, second, centers, self.structure)

    def _sparse_kernels_apply(self, X: np.ndarray) -> bool:
        """Whether sparse EM's compiled E-steps take this chunk: kernels on, a complete
        chunk, a structure with a fused kernel ("diag": diagonal and spherical models;
        "full": per-component and tied factors) and at most
        :data:`~emkit.families.gaussian.FUSED_MAX_FEATURES` features for "full"."""
        from .gaussian import FUSED_MAX_FEATURES

        kind = self.structure.fused_kind
        if kind is None or (kind == "full" and X.shape[1] > FUSED_MAX_FEATURES["full"]):
            return False
        return _kernels.use_numba(self.kernel_work) and self._layout(X) is None

    def active_e_step(self, params, X: np.ndarray, weights: np.ndarray,
                      active: np.ndarray, mass: np.ndarray):
        """Sparse EM's fused partial E-step of a chunk (compiled kernel), or None.

        ``(row objectives, statistics)`` equal to :mod:`emkit.em.sparse`'s
        generic partial step (``log_joint_active``, renormalisation within the
        lists to ``mass``, ``statistics_active``) up to rounding; None when the
        kernels are off, the structure has no fused kernel, or the chunk has
        missing values (:meth:`_sparse_kernels_apply`).
        """
        if not self._sparse_kernels_apply(X):
            return None
        form = self._fused_form(params)
        row_objective, counts, first, second = _kernels.gaussian_active_e_step(
            form, X, weights, active, mass)
        if not np.isfinite(row_objective).all():  # rare: re-evaluate to name the row
            check_rows_evaluable(self.log_joint(params, X), X)
        from .gaussian import GaussianStatistics

        stats = GaussianStatistics(counts, first, second, form.stat_centers, self.structure)
        return row_objective, stats

    def select_e_step(self, params, X: np.ndarray, weights: np.ndarray, n_active: int):
        """Sparse EM's fused full E-step of a chunk (compiled kernel), or None.

        ``(row log-likelihoods, active lists (n, m), active masses (n,),
        statistics of the active pairs, statistics of the others)``: the
        generic full step of :mod:`emkit.em.sparse` (``log_joint``, the
        posterior, the ``n_active`` largest responsibilities, the two parts'
        statistics) in one pass without (rows x K) arrays; the frozen part is
        the fused E-step's statistics minus the active pairs'.  None as for
        :meth:`active_e_step`.
        """
        if not self._sparse_kernels_apply(X):
            return None
        from .gaussian import GaussianStatistics

        form = self._fused_form(params)
        row_objective, active, mass, full, part = _kernels.gaussian_select_e_step(
            form, X, weights, n_active)
        if not np.isfinite(row_objective).all():  # rare: re-evaluate to name the row
            check_rows_evaluable(self.log_joint(params, X), X)
        centers, structure = form.stat_centers, self.structure
        live = GaussianStatistics(*part, centers, structure)
        frozen = GaussianStatistics(*(a - b for a, b in zip(full, part, strict=True)),
                                    centers, structure)
        return row_objective, active, mass, live, frozen
