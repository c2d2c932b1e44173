"""An unconstrained parametrisation of Gaussian mixtures and the log-likelihood's gradient.

Used by the direct gradient fit (:mod:`emkit.em.gradient`,
``GaussianMixture(fit_method="gradient")``).  The parameter vector ``theta`` is

``[alpha (K - 1) | means (K * D) | covariance parameters]``

* weights ``pi = softmax(alpha, 0)``: the last logit is fixed at 0 (the
  baseline, as a multinomial logit), so the map is one-to-one;
* means: free, in standardised units ``(mu - m) / s``;
* covariances ``Sigma = C C' + reg_covar I`` with ``C`` lower triangular and a
  positive diagonal stored as its logarithm (a *log-Cholesky* factor,
  Pinheiro & Bates 1996): per component for "full" (D (D + 1) / 2 numbers
  each), one factor for "tied"; "diag" stores ``s_kj = log c_kj`` with
  ``sigma2_kj = exp(2 s_kj) + reg_covar``, "spherical" (and mclust's "V")
  one ``s_k`` per component; mclust's "EEI" one diagonal and "EII" / "E" one
  variance shared by every component (the gradient is then the sum of the
  components').  ``reg_covar`` is thus honoured as a floor added to every
  covariance the parameters build: every eigenvalue of ``Sigma`` is at least
  ``reg_covar``, and the likelihood stays bounded when ``reg_covar > 0``.

The means and factors are stored in standardised units: ``mu = m + s * mu~``
and ``C = diag(s) C~`` (``s`` the per-feature standard deviations and ``m``
the mean of the mixture at the start; one pooled ``s`` for "spherical").
This only rescales the coordinates (the optimum is the same), but quasi-Newton
steps depend on them: features on very different scales (Old Faithful's
eruptions of 2-5 minutes and waits of 40-100 minutes) otherwise make the
problem badly conditioned.

Gradient (Fisher's identity)
----------------------------
The gradient of the observed-data log-likelihood ``l(theta)`` equals that of
EM's ``Q(theta' | theta)`` at ``theta' = theta``; ``Q`` depends on the data
only through the E-step's statistics: with responsibilities ``r_ik`` (times
row weights), ``n_k = sum_i r_ik``, ``N = sum_k n_k``, ``f_k = sum_i r_ik (x_i -
mu_k)`` and ``W_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)'``:

* ``dl / d alpha_j = n_j - N pi_j`` (j < K - 1);
* ``dl / d mu_k = Sigma_k^-1 f_k``;
* ``dl / d Sigma_k = G_k = (Sigma_k^-1 W_k Sigma_k^-1 - n_k Sigma_k^-1) / 2``
  (tied: ``G = sum_k G_k``; diag: the diagonal of it, elementwise
  ``(W_kj / sigma2_kj^2 - n_k / sigma2_kj) / 2``; spherical: the sum over j of
  ``(W_kjj / sigma2_k^2 - n_k / sigma2_k) / 2``);
* with ``Sigma = C C' + reg I``, ``dl / dC = 2 G C`` (lower triangle); in
  standardised units ``dl / dC~ = diag(s) dl / dC`` and ``dl / dmu~ = s dl /
  dmu``; the diagonal entries, stored as ``log c~``, get ``(dl / dC~)_jj
  c~_jj``; for "diag" and "spherical", ``d sigma2 / d log c~ = 2 c^2``.

So one E-step (the same pass over the data as one EM iteration, fused
kernels and missing values included: Fisher's identity holds for the
observed part of every row) gives the objective and its gradient.  The
objective is the mean log-likelihood per unit of row weight, ``l / N``.

MAP and fixed groups
--------------------
With a conjugate ``prior`` the objective is the log posterior (EM's MAP
objective, :meth:`GaussianMixtureModel.log_prior` added to the
log-likelihood); its gradient is the formulas above with the prior's terms
as extra data (:func:`posterior_statistics`).  Parameter groups in
``fixed`` drop out of ``theta`` (:class:`FixedGroups`).  mclust's constrained
models (VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV) have their own
parametrisation in :mod:`emkit.families.gaussian_gradient_constrained`;
:func:`parametrise` picks the one for a model.

References
----------
J. C. Pinheiro and D. M. Bates (1996), Unconstrained parametrizations for
variance-covariance matrices, Statistics and Computing 6, 289-296.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics

#: Covariance models the gradient fit supports (mclust name -> storage kind).
GRADIENT_STRUCTURES = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical",
                       "EEI": "diag (shared)", "EII": "spherical (shared)",
                       "V": "spherical", "E": "spherical (shared)"}
#: The parametrisation kind by the structure objects' names.
_KINDS = {"full": "full", "tied": "tied", "diag": "diag", "spherical": "spherical",
          "V": "spherical", "EEI": "diag-shared", "EII": "spherical-shared",
          "E": "spherical-shared"}


def gradient_kind(model: GaussianMixtureModel) -> str | None:
    """"full", "tied", "diag", "spherical", "diag-shared" or "spherical-shared" when
    the gradient fit supports the model (None otherwise)."""
    return _KINDS.get(model.structure.name)


def posterior_statistics(model: GaussianMixtureModel, params: GaussianParams,
                         stats: GaussianStatistics):
    """(gradient of the weights' logits, counts, first, second moments) for the gradient.

    The moments are about ``params.means``.  With a conjugate ``model.prior``
    (MAP: the objective is the log posterior, :meth:`GaussianMixtureModel.log_prior`)
    its terms enter as extra data, as in MAP-EM's M-step: the log prior of
    component k, ``-(a_k log|Sigma_k| + tr(Psi_k Sigma_k^-1) + kappa d_k' Sigma_k^-1
    d_k) / 2`` with ``d_k = mu_k - m``, has the derivatives of the
    log-likelihood's terms with ``n_k + a_k`` rows, scatter ``W_k + Psi_k + kappa
    d_k d_k'`` and first moment ``f_k - kappa d_k``; a Dirichlet weight
    concentration ``c`` adds ``(c - 1) (1 - K pi_j)`` to the logit ``alpha_j``.
    The returned counts are those of the covariance and mean terms (the logits'
    gradient is already complete).
    """
    about = stats.recentered(np.asarray(params.means, dtype=float))
    counts, first, second = about.counts, about.first, about.second
    weights = np.asarray(params.weights, dtype=float)
    g_alpha = (counts - counts.sum() * weights)[:-1]
    prior = model.prior
    if prior is None:
        return g_alpha, counts, first, second
    offsets = np.asarray(params.means, dtype=float) - prior.mean
    kappa = prior.shrinkage
    extra = prior.scatter_terms + kappa * offsets[:, :, None] * offsets[:, None, :]
    second = second + model.structure.reduce_second(extra)
    first = first - kappa * offsets
    if prior.weight_concentration != 1.0:
        g_alpha = g_alpha + (prior.weight_concentration - 1.0) * (
            1.0 - weights.shape[0] * weights[:-1])
    return g_alpha, counts + prior.count_terms, first, second


class GaussianParametrisation:
    """The map between :class:`GaussianParams` and ``theta`` (module docstring).

    Parameters
    ----------
    model : GaussianMixtureModel
        Its covariance structure (one of :data:`GRADIENT_STRUCTURES`) and
        ``reg_covar``.
    n_components, n_features : int
    reference : GaussianParams, optional
        Parameters whose mixture's mean and standard deviations set the
        standardised units (the start of the fit); None: ``m = 0``, ``s = 1``.
    """

    def __init__(self, model: GaussianMixtureModel, n_components: int, n_features: int,
                 reference: GaussianParams | None = None):
        kind = gradient_kind(model)
        if kind is None:
            raise ValueError(f"no gradient parametrisation for covariance model "
                             f"{model.structure.name!r}")
        self.model = model
        self.kind = kind
        #: "full", "tied", "diag" or "spherical"; ``shared``: one value for all components
        self.base = kind.removesuffix("-shared")
        self.shared = kind.endswith("-shared")
        self.reg = float(model.reg_covar)
        self.K, self.D = int(n_components), int(n_features)
        self._tril = np.tril_indices(self.D)
        self._diag_in_tril = np.flatnonzero(self._tril[0] == self._tril[1])
        self.center, self.scale = np.zeros(self.D), np.ones(self.D)
        if reference is not None:
            self.center, self.scale = self._units(reference)

    def _units(self, params: GaussianParams) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviations) of the mixture ``params`` per feature."""
        weights = np.asarray(params.weights, dtype=float)
        means = np.asarray(params.means, dtype=float)
        cov = np.asarray(params.covariances, dtype=float)
        center = weights @ means
        if self.kind == "full":
            within = weights @ np.diagonal(cov, axis1=1, axis2=2)
        elif self.kind == "tied":
            within = np.diag(cov)
        elif self.base == "diag":
            within = weights @ cov
        else:
            within = np.full(self.D, weights @ cov)
        variance = within + weights @ (means - center) ** 2
        if self.base == "spherical":
            variance = np.full(self.D, variance.mean())
        scale = np.sqrt(variance)
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            return np.zeros(self.D), np.ones(self.D)
        return center, scale

    # ------------------------------------------------------------ layout
    @property
    def n_factors(self) -> int:
        """Covariance factors stored: K (full, diag, spherical) or 1 (tied)."""
        return 1 if self.kind == "tied" else self.K

    def _covariance_size(self) -> int:
        K, D = self.K, self.D
        return {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2,
                "diag": K * D, "spherical": K, "diag-shared": D,
                "spherical-shared": 1}[self.kind]

    @property
    def size(self) -> int:
        """Length of ``theta``."""
        return self.K - 1 + self.K * self.D + self._covariance_size()

    def _split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits with the fixed 0, standardised means (K, D), covariance values)."""
        K, D = self.K, self.D
        alpha = np.append(theta[:K - 1], 0.0)
        means = theta[K - 1:K - 1 + K * D].reshape(K, D)
        return alpha, means, theta[K - 1 + K * D:]

    def _unit_factors(self, raw: np.ndarray) -> np.ndarray:
        """Standardised lower-triangular factors C~ (n_factors, D, D) from their values."""
        D = self.D
        packed = raw.reshape(self.n_factors, -1).copy()
        packed[:, self._diag_in_tril] = np.exp(packed[:, self._diag_in_tril])
        C = np.zeros((self.n_factors, D, D))
        C[:, self._tril[0], self._tril[1]] = packed
        return C

    def _log_scale(self) -> np.ndarray:
        """log s per stored diagonal/spherical value."""
        log_s = np.log(self.scale)
        copies = 1 if self.shared else self.K
        return np.tile(log_s, copies) if self.base == "diag" else np.full(copies, log_s[0])

    # ------------------------------------------------------------ maps
    def unpack(self, theta: np.ndarray) -> GaussianParams:
        """The parameters ``theta`` stands for (covariances include ``reg_covar``)."""
        alpha, unit_means, raw = self._split(np.asarray(theta, dtype=float))
        weights = softmax(alpha)
        means = self.center + unit_means * self.scale
        if self.kind in ("full", "tied"):
            C = self._unit_factors(raw) * self.scale[:, None]
            covariances = C @ C.transpose(0, 2, 1)
            idx = np.arange(self.D)
            covariances[:, idx, idx] += self.reg
            if self.kind == "tied":
                covariances = covariances[0]
        else:
            shape = (self.K, self.D) if self.base == "diag" else (self.K,)
            values = np.exp(2.0 * (raw + self._log_scale()))
            covariances = np.broadcast_to(values, shape).copy() if self.shared else \
                values.reshape(shape)
            covariances = covariances + self.reg
        structure = self.model.structure
        return GaussianParams(weights, means, covariances,
                              structure.precisions_cholesky(covariances, self.reg))

    def pack(self, params: GaussianParams) -> np.ndarray:
        """``theta`` of ``params``.

        The covariance factor is that of ``Sigma - reg_covar I``; where that is
        not positive definite (a start whose covariance is about ``reg_covar``
        along some direction), of ``Sigma`` itself.
        """
        weights = np.maximum(np.asarray(params.weights, dtype=float), 1e-300)
        alpha = np.log(weights) - np.log(weights[-1])
        unit_means = (np.asarray(params.means, dtype=float) - self.center) / self.scale
        covariances = np.asarray(params.covariances, dtype=float)
        if self.kind in ("full", "tied"):
            stack = covariances.reshape(self.n_factors, self.D, self.D)
            packed = np.empty((self.n_factors, self.D * (self.D + 1) // 2))
            for k, sigma in enumerate(stack):
                try:
                    C = np.linalg.cholesky(sigma - self.reg * np.eye(self.D))
                except np.linalg.LinAlgError:
                    C = np.linalg.cholesky(sigma)
                values = (C / self.scale[:, None])[self._tril]
                values[self._diag_in_tril] = np.log(values[self._diag_in_tril])
                packed[k] = values
            raw = packed.ravel()
        else:
            if self.shared:
                covariances = covariances[0]
            free = covariances - self.reg
            free = np.where(free > 0, free, covariances)
            raw = np.atleast_1d(0.5 * np.log(free)).ravel() - self._log_scale()
        return np.concatenate([alpha[:-1], unit_means.ravel(), raw])

    def gradient(self, theta: np.ndarray, params: GaussianParams,
                 stats: GaussianStatistics) -> np.ndarray:
        """Gradient of the summed log-likelihood at ``theta`` from its E-step statistics.

        ``params`` must be ``unpack(theta)`` and ``stats`` the soft E-step's
        statistics at ``params`` (responsibilities times row weights).
        """
        _, _, raw = self._split(np.asarray(theta, dtype=float))
        g_alpha, counts, first, second = posterior_statistics(self.model, params, stats)
        total = counts.sum()
        kind = self.kind
        if kind in ("full", "tied"):
            P = self.model.structure.precisions(params.precisions_cholesky)
            if kind == "full":
                g_means = np.einsum("kij,kj->ki", P, first)
                G = 0.5 * (P @ second @ P - counts[:, None, None] * P)
            else:
                g_means = first @ P
                G = 0.5 * (P @ second @ P - total * P)[None]
            unit = self._unit_factors(raw)
            # dl/dC = 2 G C with C = diag(s) C~; dl/dC~ = diag(s) dl/dC
            d_unit = self.scale[:, None] * (2.0 * G @ (unit * self.scale[:, None]))
            g_cov = d_unit[:, self._tril[0], self._tril[1]]
            g_cov[:, self._diag_in_tril] *= unit[:, self._tril[0], self._tril[1]][
                :, self._diag_in_tril]
            g_cov = g_cov.ravel()
        else:
            sigma2 = np.asarray(params.covariances, dtype=float)
            c2 = np.broadcast_to(np.exp(2.0 * (raw + self._log_scale())),
                                 sigma2.shape) if self.shared else \
                np.exp(2.0 * (raw + self._log_scale())).reshape(sigma2.shape)
            if self.base == "diag":
                g_means = first / sigma2
                g_sigma2 = 0.5 * (second / sigma2**2 - counts[:, None] / sigma2)
            else:
                g_means = first / sigma2[:, None]
                g_sigma2 = 0.5 * (second.sum(axis=1) / sigma2**2 - self.D * counts / sigma2)
            g_cov = 2.0 * c2 * g_sigma2
            # a shared value: the sum of the components' derivatives
            g_cov = g_cov.sum(axis=0).ravel() if self.shared else g_cov.ravel()
        return np.concatenate([g_alpha, (g_means * self.scale).ravel(), g_cov])


def group_slices(n_components: int, n_features: int, size: int) -> dict[str, slice]:
    """Where each parameter group sits in ``theta`` (weights, means, covariances)."""
    means_end = n_components - 1 + n_components * n_features
    return {"weights": slice(0, n_components - 1),
            "means": slice(n_components - 1, means_end),
            "covariances": slice(means_end, size)}


class FixedGroups:
    """A parametrisation whose ``fixed`` parameter groups drop out of ``theta``.

    ``theta`` holds the free entries of the inner parametrisation's vector;
    :meth:`unpack` returns the fixed groups exactly as they were at the start
    (``start``), and :meth:`gradient` the free entries of the inner gradient,
    so L-BFGS-B maximises over the other groups only: the objective EM with
    the same ``fixed`` maximises (its M-step is then a conditional one).

    Parameters
    ----------
    inner : GaussianParametrisation or ConstrainedParametrisation
    fixed : iterable of {"weights", "means", "covariances"}
    start : GaussianParams
        The values the fixed groups keep.
    """

    def __init__(self, inner, fixed, start: GaussianParams):
        self.inner = inner
        self.fixed = frozenset(fixed)
        self.start = start
        self._full = inner.pack(start)
        slices = group_slices(inner.K, inner.D, inner.size)
        free = np.ones(inner.size, dtype=bool)
        for group in self.fixed:
            free[slices[group]] = False
        self.free = np.flatnonzero(free)

    @property
    def size(self) -> int:
        """Length of ``theta`` (the free entries)."""
        return int(self.free.size)

    def _complete(self, theta: np.ndarray) -> np.ndarray:
        full = self._full.copy()
        full[self.free] = theta
        return full

    def pack(self, params: GaussianParams) -> np.ndarray:
        """The free entries of the inner ``theta`` of ``params``."""
        return self.inner.pack(params)[self.free]

    def unpack(self, theta: np.ndarray) -> GaussianParams:
        """The parameters ``theta`` stands for, the fixed groups at their start values."""
        params = self.inner.unpack(self._complete(np.asarray(theta, dtype=float)))
        start = self.start
        return GaussianParams(
            start.weights if "weights" in self.fixed else params.weights,
            start.means if "means" in self.fixed else params.means,
            start.covariances if "covariances" in self.fixed else params.covariances,
            start.precisions_cholesky if "covariances" in self.fixed
            else params.precisions_cholesky)

    def gradient(self, theta: np.ndarray, params: GaussianParams,
                 stats: GaussianStatistics) -> np.ndarray:
        """The free entries of the inner gradient."""
        full = self._complete(np.asarray(theta, dtype=float))
        return self.inner.gradient(full, params, stats)[self.free]

    def recentre(self, theta: np.ndarray) -> np.ndarray | None:
        """The inner parametrisation's re-centring (rotations), if it has one."""
        recentre = getattr(self.inner, "recentre", None)
        if recentre is None:
            return None
        full = self._complete(np.asarray(theta, dtype=float))
        moved = recentre(full)
        if moved is None:
            return None
        self._full = moved
        return moved[self.free]


def gradient_supported(covariance_type: str) -> bool:
    """Whether the gradient fit has a parametrisation of ``covariance_type``."""
    from .gaussian_gradient_constrained import CONSTRAINED_STRUCTURES
    from .structures import mclust_name

    name = mclust_name(covariance_type)
    return name in GRADIENT_STRUCTURES or name in CONSTRAINED_STRUCTURES


def parametrise(model: GaussianMixtureModel, params: GaussianParams):
    """The gradient fit's parametrisation of ``model`` starting at ``params``.

    :class:`GaussianParametrisation` or, for mclust's constrained models,
    :class:`~emkit.families.gaussian_gradient_constrained.ConstrainedParametrisation`
    (units and base orientations from ``params``), inside :class:`FixedGroups`
    when ``model.fixed`` holds parameter groups.
    """
    from .gaussian_gradient_constrained import (
        CONSTRAINED_STRUCTURES,
        ConstrainedParametrisation,
    )

    K, D = np.asarray(params.means).shape
    kind = (ConstrainedParametrisation if model.structure.name in CONSTRAINED_STRUCTURES
            else GaussianParametrisation)
    parametrisation = kind(model, K, D, reference=params)
    if model.fixed:
        return FixedGroups(parametrisation, model.fixed, params)
    return parametrisation
