"""Unconstrained parametrisations of mclust's constrained covariance models, with gradients.

The direct gradient fit (``GaussianMixture(fit_method="gradient")``) of the
eight models whose covariances ``Sigma_k = lambda_k D_k A_k D_k'`` share some
of volume ``lambda_k``, shape ``A_k`` (diagonal, ``|A_k| = 1``) and
orientation ``D_k`` (orthogonal) across components (Celeux & Govaert 1995):
VEI, EVI (``D_k = I``), VEE, EVE, VVE (one ``D``), EEV, VEV, EVV (one ``D_k``
per component).  The parameter vector is

``[alpha (K - 1) | means (K * D) | volumes | shapes | rotations]``

with the weights and means as in :mod:`emkit.families.gaussian_gradient`
(softmax logits; means in standardised units), and

* volumes: ``v`` (one value, or K), ``log lambda_k = v_k + log s^2`` with
  ``s^2`` the geometric mean of the start's per-feature variances (an
  offset: the values stay about 0 whatever the data's units);
* shapes: ``t`` (D - 1 values; one set, or K), ``log A_k = B t_k`` with ``B``
  an orthonormal basis (D x (D - 1)) of the vectors summing to 0, so
  ``|A_k| = 1`` holds by construction;
* rotations: a skew-symmetric ``S`` (its D (D - 1) / 2 entries below the
  diagonal; one, or K) with ``D_k = D0_k expm(S_k)``, ``D0_k`` a base
  orientation (the start's).  :meth:`ConstrainedParametrisation.recentre`
  moves the base to the current orientation when a rotation grows past
  :data:`RECENTRE_ANGLE` (the exponential map is one-to-one and well
  conditioned only for rotations well below pi), and the fit restarts
  L-BFGS-B from there.

The covariances are ``Sigma_k = lambda_k D_k A_k D_k' + reg_covar I``:
``reg_covar`` is a floor on every eigenvalue, as for the other models of the
gradient fit, so the model's equalities hold for ``Sigma_k - reg_covar I``
(exactly for ``reg_covar = 0``; the common orientations hold for ``Sigma_k``
itself).

Gradient (chain rule)
---------------------
From one E-step, ``G_k = dl / dSigma_k = (P_k W_k P_k - n_k P_k) / 2`` with
``P_k = Sigma_k^-1`` (Fisher's identity, as in
:mod:`emkit.families.gaussian_gradient`; a prior adds its terms to ``n_k``
and ``W_k``).  With ``E_k = lambda_k A_k = diag(e_k)``:

* ``dl / d log e_kj = e_kj (D_k' G_k D_k)_jj``; the volume's derivative is the
  sum over j, the shape's ``B'`` times the vector; shared values sum over k;
* ``dl / dD_k = 2 G_k D_k E_k``, so ``dl / dR_k = D0_k' 2 G_k D_k E_k`` for
  ``R_k = expm(S_k)``; the adjoint of the exponential's Frechet derivative
  ``L(S, .)`` is ``L(S', .)`` (:func:`exp_adjoint`, from the eigen-decomposition
  of the normal matrix ``S``; it equals ``scipy.linalg.expm_frechet(S', Z)``
  and is several times cheaper for small D), and the entry
  ``s_ij`` (``S = sum s_ij (e_i e_j' - e_j e_i')``) gets ``Y_ij - Y_ji`` with
  ``Y = L(S_k', dl / dR_k)`` (summed over k for a common orientation).

References
----------
G. Celeux and G. Govaert (1995), Gaussian parsimonious clustering models,
Pattern Recognition 28(5), 781-795.
A. H. Al-Mohy and N. J. Higham (2009), Computing the Frechet derivative of
the matrix exponential, SIAM J. Matrix Anal. Appl. 30(4), 1639-1657.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import logm
from scipy.special import softmax

from .decomposed import common_orientation
from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics
from .gaussian_gradient import posterior_statistics

#: mclust name -> (volume, shape, orientation), each "E" (one for all), "V" (per
#: component) or "I" (identity orientation).
CONSTRAINED_STRUCTURES = {"VEI": "VEI", "EVI": "EVI", "VEE": "VEE", "EVE": "EVE",
                          "VVE": "VVE", "EEV": "EEV", "VEV": "VEV", "EVV": "EVV"}
#: Largest rotation entry (radians) before the base orientation is re-centred.
RECENTRE_ANGLE = 1.0


def zero_sum_basis(n: int) -> np.ndarray:
    """An orthonormal basis (n, n - 1) of the vectors of length n summing to 0."""
    if n < 2:
        return np.zeros((n, 0))
    centring = np.eye(n) - 1.0 / n
    basis, _ = np.linalg.qr(centring[:, :n - 1])
    return basis


def exp_skew(S: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``expm(S)`` of skew-symmetric matrices (n, D, D), and their eigen-decomposition.

    ``i S`` is Hermitian: ``S = U diag(-i mu) U^H`` with ``U`` unitary (one
    ``eigh``), so ``expm(S) = U diag(exp(-i mu)) U^H``, as accurate as the
    decomposition and cheaper than the general ``expm`` for small D.
    """
    mu, U = np.linalg.eigh(1j * S)
    R = np.einsum("nij,nj,nkj->nik", U, np.exp(-1j * mu), U.conj())
    return R.real, (mu, U)


def exp_adjoint(decomposition: tuple[np.ndarray, np.ndarray], Z: np.ndarray) -> np.ndarray:
    """``L(S', Z)``: the adjoint of ``expm``'s Frechet derivative at ``S`` applied to ``Z``.

    For a normal ``A = U diag(l) U^H``, ``L(A, E) = U ((U^H E U) o F) U^H`` with
    ``F_ij`` the divided difference of exp at ``l_i, l_j`` (Daleckii & Krein);
    ``A = S' = -S`` has ``l = i mu`` and ``F_ij = exp(i (mu_i + mu_j) / 2)
    sinc((mu_i - mu_j) / 2)`` (the unnormalised sinc; no cancellation for
    close eigenvalues).  ``<Z, L(S, E)> = <L(S', Z), E>``.
    """
    mu, U = decomposition
    F = np.exp(0.5j * (mu[:, :, None] + mu[:, None, :])) * np.sinc(
        (mu[:, :, None] - mu[:, None, :]) / (2.0 * np.pi))
    inner = U.conj().transpose(0, 2, 1) @ Z @ U
    return (U @ (inner * F) @ U.conj().transpose(0, 2, 1)).real


def _matching(overlap: np.ndarray) -> np.ndarray:
    """A column order ``order`` pairing base column i with column ``order[i]``,
    greedily by the largest remaining ``overlap`` (absolute cosines)."""
    overlap = np.array(overlap, dtype=float)
    order = np.full(overlap.shape[0], -1)
    for _ in range(overlap.shape[0]):
        i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
        order[i] = j
        overlap[i, :] = -1.0
        overlap[:, j] = -1.0
    return order


def _signed(base: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``vectors``' columns signed to be closest to ``base``'s, with determinant
    ``det(base)`` (a column's sign does not change ``D E D'``)."""
    signs = np.sign(np.einsum("ij,ij->j", base, vectors))
    signs[signs == 0] = 1.0
    vectors = vectors * signs
    if np.linalg.det(base.T @ vectors) < 0:
        j = int(np.argmin(np.einsum("ij,ij->j", base, vectors)))
        vectors[:, j] = -vectors[:, j]
    return vectors


class ConstrainedParametrisation:
    """The map between :class:`GaussianParams` and ``theta`` for mclust's
    constrained models (module docstring).

    Parameters
    ----------
    model : GaussianMixtureModel
        Its covariance structure (one of :data:`CONSTRAINED_STRUCTURES`),
        ``reg_covar`` and ``prior``.
    n_components, n_features : int
    reference : GaussianParams, optional
        The start: its mixture's mean and spread set the units, its
        orientations the base orientations.  None: units 1, base ``I``.
    """

    def __init__(self, model: GaussianMixtureModel, n_components: int, n_features: int,
                 reference: GaussianParams | None = None):
        name = model.structure.name
        if name not in CONSTRAINED_STRUCTURES:
            raise ValueError(f"no constrained gradient parametrisation for covariance model "
                             f"{name!r}")
        self.model = model
        self.volume, self.shape, self.orientation = name
        self.reg = float(model.reg_covar)
        self.K, self.D = int(n_components), int(n_features)
        self.diagonal_storage = self.orientation == "I"
        self.basis = zero_sum_basis(self.D)
        self._lower = np.tril_indices(self.D, -1)
        self.center, self.scale = np.zeros(self.D), np.ones(self.D)
        self.log_unit = 0.0
        n_rotations = {"I": 0, "E": 1, "V": self.K}[self.orientation]
        self.base = np.broadcast_to(np.eye(self.D), (n_rotations, self.D, self.D)).copy()
        if reference is not None:
            self.center, self.scale = self._units(reference)
            self.log_unit = float(np.mean(2.0 * np.log(self.scale)))
            if n_rotations:
                # the start's order of the eigenvectors: an equal shape pairs the
                # k-th eigenvalues of every component
                self.base = self._orientations(self._free_part(reference.covariances),
                                               permute=self.orientation == "E")

    # ------------------------------------------------------------ layout
    @property
    def n_volumes(self) -> int:
        return 1 if self.volume == "E" else self.K

    @property
    def n_shapes(self) -> int:
        return 1 if self.shape == "E" else self.K

    @property
    def n_rotations(self) -> int:
        return self.base.shape[0]

    @property
    def size(self) -> int:
        """Length of ``theta``."""
        D = self.D
        return (self.K - 1 + self.K * D + self.n_volumes + self.n_shapes * (D - 1)
                + self.n_rotations * D * (D - 1) // 2)

    def _split(self, theta: np.ndarray):
        """(logits with the fixed 0, unit means, volumes, shapes, rotations)."""
        K, D = self.K, self.D
        sizes = [K - 1, K * D, self.n_volumes, self.n_shapes * (D - 1),
                 self.n_rotations * D * (D - 1) // 2]
        parts = np.split(np.asarray(theta, dtype=float), np.cumsum(sizes)[:-1])
        return (np.append(parts[0], 0.0), parts[1].reshape(K, D), parts[2],
                parts[3].reshape(self.n_shapes, D - 1),
                parts[4].reshape(self.n_rotations, D * (D - 1) // 2))

    def _skew(self, values: np.ndarray) -> np.ndarray:
        """Skew-symmetric matrices (n, D, D) from their entries below the diagonal."""
        S = np.zeros((values.shape[0], self.D, self.D))
        S[:, self._lower[0], self._lower[1]] = values
        return S - S.transpose(0, 2, 1)

    def _units(self, params: GaussianParams) -> tuple[np.ndarray, np.ndarray]:
        weights = np.asarray(params.weights, dtype=float)
        means = np.asarray(params.means, dtype=float)
        cov = np.asarray(params.covariances, dtype=float)
        center = weights @ means
        within = weights @ (cov if cov.ndim == 2 else np.diagonal(cov, axis1=1, axis2=2))
        scale = np.sqrt(within + weights @ (means - center) ** 2)
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            return np.zeros(self.D), np.ones(self.D)
        return center, scale

    def _free_part(self, covariances: np.ndarray) -> np.ndarray:
        """``Sigma_k - reg I`` (``Sigma_k`` where that is not positive definite)."""
        cov = np.array(covariances, dtype=float)
        if cov.ndim == 2:
            free = cov - self.reg
            return np.where((free > 0).all(axis=1, keepdims=True), free, cov)
        free = cov - self.reg * np.eye(self.D)
        ok = np.array([np.linalg.eigvalsh(f)[0] > 0 for f in free])
        return np.where(ok[:, None, None], free, cov)

    def _orientations(self, free: np.ndarray, permute: bool = True) -> np.ndarray:
        """Orientations (1 or K, D, D) of the covariances ``free``, aligned with the
        base: columns matched to the base's if ``permute`` (one order for every
        component when the shape is equal: it pairs the j-th eigenvalues), else
        by increasing eigenvalue; signs closest to the base's."""
        if self.orientation == "E":
            vectors = common_orientation(free)[None]
        else:
            vectors = np.linalg.eigh(free)[1]
        overlaps = np.abs(self.base.transpose(0, 2, 1) @ vectors)
        if not permute:
            orders = np.broadcast_to(np.arange(self.D), (vectors.shape[0], self.D))
        elif self.shape == "E":
            orders = np.broadcast_to(_matching(overlaps.sum(axis=0)),
                                     (vectors.shape[0], self.D))
        else:
            orders = [_matching(overlap) for overlap in overlaps]
        return np.stack([_signed(b, v[:, order])
                         for b, v, order in zip(self.base, vectors, orders, strict=True)])

    # ------------------------------------------------------------ maps
    def _eigen(self, theta: np.ndarray):
        """(weights, means, log e (K, D), orientations (K, D, D) or None, rotations R)."""
        alpha, unit_means, volumes, shapes, rotations = self._split(theta)
        log_e = (np.broadcast_to(volumes, (self.K,))[:, None] + self.log_unit
                 + np.broadcast_to(shapes @ self.basis.T, (self.K, self.D)))
        weights = softmax(alpha)
        means = self.center + unit_means * self.scale
        if self.diagonal_storage:
            return weights, means, log_e, None, None
        R, decomposition = exp_skew(self._skew(rotations))
        orient = np.broadcast_to(self.base @ R, (self.K, self.D, self.D))
        return weights, means, log_e, orient, decomposition

    def unpack(self, theta: np.ndarray) -> GaussianParams:
        """The parameters ``theta`` stands for (covariances include ``reg_covar``)."""
        weights, means, log_e, orient, _ = self._eigen(np.asarray(theta, dtype=float))
        e = np.exp(log_e)
        if orient is None:
            covariances = e + self.reg
        else:
            covariances = np.einsum("kij,kj,klj->kil", orient, e, orient)
            covariances = 0.5 * (covariances + covariances.transpose(0, 2, 1))
            covariances += self.reg * np.eye(self.D)
        return GaussianParams(weights, means, covariances,
                              self.model.structure.precisions_cholesky(covariances, self.reg))

    def pack(self, params: GaussianParams) -> np.ndarray:
        """``theta`` of ``params`` (projected onto the model where they are not in it).

        Orientations are those of ``Sigma_k - reg_covar I`` (the common one from
        a combination of them), aligned with the base orientations; volumes
        and shapes from the diagonal of ``D_k' (Sigma_k - reg I) D_k``, shared
        values averaged (in logarithms).
        """
        K, D = self.K, self.D
        weights = np.maximum(np.asarray(params.weights, dtype=float), 1e-300)
        alpha = np.log(weights) - np.log(weights[-1])
        unit_means = (np.asarray(params.means, dtype=float) - self.center) / self.scale
        free = self._free_part(params.covariances)
        parts = [alpha[:-1], unit_means.ravel()]
        if self.diagonal_storage:
            diagonals = free
            rotations = np.zeros(0)
        else:
            orient = self._orientations(free)
            full = np.broadcast_to(orient, (K, D, D))
            diagonals = np.einsum("kij,kil,klj->kj", full, free, full)
            relative = self.base.transpose(0, 2, 1) @ orient
            skew = np.stack([np.real(logm(r)) for r in relative])
            skew = 0.5 * (skew - skew.transpose(0, 2, 1))
            rotations = skew[:, self._lower[0], self._lower[1]].ravel()
        log_e = np.log(np.maximum(diagonals, np.finfo(float).tiny))
        volumes = log_e.mean(axis=1) - self.log_unit
        shapes = (log_e - log_e.mean(axis=1, keepdims=True)) @ self.basis
        if self.volume == "E":
            volumes = volumes.mean(keepdims=True)
        if self.shape == "E":
            shapes = shapes.mean(axis=0, keepdims=True)
        return np.concatenate([*parts, volumes, shapes.ravel(), rotations])

    def gradient(self, theta: np.ndarray, params: GaussianParams,
                 stats: GaussianStatistics) -> np.ndarray:
        """Gradient of the summed log-likelihood (log posterior with a prior) at ``theta``.

        ``params`` must be ``unpack(theta)`` and ``stats`` the soft E-step's
        statistics at ``params``.
        """
        theta = np.asarray(theta, dtype=float)
        g_alpha, counts, first, second = posterior_statistics(self.model, params, stats)
        _, _, log_e, orient, decomposition = self._eigen(theta)
        e = np.exp(log_e)
        if orient is None:
            sigma2 = np.asarray(params.covariances, dtype=float)
            g_means = first / sigma2
            # (D' G D)_jj = G_jj for diagonal covariances
            h = 0.5 * (second / sigma2**2 - counts[:, None] / sigma2) * e
            g_rot = np.zeros(0)
        else:
            P = self.model.structure.precisions(params.precisions_cholesky)
            g_means = np.einsum("kij,kj->ki", P, first)
            G = 0.5 * (P @ second @ P - counts[:, None, None] * P)
            GD = G @ orient
            h = np.einsum("kij,kij->kj", orient, GD) * e
            d_rotation = self.base.transpose(0, 2, 1) @ (2.0 * GD * e[:, None, :])
            if self.orientation == "E":
                d_rotation = d_rotation.sum(axis=0, keepdims=True)
            Y = exp_adjoint(decomposition, d_rotation)
            g_rot = (Y - Y.transpose(0, 2, 1))[:, self._lower[0], self._lower[1]].ravel()
        g_volumes = h.sum(axis=1)
        g_shapes = h @ self.basis
        if self.volume == "E":
            g_volumes = g_volumes.sum(keepdims=True)
        if self.shape == "E":
            g_shapes = g_shapes.sum(axis=0, keepdims=True)
        return np.concatenate([g_alpha, (g_means * self.scale).ravel(), g_volumes,
                               g_shapes.ravel(), g_rot])

    def recentre(self, theta: np.ndarray) -> np.ndarray | None:
        """Move the base orientations to the current ones when a rotation entry
        exceeds :data:`RECENTRE_ANGLE`; the new ``theta`` (same parameters,
        rotations 0), or None when nothing moved."""
        if not self.n_rotations:
            return None
        theta = np.array(theta, dtype=float)
        *_, rotations = self._split(theta)
        if np.abs(rotations).max(initial=0.0) <= RECENTRE_ANGLE:
            return None
        base = self.base @ exp_skew(self._skew(rotations))[0]
        # re-orthonormalise (the exponentials' rounding accumulates over re-centrings)
        u, _, vt = np.linalg.svd(base)
        self.base = u @ vt
        theta[self.size - rotations.size:] = 0.0
        return theta
