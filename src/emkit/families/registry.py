"""The component families by name.

:data:`FAMILIES` maps a family's name to its class; it is how
:class:`emkit.MixedMixture` reads ``families=[("size", "gaussian", [...]), ...]``
(and, later, the CLI's ``--family`` and model selection over families).  A new
family adds its module under :mod:`emkit.families` and one entry here.
"""

from __future__ import annotations

from .base import ComponentFamily
from .bernoulli import BernoulliFamily
from .categorical import CategoricalFamily
from .gaussian_family import GaussianFamily
from .poisson import PoissonFamily

#: Family name -> ComponentFamily subclass.
FAMILIES: dict[str, type[ComponentFamily]] = {
    "bernoulli": BernoulliFamily,
    "categorical": CategoricalFamily,
    "gaussian": GaussianFamily,
    "poisson": PoissonFamily,
}


def get_family(name: str) -> type[ComponentFamily]:
    """The family class registered under ``name``.

    Raises
    ------
    ValueError
        Naming the registered families when ``name`` is not one of them.
    """
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown family {name!r}; choose from {sorted(FAMILIES)}"
        ) from None
