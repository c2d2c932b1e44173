"""Saveable conditional models: RegressionMixture, MixtureOfExperts and ProbitRegression
(one :func:`register_estimator` call each).

The regressions' shapes must agree with ``n_components``, ``n_features_in_``
(or the expert and gate columns) and the number of targets (read from
``coef_``: (K, D) for a 1-d response, (K, m, D) for m targets); noise
variances must be positive (definite); a model without intercept has zero
``intercept_``; the gate's baseline (last) regime has zero coefficients.
"""

from __future__ import annotations

import numpy as np

from ._persist_registry import register_estimator
from ._persist_schema import ABSENT, Array, Bool, Float, Int, MaybeAbsent
from ._persist_shared import (
    EM_ATTRS,
    FEATURES,
    N_FEATURES,
    N_STEPS,
    check_shape,
    check_weights,
)
from ._persist_specs import Levels, Value
from ._validation import check_int, check_real
from .em.accelerate import check_accelerate
from .exceptions import ModelFileError
from .models import MixtureOfExperts, ProbitRegression, RegressionMixture

REGRESSIONS = {
    "coef_": Array(ndim=(2, 3)),
    "intercept_": Array(ndim=(1, 2)),
    "noise_variance_": MaybeAbsent(Array(ndim=(1, 3))),  # the Gaussian family only
}


def _targets(f: dict) -> tuple[bool, int]:
    """(whether y was 1-d, number of targets) from ``coef_``'s shape."""
    coef = f["coef_"]
    return (True, 1) if coef.ndim == 2 else (False, coef.shape[1])


def _check_regressions(estimator, f: dict, n_columns: int, columns_why: str) -> None:
    K = estimator.n_components
    one_d, m = _targets(f)
    why = f"n_components={K}, {columns_why}" + ("" if one_d else f", {m} targets")
    check_shape(f, "coef_", (K, n_columns) if one_d else (K, m, n_columns), why)
    check_shape(f, "intercept_", (K,) if one_d else (K, m), why)
    if not estimator.fit_intercept and (f["intercept_"] != 0).any():
        raise ModelFileError("intercept_ must be 0 with fit_intercept=False")
    noise = f["noise_variance_"]
    if estimator.family != "gaussian":
        if noise is not ABSENT:
            raise ModelFileError(f"noise_variance_ must be null for family="
                                 f"{estimator.family!r}")
        return
    if noise is ABSENT:
        raise ModelFileError("noise_variance_ is missing (family='gaussian')")
    check_shape(f, "noise_variance_", (K,) if one_d else (K, m, m), why)
    matrices = noise[:, None, None] if one_d else noise
    with np.errstate(all="ignore"):
        symmetric = np.allclose(matrices, matrices.transpose(0, 2, 1), rtol=1e-10, atol=0)
        if not symmetric or not (np.linalg.eigvalsh(matrices)[:, 0] > 0).all():
            raise ModelFileError("noise_variance_ must be positive (definite)")
    if estimator.noise == "common" and not (matrices == matrices[:1]).all():
        raise ModelFileError("noise_variance_ must be equal in every regime with "
                             "noise='common'")


def _restore_conditional(estimator) -> None:
    estimator._y_was_1d = estimator.coef_.ndim == 2
    estimator._n_targets = 1 if estimator._y_was_1d else estimator.coef_.shape[1]
    estimator._fitted_family = estimator.family


# ------------------------------------------------------------------ RegressionMixture
def _check_regression_mixture(estimator: RegressionMixture, f: dict) -> None:
    check_shape(f, "weights_", (estimator.n_components,), "n_components")
    check_weights(f)
    _check_regressions(estimator, f, f[FEATURES], f"n_features_in_={f[FEATURES]}")


register_estimator(
    RegressionMixture,
    required=("n_components", "family", "fit_intercept"),
    fitted={"weights_": Array(shape=("n_components",), min=0.0), **REGRESSIONS,
            **EM_ATTRS, **N_STEPS},
    check=_check_regression_mixture,
    restore=_restore_conditional,
)


# ------------------------------------------------------------------ MixtureOfExperts
def _check_experts(estimator: MixtureOfExperts, f: dict) -> None:
    K = estimator.n_components
    gate_coef, gate_intercept = f["gate_coef_"], f["gate_intercept_"]
    check_shape(f, "gate_intercept_", (K,), f"n_components={K}")
    if gate_coef.shape[0] != K:
        raise ModelFileError(f"fitted attribute 'gate_coef_' has {gate_coef.shape[0]} rows, "
                             f"expected {K} (n_components={K})")
    if (gate_coef[-1] != 0).any() or gate_intercept[-1] != 0:
        raise ModelFileError("the gate's last regime is the baseline: gate_coef_[-1] and "
                             "gate_intercept_[-1] must be 0")
    if not estimator.fit_intercept and (gate_intercept != 0).any():
        raise ModelFileError("gate_intercept_ must be 0 with fit_intercept=False")
    _check_regressions(estimator, f, f["coef_"].shape[-1], "the expert columns")


def _restore_experts(estimator: MixtureOfExperts) -> None:
    """The conditional state; then the expert and gate columns (they may name features)."""
    _restore_conditional(estimator)
    for attr, param in (("coef_", "expert_features"), ("gate_coef_", "gate_features")):
        try:
            n_columns = len(estimator._columns(getattr(estimator, param), param))
        except ValueError as exc:
            raise ModelFileError(f"invalid parameter: {exc}") from None
        if getattr(estimator, attr).shape[-1] != n_columns:
            raise ModelFileError(f"fitted attribute {attr!r} has "
                                 f"{getattr(estimator, attr).shape[-1]} columns but {param} "
                                 f"gives {n_columns}")


register_estimator(
    MixtureOfExperts,
    required=("n_components", "family", "fit_intercept"),
    fitted={"gate_coef_": Array(ndim=2), "gate_intercept_": Array(ndim=1), **REGRESSIONS,
            **EM_ATTRS},
    params={"gate_features": Value(), "expert_features": Value()},
    check=_check_experts,
    restore=_restore_experts,
)


# ------------------------------------------------------------------ ProbitRegression
def _check_probit_params(estimator: ProbitRegression, ctx) -> None:
    check_real(estimator.tol, "tol", 0.0)
    check_int(estimator.max_iter, "max_iter", 0)
    check_accelerate(estimator.accelerate)
    if estimator.chunk_size is not None:
        check_int(estimator.chunk_size, "chunk_size", 1)


def _check_probit(estimator: ProbitRegression, f: dict) -> None:
    if not estimator.fit_intercept and f["intercept_"][0] != 0:
        raise ModelFileError("intercept_ must be 0 with fit_intercept=False")


register_estimator(
    ProbitRegression,
    required=("fit_intercept",),
    fitted={
        "classes_": Levels(length=2),
        "coef_": Array(shape=(1, FEATURES)),
        "intercept_": Array(shape=(1,)),
        "n_iter_": Int(min=0),
        "converged_": Bool(),
        "lower_bound_": Float(null_value=-np.inf),
        "lower_bounds_": Array(shape=("n_iter_",)),
        "n_features_in_": N_FEATURES,
    },
    check_params=_check_probit_params,
    check=_check_probit,
)
