"""``emkit fit --family mixed --group NAME:FAMILY:COLS ...``: a :class:`emkit.MixedMixture`.

Every ``--group`` is one entry ``(NAME, FAMILY, columns)`` of the estimator's
``families``: FAMILY a name of :data:`emkit.families.registry.FAMILIES`
(gaussian, categorical, poisson, bernoulli), COLS column names or 1-based
column numbers of the file, separated by commas.  Every feature column (after
``--columns``, ``--drop``, ``--id-column``) must be in exactly one group: a
column in no group is an error listing them all (leave such columns out with
``--drop``).  ``--covariance`` and ``--reg-covar`` go to every Gaussian group,
``--alpha`` to every discrete group.

The file is read as text; the cells of the non-categorical groups are then
parsed as numbers here (an error names the row, the column and its group), so
the estimator gets one object array whose columns are the features in file
order, and the groups name them by position (the model file records the
column names, which ``predict`` and ``score`` check).
"""

from __future__ import annotations

import argparse

import numpy as np

from ._cli_common import CommandError
from ._cli_data import Data
from ._csv_reader import _cell_error, _number

#: Family options the command sets for every group whose family takes them.
GROUP_OPTIONS = {"covariance_type": ("covariance", "--covariance"),
                 "reg_covar": ("reg_covar", "--reg-covar"),
                 "alpha": ("alpha", "--alpha")}


def parse_groups(values: list[str] | None) -> list[tuple[str, str, list[str]]]:
    """The ``--group NAME:FAMILY:COLS`` options as (name, family, column tokens)."""
    from .families.registry import FAMILIES

    if not values:
        raise CommandError("--family mixed needs its column groups: --group NAME:FAMILY:COLS "
                           "for each (e.g. --group size:gaussian:height,weight --group "
                           "answers:categorical:q1,q2)")
    groups: list[tuple[str, str, list[str]]] = []
    for value in values:
        parts = value.split(":", 2)
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise CommandError(f"--group {value!r}: expected NAME:FAMILY:COLS, e.g. "
                               "size:gaussian:height,weight")
        name, family, columns = (p.strip() for p in parts)
        if family not in FAMILIES:
            raise CommandError(f"--group {value!r}: unknown family {family!r}; choose from "
                               f"{', '.join(sorted(FAMILIES))}")
        if name in (g[0] for g in groups):
            raise CommandError(f"--group {value!r}: the group name {name!r} is used twice")
        tokens = [t.strip() for t in columns.split(",")]
        if not all(tokens):
            raise CommandError(f"--group {value!r}: empty column name (give names or 1-based "
                               "column numbers separated by commas)")
        groups.append((name, family, tokens))
    return groups


def group_options(args: argparse.Namespace,
                  groups: list[tuple[str, str, list[str]]]) -> dict[str, dict]:
    """Group name -> its family options from --covariance, --reg-covar, --alpha; an
    option no group takes is an error."""
    from .models._groups import family_options

    options: dict[str, dict] = {name: {} for name, _, _ in groups}
    for param, (attr, option) in GROUP_OPTIONS.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        takers = [name for name, family, _ in groups if param in family_options(family)]
        if not takers:
            raise CommandError(f"{option} does not apply to any group of --family mixed (no "
                               f"group's family has the option {param!r})")
        for name in takers:
            options[name][param] = value
    return options


def _position(token: str, data: Data, group: str) -> int:
    """The feature position of a --group column (a name, else a 1-based file column)."""
    header = data.header or data.columns
    if token in header:
        name = token
    elif token.isdigit() and 1 <= int(token) <= len(header):
        name = header[int(token) - 1]
    else:
        raise CommandError(f"--group {group}: {data.path} has no column {token[:40]!r}")
    if name not in data.columns:
        why = ("is the id column" if name == data.id_column
               else "is not a feature (left out by --columns or --drop)")
        raise CommandError(f"--group {group}: column {name!r} {why}")
    return data.columns.index(name)


def families_spec(args: argparse.Namespace, data: Data,
                  groups: list[tuple[str, str, list[str]]]) -> list[tuple]:
    """MixedMixture's ``families`` for the data's features (columns by position)."""
    options = group_options(args, groups)
    owner: dict[int, str] = {}
    spec = []
    for name, family, tokens in groups:
        positions = []
        for token in tokens:
            j = _position(token, data, name)
            if j in owner:
                raise CommandError(f"--group {name}: column {data.columns[j]!r} is already in "
                                   f"group {owner[j]!r}; a column belongs to one group")
            owner[j] = name
            positions.append(j)
        spec.append((name, family, positions, options[name]))
    unused = [c for j, c in enumerate(data.columns) if j not in owner]
    if unused:
        listed = ", ".join(repr(c) for c in unused[:12])
        more = f", ... ({len(unused)} in all)" if len(unused) > 12 else ""
        drop = ",".join(unused) if "," not in "".join(unused) else "..."
        raise CommandError(f"--group: columns in no group: {listed}{more}; add them to a "
                           f"group or leave them out with --drop {drop}")
    return spec


def numeric_groups(data: Data, spec: list[tuple]) -> np.ndarray:
    """The text cells as the estimator's input: the columns of non-categorical groups
    parsed as numbers (NaN: missing), the categorical ones kept as text."""
    from .families.registry import FAMILIES

    X = data.X.copy()
    for name, family, positions, _ in spec:
        if getattr(FAMILIES[family], "encodes_categories", False):
            continue
        for j in positions:
            column = np.full(X.shape[0], np.nan)
            for row, cell in enumerate(X[:, j]):
                if cell is None:
                    continue
                value = _number(cell, True)
                if value is None or not np.isfinite(value):
                    where = (f"{data.path}, data row {row + 1}, column {data.columns[j]!r} "
                             f"(group {name!r}, {family})")
                    raise CommandError(_cell_error(cell, where, True))
                column[row] = value
            X[:, j] = column
    return X


def model_spec(model) -> list[tuple]:
    """The groups of a fitted MixedMixture as :func:`numeric_groups` takes them."""
    return [tuple(group) for group in model.groups_]


def is_mixed(model) -> bool:
    return type(model).__name__ == "MixedMixture"
