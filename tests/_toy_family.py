"""A small Poisson component family and its BaseMixture estimator, for tests of the generic
BaseMixture paths (sources, Dask) independent of the library's own families."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from scipy.special import gammaln

from emkit.em.statistics import SufficientStatistics
from emkit.families.base import ComponentFamily
from emkit.models._mixture import BaseMixture


@dataclasses.dataclass(frozen=True)
class PoissonParams:
    rates: np.ndarray


@dataclasses.dataclass(frozen=True)
class PoissonStatistics(SufficientStatistics):
    counts: np.ndarray
    sums: np.ndarray


class PoissonFamily(ComponentFamily):
    name = "toy-poisson"
    allows_missing = False
    params_type = PoissonParams

    def check_data(self, X, what="X"):
        bad = (X < 0) | (X != np.round(X))
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"{what} has value {X[row, col]!r} at row {row}, column {col}: "
                             "a Poisson mixture needs non-negative integer counts")
        return X

    def log_prob(self, params, X):
        log_rates = np.log(params.rates)
        return X @ log_rates.T - params.rates.sum(axis=1) - gammaln(X + 1).sum(axis=1)[:, None]

    def statistics(self, params, X, resp):
        return PoissonStatistics(resp.sum(axis=0), resp.T @ X)

    def maximize(self, stats, params=None):
        return PoissonParams(np.maximum(stats.sums / stats.counts[:, None], 1e-10))

    def n_parameters(self, params):
        return int(params.rates.size)

    def sample(self, params, labels, rng):
        return rng.poisson(params.rates[labels]).astype(float)

    def to_vector(self, params):
        return params.rates.ravel().copy()

    def from_vector(self, vector, like):
        if (vector <= 0).any():
            return None
        return PoissonParams(vector.reshape(like.rates.shape))


class PoissonMixture(BaseMixture):
    """A mixture of independent Poisson counts (test-only)."""

    _component_attributes: ClassVar[dict[str, str]] = {"rates": "rates_"}

    def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1,
                 init_params="kmeans", weights_init=None, labels_init=None,
                 random_state=None, warm_start=False, verbose=0, chunk_size=None,
                 accelerate=None, semi_supervised=False):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.accelerate = accelerate
        self.semi_supervised = semi_supervised

    def _family(self):
        return PoissonFamily()


def poisson_counts(n_per=(300, 250), dim=3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.uniform(1, 12, size=(len(n_per), dim))
    return np.vstack([rng.poisson(rates[k], size=(n, dim)) for k, n in enumerate(n_per)]
                     ).astype(float)
