"""Conjugate priors for MAP-EM on Gaussian mixtures (Fraley & Raftery 2007).

The prior on component k is

* mean: ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)``;
* covariance: inverse-Wishart with ``dof`` degrees of freedom and scale
  matrix ``scale`` for the models with full covariances (orientation E or V);
  for diagonal models an inverse-gamma(dof/2, scale/2) on every variance; for
  spherical models one inverse-gamma(dof/2, scale/2) on sigma^2 (mclust's
  families).  Models whose covariance is shared by all components (EII, EEI,
  EEE) put one such prior on the shared covariance; the others one per
  component;
* weights: a symmetric Dirichlet(``weight_concentration``) (1 = flat, mclust's
  choice).

With these, the M-step maximises the expected complete-data log *posterior*:
means are shrunk, ``mu_k = (n_k xbar_k + shrinkage mean) / (n_k + shrinkage)``,
and the covariance M-step of every model runs on augmented statistics
``n_k + a_k`` and ``W_k + B_k + shrinkage n_k / (n_k + shrinkage) (xbar_k -
mean)(xbar_k - mean)'`` (see :func:`prior_terms`), so all 14 models get a MAP
step from the same code.  EM then never decreases the log posterior, which
``lower_bounds_`` tracks.

Default hyperparameters (mclust's ``defaultPrior``): ``shrinkage = 0.01``,
``mean`` = column means, ``dof = d + 2``, ``scale = var(X) / G^(2/d)`` for full
covariances and ``sum_j var(X_j) / (d G^(2/d))`` for diagonal and spherical
ones (variances with denominator n - 1, as R's ``var``).
"""

from __future__ import annotations

import dataclasses
from numbers import Real

import numpy as np

from .families.covariance import CovarianceStructure, Diagonal, Spherical


@dataclasses.dataclass(frozen=True)
class GaussianPrior:
    """Hyperparameters of the conjugate prior; None means mclust's data-based default.

    Parameters
    ----------
    shrinkage : float, default=0.01
        kappa: how many pseudo-rows the prior mean is worth (0: no prior on the means).
    mean : array-like of shape (n_features,), optional
        Prior mean of the component means (default: the column means).
    dof : float, optional
        Degrees of freedom (default: n_features + 2).
    scale : float or array-like of shape (n_features, n_features), optional
        Inverse-Wishart scale matrix (a float s means s I); for diagonal and
        spherical models the inverse-gamma scale (a matrix counts as its mean
        diagonal entry).  Default: see the module docstring.
    weight_concentration : float, default=1.0
        Symmetric Dirichlet parameter of the weights (>= 1; 1 = no prior).
    """

    shrinkage: float = 0.01
    mean: object = None
    dof: float | None = None
    scale: object = None
    weight_concentration: float = 1.0


@dataclasses.dataclass(frozen=True)
class ResolvedPrior:
    """A prior with every hyperparameter filled in for one data set and model."""

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray | float
    weight_concentration: float
    #: Per-component augmentation of the counts (K,) and of the scatter (K, D, D).
    count_terms: np.ndarray
    scatter_terms: np.ndarray


def _family(structure: CovarianceStructure) -> str:
    if isinstance(structure, Spherical):
        return "spherical"
    if isinstance(structure, Diagonal):
        return "diagonal"
    return "full"


def check_prior(prior) -> GaussianPrior | None:
    """``prior`` parameter as a GaussianPrior (None stays None, "default" gives defaults)."""
    if prior is None:
        return None
    if isinstance(prior, str) and prior == "default":
        return GaussianPrior()
    if isinstance(prior, GaussianPrior):
        return prior
    raise ValueError(
        f"prior must be None, 'default' or an emkit.GaussianPrior, got {prior!r}"
    )


def _positive(value, name: str, minimum: float = 0.0, strict: bool = True) -> float:
    if not isinstance(value, Real) or not np.isfinite(value) or (
        value <= minimum if strict else value < minimum
    ):
        relation = ">" if strict else ">="
        raise ValueError(
            f"prior {name} must be a finite number {relation} {minimum}, got {value!r}"
        )
    return float(value)


def _data_moments(X: np.ndarray, sample_weight: np.ndarray):
    """Weighted column means and covariance with R's n - 1 denominator."""
    total = sample_weight.sum()
    mean = sample_weight @ X / total
    centred = X - mean
    covariance = (centred * sample_weight[:, None]).T @ centred / max(total - 1.0, 1.0)
    return mean, covariance


def observed_moments(X: np.ndarray, sample_weight: np.ndarray):
    """:func:`_data_moments` of data with missing values (NaN), from what is observed.

    Column means over the observed entries; covariances over the rows where
    both columns are observed (pairwise, each pair with its own ``n - 1``
    denominator).  When pairwise estimates do not make a positive definite
    matrix, only their diagonal is kept.  Without NaN, equal to
    :func:`_data_moments`.
    """
    observed = ~np.isnan(X)
    weighted = observed * sample_weight[:, None]
    column_weight = weighted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(observed, X, 0.0).T @ sample_weight / column_weight
    mean = np.where(column_weight > 0, mean, 0.0)
    centred = np.where(observed, X - mean, 0.0)
    pair_weight = weighted.T @ observed
    covariance = (centred * sample_weight[:, None]).T @ centred / np.maximum(
        pair_weight - 1.0, 1.0)
    try:
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        covariance = np.diag(np.diag(covariance))
    return mean, covariance


def resolve_prior(
    prior: GaussianPrior,
    X: np.ndarray,
    sample_weight: np.ndarray,
    n_components: int,
    structure: CovarianceStructure,
    moments: tuple[np.ndarray, np.ndarray, float] | None = None,
) -> ResolvedPrior:
    """Fill in the defaults from the data and compute the M-step's augmentation terms.

    ``moments`` are the data's weighted means, covariance (``n - 1``
    denominator) and total weight when X is not in memory (a source); X and
    ``sample_weight`` are then not used.

    Raises
    ------
    ValueError
        Naming the hyperparameter that is invalid (shape, sign, not positive definite).
    """
    if moments is None:
        data_mean, data_cov = _data_moments(X, sample_weight)
        n_rows = float(sample_weight.sum())
    else:
        data_mean, data_cov, n_rows = moments
    K, D = n_components, data_mean.shape[0]
    shrinkage = _positive(prior.shrinkage, "shrinkage", strict=False)
    concentration = _positive(prior.weight_concentration, "weight_concentration", 1.0,
                              strict=False)
    mean = data_mean if prior.mean is None else np.asarray(prior.mean, dtype=float)
    if mean.shape != (D,) or not np.isfinite(mean).all():
        raise ValueError(f"prior mean must be a finite array of shape ({D},), got "
                         f"shape {mean.shape}")
    dof = float(D + 2) if prior.dof is None else _positive(prior.dof, "dof")
    family = _family(structure)
    factor = float(K) ** (-2.0 / D)
    if prior.scale is None:
        if family == "full":
            scale = factor * (data_cov if n_rows > D else np.diag(np.diag(data_cov)))
        else:
            scale = factor * float(np.trace(data_cov)) / D
    else:
        scale = _user_scale(prior.scale, family, D)
    count_terms, scatter_terms = prior_terms(family, structure.shares_covariance, K, D,
                                             dof, scale)
    return ResolvedPrior(shrinkage, mean, dof, scale, concentration, count_terms,
                         scatter_terms)


def _user_scale(scale, family: str, D: int):
    value = np.asarray(scale, dtype=float)
    if value.ndim == 0:
        s = _positive(float(value), "scale")
        return s * np.eye(D) if family == "full" else s
    if value.shape != (D, D) or not np.isfinite(value).all():
        raise ValueError(f"prior scale must be a number or a ({D}, {D}) matrix, got "
                         f"shape {value.shape}")
    if not np.allclose(value, value.T) or np.linalg.eigvalsh(value)[0] <= 0:
        raise ValueError("prior scale must be symmetric positive definite")
    return value if family == "full" else float(np.trace(value)) / D


def prior_terms(family: str, shared: bool, K: int, D: int, dof: float, scale):
    """Augmentation ``(a_k, B_k)`` of counts and scatter matrices for the covariance M-step.

    The prior's covariance part is ``-1/2 sum_k [a_k log|S_k| + tr(B_k S_k^-1)]``
    (the ``1`` in each ``a_k`` is the mean prior's ``|S_k|^(-1/2)``):

    ===========  ==========================  =======================
    family       a_k (one prior per comp.)   B_k
    ===========  ==========================  =======================
    full         dof + D + 2                 scale (matrix)
    diagonal     dof + 3                     scale I
    spherical    1 + (dof + 2) / D           scale I / D
    ===========  ==========================  =======================

    A shared covariance (EII, EEI, EEE) carries one prior, split evenly over
    the components: ``a_k = 1 + (a - 1) / K`` and ``B_k = B / K``.
    """
    if family == "full":
        a, B = dof + D + 2.0, np.asarray(scale, dtype=float)
    elif family == "diagonal":
        a, B = dof + 3.0, scale * np.eye(D)
    else:
        a, B = 1.0 + (dof + 2.0) / D, scale * np.eye(D) / D
    if shared:
        a, B = 1.0 + (a - 1.0) / K, B / K
    return np.full(K, a), np.broadcast_to(B, (K, D, D)).copy()
