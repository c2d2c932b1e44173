"""Multivariate Student-t components: robust clustering with mclust's 14 scale structures.

Component k has location ``mu_k``, scale matrix ``Sigma_k`` (one of the
covariance structures of :mod:`emkit.families.structures`) and degrees of
freedom ``nu_k``:

    log t(x) = log Gamma((nu + p)/2) - log Gamma(nu/2) - (p/2) log(nu pi)
               - (1/2) log|Sigma| - (nu + p)/2 log(1 + delta / nu),

``delta = (x - mu)' Sigma^-1 (x - mu)``, p the number of coordinates.  For
nu > 2 the covariance is ``nu / (nu - 2) Sigma``.

EM treats the component label z and a precision weight u per row as missing
data (``x | u, z = k ~ N(mu_k, Sigma_k / u)``, ``u ~ Gamma(nu_k/2, nu_k/2)``).
The E-step gives the responsibilities ``r_ik`` and ``u_ik = E[u | x_i, k] =
(nu_k + p) / (nu_k + delta_ik)``; the M-step is

* ``mu_k = sum_i r_ik u_ik x_i / sum_i r_ik u_ik``;
* ``Sigma_k``: the Gaussian structured M-step of the structure (its
  ``estimate``) applied to the *u-weighted* scatter
  ``W_k = sum_i r_ik u_ik (x_i - mu_k)(x_i - mu_k)'`` with the counts
  ``N_k = sum_i r_ik`` (Q has the Gaussian form ``-1/2 [N_k log|Sigma_k| +
  tr(W_k Sigma_k^-1)]``, so every structure's M-step applies unchanged);
* ``nu_k``: the root of a digamma equation in additive statistics
  (:mod:`emkit.families.student_t_dof`), per component, shared, or fixed.

Every step is an exact conditional maximiser of Q, so EM is monotone (with
``reg_covar`` > 0 up to the same regularisation allowance as the Gaussian).

Online EM
---------
Every statistic is a sum over rows and the M-step reads nothing else (ECM,
not ECME: see :mod:`emkit.families.student_t_dof`), so stepwise EM and
``partial_fit`` work on running statistics.  Incremental EM also needs its
free energy from statistics: Q is linear in them (``sum r E[log u]`` is
``S + sum r E[u] - N``), and the statistics carry the entropy of the per-row
latent variables (u, and missing entries given u), so that
:meth:`StudentTFamily.expected_log_prob` plus the entropy of the labels is
the exact log-likelihood at the E-step's parameters.

Missing values (NaN)
--------------------
The marginal of the observed coordinates O is a t with the same nu, location
``mu_O`` and scale ``Sigma_OO``; ``u | x_O`` depends on the observed distance
and on ``p = |O|``.  Given u the missing coordinates are Gaussian with the
conditional mean of :mod:`emkit.families.missing` (which does not depend on u)
and covariance ``C / u``, so ``E[u x] = E[u] x_hat`` and ``E[u x x'] = E[u]
x_hat x_hat' + C``: the u-weighted outer products plus the *unweighted*
conditional covariance.  Rows with nothing observed carry no information and
are left out of the component statistics (their log-density is 0).

This module holds the family (E-step, M-step, objective, sampling) and the
mixture model with its fused E-step; the parameter and statistics containers
and the latent-variable entropy live in :mod:`emkit.families.student_t_stats`,
the degrees-of-freedom update in :mod:`emkit.families.student_t_dof`, the
densities in :mod:`emkit.families.student_t_density`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..exceptions import DegenerateComponentError
from .base import ComponentFamily
from .missing import MissingLayout, missing_layout, missing_moments
from .mixture import MixtureModel, MixtureStatistics, empty_components
from .structures import get_structure
from .student_t_density import Evaluation, evaluate
from .student_t_dof import (
    DEFAULT_DOF_BOUNDS,
    DEFAULT_DOF_INIT,
    check_dof,
    check_dof_bounds,
    distance_terms,
    expected_log_gap,
    update_dof,
)
from .student_t_stats import (
    StudentTParams,
    StudentTStatistics,
    gamma_entropy_part,
    latent_entropy,
)


class StudentTFamily(ComponentFamily):
    """Multivariate t components (see the module docstring).

    Parameters
    ----------
    covariance_type : str, default="full"
        Structure of the scale matrices: any name of
        :func:`emkit.families.structures.get_structure` (mclust's 14 models,
        "E"/"V" in one dimension, or scikit-learn's four names).
    dof : "estimate", "shared", float or array of shape (K,), default="estimate"
        Degrees of freedom estimated per component, estimated as one value
        shared by all components, or fixed.
    dof_init : float or array of shape (K,), default=4.0
        Starting value of estimated degrees of freedom.
    dof_bounds : (float, float), default=(0.1, 200.0)
        Estimated degrees of freedom stay within these bounds.
    reg_covar : float, default=1e-6
        Added to the diagonal of every scale matrix in the M-step.
    dof_iterations : int or None, default=None
        None: the exact nu M-step; k: at most k Q-increasing Newton steps from
        the current nu (generalized EM, :func:`~emkit.families.student_t_dof.improve_dofs`).
    """

    name = "student_t"
    params_type = StudentTParams

    def __init__(self, covariance_type: str = "full", dof: Any = "estimate",
                 dof_init: Any = DEFAULT_DOF_INIT,
                 dof_bounds: tuple[float, float] = DEFAULT_DOF_BOUNDS, reg_covar: float = 1e-6,
                 dof_iterations: int | None = None):
        self.structure = get_structure(covariance_type)
        #: Newton steps of the generalized-EM dof update (None: the exact M-step).
        self.dof_iterations = dof_iterations
        self.dof_mode, self.fixed_dof = check_dof(dof)
        self.dof_bounds = check_dof_bounds(dof_bounds)
        self.dof_init = np.asarray(dof_init, dtype=float)
        self.reg_covar = float(reg_covar)
        #: Rows x components of the fit (None: unknown); lets ``kernels="auto"``
        #: keep small fits on the NumPy path.
        self.kernel_work: int | None = None
        self._layouts: dict = {}
        self._local = threading.local()
        self._fused_cache: tuple = (None, None, None)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_local"] = None
        state["_layouts"] = {}
        state["_fused_cache"] = (None, None, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    # --- data -----------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X") -> np.ndarray:
        """Any real values; NaN marks a missing value, an infinity is an error naming it."""
        from .._validation import check_finite

        check_finite(X, what, allow_nan=True)
        return X

    # --- parameters -----------------------------------------------------------
    def dof_values(self, n_components: int, values=None) -> np.ndarray:
        """Degrees of freedom (K,) from a scalar or (K,) value (default: the start)."""
        if self.dof_mode == "fixed":
            values = self.fixed_dof
        elif values is None:
            values = self.dof_init
        return np.broadcast_to(np.asarray(values, dtype=float), (n_components,)).copy()

    def params_from_fields(self, **values: Any) -> StudentTParams:
        means = np.asarray(values["means"], dtype=float)
        K = means.shape[0]
        covariances = np.asarray(values["covariances"], dtype=float)
        chol = values.get("precisions_cholesky")
        if chol is None:
            chol = self.structure.precisions_cholesky(covariances, self.reg_covar)
        return StudentTParams(means, covariances, np.asarray(chol, dtype=float),
                              self.dof_values(K, values.get("dof")))

    def n_estimated_dof(self, n_components: int) -> int:
        """Free degrees-of-freedom parameters: K, 1 (shared) or 0 (fixed)."""
        return {"estimate": n_components, "shared": 1, "fixed": 0}[self.dof_mode]

    # --- per-chunk evaluation -----------------------------------------------------
    @staticmethod
    def _chunk_key(X: np.ndarray) -> tuple:
        return (X.__array_interface__["data"][0], X.shape, X.strides)

    def _layout(self, X: np.ndarray) -> MissingLayout | None:
        """The NaN layout of a chunk (None when complete).

        Cached per chunk buffer and reused only while the chunk's NaN mask is
        unchanged, so a source that refills one buffer with other rows (a
        streamed file) never gets a stale layout.
        """
        missing = np.isnan(X)
        if not missing.any():
            return None
        key = self._chunk_key(X)
        mask = np.packbits(missing)
        cached = self._layouts.get(key)
        if cached is not None and np.array_equal(cached[0], mask):
            return cached[1]
        layout = missing_layout(X)
        self._layouts[key] = (mask, layout)
        return layout

    def _evaluate(self, params: StudentTParams, X: np.ndarray) -> Evaluation:
        """Distances and log-densities of a chunk (NaN entries marginalised)."""
        return evaluate(self.structure, params, X, self._layout(X))

    def _evaluation(self, params: StudentTParams, X: np.ndarray) -> Evaluation:
        """The evaluation ``log_prob`` left for this chunk and parameters, or a new one."""
        cached = getattr(self._local, "last", None)
        self._local.last = None
        if cached is not None and cached[0] is X and cached[1] is params:
            return cached[2]
        return self._evaluate(params, X)

    # --- the E-step -----------------------------------------------------------------
    def log_prob(self, params: StudentTParams, X: np.ndarray) -> np.ndarray:
        """``log t(x_O | mu_kO, Sigma_kOO, nu_k)`` per row and component, shape (n, K).

        The chunk's distances are kept (one chunk per thread) for
        :meth:`statistics`, which the engine calls next on the same chunk.
        """
        evaluation = self._evaluate(params, X)
        out, evaluation.log_prob = evaluation.log_prob, None  # the caller may modify it
        self._local.last = (X, params, evaluation)
        return out

    def precision_weights(self, params: StudentTParams, X: np.ndarray) -> np.ndarray:
        """``E[u | x_i, z_i = k] = (nu_k + p_i) / (nu_k + delta_ik)``, shape (n, K).

        Rows with nothing observed get 1 (the prior mean of u).
        """
        evaluation = self._evaluate(params, X)
        p = float(params.means.shape[1]) if evaluation.n_observed is None \
            else evaluation.n_observed
        return distance_terms(params.dof, p, evaluation.delta)[0]

    def statistics(self, params: StudentTParams | None, X: np.ndarray, resp: np.ndarray
                   ) -> StudentTStatistics:
        """u-weighted moments, counts and the nu statistic of a chunk (``resp`` weighted)."""
        if params is None:
            return self._initial_statistics(X, resp)
        structure = self.structure
        D = params.means.shape[1]
        evaluation = self._evaluation(params, X)
        centers = self.centers(params.means)
        layout = evaluation.layout
        p = float(D) if evaluation.n_observed is None else evaluation.n_observed
        u, log_terms = distance_terms(params.dof, p, evaluation.delta)
        weighted = resp * u
        # E[log u] - E[u] + 1 per row (computed for fixed nu too: Q and the entropy need it)
        log_gap = log_terms + expected_log_gap(params.dof, p)
        entropy = latent_entropy(params.dof, p, log_gap + u - 1.0, evaluation)
        if layout is not None:
            log_gap[layout.incomplete_rows[layout.empty]] = 0.0
        dof_terms = (resp * log_gap).sum(axis=0)
        entropy = (resp * entropy).sum(axis=0)
        if layout is None:
            first, second = structure.moments(X, weighted, centers)
            return StudentTStatistics(resp.sum(axis=0), weighted.sum(axis=0), first, second,
                                      dof_terms, entropy, centers, structure)
        inc = layout.incomplete_rows
        kept = np.where(layout.empty[:, None], 0.0, resp[inc])
        counts = kept.sum(axis=0)
        weighted_counts, first, second_full = missing_moments(
            evaluation.completions, layout, weighted[inc], params.means, centers,
            conditional_resp=resp[inc])
        second = structure.reduce_second(second_full)
        rows = layout.complete_rows
        if rows.size:
            f, s = structure.moments(X[rows], weighted[rows], centers)
            first, second = first + f, second + s
            counts = counts + resp[rows].sum(axis=0)
            weighted_counts = weighted_counts + weighted[rows].sum(axis=0)
        return StudentTStatistics(counts, weighted_counts, first, second, dof_terms, entropy,
                                  centers, structure)

    def centers(self, means: np.ndarray) -> np.ndarray:
        """Centres of the moments: each location, or their average for pooled structures."""
        if self.structure.per_component_centers:
            return np.array(means, dtype=float)
        return np.broadcast_to(means.mean(axis=0), means.shape).copy()

    def _initial_statistics(self, X: np.ndarray, resp: np.ndarray) -> StudentTStatistics:
        """Statistics before any parameters (u = 1: Gaussian moments of the partition).

        A missing entry is filled with its column's weighted mean over the
        chunk's observed rows (mean imputation, for the starting values only;
        :class:`StudentTMixtureModel` fills them from all rows beforehand, so
        that the start does not depend on the chunking).
        """
        K, D = resp.shape[1], X.shape[1]
        missing = np.isnan(X)
        row_weight = resp.sum(axis=1)
        if missing.any():
            observed = np.where(missing, 0.0, X)
            with np.errstate(invalid="ignore", divide="ignore"):
                fill = (row_weight @ observed) / (row_weight @ ~missing)
            X = np.where(missing, np.where(np.isfinite(fill), fill, 0.0), X)
        counts = resp.sum(axis=0)
        overall = (row_weight @ X) / row_weight.sum() if row_weight.sum() > 0 else X.mean(0)
        if self.structure.per_component_centers:
            with np.errstate(invalid="ignore", divide="ignore"):
                centers = (resp.T @ X) / counts[:, None]
            centers[~(counts > 0)] = overall
        else:
            centers = np.broadcast_to(overall, (K, D)).copy()
        first, second = self.structure.moments(X, resp, centers)
        return StudentTStatistics(counts, counts.copy(), first, second, np.zeros(K),
                                  np.zeros(K), centers, self.structure)

    # --- the M-step -----------------------------------------------------------------
    def _scale_moments(self, stats: StudentTStatistics, params: StudentTParams | None):
        """(locations, empty mask, counts with empties as 1, u-weighted scatter).

        The scatter about the new locations is in the structure's second-moment
        shape; an empty component enters it as one pseudo-row at its previous
        scale (as in the Gaussian M-step), so shared structures stay defined.
        """
        counts, weighted = stats.counts, stats.weighted_counts
        K, D = stats.first.shape
        empty = empty_components(counts) if counts.sum() > 0 else np.ones(K, dtype=bool)
        safe = np.where(empty, 1.0, counts)
        safe_weighted = np.where(empty | ~(weighted > 0), 1.0, weighted)
        first = np.where(empty[:, None], 0.0, stats.first)
        means = stats.centers + first / safe_weighted[:, None]
        scatter = self.structure.scatter(safe_weighted, first, stats.second)
        if empty.any() and params is not None:
            previous = np.zeros((K, D, D))
            for k in np.flatnonzero(empty):
                previous[k] = self.structure.component_covariance(params.covariances, k, D)
            scatter = scatter + self.structure.reduce_second(previous)
        return means, empty, safe, scatter

    def maximize(self, stats: StudentTStatistics, params: StudentTParams | None = None
                 ) -> StudentTParams:
        """Locations, structured scales (Gaussian M-step on u-weighted moments) and nu.

        Raises
        ------
        DegenerateComponentError
            A scale matrix is not positive definite (names the component).
        """
        structure = self.structure
        means, empty, safe, scatter = self._scale_moments(stats, params)
        K, D = means.shape
        previous = None if params is None else params.covariances
        with np.errstate(all="ignore"):
            try:
                covariances = structure.estimate(safe, np.zeros((K, D)), scatter,
                                                 self.reg_covar, previous)
            except np.linalg.LinAlgError:
                covariances = np.full(structure.shape(K, D), np.nan)
        if params is not None and empty.any():
            means[empty] = params.means[empty]
            if not structure.shares_covariance:
                covariances[empty] = params.covariances[empty]
        chol = structure.precisions_cholesky(covariances, self.reg_covar)
        if params is None or self.dof_mode == "fixed":
            dof = self.dof_values(K)
        else:
            dof = update_dof(stats.counts, stats.dof_terms, params.dof, empty,
                             self.dof_mode == "shared", self.dof_bounds,
                             getattr(self, "dof_iterations", None))
        return StudentTParams(means, covariances, chol, dof)

    def expected_log_prob(self, params: StudentTParams, stats: StudentTStatistics) -> float:
        """``sum_i sum_k r_ik log t(x_i | k)`` from the statistics, as an evidence bound.

        With the precision weights u (and missing entries) as latent data, ``log
        t(x | k) = E_q[log p(x, u | k)] + H(q)`` when q is the posterior of u given
        the row at the parameters: the ELBO is tight.  Both parts come from
        additive statistics: with ``N``, ``U = sum r E[u]``, ``L = sum r E[log u]
        = S + U - N`` and the u-weighted scatter ``W`` about the locations,

            E_q log p = N [-D/2 log 2 pi - 1/2 log|Sigma| + nu/2 log(nu/2)
                           - log Gamma(nu/2)] + (D/2 + nu/2 - 1) L - nu/2 U
                        - 1/2 tr(Sigma^-1 W),

        and ``H(q)`` is the ``entropy`` statistic.  At the parameters of the
        E-step that made ``stats`` this equals the summed weighted
        log-densities; at other parameters it is the expected complete-data
        log-likelihood (Q) plus a constant, which the ECM M-step maximises, so
        incremental EM's free energy is exact and monotone.
        """
        from .covariance import LOG_2PI
        from .gaussian import expected_quadratic

        K, D = params.means.shape
        about = stats.recentered(np.asarray(params.means, dtype=float))
        counts, weighted = about.counts, about.weighted_counts
        log_u = about.dof_terms + weighted - counts
        nu = params.dof
        half_log_det = self.structure.log_det_cholesky(params.precisions_cholesky, K, D)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_count = (-0.5 * D * LOG_2PI + half_log_det + 0.5 * nu * np.log(nu / 2)
                         - gammaln(nu / 2))
        live = counts > 0
        value = (np.where(live, counts * per_count, 0.0)
                 + np.where(live, (0.5 * D + 0.5 * nu - 1.0) * log_u - 0.5 * nu * weighted,
                            0.0))
        quadratic = expected_quadratic(self.structure, params.precisions_cholesky,
                                       about.second, K, D)
        return float(value.sum() - 0.5 * quadratic + about.entropy.sum())

    def step_deficit(self, stats: StudentTStatistics, new_params: StudentTParams,
                     params: StudentTParams | None) -> float:
        """How far the regularised scale M-step may fall short of the exact one (in Q).

        The scale part of Q has the Gaussian form, so this is the Gaussian
        allowance (:meth:`GaussianMixtureModel.step_deficit`) evaluated on the
        u-weighted scatter; 0 when ``reg_covar`` is 0.
        """
        if self.reg_covar == 0.0:
            return 0.0
        D = new_params.means.shape[1]
        if self.structure.exact_deficit:
            return self.structure.regularization_deficit(stats.counts, new_params.covariances,
                                                         self.reg_covar, D)
        if params is None:
            return np.inf
        _, _, safe, scatter = self._scale_moments(stats, params)
        return self.structure.deficit_from_moments(
            safe, np.zeros_like(new_params.means), scatter, new_params.covariances,
            params.covariances, self.reg_covar)

    # --- the rest -------------------------------------------------------------------
    def n_parameters(self, params: StudentTParams) -> int:
        K, D = params.means.shape
        return K * D + self.structure.n_parameters(K, D) + self.n_estimated_dof(K)

    def sample(self, params: StudentTParams, labels: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        """``x = mu_k + L_k z / sqrt(u)``, ``z ~ N(0, I)``, ``u ~ Gamma(nu_k/2, rate nu_k/2)``."""
        K, D = params.means.shape
        X = np.empty((labels.shape[0], D))
        for k in range(K):
            rows = np.flatnonzero(labels == k)
            if not rows.size:
                continue
            lower = np.linalg.cholesky(
                self.structure.component_covariance(params.covariances, k, D))
            z = rng.standard_normal((rows.size, D))
            u = rng.gamma(params.dof[k] / 2, 2.0 / params.dof[k], size=rows.size)
            X[rows] = params.means[k] + (z @ lower.T) / np.sqrt(u)[:, None]
        return X

    def to_vector(self, params: StudentTParams) -> np.ndarray:
        """Locations, scales (storage shape) and log degrees of freedom."""
        return np.concatenate([np.ravel(params.means), np.ravel(params.covariances),
                               np.log(params.dof)]).astype(float, copy=False)

    def vector_size(self, like: StudentTParams) -> int:
        return int(like.means.size + np.size(like.covariances) + like.dof.size)

    def from_vector(self, vector: np.ndarray, like: StudentTParams) -> StudentTParams | None:
        """Parameters from :meth:`to_vector`, or None when not valid.

        Structured scales leaving their model are projected back onto it (as
        ``GaussianMixtureModel.from_vector``); degrees of freedom are clipped to
        ``dof_bounds`` (held when fixed; averaged in log when shared).
        """
        vector = np.asarray(vector, dtype=float)
        n_means, cov_shape = like.means.size, np.shape(like.covariances)
        n_cov = int(np.prod(cov_shape))
        if vector.shape != (self.vector_size(like),):
            raise ValueError(f"parameter vector must have shape ({self.vector_size(like)},), "
                             f"got {vector.shape}")
        if not np.isfinite(vector).all():
            return None
        means = vector[:n_means].reshape(like.means.shape).copy()
        covariances = vector[n_means:n_means + n_cov].reshape(cov_shape).copy()
        log_dof = vector[n_means + n_cov:]
        if self.dof_mode == "fixed":
            dof = like.dof
        else:
            if self.dof_mode == "shared":
                log_dof = np.full(log_dof.shape, log_dof.mean())
            dof = np.clip(np.exp(log_dof), *self.dof_bounds)
        if np.array_equal(covariances, like.covariances):
            return StudentTParams(means, covariances, like.precisions_cholesky, dof)
        try:
            if not self.structure.affine:
                self.structure.precisions_cholesky(covariances, self.reg_covar)
                with np.errstate(all="ignore"):
                    covariances = self.structure.project(covariances, np.ones(like.dof.size))
                if not np.isfinite(covariances).all():
                    return None
            chol = self.structure.precisions_cholesky(covariances, self.reg_covar)
        except (DegenerateComponentError, np.linalg.LinAlgError):
            return None
        return StudentTParams(means, covariances, chol, dof)

    # --- fused E-step (compiled kernels) --------------------------------------------
    def fused_e_step(self, params: StudentTParams, weights: np.ndarray, X: np.ndarray,
                     row_weights: np.ndarray):
        """(row log-likelihoods, counts, statistics) of a complete chunk in one compiled
        pass, or None (kernels off, missing values, too many features, no kernel)."""
        from .student_t_fused import fused_applies, fused_form, t_e_step

        D = params.means.shape[1]
        if not fused_applies(self.structure, D, self.kernel_work) or \
                self._layout(X) is not None:
            return None
        cached = self._fused_cache
        if cached[0] is params and cached[1] is weights:
            form = cached[2]
        else:
            form = fused_form(self.structure, params, weights, self.centers(params.means))
            self._fused_cache = (params, weights, form)
        row_objective, counts, weighted_counts, first, second, log_terms = t_e_step(
            form, X, row_weights)
        dof_terms = log_terms + counts * expected_log_gap(params.dof, D)
        # complete rows: sum_i r_ik H_ik = N_k h(a_k) + sum_i r_ik E[log u_ik]
        entropy = counts * gamma_entropy_part((params.dof + D) / 2) + (
            dof_terms + weighted_counts - counts)
        stats = StudentTStatistics(counts, weighted_counts, first, second, dof_terms, entropy,
                                   form.stat_centers, self.structure)
        return row_objective, counts, stats


class StudentTMixtureModel(MixtureModel):
    """:class:`MixtureModel` of t components, with the family's fused E-step."""

    def params_from_responsibilities(self, X, sample_weight, resp, chunk_size):
        """The starting M-step (unit precision weights), missing entries filled with
        the weighted column means of all rows, so the start does not depend on the
        chunking."""
        missing = np.isnan(X)
        if missing.any():
            observed = np.where(missing, 0.0, X)
            means = (sample_weight @ observed) / (sample_weight @ ~missing)
            X = np.where(missing, means, X)
        return super().params_from_responsibilities(X, sample_weight, resp, chunk_size)

    def soft_e_step(self, params, X: np.ndarray, row_weights: np.ndarray):
        """Fused soft E-step of a complete chunk (compiled kernels), or None."""
        result = self.family.fused_e_step(params.components, params.weights, X, row_weights)
        if result is None:
            return None
        row_objective, counts, stats = result
        return row_objective, MixtureStatistics(counts, stats)
