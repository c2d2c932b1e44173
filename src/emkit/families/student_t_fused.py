"""The fused (compiled) E-step of Student-t mixtures: when it applies and its inputs.

Complete chunks of at most :data:`emkit.families.gaussian.FUSED_MAX_FEATURES`
columns take one compiled pass (:mod:`emkit._numba_student_t`) that gives the
row log-likelihoods and every statistic without (rows x components) arrays,
as the Gaussian kernels do; the NumPy path of
:class:`~emkit.families.student_t.StudentTFamily` is the reference they are
tested against.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np

from .. import _kernels
from .covariance import CovarianceStructure
from .gaussian import FUSED_MAX_FEATURES
from .student_t_dof import log_normaliser


def fused_applies(structure: CovarianceStructure, n_features: int, work: int | None) -> bool:
    """Whether complete chunks of ``n_features`` columns take a compiled kernel."""
    kind = structure.fused_kind
    return kind is not None and n_features <= FUSED_MAX_FEATURES[kind] and \
        _kernels.use_numba(work)


@dataclasses.dataclass(frozen=True)
class FusedStudentT:
    """The kernels' view of the parameters (computed once per E-step)."""

    kind: str
    center: np.ndarray
    means_c: np.ndarray
    factors: np.ndarray
    constant: np.ndarray  # log pi_k + log normaliser + log det P_k
    half_power: np.ndarray  # (nu_k + D) / 2
    inv_dof: np.ndarray
    dof: np.ndarray
    u_numer: np.ndarray  # nu_k + D
    log_u_max: np.ndarray  # log1p(D / nu_k) = log of the largest possible u
    stat_centers: np.ndarray
    pooled: bool


def _contiguous(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def fused_form(structure: CovarianceStructure, params, weights: np.ndarray,
               stat_centers: np.ndarray) -> FusedStudentT:
    """:class:`FusedStudentT` of t parameters and mixing weights."""
    K, D = params.means.shape
    dof = np.asarray(params.dof, dtype=float)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    center = params.means.mean(axis=0)
    constant = (log_weights + log_normaliser(dof, D)
                + structure.log_det_cholesky(params.precisions_cholesky, K, D))
    return FusedStudentT(
        kind=structure.fused_kind,
        center=_contiguous(center),
        means_c=_contiguous(params.means - center),
        factors=structure.fused_factors(params.precisions_cholesky, K, D),
        constant=_contiguous(constant),
        half_power=_contiguous(0.5 * (dof + D)),
        inv_dof=_contiguous(1.0 / dof),
        dof=_contiguous(dof),
        u_numer=_contiguous(dof + D),
        log_u_max=_contiguous(np.log1p(D / dof)),
        stat_centers=_contiguous(stat_centers),
        pooled=bool(structure.fused_pooled),
    )


def _module():
    return importlib.import_module("emkit._numba_student_t")


def t_e_step(form: FusedStudentT, X: np.ndarray, weights: np.ndarray):
    """One chunk: (row log-likelihoods, counts, u-weighted counts, first, second,
    sum r (log u - u + 1))."""
    X = _contiguous(X)
    weights = _contiguous(weights)
    n, D = X.shape
    K = form.means_c.shape[0]
    row_objective = np.empty(n)
    counts, counts_u, log_terms = np.zeros(K), np.zeros(K), np.zeros(K)
    first = np.zeros((K, D))
    kernels = _module()
    args = (form.half_power, form.inv_dof, form.dof, form.u_numer, form.log_u_max)
    if form.kind == "diag":
        second = np.zeros((K, D))
        kernels.t_diag_chunk(X, weights, form.center, form.means_c, form.factors,
                             form.constant, *args, form.stat_centers[0], row_objective,
                             counts, counts_u, first, second, log_terms)
        return row_objective, counts, counts_u, first, second, log_terms
    second = np.zeros((1 if form.pooled else K, D, D))
    kernels.t_full_chunk(X, weights, form.center, form.means_c, form.factors, form.constant,
                         *args, form.stat_centers, form.pooled, row_objective, counts,
                         counts_u, first, second, log_terms)
    return (row_objective, counts, counts_u, first, second[0] if form.pooled else second,
            log_terms)
