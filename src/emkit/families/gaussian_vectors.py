"""Gaussian mixture parameters as flat vectors (EM acceleration, :mod:`emkit.em.accelerate`).

A mixin of :class:`~emkit.families.gaussian.GaussianMixtureModel` (needs
``structure``, ``reg_covar`` and ``_reference``).
"""

from __future__ import annotations

import numpy as np


class ParameterVectorsMixin:
    """``to_vector`` / ``from_vector`` of Gaussian mixture parameters."""

    #: Largest |sum(weights) - 1| that from_vector renormalises instead of rejecting.
    WEIGHT_SUM_ATOL = 1e-12

    def to_vector(self, params) -> np.ndarray:
        """Weights, means and covariances (in the structure's shape) as one flat vector.

        The precision Cholesky factors are not included: :meth:`from_vector`
        recomputes them from the covariances.
        """
        return np.concatenate(
            [
                np.ravel(params.weights),
                np.ravel(params.means),
                np.ravel(params.covariances),
            ]
        ).astype(float, copy=False)

    def from_vector(self, vector: np.ndarray, like):
        """Parameters from a :meth:`to_vector` vector, or None if it is not valid.

        Shapes are taken from ``like``.  Invalid (None): a non-finite entry, a
        negative weight, weights whose sum is off 1 by more than
        :attr:`WEIGHT_SUM_ATOL` (within it they are renormalised), or a
        covariance that is not positive definite.  Covariances equal to
        ``like``'s keep its precision factors bit for bit (fixed groups stay fixed).
        For covariance models that are not closed under affine combinations
        (VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV) the covariances are projected
        onto the model (:meth:`CovarianceStructure.project`), so every candidate
        an accelerator scores is a valid parameter of the model.

        Raises
        ------
        ValueError
            If ``vector`` does not have the length ``to_vector(like)`` has.
        """
        from ..exceptions import DegenerateComponentError

        vector = np.asarray(vector, dtype=float)
        n_weights, n_means = like.weights.size, like.means.size
        cov_shape = np.shape(like.covariances)
        size = n_weights + n_means + int(np.prod(cov_shape))
        if vector.shape != (size,):
            raise ValueError(f"parameter vector must have shape ({size},), got {vector.shape}")
        if not np.isfinite(vector).all():
            return None
        weights = vector[:n_weights].copy()
        total = weights.sum()
        if (weights < 0).any() or abs(total - 1.0) > self.WEIGHT_SUM_ATOL:
            return None
        if total != 1.0:
            weights /= total
        means = vector[n_weights : n_weights + n_means].reshape(like.means.shape).copy()
        covariances = vector[n_weights + n_means :].reshape(cov_shape).copy()
        if np.array_equal(covariances, like.covariances):
            return type(like)(weights, means, covariances, like.precisions_cholesky)
        if not self.structure.affine:
            # an extrapolation of structured covariances leaves the model: if it is
            # positive definite, project it back
            try:
                self.structure.precisions_cholesky(covariances, self.reg_covar)
            except DegenerateComponentError:
                return None
            with np.errstate(all="ignore"):
                try:
                    covariances = self.structure.project(covariances, weights)
                except np.linalg.LinAlgError:
                    return None
            if not np.isfinite(covariances).all():
                return None
        try:
            chol = self.structure.precisions_cholesky(covariances, self.reg_covar)
            if self._reference is not None:
                self.structure.check_degenerate(covariances, self._reference, self.reg_covar,
                                                chol)
        except DegenerateComponentError:
            return None
        return type(like)(weights, means, covariances, chol)
