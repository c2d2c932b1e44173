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
    """Incomplete rows of a chunk that miss the same number ``m`` of values."""

    local: np.ndarray  # (n_m,) positions among the chunk's incomplete rows
    missing_columns: np.ndarray  # (n_m, m) sorted missing column indices per row
    pattern_of_row: np.ndarray  # (n_m,) index into ``patterns``
    patterns: np.ndarray  # (P_m, m) missing columns of each distinct pattern


@dataclasses.dataclass
class MissingLayout:
    """How the incomplete rows of a chunk are organised (depends only on the NaN mask)."""

    incomplete_rows: np.ndarray  # row indices (in the chunk) with at least one NaN
    complete_rows: np.ndarray  # the other rows
    groups: list[MissingGroup]
    empty: np.ndarray  # boolean over incomplete rows: nothing observed


def _pattern_codes(columns_missing: np.ndarray) -> np.ndarray:
    """One integer per row identifying its missingness pattern."""
    n_features = columns_missing.shape[1]
    if n_features <= 62:
        return columns_missing @ (np.int64(1) << np.arange(n_features, dtype=np.int64))
    return np.unique(columns_missing, axis=0, return_inverse=True)[1].ravel()


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
    counts = per_row[incomplete]
    masks = missing[incomplete]
    codes = _pattern_codes(masks)
    groups = []
    for m in np.unique(counts):
        if m == n_features:
            continue
        local = np.flatnonzero(counts == m)
        columns = np.nonzero(masks[local])[1].reshape(local.shape[0], m)
        _, first, pattern_of_row = np.unique(codes[local], return_index=True,
                                             return_inverse=True)
        groups.append(MissingGroup(local, columns, pattern_of_row.ravel(), columns[first]))
    return MissingLayout(incomplete, np.flatnonzero(per_row == 0), groups,
                         counts == n_features)


@dataclasses.dataclass
class Completion:
    """Component k's view of the incomplete rows: residuals x_hat - mu, Mahalanobis
    terms, log-density corrections and per-pattern conditional covariances."""

    residual: np.ndarray
    maha: np.ndarray
    correction: np.ndarray
    conditional: list[np.ndarray]


def incomplete_values(X: np.ndarray, layout: MissingLayout) -> tuple[np.ndarray, np.ndarray]:
    """The incomplete rows of ``X`` with NaN replaced by 0, and their NaN mask."""
    sub = X[layout.incomplete_rows]
    missing = np.isnan(sub)
    sub[missing] = 0.0
    return sub, missing


def complete_rows(
    values: tuple[np.ndarray, np.ndarray], layout: MissingLayout, mean: np.ndarray,
    precision: np.ndarray,
) -> Completion:
    """Conditional completion of the incomplete rows under one component.

    ``values`` comes from :func:`incomplete_values` (computed once per chunk).
    """
    sub, missing = values
    residual = sub - mean
    residual[missing] = 0.0
    gradient = residual @ precision
    maha = np.einsum("ij,ij->i", residual, gradient)
    correction = np.zeros(sub.shape[0])
    conditional = []
    for group in layout.groups:
        blocks = precision[group.patterns[:, :, None], group.patterns[:, None, :]]
        _, log_det = np.linalg.slogdet(blocks)
        inverse = np.linalg.inv(blocks)
        g_missing = np.take_along_axis(gradient[group.local], group.missing_columns, axis=1)
        delta = -np.einsum("nij,nj->ni", inverse[group.pattern_of_row], g_missing)
        maha[group.local] += np.einsum("ij,ij->i", delta, g_missing)
        m = group.missing_columns.shape[1]
        correction[group.local] = 0.5 * m * LOG_2PI - 0.5 * log_det[group.pattern_of_row]
        residual[group.local[:, None], group.missing_columns] = delta
        conditional.append(inverse)
    residual[layout.empty] = 0.0
    maha[layout.empty] = 0.0
    return Completion(residual, maha, correction, conditional)


def missing_log_prob(
    completions: list[Completion], log_det_precisions: np.ndarray, layout: MissingLayout
) -> np.ndarray:
    """log N(x_O | mu_kO, Sigma_kOO) for the incomplete rows, shape (n_incomplete, K)."""
    n_features = completions[0].residual.shape[1]
    out = np.empty((layout.incomplete_rows.shape[0], len(completions)))
    for k, c in enumerate(completions):
        out[:, k] = (
            -0.5 * (n_features * LOG_2PI + c.maha) + 0.5 * log_det_precisions[k] + c.correction
        )
    out[layout.empty] = 0.0
    return out


def missing_moments(
    completions: list[Completion],
    layout: MissingLayout,
    resp: np.ndarray,
    means: np.ndarray,
    centers: np.ndarray,
    conditional_resp: np.ndarray | None = None,
):
    """Counts, first and full second moments about ``centers`` of the incomplete rows.

    ``resp`` (n_incomplete, K) already includes row weights; rows with nothing
    observed are skipped.  Returns counts (K,), first (K, D), second (K, D, D).
    ``conditional_resp`` (default ``resp``) weights the conditional covariances
    separately from the outer products (Student-t: ``r u`` for the outer
    products, ``r`` for the covariances, since ``E[u C / u] = C``).
    """
    K, D = means.shape
    resp = np.where(layout.empty[:, None], 0.0, resp)
    conditional = resp if conditional_resp is None else conditional_resp
    counts = resp.sum(axis=0)
    first = np.empty((K, D))
    second = np.empty((K, D, D))
    for k, c in enumerate(completions):
        completed = c.residual + (means[k] - centers[k])
        r = resp[:, k]
        first[k] = r @ completed
        second[k] = (completed * r[:, None]).T @ completed
        for group, inverse in zip(layout.groups, c.conditional, strict=True):
            weight = np.bincount(group.pattern_of_row, weights=conditional[group.local, k],
                                 minlength=group.patterns.shape[0])
            idx = group.patterns
            np.add.at(second[k], (idx[:, :, None], idx[:, None, :]),
                      weight[:, None, None] * inverse)
    return counts, first, second
