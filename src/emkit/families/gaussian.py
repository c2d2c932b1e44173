"""Gaussian components: parameters, expected sufficient statistics and the M-step.

:class:`GaussianMixtureModel` is what the EM engine drives for
:class:`emkit.GaussianMixture`; the covariance algebra it needs lives in
:mod:`emkit.families.covariance`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .. import _kernels
from .._warnings import external_stacklevel
from ..em.statistics import SufficientStatistics
from ._numeric import check_rows_evaluable, check_squared_scale
from .active_pairs import ActivePairsMixin
from .covariance import LOG_2PI, CovarianceStructure, Tied, reference_variances
from .decomposed import inner_iterations
from .gaussian_missing import MissingValuesMixin
from .gaussian_vectors import ParameterVectorsMixin
from .structures import get_structure

#: A component whose summed responsibility is below this fraction of the total
#: row weight is *empty*: it keeps its previous mean and covariance.
EMPTY_COMPONENT_FRACTION = 10 * np.finfo(np.float64).eps
#: The fused compiled E-step (:mod:`emkit._kernels`) runs up to this many
#: features, per kernel; beyond, the GEMM-based NumPy path is faster (the
#: kernels' work per row and component grows like D (diag) or D^2 (full), which
#: BLAS does at a far higher rate).  Measured on a 2-core AVX-512 machine.
FUSED_MAX_FEATURES = {"diag": 10, "full": 16}


@dataclasses.dataclass(frozen=True)
class GaussianParams:
    """Parameters of a Gaussian mixture (shapes as scikit-learn's fitted attributes)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


@dataclasses.dataclass(frozen=True)
class GaussianStatistics(SufficientStatistics):
    """Responsibility-weighted moments of the rows about per-component centres.

    Attributes
    ----------
    counts : ndarray (K,)
        sum_i w_i r_ik.
    first : ndarray (K, D)
        sum_i w_i r_ik (x_i - c_k).
    second : ndarray
        Second moments about the centres; shape depends on the covariance
        structure ((K, D, D) full, (D, D) pooled for tied, (K, D) otherwise).
    centers : ndarray (K, D)
        The centres c_k (intensive: not added, not scaled).
    structure : CovarianceStructure
        Which covariance structure the second moments are for (intensive).
    """

    counts: np.ndarray
    first: np.ndarray
    second: np.ndarray
    centers: np.ndarray = dataclasses.field(metadata={"intensive": True})
    structure: CovarianceStructure = dataclasses.field(metadata={"intensive": True})

    def recentered(self, centers: np.ndarray) -> GaussianStatistics:
        """The same statistics expressed about other centres (exact)."""
        delta = self.centers - centers
        if not delta.any():
            return self
        return dataclasses.replace(
            self,
            first=self.first + self.counts[:, None] * delta,
            second=self.structure.recenter_second(self.second, self.counts, self.first, delta),
            centers=np.array(centers, dtype=float),
        )

    def data_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean (D,) and variance (D,) of the data's features.

        The total scatter ``sum_k [diag(W_k) + n_k (m_k - m)^2]`` does not depend
        on the responsibilities (complete data), so this is the data's own
        spread, read off the statistics of any iteration.
        """
        counts = self.counts
        total = counts.sum()
        live = counts > 0
        safe = np.where(live, counts, 1.0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            means = self.centers + self.first / safe[:, None]
            # components without weight may sit anywhere (a start at 1e300): leave them out
            mean = (counts[live] @ means[live]) / total
            within = self.structure.feature_scatter(safe, self.first, self.second)
            spread = np.sqrt(counts[live])[:, None] * (means[live] - mean)
            between = (spread * spread).sum(axis=0)
        return mean, (np.maximum(within, 0.0) + between) / total

    def aligned(self, other: GaussianStatistics) -> GaussianStatistics:
        if other.structure.name != self.structure.name:
            raise ValueError(
                f"cannot add {other.structure.name!r} statistics to {self.structure.name!r} ones"
            )
        return other.recentered(self.centers)


def expected_quadratic(structure: CovarianceStructure, precisions_cholesky: np.ndarray,
                       second: np.ndarray, n_components: int, n_features: int) -> float:
    """``sum_k tr(Sigma_k^-1 W_k)`` for second moments ``W`` about the means.

    ``second`` is in the structure's second-moment shape (pooled (D, D) for
    tied, (K, D, D) full, (K, D) diagonal).  The quadratic part of the
    expected complete-data log-likelihood of Gaussian (and, with u-weighted
    moments, Student-t) components.
    """
    if isinstance(structure, Tied):  # pooled (D, D) moments, one precision
        return float(np.sum(structure.precisions(precisions_cholesky) * second))
    precisions = structure.full_precisions(precisions_cholesky, n_components, n_features)
    if second.ndim == 3:
        return float(np.einsum("kij,kij->", precisions, second))
    # diagonal moments (K, D) of diagonal or spherical models
    return float(np.sum(np.einsum("kii->ki", precisions) * second))


class GaussianMixtureModel(ActivePairsMixin, MissingValuesMixin, ParameterVectorsMixin):
    """The Gaussian mixture as seen by the EM engine.

    Parameters
    ----------
    covariance_type : str
        One of :data:`emkit.families.covariance.COVARIANCE_STRUCTURES`.
    reg_covar : float
        Added to the diagonal of every covariance in the M-step.
    fixed : iterable of {"weights", "means", "covariances"}
        Parameter groups held at their current value by the M-step.  The
        other groups get their conditional maximisers (covariances about fixed
        means, for instance), so EM stays monotone (an ECM step).
    prior : emkit.priors.ResolvedPrior, optional
        Conjugate prior: the M-step then maximises the expected complete-data
        log posterior and :meth:`log_prior` is added to the objective.
    """

    PARAMETER_GROUPS = ("weights", "means", "covariances")
    #: Generalized EM: rounds of the iterative covariance M-steps (mclust's VEI, VEE,
    #: EVE, VVE, VEV) per M-step; None runs them to convergence.
    m_step_iterations: int | None = None

    def __init__(
        self, covariance_type: str = "full", reg_covar: float = 1e-6, fixed=(), prior=None
    ):
        self.structure = get_structure(covariance_type)
        self.reg_covar = float(reg_covar)
        #: A :class:`emkit.priors.ResolvedPrior` (MAP-EM) or None (maximum likelihood).
        self.prior = prior
        self.fixed = frozenset(fixed)
        unknown = self.fixed - set(self.PARAMETER_GROUPS)
        if unknown:
            raise ValueError(
                f"fixed must contain only {list(self.PARAMETER_GROUPS)}, got {sorted(unknown)}"
            )
        # missing values: per-chunk layouts and the fit's missingness patterns
        self._init_missing()
        #: Whether chunks are views of memory that lives through the fit (in-memory
        #: sources), so per-chunk caches may be keyed by address; otherwise (chunks
        #: read from files or Dask blocks) they are keyed by the chunk object and
        #: dropped with it.
        self.persistent_chunks = True
        #: Rows x components of the fit (None: unknown); lets ``kernels="auto"``
        #: keep small fits on the NumPy path.
        self.kernel_work: int | None = None
        #: Relative float noise of the objective for the engine's monotonicity
        #: check (None: float64's); the estimator sets it for float32 E-steps.
        self.objective_rtol: float | None = None
        self._fused_cache: tuple = (None, None)
        #: Whether plain EM may run as one compiled loop (:meth:`whole_run`).
        self.whole_loop = False
        #: The data's weighted mean (the E-step's centre) and the degeneracy
        #: rule's reference variances, from the statistics of the last M-step.
        self._data_center: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._reference_weight = np.nan

    # --- helpers ------------------------------------------------------------
    def centers(self, weights: np.ndarray, means: np.ndarray) -> np.ndarray:
        """Centres for the moments: each mean, or their weighted average for pooled forms."""
        if self.structure.per_component_centers:
            return np.array(means, dtype=float)
        center = self._data_center
        if center is None or center.shape != means.shape[1:]:
            center = np.average(means, axis=0, weights=weights) if weights.sum() > 0 else means[0]
        return np.broadcast_to(center, means.shape).copy()

    def _global_center(self, params: GaussianParams) -> np.ndarray:
        """Where the E-step centres rows and means: the data's mean when known.

        The weighted mean of the means equals it after any M-step, but not at
        arbitrary starting values (a mean at 1e300 would pull the centre away
        from every row and cancel the rows' offsets to nothing).
        """
        center = self._data_center
        if center is not None and center.shape == params.means.shape[1:]:
            return center
        return params.weights @ params.means

    # --- engine interface ---------------------------------------------------
    def log_joint(self, params: GaussianParams, X: np.ndarray) -> np.ndarray:
        """log pi_k + log p(x_O | k) per row; NaN entries of X are marginalised out."""
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        missing = self._missing_log_joint(params, X)
        if missing is not None:
            return missing
        return check_rows_evaluable(self.structure.log_prob(
            X, params.means, params.precisions_cholesky, self._global_center(params),
            log_weights,
        ), X)

    def whole_run(self, params: GaussianParams, source, *, tol: float, max_iter: int):
        """Plain EM in one compiled call on small data, or None
        (:mod:`emkit.families.gaussian_compiled`; only when ``whole_loop`` is set, as
        :class:`~emkit.GaussianMixture` does: a model driven directly by the engine's
        runners keeps the NumPy path, bit-identical across runners)."""
        if not self.whole_loop:
            return None
        from .gaussian_compiled import compiled_run

        return compiled_run(self, params, source, tol=tol, max_iter=max_iter)

    def fused_applies(self, n_features: int) -> bool:
        """Whether complete chunks of ``n_features`` columns take the fused kernels."""
        kind = self.structure.fused_kind
        return (
            kind is not None
            and n_features <= FUSED_MAX_FEATURES[kind]
            and _kernels.use_numba(self.kernel_work)
        )

    def soft_e_step(self, params: GaussianParams, X: np.ndarray, weights: np.ndarray):
        """Fused soft E-step of a chunk with a compiled kernel, or None.

        One pass per row: log-densities, log-sum-exp, responsibilities (times
        the row weight) and the moments, without (rows x K) arrays.  Returns
        ``(row log-likelihoods, statistics)``, equal to the generic path's
        ``log_joint`` + ``soft_assignment`` + ``statistics`` up to float
        rounding; None (generic path) when the kernels are off, the structure
        has none or there are more features than :data:`FUSED_MAX_FEATURES` allows.
        A chunk with missing values takes the compiled pattern kernel
        (:mod:`emkit.families.missing_patterns`) whenever the kernels are on,
        for every structure.
        """
        if self._has_missing(X):
            fused = self._missing_soft_e_step(params, X, weights)
            if fused is None:
                return None
            row_objective, (counts, first, second, centers) = fused
            return row_objective, GaussianStatistics(counts, first, second, centers,
                                                     self.structure)
        if not self.fused_applies(params.means.shape[1]):
            return None
        form = self._fused_form(params)
        row_objective, counts, first, second = _kernels.gaussian_e_step(form, X, weights)
        if not np.isfinite(row_objective).all():  # rare: re-evaluate to name the row
            check_rows_evaluable(self.log_joint(params, X), X)
        stats = GaussianStatistics(counts, first, second, form.stat_centers, self.structure)
        return row_objective, stats

    def _fused_form(self, params: GaussianParams) -> _kernels.FusedGaussian:
        """The kernel's view of ``params`` (computed once per E-step, shared by chunks)."""
        cached_params, form = self._fused_cache
        if cached_params is params:
            return form
        K, D = params.means.shape
        structure = self.structure
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        center = self._global_center(params)
        constant = structure.log_det_cholesky(params.precisions_cholesky, K, D) - 0.5 * (
            D * LOG_2PI
        )
        form = _kernels.FusedGaussian(
            kind=structure.fused_kind,
            center=np.ascontiguousarray(center, dtype=np.float64),
            means_c=np.ascontiguousarray(params.means - center, dtype=np.float64),
            factors=structure.fused_factors(params.precisions_cholesky, K, D),
            constant=np.ascontiguousarray(constant + log_weights, dtype=np.float64),
            stat_centers=np.ascontiguousarray(self.centers(params.weights, params.means)),
            pooled=structure.fused_pooled,
        )
        self._fused_cache = (params, form)
        return form

    def __getstate__(self) -> dict:
        state = self._missing_state(dict(self.__dict__))
        state.update(_fused_cache=(None, None))
        return state

    def statistics_about(
        self, X: np.ndarray, resp: np.ndarray, centers: np.ndarray
    ) -> GaussianStatistics:
        """Statistics of a chunk about given centres; ``resp`` includes row weights."""
        first, second = self.structure.moments(X, resp, centers)
        counts = resp.sum(axis=0, dtype=np.float64)
        return GaussianStatistics(counts, first, second, centers, self.structure)

    def statistics(self, params: GaussianParams, X: np.ndarray, resp: np.ndarray):
        """Expected statistics of a chunk; rows with NaN use conditional moments."""
        missing = self._missing_statistics(params, X, resp)
        if missing is None:
            return self.statistics_about(X, resp, self.centers(params.weights, params.means))
        return GaussianStatistics(*missing, self.structure)

    def maximize(
        self, stats: GaussianStatistics, params: GaussianParams | None = None
    ) -> GaussianParams:
        """Maximum-likelihood (MAP with a ``prior``) parameters from summed statistics.

        An empty component (summed responsibility below
        ``EMPTY_COMPONENT_FRACTION`` of the total weight) gets weight
        ``counts/total`` (about 0) and keeps its previous mean and covariance;
        a :class:`UserWarning` names it.  Without previous parameters (at
        initialisation) an empty component is an error.
        """
        counts = stats.counts
        total = counts.sum()
        # with a prior every component has a proper posterior mode, data or not
        empty = (counts < EMPTY_COMPONENT_FRACTION * total) & (self.prior is None)
        means, safe, first, second = self._m_step_moments(stats, params)
        previous = None if params is None else params.covariances
        # generalized EM bounds the inner iteration of EM's M-steps, not the start's
        limit = None if params is None else self.m_step_iterations
        with np.errstate(all="ignore"), inner_iterations(limit):
            try:  # (degenerate components are reported below)
                covariances = self.structure.estimate(safe, first, second, self.reg_covar,
                                                      previous)
            except np.linalg.LinAlgError:
                covariances = np.full(self.structure.shape(*means.shape), np.nan)
        if empty.any():
            which = np.flatnonzero(empty)
            if params is None:
                raise ValueError(
                    f"component(s) {which.tolist()} received no data at initialisation; "
                    "use fewer components or another init_params"
                )
            warnings.warn(
                f"component(s) {which.tolist()} became empty (no responsibility); they keep "
                "their previous mean and covariance with weight ~0. Consider fewer components.",
                UserWarning,
                stacklevel=external_stacklevel(),
            )
            means[empty] = params.means[empty]
            if not self.structure.shares_covariance:
                covariances[empty] = params.covariances[empty]
        weights = counts / total
        if self.prior is not None and self.prior.weight_concentration != 1.0:
            extra = self.prior.weight_concentration - 1.0
            weights = (counts + extra) / (total + extra * counts.shape[0])
        if params is not None and "weights" in self.fixed:
            weights = params.weights
        self._update_reference(stats)
        if params is not None and "covariances" in self.fixed:
            return GaussianParams(weights, means, params.covariances, params.precisions_cholesky)
        chol = self.structure.precisions_cholesky(covariances, self.reg_covar)
        self.structure.check_degenerate(covariances, self._reference, self.reg_covar, chol)
        return GaussianParams(weights, means, covariances, chol)

    def _update_reference(self, stats: GaussianStatistics) -> None:
        """The data's mean (the E-step's centre) and the degeneracy rule's reference.

        Both are properties of the data (the total scatter does not depend on
        the responsibilities), so they are computed from the first statistics
        of a fit and kept while the total weight stays the same.
        """
        total = float(stats.counts.sum())
        known = self._reference_weight
        reference = self._reference
        if (reference is not None and reference.shape == stats.first.shape[1:]
                and abs(total - known) <= 1e-9 * abs(known)):
            return
        data_mean, data_variances = stats.data_moments()
        self._data_center = data_mean
        self._reference = reference_variances(data_variances, data_mean, self.reg_covar)
        self._reference_weight = total

    def _m_step_moments(self, stats: GaussianStatistics, params: GaussianParams | None):
        """(means, counts with empties as 1, first, second) the covariance M-step uses.

        The moments are about the new means' centres, or about the fixed means
        (conditional M-step) when ``fixed`` holds "means".
        """
        counts = stats.counts
        empty = counts < EMPTY_COMPONENT_FRACTION * counts.sum()
        safe = np.where(empty, 1.0, counts)
        if "means" in self.fixed and params is not None:
            means = np.array(params.means, dtype=float)
            about_means = stats.recentered(means)
            moments = (means, safe, np.zeros_like(about_means.first), about_means.second)
        else:
            moments = (stats.centers + stats.first / safe[:, None], safe, stats.first,
                       stats.second)
        if empty.any() and params is not None and self.prior is None:
            # an empty component enters the covariance M-step as one pseudo-row at its
            # previous covariance (it keeps that covariance; shared parts see it once)
            K, D = stats.first.shape
            previous = np.zeros((K, D, D))
            for k in np.flatnonzero(empty):
                previous[k] = self.structure.component_covariance(params.covariances, k, D)
            first = moments[2].copy()
            first[empty] = 0.0
            second = moments[3] + self.structure.reduce_second(previous)
            moments = (moments[0], safe, first, second)
        if self.prior is None:
            return moments
        return self._posterior_moments(counts, moments, fixed_means=params is not None
                                       and "means" in self.fixed)

    def _posterior_moments(self, counts, moments, fixed_means: bool):
        """MAP-EM: shrunk means; counts and scatter augmented by the prior.

        Returned as (means, n_k + a_k, zero first moments, augmented scatter), so
        that every covariance structure's ``estimate`` gives the posterior mode.
        """
        prior = self.prior
        ml_means, safe, first, second = moments
        kappa = prior.shrinkage
        scatter = self.structure.scatter(safe, first, second)
        if fixed_means:
            means = ml_means
            offsets = means - prior.mean
            weights = np.full(counts.shape, kappa)
        else:
            means = (counts[:, None] * ml_means + kappa * prior.mean) / (
                counts + kappa)[:, None]
            offsets = ml_means - prior.mean
            with np.errstate(invalid="ignore", divide="ignore"):
                weights = np.where(counts + kappa > 0, kappa * counts / (counts + kappa), 0.0)
        shrink = weights[:, None, None] * offsets[:, :, None] * offsets[:, None, :]
        augmented = scatter + self.structure.reduce_second(prior.scatter_terms + shrink)
        return (means, counts + prior.count_terms, np.zeros_like(first), augmented)

    def expected_log_joint(self, params: GaussianParams, stats: GaussianStatistics) -> float:
        """``sum_i sum_k r_ik E[log pi_k + log N(x_i | mu_k, Sigma_k)]`` from statistics.

        The expected complete-data log-likelihood (Q) of ``params`` under the
        responsibilities (and, for missing entries, the conditional moments)
        that produced ``stats``; linear in the statistics.  Incremental EM's
        free energy is built from it (:mod:`emkit.em.online`).
        """
        K, D = params.means.shape
        about = stats.recentered(np.asarray(params.means, dtype=float))
        counts = about.counts
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        log_det = self.structure.log_det_cholesky(params.precisions_cholesky, K, D)
        per_count = np.where(counts > 0, counts * (log_weights + log_det - 0.5 * D * LOG_2PI),
                             0.0)
        quadratic = expected_quadratic(self.structure, params.precisions_cholesky,
                                       about.second, K, D)
        return float(per_count.sum()) - 0.5 * quadratic

    def log_prior(self, params: GaussianParams) -> float:
        """log p(params) up to a constant (0 without a prior); added to the objective."""
        prior = self.prior
        if prior is None:
            return 0.0
        K, D = params.means.shape
        precisions = self.structure.full_precisions(params.precisions_cholesky, K, D)
        log_det = -2.0 * self.structure.log_det_cholesky(params.precisions_cholesky, K, D)
        offsets = params.means - prior.mean
        quadratic = np.einsum("ki,kij,kj->k", offsets, precisions, offsets)
        traces = np.einsum("kij,kji->k", prior.scatter_terms, precisions)
        value = -0.5 * float(
            (prior.count_terms * log_det + traces + prior.shrinkage * quadratic).sum()
        )
        if prior.weight_concentration != 1.0:
            with np.errstate(divide="ignore"):
                value += (prior.weight_concentration - 1.0) * float(
                    np.log(params.weights).sum()
                )
        return value

    def step_deficit(
        self,
        stats: GaussianStatistics,
        new_params: GaussianParams,
        params: GaussianParams | None = None,
    ) -> float:
        """Per unit weight, how far the regularised M-step may fall short of an exact one.

        EM guarantees ``loglik(new) >= loglik(old) - step_deficit``; it is 0 when
        ``reg_covar`` is 0.  For the four scikit-learn structures it is the exact
        shortfall in Q of the regularised covariances (see
        :meth:`~emkit.families.covariance.CovarianceStructure.regularization_deficit`);
        for mclust's other models it is ``Q(S*) - Q(S_reg)`` with ``S*`` the
        unregularised M-step warm-started from the old covariances, so that
        ``Q(S*) >= Q(S_old)`` (see
        :meth:`~emkit.families.decomposed.DecomposedModel.deficit_from_moments`;
        it needs ``params``, the old parameters).
        """
        if "covariances" in self.fixed or self.reg_covar == 0.0:
            return 0.0
        total = stats.counts.sum()
        _K, D = new_params.means.shape
        if self.structure.exact_deficit:
            deficit = self.structure.regularization_deficit(
                stats.counts, new_params.covariances, self.reg_covar, D
            )
        elif params is None:
            return np.inf
        else:
            _, safe, first, second = self._m_step_moments(stats, params)
            with inner_iterations(self.m_step_iterations):
                deficit = self.structure.deficit_from_moments(
                    safe, first, second, new_params.covariances, params.covariances,
                    self.reg_covar,
                )
        return deficit / total

    # --- the rest -----------------------------------------------------------
    def params_from_responsibilities(
        self, X: np.ndarray, sample_weight: np.ndarray, resp: np.ndarray, chunk_size: int
    ) -> GaussianParams:
        """One M-step from given responsibilities (used to initialise).

        Raises a ValueError first when X's (weighted) squared spread leaves
        float64's range (:func:`emkit.families._numeric.check_squared_scale`).
        """
        check_squared_scale(X, sample_weight)
        weighted = resp * sample_weight[:, None]
        counts = weighted.sum(axis=0)
        if not (counts > 0).all() and self.prior is None:
            distinct = np.unique(X[sample_weight > 0], axis=0).shape[0]
            raise ValueError(
                f"component(s) {np.flatnonzero(~(counts > 0)).tolist()} received no rows from "
                f"the starting partition (X has {distinct} distinct row(s) of positive weight "
                f"for {resp.shape[1]} components); use fewer components or another "
                "init_params"
            )
        safe = np.where(counts > 0, counts, 1.0)
        means = (weighted.T @ X) / safe[:, None]
        centers = self.centers(counts, means)
        stats = None
        for start in range(0, X.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            part = self.statistics_about(X[sl], weighted[sl], centers)
            stats = part if stats is None else stats + part
        return self.maximize(stats)

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters: weights (K-1), means (K*D) and covariances; fixed groups count 0."""
        counts = {
            "weights": n_components - 1,
            "means": n_components * n_features,
            "covariances": self.structure.n_parameters(n_components, n_features),
        }
        return sum(n for group, n in counts.items() if group not in self.fixed)

    def sample(
        self, params: GaussianParams, n_samples: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw rows and their component labels (grouped by component)."""
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        n_features = params.means.shape[1]
        X = np.empty((n_samples, n_features))
        labels = np.repeat(np.arange(params.weights.shape[0]), counts)
        start = 0
        for k, count in enumerate(counts):
            cov = self.structure.component_covariance(params.covariances, k, n_features)
            lower = np.linalg.cholesky(cov)
            z = rng.standard_normal((count, n_features))
            X[start : start + count] = params.means[k] + z @ lower.T
            start += count
        return X, labels
