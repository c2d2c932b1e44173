"""The registry of saveable estimators and the parameter codecs of model files.

:func:`register_estimator` makes an estimator class saveable (its fitted
attributes' specs, required parameters, checks); :func:`register_param_type`
makes a parameter object (such as :class:`~emkit.priors.GaussianPrior`)
writable.  Parameters without a spec are written as plain JSON values
(:func:`encode_param`) and read back by :func:`decode_param`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._persist_schema import (
    ARRAY_KEYS,
    INT64_MAX,
    INT64_MIN,
    Bool,
    Context,
    Int,
    Null,
    OneOf,
    Optional,
    Spec,
    Str,
    bad,
    decode_array,
    encode_array,
    short,
)
from ._persist_shared import SettingsSpec
from .em.sparse import check_sparse
from .em.variants import check_annealing, check_monte_carlo

__all__ = ["EstimatorSchema", "ParamType", "register_estimator", "register_param_type"]


@dataclasses.dataclass(frozen=True)
class ParamType:
    """A parameter object written as ``{tag: {field: value, ...}}`` (e.g. a GaussianPrior)."""

    cls: type
    tag: str
    fields: Mapping[str, Spec]

    def encode(self, value: Any, where: str, to_dict) -> dict:
        return {self.tag: {name: spec.encode(getattr(value, name), f"{where}.{name}", to_dict)
                           for name, spec in self.fields.items()}}

    def decode(self, value: Any, where: str, ctx: Context) -> Any:
        fields = value[self.tag]
        if not isinstance(fields, dict) or not fields.keys() <= self.fields.keys():
            raise bad(where, f"is not a valid {self.tag} (fields: {', '.join(self.fields)})")
        return self.cls(**{name: self.fields[name].decode(item, f"{where}.{name}", ctx)
                           for name, item in fields.items()})


PARAM_TYPES: dict[str, ParamType] = {}


def register_param_type(cls: type, fields: Mapping[str, Spec], tag: str | None = None) -> None:
    """Make parameter values of type ``cls`` saveable as ``{tag: {field: value}}``.

    ``fields`` gives the spec of each constructor argument (read back with
    ``cls(**fields)``); ``tag`` defaults to the class name.
    """
    param_type = ParamType(cls, tag or cls.__name__, dict(fields))
    PARAM_TYPES[param_type.tag] = param_type


def encode_param(name: str, value: Any, notes: list[str], to_dict) -> Any:
    """A parameter value as JSON, or null with a line in ``notes`` if it cannot be written."""
    if value is None or isinstance(value, (bool, str)):
        return value
    for param_type in PARAM_TYPES.values():
        if type(value) is param_type.cls:
            return param_type.encode(value, f"parameter {name}", to_dict)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name  # e.g. dtype=np.float32 is written "float32"
    if name == "random_state":
        notes.append(f"random_state was a {type(value).__name__}, saved as null")
        return None
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)  # e.g. GaussianMixture's ``fixed`` groups; read back as a tuple
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            arr = np.asarray([], dtype=object)
        if (arr.dtype.kind in "iu" and arr.size
                and INT64_MIN <= arr.min() and arr.max() <= INT64_MAX):
            return encode_array(arr, "int64")  # e.g. column indices: read back as integers
        if arr.dtype.kind in "iuf" and np.isfinite(arr).all():
            return encode_array(arr, "float64")
    notes.append(f"parameter {name} ({type(value).__name__}) cannot be written, saved as null")
    return None


def decode_param(value: Any, where: str, ctx: Context) -> Any:
    """A parameter without a spec: any value :func:`encode_param` writes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise bad(where, f"is an integer out of range ({len(str(abs(value)))} digits)")
        return value
    if type(value) is float and math.isfinite(value):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, dict) and value.keys() == ARRAY_KEYS:
        return decode_array(value, where)
    if isinstance(value, dict) and len(value) == 1:
        (tag,) = value
        if tag in PARAM_TYPES:
            return PARAM_TYPES[tag].decode(value, where, ctx)
    raise bad(where, f"has an unsupported value {short(value)}")


#: Specs of parameters that many estimators share (used unless a schema gives its own).
COMMON_PARAMS: dict[str, Spec] = {
    "random_state": Optional(Int(0, 2**32 - 1)),
    "verbose": OneOf(Bool(), Int(0)),
    "chunk_size": Optional(Int(1)),
    "n_jobs": Optional(Int(None)),
    # never written (see emkit.persist.RUN_ONLY_PARAMS); a file may name a checkpoint path
    "callback": Null("callbacks are not saved in model files"),
    "checkpoint": Optional(Str()),
    "annealing": SettingsSpec(check_annealing, "annealing"),
    "sparse": SettingsSpec(check_sparse, "sparse"),
    "monte_carlo": SettingsSpec(check_monte_carlo, "monte_carlo"),
}


# ------------------------------------------------------------------ estimators
@dataclasses.dataclass(frozen=True)
class EstimatorSchema:
    """What a model file holds for one estimator class (see :func:`register_estimator`)."""

    name: str
    cls: type
    required: tuple[str, ...]
    fitted: Mapping[str, Spec]
    params: Mapping[str, Spec]
    check: Callable[[Any, dict], None] | None
    check_params: Callable[[Any, Context], None] | None
    restore: Callable[[Any], None] | None

    def defaults(self) -> dict[str, Any]:
        """The constructor's parameters and their defaults (``inspect.Parameter.empty``)."""
        signature = inspect.signature(self.cls.__init__)
        return {name: p.default for name, p in signature.parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def param_spec(self, name: str, default: Any) -> Spec | None:
        if name in self.params:
            return self.params[name]
        if name in COMMON_PARAMS:
            return COMMON_PARAMS[name]
        if isinstance(default, bool):
            return Bool()  # a flag stays a flag
        return None


REGISTRY: dict[str, EstimatorSchema] = {}


def _own_parameter_check(estimator: Any, ctx: Context) -> None:
    check = getattr(estimator, "_check_parameters", None)
    if check is not None:
        check()


def register_estimator(
    cls: type,
    *,
    fitted: Mapping[str, Spec],
    required: tuple[str, ...] = (),
    params: Mapping[str, Spec] | None = None,
    check: Callable[[Any, dict], None] | None = None,
    check_params: Callable[[Any, Context], None] | None = _own_parameter_check,
    restore: Callable[[Any], None] | None = None,
    name: str | None = None,
) -> EstimatorSchema:
    """Make ``cls`` saveable by :func:`emkit.persist.save_model`.

    Parameters
    ----------
    cls : type
        A scikit-learn style estimator (parameters = ``__init__`` arguments).
    fitted : mapping of str to Spec
        Every fitted attribute that is saved, with its spec.  Attributes
        derived from these are rebuilt by ``restore``.
    required : tuple of str
        Parameters a file must give (they fix the shapes or the predictions);
        others take their defaults when absent.
    params : mapping of str to Spec, optional
        Specs of parameters (the rest are read as plain JSON values; shared
        ones such as ``random_state`` and boolean flags have default specs).
    check : callable(estimator, fitted_dict), optional
        Relations between fields (weights summing to 1, consistent
        covariances); raises ModelFileError or ValueError.
    check_params : callable(estimator, ctx), optional
        Validates the parameters once the estimator is built (``ctx.values``
        holds them and the fitted scalars such as ``n_features_in_``).
        Default: the estimator's own ``_check_parameters()`` if it has one.
        A ValueError becomes a ModelFileError naming the parameter.
    restore : callable(estimator), optional
        Sets derived attributes after the fitted ones are loaded.
    name : str, optional
        The ``"estimator"`` field (default: the class name).
    """
    schema = EstimatorSchema(name or cls.__name__, cls, tuple(required), dict(fitted),
                             dict(params or {}), check, check_params, restore)
    unknown = set(schema.params) - schema.defaults().keys()
    missing = set(schema.required) - schema.defaults().keys()
    if unknown or missing:
        raise TypeError(f"{schema.name} has no parameters {sorted(unknown | missing)}")
    REGISTRY[schema.name] = schema
    return schema
