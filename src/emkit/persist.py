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

import dataclasses
import json
import math
import os
import uuid
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._validation import check_int, check_option, check_real
from .exceptions import ModelFileError
from .families.covariance import Diagonal, Tied
from .families.structures import COVARIANCE_STRUCTURES, get_structure
from .io import atomic_write
from .models import (
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixtureOutlierDetector,
    SoftKMeans,
)
from .models.outlier import _check_contamination, _check_threshold
from .priors import GaussianPrior

__all__ = ["FORMAT", "FORMAT_VERSION", "load_model", "model_from_dict", "model_to_dict",
           "model_to_json", "save_model"]

FORMAT = "emkit-model"
FORMAT_VERSION = 1
_TOP_KEYS = {"format", "format_version", "emkit_version", "estimator", "params", "fitted",
             "feature_names"}
_ARRAY_KEYS = {"dtype", "shape", "data"}
_DTYPES = {"float64": np.float64, "int64": np.int64}

# Fitted attributes of every estimator: name -> kind ("float64"/"int64" arrays,
# the scalars "int", "float", "bool"; "float?" may be null, meaning -inf; or
# "GaussianMixture": a nested model document holding a fitted GaussianMixture).
_CENTROID_ATTRS = {
    "cluster_centers_": "float64",
    "labels_": "int64",
    "n_iter_": "int",
    "converged_": "bool",
    "objective_history_": "float64",
    "n_features_in_": "int",
}
_FITTED: dict[str, dict[str, str]] = {
    "GaussianMixture": {
        "weights_": "float64",
        "means_": "float64",
        "covariances_": "float64",
        "precisions_": "float64",
        "precisions_cholesky_": "float64",
        "converged_": "bool",
        "n_iter_": "int",
        "lower_bound_": "float?",
        "lower_bounds_": "float64",
        "n_features_in_": "int",
    },
    "KMeans": {**_CENTROID_ATTRS, "inertia_": "float"},
    "SoftKMeans": dict(_CENTROID_ATTRS),
    "MixtureOutlierDetector": {
        "offset_": "float",
        "n_features_in_": "int",
        "mixture_": "GaussianMixture",
    },
    "GaussianMixtureImputer": {"n_features_in_": "int", "mixture_": "GaussianMixture"},
}
_CLASSES = {
    "GaussianMixture": GaussianMixture,
    "KMeans": KMeans,
    "SoftKMeans": SoftKMeans,
    "MixtureOutlierDetector": MixtureOutlierDetector,
    "GaussianMixtureImputer": GaussianMixtureImputer,
}
# Estimators wrapping a fitted GaussianMixture in ``mixture_``.
_WRAPPERS = ("MixtureOutlierDetector", "GaussianMixtureImputer")
# Parameters a file must give: they fix the shapes of the fitted arrays or the predictions.
_REQUIRED_PARAMS = {
    "GaussianMixture": ("n_components", "covariance_type", "reg_covar"),
    "KMeans": ("n_clusters",),
    "SoftKMeans": ("n_clusters", "beta"),
    "MixtureOutlierDetector": ("n_components", "covariance_type"),
    "GaussianMixtureImputer": ("n_components", "covariance_type", "sample_posterior"),
}


def _emkit_version() -> str:
    from . import __version__  # late: works even while emkit/__init__ imports this module

    return __version__


# ---------------------------------------------------------------- saving
def _encode_array(value: Any, dtype: str) -> dict:
    arr = np.asarray(value, dtype=_DTYPES[dtype])
    return {"dtype": dtype, "shape": list(arr.shape), "data": arr.ravel().tolist()}


def _encode_param(name: str, value: Any, notes: list[str]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, GaussianPrior):
        return {"GaussianPrior": {
            field.name: _encode_param(f"{name}.{field.name}", getattr(value, field.name), notes)
            for field in dataclasses.fields(value)
        }}
    if isinstance(value, Integral):
        return int(value)
    if name == "random_state":
        notes.append(f"random_state was a {type(value).__name__}, saved as null")
        return None
    if isinstance(value, Real) and math.isfinite(value):
        return float(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)  # e.g. GaussianMixture's ``fixed`` groups; read back as a tuple
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.dtype.kind in "iuf" and np.isfinite(arr).all():
            return _encode_array(arr, "float64")
    notes.append(f"parameter {name} ({type(value).__name__}) cannot be written, saved as null")
    return None


def model_to_dict(estimator) -> dict:
    """The JSON-ready document :func:`save_model` writes (arrays as dtype/shape/data).

    Raises
    ------
    TypeError
        The estimator is not one of the supported estimators (see
        :func:`save_model`).
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.
    ValueError
        A fitted value is NaN or infinite (such a model cannot be saved).
    """
    name = type(estimator).__name__
    if _CLASSES.get(name) is not type(estimator):
        raise TypeError(f"save_model supports {', '.join(_CLASSES)}; got {name}")
    check_is_fitted(estimator)
    notes: list[str] = []
    params = {k: _encode_param(k, v, notes) for k, v in estimator.get_params(deep=False).items()}
    fitted: dict[str, Any] = {}
    for attr, kind in _FITTED[name].items():
        value = getattr(estimator, attr)
        if kind == "GaussianMixture":
            fitted[attr] = model_to_dict(value)
        elif kind in _DTYPES:
            if not np.isfinite(np.asarray(value, dtype=float)).all():
                raise ValueError(f"cannot save {name}: {attr} contains NaN or inf")
            fitted[attr] = _encode_array(value, kind)
        elif kind == "bool":
            fitted[attr] = bool(value)
        elif kind == "int":
            fitted[attr] = int(value)
        elif kind == "float?" and value == -np.inf:
            fitted[attr] = None
        elif math.isfinite(value):
            fitted[attr] = float(value)
        else:
            raise ValueError(f"cannot save {name}: {attr} is {value}")
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
    return doc


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
        if isinstance(obj, dict) and obj.keys() == _ARRAY_KEYS:
            arrays.append(json.dumps(obj, allow_nan=False))
            return f"@@{token}-{len(arrays) - 1}@@"
        if isinstance(obj, dict):
            return {k: inline(v) for k, v in obj.items()}
        return obj

    text = json.dumps(inline(doc), indent=2, allow_nan=False)
    for i, array in enumerate(arrays):
        text = text.replace(f'"@@{token}-{i}@@"', array, 1)
    return text + "\n"


def save_model(estimator, path: str | os.PathLike) -> None:
    """Save a fitted estimator to a JSON model file.

    Parameters
    ----------
    estimator : GaussianMixture, KMeans, SoftKMeans, MixtureOutlierDetector \
or GaussianMixtureImputer
        A fitted estimator.  The last two are saved with their fitted
        ``mixture_`` as a nested model document.
    path : str or path-like
        Destination.  Written atomically: on any error the previous file (if
        any) is untouched and no partial file is left.

    Raises
    ------
    TypeError, NotFittedError, ValueError
        See :func:`model_to_dict`.
    OSError
        The file cannot be written (the message names it).
    """
    atomic_write(path, model_to_json(estimator))


# --------------------------------------------------------------- loading
def _reject_constant(token: str) -> float:
    raise ValueError(f"non-finite number {token} (NaN and infinity are not allowed)")


def load_model(path: str | os.PathLike):
    """Load an estimator saved by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    GaussianMixture, KMeans, SoftKMeans, MixtureOutlierDetector or GaussianMixtureImputer
        Fitted; it predicts exactly like the estimator that was saved.

    Raises
    ------
    ModelFileError
        A ``ValueError`` with a one-line message naming the file and the
        problem: missing or unreadable file, not JSON, not an emkit model,
        unsupported ``format_version``, unknown estimator, missing or invalid
        parameter or fitted attribute, wrong array shape, non-finite number,
        weights not summing to 1, inconsistent covariances.
    """
    where = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ModelFileError(f"{where}: cannot read the model file: "
                             f"{exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ModelFileError(f"{where}: not an emkit model file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    return model_from_dict(doc, source=where)


def model_from_dict(doc: Any, source: str = "model"):
    """Build the estimator from a parsed model document, validating every field.

    ``source`` names the document in error messages (the file name).
    Raises :class:`~emkit.exceptions.ModelFileError` as :func:`load_model`.
    """
    try:
        return _build(doc)
    except ModelFileError as exc:
        raise ModelFileError(f"{source}: {exc}") from None


def _build(doc: Any):
    if not isinstance(doc, dict) or "format" not in doc:
        raise ModelFileError('not an emkit model file (no "format" field)')
    if doc["format"] != FORMAT:
        raise ModelFileError(f"not an emkit model file (format is {doc['format']!r}, "
                             f"expected {FORMAT!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(f"unsupported format_version {version!r} (this emkit "
                             f"{_emkit_version()} reads version {FORMAT_VERSION})")
    for key in sorted(_TOP_KEYS - doc.keys()):
        raise ModelFileError(f'missing field "{key}"')
    for key in sorted(doc.keys() - _TOP_KEYS - {"notes"}):
        raise ModelFileError(f'unknown field "{key}"')
    if not isinstance(doc["emkit_version"], str):
        raise ModelFileError('"emkit_version" must be a string')
    name = doc["estimator"]
    if name not in _CLASSES:
        raise ModelFileError(f"unknown estimator {name!r} (known: {', '.join(_CLASSES)})")
    for key in ("params", "fitted"):
        if not isinstance(doc[key], dict):
            raise ModelFileError(f'"{key}" must be a JSON object')
    estimator = _CLASSES[name](**_decode_params(name, doc["params"]))
    fitted = _decode_fitted(name, doc["fitted"])
    _CHECKS[name](estimator, fitted)
    for attr, value in fitted.items():
        setattr(estimator, attr, value)
    if name in _WRAPPERS:
        estimator.n_iter_ = estimator.mixture_.n_iter_
    names = doc["feature_names"]
    if names is not None:
        if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                or len(set(names)) != len(names)):
            raise ModelFileError('"feature_names" must be null or a list of distinct strings')
        if len(names) != fitted["n_features_in_"]:
            raise ModelFileError(f'"feature_names" has {len(names)} names but n_features_in_ '
                                 f"is {fitted['n_features_in_']}")
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    return estimator


def _decode_array(obj: Any, where: str, dtype: str | None = None) -> np.ndarray:
    if not isinstance(obj, dict) or obj.keys() != _ARRAY_KEYS:
        raise ModelFileError(f'{where} must be an array object {{"dtype", "shape", "data"}}')
    if obj["dtype"] not in _DTYPES or (dtype is not None and obj["dtype"] != dtype):
        raise ModelFileError(f"{where} has dtype {obj['dtype']!r}, expected {dtype or 'float64'!r}")
    shape, data = obj["shape"], obj["data"]
    if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
        raise ModelFileError(f"{where} has an invalid shape {shape!r}")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        size = len(data) if isinstance(data, list) else "no"
        raise ModelFileError(f"{where} has {size} values but shape {shape} needs "
                             f"{math.prod(shape)}")
    integer = obj["dtype"] == "int64"
    allowed = (int,) if integer else (int, float)
    if not all(type(v) in allowed for v in data):
        what = "an integer" if integer else "a number"
        raise ModelFileError(f"{where} holds a value that is not {what}")
    try:
        arr = np.array(data, dtype=_DTYPES[obj["dtype"]]).reshape(shape)
    except OverflowError:
        raise ModelFileError(f"{where} holds an integer out of the int64 range") from None
    if not np.isfinite(arr).all():
        raise ModelFileError(f"{where} holds a non-finite number")
    return arr


def _decode_value(value: Any, where: str) -> Any:
    if isinstance(value, dict) and value.keys() == {"GaussianPrior"}:
        fields = value["GaussianPrior"]
        names = {field.name for field in dataclasses.fields(GaussianPrior)}
        if not isinstance(fields, dict) or not fields.keys() <= names:
            raise ModelFileError(f"{where} is not a valid GaussianPrior")
        return GaussianPrior(**{key: _decode_value(item, f"{where}.{key}")
                                for key, item in fields.items()})
    if isinstance(value, dict):
        return _decode_array(value, where)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ModelFileError(f"{where} has an unsupported value {value!r}")


def _wrap(check: Callable[..., Any], *args: Any) -> None:
    """Run a library parameter check, turning its ValueError into a ModelFileError."""
    try:
        check(*args)
    except ValueError as exc:
        raise ModelFileError(f"invalid parameter: {exc}") from None


def _decode_params(name: str, raw: dict) -> dict:
    known = _CLASSES[name]().get_params(deep=False)
    for key in raw:
        if key not in known:
            raise ModelFileError(f"unknown parameter {key!r} for {name}")
    for key in _REQUIRED_PARAMS[name]:
        if key not in raw:
            raise ModelFileError(f"missing parameter {key!r}")
    params = {key: _decode_value(value, f"parameter {key!r}") for key, value in raw.items()}
    if name == "GaussianMixture" or name in _WRAPPERS:
        _wrap(check_int, params["n_components"], "n_components", 1)
        _wrap(check_option, params["covariance_type"], "covariance_type", COVARIANCE_STRUCTURES)
        if "reg_covar" in params:
            _wrap(check_real, params["reg_covar"], "reg_covar", 0.0)
    else:
        _wrap(check_int, params["n_clusters"], "n_clusters", 1)
    if name == "MixtureOutlierDetector":
        for key, check in (("contamination", _check_contamination),
                           ("threshold", _check_threshold)):
            if key in params:
                _wrap(check, params[key])
    if name == "GaussianMixtureImputer" and type(params["sample_posterior"]) is not bool:
        raise ModelFileError("invalid parameter: sample_posterior must be true or false, "
                             f"got {params['sample_posterior']!r}")
    if name == "SoftKMeans":
        _wrap(check_real, params["beta"], "beta", 0.0, True)
    return params


def _decode_fitted(name: str, raw: dict) -> dict:
    spec = _FITTED[name]
    for key in raw:
        if key not in spec:
            raise ModelFileError(f"unknown fitted attribute {key!r} for {name}")
    fitted: dict[str, Any] = {}
    for attr, kind in spec.items():
        if attr not in raw:
            raise ModelFileError(f"missing fitted attribute {attr!r}")
        value, where = raw[attr], f"fitted attribute {attr!r}"
        if kind == "GaussianMixture":
            fitted[attr] = _decode_nested(value, where)
        elif kind in _DTYPES:
            fitted[attr] = _decode_array(value, where, kind)
        elif kind == "bool":
            if type(value) is not bool:
                raise ModelFileError(f"{where} must be true or false, got {value!r}")
            fitted[attr] = value
        elif kind == "int":
            least = 1 if attr == "n_features_in_" else 0
            if type(value) is not int or value < least:
                raise ModelFileError(f"{where} must be an integer >= {least}, got {value!r}")
            fitted[attr] = value
        elif kind == "float?" and value is None:
            fitted[attr] = -np.inf
        else:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise ModelFileError(f"{where} must be a finite number, got {value!r}")
            fitted[attr] = float(value)
    return fitted


def _decode_nested(value: Any, where: str) -> GaussianMixture:
    """A nested model document that must hold a GaussianMixture."""
    if not isinstance(value, dict):
        raise ModelFileError(f"{where} must be a nested model object")
    try:
        model = _build(value)
    except ModelFileError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    if not isinstance(model, GaussianMixture):
        raise ModelFileError(f"{where} must hold a GaussianMixture, not a "
                             f"{type(model).__name__}")
    return model


def _check_shape(fitted: dict, attr: str, shape: tuple[int, ...], why: str) -> None:
    got = fitted[attr].shape
    if got != shape:
        raise ModelFileError(f"fitted attribute {attr!r} has shape {list(got)}, expected "
                             f"{list(shape)} ({why})")


def _check_gaussian(estimator: GaussianMixture, f: dict) -> None:
    K, D, ct = estimator.n_components, f["n_features_in_"], estimator.covariance_type
    why = f"n_components={K}, n_features={D}, covariance_type={ct!r}"
    _check_shape(f, "weights_", (K,), why)
    _check_shape(f, "means_", (K, D), why)
    shape = get_structure(ct).shape(K, D)
    for attr in ("covariances_", "precisions_", "precisions_cholesky_"):
        _check_shape(f, attr, shape, why)
    _check_shape(f, "lower_bounds_", (f["n_iter_"],), f"n_iter_={f['n_iter_']}")
    w = f["weights_"]
    if (w < 0).any():
        raise ModelFileError(f"weights_[{int(np.argmax(w < 0))}] is negative")
    if abs(w.sum() - 1.0) > 1e-6:
        raise ModelFileError(f"weights_ sum to {w.sum():.10g}, not 1")
    _check_covariances(ct, f["covariances_"], f["precisions_"], f["precisions_cholesky_"])


def _check_covariances(ct: str, cov: np.ndarray, prec: np.ndarray, chol: np.ndarray) -> None:
    """The three covariance arrays must be positive definite and describe the same matrices."""
    structure = get_structure(ct)
    if isinstance(structure, Diagonal):  # diagonal or spherical storage
        for attr, arr in (("covariances_", cov), ("precisions_cholesky_", chol)):
            if not (arr > 0).all():
                raise ModelFileError(f"{attr} must be positive ({ct} covariance)")
        if not np.allclose(prec, chol**2, rtol=1e-9, atol=0):
            raise ModelFileError("precisions_ does not match precisions_cholesky_")
        if not np.allclose(cov * prec, 1.0, rtol=0, atol=1e-8):
            raise ModelFileError("covariances_ is not the inverse of precisions_")
        return
    tied = isinstance(structure, Tied)
    if tied:
        cov, prec, chol = cov[None], prec[None], chol[None]
    for k, (c, p, P) in enumerate(zip(cov, prec, chol, strict=True)):
        who = "" if tied else f" of component {k}"
        eig = np.linalg.eigvalsh(c)
        if not np.allclose(c, c.T, rtol=1e-10, atol=0) or eig[0] <= 0:
            raise ModelFileError(f"covariances_{who} is not symmetric positive definite")
        scale = np.abs(P).max()
        if (np.diag(P) <= 0).any() or np.abs(np.tril(P, -1)).max() > 1e-12 * scale:
            raise ModelFileError(f"precisions_cholesky_{who} is not upper triangular with a "
                                 "positive diagonal")
        if not np.allclose(p, P @ P.T, rtol=1e-9, atol=1e-12 * scale**2):
            raise ModelFileError(f"precisions_{who} does not match precisions_cholesky_")
        if np.abs(c @ p - np.eye(len(c))).max() > 1e-6 * eig[-1] / eig[0]:
            raise ModelFileError(f"covariances_{who} is not the inverse of precisions_")


def _check_centroids(estimator, f: dict) -> None:
    K, D = estimator.n_clusters, f["n_features_in_"]
    _check_shape(f, "cluster_centers_", (K, D), f"n_clusters={K}, n_features={D}")
    _check_shape(f, "objective_history_", (f["n_iter_"],), f"n_iter_={f['n_iter_']}")
    labels = f["labels_"]
    if labels.ndim != 1:
        raise ModelFileError("fitted attribute 'labels_' must be one-dimensional")
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ModelFileError(f"fitted attribute 'labels_' holds labels outside 0..{K - 1}")
    if f.get("inertia_", 0.0) < 0:
        raise ModelFileError("fitted attribute 'inertia_' is negative")


def _check_wrapper(estimator, f: dict) -> None:
    """The nested mixture must be the one the wrapper's parameters describe."""
    mixture = f["mixture_"]
    for key in ("n_components", "covariance_type"):
        mine, theirs = getattr(estimator, key), getattr(mixture, key)
        if mine != theirs:
            raise ModelFileError(f"fitted attribute 'mixture_' has {key}={theirs!r} but the "
                                 f"parameters say {key}={mine!r}")
    if mixture.n_features_in_ != f["n_features_in_"]:
        raise ModelFileError(f"fitted attribute 'mixture_' has {mixture.n_features_in_} "
                             f"features but n_features_in_ is {f['n_features_in_']}")


_CHECKS: dict[str, Callable[[Any, dict], None]] = {
    "GaussianMixture": _check_gaussian,
    "KMeans": _check_centroids,
    "SoftKMeans": _check_centroids,
    "MixtureOutlierDetector": _check_wrapper,
    "GaussianMixtureImputer": _check_wrapper,
}
