"""Saveable hidden Markov models: HMM, GaussianHMM, CategoricalHMM, PoissonHMM,
BernoulliHMM, GMMHMM and StudentTHMM (one :func:`register_estimator` call each).

Every HMM file holds the chain (``startprob_``, ``transmat_``: probabilities
summing to 1, zero where ``transmat_mask``, ``transmat_init`` or
``startprob_init`` make a structural zero) and its emission's parameters,
which depend on the emission: ``means_``/``covariances_``/... (Gaussian),
``rates_`` (Poisson), ``probabilities_`` (Bernoulli: (K, D); categorical: one
(K, L_j) array per column with ``categories_``), ``weights_`` and
(K, M, D) ``means_`` (GMM), ``degrees_of_freedom_`` (Student-t).  The generic
``HMM`` writes null for the attributes its ``emission`` does not have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._persist_discrete import LEVELS, PROBABILITIES_INIT, check_level_probabilities
from ._persist_registry import register_estimator
from ._persist_schema import Array, Context, ListOf, MaybeAbsent, Spec, Str
from ._persist_shared import (
    EM_ATTRS,
    FEATURES,
    check_cholesky_pair,
    check_covariances,
    check_sums_to_one,
    covariance_shape,
    present,
)
from ._persist_specs import Exact, Switch, Value
from .exceptions import ModelFileError
from .hmm import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
)
from .hmm.emissions import EMISSIONS

#: Emission settings and their defaults (HMM reads them from emission_options).
SETTINGS = {"covariance_type": "full", "n_mix": 1}
K_D = ("n_components", FEATURES)


def _setting(ctx: Context, name: str) -> Any:
    """An emission setting: the estimator's parameter, or HMM's ``emission_options``."""
    if name in ctx.values:
        return ctx.values[name]
    options = ctx.values.get("emission_options") or {}
    return options.get(name, SETTINGS[name])


def _n_mix(ctx: Context) -> int:
    value = _setting(ctx, "n_mix")
    if type(value) is not int or value < 1:
        raise ModelFileError(f"n_mix must be an integer >= 1, got {value!r}")
    return value


def _covariances(components: Callable[[Context], int]) -> Array:
    def shape(ctx: Context) -> tuple[int, ...]:
        return covariance_shape(str(_setting(ctx, "covariance_type")), components(ctx),
                                ctx.dim(FEATURES))
    return Array(shape=shape, why=(FEATURES,))


def _states(ctx: Context) -> int:
    return ctx.dim("n_components")


def _states_x_mix(ctx: Context) -> int:
    return ctx.dim("n_components") * _n_mix(ctx)


def _level_shape(ctx: Context) -> tuple[int, ...]:
    levels = ctx.values["categories_"]
    if not isinstance(levels, list):  # null: absent
        raise ModelFileError("fitted attribute 'categories_' is missing (emission="
                             "'categorical')")
    return (ctx.dim("n_components"), len(levels[ctx.index]))


GAUSSIAN_COVARIANCES = _covariances(_states)
#: The fitted emission attributes of every emission (in decoding order).
EMISSION_ATTRS: dict[str, dict[str, Spec]] = {
    "gaussian": {
        "means_": Array(shape=K_D),
        "covariances_": GAUSSIAN_COVARIANCES,
        "precisions_": GAUSSIAN_COVARIANCES,
        "precisions_cholesky_": GAUSSIAN_COVARIANCES,
    },
    "student_t": {
        "means_": Array(shape=K_D),
        "covariances_": GAUSSIAN_COVARIANCES,
        "precisions_cholesky_": GAUSSIAN_COVARIANCES,
        "degrees_of_freedom_": Array(shape=("n_components",), min=0.0, strict_min=True),
    },
    "gmm": {
        "weights_": Array(shape=lambda ctx: (_states(ctx), _n_mix(ctx)), min=0.0, max=1.0),
        "means_": Array(shape=lambda ctx: (_states(ctx), _n_mix(ctx), ctx.dim(FEATURES))),
        "covariances_": _covariances(_states_x_mix),
        "precisions_cholesky_": _covariances(_states_x_mix),
    },
    "poisson": {"rates_": Array(shape=K_D, min=0.0)},
    "bernoulli": {"probabilities_": Array(shape=K_D, min=0.0, max=1.0)},
    "categorical": {
        "categories_": ListOf(LEVELS, length=FEATURES),
        "probabilities_": ListOf(Array(shape=_level_shape, min=0.0, max=1.0),
                                 length=FEATURES),
    },
}
CHAIN_ATTRS = {
    "startprob_": Array(shape=("n_components",), min=0.0, max=1.0),
    "transmat_": Array(shape=("n_components", "n_components"), min=0.0, max=1.0),
}


def _emission_name(estimator) -> str:
    return estimator.emission if isinstance(estimator, HMM) else KINDS[type(estimator)]


# ------------------------------------------------------------------ checks
def _check_hmm_params(estimator, ctx: Context) -> None:
    estimator._check_parameters()
    emission = estimator._emission()
    if hasattr(emission, "check"):
        emission.check()
    estimator._fixed(emission)
    estimator._structure(estimator.n_components)
    kind = _emission_name(estimator)
    if kind == "gmm":
        _n_mix(ctx)
    if kind in ("gaussian", "student_t", "gmm"):
        from .families.structures import get_structure

        get_structure(emission.covariance_type).check_n_features(ctx.values[FEATURES])


def _check_chain(estimator, f: dict) -> None:
    check_sums_to_one(f["startprob_"], "startprob_")
    check_sums_to_one(f["transmat_"], "transmat_")
    structure = estimator._structure(estimator.n_components)
    outside = np.argwhere((f["transmat_"] > 0) & ~structure["trans_allowed"])
    if outside.size:
        i, j = (int(v) for v in outside[0])
        raise ModelFileError(f"transmat_[{i}, {j}] is {float(f['transmat_'][i, j])!r} but the "
                             f"transition {i} -> {j} is a structural zero (transmat_mask or "
                             "transmat_init)")
    start = np.flatnonzero((f["startprob_"] > 0) & ~structure["start_allowed"])
    if start.size:
        raise ModelFileError(f"startprob_[{int(start[0])}] must be 0 (a structural zero of "
                             "startprob_init)")


def _check_hmm(estimator, f: dict) -> None:
    _check_chain(estimator, f)
    kind = _emission_name(estimator)
    wanted = EMISSION_ATTRS[kind]
    for attr in sorted(set(ALL_EMISSION_ATTRS) - set(wanted)):
        if present(f, attr):
            raise ModelFileError(f"fitted attribute {attr!r} must be null with emission="
                                 f"{kind!r}")
    for attr in wanted:
        if not present(f, attr):
            raise ModelFileError(f"fitted attribute {attr!r} is missing (emission={kind!r})")
    if kind in ("gaussian", "student_t", "gmm"):
        ct = estimator._emission().covariance_type
        if kind == "gaussian":
            check_covariances(ct, f["covariances_"], f["precisions_"],
                              f["precisions_cholesky_"])
        else:
            check_cholesky_pair(ct, f["covariances_"], f["precisions_cholesky_"])
    if kind == "gmm":
        check_sums_to_one(f["weights_"], "weights_", "state")
    if kind == "categorical":
        check_level_probabilities(f["probabilities_"])


def _restore_hmm(estimator) -> None:
    emission = estimator._emission()
    estimator._fitted_structure = estimator._structure(estimator.n_components)
    estimator._fitted_fixed = estimator._fixed(emission)
    if hasattr(estimator, "categories_"):
        estimator.categories_ = list(estimator.categories_)
        estimator.probabilities_ = list(estimator.probabilities_)


# ------------------------------------------------------------------ registrations
KINDS = {GaussianHMM: "gaussian", CategoricalHMM: "categorical", PoissonHMM: "poisson",
         BernoulliHMM: "bernoulli", GMMHMM: "gmm", StudentTHMM: "student_t"}
#: Parameters of every HMM that arrays and masks may hold (lists of booleans included).
CHAIN_PARAMS = {"transmat_mask": Value(), "startprob_prior": Value(),
                "transmat_prior": Value(), "startprob_init": Value(), "transmat_init": Value()}
REQUIRED = {"gaussian": ("covariance_type",), "student_t": ("covariance_type", "dof"),
            "gmm": ("n_mix", "covariance_type"), "categorical": (), "poisson": (),
            "bernoulli": ()}

for _cls, _kind in KINDS.items():
    register_estimator(
        _cls,
        required=("n_components", *REQUIRED[_kind]),
        fitted={**CHAIN_ATTRS, **EMISSION_ATTRS[_kind], **EM_ATTRS},
        params={**CHAIN_PARAMS, **({"categories": Value(),
                                    "probabilities_init": PROBABILITIES_INIT}
                                   if _kind == "categorical" else {})},
        check_params=_check_hmm_params,
        check=_check_hmm,
        restore=_restore_hmm,
    )


def _kind(ctx: Context) -> str:
    return ctx.values["emission"]


#: Every emission attribute, null when the HMM's emission lacks it (categories_ first:
#: the categorical probabilities' shapes need it).
ALL_EMISSION_ATTRS: dict[str, Spec] = {
    attr: MaybeAbsent(Switch(_kind, {kind: attrs[attr] for kind, attrs in
                                     EMISSION_ATTRS.items() if attr in attrs}))
    for attr in sorted({a for attrs in EMISSION_ATTRS.values() for a in attrs},
                       key=lambda a: (a != "categories_", a))
}

register_estimator(
    HMM,
    required=("n_components", "emission", "emission_options"),
    fitted={**CHAIN_ATTRS, **ALL_EMISSION_ATTRS, **EM_ATTRS},
    params={**CHAIN_PARAMS, "emission": Exact(Str(tuple(EMISSIONS)), why=(
        "a model file names the emission; give HMM(emission=<name>, emission_options=...) "
        "instead of a family object")),
            "emission_options": Value(mapping=True)},
    check_params=_check_hmm_params,
    check=_check_hmm,
    restore=_restore_hmm,
)
