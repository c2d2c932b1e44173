"""A finite mixture: categorical mixing weights combined with one component family.

:class:`MixtureModel` is what the EM engine (:mod:`emkit.em.engine`) drives for
every mixture estimator built on a :class:`~emkit.families.base.ComponentFamily`
(Bernoulli, categorical, Poisson, Student-t, mixed-type).  The latent prior is
``p(z = k) = pi_k`` with an optional symmetric Dirichlet prior on ``pi`` (MAP);
everything about the components is the family's.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from .._warnings import external_stacklevel
from ..em.statistics import SufficientStatistics
from .base import ComponentFamily

#: A component whose summed responsibility is below this fraction of the total
#: row weight is *empty*: it keeps its previous parameters.
EMPTY_COMPONENT_FRACTION = 10 * np.finfo(np.float64).eps
#: Largest |sum(weights) - 1| that from_vector renormalises instead of rejecting.
WEIGHT_SUM_ATOL = 1e-12


@dataclasses.dataclass(frozen=True)
class MixtureParams:
    """Mixing weights (K,) and the family's component parameters."""

    weights: np.ndarray
    components: Any


@dataclasses.dataclass(frozen=True)
class MixtureStatistics(SufficientStatistics):
    """Summed responsibilities per component (K,) and the family's statistics."""

    counts: np.ndarray
    components: Any


def empty_components(counts: np.ndarray) -> np.ndarray:
    """Boolean mask of components whose summed responsibility is negligible."""
    return counts < EMPTY_COMPONENT_FRACTION * counts.sum()


def check_weight_concentration(value: Any, name: str = "weight_concentration") -> float:
    """A symmetric Dirichlet concentration for MAP weights: a finite number >= 1."""
    from .._validation import check_real

    return check_real(value, name, 1.0)


class MixtureModel:
    """A mixture of one family's components, as seen by the EM engine.

    Parameters
    ----------
    family : ComponentFamily
    weight_concentration : float, default=1.0
        Symmetric Dirichlet(``a``) prior on the weights; ``a = 1`` (default) is
        flat, i.e. maximum likelihood; ``a > 1`` gives MAP weights
        ``(n_k + a - 1) / (n + K (a - 1))`` that keep every component alive.
    fixed : iterable of str
        ``"weights"`` holds the weights at their current value (the family may
        hold its own groups; see its documentation).
    """

    def __init__(self, family: ComponentFamily, weight_concentration: float = 1.0,
                 fixed=()):
        self.family = family
        self.weight_concentration = float(weight_concentration)
        self.fixed = frozenset(fixed)
        #: Relative float noise of the objective (None: float64's).
        self.objective_rtol: float | None = getattr(family, "objective_rtol", None)

    # --- engine interface ---------------------------------------------------
    def log_joint(self, params: MixtureParams, X) -> np.ndarray:
        """``log pi_k + log p(x | k)`` per row, shape (n, K)."""
        out = self.family.log_prob(params.components, X)
        with np.errstate(divide="ignore"):
            out += np.log(params.weights)
        return out

    def soft_e_step(self, params: MixtureParams, X, weights: np.ndarray):
        """The family's fused soft E-step of a chunk (compiled kernels), or None.

        A family may provide ``soft_e_step(components, log_weights, X, weights)``
        returning ``(row objectives or their weighted sum, counts (K,),
        statistics)`` or None; the engine then skips the (rows x K) arrays.
        """
        fused = getattr(self.family, "soft_e_step", None)
        if fused is None:
            return None
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        out = fused(params.components, log_weights, X, weights)
        if out is None:
            return None
        row_objective, counts, stats = out
        return row_objective, MixtureStatistics(counts, stats)

    def statistics(self, params: MixtureParams, X, resp: np.ndarray) -> MixtureStatistics:
        """Counts and the family's statistics of a chunk (``resp`` includes row weights)."""
        return MixtureStatistics(resp.sum(axis=0, dtype=np.float64),
                                 self.family.statistics(params.components, X, resp))

    def maximize(self, stats: MixtureStatistics, params: MixtureParams | None = None
                 ) -> MixtureParams:
        """Weights from the counts (MAP under the Dirichlet prior) and the family's M-step.

        An empty component (see :func:`empty_components`) keeps its previous
        parameters with weight ~0 and a :class:`UserWarning` names it; at
        initialisation (no previous parameters) it is an error.
        """
        counts = stats.counts
        empty = empty_components(counts)
        if empty.any() and self.weight_concentration == 1.0:
            which = np.flatnonzero(empty).tolist()
            if params is None:
                raise ValueError(
                    f"component(s) {which} received no data at initialisation; "
                    "use fewer components or another init_params"
                )
            warnings.warn(
                f"component(s) {which} became empty (no responsibility); they keep their "
                "previous parameters with weight ~0. Consider fewer components.",
                UserWarning, stacklevel=external_stacklevel(),
            )
        components = self.family.maximize(
            stats.components, None if params is None else params.components)
        if params is not None and "weights" in self.fixed:
            weights = params.weights
        else:
            extra = self.weight_concentration - 1.0
            weights = (counts + extra) / (counts.sum() + extra * counts.shape[0])
        return MixtureParams(weights, components)

    @property
    def data_maximize(self):
        """The engine's hook for M-steps that need the data (None for closed-form families).

        Families with a ``maximize_with_data(stats, params, weighted_pass)``
        method (GLM components: IRLS) get it: ``weighted_pass(function)`` sums
        ``function(X, r)`` over the chunks, with ``r`` the chunk's
        row-weighted responsibilities recomputed at the E-step's parameters
        with the E-step's assignment (:meth:`emkit.em.engine.DataPass.weighted`).
        """
        if not hasattr(self.family, "maximize_with_data"):
            return None
        return self._maximize_with_data

    def _maximize_with_data(self, stats: MixtureStatistics, params: MixtureParams | None,
                            data_pass) -> MixtureParams:
        new = self.maximize(stats, params)
        if params is None:
            return new

        def weighted_pass(function):
            return data_pass.weighted(lambda X: self.log_joint(params, X), function)

        # generalized EM (emkit.em.generalized): the estimator may bound the Newton steps
        steps = getattr(self, "m_step_iterations", None)
        extra = {} if steps is None else {"max_iter": steps}
        components = self.family.maximize_with_data(stats.components, params.components,
                                                    weighted_pass, **extra)
        return MixtureParams(new.weights, components)

    def expected_log_joint(self, params: MixtureParams, stats: MixtureStatistics) -> float:
        """Expected complete-data log-likelihood (Q) of ``params`` under ``stats``.

        ``sum_k n_k log pi_k`` plus the family's ``expected_log_prob(params,
        stats)``; incremental EM's free energy needs it (:mod:`emkit.em.online`).

        Raises
        ------
        TypeError
            When the family has no ``expected_log_prob``.
        """
        family_q = getattr(self.family, "expected_log_prob", None)
        if family_q is None:
            raise TypeError(
                f"{type(self.family).__name__} has no expected_log_prob(params, stats), which "
                "incremental EM needs for its free energy"
            )
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        counts = stats.counts
        weights_part = float(np.where(counts > 0, counts * log_weights, 0.0).sum())
        return weights_part + float(family_q(params.components, stats.components))

    def log_prior(self, params: MixtureParams) -> float:
        """Dirichlet log-density of the weights (up to a constant) plus the family's prior."""
        value = self.family.log_prior(params.components)
        if self.weight_concentration != 1.0:
            with np.errstate(divide="ignore"):
                value += (self.weight_concentration - 1.0) * float(np.log(params.weights).sum())
        return value

    @property
    def has_prior(self) -> bool:
        """Whether :meth:`log_prior` can be non-zero (the engine then adds it)."""
        return self.weight_concentration != 1.0 or bool(getattr(self.family, "has_prior", False))

    def step_deficit(self, stats: MixtureStatistics, new_params: MixtureParams,
                     params: MixtureParams | None = None) -> float:
        """The family's M-step deficit per unit weight (0 for exact M-steps)."""
        deficit = self.family.step_deficit(
            stats.components, new_params.components, None if params is None
            else params.components)
        return float(deficit) / float(stats.counts.sum()) if deficit else 0.0

    # --- the rest -----------------------------------------------------------
    def params_from_responsibilities(self, X, sample_weight: np.ndarray, resp: np.ndarray,
                                     chunk_size: int) -> MixtureParams:
        """One M-step from given responsibilities (the start of EM).

        For families whose M-step needs the data (GLM components) it is the
        exact maximiser for these responsibilities, as the first M-step of
        R's flexmix from a partition.
        """
        from ..em.engine import responsibility_pass

        weighted_pass = responsibility_pass(X, resp * sample_weight[:, None], chunk_size)

        stats = weighted_pass(lambda Z, r: MixtureStatistics(
            r.sum(axis=0), self.family.statistics(None, Z, r)))
        start = self.maximize(stats)
        if not hasattr(self.family, "maximize_with_data"):
            return start
        exact = weighted_pass(lambda Z, r: self.family.statistics(start.components, Z, r))
        components = self.family.maximize_with_data(exact, start.components, weighted_pass)
        return MixtureParams(start.weights, components)

    def n_parameters(self, params: MixtureParams) -> int:
        """Free parameters: K - 1 weights (0 when fixed) plus the family's."""
        K = params.weights.shape[0]
        weights = 0 if "weights" in self.fixed else K - 1
        return weights + int(self.family.n_parameters(params.components))

    def sample(self, params: MixtureParams, n_samples: int, rng: np.random.Generator
               ) -> tuple[Any, np.ndarray]:
        """Rows and their components, grouped by component (as scikit-learn's sample)."""
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        labels = np.repeat(np.arange(params.weights.shape[0]), counts)
        return self.family.sample(params.components, labels, rng), labels

    # --- parameter vectors (EM acceleration) ----------------------------------
    def to_vector(self, params: MixtureParams) -> np.ndarray:
        return np.concatenate([np.asarray(params.weights, dtype=float),
                               self.family.to_vector(params.components)])

    def from_vector(self, vector: np.ndarray, like: MixtureParams) -> MixtureParams | None:
        """Parameters from a vector, or None when the weights leave the simplex or the
        family rejects its part."""
        vector = np.asarray(vector, dtype=float)
        K = like.weights.shape[0]
        size = K + self.family.vector_size(like.components)
        if vector.shape != (size,):
            raise ValueError(f"parameter vector must have shape ({size},), got {vector.shape}")
        if not np.isfinite(vector).all():
            return None
        weights = vector[:K].copy()
        total = weights.sum()
        if (weights < 0).any() or abs(total - 1.0) > WEIGHT_SUM_ATOL:
            return None
        components = self.family.from_vector(vector[K:], like.components)
        if components is None:
            return None
        return MixtureParams(weights / total, components)

