"""Saveable continuous mixtures and clusterers beyond GaussianMixture and KMeans:
StudentTMixture, BayesianGaussianMixture and MiniBatchKMeans (one
:func:`register_estimator` call each).

The covariance arrays must describe the same positive definite matrices (as
GaussianMixture's), the degrees of freedom must follow ``dof`` and
``dof_bounds``, and a BayesianGaussianMixture's ``weights_`` must be the
expected weights of its ``weight_concentration_``.
"""

from __future__ import annotations

import numpy as np

from ._persist_estimators import CENTROID_ATTRS, _check_centroid_params, _check_labels
from ._persist_registry import register_estimator
from ._persist_schema import (
    Array,
    Float,
    Int,
    ListOf,
    MaybeAbsent,
    OneOf,
)
from ._persist_shared import (
    EM_ATTRS,
    FEATURES,
    K_D,
    N_STEPS,
    check_covariances,
    check_shape,
    check_weights,
    covariance_spec,
)
from .exceptions import ModelFileError
from .families.structures import get_structure
from .models import BayesianGaussianMixture, MiniBatchKMeans, StudentTMixture

COVARIANCES = {attr: covariance_spec() for attr in
               ("covariances_", "precisions_", "precisions_cholesky_")}


# ------------------------------------------------------------------ StudentTMixture
def _check_student_t(estimator: StudentTMixture, f: dict) -> None:
    check_weights(f)
    check_covariances(estimator.covariance_type, f["covariances_"], f["precisions_"],
                      f["precisions_cholesky_"])
    # the rule a warm start applies: fixed dof equal, estimated ones inside dof_bounds
    estimator.weights_ = f["weights_"]
    estimator.degrees_of_freedom_ = f["degrees_of_freedom_"]
    reason = estimator._fitted_matches()
    if reason is not None:
        raise ModelFileError(f"fitted attribute 'degrees_of_freedom_': {reason}")


def _restore_student_t(estimator: StudentTMixture) -> None:
    estimator._fitted_structure = get_structure(estimator.covariance_type).name


register_estimator(
    StudentTMixture,
    required=("n_components", "covariance_type", "reg_covar", "dof"),
    fitted={
        "weights_": Array(shape=("n_components",), min=0.0),
        "means_": Array(shape=K_D),
        **COVARIANCES,
        "degrees_of_freedom_": Array(shape=("n_components",), min=0.0, strict_min=True),
        **EM_ATTRS,
        **N_STEPS,
    },
    check=_check_student_t,
    restore=_restore_student_t,
)


# ------------------------------------------------------------------ BayesianGaussianMixture
def _expected_weights(concentration, dirichlet_process: bool) -> np.ndarray:
    """``weights_`` from q(pi), as the estimator computes them."""
    if dirichlet_process:
        a, b = concentration
        sticks = a / (a + b)
        weights = sticks * np.concatenate([[1.0], np.cumprod(1.0 - sticks)[:-1]])
    else:
        weights = np.asarray(concentration, dtype=float)
    return weights / weights.sum()


def _check_bayesian(estimator: BayesianGaussianMixture, f: dict) -> None:
    K, D = estimator.n_components, f[FEATURES]
    ct = estimator.covariance_type
    dp = estimator.weight_concentration_prior_type == "dirichlet_process"
    concentration = f["weight_concentration_"]
    if dp != isinstance(concentration, list):
        form = "a list of two arrays" if dp else "one array"
        raise ModelFileError(f"fitted attribute 'weight_concentration_' must be {form} with "
                             f"weight_concentration_prior_type="
                             f"{estimator.weight_concentration_prior_type!r}")
    if not dp:
        check_shape(f, "weight_concentration_", (K,), f"n_components={K}")
    check_weights(f)
    if not np.allclose(f["weights_"], _expected_weights(concentration, dp), rtol=1e-9,
                       atol=1e-12):
        raise ModelFileError("weights_ are not the expected weights of "
                             "weight_concentration_")
    check_shape(f, "degrees_of_freedom_", () if ct == "tied" else (K,),
                f"covariance_type={ct!r}")
    if not (np.asarray(f["degrees_of_freedom_"]) > D - 1).all():
        raise ModelFileError(f"degrees_of_freedom_ must exceed n_features_in_ - 1 = {D - 1}")
    if not f["degrees_of_freedom_prior_"] > D - 1:
        raise ModelFileError(f"degrees_of_freedom_prior_ must exceed n_features_in_ - 1 = "
                             f"{D - 1}")
    prior_shape = {"full": (D, D), "tied": (D, D), "diag": (D,), "spherical": ()}[ct]
    check_shape(f, "covariance_prior_", prior_shape, f"covariance_type={ct!r}, "
                f"n_features_in_={D}")
    check_covariances(ct, f["covariances_"], f["precisions_"], f["precisions_cholesky_"])
    if not 0 <= f["n_effective_components_"] <= K:
        raise ModelFileError(f"n_effective_components_ must be in 0..{K}")


def _restore_bayesian(estimator: BayesianGaussianMixture) -> None:
    estimator._fitted_type = estimator.covariance_type
    if isinstance(estimator.weight_concentration_, list):
        estimator.weight_concentration_ = tuple(estimator.weight_concentration_)


POSITIVE = Float(min=0.0, strict_min=True)
register_estimator(
    BayesianGaussianMixture,
    required=("n_components", "covariance_type", "reg_covar",
              "weight_concentration_prior_type"),
    fitted={
        "weights_": Array(shape=("n_components",), min=0.0),
        # dirichlet_process: the Beta parameters (a, b) of the sticks; else Dirichlet's
        "weight_concentration_": OneOf(
            ListOf(Array(shape=("n_components",), min=0.0, strict_min=True), length=2),
            Array(ndim=1, min=0.0, strict_min=True)),
        "mean_precision_": Array(shape=("n_components",), min=0.0, strict_min=True),
        "means_": Array(shape=K_D),
        "degrees_of_freedom_": Array(ndim=(0, 1)),
        **COVARIANCES,
        "n_effective_components_": Int(min=0),
        "weight_concentration_prior_": POSITIVE,
        "mean_precision_prior_": POSITIVE,
        "mean_prior_": Array(shape=(FEATURES,)),
        "degrees_of_freedom_prior_": Float(),
        "covariance_prior_": OneOf(POSITIVE, Array(ndim=(1, 2))),
        **EM_ATTRS,
        **N_STEPS,
    },
    check=_check_bayesian,
    restore=_restore_bayesian,
)


# ------------------------------------------------------------------ MiniBatchKMeans
register_estimator(
    MiniBatchKMeans,
    required=("n_clusters",),
    # labels_ and inertia_ are absent after partial_fit alone
    fitted={**CENTROID_ATTRS, "inertia_": MaybeAbsent(Float(min=0.0)), **N_STEPS},
    check_params=_check_centroid_params,
    check=_check_labels,
)
