"""The covariance-structure interface and the rules every structure shares.

:class:`CovarianceStructure` (the interface the Gaussian families call), the
degeneracy rule (:data:`DEGENERATE_RTOL`, :func:`reference_variances` and the
errors naming a degenerate component), scatter matrices from moments, and the
small linear-algebra helpers (SPD checks, inverses from Cholesky factors).
The structures themselves live in :mod:`emkit.families.covariance_dense`
(full, tied) and :mod:`emkit.families.covariance_diagonal` (diag, spherical);
:mod:`emkit.families.covariance` gathers them all.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ..exceptions import DegenerateComponentError

LOG_2PI = np.log(2.0 * np.pi)


#: The degeneracy rule (docs/covariance-models.md): a covariance is singular up
#: to rounding when, along some direction, its variance is at most this
#: fraction of the data's variance along it (see :func:`reference_variances`).
#: Rounding errors of the moments are of order machine epsilon times the data's
#: variance, so such a covariance is known to a relative precision of
#: ``eps / DEGENERATE_RTOL`` ~ 2e-6 at worst: EM on it is still exact to well
#: within the monotonicity check's 1e-10; below it EM would run on noise.
DEGENERATE_RTOL = 1e-10
_EPS = float(np.finfo(np.float64).eps)


def reference_variances(
    data_variances: np.ndarray, data_means: np.ndarray, reg_covar: float
) -> np.ndarray:
    """Per-feature variance the degeneracy rule measures covariances against (D,).

    The data's variance along each feature plus ``reg_covar``, but at least
    ``(eps |mean| / DEGENERATE_RTOL)^2``: a column whose values vary by less
    than ~2e-6 of their magnitude is near the resolution of float64 there,
    and its variance (computed from rounded moments) is not a scale to trust.
    Invariant to the units of each feature (multiplying a column by ``c``
    multiplies its reference by ``c^2``).
    """
    floor = (_EPS * np.abs(data_means) / DEGENERATE_RTOL) ** 2
    reference = np.maximum(data_variances, 0.0) + reg_covar + floor
    return np.maximum(reference, np.finfo(np.float64).tiny)


_COLLAPSE = ("It has collapsed onto a point or a lower-dimensional set of rows (too few rows, "
             "duplicated rows or collinear columns), where the likelihood is unbounded")


def _remedies(reg_covar: float, suggestion: float | None = None) -> str:
    example = "" if suggestion is None else (
        f"; e.g. {suggestion:.3g}, 1e-6 of the data's largest variance")
    return (f"Increase reg_covar (now {reg_covar:g}{example}), use a prior "
            "(prior='default'), or use fewer components.")


def _degenerate(component: int | None, reg_covar: float, detail: str) -> DegenerateComponentError:
    """The error for a covariance that is exactly singular (or could not be computed)."""
    return DegenerateComponentError(
        f"{_who(component)} singular ({detail}). {_COLLAPSE}. {_remedies(reg_covar)}")


def _who(component: int | None) -> str:
    if component is None:
        return "the covariance shared by all components is degenerate: it is"
    return f"component {component} is degenerate: its covariance is"


def singular_error(
    component: int | None,
    relative: float,
    reg_covar: float,
    reference: np.ndarray,
) -> DegenerateComponentError:
    """The error of the degeneracy rule, naming the component and the remedies."""
    return DegenerateComponentError(
        f"{_who(component)} singular up to rounding (along some direction its variance is "
        f"{relative:.3g} of the data's variance there; the limit is {DEGENERATE_RTOL:g}, "
        "mclust's emControl(eps) test made scale-free). "
        f"{_COLLAPSE} and EM would run on rounding noise. "
        f"{_remedies(reg_covar, 1e-6 * float(np.max(reference)))}"
    )


def _deficit_terms(regularized_eigenvalues: np.ndarray, reg_covar: float) -> np.ndarray:
    """sum_j [log(1 + eps/l_j) - eps/(l_j + eps)] over the last axis (l_j: unregularised).

    This is how much the expected complete-data log-likelihood per unit weight
    loses when a covariance with eigenvalues l_j is replaced by its regularised
    version (eigenvalues l_j + eps); +inf when some l_j <= 0.
    """
    if reg_covar == 0.0:
        return np.zeros(regularized_eigenvalues.shape[:-1])
    lam = regularized_eigenvalues - reg_covar
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.log1p(reg_covar / lam) - reg_covar / regularized_eigenvalues
    terms = np.where(lam > 0, terms, np.inf)
    return terms.sum(axis=-1)


def work_dtype(X: np.ndarray) -> type:
    """Arithmetic type of the E-step for rows X: float32 for float32 rows, else float64.

    float32 is the opt-in fast mode (``GaussianMixture(dtype=np.float32)``):
    GEMMs and log-densities run in single precision, while the statistics of
    every chunk are returned, added and used by the M-step in float64.
    """
    return np.float32 if X.dtype == np.float32 else np.float64


def _weighted_deficit(counts: np.ndarray, terms: np.ndarray) -> float:
    """0.5 * sum_k N_k terms_k, where components without weight contribute nothing."""
    with np.errstate(invalid="ignore"):
        return float(0.5 * np.where(counts > 0, counts * terms, 0.0).sum())


def scatter_diagonal(counts, first, second, reg_covar: float) -> np.ndarray:
    """Diagonals of W_k (K, D) from moments about the centres, plus ``reg * n_k``."""
    # first * (first / n), not first^2 / n: with large row weights first^2 overflows
    with np.errstate(invalid="ignore", divide="ignore"):
        scatter = second - first * (first / counts[:, None])
    return np.maximum(scatter, 0.0) + reg_covar * counts[:, None]


def scatter_full(counts, first, second, reg_covar: float) -> np.ndarray:
    """Scatter matrices W_k (K, D, D) from moments about the centres, plus ``reg n_k I``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = first / counts[:, None]
        scatter = second - first[:, :, None] * means[:, None, :]
    scatter = 0.5 * (scatter + scatter.transpose(0, 2, 1))
    idx = np.arange(scatter.shape[1])
    scatter[:, idx, idx] += reg_covar * counts[:, None]
    return scatter


class CovarianceStructure:
    """Interface; see the module docstring. Subclasses are stateless singletons."""

    name: str = ""
    #: Whether the second moments of component k are taken about its own mean.
    per_component_centers: bool = False
    #: Whether one covariance is shared by all components (an empty component
    #: then has nothing of its own to keep).
    shares_covariance: bool = False
    #: Whether :meth:`regularization_deficit` is exact (else the M-step's
    #: allowance is bounded from the previous parameters).
    exact_deficit: bool = True
    #: Whether the model is only defined for one-dimensional data (mclust's E, V).
    univariate: bool = False
    #: Whether affine combinations of valid covariances (EM acceleration's
    #: extrapolations) stay in the model when positive definite; else
    #: ``project`` maps them back.
    affine: bool = True
    #: Which fused E-step kernel (:mod:`emkit._kernels`) serves this storage:
    #: "full" (precision factors), "diag" (diagonal precisions) or None.
    fused_kind: str | None = None
    #: Whether the fused kernel pools the second moments over components (tied).
    fused_pooled: bool = False

    def project(self, covariances: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The model's covariances nearest to ``covariances`` (identity for affine models)."""
        return covariances

    def check_n_features(self, n_features: int) -> None:
        """Raise ValueError when the model does not apply to ``n_features`` columns."""
        if self.univariate and n_features != 1:
            raise ValueError(
                f"covariance_type={self.name!r} is for one-dimensional data, but X has "
                f"{n_features} columns; use the multivariate models (EII ... VVV)"
            )

    # --- statistics -------------------------------------------------------
    def moments(self, X: np.ndarray, resp: np.ndarray, centers: np.ndarray):
        """First and second moments of a chunk about ``centers`` (K, D)."""
        raise NotImplementedError

    def recenter_second(self, second, counts, first, delta):
        """Second moments about ``c - delta`` from those about ``c`` (first about ``c``)."""
        raise NotImplementedError

    def scatter(self, counts, first, second) -> np.ndarray:
        """Scatter about the weighted means, in this structure's second-moment shape."""
        raise NotImplementedError

    def feature_scatter(self, counts, first, second) -> np.ndarray:
        """sum_k diag(W_k): within-component scatter of each feature, shape (D,).

        ``counts`` must be positive (empty components as 1, with zero moments).
        """
        raise NotImplementedError

    # --- the degeneracy rule (docs/covariance-models.md) -------------------
    def smallest_relative_variances(self, covariances, reference) -> np.ndarray:
        """Smallest eigenvalue of ``R^-1/2 Sigma_k R^-1/2`` per covariance, R = diag(reference).

        Shape (K,), or (1,) when one covariance is stored.  Scale free: the
        smallest variance of Sigma_k along any direction, in units of the
        reference variances of the features.
        """
        raise NotImplementedError

    def relative_variance_bound(self, precisions_cholesky, reference) -> np.ndarray | None:
        """A cheap lower bound of :meth:`smallest_relative_variances`, or None.

        For precision factors ``P`` (``Sigma^-1 = P P'``) the smallest eigenvalue
        of ``R^-1/2 Sigma R^-1/2`` is ``1 / ||R^1/2 P||_2^2 >= 1 / ||R^1/2 P||_F^2``
        (within a factor D of it), which needs no eigen-decomposition.
        """
        return None

    def check_degenerate(self, covariances, reference, reg_covar: float,
                         precisions_cholesky=None) -> None:
        """Raise :class:`DegenerateComponentError` when a covariance is singular up to rounding.

        The rule: ``smallest_relative_variances(covariances, reference) <=
        DEGENERATE_RTOL`` (``reference`` from :func:`reference_variances`).
        Given the precision factors, a cheap bound settles the usual case first.
        ``covariances`` must be finite (``precisions_cholesky`` checks that) and
        ``reference`` positive.
        """
        if precisions_cholesky is not None:
            bound = self.relative_variance_bound(precisions_cholesky, reference)
            if bound is not None and bool(np.all(bound > DEGENERATE_RTOL)):
                return
        values = self.smallest_relative_variances(covariances, reference)
        bad = ~(values > DEGENERATE_RTOL)
        if bad.any():
            k = int(np.argmax(bad))
            component = None if self.shares_covariance else k
            raise singular_error(component, float(values[k]), reg_covar, reference)

    # --- M-step -----------------------------------------------------------
    def estimate(self, counts, first, second, reg_covar: float, previous=None):
        """Covariances from summed moments (``first`` and ``second`` about the centres).

        ``previous`` (the current covariances, or None) warm-starts the models
        whose M-step is an inner iteration (:mod:`emkit.families.decomposed`).
        """
        raise NotImplementedError

    def precisions_cholesky(self, covariances, reg_covar: float = 0.0):
        raise NotImplementedError

    def regularization_deficit(
        self, counts, covariances, reg_covar: float, n_features: int
    ) -> float:
        """Shortfall in the M-step objective caused by ``reg_covar`` (0 when it is 0).

        With the exact M-step the EM inequality gives ``loglik(new) >= loglik(old)``;
        adding ``reg_covar`` to the covariances lowers the expected complete-data
        log-likelihood by exactly this amount, so ``loglik(new) >= loglik(old) -
        deficit``.  The engine's monotonicity check uses it as its allowance.
        """
        raise NotImplementedError

    def log_det_cholesky(
        self, precisions_cholesky, n_components: int, n_features: int
    ) -> np.ndarray:
        """log det(P_k) for each component (= -0.5 log det Sigma_k)."""
        raise NotImplementedError

    # --- E-step -----------------------------------------------------------
    def mahalanobis(self, Xc, means_c, precisions_cholesky) -> np.ndarray:
        """Squared Mahalanobis distances (n, K) of centred rows to centred means."""
        raise NotImplementedError

    def fused_factors(self, precisions_cholesky, n_components: int, n_features: int):
        """The precisions as the fused kernel of :attr:`fused_kind` reads them.

        "full": (K, D, D) factors P_k with ``Sigma_k^-1 = P_k P_k'``; "diag":
        (K, D) diagonal precisions.  C-contiguous float64.
        """
        raise NotImplementedError

    def log_prob(
        self, X, means, precisions_cholesky, center, log_weights=None
    ) -> np.ndarray:
        """log N(x | mean_k, Sigma_k) (+ log_weights[k] if given), shape (n, K).

        ``center`` (D,) is subtracted from rows and means first, so the
        arithmetic happens near the data (no cancellation for offset data).
        The result has the rows' :func:`work_dtype`.
        """
        Xc = X - np.asarray(center, dtype=work_dtype(X))
        maha = self.mahalanobis(Xc, means - center, precisions_cholesky)
        constant = self.log_det_cholesky(precisions_cholesky, *means.shape) - 0.5 * (
            X.shape[1] * LOG_2PI
        )
        if log_weights is not None:
            constant = constant + log_weights
        maha *= -0.5
        maha += constant
        return maha

    # --- conversions ------------------------------------------------------
    def precisions(self, precisions_cholesky):
        raise NotImplementedError

    def from_precisions(self, precisions, n_components: int, n_features: int):
        """(covariances, precisions_cholesky) from user-given precisions, validated."""
        raise NotImplementedError

    def component_covariance(self, covariances, k: int, n_features: int) -> np.ndarray:
        """The (D, D) covariance matrix of component k."""
        raise NotImplementedError

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        raise NotImplementedError

    def full_precisions(self, precisions_cholesky, n_components: int, n_features: int):
        """(K, D, D) precision matrices, whatever the structure (for missing values)."""
        raise NotImplementedError

    def reduce_second(self, second_full: np.ndarray) -> np.ndarray:
        """This structure's second moments from per-component (K, D, D) ones."""
        raise NotImplementedError

    def work_width(self, n_components: int, n_features: int) -> int:
        """Floats per row of the E-step's work arrays (sets the default chunk size)."""
        return max(n_components, 2 * n_features + 1)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Number of free covariance parameters."""
        raise NotImplementedError


def _check_spd(matrix: np.ndarray, label: str) -> np.ndarray:
    if not np.allclose(matrix, matrix.T, rtol=1e-8, atol=1e-12 * np.abs(matrix).max()):
        raise ValueError(f"{label} is not symmetric")
    try:
        return linalg.cholesky(matrix, lower=True)
    except linalg.LinAlgError:
        raise ValueError(f"{label} is not positive definite") from None


def _triangular_inverse(lower: np.ndarray) -> np.ndarray:
    """Inverse of a non-singular lower-triangular matrix (LAPACK trtri)."""
    inverse, info = linalg.lapack.dtrtri(lower, lower=1)
    if info != 0:  # pragma: no cover - guarded by a successful Cholesky before
        raise np.linalg.LinAlgError("singular triangular factor")
    return inverse


def _inverse_from_cholesky(lower: np.ndarray) -> np.ndarray:
    """(L L')^{-1} for lower-triangular L."""
    inv_lower = _triangular_inverse(lower)
    return inv_lower.T @ inv_lower
