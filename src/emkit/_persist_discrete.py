"""Saveable discrete and mixed-type mixtures: BernoulliMixture, CategoricalMixture,
PoissonMixture and MixedMixture (one :func:`register_estimator` call each).

Probabilities must lie in [0, 1] (with every categorical variable's levels
summing to 1 in every component), rates must be non-negative, the learned
levels of every categorical column distinct, and every shape must agree with
``n_components``, ``n_features_in_`` and the levels.
"""

from __future__ import annotations

import numpy as np

from ._persist_registry import register_estimator
from ._persist_schema import (
    Array,
    Context,
    ListOf,
    OneOf,
    Optional,
)
from ._persist_shared import (
    EM_ATTRS,
    FEATURES,
    K_D,
    N_STEPS,
    check_cholesky_pair,
    check_shape,
    check_sums_to_one,
    check_weights,
    covariance_shape,
)
from ._persist_specs import DictOf, Levels, Value
from .exceptions import ModelFileError
from .families.registry import FAMILIES
from .models import BernoulliMixture, CategoricalMixture, MixedMixture, PoissonMixture
from .models._groups import Group

WEIGHTS = {"weights_": Array(shape=("n_components",), min=0.0)}
#: Categorical starting values: one (K, L_j) array per column (one array if all L_j agree).
PROBABILITIES_INIT = Optional(OneOf(ListOf(Array(ndim=2)), Array(ndim=3)))
#: A categorical column's learned levels (at least two, distinct).
LEVELS = Levels(min_length=2)


def _level_shape(ctx: Context) -> tuple[int, ...]:
    """(K, L_j): the probabilities of column ``ctx.index`` of ``categories_``."""
    return (ctx.dim("n_components"), len(ctx.values["categories_"][ctx.index]))


def check_level_probabilities(probabilities: list, attr: str = "probabilities_") -> None:
    """Every column's (K, L_j) probabilities sum to 1 over the levels in every component."""
    for j, p in enumerate(probabilities):
        check_sums_to_one(p, f"{attr}[{j}]", "component")


# ------------------------------------------------------------------ Bernoulli, Poisson
def _check_weights_only(estimator, f: dict) -> None:
    check_weights(f)


register_estimator(
    BernoulliMixture,
    required=("n_components",),
    fitted={**WEIGHTS, "probabilities_": Array(shape=K_D, min=0.0, max=1.0),
            **EM_ATTRS, **N_STEPS},
    check=_check_weights_only,
)
register_estimator(
    PoissonMixture,
    required=("n_components",),
    fitted={**WEIGHTS, "rates_": Array(shape=K_D, min=0.0), **EM_ATTRS, **N_STEPS},
    check=_check_weights_only,
)


# ------------------------------------------------------------------ CategoricalMixture
def _check_categorical(estimator, f: dict) -> None:
    check_weights(f)
    check_level_probabilities(f["probabilities_"])


def _restore_categories(estimator) -> None:
    estimator.categories_ = list(estimator.categories_)
    estimator.probabilities_ = list(estimator.probabilities_)


register_estimator(
    CategoricalMixture,
    required=("n_components",),
    fitted={
        **WEIGHTS,
        # decoded before probabilities_ (whose shapes it gives): keep this order
        "categories_": ListOf(LEVELS, length=FEATURES),
        "probabilities_": ListOf(Array(shape=_level_shape, min=0.0, max=1.0),
                                 length=FEATURES),
        **EM_ATTRS,
        **N_STEPS,
    },
    params={
        "categories": Value(),  # "auto" or a list of level lists
        "probabilities_init": PROBABILITIES_INIT,
    },
    check=_check_categorical,
    restore=_restore_categories,
)


# ------------------------------------------------------------------ MixedMixture
class _Groups(Value):
    """``groups_``: ``[name, family, columns, options]`` per group, read back as tuples."""

    def decode(self, value, where, ctx):
        groups = super().decode(value, where, ctx)
        if not isinstance(groups, list) or not groups:
            raise ModelFileError(f"{where} must be a non-empty list of [name, family, "
                                 "columns, options]")
        out = []
        for i, item in enumerate(groups):
            here = f"{where}[{i}]"
            if not isinstance(item, list) or len(item) != 4:
                raise ModelFileError(f"{here} must be [name, family, columns, options]")
            name, family, columns, options = item
            if not isinstance(name, str) or not name:
                raise ModelFileError(f"{here} has an invalid group name {name!r}")
            if family not in FAMILIES:
                raise ModelFileError(f"{here} has unknown family {family!r} (known: "
                                     f"{', '.join(sorted(FAMILIES))})")
            if (not isinstance(columns, list) or not columns or not all(
                    isinstance(c, str) or type(c) is int for c in columns)):
                raise ModelFileError(f"{here} columns must be a non-empty list of column "
                                     "names or positions")
            if not isinstance(options, dict):
                raise ModelFileError(f"{here} options must be an object")
            out.append((name, family, columns, options))
        if len({g[0] for g in out}) != len(out):
            raise ModelFileError(f"{where} names a group twice")
        return out

    def encode(self, value, where, to_dict):
        return [[name, family, _plain_columns(columns, where),
                 super(_Groups, self).encode(options, where, to_dict)]
                for name, family, columns, options in value]


def _plain_columns(columns, where: str):
    """Column names or positions as plain JSON (a list stays a list of str / int)."""
    def plain(column):
        if isinstance(column, str):
            return column
        if isinstance(column, (int, np.integer)) and not isinstance(column, (bool, np.bool_)):
            return int(column)
        raise ValueError(f"{where}: a column must be a name or a position, got {column!r}")
    if isinstance(columns, (list, tuple, np.ndarray)):
        return [plain(c) for c in columns]
    return plain(columns)


def _group_names(ctx: Context) -> list[str]:
    return [g[0] for g in ctx.values["groups_"]]


def _categorical_names(ctx: Context) -> list[str]:
    return [g[0] for g in ctx.values["groups_"]
            if getattr(FAMILIES[g[1]], "encodes_categories", False)]


#: The fitted fields of every family in ``parameters_`` (shapes checked in _check_mixed).
PART_FIELDS = {
    "gaussian": ("means", "covariances", "precisions_cholesky"),
    "bernoulli": ("probabilities",),
    "poisson": ("rates",),
    "categorical": ("probabilities",),
}


def _check_part(name: str, family: str, options: dict, theta: dict, K: int, d: int,
                levels: list | None) -> None:
    where = f"parameters_[{name!r}]"
    fields = PART_FIELDS[family]
    if sorted(theta) != sorted(fields):
        raise ModelFileError(f"fitted attribute {where} has fields {sorted(theta)}, expected "
                             f"{sorted(fields)} ({family} group)")
    why = f"n_components={K}, {d} column(s) in group {name!r}"
    if family == "categorical":
        p = theta["probabilities"]
        if not isinstance(p, list) or len(p) != d:
            raise ModelFileError(f"fitted attribute {where}['probabilities'] must be a list of "
                                 f"{d} arrays")
        for j, (pj, lv) in enumerate(zip(p, levels, strict=True)):
            at = f"{where}['probabilities'][{j}]"
            if not isinstance(pj, np.ndarray) or pj.shape != (K, len(lv)):
                raise ModelFileError(f"fitted attribute {at} must have shape [{K}, {len(lv)}]")
            if (pj < 0).any() or (pj > 1).any():
                raise ModelFileError(f"fitted attribute {at} holds values outside [0, 1]")
        check_level_probabilities(p, f"{where}['probabilities']")
        return
    for field in fields:
        if not isinstance(theta[field], np.ndarray) or theta[field].dtype != np.float64:
            raise ModelFileError(f"fitted attribute {where}[{field!r}] must be a float64 array")
    if family == "gaussian":
        ct = options.get("covariance_type", "full")
        check_shape(theta, "means", (K, d), why)
        shape = covariance_shape(ct, K, d)
        for field in ("covariances", "precisions_cholesky"):
            if theta[field].shape != shape:
                raise ModelFileError(f"fitted attribute {where}[{field!r}] has shape "
                                     f"{list(theta[field].shape)}, expected {list(shape)} "
                                     f"(covariance_type={ct!r}, {why})")
        try:
            check_cholesky_pair(ct, theta["covariances"], theta["precisions_cholesky"])
        except ModelFileError as exc:
            raise ModelFileError(f"group {name!r}: {exc}") from None
        return
    field = fields[0]
    value = theta[field]
    if value.shape != (K, d):
        raise ModelFileError(f"fitted attribute {where}[{field!r}] has shape "
                             f"{list(value.shape)}, expected {[K, d]} ({why})")
    if (value < 0).any() or (field == "probabilities" and (value > 1).any()):
        bound = "in [0, 1]" if field == "probabilities" else "non-negative"
        raise ModelFileError(f"fitted attribute {where}[{field!r}] must be {bound}")


def _check_mixed(estimator: MixedMixture, f: dict) -> None:
    check_weights(f)
    K, D = estimator.n_components, f[FEATURES]
    seen: set = set()
    for name, family, columns, options in f["groups_"]:
        for column in columns:
            if type(column) is int and not 0 <= column < D:
                raise ModelFileError(f"fitted attribute 'groups_': group {name!r} has column "
                                     f"position {column}, outside 0..{D - 1}")
            if column in seen:
                raise ModelFileError(f"fitted attribute 'groups_': column {column!r} is in "
                                     "two groups")
            seen.add(column)
        levels = f["categories_"].get(name)
        if levels is not None and len(levels) != len(columns):
            raise ModelFileError(f"fitted attribute 'categories_'[{name!r}] has {len(levels)} "
                                 f"columns, expected {len(columns)}")
        try:  # the group's family accepts its options (as when fitting)
            extra = {"n_levels": [len(c) for c in levels]} if levels is not None else {}
            FAMILIES[family](**options, **extra)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ModelFileError(f"fitted attribute 'groups_': group {name!r} ({family}): "
                                 f"{' '.join(str(exc).split())}") from None
        _check_part(name, family, options, f["parameters_"][name], K, len(columns), levels)


def _restore_mixed(estimator: MixedMixture) -> None:
    names = getattr(estimator, "feature_names_in_", None)
    groups = []
    for name, family, columns, options in estimator.groups_:
        positions = []
        for column in columns:
            if isinstance(column, str):
                if names is None or column not in list(names):
                    raise ModelFileError(f"fitted attribute 'groups_': group {name!r} names "
                                         f"column {column!r}, which is not in feature_names")
                positions.append(list(names).index(column))
            else:
                positions.append(column)
        groups.append(Group(name, family, tuple(positions), dict(options)))
    estimator._groups_fitted = groups
    estimator._fitted_spec = estimator._spec_key()
    estimator.categories_ = {k: list(v) for k, v in estimator.categories_.items()}


class _Families(Value):
    """``families``: null or ``(name, family, columns[, options])`` entries, read back
    as a list of tuples."""

    def decode(self, value, where, ctx):
        spec = super().decode(value, where, ctx)
        if spec is None:
            return None
        if not isinstance(spec, list) or not all(isinstance(item, list) for item in spec):
            raise ModelFileError(f"{where} must be null or a list of [name, family, columns"
                                 "(, options)] lists")
        return [tuple(item) for item in spec]

    def encode(self, value, where, to_dict):
        if value is None:
            return None
        return [[*item[:2], _plain_columns(item[2], where),
                 *(super(_Families, self).encode(option, where, to_dict) for option in item[3:])]
                for item in value]


register_estimator(
    MixedMixture,
    required=("n_components",),
    fitted={
        **WEIGHTS,
        "groups_": _Groups(nullable=False),
        "categories_": DictOf(ListOf(LEVELS), keys=_categorical_names),
        "parameters_": DictOf(DictOf(Value()), keys=_group_names),
        **EM_ATTRS,
        **N_STEPS,
    },
    params={"families": _Families()},
    check=_check_mixed,
    restore=_restore_mixed,
)
