"""The dense covariance structures: ``full`` (one matrix per component) and ``tied`` (one shared).

See :mod:`emkit.families.covariance` for the storage shapes and the interface.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .covariance_base import (
    CovarianceStructure,
    _check_spd,
    _deficit_terms,
    _degenerate,
    _inverse_from_cholesky,
    _triangular_inverse,
    _weighted_deficit,
    scatter_full,
    work_dtype,
)


class Full(CovarianceStructure):
    name = "full"
    per_component_centers = True
    fused_kind = "full"

    def fused_factors(self, precisions_cholesky, n_components, n_features):
        return np.ascontiguousarray(precisions_cholesky, dtype=np.float64)

    def moments(self, X, resp, centers):
        K, D = centers.shape
        dtype = work_dtype(X)
        resp = np.asarray(resp, dtype=dtype)
        work_centers = np.asarray(centers, dtype=dtype)
        first = np.empty((K, D))
        second = np.empty((K, D, D))
        Xc = np.empty(X.shape, dtype=dtype)
        weighted = np.empty(X.shape, dtype=dtype)
        # float32: each chunk's GEMM in single precision, stored (and summed) in float64
        product = second[0] if dtype is np.float64 else np.empty((D, D), dtype=dtype)
        for k in range(K):
            np.subtract(X, work_centers[k], out=Xc)
            r = resp[:, k]
            np.multiply(Xc, r[:, None], out=weighted)
            first[k] = r @ Xc
            out = second[k] if dtype is np.float64 else product
            np.matmul(weighted.T, Xc, out=out)
            if out is product:
                second[k] = product
        return first, second

    def recenter_second(self, second, counts, first, delta):
        cross = first[:, :, None] * delta[:, None, :]
        return (
            second
            + cross
            + cross.transpose(0, 2, 1)
            + counts[:, None, None] * delta[:, :, None] * delta[:, None, :]
        )

    def scatter(self, counts, first, second):
        return scatter_full(counts, first, second, 0.0)

    def feature_scatter(self, counts, first, second):
        return np.einsum("kii->i", second) - (first * (first / counts[:, None])).sum(axis=0)

    def smallest_relative_variances(self, covariances, reference):
        scale = 1.0 / np.sqrt(reference)
        standardized = covariances * scale[:, None] * scale[None, :]
        return np.linalg.eigvalsh(standardized)[..., 0]

    def relative_variance_bound(self, precisions_cholesky, reference):
        return 1.0 / np.einsum("i,kij,kij->k", reference, precisions_cholesky,
                               precisions_cholesky)

    def estimate(self, counts, first, second, reg_covar, previous=None):
        d = first / counts[:, None]
        cov = second / counts[:, None, None] - d[:, :, None] * d[:, None, :]
        cov = 0.5 * (cov + cov.transpose(0, 2, 1))
        idx = np.arange(cov.shape[1])
        cov[:, idx, idx] += reg_covar
        return cov

    def precisions_cholesky(self, covariances, reg_covar=0.0):
        K = covariances.shape[0]
        lower = None
        if np.isfinite(covariances).all():
            try:  # one batched call (the same LAPACK factorisation as per component)
                lower = np.linalg.cholesky(covariances)
            except np.linalg.LinAlgError:
                pass
        if lower is None:  # name the first component that fails
            lower = np.empty_like(covariances)
            for k in range(K):
                if not np.isfinite(covariances[k]).all():
                    raise _degenerate(k, reg_covar, "no spread along some direction")
                try:
                    lower[k] = linalg.cholesky(covariances[k], lower=True)
                except linalg.LinAlgError:
                    raise _degenerate(k, reg_covar, "not positive definite") from None
        out = np.empty_like(covariances)
        for k in range(K):
            out[k] = _triangular_inverse(lower[k]).T
        return out

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)

    def regularization_deficit(self, counts, covariances, reg_covar, n_features):
        if reg_covar == 0.0:
            return 0.0
        terms = _deficit_terms(np.linalg.eigvalsh(covariances), reg_covar)
        return _weighted_deficit(counts, terms)

    def mahalanobis(self, Xc, means_c, precisions_cholesky):
        # one GEMM for all components: [x - c, 1] @ [P_k ; -(m_k - c) P_k] = (x - m_k) P_k
        n, D = Xc.shape
        K = means_c.shape[0]
        dtype = work_dtype(Xc)
        design = np.empty((n, D + 1), dtype=dtype)
        design[:, :D] = Xc
        design[:, D] = 1.0
        coefficients = np.empty((D + 1, K, D))
        coefficients[:D] = precisions_cholesky.transpose(1, 0, 2)
        coefficients[D] = -np.einsum("kd,kde->ke", means_c, precisions_cholesky)
        projected = design @ coefficients.reshape(D + 1, K * D).astype(dtype, copy=False)
        projected = projected.reshape(n, K, D)
        return np.einsum("ikd,ikd->ik", projected, projected)

    def work_width(self, n_components, n_features):
        return n_components * n_features

    def precisions(self, precisions_cholesky):
        return precisions_cholesky @ precisions_cholesky.transpose(0, 2, 1)

    def from_precisions(self, precisions, n_components, n_features):
        chol = np.empty_like(precisions)
        cov = np.empty_like(precisions)
        for k in range(n_components):
            chol[k] = _check_spd(precisions[k], f"precisions_init[{k}]")
            cov[k] = _inverse_from_cholesky(chol[k])
        return cov, chol

    def full_precisions(self, precisions_cholesky, n_components, n_features):
        return self.precisions(precisions_cholesky)

    def reduce_second(self, second_full):
        return second_full

    def component_covariance(self, covariances, k, n_features):
        return covariances[k]

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2


class Tied(CovarianceStructure):
    name = "tied"
    shares_covariance = True
    fused_kind = "full"
    fused_pooled = True

    def fused_factors(self, precisions_cholesky, n_components, n_features):
        return np.ascontiguousarray(
            np.broadcast_to(precisions_cholesky, (n_components, n_features, n_features)),
            dtype=np.float64,
        )

    def moments(self, X, resp, centers):
        dtype = work_dtype(X)
        resp = np.asarray(resp, dtype=dtype)
        Xc = X - np.asarray(centers[0], dtype=dtype)
        first = resp.T @ Xc
        second = (Xc * resp.sum(axis=1)[:, None]).T @ Xc
        return first.astype(np.float64, copy=False), second.astype(np.float64, copy=False)

    def recenter_second(self, second, counts, first, delta):
        # pooled over components, each about its own new centre c_k - delta_k
        cross = first.T @ delta
        return second + cross + cross.T + (delta * counts[:, None]).T @ delta

    def scatter(self, counts, first, second):
        d = first / counts[:, None]
        return second - (d * counts[:, None]).T @ d

    def feature_scatter(self, counts, first, second):
        return np.diag(second) - (first * (first / counts[:, None])).sum(axis=0)

    def smallest_relative_variances(self, covariances, reference):
        scale = 1.0 / np.sqrt(reference)
        standardized = covariances * scale[:, None] * scale[None, :]
        return np.linalg.eigvalsh(standardized)[:1]

    def relative_variance_bound(self, precisions_cholesky, reference):
        return np.array([1.0 / np.einsum("i,ij,ij->", reference, precisions_cholesky,
                                         precisions_cholesky)])

    def estimate(self, counts, first, second, reg_covar, previous=None):
        d = first / counts[:, None]
        between = (d * counts[:, None]).T @ d
        cov = (second - between) / counts.sum()
        cov = 0.5 * (cov + cov.T)
        cov.flat[:: cov.shape[0] + 1] += reg_covar
        return cov

    def precisions_cholesky(self, covariances, reg_covar=0.0):
        if not np.isfinite(covariances).all():
            raise _degenerate(None, reg_covar, "non-finite entries")
        try:  # numpy's wrapper costs a fifth of scipy's; the same LAPACK factorisation
            lower = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise _degenerate(None, reg_covar, "not positive definite") from None
        return _triangular_inverse(lower).T

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.full(n_components, np.log(np.diag(precisions_cholesky)).sum())

    def regularization_deficit(self, counts, covariances, reg_covar, n_features):
        if reg_covar == 0.0:
            return 0.0
        terms = _deficit_terms(np.linalg.eigvalsh(covariances), reg_covar)
        return float(0.5 * counts.sum() * terms)

    def mahalanobis(self, Xc, means_c, precisions_cholesky):
        dtype = work_dtype(Xc)
        Y = Xc @ np.asarray(precisions_cholesky, dtype=dtype)
        M = (means_c @ precisions_cholesky).astype(dtype)
        maha = np.empty((Xc.shape[0], means_c.shape[0]), dtype=dtype)
        for k in range(means_c.shape[0]):
            y = Y - M[k]
            maha[:, k] = np.einsum("ij,ij->i", y, y)
        return maha

    def precisions(self, precisions_cholesky):
        return precisions_cholesky @ precisions_cholesky.T

    def from_precisions(self, precisions, n_components, n_features):
        chol = _check_spd(precisions, "precisions_init")
        return _inverse_from_cholesky(chol), chol

    def full_precisions(self, precisions_cholesky, n_components, n_features):
        return np.broadcast_to(self.precisions(precisions_cholesky),
                               (n_components, n_features, n_features))

    def reduce_second(self, second_full):
        return second_full.sum(axis=0)

    def component_covariance(self, covariances, k, n_features):
        return covariances

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    def n_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2
