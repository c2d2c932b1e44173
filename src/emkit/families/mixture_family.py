"""A mixture of another family's distributions as one component family.

:class:`MixtureFamily` makes every component ``k`` of a model a mixture of
``M`` distributions of an inner family:
``p(x | k) = sum_m w_km p_inner(x | k, m)``.  It is a
:class:`~emkit.families.base.ComponentFamily` like any other, so whatever
takes a family takes it: an HMM whose states emit Gaussian mixtures (GMM-HMM,
:class:`emkit.hmm.GMMHMM`), a Poisson mixture per state, a mixture of
mixtures.

The inner family holds ``K * M`` components, state-major (inner component
``k * M + m``), so its vectorised log-densities, statistics and M-step (any
Gaussian covariance model, missing values, ...) serve all of them at once.
Given the outer responsibilities ``r_ik`` of a chunk, the inner ones are
``r_ik * p(m | x_i, k)``; their statistics are the inner family's, plus the
per-state mixture counts.  The mixture weights of every component have a
symmetric Dirichlet prior (``weight_concentration``, 1: maximum likelihood).

During a fit (after :meth:`prepare`) the inner log-densities of a chunk,
computed by :meth:`log_prob`, are kept for the :meth:`statistics` call of the
same chunk and parameters, so the inner family is evaluated once per E-step.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ..em.statistics import SufficientStatistics
from ..init import kmeans_plusplus, nearest_partition
from .base import ComponentFamily

#: Largest |sum - 1| of a component's mixture weights that from_vector renormalises.
WEIGHT_SUM_ATOL = 1e-9
#: Lloyd iterations of the within-component starting partition.
START_LLOYD_ITERATIONS = 10


@dataclasses.dataclass(frozen=True)
class MixtureFamilyParams:
    """Mixture weights (K, M) and the inner family's parameters of K * M components."""

    weights: np.ndarray
    components: Any


@dataclasses.dataclass(frozen=True)
class MixtureFamilyStatistics(SufficientStatistics):
    """Summed inner responsibilities (K, M) and the inner family's statistics."""

    counts: np.ndarray
    components: Any


class MixtureFamily(ComponentFamily):
    """Components that are mixtures of ``n_mix`` distributions of an inner family.

    Parameters
    ----------
    family : ComponentFamily
        The inner family.
    n_mix : int
        Mixture components per component (M).
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on every component's mixture weights (>= 1;
        1 is maximum likelihood).
    """

    name = "mixture"
    params_type = MixtureFamilyParams

    def __init__(self, family: ComponentFamily, n_mix: int, weight_concentration: float = 1.0):
        if int(n_mix) < 1:
            raise ValueError(f"n_mix must be an integer >= 1, got {n_mix!r}")
        self.family = family
        self.n_mix = int(n_mix)
        self.weight_concentration = float(weight_concentration)
        self.allows_missing = family.allows_missing
        self.start_smoothing = family.start_smoothing
        self.objective_rtol = getattr(family, "objective_rtol", None)
        self._cache: dict = {}
        self._cache_params: Any = None
        self._lock = threading.Lock()
        self._prepared = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_cache={}, _cache_params=None, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def has_prior(self) -> bool:
        return self.weight_concentration != 1.0 or bool(getattr(self.family, "has_prior",
                                                                False))

    def n_components(self, params: MixtureFamilyParams) -> int:
        return int(params.weights.shape[0])

    def params_from_fields(self, weights, components) -> MixtureFamilyParams:
        return MixtureFamilyParams(np.asarray(weights, dtype=float), components)

    # --- data ---------------------------------------------------------------
    def check_data(self, X, what: str = "X"):
        return self.family.check_data(X, what)

    def prepare(self, X, sample_weight, *, cache_chunks: bool = True) -> None:
        self.family.prepare(X, sample_weight, cache_chunks=cache_chunks)
        self._prepared = True

    def init_view(self, X):
        return self.family.init_view(X)

    # --- E-step -------------------------------------------------------------
    @staticmethod
    def _key(X) -> tuple:
        interface = getattr(X, "__array_interface__", None)
        return (id(X),) if interface is None else (interface["data"][0], X.shape)

    def _inner(self, params: MixtureFamilyParams, X) -> np.ndarray:
        """(n, K, M) log w_km + log p_inner(x | k, m)."""
        K, M = params.weights.shape
        inner = np.asarray(self.family.log_prob(params.components, X), dtype=np.float64)
        with np.errstate(divide="ignore"):
            inner += np.log(params.weights).reshape(-1)
        return inner.reshape(-1, K, M)

    def log_prob(self, params: MixtureFamilyParams, X) -> np.ndarray:
        inner = self._inner(params, X)
        if self._prepared:
            with self._lock:
                if self._cache_params is not params:
                    self._cache, self._cache_params = {}, params
                self._cache[self._key(X)] = inner
        with np.errstate(invalid="ignore"):
            out = logsumexp(inner, axis=2)
        return out

    def statistics(self, params: MixtureFamilyParams | None, X, resp: np.ndarray
                   ) -> MixtureFamilyStatistics:
        if params is None:
            raise ValueError("MixtureFamily starts from start_from_partition(), not from "
                             "statistics without parameters")
        inner = None
        if self._prepared:
            with self._lock:
                if self._cache_params is params:
                    inner = self._cache.pop(self._key(X), None)
        if inner is None:
            inner = self._inner(params, X)
        n, K, M = inner.shape
        top = inner.max(axis=2, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        within = np.exp(inner - top)
        total = within.sum(axis=2, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            within /= total
        within[~(total[..., 0] > 0)] = 0.0
        within *= resp[:, :, None]
        flat = within.reshape(n, K * M)
        return MixtureFamilyStatistics(flat.sum(axis=0).reshape(K, M),
                                       self.family.statistics(params.components, X, flat))

    # --- M-step -------------------------------------------------------------
    def _weights(self, counts: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        extra = self.weight_concentration - 1.0
        numerator = counts + extra
        total = numerator.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = numerator / total
        empty = ~(total[:, 0] > 0)
        if empty.any():
            weights[empty] = (1.0 / self.n_mix) if previous is None else previous[empty]
        return weights

    def maximize(self, stats: MixtureFamilyStatistics,
                 params: MixtureFamilyParams | None = None) -> MixtureFamilyParams:
        """Mixture weights (MAP under the Dirichlet prior) and the inner M-step; a
        component or mixture component without responsibility keeps its parameters."""
        previous = None if params is None else params
        weights = self._weights(stats.counts, None if previous is None else previous.weights)
        components = self.family.maximize(stats.components,
                                          None if previous is None else previous.components)
        return MixtureFamilyParams(weights, components)

    def log_prior(self, params: MixtureFamilyParams) -> float:
        value = float(self.family.log_prior(params.components))
        if self.weight_concentration != 1.0:
            with np.errstate(divide="ignore"):
                value += (self.weight_concentration - 1.0) * float(np.log(params.weights).sum())
        return value

    def step_deficit(self, stats: MixtureFamilyStatistics, new_params: MixtureFamilyParams,
                     params: MixtureFamilyParams | None) -> float:
        return float(self.family.step_deficit(
            stats.components, new_params.components,
            None if params is None else params.components))

    # --- the start ------------------------------------------------------------
    def start_from_partition(self, X, sample_weight: np.ndarray, resp: np.ndarray,
                             rng: np.random.RandomState, chunk_size: int
                             ) -> MixtureFamilyParams:
        """Parameters from outer responsibilities (n, K): within every component a
        weighted k-means partition (k-means++ seeds, a few Lloyd steps) of its rows
        into ``n_mix`` parts, then one inner M-step.

        Raises
        ------
        ValueError
            A component has fewer rows than ``n_mix`` (naming it).
        """
        n, K = resp.shape
        M = self.n_mix
        view = np.asarray(self.init_view(X), dtype=np.float64)
        inner = np.zeros((n, K * M))
        for k in range(K):
            rows = np.flatnonzero((resp[:, k] > 0) & (sample_weight > 0))
            if rows.size < M:
                raise ValueError(f"state/component {k} has {rows.size} row(s) at "
                                 f"initialisation but n_mix={M}: use fewer mixture components "
                                 "or another init_params")
            weights = sample_weight[rows] * resp[rows, k]
            labels = _weighted_lloyd(view[rows], weights, M, rng, chunk_size)
            inner[rows, k * M + labels] = resp[rows, k]
        weighted = inner * sample_weight[:, None]
        stats = None
        for start in range(0, n, chunk_size):
            rows = slice(start, start + chunk_size)
            part = MixtureFamilyStatistics(weighted[rows].sum(axis=0).reshape(K, M),
                                           self.family.statistics(None, X[rows],
                                                                  weighted[rows]))
            stats = part if stats is None else stats + part
        return self.maximize(stats)

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: MixtureFamilyParams) -> int:
        K, M = params.weights.shape
        return int(K * (M - 1) + self.family.n_parameters(params.components))

    def sample(self, params: MixtureFamilyParams, labels: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        cumulative = np.cumsum(params.weights, axis=1)[labels]
        u = rng.random(labels.shape[0]) * cumulative[:, -1]
        mix = np.minimum((cumulative <= u[:, None]).sum(axis=1), self.n_mix - 1)
        return self.family.sample(params.components, labels * self.n_mix + mix, rng)

    def to_vector(self, params: MixtureFamilyParams) -> np.ndarray:
        return np.concatenate([np.ravel(params.weights).astype(float),
                               self.family.to_vector(params.components)])

    def from_vector(self, vector: np.ndarray, like: MixtureFamilyParams
                    ) -> MixtureFamilyParams | None:
        vector = np.asarray(vector, dtype=float)
        size = like.weights.size
        weights = vector[:size].reshape(like.weights.shape)
        if not np.isfinite(weights).all() or (weights < 0).any():
            return None
        total = weights.sum(axis=1, keepdims=True)
        if np.any(np.abs(total - 1.0) > WEIGHT_SUM_ATOL):
            return None
        components = self.family.from_vector(vector[size:], like.components)
        if components is None:
            return None
        return MixtureFamilyParams(weights / total, components)

    def vector_size(self, like: MixtureFamilyParams) -> int:
        return int(like.weights.size + self.family.vector_size(like.components))


def _weighted_lloyd(view: np.ndarray, weights: np.ndarray, n_clusters: int,
                    rng: np.random.RandomState, chunk_size: int) -> np.ndarray:
    """Labels of a weighted k-means partition (k-means++ seeds, a few Lloyd steps)."""
    centers, _ = kmeans_plusplus(view, n_clusters, sample_weight=weights, random_state=rng)
    labels = nearest_partition(view, centers, chunk_size)[0]
    for _ in range(START_LLOYD_ITERATIONS):
        counts = np.bincount(labels, weights=weights, minlength=n_clusters)
        if (counts <= 0).any():
            break
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, weights[:, None] * view)
        new_labels = nearest_partition(view, sums / counts[:, None], chunk_size)[0]
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    if np.bincount(labels, minlength=n_clusters).min() == 0:
        # duplicate seeds: fall back to an equal split by the first principal direction
        order = np.argsort(view @ np.linalg.svd(view - view.mean(axis=0),
                                                full_matrices=False)[2][0])
        labels = np.empty(view.shape[0], dtype=np.intp)
        labels[order] = np.arange(view.shape[0]) * n_clusters // view.shape[0]
    return labels
