"""The diagonal covariance structures: ``diag`` (per-feature variances), ``spherical`` (one).

See :mod:`emkit.families.covariance` for the storage shapes and the interface.
"""

from __future__ import annotations

import numpy as np

from .covariance_base import (
    LOG_2PI,
    CovarianceStructure,
    _deficit_terms,
    _degenerate,
    _weighted_deficit,
    scatter_diagonal,
    work_dtype,
)


class Diagonal(CovarianceStructure):
    name = "diag"
    fused_kind = "diag"

    def fused_factors(self, precisions_cholesky, n_components, n_features):
        prec = np.asarray(precisions_cholesky, dtype=np.float64) ** 2
        if prec.ndim == 1:  # spherical storage: one precision per component
            prec = np.repeat(prec[:, None], n_features, axis=1)
        return np.ascontiguousarray(prec)

    def moments(self, X, resp, centers):
        dtype = work_dtype(X)
        resp = np.asarray(resp, dtype=dtype)
        Xc = X - np.asarray(centers[0], dtype=dtype)
        first, second = resp.T @ Xc, resp.T @ (Xc * Xc)
        return first.astype(np.float64, copy=False), second.astype(np.float64, copy=False)

    def recenter_second(self, second, counts, first, delta):
        return second + 2.0 * first * delta + counts[:, None] * delta * delta

    def scatter(self, counts, first, second):
        return scatter_diagonal(counts, first, second, 0.0)

    def feature_scatter(self, counts, first, second):
        return (second - first * (first / counts[:, None])).sum(axis=0)

    def smallest_relative_variances(self, covariances, reference):
        return (covariances / reference).min(axis=1)

    def _variances(self, counts, first, second):
        d = first / counts[:, None]
        return np.maximum(second / counts[:, None] - d * d, 0.0)

    def estimate(self, counts, first, second, reg_covar, previous=None):
        return self._variances(counts, first, second) + reg_covar

    def precisions_cholesky(self, covariances, reg_covar=0.0):
        bad = ~(covariances > 0)
        if bad.any():
            k, j = np.argwhere(bad)[0]
            raise _degenerate(None if self.shares_covariance else int(k), reg_covar,
                              f"zero variance along feature {j}")
        return 1.0 / np.sqrt(covariances)

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(precisions_cholesky).sum(axis=1)

    def regularization_deficit(self, counts, covariances, reg_covar, n_features):
        if reg_covar == 0.0:
            return 0.0
        return _weighted_deficit(counts, _deficit_terms(covariances, reg_covar))

    def _differences(self, Xc, means_c):
        """(x - m_k) for every row and component, shape (n, K, D), in the rows' dtype."""
        dtype = work_dtype(Xc)
        return Xc[:, None, :] - np.asarray(means_c, dtype=dtype)[None, :, :]

    def mahalanobis(self, Xc, means_c, precisions_cholesky):
        diff = self._differences(Xc, means_c)
        diff *= np.asarray(precisions_cholesky, dtype=diff.dtype)[None, :, :]
        return np.einsum("ikd,ikd->ik", diff, diff)

    def _quadratic_coefficients(self, means_c, precisions_cholesky, n_features):
        """Coefficients of x^2 (per feature), of x, and constants of -0.5 * Mahalanobis."""
        prec = precisions_cholesky**2
        return -0.5 * prec, means_c * prec, -0.5 * (means_c * means_c * prec).sum(axis=1)

    def _expansion_is_exact(self, means_c, precisions_cholesky, dtype) -> bool:
        """Whether ``p x^2 - 2 p m x + p m^2`` is accurate for rows near every mean.

        For a row near the mean m_k (offsets from the centre), the expanded
        square loses about ``4 eps p m^2`` to cancellation: negligible (below
        2e-13) while every mean is within ~30 standard deviations of the
        centre; for components farther out (well-separated clusters,
        a start far from the data) the squares are formed from differences.
        """
        prec = np.asarray(precisions_cholesky, dtype=float) ** 2
        if prec.ndim == 1:
            prec = prec[:, None]
        with np.errstate(over="ignore", invalid="ignore"):
            worst = float(np.max(prec * means_c * means_c))
        return np.finfo(dtype).eps * worst <= 2e-13

    def log_prob(self, X, means, precisions_cholesky, center, log_weights=None):
        means_c = means - center
        dtype = work_dtype(X)
        if not self._expansion_is_exact(means_c, precisions_cholesky, dtype):
            return super().log_prob(X, means, precisions_cholesky, center, log_weights)
        # one GEMM: [x^2, x, 1] @ [-prec/2; mean*prec; constant]  ->  (n, K)
        n, D = X.shape
        squares, linear, constant = self._quadratic_coefficients(
            means_c, precisions_cholesky, D
        )
        constant = constant + self.log_det_cholesky(precisions_cholesky, *means.shape)
        constant -= 0.5 * D * LOG_2PI
        if log_weights is not None:
            constant = constant + log_weights
        n_square = squares.shape[1]
        design = np.empty((n, n_square + D + 1), dtype=dtype)
        Xc = design[:, n_square : n_square + D]
        np.subtract(X, np.asarray(center, dtype=dtype), out=Xc)
        if n_square == D:
            np.multiply(Xc, Xc, out=design[:, :D])
        else:
            design[:, 0] = np.einsum("ij,ij->i", Xc, Xc)
        design[:, -1] = 1.0
        coefficients = np.vstack([squares.T, linear.T, constant[None, :]])
        return design @ coefficients.astype(dtype, copy=False)

    def work_width(self, n_components, n_features):
        return n_components * n_features

    def precisions(self, precisions_cholesky):
        return precisions_cholesky**2

    def from_precisions(self, precisions, n_components, n_features):
        if not (precisions > 0).all():
            k, j = np.argwhere(~(precisions > 0))[0]
            raise ValueError(f"precisions_init[{k}, {j}] must be positive")
        return 1.0 / precisions, np.sqrt(precisions)

    def full_precisions(self, precisions_cholesky, n_components, n_features):
        prec = self.precisions(precisions_cholesky)
        if prec.ndim == 1:  # spherical
            prec = np.repeat(prec[:, None], n_features, axis=1)
        out = np.zeros((n_components, n_features, n_features))
        idx = np.arange(n_features)
        out[:, idx, idx] = prec
        return out

    def reduce_second(self, second_full):
        return np.diagonal(second_full, axis1=1, axis2=2).copy()

    def component_covariance(self, covariances, k, n_features):
        return np.diag(covariances[k])

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_parameters(self, n_components, n_features):
        return n_components * n_features


class Spherical(Diagonal):
    name = "spherical"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        return self._variances(counts, first, second).mean(axis=1) + reg_covar

    def precisions_cholesky(self, covariances, reg_covar=0.0):
        bad = ~(covariances > 0)
        if bad.any():
            raise _degenerate(None if self.shares_covariance else int(np.argmax(bad)), reg_covar,
                              "zero variance")
        return 1.0 / np.sqrt(covariances)

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return n_features * np.log(precisions_cholesky)

    def mahalanobis(self, Xc, means_c, precisions_cholesky):
        diff = self._differences(Xc, means_c)
        squared = np.einsum("ikd,ikd->ik", diff, diff)
        squared *= np.asarray(precisions_cholesky, dtype=squared.dtype) ** 2
        return squared

    def _quadratic_coefficients(self, means_c, precisions_cholesky, n_features):
        prec = precisions_cholesky**2
        return (
            -0.5 * prec[:, None],
            means_c * prec[:, None],
            -0.5 * prec * (means_c * means_c).sum(axis=1),
        )

    def smallest_relative_variances(self, covariances, reference):
        return covariances / np.max(reference)

    def regularization_deficit(self, counts, covariances, reg_covar, n_features):
        if reg_covar == 0.0:
            return 0.0
        # one eigenvalue of multiplicity D per component
        terms = _deficit_terms(covariances[:, None], reg_covar) * n_features
        return _weighted_deficit(counts, terms)

    def from_precisions(self, precisions, n_components, n_features):
        if not (precisions > 0).all():
            raise ValueError(
                f"precisions_init[{int(np.argmax(~(precisions > 0)))}] must be positive"
            )
        return 1.0 / precisions, np.sqrt(precisions)

    def component_covariance(self, covariances, k, n_features):
        return covariances[k] * np.eye(n_features)

    def shape(self, n_components, n_features):
        return (n_components,)

    def n_parameters(self, n_components, n_features):
        return n_components
