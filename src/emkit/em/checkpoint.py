"""Checkpoints: where an EM run stands, written atomically, read back to continue exactly.

A run's state (:class:`RunState`) is its current parameters, the objective
history, the allowance of the monotonicity check for the next iteration and
whatever the runner keeps besides (SQUAREM's step bounds, incremental EM's
per-block statistics, stepwise EM's running statistics).  From it a runner
continues with the very same iterates as a run that was never interrupted.

File format
-----------
A NumPy ``.npz`` archive (no pickle; read with ``allow_pickle=False``):

``__meta__``
    a 0-d string array holding a JSON document: ``{"format":
    "emkit-checkpoint", "format_version": 1, "estimator": class name,
    "params": fingerprints of the estimator's parameters, "data": a
    fingerprint of the data (rows, columns, total weight, BLAKE2b digest of
    the rows, weights and labels), "schedule", "state": {...}}`` where
    ``state`` describes the run (iteration, converged, allowance) and the
    layout of its trees of arrays;
``history``, ``params/...``, ``extra/...``
    float64 arrays (exact bits, so a resumed run reproduces the uninterrupted
    one to the last digit).

Why not the JSON model format of :mod:`emkit.persist`: a checkpoint must also
hold runner state (for incremental EM, one set of statistics per block, which
for D = 100 full covariances is megabytes of floats) and must be cheap to
write every few iterations; ``.npz`` stores float64 bits as they are, fast.
:func:`read_checkpoint` gives the parameters back, and the estimators'
``warm_start`` resumes from the file (see ``checkpoint`` in
:class:`~emkit.GaussianMixture`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import math
import os
from typing import Any

import numpy as np

from ..io import atomic_write

FORMAT = "emkit-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or does not belong to this fit."""


@dataclasses.dataclass
class RunState:
    """Where an EM run stands: enough to continue it exactly.

    Attributes
    ----------
    iteration : int
        Iterations done (``len(history)`` for the engine's runners).
    params : object
        The current parameters: the next iteration starts from them.
    history : list of float
        Mean objective of every iteration so far.
    allowance : float
        How much the objective of the next iteration may fall below
        ``history[-1]`` by design (the last M-step's deficit; inf: unknown,
        the check is skipped).
    extra : dict
        Runner-specific state (scalars, arrays, statistics).
    converged : bool
        The run had met its convergence rule.
    """

    iteration: int
    params: Any
    history: list
    allowance: float = 0.0
    extra: dict = dataclasses.field(default_factory=dict)
    converged: bool = False


# ---------------------------------------------------------------- trees of arrays
class _Encoder:
    """Flattens parameters and statistics (arrays, dataclasses, lists, scalars)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, obj: Any, path: str) -> Any:
        if isinstance(obj, np.ndarray):
            key = f"{self.prefix}/{path}"
            self.arrays[key] = obj
            return {"array": key}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            cls = type(obj)
            return {
                "dataclass": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: self.encode(getattr(obj, f.name), f"{path}.{f.name}")
                           for f in dataclasses.fields(obj)},
            }
        if isinstance(obj, (list, tuple)):
            return {"list": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, (bool, np.bool_)):
            return {"value": bool(obj)}
        if isinstance(obj, (int, np.integer)):
            return {"value": int(obj)}
        if isinstance(obj, (float, np.floating)):
            if math.isfinite(obj):
                return {"value": float(obj)}
            return self.encode(np.asarray(obj, dtype=float), path)
        if obj is None or isinstance(obj, str):
            return {"value": obj}
        # configuration objects (a covariance structure, ...): restored from a template
        return {"template": type(obj).__name__}


def _decode(spec: Any, arrays: Any, template: Any = None, where: str = "") -> Any:
    if "array" in spec:
        value = np.array(arrays[spec["array"]])
        return value[()] if value.ndim == 0 else value
    if "value" in spec:
        return spec["value"]
    if "list" in spec:
        items = spec["list"]
        templates = template if isinstance(template, (list, tuple)) else [None] * len(items)
        if len(templates) < len(items):
            templates = list(templates) + [templates[-1] if templates else None] * (
                len(items) - len(templates))
        return [_decode(s, arrays, t, f"{where}[{i}]")
                for i, (s, t) in enumerate(zip(items, templates, strict=False))]
    if "dataclass" in spec:
        module, _, qualname = spec["dataclass"].partition(":")
        if template is not None and dataclasses.is_dataclass(template):
            cls = type(template)
        else:
            try:
                cls = importlib.import_module(module)
                for part in qualname.split("."):
                    cls = getattr(cls, part)
            except (ImportError, AttributeError):
                raise CheckpointError(f"unknown type {spec['dataclass']} in {where}") from None
        values = {}
        for name, field_spec in spec["fields"].items():
            inner = getattr(template, name, None) if template is not None else None
            values[name] = _decode(field_spec, arrays, inner, f"{where}.{name}")
        return cls(**values)
    if "template" in spec:
        if template is None:
            raise CheckpointError(f"{where} needs a template ({spec['template']})")
        return template
    raise CheckpointError(f"unreadable entry {where}")


class StoredTree:
    """A tree of arrays read from a checkpoint; :meth:`value` rebuilds it.

    Parts that are configuration objects rather than numbers (for example the
    covariance structure inside Gaussian statistics) are taken from
    ``template``, a value of the same kind computed afresh.
    """

    def __init__(self, spec: Any, arrays: Any, name: str):
        self.spec = spec
        self.arrays = arrays
        self.name = name

    def value(self, template: Any = None) -> Any:
        return _decode(self.spec, self.arrays, template, self.name)

    @property
    def needs_template(self) -> bool:
        return '"template"' in json.dumps(self.spec)


def restore(value: Any, template: Any = None) -> Any:
    """A live value, or the rebuilt content of a :class:`StoredTree`."""
    return value.value(template) if isinstance(value, StoredTree) else value


# ---------------------------------------------------------------- fingerprints
def data_fingerprint(source: Any) -> dict:
    """Rows, columns, total weight and a BLAKE2b digest of the rows, weights and labels.

    One pass over the source's chunks (as fast as reading the data).
    """
    digest = hashlib.blake2b(digest_size=16)
    n_rows = 0
    n_features = None
    total = 0.0
    labelled = getattr(source, "labels", None) is not None
    chunks = source.labelled_chunks() if labelled else source.chunks()
    for chunk in chunks:
        X, w = chunk[0], chunk[1]
        digest.update(np.ascontiguousarray(X).view(np.uint8))
        digest.update(np.ascontiguousarray(w, dtype=np.float64).view(np.uint8))
        if labelled and chunk[2] is not None:
            digest.update(np.ascontiguousarray(chunk[2], dtype=np.int64).view(np.uint8))
        n_rows += X.shape[0]
        n_features = X.shape[1]
        total += float(np.sum(w))
    return {"n_samples": n_rows, "n_features": n_features, "total_weight": total,
            "digest": digest.hexdigest()}


def _value_fingerprint(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else repr(float(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _value_fingerprint(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"
    digest = hashlib.blake2b(np.ascontiguousarray(arr).view(np.uint8), digest_size=8)
    return f"array{list(arr.shape)}:{digest.hexdigest()}"


def params_fingerprint(params: dict, ignore=()) -> dict:
    """JSON-comparable fingerprints of estimator parameters (arrays by digest).

    Parameters in ``ignore`` (those that only steer the run: max_iter, tol,
    verbose, callbacks, ...) and objects that cannot be compared (callables,
    random generators) are left out.
    """
    out = {}
    for name, value in sorted(params.items()):
        if name in ignore or callable(value) or isinstance(
            value, (np.random.RandomState, np.random.Generator)
        ):
            continue
        out[name] = _value_fingerprint(value)
    return out


# ---------------------------------------------------------------- files
def write_checkpoint(path: str | os.PathLike, *, estimator: str, params: dict, data: dict,
                     schedule: str, state: RunState) -> None:
    """Write ``state`` atomically to ``path`` (a ``.npz`` archive, see the module docstring)."""
    encoder = _Encoder("params")
    params_spec = encoder.encode(state.params, "params")
    arrays = dict(encoder.arrays)
    extra_spec = {}
    for name, value in state.extra.items():
        part = _Encoder(f"extra/{name}")
        extra_spec[name] = part.encode(value, name)
        arrays.update(part.arrays)
    arrays["history"] = np.asarray(state.history, dtype=np.float64)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": estimator,
        "params": params,
        "data": data,
        "schedule": schedule,
        "state": {
            "iteration": int(state.iteration),
            "converged": bool(state.converged),
            "allowance": float(state.allowance) if math.isfinite(state.allowance) else None,
            "params": params_spec,
            "extra": extra_spec,
        },
    }
    arrays["__meta__"] = np.asarray(json.dumps(meta))

    def write(handle) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        handle.write(buffer.getvalue())

    atomic_write(path, write, binary=True)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, RunState]:
    """The metadata and the :class:`RunState` stored in a checkpoint.

    Extra runner state comes back as :class:`StoredTree` values (the runner
    rebuilds them with :func:`restore`); the parameters are rebuilt at once.

    Raises
    ------
    CheckpointError
        One line naming the file: unreadable, not a checkpoint, or another
        format version.
    """
    where = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except OSError as exc:
        raise CheckpointError(f"{where}: cannot read the checkpoint: "
                              f"{exc.strerror or exc}") from None
    except (ValueError, EOFError) as exc:
        raise CheckpointError(f"{where}: not an emkit checkpoint ({exc})") from None
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{where}: not an emkit checkpoint (no metadata)") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not an emkit checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{where}: unsupported checkpoint format_version "
                              f"{meta.get('format_version')!r} (this emkit reads "
                              f"{FORMAT_VERSION})")
    spec = meta["state"]
    try:
        params = _decode(spec["params"], arrays, None, "params")
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    allowance = spec["allowance"]
    state = RunState(
        iteration=int(spec["iteration"]),
        params=params,
        history=[float(v) for v in arrays["history"]],
        allowance=np.inf if allowance is None else float(allowance),
        extra={name: StoredTree(s, arrays, name) for name, s in spec["extra"].items()},
        converged=bool(spec["converged"]),
    )
    return meta, state


def check_matches(meta: dict, path: str | os.PathLike, *, estimator: str, params: dict,
                  data: dict | None, schedule: str) -> None:
    """Refuse a checkpoint written by another estimator, other parameters or other data.

    Raises
    ------
    CheckpointError
        Naming the file and the first difference.
    """
    where = os.fspath(path)
    if meta["estimator"] != estimator:
        raise CheckpointError(f"{where} was written by {meta['estimator']}, not {estimator}")
    if meta["schedule"] != schedule:
        raise CheckpointError(f"{where} was written by a {meta['schedule']!r} run, this fit "
                              f"runs {schedule!r}")
    for name in sorted(set(meta["params"]) | set(params)):
        old, new = meta["params"].get(name), params.get(name)
        if old != new:
            raise CheckpointError(
                f"{where} was written with {name}={old!r}, this estimator has {name}={new!r}; "
                "delete the checkpoint or use the same parameters"
            )
    if data is not None:
        for key in ("n_samples", "n_features", "total_weight", "digest"):
            if meta["data"].get(key) != data.get(key):
                raise CheckpointError(
                    f"{where} was written for other data ({key} {meta['data'].get(key)!r}, "
                    f"now {data.get(key)!r}); delete the checkpoint or fit the same data"
                )
