"""Column groups of :class:`~emkit.MixedMixture`: reading the ``families`` spec.

A spec is a list of ``(name, family, columns)`` or ``(name, family, columns,
options)`` in the style of scikit-learn's ``ColumnTransformer``: ``family`` a
name of :data:`emkit.families.registry.FAMILIES`, ``columns`` one column or a
list of columns by name (pandas) or position, ``options`` a dict of the
family's settings (``{"covariance_type": "VVV"}``, ``{"alpha": 1.0}``).
Every problem is a one-line ValueError naming the group and column.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from ..families.registry import FAMILIES, get_family
from ._encoding import Table, is_numeric

#: Family constructor arguments that come from the data, not from the user.
DATA_ARGUMENTS = frozenset({"self", "n_levels", "prior_mean"})
REMAINDER = ("drop", "error")


@dataclasses.dataclass(frozen=True)
class Group:
    """A resolved group: name, family name, column positions in X, family options."""

    name: str
    family: str
    positions: tuple[int, ...]
    options: dict

    @property
    def family_class(self):
        return FAMILIES[self.family]

    @property
    def categorical(self) -> bool:
        return bool(getattr(self.family_class, "encodes_categories", False))


def family_options(family: str) -> list[str]:
    """The settings a family takes in a spec (its constructor's arguments)."""
    signature = inspect.signature(get_family(family).__init__)
    return [name for name in signature.parameters if name not in DATA_ARGUMENTS]


def _column_list(columns: Any, group: str) -> list:
    if isinstance(columns, (str, Integral)) and not isinstance(columns, bool):
        return [columns]
    if isinstance(columns, np.ndarray):
        columns = columns.tolist()
    if not isinstance(columns, Sequence) or isinstance(columns, str):
        raise ValueError(f"group {group!r}: columns must be a column name or position, or a "
                         f"list of them, got {columns!r}")
    return list(columns)


def _position(column: Any, table: Table, group: str) -> int:
    if isinstance(column, str):
        if table.names is None:
            raise ValueError(f"group {group!r} names column {column!r}, but X has no column "
                             "names (pass a pandas DataFrame, or give positions)")
        if column not in table.names:
            raise ValueError(f"group {group!r}: X has no column {column!r}")
        return table.names.index(column)
    if isinstance(column, (Integral, np.integer)) and not isinstance(column, bool):
        n = table.n_columns
        if not -n <= int(column) < n:
            raise ValueError(f"group {group!r}: column position {column} is out of range for "
                             f"X with {n} columns")
        return int(column) % n
    raise ValueError(f"group {group!r}: a column must be a name (str) or a position (int), "
                     f"got {column!r}")


def parse_spec(spec: Any) -> list[tuple[str, str, list, dict]]:
    """Check the form of a spec (no data needed): names, families, options."""
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError("families must be a non-empty list of (name, family, columns[, "
                         f"options]) tuples, got {spec!r}")
    out, names = [], set()
    for item in spec:
        if not isinstance(item, (list, tuple)) or len(item) not in (3, 4):
            raise ValueError("every entry of families must be (name, family, columns) or "
                             f"(name, family, columns, options), got {item!r}")
        name, family, columns = item[:3]
        options = item[3] if len(item) == 4 else {}
        if not isinstance(name, str) or not name:
            raise ValueError(f"a group name must be a non-empty string, got {name!r}")
        if name in names:
            raise ValueError(f"group name {name!r} is used twice")
        names.add(name)
        if not isinstance(family, str) or family not in FAMILIES:
            raise ValueError(f"group {name!r}: unknown family {family!r}; choose from "
                             f"{sorted(FAMILIES)}")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ValueError(f"group {name!r}: options must be a dict, got {options!r}")
        allowed = family_options(family)
        for key in options:
            if key not in allowed:
                raise ValueError(f"group {name!r}: family {family!r} has no option {key!r} "
                                 f"(options: {allowed})")
        columns = _column_list(columns, name)
        if not columns:
            raise ValueError(f"group {name!r} has no columns")
        out.append((name, family, columns, dict(options)))
    return out


def inferred_spec(table: Table) -> list[tuple[str, str, list, dict]]:
    """``families=None``: numeric columns form one Gaussian group, the others one
    categorical group (bool and pandas categorical columns are categorical)."""
    numeric = [j for j in range(table.n_columns) if is_numeric(table.column(j))]
    other = [j for j in range(table.n_columns) if j not in numeric]
    spec = []
    if numeric:
        spec.append(("gaussian", "gaussian", numeric, {}))
    if other:
        spec.append(("categorical", "categorical", other, {}))
    return spec


def resolve_groups(spec: Any, table: Table, remainder: str) -> list[Group]:
    """The groups of a spec on this table: positions checked, overlaps and (with
    ``remainder="error"``) unused columns refused."""
    parsed = inferred_spec(table) if spec is None else parse_spec(spec)
    owner: dict[int, str] = {}
    groups = []
    for name, family, columns, options in parsed:
        positions = []
        for column in columns:
            j = _position(column, table, name)
            if j in owner:
                raise ValueError(f"{table.label(j)} is in groups {owner[j]!r} and {name!r}; "
                                 "a column belongs to one group")
            owner[j] = name
            positions.append(j)
        groups.append(Group(name, family, tuple(positions), options))
    if remainder == "error":
        unused = [j for j in range(table.n_columns) if j not in owner]
        if unused:
            raise ValueError(f"{table.label(unused[0])} is in no group (remainder='error'); "
                             "add it to a group or use remainder='drop'")
    return groups
