"""The saveable Gaussian and k-means estimators and the mixture wrappers: one
:func:`register_estimator` call each.

The other estimators are registered by kind in ``_persist_continuous``,
``_persist_discrete``, ``_persist_conditional`` and ``_persist_hmm``.  To make a
new estimator saveable, add its registration to the module of its kind (its
fitted attributes with their specs, the parameters a file must give, and a
check of the relations between fields).  The specs are in :mod:`emkit._persist_schema`,
the registry in :mod:`emkit._persist_registry`, the file format in
``docs/model-format.md``.
"""

from __future__ import annotations

import numpy as np

from ._persist_registry import register_estimator, register_param_type
from ._persist_schema import (
    ABSENT,
    Array,
    Bool,
    Context,
    Float,
    Int,
    MaybeAbsent,
    Model,
    OneOf,
    Optional,
    Str,
)
from ._persist_shared import FEATURES, K_D, N_FEATURES, check_covariances
from .exceptions import ModelFileError
from .families.structures import get_structure
from .models import (
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixtureOutlierDetector,
    SoftKMeans,
)
from .models._mixture import check_labels_init
from .models._mixture_inference import make_mixture
from .models.kmeans import _check_init
from .models.outlier import _check_contamination, _check_threshold
from .priors import GaussianPrior, _positive, _user_scale

# ------------------------------------------------------------------ shared pieces
register_param_type(GaussianPrior, {
    "shrinkage": Float(min=0.0),
    "mean": Optional(Array(ndim=1)),
    "dof": Optional(Float(min=0.0, strict_min=True)),
    "scale": Optional(OneOf(Float(min=0.0, strict_min=True), Array(ndim=2))),
    "weight_concentration": Float(min=1.0),
})


def _check_shape(fitted: dict, attr: str, shape: tuple[int, ...], why: str) -> None:
    got = fitted[attr].shape
    if got != shape:
        raise ModelFileError(f"fitted attribute {attr!r} has shape {list(got)}, expected "
                             f"{list(shape)} ({why})")


def _check_prior(prior, n_features: int) -> None:
    """A loaded GaussianPrior's hyperparameters, as fitting would check them."""
    if not isinstance(prior, GaussianPrior):
        return
    if prior.mean is not None and np.shape(prior.mean) != (n_features,):
        raise ValueError(f"prior mean must have shape ({n_features},), got "
                         f"{np.shape(prior.mean)}")
    _positive(prior.shrinkage, "shrinkage", strict=False)
    _positive(prior.weight_concentration, "weight_concentration", 1.0, strict=False)
    if prior.dof is not None:
        _positive(prior.dof, "dof")
    if prior.scale is not None:
        _user_scale(prior.scale, "full", n_features)


# ------------------------------------------------------------------ GaussianMixture
def _covariance_shape(ctx: Context) -> tuple[int, ...]:
    values = ctx.values
    return get_structure(values["covariance_type"]).shape(values["n_components"],
                                                          values[FEATURES])


def _check_gaussian_params(estimator: GaussianMixture, ctx: Context) -> None:
    estimator._check_parameters()
    D = ctx.values[FEATURES]
    get_structure(estimator.covariance_type).check_n_features(D)
    estimator._user_initial_values(D)
    _check_prior(estimator.prior, D)
    if estimator.labels_init is not None:
        labels = np.asarray(estimator.labels_init)
        check_labels_init(labels, labels.shape[0], estimator.n_components)


def _check_gaussian(estimator: GaussianMixture, f: dict) -> None:
    w = f["weights_"]
    if abs(w.sum() - 1.0) > 1e-6:
        raise ModelFileError(f"weights_ sum to {w.sum():.10g}, not 1")
    check_covariances(estimator.covariance_type, f["covariances_"], f["precisions_"],
                       f["precisions_cholesky_"])


def _restore_gaussian(estimator: GaussianMixture) -> None:
    estimator._fitted_structure = get_structure(estimator.covariance_type).name


register_estimator(
    GaussianMixture,
    required=("n_components", "covariance_type", "reg_covar"),
    fitted={
        "weights_": Array(shape=("n_components",), min=0.0),
        "means_": Array(shape=K_D),
        "covariances_": Array(shape=_covariance_shape, why=(*K_D, "covariance_type")),
        "precisions_": Array(shape=_covariance_shape, why=(*K_D, "covariance_type")),
        "precisions_cholesky_": Array(shape=_covariance_shape,
                                      why=(*K_D, "covariance_type")),
        "converged_": Bool(),
        "n_iter_": Int(min=0),
        "lower_bound_": Float(null_value=-np.inf),
        "lower_bounds_": Array(shape=("n_iter_",)),
        "n_features_in_": N_FEATURES,
    },
    params={
        # (null: written by emkit 0.1.0 for a numpy type; it means float64)
        "dtype": Optional(Str(("float64", "float32"))),
        "labels_init": Optional(Array(None, ndim=(1, 2))),
        "weights_init": Optional(Array(ndim=1)),
        "means_init": Optional(Array(ndim=2)),
        "precisions_init": Optional(Array(ndim=(1, 2, 3))),
    },
    check_params=_check_gaussian_params,
    check=_check_gaussian,
    restore=_restore_gaussian,
)


# ------------------------------------------------------------------ KMeans, SoftKMeans
def _check_centroid_params(estimator, ctx: Context) -> None:
    estimator._check_parameters()
    estimator._beta()
    _check_init(estimator.init, estimator.n_clusters, ctx.values[FEATURES])


def _check_labels(estimator, f: dict) -> None:
    labels, K = f["labels_"], estimator.n_clusters
    if labels is not ABSENT and labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ModelFileError(f"fitted attribute 'labels_' holds labels outside 0..{K - 1}")


CENTROID_ATTRS = {
    "cluster_centers_": Array(shape=("n_clusters", FEATURES)),
    # absent after fitting a file source (labels_ would hold one entry per row)
    "labels_": MaybeAbsent(Array("int64", ndim=1)),
    "n_iter_": Int(min=0),
    "converged_": Bool(),
    "objective_history_": Array(shape=("n_iter_",)),
    "n_features_in_": N_FEATURES,
}
register_estimator(
    KMeans,
    required=("n_clusters",),
    fitted={**CENTROID_ATTRS, "inertia_": Float(min=0.0)},
    check_params=_check_centroid_params,
    check=_check_labels,
)
register_estimator(
    SoftKMeans,
    required=("n_clusters", "beta"),
    fitted=dict(CENTROID_ATTRS),
    check_params=_check_centroid_params,
    check=_check_labels,
)


# ------------------------------------------------------------------ wrappers of a mixture
def _check_wrapper_params(estimator, ctx: Context) -> None:
    make_mixture(estimator)._check_parameters()
    if isinstance(estimator, MixtureOutlierDetector):
        _check_contamination(estimator.contamination)
        _check_threshold(estimator.threshold)


def _check_wrapper(estimator, f: dict) -> None:
    """The nested mixture must be the one the wrapper's parameters describe."""
    mixture = f["mixture_"]
    for key in ("n_components", "covariance_type"):
        mine, theirs = getattr(estimator, key), getattr(mixture, key)
        if mine != theirs:
            raise ModelFileError(f"fitted attribute 'mixture_' has {key}={theirs!r} but the "
                                 f"parameters say {key}={mine!r}")
    if mixture.n_features_in_ != f[FEATURES]:
        raise ModelFileError(f"fitted attribute 'mixture_' has {mixture.n_features_in_} "
                             f"features but n_features_in_ is {f[FEATURES]}")


def _restore_wrapper(estimator) -> None:
    estimator.n_iter_ = estimator.mixture_.n_iter_  # not stored: it is the mixture's


WRAPPED_MIXTURE = Model(("GaussianMixture",))
register_estimator(
    MixtureOutlierDetector,
    required=("n_components", "covariance_type"),
    fitted={"offset_": Float(), "n_features_in_": N_FEATURES, "mixture_": WRAPPED_MIXTURE},
    check_params=_check_wrapper_params,
    check=_check_wrapper,
    restore=_restore_wrapper,
)
register_estimator(
    GaussianMixtureImputer,
    required=("n_components", "covariance_type", "sample_posterior"),
    fitted={"n_features_in_": N_FEATURES, "mixture_": WRAPPED_MIXTURE},
    check_params=_check_wrapper_params,
    check=_check_wrapper,
    restore=_restore_wrapper,
)
