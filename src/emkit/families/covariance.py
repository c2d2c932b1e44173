"""Covariance structures of Gaussian components: the one place that knows their algebra.

Each structure stores covariances and precision Cholesky factors in
scikit-learn's shapes:

=========  ==============  ==============================================
name       covariances     precisions_cholesky (P with P @ P.T = Sigma^-1)
=========  ==============  ==============================================
full       (K, D, D)       (K, D, D)
tied       (D, D)          (D, D)
diag       (K, D)          (K, D)  = 1 / sqrt(variances)
spherical  (K,)            (K,)    = 1 / sqrt(variance)
=========  ==============  ==============================================

and knows how to compute per-chunk moments (first and second moments of the
rows about a centre), how to re-centre them, how to turn summed moments into
covariances (the M-step), the log-densities (the E-step), and how many free
parameters it has.  Moments are taken about a centre close to the data (the
current means) so that ``E[xx'] - E[x]E[x]'`` does not cancel catastrophically.

The module gathers the pieces: the interface and the rules shared by all
structures (degeneracy, scatter, error messages) in
:mod:`emkit.families.covariance_base`, the dense structures (:class:`Full`,
:class:`Tied`) in :mod:`emkit.families.covariance_dense` and the diagonal ones
(:class:`Diagonal`, :class:`Spherical`) in
:mod:`emkit.families.covariance_diagonal`.  Import them from here.
"""

from __future__ import annotations

from .covariance_base import (
    DEGENERATE_RTOL,
    LOG_2PI,
    CovarianceStructure,
    reference_variances,
    scatter_diagonal,
    scatter_full,
    singular_error,
    work_dtype,
)
from .covariance_dense import Full, Tied
from .covariance_diagonal import Diagonal, Spherical

__all__ = [
    "DEGENERATE_RTOL",
    "LOG_2PI",
    "CovarianceStructure",
    "Diagonal",
    "Full",
    "Spherical",
    "Tied",
    "reference_variances",
    "scatter_diagonal",
    "scatter_full",
    "singular_error",
    "work_dtype",
]
