"""mclust's covariance models: Sigma_k = lambda_k D_k A_k D_k' (volume, orientation, shape).

Celeux & Govaert (1995) name each model by three letters for volume
(``lambda_k = |Sigma_k|^(1/d)``), shape (``A_k`` diagonal, ``|A_k| = 1``) and
orientation (``D_k`` orthogonal): E = equal across components, V = variable,
I = identity.  The four models scikit-learn has live in
:mod:`emkit.families.covariance` (VVV = full, EEE = tied, VVI = diag,
VII = spherical); this module adds the other ten plus E and V for one
dimension.  Each class reuses the storage, E-step and Cholesky algebra of the
matching scikit-learn structure (spherical, diagonal or full storage) and
replaces the M-step.

M-step
------
With per-component scatter matrices ``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)'``
and counts ``n_k``, every model maximises

    Q(Sigma) = -1/2 sum_k [n_k log|Sigma_k| + tr(W_k Sigma_k^-1)]

over its constraint set.  Closed forms (Celeux & Govaert 1995): EII, VII, EEI,
VVI, EVI, EEE, EEV, EVV, VVV.  The others alternate exact maximisations over
blocks of parameters, each of which cannot lower Q:

* VEI, VEE, VEV: volumes given the shape (and orientation), then the common
  shape given the volumes (VEV's orientations are the eigenvectors of ``W_k``
  whatever the shape, by von Neumann's trace inequality).
* EVE, VVE: volumes and shapes given the common orientation D (closed form),
  then one sweep of Jacobi plane rotations of D, each rotation the exact
  minimiser of ``sum_k tr(W_k D M_k D')`` over its angle.  A sweep is
  ``D - 1`` rounds of disjoint column pairs (the circle ordering), each round
  one matrix product.  (Browne & McNicholas 2014 use majorisation steps for D
  instead; the fixed points are the same.)  These alternations converge
  linearly, often slowly (50 sweeps and more to 1e-12 on 13-D data), so an
  M-step takes at most :data:`ORIENTATION_SWEEPS` sweeps: a generalised EM
  step (Q does not decrease; the EM fixed points, where the warm-started
  inner iteration is stationary, are unchanged).  On the standardised wine
  data (EVE and VVE, G = 2..6) 8 of the 10 cells reach the fit of the
  uncapped inner iteration; in two EM goes to another, higher local maximum
  (docs/model-selection.md).  With numba the whole inner iteration runs
  compiled (:mod:`emkit._numba_orientation`, from
  ``_orientation.ORIENTATION_NUMBA_MIN_FEATURES`` features with ``kernels="auto"``).

The inner iteration starts from the previous M-step's covariances (warm
start), so the expected complete-data log-likelihood never drops below its
value at the old parameters and the outer EM stays monotone whatever the
number of inner steps.  (Recovering the old orientation from nearly
degenerate covariances is only approximate, so the result is also compared
with the old covariances and the better of the two is kept.)  It stops when Q changes by less than
:data:`INNER_TOL` (relative) or after :data:`INNER_MAX_ITER` rounds (fewer with
``GaussianMixture(m_step_iterations=k)``: generalized EM, :func:`inner_iterations`);
at an EM fixed point the inner iteration is stationary, so the fit is a
stationary point of the likelihood.

Regularisation
--------------
``reg_covar`` adds ``reg_covar * n_k * I`` to every scatter matrix before the
structured M-step (for the four scikit-learn structures that is exactly
scikit-learn's "add reg_covar to the diagonal"); the structure is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from ._orientation import (
    compiled_orientation,
    flat_pairs,
    jacobi_round,
    round_robin_pairs,
)
from .covariance import Diagonal, Full, Spherical, scatter_diagonal, scatter_full

#: Relative change of the inner objective below which the inner iteration stops.
INNER_TOL = 1e-12
#: Most rounds of the inner iteration per M-step.
INNER_MAX_ITER = 200
#: Rounds allowed by generalized EM (``m_step_iterations``; None: INNER_MAX_ITER),
#: set around one M-step by :func:`inner_iterations` (the structures are shared
#: stateless singletons, so the limit cannot live on them).
_INNER_LIMIT: ContextVar[int | None] = ContextVar("emkit_inner_limit", default=None)


def inner_max_iter() -> int:
    """Rounds of the inner iteration allowed in the current M-step."""
    limit = _INNER_LIMIT.get()
    return INNER_MAX_ITER if limit is None else limit


@contextmanager
def inner_iterations(limit: int | None) -> Iterator[None]:
    """Bound the inner iteration's rounds (generalized EM) inside the block.

    Each round is a block-coordinate ascent step of ``Q`` from the previous
    covariances (warm start), so a truncated inner iteration still does not
    lower ``Q`` (checked by :meth:`DecomposedModel.no_worse_than_previous`).
    """
    token = _INNER_LIMIT.set(limit)
    try:
        yield
    finally:
        _INNER_LIMIT.reset(token)
#: Most sweeps of plane rotations per M-step of the common-orientation models (EVE, VVE).
ORIENTATION_SWEEPS = 10


# --------------------------------------------------------------------- helpers
def geometric_mean(values: np.ndarray) -> np.ndarray:
    """Geometric mean over the last axis (0 when an entry is 0)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.log(values).mean(axis=-1))


def unit_determinant(values: np.ndarray) -> np.ndarray:
    """Positive diagonal(s) scaled to product 1 along the last axis."""
    return values / geometric_mean(values)[..., None]


def _converged(old: float, new: float) -> bool:
    return abs(new - old) <= INNER_TOL * max(1.0, abs(new))


def _active(counts: np.ndarray, scatter_traces: np.ndarray) -> np.ndarray:
    """Components that take part in the M-step: those with weight.

    A component with weight but no spread (all its rows equal) makes the
    likelihood unbounded: its volume comes out 0 and the covariance check
    downstream raises :class:`~emkit.exceptions.DegenerateComponentError`.
    (Empty components reach the M-step as one pseudo-row at their previous
    covariance, see ``GaussianMixtureModel.maximize``.)
    """
    return counts > 0


def equal_volume_variable_shapes(counts, values, active) -> np.ndarray:
    """lambda A_k maximising Q given per-component eigen/diagonal values (K, D).

    Closed form of Celeux & Govaert: ``A_k = values_k / gm(values_k)`` and
    ``lambda = sum_k gm(values_k) / sum_k n_k`` (gm: geometric mean); used by
    EVI (diagonals of W_k), EVV (eigenvalues of W_k) and EVE (diagonals of
    D' W_k D).  Inactive components get shape 1.
    """
    volumes = np.where(active, geometric_mean(values), 0.0)
    volume = volumes.sum() / counts[active].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        shapes = values / volumes[:, None]
    shapes[~active] = 1.0
    return volume * shapes


def common_orientation(covariances: np.ndarray) -> np.ndarray:
    """An orthogonal D diagonalising every Sigma_k of a common-orientation model.

    The eigenvectors of a generic positive combination of the Sigma_k: when all
    share eigenvectors, the combination has them too, and its eigenvalues are
    distinct unless every Sigma_k is degenerate on the same subspace (where any
    basis works).
    """
    K = covariances.shape[0]
    coefficients = 1.0 + np.modf(np.arange(1, K + 1) * (math.sqrt(5.0) - 1.0) / 2.0)[0]
    combination = np.einsum("k,kij->ij", coefficients, covariances)
    return np.linalg.eigh(combination)[1]


def _diagonal_objective(counts, scatter_diagonals, variances) -> float:
    """Q for diagonal covariances (K, D) given scatter diagonals (K, D)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = counts[:, None] * np.log(variances) + scatter_diagonals / variances
    terms = np.where(counts[:, None] > 0, terms, 0.0)
    return float(-0.5 * terms.sum())


def _volume(matrices: np.ndarray) -> np.ndarray:
    """|S|^(1/D) of positive definite matrices, without forming |S| (no over/underflow).

    ``det(S) ** (1/D)`` overflows for data scaled by 1e100 (|S| ~ 1e200 D) and
    underflows at 1e-100; the log-determinant does not.
    """
    sign, logdet = np.linalg.slogdet(matrices)
    return np.where(sign > 0, np.exp(logdet / matrices.shape[-1]), np.nan)


def _from_eigen(vectors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_j values_kj v_kj v_kj' for each k (vectors (K, D, D) by columns)."""
    covariances = np.einsum("kij,kj,klj->kil", vectors, values, vectors)
    return 0.5 * (covariances + covariances.transpose(0, 2, 1))


def _sorted_eigh(scatter: np.ndarray):
    """Eigenvalues (descending, clipped at 0) and eigenvectors of each W_k."""
    values, vectors = np.linalg.eigh(scatter)
    return np.maximum(values[:, ::-1], 0.0), vectors[:, :, ::-1]


class DecomposedModel:
    """Mixin: the regularisation allowance, and projection onto the model."""

    #: The generic GEM allowance (see GaussianMixtureModel.step_deficit) is used.
    exact_deficit = False
    #: Affine combinations of the model's covariances are not in the model.
    affine = False

    def project(self, covariances: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The model's covariances closest to arbitrary ones (same storage shape).

        Maximises ``-1/2 sum_k w_k [log|S_k| + tr(C_k S_k^-1)]`` over the model
        (the M-step with scatter ``w_k C_k``), i.e. minimises the weighted
        Kullback-Leibler divergence from N(0, C_k).  Model covariances are
        their own projection.  EM acceleration uses it to bring extrapolated
        parameters back into the model.
        """
        counts = np.maximum(np.asarray(weights, dtype=float), 1e-12)
        K = counts.shape[0]
        shape = (K,) + (1,) * (covariances.ndim - 1)
        n_features = covariances.shape[1] if covariances.ndim > 1 else 1
        second = counts.reshape(shape) * covariances
        if second.ndim == 1:  # spherical storage: the per-feature diagonal
            second = np.repeat(second[:, None], n_features, axis=1)
        return self.estimate(counts, np.zeros((K, n_features)), second, 0.0)

    def regularization_deficit(self, counts, covariances, reg_covar, n_features):
        raise NotImplementedError(
            f"{self.name} has no closed-form regularisation deficit; "
            "use deficit_from_moments"
        )

    def no_worse_than_previous(self, candidate, previous, weight, scatter) -> np.ndarray:
        """The inner iteration's result, or ``previous`` if that has the higher Q.

        The warm start recovers the previous orientation/shape from the
        covariances; when they are nearly degenerate (eigenvalues that almost
        coincide) that recovery is only approximate, so the guarantee
        ``Q(new) >= Q(previous)`` is enforced here explicitly.
        """
        if previous is None or not np.isfinite(candidate).all():
            return candidate  # a degenerate result is reported by the caller
        objective = _full_objective if isinstance(self, Full) else _diagonal_objective
        with np.errstate(all="ignore"):
            old = objective(weight, scatter, previous)
            new = objective(weight, scatter, candidate)
        if np.isfinite(old) and not new >= old:
            return np.array(previous, dtype=float, copy=True)
        return candidate

    def deficit_from_moments(self, counts, first, second, covariances, previous, reg_covar):
        """How far the regularised M-step's Q may fall below Q at the old covariances.

        ``max(Q(S*), Q(previous)) - Q(covariances)`` (at least 0), where ``S*`` is
        the unregularised M-step warm-started from ``previous``.  In exact
        arithmetic ``Q(S*) >= Q(previous)`` (the inner iteration never lowers Q),
        so this is ``Q(S*) - Q(covariances)``, the Q the regularisation costs; the
        EM inequality then gives ``loglik(new) >= loglik(old) - deficit /
        sum(counts)``.  When ``S*`` is nearly singular (a component on about D
        effective rows: the unregularised likelihood is nearly unbounded there)
        ``Q(S*)`` cannot be evaluated reliably, and ``Q(previous)`` still bounds
        what the EM inequality needs.  +inf only when neither is finite.
        """
        if reg_covar == 0.0:
            return 0.0
        with np.errstate(all="ignore"):
            q_new = self.expected_loglik(counts, first, second, covariances)
            q_old = -np.inf
            if previous is not None and np.isfinite(previous).all():
                try:
                    q_old = self.expected_loglik(counts, first, second, previous)
                except np.linalg.LinAlgError:
                    pass
            q_exact = -np.inf
            try:
                # generalized EM (a bounded inner iteration): Q(previous) alone bounds
                # what the EM inequality needs, without the exact M-step's cost
                exact = None if _INNER_LIMIT.get() is not None else \
                    self.estimate(counts, first, second, 0.0, previous)
                if exact is not None and np.isfinite(exact).all():
                    q_exact = self.expected_loglik(counts, first, second, exact)
            except np.linalg.LinAlgError:
                pass
        best = max(q_exact if np.isfinite(q_exact) else -np.inf,
                   q_old if np.isfinite(q_old) else -np.inf)
        if not np.isfinite(q_new) or not np.isfinite(best):
            return np.inf
        return max(0.0, best - q_new)

    def expected_loglik(self, counts, first, second, covariances) -> float:
        """Q = -1/2 sum_k [n_k log|S_k| + tr(W_k S_k^-1)] (2 pi terms left out)."""
        K = counts.shape[0]
        if isinstance(self, Full):
            scatter = scatter_full(counts, first, second, 0.0)
            return _full_objective(counts, scatter, covariances)
        scatter = scatter_diagonal(counts, first, second, 0.0)
        variances = np.broadcast_to(np.reshape(covariances, (K, -1)), scatter.shape)
        return _diagonal_objective(counts, scatter, variances)


# -------------------------------------------------------- spherical storage (K,)
class EII(DecomposedModel, Spherical):
    """lambda I: one variance for every component and feature."""

    name = "EII"
    shares_covariance = True
    affine = True

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_diagonal(counts, first, second, reg_covar)
        variance = scatter.sum() / (counts.sum() * scatter.shape[1])
        return np.full(counts.shape[0], variance)

    def n_parameters(self, n_components, n_features):
        return 1


class E(EII):
    """One dimension, equal variances (mclust's "E")."""

    name = "E"
    univariate = True


class V(Spherical):
    """One dimension, variable variances (mclust's "V"; same algebra as VII)."""

    name = "V"
    univariate = True


# ------------------------------------------------------ diagonal storage (K, D)
class EEI(DecomposedModel, Diagonal):
    """lambda A: one diagonal covariance shared by all components."""

    name = "EEI"
    shares_covariance = True
    affine = True

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_diagonal(counts, first, second, reg_covar)
        common = scatter.sum(axis=0) / counts.sum()
        return np.broadcast_to(common, scatter.shape).copy()

    def n_parameters(self, n_components, n_features):
        return n_features


class EVI(DecomposedModel, Diagonal):
    """lambda A_k: equal volumes, variable diagonal shapes (closed form)."""

    name = "EVI"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_diagonal(counts, first, second, reg_covar)
        active = _active(counts, scatter.sum(axis=1))
        return equal_volume_variable_shapes(counts, scatter, active)

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1)


class VEI(DecomposedModel, Diagonal):
    """lambda_k A: variable volumes, one diagonal shape (inner iteration)."""

    name = "VEI"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_diagonal(counts, first, second, reg_covar)
        _K, D = scatter.shape
        active = _active(counts, scatter.sum(axis=1))
        weight = np.where(active, counts, 0.0)
        if previous is None:
            shape = unit_determinant(scatter[active].sum(axis=0) / weight.sum())
        else:
            shape = unit_determinant(
                geometric_mean(unit_determinant(previous[active]).T)
            )
        objective = -np.inf
        for _ in range(inner_max_iter()):
            volumes = np.where(
                active, (scatter / shape).sum(axis=1) / (np.where(active, counts, 1.0) * D),
                1.0,
            )
            shape = unit_determinant((scatter[active] / volumes[active, None]).sum(axis=0))
            variances = volumes[:, None] * shape
            new = _diagonal_objective(weight, scatter, variances)
            if _converged(objective, new):
                break
            objective = new
        return self.no_worse_than_previous(volumes[:, None] * shape, previous, weight, scatter)

    def n_parameters(self, n_components, n_features):
        return n_components + n_features - 1


# ------------------------------------------------------ full storage (K, D, D)
def _full_objective(counts, scatter, covariances) -> float:
    """Q for full covariances."""
    _sign, logdet = np.linalg.slogdet(covariances)
    traces = np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))
    terms = np.where(counts > 0, counts * logdet + traces, 0.0)
    return float(-0.5 * terms.sum())


class EEV(DecomposedModel, Full):
    """lambda D_k A D_k': equal volume and shape, variable orientation (closed form)."""

    name = "EEV"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_full(counts, first, second, reg_covar)
        values, vectors = _sorted_eigh(scatter)
        active = _active(counts, values.sum(axis=1))
        common = values[active].sum(axis=0) / counts[active].sum()
        return _from_eigen(vectors, np.broadcast_to(common, values.shape))

    def n_parameters(self, n_components, n_features):
        return n_features + n_components * n_features * (n_features - 1) // 2


class EVV(DecomposedModel, Full):
    """lambda C_k, |C_k| = 1: equal volumes, all else variable (closed form)."""

    name = "EVV"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_full(counts, first, second, reg_covar)
        values, vectors = _sorted_eigh(scatter)
        active = _active(counts, values.sum(axis=1))
        return _from_eigen(vectors, equal_volume_variable_shapes(counts, values, active))

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features * (n_features + 1) // 2 - 1)


class VEE(DecomposedModel, Full):
    """lambda_k C, |C| = 1: variable volumes, common shape and orientation."""

    name = "VEE"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_full(counts, first, second, reg_covar)
        _K, D, _ = scatter.shape
        active = _active(counts, np.einsum("kii->k", scatter))
        weight = np.where(active, counts, 0.0)
        if previous is None:
            common = scatter[active].sum(axis=0)
        else:
            volumes = _volume(previous[active])
            common = (previous[active] / volumes[:, None, None]).mean(axis=0)
        common = common / _volume(common)
        objective = -np.inf
        for _ in range(inner_max_iter()):
            precision = np.linalg.inv(common)
            traces = np.einsum("kij,ji->k", scatter, precision)
            volumes = np.where(active, traces / (np.where(active, counts, 1.0) * D), 1.0)
            common = (scatter[active] / volumes[active, None, None]).sum(axis=0)
            common = 0.5 * (common + common.T)
            common = common / _volume(common)
            if np.isnan(common).all():
                break  # singular: every later round is all NaN as well (same result)
            covariances = volumes[:, None, None] * common
            new = _full_objective(weight, scatter, covariances)
            if _converged(objective, new):
                break
            objective = new
        return self.no_worse_than_previous(volumes[:, None, None] * common, previous, weight,
                                           scatter)

    def n_parameters(self, n_components, n_features):
        return n_components + n_features * (n_features + 1) // 2 - 1


class VEV(DecomposedModel, Full):
    """lambda_k D_k A D_k': variable volumes and orientations, common shape."""

    name = "VEV"

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_full(counts, first, second, reg_covar)
        values, vectors = _sorted_eigh(scatter)
        _K, D = values.shape
        active = _active(counts, values.sum(axis=1))
        weight = np.where(active, counts, 0.0)
        if previous is None:
            shape = unit_determinant(values[active].sum(axis=0))
        else:
            previous_values = np.linalg.eigvalsh(previous[active])[:, ::-1]
            shape = unit_determinant(geometric_mean(unit_determinant(previous_values).T))
        objective = -np.inf
        for _ in range(inner_max_iter()):
            volumes = np.where(
                active, (values / shape).sum(axis=1) / (np.where(active, counts, 1.0) * D), 1.0
            )
            shape = unit_determinant((values[active] / volumes[active, None]).sum(axis=0))
            new = _diagonal_objective(weight, values, volumes[:, None] * shape)
            if _converged(objective, new):
                break
            objective = new
        return self.no_worse_than_previous(_from_eigen(vectors, volumes[:, None] * shape),
                                           previous, weight, scatter)

    def n_parameters(self, n_components, n_features):
        return n_components + n_features - 1 + n_components * n_features * (n_features - 1) // 2


class _CommonOrientation(DecomposedModel, Full):
    """Models D Delta_k D' with one orientation D; subclasses give Delta_k from diag(D'W_kD)."""

    def diagonals(self, counts, rotated_diagonals, active) -> np.ndarray:
        """The optimal Delta_k (K, D) given the diagonals of D' W_k D."""
        raise NotImplementedError

    def _inner(self, counts, rotated, orientation, active, weight, sweeps):
        """The inner iteration in NumPy: (diagonals, orientation)."""
        rounds = round_robin_pairs(orientation.shape[0])
        diagonals = self.diagonals(counts, np.diagonal(rotated, axis1=1, axis2=2), active)
        objective = _diagonal_objective(weight, np.diagonal(rotated, axis1=1, axis2=2),
                                        diagonals)
        for _ in range(sweeps):
            with np.errstate(divide="ignore"):
                inverse = np.where(active[:, None], 1.0 / diagonals, 0.0)
            scale = np.abs(inverse).max() * np.abs(np.einsum("kii->k", rotated)).max()
            for pairs in rounds:
                rotated, orientation = jacobi_round(rotated, inverse, orientation, pairs, scale)
            diagonals = self.diagonals(counts, np.diagonal(rotated, axis1=1, axis2=2), active)
            new = _diagonal_objective(weight, np.diagonal(rotated, axis1=1, axis2=2),
                                      diagonals)
            if _converged(objective, new):
                break
            objective = new
        return diagonals, orientation

    def estimate(self, counts, first, second, reg_covar, previous=None):
        scatter = scatter_full(counts, first, second, reg_covar)
        active = _active(counts, np.einsum("kii->k", scatter))
        weight = np.where(active, counts, 0.0)
        if previous is None:
            orientation = np.linalg.eigh(scatter[active].sum(axis=0))[1]
        else:
            orientation = common_orientation(previous[active])
        orientation = np.ascontiguousarray(orientation)
        rotated = np.einsum("ji,kjl,lm->kim", orientation, scatter, orientation)
        sweeps = min(inner_max_iter(), ORIENTATION_SWEEPS)
        compiled = compiled_orientation(scatter.shape[1])
        if compiled is not None:
            rotated = np.ascontiguousarray(rotated)
            diagonals = np.empty(rotated.shape[:2])
            compiled.common_orientation_inner(
                rotated, orientation, np.ascontiguousarray(counts, dtype=np.float64), active,
                self.equal_volume, *flat_pairs(scatter.shape[1]), sweeps, INNER_TOL,
                diagonals)
        else:
            diagonals, orientation = self._inner(counts, rotated, orientation, active, weight,
                                                 sweeps)
        vectors = np.broadcast_to(orientation, scatter.shape)
        return self.no_worse_than_previous(_from_eigen(vectors, diagonals), previous, weight,
                                           scatter)


class EVE(_CommonOrientation):
    """lambda D A_k D': equal volumes, variable shapes, common orientation."""

    name = "EVE"
    equal_volume = True

    def diagonals(self, counts, rotated_diagonals, active):
        return equal_volume_variable_shapes(counts, rotated_diagonals, active)

    def n_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1) + n_features * (n_features - 1) // 2


class VVE(_CommonOrientation):
    """lambda_k D A_k D': variable volumes and shapes, common orientation."""

    name = "VVE"
    equal_volume = False

    def diagonals(self, counts, rotated_diagonals, active):
        out = rotated_diagonals / np.where(active, counts, 1.0)[:, None]
        out[~active] = 1.0
        return out

    def n_parameters(self, n_components, n_features):
        return n_components * n_features + n_features * (n_features - 1) // 2


DECOMPOSED_MODELS = (EII(), EEI(), VEI(), EVI(), VEE(), EVE(), VVE(), EEV(), VEV(), EVV(),
                     E(), V())
