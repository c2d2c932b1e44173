"""Gaussian E-step and statistics for rows with missing values (missing at random).

For a row with observed coordinates O and missing M, under component k with
mean mu and precision Lambda = Sigma^{-1}:

* the conditional distribution of x_M given x_O is Gaussian with covariance
  ``Lambda_MM^{-1}`` and mean ``mu_M + delta``, ``delta = -Lambda_MM^{-1} g_M``,
  where ``g = Lambda d`` and ``d = x - mu`` with its missing entries set to 0;
* the marginal log-density of x_O is the full log-density at the completed row
  ``x_hat = (x_O, mu_M + delta)`` plus ``(m/2) log 2 pi - (1/2) log |Lambda_MM|``
  (m = |M|), and the Mahalanobis term is ``d.g + delta.g_M``;
* the expected sufficient statistics use E[x] = x_hat and
  E[x x'] = x_hat x_hat' + C with ``C_MM = Lambda_MM^{-1}`` (the conditional
  covariance; plugging in means alone would underestimate the covariance).

Rows are grouped by missingness pattern: ``Lambda_MM`` is inverted once per
pattern and component, and rows with the same number of missing values are
processed together with batched NumPy operations.  Rows whose every value is
missing carry no information: their log-density is 0 and they add nothing to
the statistics.
"""

from __future__ import annotations

import dataclasses

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


@dataclasses.dataclass
class MissingGroup:
    """Rows of a chunk that miss the same number ``m`` of values."""

    rows: np.ndarray  # (n_m,) row indices in the chunk
    missing_columns: np.ndarray  # (n_m, m) sorted missing column indices per row
    pattern_of_row: np.ndarray  # (n_m,) index into ``patterns``
    patterns: np.ndarray  # (P_m, m) missing columns of each distinct pattern


@dataclasses.dataclass
class MissingLayout:
    """How the incomplete rows of a chunk are organised."""

    filled: np.ndarray  # the chunk's rows with NaN replaced by 0
    missing: np.ndarray  # boolean mask of missing entries
    incomplete_rows: np.ndarray  # row indices with at least one NaN
    groups: list[MissingGroup]
    empty_rows: np.ndarray  # row indices with every value missing


def missing_layout(X: np.ndarray) -> MissingLayout | None:
    """Group the incomplete rows of ``X`` by number of missing values and pattern.

    Returns None when ``X`` has no missing value.
    """
    missing = np.isnan(X)
    per_row = missing.sum(axis=1)
    incomplete = np.flatnonzero(per_row)
    if incomplete.size == 0:
        return None
    n_features = X.shape[1]
    groups = []
    for m in np.unique(per_row[incomplete]):
        if m == n_features:
            continue
        rows = incomplete[per_row[incomplete] == m]
        columns = np.nonzero(missing[rows])[1].reshape(rows.shape[0], m)
        patterns, pattern_of_row = np.unique(columns, axis=0, return_inverse=True)
        groups.append(MissingGroup(rows, columns, pattern_of_row.ravel(), patterns))
    filled = np.where(missing, 0.0, X)
    empty = incomplete[per_row[incomplete] == n_features]
    return MissingLayout(filled, missing, incomplete, groups, empty)


def _pattern_blocks(precision: np.ndarray, patterns: np.ndarray):
    """Inverse and log-determinant of Lambda_MM for every pattern (batched)."""
    blocks = precision[patterns[:, :, None], patterns[:, None, :]]
    sign, log_det = np.linalg.slogdet(blocks)
    return np.linalg.inv(blocks), log_det


def _complete(layout: MissingLayout, mean: np.ndarray, precision: np.ndarray):
    """Residuals d = x_hat - mu of the incomplete rows, their Mahalanobis terms and the
    per-row correction of the log-density, plus the per-pattern conditional covariances."""
    rows = layout.incomplete_rows
    residual = layout.filled[rows] - mean
    residual[layout.missing[rows]] = 0.0
    gradient = residual @ precision
    maha = np.einsum("ij,ij->i", residual, gradient)
    correction = np.zeros(rows.shape[0])
    # position of each incomplete row inside ``rows``
    position = np.empty(layout.filled.shape[0], dtype=np.intp)
    position[rows] = np.arange(rows.shape[0])
    conditional = []
    for group in layout.groups:
        inverse, log_det = _pattern_blocks(precision, group.patterns)
        local = position[group.rows]
        g_missing = np.take_along_axis(gradient[local], group.missing_columns, axis=1)
        delta = -np.einsum("nij,nj->ni", inverse[group.pattern_of_row], g_missing)
        maha[local] += np.einsum("ij,ij->i", delta, g_missing)
        m = group.missing_columns.shape[1]
        correction[local] = 0.5 * m * LOG_2PI - 0.5 * log_det[group.pattern_of_row]
        residual[local[:, None], group.missing_columns] = delta
        conditional.append(inverse)
    empty = position[layout.empty_rows]
    residual[empty] = 0.0
    maha[empty] = 0.0
    return residual, maha, correction, conditional


def missing_log_prob(
    layout: MissingLayout,
    means: np.ndarray,
    precisions: np.ndarray,
    log_det_precisions: np.ndarray,
) -> np.ndarray:
    """log N(x_O | mu_kO, Sigma_kOO) for the incomplete rows, shape (n_incomplete, K).

    ``precisions`` are full (K, D, D) matrices; ``log_det_precisions`` their log-determinants.
    """
    n_features = means.shape[1]
    out = np.empty((layout.incomplete_rows.shape[0], means.shape[0]))
    for k in range(means.shape[0]):
        _, maha, correction, _ = _complete(layout, means[k], precisions[k])
        out[:, k] = -0.5 * (n_features * LOG_2PI + maha) + 0.5 * log_det_precisions[k] + correction
    empty = np.isin(layout.incomplete_rows, layout.empty_rows)
    out[empty] = 0.0
    return out


def missing_moments(
    layout: MissingLayout,
    resp: np.ndarray,
    means: np.ndarray,
    precisions: np.ndarray,
    centers: np.ndarray,
):
    """Counts, first and full second moments about ``centers`` of the incomplete rows.

    ``resp`` (n_incomplete, K) already includes row weights; rows with every value
    missing are skipped.  Returns counts (K,), first (K, D), second (K, D, D).
    """
    K, D = means.shape
    keep = ~np.isin(layout.incomplete_rows, layout.empty_rows)
    resp = resp * keep[:, None]
    counts = resp.sum(axis=0)
    first = np.empty((K, D))
    second = np.empty((K, D, D))
    position = np.empty(layout.filled.shape[0], dtype=np.intp)
    position[layout.incomplete_rows] = np.arange(layout.incomplete_rows.shape[0])
    for k in range(K):
        residual, _, _, conditional = _complete(layout, means[k], precisions[k])
        completed = residual + (means[k] - centers[k])
        r = resp[:, k]
        first[k] = r @ completed
        second[k] = (completed * r[:, None]).T @ completed
        for group, inverse in zip(layout.groups, conditional, strict=True):
            weight = np.bincount(group.pattern_of_row, weights=r[position[group.rows]],
                                 minlength=group.patterns.shape[0])
            idx = group.patterns
            np.add.at(second[k], (idx[:, :, None], idx[:, None, :]),
                      weight[:, None, None] * inverse)
    return counts, first, second
