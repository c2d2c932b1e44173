"""Gaussian components as a :class:`~emkit.families.base.ComponentFamily`.

A thin adapter over :class:`~emkit.families.gaussian.GaussianMixtureModel`
(what :class:`emkit.GaussianMixture` runs on): log-densities with any of
mclust's 14 covariance models (:mod:`emkit.families.structures`), missing
values marginalised with conditional moments (:mod:`emkit.families.missing`),
the structured M-steps and their regularisation deficit are all that model's.
The adapter only drops the mixing weights, which the
:class:`~emkit.families.mixture.MixtureModel` (or a product family) owns: it
passes uniform weights to the model and removes their constant again.

It serves the Gaussian column groups of :class:`emkit.MixedMixture` (a
product family) and, later, HMM emissions; :class:`emkit.GaussianMixture`
keeps its own engine model (fused kernels, conjugate priors, the
hierarchical start).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Sequence

import numpy as np

from ._columns import check_no_infinity
from .base import ComponentFamily
from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics


@dataclasses.dataclass(frozen=True)
class GaussianComponents:
    """Means (K, D), covariances and precision Cholesky factors (shapes as
    :class:`emkit.GaussianMixture`'s ``covariances_`` / ``precisions_cholesky_``)."""

    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class GaussianFamily(ComponentFamily):
    """Multivariate Gaussian components with a structured covariance model.

    Parameters
    ----------
    covariance_type : str, default="full"
        One of mclust's 14 models or scikit-learn's names
        (:func:`emkit.families.structures.get_structure`).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance in the M-step.
    """

    name = "gaussian"
    params_type = GaussianComponents

    def __init__(self, covariance_type: str = "full", reg_covar: float = 1e-6):
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.model = GaussianMixtureModel(covariance_type, self.reg_covar)
        self.structure = self.model.structure
        self._wrapped: tuple = (None, None)
        self._lock = threading.Lock()
        self._prepared = False

    def __getstate__(self) -> dict:  # pickled (to a Dask worker): without the caches
        state = dict(self.__dict__)
        state.update(_wrapped=(None, None), _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def prepare(self, X: np.ndarray, sample_weight: np.ndarray, *,
                cache_chunks: bool = True) -> None:
        """Let the model keep its per-chunk missing-value layouts during the fit
        (keyed by the chunk object, not its memory, when chunks are read anew)."""
        self._prepared = True
        self.model.persistent_chunks = cache_chunks

    def _rows(self, X: np.ndarray) -> np.ndarray:
        """X as float64; outside a fit the model's per-chunk caches (keyed by the
        chunk's memory) are dropped first, as X may be any array."""
        if not self._prepared:
            self.model.clear_chunk_caches()
        return X if X.dtype == np.float64 else np.asarray(X, dtype=np.float64)

    def params_from_fields(self, means, covariances, precisions_cholesky=None
                           ) -> GaussianComponents:
        means = np.asarray(means, dtype=float)
        covariances = np.asarray(covariances, dtype=float)
        if precisions_cholesky is None:
            precisions_cholesky = self.structure.precisions_cholesky(covariances,
                                                                     self.reg_covar)
        return GaussianComponents(means, covariances, np.asarray(precisions_cholesky))

    # --- the wrapped model's parameters ---------------------------------------
    def _gaussian(self, params: GaussianComponents) -> GaussianParams:
        """The model's parameters with uniform weights (cached per parameter object, so
        that the model's missing-value caches carry from log_prob to statistics)."""
        cached, wrapped = self._wrapped
        if cached is params:
            return wrapped
        K = params.means.shape[0]
        wrapped = GaussianParams(np.full(K, 1.0 / K), params.means, params.covariances,
                                 params.precisions_cholesky)
        with self._lock:
            self._wrapped = (params, wrapped)
        return wrapped

    @staticmethod
    def _components(params: GaussianParams) -> GaussianComponents:
        return GaussianComponents(params.means, params.covariances, params.precisions_cholesky)

    # --- data ---------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X",
                   names: Sequence[str] | None = None) -> np.ndarray:
        """Any finite number (NaN: missing); infinities are errors naming row and column."""
        X = np.asarray(X)
        if X.dtype.kind not in "fiub":
            raise ValueError(f"{what} must hold numbers, got dtype {X.dtype}")
        check_no_infinity(X, what, names)
        self.structure.check_n_features(X.shape[1])
        return X

    # --- E-step -------------------------------------------------------------
    def log_prob(self, params: GaussianComponents, X: np.ndarray) -> np.ndarray:
        wrapped = self._gaussian(params)
        out = self.model.log_joint(wrapped, self._rows(X))
        out -= np.log(wrapped.weights)
        return out

    def statistics(self, params: GaussianComponents | None, X: np.ndarray,
                   resp: np.ndarray) -> GaussianStatistics:
        X = self._rows(X)
        if params is not None:
            return self.model.statistics(self._gaussian(params), X, resp)
        # initialisation: moments of the rows with missing entries filled by the
        # chunk's observed column means, about the responsibility-weighted means
        filled = X
        missing = np.isnan(filled)
        if missing.any():
            with np.errstate(invalid="ignore"):
                means = np.nanmean(filled, axis=0)
            filled = np.where(missing, np.where(np.isfinite(means), means, 0.0), filled)
        counts = resp.sum(axis=0)
        safe = np.where(counts > 0, counts, 1.0)
        centers = self.model.centers(counts, (resp.T @ filled) / safe[:, None])
        return self.model.statistics_about(filled, resp, centers)

    # --- M-step -------------------------------------------------------------
    def maximize(self, stats: GaussianStatistics, params: GaussianComponents | None = None
                 ) -> GaussianComponents:
        """The structured M-step of :class:`GaussianMixtureModel` (an empty component
        keeps its mean and covariance; the mixture reports it)."""
        previous = None if params is None else self._gaussian(params)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"component\(s\) .* became empty")
            new = self.model.maximize(stats, previous)
        return self._components(new)

    def step_deficit(self, stats: GaussianStatistics, new_params: GaussianComponents,
                     params: GaussianComponents | None) -> float:
        """The regularised M-step's shortfall (summed, not per unit weight)."""
        per_weight = self.model.step_deficit(
            stats, self._gaussian(new_params), None if params is None else self._gaussian(params))
        return float(per_weight) * float(stats.counts.sum())

    def expected_log_prob(self, params: GaussianComponents, stats: GaussianStatistics
                          ) -> float:
        """``sum_i sum_k r_ik E[log N(x_i | mu_k, Sigma_k)]`` from the moments alone.

        The wrapped model's :meth:`~GaussianMixtureModel.expected_log_joint` (what
        :class:`emkit.GaussianMixture`'s incremental EM uses) less its uniform
        weights' ``sum_k n_k log(1/K)``.  With missing entries the moments hold
        conditional expectations, so this is the expected complete-data term;
        the entropy of the missing values given the observed ones is not
        included (incremental EM keeps it in each block's constant).
        """
        wrapped = self._gaussian(params)
        K = wrapped.weights.shape[0]
        q = self.model.expected_log_joint(wrapped, stats)
        return float(q + np.log(K) * float(stats.counts.sum()))

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: GaussianComponents) -> int:
        K, D = params.means.shape
        return int(K * D + self.structure.n_parameters(K, D))

    def sample(self, params: GaussianComponents, labels: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        K, D = params.means.shape
        out = np.empty((labels.shape[0], D))
        for k in range(K):
            rows = np.flatnonzero(labels == k)
            if rows.size:
                cov = self.structure.component_covariance(params.covariances, k, D)
                lower = np.linalg.cholesky(cov)
                out[rows] = params.means[k] + rng.standard_normal((rows.size, D)) @ lower.T
        return out

    def to_vector(self, params: GaussianComponents) -> np.ndarray:
        return np.concatenate([np.ravel(params.means), np.ravel(params.covariances)]).astype(
            float, copy=False)

    def from_vector(self, vector: np.ndarray, like: GaussianComponents
                    ) -> GaussianComponents | None:
        wrapped = self._gaussian(like)
        full = np.concatenate([wrapped.weights, np.asarray(vector, dtype=float)])
        new = self.model.from_vector(full, wrapped)
        return None if new is None else self._components(new)

    def vector_size(self, like: GaussianComponents) -> int:
        return int(like.means.size + np.size(like.covariances))
