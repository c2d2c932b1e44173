"""Specs of model-file fields: how each value is written and checked when read back.

A model file (``docs/model-format.md``) stores an estimator's parameters and
fitted attributes as JSON.  Every fitted attribute, and every parameter whose
rules the estimator itself does not check, has a *spec* here: how the value
is written, and what a file must hold for it to be read back (JSON type,
dtype, shape, range).  Reading validates each field against its spec and
raises :class:`~emkit.exceptions.ModelFileError` naming the field.

An estimator becomes saveable with one call to
:func:`emkit._persist_registry.register_estimator` naming the specs of its
fitted attributes (see :mod:`emkit._persist_estimators` for the built-in ones)::

    register_estimator(
        PoissonMixture,
        required=("n_components",),
        fitted={
            "weights_": Array(shape=("n_components",), min=0.0),
            "rates_": Array(shape=("n_components", "n_features_in_"), min=0.0),
            "n_features_in_": Int(min=1),
            ...
        },
        check=_check_poisson,        # optional: relations between fields
    )

Shapes name their dimensions: an integer, or the name of an integer
parameter or fitted attribute decoded before (``"n_components"``,
``"n_features_in_"``); a callable receiving the decoded values can compute
a shape that depends on strings (a covariance type) or on a list index.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .exceptions import ModelFileError

__all__ = [
    "Array",
    "Bool",
    "Float",
    "Int",
    "ListOf",
    "MaybeAbsent",
    "Model",
    "Null",
    "OneOf",
    "Optional",
    "Spec",
    "Str",
    "StrList",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DTYPES = {"float64": np.float64, "int64": np.int64}
ARRAY_KEYS = frozenset({"dtype", "shape", "data"})
#: Arrays in a model file have at most this many dimensions.
MAX_NDIM = 32
#: Nested model documents (a wrapper's ``mixture_``) go at most this deep.
MAX_MODEL_DEPTH = 8


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages stay one short line)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # e.g. an int with more digits than repr allows
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bad(where: str, what: str) -> ModelFileError:
    return ModelFileError(f"{where} {what}")


class TooDeep(ModelFileError):
    """Model documents nested beyond :data:`MAX_MODEL_DEPTH` (reported once, not per level)."""


class Context:
    """What a spec sees while decoding: the values decoded so far and the document reader.

    ``values`` holds the decoded parameters and the fitted attributes decoded
    before this one (dimensions are looked up there); ``build`` reads a nested
    model document; ``index`` is the position inside a :class:`ListOf`.
    """

    def __init__(self, values: Mapping[str, Any], build: Callable[[Any, str], Any] | None = None,
                 depth: int = 0, index: int | None = None) -> None:
        self.values = values
        self.build = build
        self.depth = depth
        self.index = index

    def at(self, index: int) -> Context:
        return Context(self.values, self.build, self.depth, index)

    def dim(self, name: str) -> int:
        value = self.values.get(name)
        if type(value) is not int:
            raise ModelFileError(f"the schema needs an integer {name!r} to check a shape")
        return value


class Spec:
    """How one field is written (:meth:`encode`) and checked when read (:meth:`decode`)."""

    def decode(self, value: Any, where: str, ctx: Context) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, where: str, to_dict: Callable[[Any], dict]) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    #: Scalars are decoded first, so that arrays can name them as dimensions.
    scalar = False


def _as_float(value: Any, where: str) -> float:
    """A JSON number as a float (huge integers are errors, not OverflowError)."""
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        raise bad(where, f"must be a finite number, got an integer with {len(str(abs(value)))}"
                  " digits")
    if type(value) not in (int, float) or not math.isfinite(value):
        raise bad(where, f"must be a finite number, got {short(value)}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Int(Spec):
    """An integer in ``[min, max]`` (JSON integer; booleans are not integers)."""

    min: int | None = 0
    max: int | None = INT64_MAX
    scalar = True

    def describe(self) -> str:
        if self.min is not None and self.max not in (None, INT64_MAX):
            return f"an integer in [{self.min}, {self.max}]"
        return "an integer" + (f" >= {self.min}" if self.min is not None else "")

    def decode(self, value, where, ctx):
        low = INT64_MIN if self.min is None else self.min
        high = INT64_MAX if self.max is None else self.max
        if type(value) is not int or not low <= value <= high:
            raise bad(where, f"must be {self.describe()}, got {short(value)}")
        return value

    def encode(self, value, where, to_dict):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{where} is not an integer: {short(value)}")
        return int(value)


@dataclasses.dataclass(frozen=True)
class Float(Spec):
    """A finite number in a range; ``null`` in the file stands for ``null_value`` if given."""

    min: float | None = None
    max: float | None = None
    strict_min: bool = False
    null_value: float | None = None
    scalar = True

    def describe(self) -> str:
        text = "a finite number"
        if self.min is not None:
            text += f" {'>' if self.strict_min else '>='} {self.min:g}"
        if self.max is not None:
            text += f" <= {self.max:g}"
        return text

    def decode(self, value, where, ctx):
        if value is None and self.null_value is not None:
            return self.null_value
        number = _as_float(value, where)
        low_ok = self.min is None or (number > self.min if self.strict_min else number >= self.min)
        if not low_ok or (self.max is not None and number > self.max):
            raise bad(where, f"must be {self.describe()}, got {short(value)}")
        return number

    def encode(self, value, where, to_dict):
        if self.null_value is not None and value == self.null_value:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{where} is not a number: {short(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{where} is {number}")
        return number


@dataclasses.dataclass(frozen=True)
class Bool(Spec):
    """``true`` or ``false``."""

    scalar = True

    def describe(self) -> str:
        return "true or false"

    def decode(self, value, where, ctx):
        if type(value) is not bool:
            raise bad(where, f"must be true or false, got {short(value)}")
        return value

    def encode(self, value, where, to_dict):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where} is not a boolean: {short(value)}")
        return bool(value)


@dataclasses.dataclass(frozen=True)
class Null(Spec):
    """Always ``null`` (a parameter that is never saved; ``why`` says so in the error)."""

    why: str = ""
    scalar = True

    def describe(self) -> str:
        return "null"

    def decode(self, value, where, ctx):
        if value is not None:
            raise bad(where, f"must be null ({self.why}), got {short(value)}")
        return None

    def encode(self, value, where, to_dict):
        if value is not None:
            raise ValueError(f"{where} cannot be written ({self.why})")
        return None


@dataclasses.dataclass(frozen=True)
class Str(Spec):
    """A string, optionally one of ``options``."""

    options: tuple[str, ...] | None = None
    scalar = True

    def describe(self) -> str:
        return "a string" if self.options is None else f"one of {list(self.options)}"

    def decode(self, value, where, ctx):
        if not isinstance(value, str) or (self.options is not None and value not in self.options):
            raise bad(where, f"must be {self.describe()}, got {short(value)}")
        return value

    def encode(self, value, where, to_dict):
        if not isinstance(value, str):
            raise TypeError(f"{where} is not a string: {short(value)}")
        return value


def _resolve_shape(shape: Any, ctx: Context) -> tuple[int, ...]:
    if callable(shape):
        return tuple(int(s) for s in shape(ctx))
    return tuple(s if isinstance(s, int) else ctx.dim(s) for s in shape)


def decode_array(obj: Any, where: str, dtype: str | None = None) -> np.ndarray:
    """An array object ``{"dtype", "shape", "data"}`` as a finite ndarray."""
    if not isinstance(obj, dict) or obj.keys() != ARRAY_KEYS:
        raise bad(where, 'must be an array object {"dtype", "shape", "data"}')
    if not isinstance(obj["dtype"], str) or obj["dtype"] not in DTYPES or (
            dtype is not None and obj["dtype"] != dtype):
        raise bad(where, f"has dtype {short(obj['dtype'])}, expected {dtype or 'float64'!r}")
    shape, data = obj["shape"], obj["data"]
    if (not isinstance(shape, list) or len(shape) > MAX_NDIM
            or not all(type(s) is int and 0 <= s <= INT64_MAX for s in shape)):
        raise bad(where, f"has an invalid shape {short(shape)}")
    size = math.prod(shape)
    if not isinstance(data, list) or len(data) != size:
        count = len(data) if isinstance(data, list) else "no"
        raise bad(where, f"has {count} values but shape {shape} needs {size}")
    integer = obj["dtype"] == "int64"
    allowed = (int,) if integer else (int, float)
    if not all(type(v) in allowed for v in data):
        raise bad(where, f"holds a value that is not {'an integer' if integer else 'a number'}")
    try:
        arr = np.array(data, dtype=DTYPES[obj["dtype"]]).reshape(shape)
    except OverflowError:
        raise bad(where, "holds a number out of range") from None
    if not np.isfinite(arr).all():
        raise bad(where, "holds a non-finite number")
    return arr


def encode_array(value: Any, dtype: str) -> dict:
    arr = np.asarray(value, dtype=DTYPES[dtype])
    return {"dtype": dtype, "shape": list(arr.shape), "data": arr.ravel().tolist()}


def _check_bound(arr: np.ndarray, wrong: np.ndarray, where: str, rule: str) -> None:
    if wrong.any():
        index = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise bad(where, f"holds {float(arr[index])!r} at {list(index)} (values must be {rule})")


@dataclasses.dataclass(frozen=True)
class Array(Spec):
    """A finite array: dtype, shape (or only ``ndim``), and bounds on the values.

    ``dtype`` is "float64", "int64" or None (either).
    ``shape`` entries are ints or names of integer values decoded before; or
    ``shape`` is a callable ``f(ctx) -> tuple``.  ``why`` lists the values
    quoted in a shape error (default: the names in ``shape``).
    """

    dtype: str | None = "float64"
    shape: Any = None
    ndim: int | tuple[int, ...] | None = None
    min: float | None = None
    strict_min: bool = False
    max: float | None = None
    why: tuple[str, ...] | None = None

    def describe(self) -> str:
        return f"a {self.dtype or 'float64 or int64'} array"

    def _why(self, ctx: Context) -> str:
        names = self.why
        if names is None:
            names = () if callable(self.shape) else tuple(
                s for s in self.shape if isinstance(s, str))
        parts = [f"{n}={ctx.values[n]!r}" for n in names if n in ctx.values]
        return f" ({', '.join(parts)})" if parts else ""

    def decode(self, value, where, ctx):
        arr = decode_array(value, where, self.dtype)
        if self.shape is not None:
            expected = _resolve_shape(self.shape, ctx)
            if arr.shape != expected:
                raise bad(where, f"has shape {list(arr.shape)}, expected {list(expected)}"
                          f"{self._why(ctx)}")
        ndims = (self.ndim,) if isinstance(self.ndim, int) else self.ndim
        if ndims is not None and arr.ndim not in ndims:
            raise bad(where, f"must have {' or '.join(map(str, ndims))} dimensions, has "
                      f"{arr.ndim}")
        if arr.size and self.min is not None:
            low = arr <= self.min if self.strict_min else arr < self.min
            relation = ">" if self.strict_min else ">="
            _check_bound(arr, low, where, f"{relation} {self.min:g}")
        if arr.size and self.max is not None:
            _check_bound(arr, arr > self.max, where, f"<= {self.max:g}")
        return arr

    def encode(self, value, where, to_dict):
        arr = np.asarray(value, dtype=float if self.dtype == "float64" else None)
        if arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise ValueError(f"{where} contains NaN or inf, or values that are not numbers")
        dtype = self.dtype or ("int64" if arr.dtype.kind in "iu" else "float64")
        return encode_array(arr, dtype)


@dataclasses.dataclass(frozen=True)
class StrList(Spec):
    """A list of strings (e.g. the learned levels of a categorical column)."""

    length: int | str | None = None
    distinct: bool = False
    as_array: bool = False

    def describe(self) -> str:
        return "a list of strings"

    def decode(self, value, where, ctx):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(where, "must be a list of strings")
        if self.length is not None:
            n = self.length if isinstance(self.length, int) else ctx.dim(self.length)
            if len(value) != n:
                raise bad(where, f"has {len(value)} strings, expected {n}")
        if self.distinct and len(set(value)) != len(value):
            raise bad(where, "must hold distinct strings")
        return np.asarray(value, dtype=object) if self.as_array else list(value)

    def encode(self, value, where, to_dict):
        return [str(v) for v in value]


@dataclasses.dataclass(frozen=True)
class ListOf(Spec):
    """A list whose entries all follow ``item`` (e.g. one array per column)."""

    item: Spec
    length: int | str | None = None

    def describe(self) -> str:
        return f"a list of {self.item.describe()}s"

    def decode(self, value, where, ctx):
        if not isinstance(value, list):
            raise bad(where, f"must be {self.describe()}")
        if self.length is not None:
            n = self.length if isinstance(self.length, int) else ctx.dim(self.length)
            if len(value) != n:
                raise bad(where, f"has {len(value)} entries, expected {n}")
        return [self.item.decode(v, f"{where}[{i}]", ctx.at(i)) for i, v in enumerate(value)]

    def encode(self, value, where, to_dict):
        if not isinstance(value, (list, tuple)):  # an array is not a list of arrays
            raise TypeError(f"{where} is not a list: {type(value).__name__}")
        return [self.item.encode(v, f"{where}[{i}]", to_dict) for i, v in enumerate(value)]


@dataclasses.dataclass(frozen=True)
class Optional(Spec):
    """``null`` or a value following ``spec``."""

    spec: Spec

    @property
    def scalar(self) -> bool:  # type: ignore[override]
        return self.spec.scalar

    def describe(self) -> str:
        return f"null or {self.spec.describe()}"

    def decode(self, value, where, ctx):
        return None if value is None else self.spec.decode(value, where, ctx)

    def encode(self, value, where, to_dict):
        return None if value is None else self.spec.encode(value, where, to_dict)


class _Absent:
    """The value of a :class:`MaybeAbsent` attribute that the estimator does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


#: Stands for a fitted attribute the estimator lacks (written as null, not set when read).
ABSENT = _Absent()


@dataclasses.dataclass(frozen=True)
class MaybeAbsent(Spec):
    """A fitted attribute that a fitted estimator may lack (``null`` in the file).

    E.g. ``labels_`` of a KMeans fitted from a file source, ``n_steps_`` of a
    mixture fitted without the stepwise schedule, the emission parameters of an
    ``HMM`` that its emission does not have.  Read back, ``null`` leaves the
    attribute unset (:data:`ABSENT` in the decoded values).
    """

    spec: Spec

    @property
    def scalar(self) -> bool:  # type: ignore[override]
        return self.spec.scalar

    def describe(self) -> str:
        return f"null or {self.spec.describe()}"

    def decode(self, value, where, ctx):
        return ABSENT if value is None else self.spec.decode(value, where, ctx)

    def encode(self, value, where, to_dict):
        return None if value is ABSENT else self.spec.encode(value, where, to_dict)


class OneOf(Spec):
    """A value following the first of ``specs`` that accepts it."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs
        self.scalar = all(s.scalar for s in specs)

    def describe(self) -> str:
        return " or ".join(s.describe() for s in self.specs)

    def decode(self, value, where, ctx):
        for spec in self.specs:
            try:
                return spec.decode(value, where, ctx)
            except ModelFileError:
                continue
        raise bad(where, f"must be {self.describe()}, got {short(value)}")

    def encode(self, value, where, to_dict):
        for spec in self.specs:
            try:
                return spec.encode(value, where, to_dict)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{where} cannot be written ({type(value).__name__})")


@dataclasses.dataclass(frozen=True)
class Model(Spec):
    """A nested model document (a complete file's content) holding one of ``estimators``."""

    estimators: tuple[str, ...]

    def describe(self) -> str:
        return "a nested model object"

    def decode(self, value, where, ctx):
        if not isinstance(value, dict):
            raise bad(where, "must be a nested model object")
        if ctx.depth >= MAX_MODEL_DEPTH:
            raise TooDeep(f"model documents are nested more than {MAX_MODEL_DEPTH} levels "
                          f"deep (in {where})")
        try:
            model = ctx.build(value, ctx.depth + 1)
        except TooDeep:
            raise
        except ModelFileError as exc:
            raise ModelFileError(f"{where}: {exc}") from None
        if type(model).__name__ not in self.estimators:
            raise bad(where, f"must hold a {' or '.join(self.estimators)}, not a "
                      f"{type(model).__name__}")
        return model

    def encode(self, value, where, to_dict):
        return to_dict(value)
