"""Log-densities of multivariate t components, with missing values marginalised.

For a row with observed coordinates O (p of them), component k's log-density is
the t density of ``x_O`` with the same nu, location ``mu_O`` and scale
``Sigma_OO``.  The squared distance ``delta_O`` and ``log|Sigma_OO|`` come from
the Gaussian completions of :mod:`emkit.families.missing`:
``-1/2 log|Sigma_OO| = -1/2 log|Sigma| - 1/2 log|Lambda_MM|`` (Lambda the
precision), which is the completion's log-density correction minus
``(m/2) log 2 pi``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .covariance import LOG_2PI, CovarianceStructure
from .missing import MissingLayout, complete_rows, incomplete_values
from .student_t_dof import log_normaliser


@dataclasses.dataclass
class Evaluation:
    """One chunk under one parameter value: distances, log-densities, missing layout."""

    delta: np.ndarray  # (n, K) squared Mahalanobis distances of the observed parts
    n_observed: np.ndarray | None  # (n,) observed coordinates per row; None: complete
    log_prob: np.ndarray | None  # (n, K); handed to the caller by log_prob
    layout: MissingLayout | None
    completions: list | None


def evaluate(structure: CovarianceStructure, params, X: np.ndarray,
             layout: MissingLayout | None) -> Evaluation:
    """Distances and log-densities of a chunk under t parameters (``StudentTParams``).

    ``layout`` is the chunk's :func:`~emkit.families.missing.missing_layout`
    (None when it has no missing value).
    """
    means, chol, dof = params.means, params.precisions_cholesky, params.dof
    K, D = means.shape
    half_log_det = structure.log_det_cholesky(chol, K, D)  # -1/2 log|Sigma_k|
    center = means.mean(axis=0)
    n = X.shape[0]
    delta = np.empty((n, K))
    out = np.empty((n, K))
    rows = slice(None) if layout is None else layout.complete_rows
    if layout is None or layout.complete_rows.size:
        Xc = X[rows] - center
        d = np.maximum(structure.mahalanobis(Xc, means - center, chol), 0.0)
        delta[rows] = d
        out[rows] = (log_normaliser(dof, D) + half_log_det
                     - 0.5 * (dof + D) * np.log1p(d / dof))
    if layout is None:
        return Evaluation(delta, None, out, None, None)
    precisions = structure.full_precisions(chol, K, D)
    values = incomplete_values(X, layout)
    completions = [complete_rows(values, layout, means[k], precisions[k]) for k in range(K)]
    p = D - values[1].sum(axis=1)
    m = (D - p).astype(float)
    d = np.stack([c.maha for c in completions], axis=1)
    d = np.maximum(d, 0.0)
    # -1/2 log|Sigma_OO| = -1/2 log|Sigma| - 1/2 log|Lambda_MM|
    half_log_det_o = half_log_det + np.stack([c.correction for c in completions], axis=1)
    half_log_det_o -= 0.5 * LOG_2PI * m[:, None]
    part = log_normaliser(dof, p) + half_log_det_o - 0.5 * (dof + p[:, None]) * np.log1p(
        d / dof)
    part[layout.empty] = 0.0
    inc = layout.incomplete_rows
    delta[inc] = d
    out[inc] = part
    n_observed = np.full(n, float(D))
    n_observed[inc] = p
    return Evaluation(delta, n_observed, out, layout, completions)
