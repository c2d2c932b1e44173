"""Product families: independent column groups, each with its own family.

``p(x | k) = prod_g p_g(x_g | k)`` where ``x_g`` are the columns of group g
and ``p_g`` its family (Gaussian with any covariance model, categorical,
Poisson, Bernoulli, ...).  This is the *local independence across groups*
of mixed-type latent class models (StepMix, flexmix's ``FLXMCmvcombi``):
within a group the family may model dependence (a full Gaussian
covariance), across groups there is none given the component.

Everything composes: log-densities add, the statistics are a tuple of the
groups' statistics (added and scaled elementwise), the M-step, prior,
regularisation deficit and parameter count are the groups' own, summed where
they are numbers, and the parameter vector is the concatenation of theirs.
So a product is a :class:`~emkit.families.base.ComponentFamily` like any
other: a mixture's component family (:class:`emkit.MixedMixture`) and, later,
an HMM's emission family.

Every group is a contiguous range of columns (a ``slice``): the chunks its
family sees are then views of the data, which its per-chunk caches need.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..em.statistics import SufficientStatistics
from .base import ComponentFamily


@dataclasses.dataclass(frozen=True)
class ProductParams:
    """One parameter object per group, in the groups' order."""

    parts: tuple


@dataclasses.dataclass(frozen=True)
class ProductStatistics(SufficientStatistics):
    """One statistics object per group; ``+`` and ``*`` act group by group."""

    parts: tuple

    def __add__(self, other: ProductStatistics) -> ProductStatistics:
        if type(other) is not type(self):
            return NotImplemented
        return ProductStatistics(tuple(a + b for a, b in zip(self.parts, other.parts,
                                                             strict=True)))

    def __mul__(self, factor: float) -> ProductStatistics:
        return ProductStatistics(tuple(part * factor for part in self.parts))

    __rmul__ = __mul__

    def aligned(self, other: ProductStatistics) -> ProductStatistics:
        return ProductStatistics(tuple(a.aligned(b) for a, b in zip(self.parts, other.parts,
                                                                    strict=True)))

    def allclose(self, other: SufficientStatistics, rtol: float = 1e-12, atol: float = 0.0
                 ) -> bool:
        return all(a.allclose(b, rtol=rtol, atol=atol)
                   for a, b in zip(self.parts, other.parts, strict=True))


@dataclasses.dataclass(frozen=True)
class Part:
    """A group: its name, its family and its columns (a slice of X)."""

    name: str
    family: ComponentFamily
    columns: slice


class ProductFamily(ComponentFamily):
    """Independent column groups, each modelled by its own family.

    Parameters
    ----------
    parts : sequence of (name, family, columns)
        ``columns`` is a ``slice`` of X's columns (``slice(0, 2)``), or a
        ``range`` with step 1; the groups must not overlap.
    """

    name = "product"
    params_type = ProductParams

    def __init__(self, parts: Sequence[tuple[str, ComponentFamily, Any]]):
        resolved = []
        taken: dict[int, str] = {}
        for name, family, columns in parts:
            if isinstance(columns, range) and columns.step == 1:
                columns = slice(columns.start, columns.stop)
            if not isinstance(columns, slice) or columns.step not in (None, 1) or (
                    columns.start is None or columns.stop is None):
                raise ValueError(f"group {name!r}: columns must be a slice(start, stop) of X, "
                                 f"got {columns!r}")
            if columns.stop <= columns.start:
                raise ValueError(f"group {name!r} has no columns")
            for j in range(columns.start, columns.stop):
                if j in taken:
                    raise ValueError(f"column {j} is in groups {taken[j]!r} and {name!r}")
                taken[j] = name
            resolved.append(Part(str(name), family, slice(columns.start, columns.stop)))
        if not resolved:
            raise ValueError("a product family needs at least one group")
        self.parts = tuple(resolved)
        self.n_features = max(part.columns.stop for part in self.parts)

    @property
    def start_smoothing(self) -> float:
        return max(float(getattr(part.family, "start_smoothing", 0.0)) for part in self.parts)

    @property
    def has_prior(self) -> bool:
        return any(getattr(part.family, "has_prior", False) for part in self.parts)

    @property
    def objective_rtol(self) -> float | None:
        values = [getattr(part.family, "objective_rtol", None) for part in self.parts]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    def n_components(self, params: ProductParams) -> int:
        return self.parts[0].family.n_components(params.parts[0])

    def params_from_fields(self, parts) -> ProductParams:
        return ProductParams(tuple(parts))

    def _columns(self, X: np.ndarray, part: Part) -> np.ndarray:
        return X[:, part.columns]

    # --- data ---------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X",
                   names: Sequence[str] | None = None) -> np.ndarray:
        """Every group's check on its columns; messages name the group (and the
        column by ``names``, indexed by X's columns, when given)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] < self.n_features:
            raise ValueError(f"{what} must have at least {self.n_features} columns, got shape "
                             f"{X.shape}")
        for part in self.parts:
            label = f"{what} (group {part.name!r})"
            sub_names = None if names is None else list(names)[part.columns]
            check = part.family.check_data
            if "names" in inspect.signature(check).parameters:
                check(self._columns(X, part), label, names=sub_names)
            else:
                check(self._columns(X, part), label)
        return X

    def prepare(self, X: np.ndarray, sample_weight: np.ndarray, *,
                cache_chunks: bool = True) -> None:
        for part in self.parts:
            part.family.prepare(self._columns(X, part), sample_weight,
                                cache_chunks=cache_chunks)

    def init_view(self, X: np.ndarray) -> np.ndarray:
        """The groups' views side by side for k-means: every view column standardised,
        then each group's block scaled to a total variance equal to its number of
        columns (so a categorical column's one-hot levels weigh as one column, and
        no group dominates by its units)."""
        blocks = []
        for part in self.parts:
            view = np.asarray(part.family.init_view(self._columns(X, part)), dtype=np.float64)
            scale = view.std(axis=0)
            scale[~(scale > 0)] = 1.0
            width = part.columns.stop - part.columns.start
            blocks.append((view - view.mean(axis=0)) / scale
                          * np.sqrt(width / view.shape[1]))
        return np.hstack(blocks)

    # --- E-step -------------------------------------------------------------
    def log_prob(self, params: ProductParams, X: np.ndarray) -> np.ndarray:
        out = None
        for part, theta in zip(self.parts, params.parts, strict=True):
            value = part.family.log_prob(theta, self._columns(X, part))
            if out is None:
                out = np.array(value, dtype=np.float64)
            else:
                out += value
        return out

    def statistics(self, params: ProductParams | None, X: np.ndarray, resp: np.ndarray
                   ) -> ProductStatistics:
        thetas = (None,) * len(self.parts) if params is None else params.parts
        return ProductStatistics(tuple(
            part.family.statistics(theta, self._columns(X, part), resp)
            for part, theta in zip(self.parts, thetas, strict=True)))

    # --- M-step -------------------------------------------------------------
    def maximize(self, stats: ProductStatistics, params: ProductParams | None = None
                 ) -> ProductParams:
        thetas = (None,) * len(self.parts) if params is None else params.parts
        return ProductParams(tuple(
            part.family.maximize(s, theta)
            for part, s, theta in zip(self.parts, stats.parts, thetas, strict=True)))

    def expected_log_prob(self, params: ProductParams, stats: ProductStatistics) -> float:
        """Sum of the groups' ``expected_log_prob`` (log-densities add across groups).

        Raises
        ------
        TypeError
            When a group's family has no ``expected_log_prob`` (naming it).
        """
        total = 0.0
        for part, theta, s in zip(self.parts, params.parts, stats.parts, strict=True):
            q = getattr(part.family, "expected_log_prob", None)
            if q is None:
                raise TypeError(
                    f"group {part.name!r}: {type(part.family).__name__} has no "
                    "expected_log_prob(params, stats), which incremental EM needs")
            total += float(q(theta, s))
        return total

    def log_prior(self, params: ProductParams) -> float:
        return float(sum(part.family.log_prior(theta)
                         for part, theta in zip(self.parts, params.parts, strict=True)))

    def step_deficit(self, stats: ProductStatistics, new_params: ProductParams,
                     params: ProductParams | None) -> float:
        olds = (None,) * len(self.parts) if params is None else params.parts
        return float(sum(
            part.family.step_deficit(s, new, old)
            for part, s, new, old in zip(self.parts, stats.parts, new_params.parts, olds,
                                         strict=True)))

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: ProductParams) -> int:
        return int(sum(part.family.n_parameters(theta)
                       for part, theta in zip(self.parts, params.parts, strict=True)))

    def sample(self, params: ProductParams, labels: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        """Rows of ``n_features`` float columns (columns in no group are NaN)."""
        out = np.full((labels.shape[0], self.n_features), np.nan)
        for part, theta in zip(self.parts, params.parts, strict=True):
            out[:, part.columns] = part.family.sample(theta, labels, rng)
        return out

    def to_vector(self, params: ProductParams) -> np.ndarray:
        return np.concatenate([part.family.to_vector(theta)
                               for part, theta in zip(self.parts, params.parts, strict=True)])

    def from_vector(self, vector: np.ndarray, like: ProductParams) -> ProductParams | None:
        out, start = [], 0
        for part, theta in zip(self.parts, like.parts, strict=True):
            size = part.family.vector_size(theta)
            value = part.family.from_vector(vector[start:start + size], theta)
            if value is None:
                return None
            out.append(value)
            start += size
        return ProductParams(tuple(out))

    def vector_size(self, like: ProductParams) -> int:
        return int(sum(part.family.vector_size(theta)
                       for part, theta in zip(self.parts, like.parts, strict=True)))
