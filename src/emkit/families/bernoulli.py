"""Bernoulli components: independent binary features.

``p(x | k) = prod_d p_kd^x_d (1 - p_kd)^(1 - x_d)``.

The log-density of a chunk is one matrix product,
``X @ (log p - log(1 - p)).T + sum_d log(1 - p_kd)``, so the E-step runs at
GEMM speed, and a ``scipy.sparse`` X (documents) is never densified: the
product is a sparse-dense one, proportional to the non-zeros.

Probabilities of exactly 0 or 1 (maximum likelihood, ``alpha=0``, can reach
them) are handled exactly: their infinite logs are left out of the products
and the rows they make impossible (a 1 where ``p = 0``, a 0 where ``p = 1``)
get log-density ``-inf`` from a separate count.

Missing values (NaN; explicitly stored NaN in a sparse matrix) drop their
term from the row's log-density and from the statistics.

Prior: each probability has a Beta(1 + alpha, 1 + alpha) prior, so ``alpha``
is a pseudo-count added to both outcomes: the MAP estimate is
``(ones + alpha) / (observed + 2 alpha)``; ``alpha = 0`` is maximum likelihood.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .._validation import check_real
from ..em.statistics import SufficientStatistics
from ._columns import ChunkCache
from .base import ComponentFamily
from .mixture import empty_components


@dataclasses.dataclass(frozen=True)
class BernoulliParams:
    """Success probabilities, shape (K, D)."""

    probabilities: np.ndarray


@dataclasses.dataclass(frozen=True)
class BernoulliStatistics(SufficientStatistics):
    """Responsibility-weighted counts per component and feature.

    Attributes
    ----------
    ones : ndarray (K, D)
        sum_i r_ik x_id over rows where x_id is observed.
    observed : ndarray (K, D)
        sum_i r_ik over rows where x_id is observed.
    """

    ones: np.ndarray
    observed: np.ndarray


def _is_sparse(X) -> bool:
    return sp.issparse(X)


def _split_missing(X):
    """(X with missing entries as 0, indicator of missing entries or None).

    Dense: float arrays with NaN.  Sparse (CSR): explicitly stored NaN.
    """
    if _is_sparse(X):
        nan = np.isnan(X.data)
        if not nan.any():
            return X, None
        missing = X.copy()
        missing.data = nan.astype(np.float64)
        missing.eliminate_zeros()
        values = X.copy()
        values.data = np.where(nan, 0.0, values.data)
        values.eliminate_zeros()
        return values, missing
    missing = np.isnan(X)
    if not missing.any():
        return X, None
    return np.where(missing, 0.0, X), missing.astype(np.float64)


def _any_missing(X: np.ndarray) -> bool:
    return bool(np.isnan(X).any())


def _safe_logs(probabilities: np.ndarray):
    """(log p, log(1 - p)) with -inf replaced by 0, and the masks of p == 0 and p == 1."""
    with np.errstate(divide="ignore"):
        log_p = np.log(probabilities)
        log_q = np.log1p(-probabilities)
    zero, one = probabilities <= 0.0, probabilities >= 1.0
    log_p[zero] = 0.0
    log_q[one] = 0.0
    return log_p, log_q, zero, one


@dataclasses.dataclass(frozen=True)
class _LogTerms:
    """What the E-step needs of the probabilities (one set per parameter value)."""

    log_odds: np.ndarray  # log p - log(1 - p), 0 where p is 0 or 1
    log_q: np.ndarray  # log(1 - p), 0 where p == 1
    log_q_sum: np.ndarray  # (K,)
    zero: np.ndarray | None  # mask p == 0 as float, None when there is none
    one: np.ndarray | None  # mask p == 1 as float, None when there is none

    @classmethod
    def of(cls, probabilities: np.ndarray) -> _LogTerms:
        log_p, log_q, zero, one = _safe_logs(probabilities)
        return cls(log_p - log_q, log_q, log_q.sum(axis=1),
                   zero.astype(np.float64) if zero.any() else None,
                   one.astype(np.float64) if one.any() else None)


def _product(X, matrix: np.ndarray) -> np.ndarray:
    """X @ matrix.T for dense or sparse X, as a dense (n, K) float64 array."""
    out = X @ matrix.T
    return np.asarray(out, dtype=np.float64)


def _transposed_product(resp: np.ndarray, X) -> np.ndarray:
    """resp.T @ X for dense or sparse X, shape (K, D)."""
    if _is_sparse(X):
        return np.asarray((X.T @ resp).T, dtype=np.float64)
    return resp.T @ X


class BernoulliFamily(ComponentFamily):
    """Independent Bernoulli features.

    Parameters
    ----------
    alpha : float, default=0.0
        Pseudo-count of the Beta(1 + alpha, 1 + alpha) prior on every
        probability (0: maximum likelihood).
    """

    name = "bernoulli"
    params_type = BernoulliParams

    def __init__(self, alpha: float = 0.0):
        self.alpha = check_real(alpha, "alpha", 0.0)
        # per dense chunk of a fit: whether it has missing entries (the NaN scan of
        # every entry cost as much as a third of an iteration's two matrix products)
        self._has_missing = ChunkCache()
        # (params, what log_prob needs of them): computed once per E-step, not per chunk
        self._log_terms: tuple[BernoulliParams, _LogTerms] | None = None

    def prepare(self, X, sample_weight: np.ndarray, *, cache_chunks: bool = True) -> None:
        """Start a fit: remember which chunks have missing entries."""
        self._has_missing.enable(cache_chunks)

    def _split(self, X):
        """:func:`_split_missing`, skipping the scan of chunks known to be complete."""
        if (not _is_sparse(X) and self._has_missing.enabled
                and not self._has_missing.get(X, _any_missing)):
            return X, None
        return _split_missing(X)

    def __getstate__(self) -> dict:  # pickling (Dask workers) drops the E-step cache
        return {**self.__dict__, "_log_terms": None}

    @property
    def has_prior(self) -> bool:
        return self.alpha > 0.0

    # --- data ---------------------------------------------------------------
    def check_data(self, X, what: str = "X"):
        """X must hold 0/1 (NaN: missing); names the first offending row and column."""
        values = X.data if _is_sparse(X) else X
        bad = ~((values == 0.0) | (values == 1.0) | np.isnan(values))
        if bad.any():
            if _is_sparse(X):
                coo = X.tocoo()
                index = int(np.flatnonzero(bad)[0])
                row, col, value = coo.row[index], coo.col[index], coo.data[index]
            else:
                row, col = np.argwhere(bad)[0]
                value = X[row, col]
            raise ValueError(
                f"{what} has value {float(value)!r} at row {row}, column {col}: a Bernoulli "
                "mixture needs binary features (0/1 or False/True; NaN marks a missing value)"
            )
        return X

    def init_view(self, X):
        """Dense rows for k-means: X itself (NaN as column means), or for sparse X a
        random Gaussian projection to at most 64 columns (distances approximately kept)."""
        if not _is_sparse(X):
            return super().init_view(X)
        values, _ = _split_missing(X)
        width = min(64, X.shape[1])
        rng = np.random.default_rng(0)
        projection = rng.standard_normal((X.shape[1], width)) / np.sqrt(width)
        return np.asarray(values @ projection)

    # --- E-step -------------------------------------------------------------
    def _terms(self, params: BernoulliParams) -> _LogTerms:
        """:class:`_LogTerms` of ``params``, computed once for all chunks of an E-step."""
        cached = self._log_terms
        if cached is not None and cached[0] is params:
            return cached[1]
        terms = _LogTerms.of(params.probabilities)
        self._log_terms = (params, terms)
        return terms

    def log_prob(self, params: BernoulliParams, X) -> np.ndarray:
        terms = self._terms(params)
        values, missing = self._split(X)
        out = _product(values, terms.log_odds)
        out += terms.log_q_sum
        if missing is not None:
            out -= _product(missing, terms.log_q)
        if terms.zero is not None or terms.one is not None:
            # rows with a 1 where p = 0, or an observed 0 where p = 1, are impossible
            impossible = np.zeros(out.shape) if terms.zero is None else _product(
                values, terms.zero)
            if terms.one is not None:
                ones_at_certain = _product(values, terms.one)
                observed_at_certain = terms.one.sum(axis=1)[None, :]
                if missing is not None:
                    observed_at_certain = observed_at_certain - _product(missing, terms.one)
                impossible += observed_at_certain - ones_at_certain
            out[impossible > 0.5] = -np.inf
        return out

    def statistics(self, params, X, resp: np.ndarray) -> BernoulliStatistics:
        values, missing = self._split(X)
        ones = _transposed_product(resp, values)
        observed = np.repeat(resp.sum(axis=0, dtype=np.float64)[:, None], X.shape[1], axis=1)
        if missing is not None:
            observed -= _transposed_product(resp, missing)
        return BernoulliStatistics(ones, observed)

    # --- M-step -------------------------------------------------------------
    def maximize(self, stats: BernoulliStatistics, params: BernoulliParams | None = None
                 ) -> BernoulliParams:
        """MAP (ML when alpha = 0) probabilities; a component-feature pair without
        observations keeps its previous probability (0.5 at initialisation)."""
        a = self.alpha
        denominator = stats.observed + 2.0 * a
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (stats.ones + a) / denominator
        # clip rounding (ones can exceed observed by an ulp)
        np.clip(p, 0.0, 1.0, out=p)
        unseen = ~(denominator > 0)
        counts = stats.observed.max(axis=1)
        empty = empty_components(counts) if counts.sum() > 0 else np.ones_like(counts, bool)
        if params is not None:
            keep = unseen | empty[:, None]
            p[keep] = params.probabilities[keep]
        else:
            p[unseen] = 0.5
        return BernoulliParams(p)

    def expected_log_prob(self, params: BernoulliParams, stats: BernoulliStatistics) -> float:
        """sum_i r_ik log p(x_i | k) summed over rows and components, from the statistics
        (``0 log 0`` is 0)."""
        log_p, log_q, zero, one = _safe_logs(params.probabilities)
        zeros = stats.observed - stats.ones
        if (zero & (stats.ones > 0)).any() or (one & (zeros > 0)).any():
            return -np.inf
        return float((stats.ones * log_p).sum() + (zeros * log_q).sum())

    def log_prior(self, params: BernoulliParams) -> float:
        if self.alpha == 0.0:
            return 0.0
        p = params.probabilities
        with np.errstate(divide="ignore"):
            return self.alpha * float(np.log(p).sum() + np.log1p(-p).sum())

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: BernoulliParams) -> int:
        return int(params.probabilities.size)

    def sample(self, params: BernoulliParams, labels: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        p = params.probabilities[labels]
        return (rng.random(p.shape) < p).astype(np.float64)

    def to_vector(self, params: BernoulliParams) -> np.ndarray:
        return np.ravel(params.probabilities).astype(float)

    def from_vector(self, vector: np.ndarray, like: BernoulliParams) -> BernoulliParams | None:
        p = np.asarray(vector, dtype=float).reshape(like.probabilities.shape)
        if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
            return None
        return BernoulliParams(p.copy())

    def vector_size(self, like: BernoulliParams) -> int:
        return int(like.probabilities.size)
