"""Save fitted estimators to a versioned, human-readable JSON file, and load them back.

No pickle: a model file holds only numbers, strings and the estimator's
name, and loading it validates every field before building the estimator.
The format is documented in ``docs/model-format.md``; in short::

    {"format": "emkit-model", "format_version": 1, "emkit_version": "0.1.0",
     "estimator": "GaussianMixture",
     "params": {...get_params()...},
     "fitted": {"weights_": {"dtype": "float64", "shape": [2], "data": [...]}, ...},
     "feature_names": ["eruptions", "waiting"] or null,
     "notes": [...]}                                   # optional

Floats are written with Python's ``repr``, which round-trips exactly, so a
loaded model predicts bit for bit like the saved one.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

# they register the built-in estimators (GaussianMixture's module first: the registry's
# order is the order of "known: ..." in error messages)
from . import _persist_estimators  # noqa: F401

# isort: split
from . import (  # noqa: F401
    _persist_conditional,
    _persist_continuous,
    _persist_discrete,
    _persist_hmm,
)
from ._persist_registry import (
    REGISTRY,
    EstimatorSchema,
    decode_param,
    encode_param,
    register_estimator,
    register_param_type,
)
from ._persist_schema import ABSENT, ARRAY_KEYS, Context, MaybeAbsent, short
from ._persist_specs import Exact
from .exceptions import ModelFileError
from .io import atomic_write

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_MODEL_BYTES", "load_model", "model_from_dict",
           "model_to_dict", "model_to_json", "register_estimator", "register_param_type",
           "save_model"]

FORMAT = "emkit-model"
FORMAT_VERSION = 1
#: Largest model file :func:`load_model` reads by default (bytes).
MAX_MODEL_BYTES = 256 * 2**20
_TOP_KEYS = {"format", "format_version", "emkit_version", "estimator", "params", "fitted",
             "feature_names"}
#: Errors of a check run on values read from a file (reported as ModelFileError):
#: a hostile file can make a check index or convert what it did not expect.
_CHECK_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError)


def _emkit_version() -> str:
    from . import __version__  # late: works even while emkit/__init__ imports this module

    return __version__


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# ---------------------------------------------------------------- saving
def _schema_of(estimator) -> EstimatorSchema:
    name = type(estimator).__name__
    schema = REGISTRY.get(name)
    if schema is None or schema.cls is not type(estimator):
        raise TypeError(f"save_model supports {', '.join(REGISTRY)}; got {name}")
    return schema


def model_to_dict(estimator) -> dict:
    """The JSON-ready document :func:`save_model` writes (arrays as dtype/shape/data).

    The document is checked as :func:`load_model` would check the file, so a
    model that saves also loads.

    Raises
    ------
    TypeError
        The estimator is not one of the registered estimators (see
        :func:`save_model`).
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    ValueError
        A fitted value is NaN or infinite, or the fitted attributes do not
        fit the parameters (such a model cannot be saved).
    """
    schema = _schema_of(estimator)
    name = schema.name
    check_is_fitted(estimator)
    notes: list[str] = []
    params = {k: _encode_param(schema, k, v, notes)
              for k, v in estimator.get_params(deep=False).items()}
    fitted: dict[str, Any] = {}
    for attr, spec in schema.fitted.items():
        value = getattr(estimator, attr, ABSENT)
        if value is ABSENT and not isinstance(spec, MaybeAbsent):
            raise ValueError(f"cannot save {name}: it has no fitted attribute {attr!r}")
        try:
            fitted[attr] = spec.encode(value, attr, model_to_dict)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"cannot save {name}: {_one_line(exc)}") from None
    names = getattr(estimator, "feature_names_in_", None)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "emkit_version": _emkit_version(),
        "estimator": name,
        "params": params,
        "fitted": fitted,
        "feature_names": None if names is None else [str(n) for n in names],
    }
    if notes:
        doc["notes"] = notes
    try:
        _build(doc)
    except ModelFileError as exc:
        raise ValueError(f"cannot save {name}: the file would not load: {exc}") from None
    return doc


#: Parameters that steer a fitting run only and are never saved (written as null with a
#: note): a callback is code, which a model file never holds; a checkpoint path names a
#: file of the run that wrote it, which a loaded model must not resume or overwrite.
RUN_ONLY_PARAMS = {
    "callback": "callbacks are code, which a model file does not hold",
    "checkpoint": "a checkpoint file belongs to the fitting run",
}


def _encode_param(schema: EstimatorSchema, name: str, value: Any, notes: list[str]) -> Any:
    """A parameter as its spec writes it, else as a plain JSON value (or null and a note)."""
    if name in RUN_ONLY_PARAMS and value is not None:
        notes.append(f"parameter {name} ({type(value).__name__}) saved as null: "
                     f"{RUN_ONLY_PARAMS[name]}")
        return None
    spec = schema.param_spec(name, schema.defaults().get(name))
    if spec is not None:
        try:
            return spec.encode(value, f"parameter {name}", model_to_dict)
        except (TypeError, ValueError, OverflowError) as exc:
            if isinstance(spec, Exact):
                raise ValueError(f"cannot save {schema.name}: {_one_line(exc)}"
                                 f"{' (' + spec.why + ')' if spec.why else ''}") from None
    return encode_param(name, value, notes, model_to_dict)


def model_to_json(estimator) -> str:
    """The text :func:`save_model` writes: indented JSON, each array on one line.

    Raises as :func:`model_to_dict`.
    """
    return _dumps(model_to_dict(estimator))


def _dumps(doc: dict) -> str:
    """Indented JSON with every array object on one line."""
    token = uuid.uuid4().hex
    arrays: list[str] = []

    def inline(obj: Any) -> Any:
        if isinstance(obj, dict) and obj.keys() == ARRAY_KEYS:
            arrays.append(json.dumps(obj, allow_nan=False))
            return f"@@{token}-{len(arrays) - 1}@@"
        if isinstance(obj, dict):
            return {k: inline(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [inline(v) for v in obj]
        return obj

    text = json.dumps(inline(doc), indent=2, allow_nan=False)
    for i, array in enumerate(arrays):
        text = text.replace(f'"@@{token}-{i}@@"', array, 1)
    return text + "\n"


def save_model(estimator, path: str | os.PathLike) -> None:
    """Save a fitted estimator to a JSON model file.

    Parameters
    ----------
    estimator : a fitted emkit estimator
        Any mixture, clusterer, conditional model or HMM of emkit (the list is
        in ``docs/model-format.md``) or another registered estimator.
        Estimators wrapping a fitted mixture are saved with their ``mixture_``
        as a nested model document.  ``callback`` and ``checkpoint`` are saved
        as null (a line in the file's ``notes`` says so): they steer a fitting
        run, not what the model computes.
    path : str or path-like
        Destination: a new file or an existing regular file.  Written
        atomically: on any error the previous file (if any) is untouched and
        no partial file is left.

    Raises
    ------
    TypeError, NotFittedError, ValueError
        See :func:`model_to_dict`.
    OSError
        The file cannot be written (the message names it), or ``path`` is a
        directory, device, FIFO or socket.
    """
    atomic_write(path, model_to_json(estimator))


# --------------------------------------------------------------- loading
def _reject_constant(token: str) -> float:
    raise ValueError(f"non-finite number {token} (NaN and infinity are not allowed)")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {short(text, 30)} is out of the float64 range")
    return value


def _parse_int(text: str) -> int:
    if len(text) > 1000:  # stop int() on 100,000 digits; shorter ones are named by the field
        raise ValueError(f"integer with {len(text)} digits is out of range")
    return int(text)


_READ_BLOCK = 1 << 20


def _read_limited(path: str | os.PathLike, where: str, max_bytes: int) -> bytes:
    """The file's bytes, refusing more than ``max_bytes``; stops early on non-JSON-object input."""
    try:
        with open(path, "rb") as handle:
            first = handle.read(min(_READ_BLOCK, max_bytes + 1))
            blocks = [first]
            if first.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] not in (b"{", b""):
                if len(first) == min(_READ_BLOCK, max_bytes + 1):
                    raise ModelFileError(f"{where}: not an emkit model file (it does not start "
                                         "with '{')")
                return first
            size = len(first)
            while size <= max_bytes:
                block = handle.read(min(_READ_BLOCK, max_bytes + 1 - size))
                if not block:
                    break
                blocks.append(block)
                size += len(block)
    except OSError as exc:
        raise ModelFileError(f"{where}: cannot read the model file: "
                             f"{exc.strerror or exc}") from None
    if size > max_bytes:
        raise ModelFileError(f"{where}: larger than {max_bytes} bytes, the limit for a model "
                             "file (load_model(path, max_bytes=...) reads larger ones)")
    return b"".join(blocks)


def load_model(path: str | os.PathLike, *, max_bytes: int = MAX_MODEL_BYTES):
    """Load an estimator saved by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int, default=MAX_MODEL_BYTES (256 MiB)
        Refuse larger files (a model file is never endless; ``/dev/zero`` is
        refused at once, since it does not start like a model file).

    Returns
    -------
    estimator
        Fitted; it predicts exactly like the estimator that was saved.

    Raises
    ------
    ModelFileError
        A ``ValueError`` with a one-line message naming the file and the
        problem: missing, unreadable or too large file, not JSON, not an emkit
        model, unsupported ``format_version``, unknown estimator, missing or
        invalid parameter or fitted attribute (named), wrong array shape,
        non-finite or out-of-range number, weights not summing to 1,
        inconsistent covariances.
    """
    where = os.fspath(path)
    raw = _read_limited(path, where, max_bytes)
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant,
                         parse_float=_parse_float, parse_int=_parse_int)
    except UnicodeDecodeError:
        raise ModelFileError(f"{where}: not an emkit model file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        reason = exc.msg.removesuffix(" at")  # e.g. "Invalid control character at"
        raise ModelFileError(f"{where}: not valid JSON ({reason} at line {exc.lineno}, "
                             f"column {exc.colno})") from None
    except RecursionError:
        raise ModelFileError(f"{where}: not an emkit model file (JSON nested too "
                             "deeply)") from None
    except ValueError as exc:
        raise ModelFileError(f"{where}: {_one_line(exc)}") from None
    return model_from_dict(doc, source=where)


def model_from_dict(doc: Any, source: str = "model"):
    """Build the estimator from a parsed model document, validating every field.

    ``source`` names the document in error messages (the file name).
    Raises :class:`~emkit.exceptions.ModelFileError` as :func:`load_model`.
    """
    try:
        return _build(doc)
    except ModelFileError as exc:
        raise ModelFileError(f"{source}: {_one_line(exc)}") from None
    except RecursionError:
        raise ModelFileError(f"{source}: nested too deeply") from None


def _build(doc: Any, depth: int = 0):
    """The estimator a document describes; every field checked against its schema."""
    if not isinstance(doc, dict) or "format" not in doc:
        raise ModelFileError('not an emkit model file (no "format" field)')
    if doc["format"] != FORMAT:
        raise ModelFileError(f"not an emkit model file (format is {short(doc['format'])}, "
                             f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(f"unsupported format_version {short(version)} (this emkit "
                             f"{_emkit_version()} reads version {FORMAT_VERSION})")
    for key in sorted(_TOP_KEYS - doc.keys()):
        raise ModelFileError(f'missing field "{key}"')
    for key in sorted(doc.keys() - _TOP_KEYS - {"notes"}):
        raise ModelFileError(f'unknown field "{short(key)[1:-1]}"')
    if not isinstance(doc["emkit_version"], str):
        raise ModelFileError('"emkit_version" must be a string')
    notes = doc.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ModelFileError('"notes" must be a list of strings')
    name = doc["estimator"]
    if not isinstance(name, str) or name not in REGISTRY:
        raise ModelFileError(f"unknown estimator {short(name)} (known: {', '.join(REGISTRY)})")
    schema = REGISTRY[name]
    for key in ("params", "fitted"):
        if not isinstance(doc[key], dict):
            raise ModelFileError(f'"{key}" must be a JSON object')
    values: dict[str, Any] = {}
    ctx = Context(values, _build, depth)
    params = _decode_params(schema, doc["params"], ctx)
    values.update(params)
    try:
        estimator = schema.cls(**params)
    except _CHECK_ERRORS as exc:
        raise ModelFileError(f"invalid parameters: {_one_line(exc)}") from None
    fitted = _decode_fitted(schema, estimator, doc["fitted"], ctx)
    if schema.check is not None:
        try:
            schema.check(estimator, fitted)
        except ModelFileError:
            raise
        except _CHECK_ERRORS as exc:
            raise ModelFileError(f"inconsistent fitted attributes: {_one_line(exc)}") from None
    names = doc["feature_names"]
    if names is not None:
        if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            raise ModelFileError('"feature_names" must be null or a list of distinct strings')
        if "n_features_in_" in fitted and len(names) != fitted["n_features_in_"]:
            raise ModelFileError(f'"feature_names" has {len(names)} names but n_features_in_ '
                                 f"is {fitted['n_features_in_']}")
    for attr, value in fitted.items():
        if value is not ABSENT:
            setattr(estimator, attr, value)
    if names is not None:
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    if schema.restore is not None:
        schema.restore(estimator)
    return estimator


def _decode_params(schema: EstimatorSchema, raw: dict, ctx: Context) -> dict:
    defaults = schema.defaults()
    for key in raw:
        if key not in defaults:
            raise ModelFileError(f"unknown parameter {short(key)} for {schema.name}")
    for key in schema.required:
        if key not in raw:
            raise ModelFileError(f"missing parameter {key!r}")
    params = {}
    for key, value in raw.items():
        where = f"parameter {key!r}"
        spec = schema.param_spec(key, defaults[key])
        params[key] = (decode_param(value, where, ctx) if spec is None
                       else spec.decode(value, where, ctx))
    return params


def _check_params(schema: EstimatorSchema, estimator, ctx: Context) -> None:
    if schema.check_params is None:
        return
    try:
        schema.check_params(estimator, ctx)
    except ModelFileError:
        raise
    except _CHECK_ERRORS as exc:
        raise ModelFileError(f"invalid parameter: {_one_line(exc)}") from None


def _decode_fitted(schema: EstimatorSchema, estimator, raw: dict, ctx: Context) -> dict:
    for key in raw:
        if key not in schema.fitted:
            raise ModelFileError(f"unknown fitted attribute {short(key)} for {schema.name}")
    for attr, spec in schema.fitted.items():
        if attr not in raw and not isinstance(spec, MaybeAbsent):  # those may be left out
            raise ModelFileError(f"missing fitted attribute {attr!r}")
    # Scalars first (they are the dimensions of the arrays); the parameters are
    # checked once n_features_in_ and the other scalars are known.
    order = sorted(schema.fitted, key=lambda attr: not schema.fitted[attr].scalar)
    fitted: dict[str, Any] = {}
    checked = False
    for attr in order:
        spec = schema.fitted[attr]
        if not spec.scalar and not checked:
            _check_params(schema, estimator, ctx)
            checked = True
        fitted[attr] = spec.decode(raw.get(attr), f"fitted attribute {attr!r}", ctx)
        ctx.values[attr] = fitted[attr]
    if not checked:
        _check_params(schema, estimator, ctx)
    return fitted
