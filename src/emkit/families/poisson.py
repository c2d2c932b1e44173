"""Poisson components: independent counts.

``p(x | k) = prod_d rate_kd^x_d exp(-rate_kd) / x_d!``.

The log-density of a chunk is one matrix product,
``X @ log(rate).T - sum_d rate_kd - sum_d log(x_d!)``, so the E-step runs at
GEMM speed.  The log-factorial term depends on the data only: it is computed
with ``gammaln`` (exactly, for any count) and, during a fit, once per chunk.

Rates of exactly 0 (maximum likelihood gives them to a component whose rows
all have count 0 in a feature) are handled exactly: ``log 0`` is left out of
the product and a row with a positive count where the rate is 0 gets
log-density ``-inf`` from a separate count, while a 0 there contributes
``0 log 0 - 0 = 0``.

Missing values (NaN) drop their term from the row's log-density and from the
statistics.

Counts must be non-negative integers (stored in any numeric dtype; NaN marks a
missing value).  Non-integer values are refused rather than fitted with the
Poisson formula extended to real numbers: that formula is not a density on
the reals, so its "log-likelihood" would not be one.

Prior: with ``alpha > 0`` every rate has a Gamma prior with shape
``1 + alpha m_d`` and rate ``alpha``, where ``m_d`` is the (weighted) mean of
feature d over the data being fitted.  It acts as ``alpha`` pseudo-rows
whose counts are the column means: the MAP estimate is
``(sum_i r_ik x_id + alpha m_d) / (sum_i r_ik + alpha)``, positive whenever
the feature is not all zeros, and ``alpha`` is a pseudo-count as in the
Bernoulli and categorical families.  ``alpha = 0`` is maximum likelihood.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from .._validation import check_real
from ..em.statistics import SufficientStatistics
from ._columns import ChunkCache, check_no_infinity, column_label, first_cell, split_missing
from .base import ComponentFamily
from .mixture import empty_components


@dataclasses.dataclass(frozen=True)
class PoissonParams:
    """Rates (expected counts), shape (K, D)."""

    rates: np.ndarray


@dataclasses.dataclass(frozen=True)
class PoissonStatistics(SufficientStatistics):
    """Responsibility-weighted sums per component and feature.

    Attributes
    ----------
    sums : ndarray (K, D)
        sum_i r_ik x_id over rows where x_id is observed.
    observed : ndarray (K, D)
        sum_i r_ik over rows where x_id is observed.
    log_factorials : ndarray (K,)
        sum_i r_ik sum_d log(x_id!) over observed entries: a data-only term,
        not used by the M-step, carried so that
        :meth:`PoissonFamily.expected_log_prob` is the exact
        ``sum_i r_ik log p(x_i | k)``.
    """

    sums: np.ndarray
    observed: np.ndarray
    log_factorials: np.ndarray


def log_factorial_sums(values: np.ndarray) -> np.ndarray:
    """``sum_d log(x_d!)`` per row (missing entries given as 0 contribute 0)."""
    if values.dtype.kind in "iub":
        values = values.astype(np.float64)
    return gammaln(values + 1.0).sum(axis=1)


class PoissonFamily(ComponentFamily):
    """Independent Poisson counts.

    Parameters
    ----------
    alpha : float, default=0.0
        Pseudo-rows of the Gamma prior (see the module docstring); 0 is
        maximum likelihood.
    prior_mean : array-like of shape (n_features,), optional
        The prior's centre ``m``; by default :meth:`prepare` sets it to the
        weighted column means of the data being fitted.
    """

    name = "poisson"
    params_type = PoissonParams
    start_smoothing = 0.1

    def __init__(self, alpha: float = 0.0, prior_mean=None):
        self.alpha = check_real(alpha, "alpha", 0.0)
        self.prior_mean = None if prior_mean is None else np.asarray(prior_mean, dtype=float)
        self._constants = ChunkCache()

    @property
    def has_prior(self) -> bool:
        return self.alpha > 0.0

    # --- data ---------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X",
                   names: Sequence[str] | None = None) -> np.ndarray:
        """X must hold non-negative integer counts (NaN: missing).

        Raises a ValueError naming the first offending row and column
        (``names`` gives the columns' names for the message).
        """
        X = np.asarray(X)
        if X.dtype.kind not in "fiub":
            raise ValueError(f"{what} must hold numbers (counts), got dtype {X.dtype}")
        if X.dtype.kind == "f":
            check_no_infinity(X, what, names)
        with np.errstate(invalid="ignore"):
            negative = X < 0
        if negative.any():
            row, col = first_cell(negative)
            raise ValueError(
                f"Negative values in data: {what} has value {X[row, col].item()!r} at row "
                f"{row}, {column_label(col, names)}; a Poisson mixture needs non-negative "
                "integer counts (NaN marks a missing value)"
            )
        if X.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                fractional = (X != np.floor(X)) & ~np.isnan(X)
            if fractional.any():
                row, col = first_cell(fractional)
                raise ValueError(
                    f"{what} has value {X[row, col].item()!r} at row {row}, "
                    f"{column_label(col, names)}, which is not an integer; a Poisson mixture "
                    "needs non-negative integer counts (NaN marks a missing value)"
                )
        return X

    def prepare(self, X: np.ndarray, sample_weight: np.ndarray, *,
                cache_chunks: bool = True) -> None:
        """The prior's centre (weighted column means) and the per-chunk constant cache."""
        self._constants.enable(cache_chunks)
        if self.alpha > 0.0 and self.prior_mean is None:
            values, missing = split_missing(np.asarray(X, dtype=np.float64))
            observed = np.full(X.shape[1], sample_weight.sum()) if missing is None else \
                sample_weight @ (1.0 - missing)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.prior_mean = np.where(observed > 0, (sample_weight @ values) / observed,
                                           0.0)

    def init_view(self, X: np.ndarray) -> np.ndarray:
        """sqrt(counts) (variance-stabilising, so k-means' equal spreads fit), NaN as
        column means."""
        return super().init_view(np.sqrt(np.asarray(X, dtype=np.float64)))

    # --- E-step -------------------------------------------------------------
    def _constant(self, values: np.ndarray) -> np.ndarray:
        return self._constants.get(values, log_factorial_sums)

    def log_prob(self, params: PoissonParams, X: np.ndarray) -> np.ndarray:
        rates = params.rates
        with np.errstate(divide="ignore"):
            log_rates = np.log(rates)
        zero = rates <= 0.0
        log_rates[zero] = 0.0
        values, missing = split_missing(X)
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        out = values @ log_rates.T
        out -= rates.sum(axis=1)
        if missing is not None:
            out += missing @ rates.T
            out -= log_factorial_sums(values)[:, None]
        else:
            out -= self._constant(X)[:, None]
        if zero.any():
            # a positive count where the rate is 0 is impossible
            impossible = values @ zero.T.astype(np.float64)
            out[impossible > 0.0] = -np.inf
        return out

    def statistics(self, params, X: np.ndarray, resp: np.ndarray) -> PoissonStatistics:
        values, missing = split_missing(X)
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        sums = resp.T @ values
        observed = np.repeat(resp.sum(axis=0, dtype=np.float64)[:, None], X.shape[1], axis=1)
        if missing is not None:
            observed -= resp.T @ missing
            constant = log_factorial_sums(values)
        else:
            constant = self._constant(X)
        return PoissonStatistics(sums, observed, resp.T @ constant)

    # --- M-step -------------------------------------------------------------
    def _prior_mean(self, stats: PoissonStatistics) -> np.ndarray:
        if self.prior_mean is None:
            # not prepared: the first M-step (from all the data) sees the weighted
            # column means as the pooled statistics; they stay the prior's centre
            total = stats.observed.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.prior_mean = np.where(total > 0, stats.sums.sum(axis=0) / total, 0.0)
        return self.prior_mean

    def maximize(self, stats: PoissonStatistics, params: PoissonParams | None = None
                 ) -> PoissonParams:
        """MAP (ML when alpha = 0) rates; a component-feature pair without observations
        keeps its previous rate (the feature's pooled mean at initialisation)."""
        a = self.alpha
        sums, observed = stats.sums, stats.observed
        if a > 0.0:
            mean = self._prior_mean(stats)
            sums = sums + a * mean
            observed = observed + a
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = sums / observed
        # the sums of non-negative counts are non-negative: clip rounding below 0
        np.maximum(rates, 0.0, out=rates)
        unseen = ~(observed > 0)
        counts = stats.observed.max(axis=1)
        empty = empty_components(counts) if counts.sum() > 0 else np.ones_like(counts, bool)
        if params is not None:
            keep = unseen | empty[:, None]
            rates[keep] = params.rates[keep]
        elif unseen.any():
            total = stats.observed.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                pooled = np.where(total > 0, stats.sums.sum(axis=0) / total, 1.0)
            rates = np.where(unseen, pooled, rates)
        return PoissonParams(rates)

    def expected_log_prob(self, params: PoissonParams, stats: PoissonStatistics) -> float:
        """``sum_i sum_k r_ik log p(x_i | k)`` from the statistics alone.

        ``sum_kd [s_kd log rate_kd - o_kd rate_kd] - sum_k f_k`` with ``s`` the
        summed counts, ``o`` the observed weight and ``f`` the summed
        log-factorials; ``0 log 0`` is 0 and a positive count at a rate of 0
        gives ``-inf``.  Incremental EM's free energy is built on it
        (:mod:`emkit.em.online`).
        """
        rates = params.rates
        zero = rates <= 0.0
        if (zero & (stats.sums > 0)).any():
            return -np.inf
        with np.errstate(divide="ignore"):
            log_rates = np.where(zero, 0.0, np.log(np.where(zero, 1.0, rates)))
        return float((stats.sums * log_rates).sum() - (stats.observed * rates).sum()
                     - stats.log_factorials.sum())

    def log_prior(self, params: PoissonParams) -> float:
        """Gamma(1 + alpha m_d, alpha) log-density of every rate, up to a constant."""
        if self.alpha == 0.0:
            return 0.0
        rates = params.rates
        mean = self.prior_mean if self.prior_mean is not None else np.zeros(rates.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            shape_terms = np.where(mean > 0, mean * np.log(rates), 0.0)
        return self.alpha * float(shape_terms.sum() - rates.sum())

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: PoissonParams) -> int:
        return int(params.rates.size)

    def sample(self, params: PoissonParams, labels: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        return rng.poisson(params.rates[labels]).astype(np.float64)

    def to_vector(self, params: PoissonParams) -> np.ndarray:
        return np.ravel(params.rates).astype(float)

    def from_vector(self, vector: np.ndarray, like: PoissonParams) -> PoissonParams | None:
        rates = np.asarray(vector, dtype=float).reshape(like.rates.shape)
        if not np.isfinite(rates).all() or (rates < 0).any():
            return None
        return PoissonParams(rates.copy())

    def vector_size(self, like: PoissonParams) -> int:
        return int(like.rates.size)
