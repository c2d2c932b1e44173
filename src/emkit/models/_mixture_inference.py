"""Inference with a fitted :class:`~emkit.GaussianMixture` on rows with missing values.

Shared by :class:`~emkit.GaussianMixtureImputer` and
:class:`~emkit.MixtureOutlierDetector`, which wrap a mixture (``mixture_``)
fitted by EM on data where NaN marks a missing value.

For a row with observed coordinates O and missing coordinates M, under
component k (mean mu, covariance Sigma):

* ``p(x_O | k) = N(x_O | mu_O, Sigma_OO)`` (the missing coordinates are
  marginalised out), so ``p(k | x_O)`` is proportional to ``pi_k p(x_O | k)``;
* ``x_M | x_O, k ~ N(mu_M + Sigma_MO Sigma_OO^{-1} (x_O - mu_O),
  Sigma_MM - Sigma_MO Sigma_OO^{-1} Sigma_OM)``.

Rows are grouped by missingness pattern so that each conditional is
factorised once per pattern and component.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg
from sklearn.utils.validation import validate_data

from .._validation import check_finite
from ..families.structures import get_structure
from .gaussian_mixture import GaussianMixture

#: GaussianMixture parameters that the wrapping estimators expose (and pass on).
MIXTURE_PARAMS = (
    "n_components",
    "covariance_type",
    "tol",
    "reg_covar",
    "max_iter",
    "n_init",
    "init_params",
    "random_state",
)


def make_mixture(estimator: Any) -> GaussianMixture:
    """An unfitted GaussianMixture with the wrapping estimator's mixture parameters."""
    return GaussianMixture(**{name: getattr(estimator, name) for name in MIXTURE_PARAMS})


def validate_rows(estimator: Any, X: Any) -> np.ndarray:
    """Check X for inference with a fitted estimator: 2-D float64, same features.

    NaN marks a missing value (it may fill a whole column of a batch);
    infinities are errors naming their row and column.
    """
    X = validate_data(estimator, X, reset=False, dtype=np.float64, ensure_all_finite=False)
    check_finite(X, "X", allow_nan=True)
    return X


def log_density(mixture: GaussianMixture, X: np.ndarray) -> np.ndarray:
    """log p(x_O) of every row of X (0 for a row with nothing observed)."""
    return mixture.score_samples(X)


def _cholesky_or_root(cov: np.ndarray) -> np.ndarray:
    """A matrix L with L L' = cov (Cholesky; an eigen-root if cov is only semi-definite)."""
    cov = 0.5 * (cov + cov.T)
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(cov)
        return vectors * np.sqrt(np.clip(values, 0.0, None))


def complete(
    mixture: GaussianMixture, X: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """A copy of X with every NaN replaced under the fitted mixture.

    Parameters
    ----------
    mixture : GaussianMixture
        Fitted.
    X : ndarray of shape (n_samples, n_features)
        Validated (see :func:`validate_rows`); NaN marks a missing value.
    rng : numpy Generator or None
        None: replace x_M by its conditional mean
        ``E[x_M | x_O] = sum_k p(k | x_O) E[x_M | x_O, k]``.  A Generator: draw
        x_M from ``p(x_M | x_O)`` (a component k ~ p(k | x_O), then the
        Gaussian conditional of component k).

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        Observed entries are copied unchanged.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    missing = np.isnan(X)
    rows = np.flatnonzero(missing.any(axis=1))
    if rows.size == 0:
        return out
    resp = mixture.predict_proba(X[rows])
    means = mixture.means_
    K, D = means.shape
    structure = get_structure(mixture.covariance_type)
    covariances = [structure.component_covariance(mixture.covariances_, k, D) for k in range(K)]
    patterns, pattern_of_row = np.unique(missing[rows], axis=0, return_inverse=True)
    pattern_of_row = pattern_of_row.ravel()
    for p, pattern in enumerate(patterns):
        local = np.flatnonzero(pattern_of_row == p)
        idx = rows[local]
        m_cols, o_cols = np.flatnonzero(pattern), np.flatnonzero(~pattern)
        observed = X[np.ix_(idx, o_cols)]
        cond_means = np.empty((K, idx.size, m_cols.size))
        cond_roots = np.empty((K, m_cols.size, m_cols.size))
        for k in range(K):
            cov, mu = covariances[k], means[k]
            cov_mm = cov[np.ix_(m_cols, m_cols)]
            if o_cols.size:
                cov_om = cov[np.ix_(o_cols, m_cols)]
                factor = linalg.cho_factor(cov[np.ix_(o_cols, o_cols)], lower=True)
                gain = linalg.cho_solve(factor, cov_om)  # Sigma_OO^{-1} Sigma_OM, (o, m)
                cond_means[k] = mu[m_cols] + (observed - mu[o_cols]) @ gain
                cond_cov = cov_mm - cov_om.T @ gain
            else:
                cond_means[k] = mu[m_cols]
                cond_cov = cov_mm
            if rng is not None:
                cond_roots[k] = _cholesky_or_root(cond_cov)
        if rng is None:
            values = np.einsum("nk,knm->nm", resp[local], cond_means)
        else:
            cumulative = np.cumsum(resp[local], axis=1)
            u = rng.random(idx.size) * cumulative[:, -1]
            component = np.minimum((cumulative <= u[:, None]).sum(axis=1), K - 1)
            z = rng.standard_normal((idx.size, m_cols.size))
            values = cond_means[component, np.arange(idx.size)] + np.einsum(
                "nij,nj->ni", cond_roots[component], z
            )
        out[idx[:, None], m_cols] = values
    return out


def generator_from(random_state: Any) -> np.random.Generator:
    """A numpy Generator from an int, None, RandomState or Generator.

    A ``RandomState`` is advanced (a seed is drawn from it), so repeated calls
    with the same instance give different streams, as elsewhere in emkit.
    """
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(np.iinfo(np.int32).max)
    return np.random.default_rng(random_state)
