"""What the registrations of saveable estimators share: common fitted attributes and checks.

The checks raise :class:`~emkit.exceptions.ModelFileError` with a one-line
message naming the field (the registrations are in ``_persist_estimators``,
``_persist_continuous``, ``_persist_discrete``, ``_persist_conditional`` and
``_persist_hmm``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._persist_schema import ABSENT, Array, Bool, Context, Float, Int, MaybeAbsent, Spec, bad, short
from .exceptions import ModelFileError
from .families.covariance import Diagonal, Tied
from .families.structures import get_structure

K_D = ("n_components", "n_features_in_")
FEATURES = "n_features_in_"
N_FEATURES = Int(min=1)
#: Tolerance of sums that must be 1 (weights, probability rows).
SUM_TOLERANCE = 1e-6

#: The run summary every EM estimator has after ``fit``.
EM_ATTRS = {
    "converged_": Bool(),
    "n_iter_": Int(min=0),
    "lower_bound_": Float(null_value=-np.inf),
    "lower_bounds_": Array(shape=("n_iter_",)),
    "n_features_in_": N_FEATURES,
}
#: Mini-batches folded in by the stepwise schedule or partial_fit (absent otherwise).
N_STEPS = {"n_steps_": MaybeAbsent(Int(min=0))}


def present(fitted: dict, attr: str) -> bool:
    return fitted.get(attr, ABSENT) is not ABSENT


def check_shape(fitted: dict, attr: str, shape: tuple[int, ...], why: str) -> None:
    got = np.shape(fitted[attr])
    if got != tuple(shape):
        raise ModelFileError(f"fitted attribute {attr!r} has shape {list(got)}, expected "
                             f"{list(shape)} ({why})")


def check_sums_to_one(values: np.ndarray, attr: str, what: str = "row") -> None:
    """Probabilities along the last axis must sum to 1 (within SUM_TOLERANCE)."""
    sums = np.atleast_1d(np.asarray(values).sum(axis=-1))
    bad = np.argwhere(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        index = tuple(int(i) for i in bad[0])
        if np.ndim(values) == 1:
            raise ModelFileError(f"{attr} sum to {float(sums[0]):.10g}, not 1")
        raise ModelFileError(f"{attr} {what} {list(index) if len(index) > 1 else index[0]} "
                             f"sums to {float(sums[index]):.10g}, not 1")


def check_weights(fitted: dict, attr: str = "weights_") -> None:
    check_sums_to_one(fitted[attr], attr)


def covariance_shape(covariance_type: str, n_components: int, n_features: int
                     ) -> tuple[int, ...]:
    return tuple(get_structure(covariance_type).shape(n_components, n_features))


def covariance_spec(components: Any = "n_components", covariance_type: str = "covariance_type"
                    ) -> Array:
    """Covariance-shaped arrays (K, D, D) / (D, D) / (K, D) / (K,) by covariance type."""
    def shape(ctx: Context) -> tuple[int, ...]:
        K = components(ctx) if callable(components) else ctx.dim(components)
        return covariance_shape(ctx.values[covariance_type], K, ctx.dim(FEATURES))
    return Array(shape=shape, why=(FEATURES, covariance_type))


def check_covariances(ct: str, cov: np.ndarray, prec: np.ndarray, chol: np.ndarray) -> None:
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
        with np.errstate(all="ignore"):
            eig = np.linalg.eigvalsh(c)
        if not np.allclose(c, c.T, rtol=1e-10, atol=0) or not eig[0] > 0:
            raise ModelFileError(f"covariances_{who} is not symmetric positive definite")
        scale = np.abs(P).max()
        if (np.diag(P) <= 0).any() or np.abs(np.tril(P, -1)).max() > 1e-12 * scale:
            raise ModelFileError(f"precisions_cholesky_{who} is not upper triangular with a "
                                 "positive diagonal")
        with np.errstate(all="ignore"):
            product_ok = np.allclose(p, P @ P.T, rtol=1e-9, atol=1e-12 * scale**2)
            inverse_error = np.abs(c @ p - np.eye(len(c))).max()
        if not product_ok:
            raise ModelFileError(f"precisions_{who} does not match precisions_cholesky_")
        if not inverse_error <= 1e-6 * eig[-1] / eig[0]:
            raise ModelFileError(f"covariances_{who} is not the inverse of precisions_")


def check_cholesky_pair(ct: str, cov: np.ndarray, chol: np.ndarray) -> None:
    """Covariances and precision Cholesky factors (no stored precisions) must agree."""
    structure = get_structure(ct)
    if isinstance(structure, Diagonal):
        prec = chol**2
    else:
        P = chol[None] if isinstance(structure, Tied) else chol
        prec = np.einsum("kij,klj->kil", P, P)
        prec = prec[0] if isinstance(structure, Tied) else prec
    check_covariances(ct, cov, prec, chol)


class SettingsSpec(Spec):
    """A variant's settings parameter (``annealing``, ``sparse``, ``monte_carlo``).

    ``null``, a boolean or an integer (the parameter's shorthands) are written as
    they are; a dict or settings object is written as the checked settings
    (``{"beta0": 0.5, "growth": 1.2, "n_iter": 50}``, ...) and read back as the
    settings object.  Every value is checked on load by the parameter's own
    ``check`` function, as when fitting.
    """

    scalar = False

    def __init__(self, check, name: str):
        self.check = check
        self.name = name

    def describe(self) -> str:
        return f"null, a boolean, an integer or an object of {self.name} settings"

    def _checked(self, value: Any, where: str) -> Any:
        try:
            return self.check(value, where)
        except (TypeError, ValueError) as exc:
            raise ModelFileError(str(exc)) from None

    def encode(self, value: Any, where: str, to_dict) -> Any:
        if value is None or isinstance(value, (bool, int, np.integer)):
            self.check(value, where)
            return value if isinstance(value, (bool, type(None))) else int(value)
        return dataclasses.asdict(self.check(value, where))

    def decode(self, value: Any, where: str, ctx: Context) -> Any:
        if value is None or isinstance(value, bool) or type(value) is int:
            self._checked(value, where)
            return value
        if not isinstance(value, dict):
            raise bad(where, f"must be {self.describe()}, got {short(value)}")
        return self._checked(value, where)
