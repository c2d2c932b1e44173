"""The component-family protocol: what a distribution gives the EM engine.

A *family* is one kind of component distribution ``p(x | z = k, theta_k)``
(Bernoulli, categorical, Poisson, Student-t, ...).  It knows nothing of the
mixing weights: :class:`emkit.families.mixture.MixtureModel` combines a family
with categorical weights into what the engine drives, and the same family
serves a mixed-type product (:mod:`emkit.families.product`) and, later, HMM
emissions.  A new family is a module with a :class:`ComponentFamily` subclass
and an entry in :data:`emkit.families.registry.FAMILIES`.

Parameters are a frozen dataclass per family whose array fields have the
components on their first axis (``(K, ...)``), except fields a family shares
between components.  Statistics derive from
:class:`emkit.em.statistics.SufficientStatistics` (they add over chunks and
scale with a factor).

Missing values
--------------
NaN marks a missing entry.  Families of independent columns drop a missing
entry's term from the row's log-density and from the statistics (its
expected contribution is exactly that under local independence); families
with correlated columns (Gaussian, Student-t) marginalise and take
conditional moments.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ComponentFamily:
    """Base class of component families (the methods every family implements).

    Subclasses set :attr:`name` and implement :meth:`log_prob`,
    :meth:`statistics`, :meth:`maximize`, :meth:`n_parameters`,
    :meth:`sample`, :meth:`to_vector` and :meth:`from_vector`; the others
    have defaults.
    """

    #: Registry name (``emkit.families.registry.FAMILIES``).
    name: str = ""
    #: Whether X may hold NaN (missing entries handled by the family).
    allows_missing: bool = True
    #: The frozen dataclass holding the component parameters.
    params_type: type
    #: Starting partitions from ``init_params`` are blended with uniform
    #: responsibilities by this much: families whose maximum-likelihood M-step
    #: can put probability exactly 0 on observed values (a level absent from a
    #: cluster) set it, as EM never leaves such a zero.  ``labels_init`` is used
    #: as given.
    start_smoothing: float = 0.0

    def params_from_fields(self, **values: Any) -> Any:
        """Component parameters from their fields (families with derived fields,
        such as Cholesky factors, compute them here)."""
        return self.params_type(**values)

    # --- data ---------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X") -> np.ndarray:
        """Check X against the family's support; return it in the form the family uses.

        Raises a :class:`ValueError` naming the first offending row and
        column (a value that is not 0/1 for Bernoulli, a negative count for
        Poisson, ...).  NaN marks a missing value and is allowed when
        :attr:`allows_missing`.  The default accepts any finite number.
        """
        return X

    def prepare(self, X: np.ndarray, sample_weight: np.ndarray) -> None:
        """Data-dependent set-up, called once before EM on the data being fitted.

        A family may compute settings that depend on the data (a prior centred
        on the column means, say) and, from then on, cache per-chunk
        quantities of X that do not depend on the parameters (such as a
        log-factorial constant): during a fit the chunks of X never change.
        Families used for inference only (``predict``) are never prepared and
        cache nothing.  The default does nothing.
        """

    def init_view(self, X: np.ndarray) -> np.ndarray:
        """A numeric, NaN-free view of X on which k-means can find a starting partition.

        The default replaces NaN by column means (the Gaussian convention).
        """
        missing = np.isnan(X)
        if not missing.any():
            return X
        with np.errstate(invalid="ignore"):
            means = np.nanmean(X, axis=0)
        means = np.where(np.isfinite(means), means, 0.0)
        return np.where(missing, means, X)

    # --- the E-step ---------------------------------------------------------
    def log_prob(self, params: Any, X: np.ndarray) -> np.ndarray:
        """``log p(x_i | z_i = k)`` for every row and component, shape (n, K).

        Missing entries (NaN) are marginalised out.
        """
        raise NotImplementedError

    def statistics(self, params: Any, X: np.ndarray, resp: np.ndarray):
        """Expected sufficient statistics of a chunk.

        ``resp`` (n, K) are responsibilities already multiplied by the row
        weights.  ``params`` are the parameters the responsibilities came from
        (families with per-row latent quantities, such as Student-t's
        precision weights, need them).
        """
        raise NotImplementedError

    # --- the M-step ---------------------------------------------------------
    def maximize(self, stats, params: Any | None = None) -> Any:
        """Component parameters from statistics summed over all chunks.

        ``params`` are the current parameters (None at initialisation): a
        component with no responsibility keeps its previous parameters.
        """
        raise NotImplementedError

    def log_prior(self, params: Any) -> float:
        """log p(theta) of the component parameters up to a constant (0: maximum likelihood)."""
        return 0.0

    def step_deficit(self, stats, new_params: Any, params: Any | None) -> float:
        """How much the M-step may lower the summed objective by design (0: exact M-step)."""
        return 0.0

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: Any) -> int:
        """Free parameters of all components (for BIC/AIC)."""
        raise NotImplementedError

    def sample(self, params: Any, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of x for each entry of ``labels`` (the component of each row)."""
        raise NotImplementedError

    def to_vector(self, params: Any) -> np.ndarray:
        """The free parameters as one flat float vector (EM acceleration)."""
        raise NotImplementedError

    def from_vector(self, vector: np.ndarray, like: Any) -> Any | None:
        """Parameters from a :meth:`to_vector` vector, or None when it is not valid."""
        raise NotImplementedError

    def vector_size(self, like: Any) -> int:
        """Length of :meth:`to_vector`'s result for parameters shaped as ``like``."""
        return int(self.to_vector(like).shape[0])

    def n_components(self, params: Any) -> int:
        """K, read from the parameters (the first axis of the first array field)."""
        import dataclasses

        for field in dataclasses.fields(params):
            value = getattr(params, field.name)
            if isinstance(value, np.ndarray):
                return int(value.shape[0])
        raise TypeError(f"cannot tell the number of components of {params!r}")


def observed_mask(X: np.ndarray) -> np.ndarray | None:
    """Boolean (n, D) mask of observed entries, or None when nothing is missing."""
    if X.dtype.kind != "f":
        return None
    missing = np.isnan(X)
    return ~missing if missing.any() else None


def probabilities_in_simplex(values: np.ndarray, axis: int = -1, atol: float = 1e-12) -> bool:
    """Whether ``values`` are probabilities summing to 1 along ``axis`` (within ``atol``)."""
    return bool(
        np.isfinite(values).all()
        and (values >= 0).all()
        and np.all(np.abs(values.sum(axis=axis) - 1.0) <= atol)
    )
