"""Expected sufficient statistics as values that add and scale.

Every family's statistics are a frozen dataclass deriving from
:class:`SufficientStatistics`.  Fields are *extensive* (sums over rows: they add
across chunks and scale with a factor) unless marked intensive with
``field(metadata={"intensive": True})`` (e.g. the centre the moments are taken
about).  Before two statistics are added, :meth:`SufficientStatistics.aligned`
lets a family bring the right-hand side to the left-hand side's intensive
values (for example re-centring second moments), so addition is exact whatever
iteration each side came from.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TypeVar

import numpy as np

S = TypeVar("S", bound="SufficientStatistics")


@functools.cache
def _field_names(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(extensive, intensive) field names of a statistics class (computed once per class:
    the engine adds statistics once per chunk, and ``dataclasses.fields`` is slow)."""
    fields = dataclasses.fields(cls)
    return (tuple(f.name for f in fields if not f.metadata.get("intensive")),
            tuple(f.name for f in fields if f.metadata.get("intensive")))


@dataclasses.dataclass(frozen=True)
class SufficientStatistics:
    """Base class: fieldwise ``+`` and scalar ``*`` for extensive fields."""

    def _extensive(self) -> tuple[str, ...]:
        return _field_names(type(self))[0]

    def aligned(self: S, other: S) -> S:
        """Return ``other`` expressed with this object's intensive fields.

        The default requires them to be equal; families override it to convert.
        """
        for name in _field_names(type(self))[1]:
            if not np.array_equal(getattr(self, name), getattr(other, name)):
                raise ValueError(f"cannot add statistics with different {name!r}")
        return other

    def __add__(self: S, other: S) -> S:
        if type(other) is not type(self):
            return NotImplemented
        other = self.aligned(other)
        changes = {name: getattr(self, name) + getattr(other, name) for name in self._extensive()}
        return dataclasses.replace(self, **changes)

    def __mul__(self: S, factor: float) -> S:
        changes = {name: getattr(self, name) * factor for name in self._extensive()}
        return dataclasses.replace(self, **changes)

    __rmul__ = __mul__

    def allclose(self, other: SufficientStatistics, rtol: float = 1e-12, atol: float = 0.0) -> bool:
        """True when every array field of ``other`` (aligned to this one) is close to this one's."""
        other = self.aligned(other)
        return all(
            np.allclose(getattr(self, f.name), getattr(other, f.name), rtol=rtol, atol=atol)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )
