"""More specs of model-file fields: learned levels, free-form settings, dicts, switches.

:mod:`emkit._persist_schema` has the basic specs (numbers, strings, arrays,
lists, nested models); these serve the estimators whose fitted state holds
labels of any type (``categories_``, ``classes_``), settings dicts (an HMM's
``emission_options``, a MixedMixture group's options), per-name dicts
(``parameters_`` by group) or attributes whose form depends on another field
(the emission parameters of an ``HMM``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._persist_schema import (
    ARRAY_KEYS,
    INT64_MAX,
    INT64_MIN,
    Context,
    ListOf,
    Spec,
    bad,
    decode_array,
    encode_array,
    short,
)

__all__ = ["DictOf", "Exact", "Levels", "Switch", "Value"]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


@dataclasses.dataclass(frozen=True)
class Levels(Spec):
    """Distinct labels of one type: a column's ``categories_`` or a classifier's ``classes_``.

    Written as a list of strings, a list of booleans, or an int64 / float64
    array object; read back as a 1-D array of that type (strings as a numpy
    string array).  Labels mixing types (a pandas categorical with strings
    and numbers) cannot be saved.
    """

    length: int | None = None
    min_length: int = 1

    def describe(self) -> str:
        return "a list of distinct strings or booleans, or a 1-d number array"

    def decode(self, value, where, ctx):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            levels = np.asarray(value, dtype=str)
        elif isinstance(value, list) and value and all(type(v) is bool for v in value):
            levels = np.asarray(value, dtype=bool)
        elif isinstance(value, dict):
            levels = decode_array(value, where, None if value.get("dtype") == "int64"
                                  else "float64")
            if levels.ndim != 1:
                raise bad(where, f"must have 1 dimension, has {levels.ndim}")
        else:
            raise bad(where, f"must be {self.describe()}")
        n = levels.shape[0]
        if self.length is not None and n != self.length:
            raise bad(where, f"has {n} labels, expected {self.length}")
        if n < self.min_length:
            raise bad(where, f"has {n} labels, expected at least {self.min_length}")
        if np.unique(levels).shape[0] != n:
            raise bad(where, "must hold distinct labels")
        return levels

    def encode(self, value, where, to_dict):
        levels = np.asarray(value)
        if levels.ndim != 1:
            raise ValueError(f"{where} must be 1-d, has shape {levels.shape}")
        items = levels.tolist()
        if levels.dtype.kind in "US" or (items and all(isinstance(v, str) for v in items)):
            return [str(v) for v in items]
        if levels.dtype.kind == "b" or (items and all(isinstance(v, (bool, np.bool_))
                                                      for v in items)):
            return [bool(v) for v in items]
        if all(_is_int(v) for v in items) and all(INT64_MIN <= v <= INT64_MAX for v in items):
            return encode_array(np.asarray(items, dtype=np.int64), "int64")
        if all(_is_real(v) and math.isfinite(v) for v in items):
            return encode_array(np.asarray(items, dtype=np.float64), "float64")
        kinds = sorted({type(v).__name__ for v in items})
        raise ValueError(f"{where} holds labels of types {kinds}; only strings, booleans or "
                         "finite numbers (all of one kind) can be saved")


def encode_value(value: Any, where: str) -> Any:
    """A settings value as JSON: scalars, number arrays (array objects), lists, dicts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if _is_int(value):
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise ValueError(f"{where} is an integer out of range")
        return int(value)
    if _is_real(value):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {float(value)}")
        return float(value)
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where} has keys that are not strings")
        return {k: encode_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]  # one per item
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.dtype.kind in "iuf" and arr.size:
            if arr.dtype.kind == "f" or not (INT64_MIN <= arr.min() and arr.max() <= INT64_MAX):
                if not np.isfinite(arr.astype(float)).all():
                    raise ValueError(f"{where} contains NaN or inf")
                return encode_array(arr, "float64")
            return encode_array(arr, "int64")
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"{where} cannot be written ({type(value).__name__})")


def decode_value(value: Any, where: str, depth: int = 0) -> Any:
    """The inverse of :func:`encode_value` (lists stay lists, array objects become arrays)."""
    if depth > 16:
        raise bad(where, "is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise bad(where, f"is an integer out of range ({len(str(abs(value)))} digits)")
        return value
    if type(value) is float:
        return value
    if isinstance(value, dict) and value.keys() == ARRAY_KEYS:
        return decode_array(value, where, None if value.get("dtype") == "int64" else "float64")
    if isinstance(value, dict):
        return {k: decode_value(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise bad(where, f"has an unsupported value {short(value)}")


@dataclasses.dataclass(frozen=True)
class Value(Spec):
    """Free-form settings: JSON scalars, number arrays, lists and string-keyed dicts.

    ``mapping=True`` requires a JSON object (an options dict) or, with
    ``nullable``, null.
    """

    mapping: bool = False
    nullable: bool = True

    def describe(self) -> str:
        return "an object of settings" if self.mapping else "a settings value"

    def _check_form(self, value, where) -> None:
        if value is None and self.nullable:
            return
        if self.mapping and (not isinstance(value, Mapping) or (
                isinstance(value, dict) and value.keys() == ARRAY_KEYS)):
            raise bad(where, f"must be {'null or ' if self.nullable else ''}a JSON object of "
                      f"settings, got {short(value)}")

    def decode(self, value, where, ctx):
        self._check_form(value, where)
        return decode_value(value, where)

    def encode(self, value, where, to_dict):
        self._check_form(value, where)
        return encode_value(value, where)


@dataclasses.dataclass(frozen=True)
class DictOf(Spec):
    """A JSON object with string keys whose values all follow ``item``.

    ``keys(ctx)``, when given, returns the keys the object must have (in any
    order), e.g. the names of the groups of a MixedMixture.
    """

    item: Spec
    keys: Callable[[Context], list[str]] | None = None

    def describe(self) -> str:
        return f"an object of {self.item.describe()}s"

    def decode(self, value, where, ctx):
        if not isinstance(value, dict):
            raise bad(where, f"must be {self.describe()}")
        if self.keys is not None:
            expected = list(self.keys(ctx))
            if sorted(value) != sorted(expected):
                raise bad(where, f"has keys {sorted(value)}, expected {sorted(expected)}")
        return {k: self.item.decode(v, f"{where}[{k!r}]", ctx) for k, v in value.items()}

    def encode(self, value, where, to_dict):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where} is not a dict with string keys")
        return {k: self.item.encode(v, f"{where}[{k!r}]", to_dict) for k, v in value.items()}


class Switch(Spec):
    """The spec of ``cases[select(ctx)]``: a field whose form depends on another one.

    Writing tries the cases in order (the document is then checked by reading
    it back, which uses the selected case).
    """

    def __init__(self, select: Callable[[Context], str], cases: Mapping[str, Spec]) -> None:
        self.select = select
        self.cases = dict(cases)
        self.scalar = all(s.scalar for s in self.cases.values())

    def describe(self) -> str:
        return " or ".join(sorted({s.describe() for s in self.cases.values()}))

    def decode(self, value, where, ctx):
        key = self.select(ctx)
        if key not in self.cases:
            raise bad(where, f"is not used by {key!r}")
        return self.cases[key].decode(value, where, ctx)

    def encode(self, value, where, to_dict):
        # lists first: a list of arrays must not become one stacked array
        order = sorted(self.cases.values(), key=lambda spec: not isinstance(spec, ListOf))
        for spec in order:
            try:
                return spec.encode(value, where, to_dict)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{where} cannot be written ({type(value).__name__})")


@dataclasses.dataclass(frozen=True)
class Exact(Spec):
    """A parameter that must be written by ``spec``: when it cannot be, saving fails
    (instead of writing null and a note), e.g. an HMM's ``emission`` given as a family
    object, without which the file would describe another model."""

    spec: Spec
    why: str = ""

    @property
    def scalar(self) -> bool:  # type: ignore[override]
        return self.spec.scalar

    def describe(self) -> str:
        return self.spec.describe()

    def decode(self, value, where, ctx):
        return self.spec.decode(value, where, ctx)

    def encode(self, value, where, to_dict):
        return self.spec.encode(value, where, to_dict)
