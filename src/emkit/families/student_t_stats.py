"""Parameters and sufficient statistics of t components, and the entropy of their latent variables.

:class:`StudentTParams` (locations, scales, degrees of freedom),
:class:`StudentTStatistics` (the additive E-step statistics the M-step of
:class:`emkit.families.student_t.StudentTFamily` reads) and
:func:`latent_entropy`, the entropy of a row's precision weight and missing
entries that the statistics carry so that online EM has the exact free energy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import digamma, gammaln

from ..em.statistics import SufficientStatistics
from .covariance import CovarianceStructure
from .student_t_density import Evaluation


@dataclasses.dataclass(frozen=True)
class StudentTParams:
    """Locations (K, D), scale matrices and their precision factors (the structure's
    storage shapes, as ``GaussianParams``), degrees of freedom (K,)."""

    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    dof: np.ndarray


@dataclasses.dataclass(frozen=True)
class StudentTStatistics(SufficientStatistics):
    """Expected sufficient statistics of t components.

    Attributes
    ----------
    counts : ndarray (K,)
        ``N_k = sum_i r_ik`` over rows with at least one observed value.
    weighted_counts : ndarray (K,)
        ``sum_i r_ik u_ik``.
    first : ndarray (K, D)
        ``sum_i r_ik u_ik (x_i - c_k)`` (conditional means for missing entries).
    second : ndarray
        ``sum_i r_ik [u_ik (x_i - c_k)(x_i - c_k)' + C_ik]`` in the structure's
        second-moment shape (C: conditional covariance of missing entries).
    dof_terms : ndarray (K,)
        ``S_k = sum_i r_ik (E[log u_ik] - E[u_ik] + 1)`` (<= 0).
    entropy : ndarray (K,)
        ``sum_i r_ik H_ik``, the entropy of the per-row latent variables given
        the row and component under the E-step's posterior: the precision
        weight u (a Gamma) and, for missing entries, their conditional
        Gaussian given u.  Not used by the M-step; carried so that
        :meth:`~emkit.families.student_t.StudentTFamily.expected_log_prob` is the exact
        ``sum_i r_ik log t(x_i | k)`` at the E-step's parameters.
    centers : ndarray (K, D)
        The centres c_k (intensive).
    structure : CovarianceStructure
        The scale structure the second moments are for (intensive).
    """

    counts: np.ndarray
    weighted_counts: np.ndarray
    first: np.ndarray
    second: np.ndarray
    dof_terms: np.ndarray
    entropy: np.ndarray
    centers: np.ndarray = dataclasses.field(metadata={"intensive": True})
    structure: CovarianceStructure = dataclasses.field(metadata={"intensive": True})

    def recentered(self, centers: np.ndarray) -> StudentTStatistics:
        """The same statistics about other centres (exact)."""
        delta = self.centers - centers
        if not delta.any():
            return self
        return dataclasses.replace(
            self,
            first=self.first + self.weighted_counts[:, None] * delta,
            second=self.structure.recenter_second(self.second, self.weighted_counts,
                                                  self.first, delta),
            centers=np.array(centers, dtype=float),
        )

    def aligned(self, other: StudentTStatistics) -> StudentTStatistics:
        if other.structure.name != self.structure.name:
            raise ValueError(
                f"cannot add {other.structure.name!r} statistics to {self.structure.name!r} ones"
            )
        return other.recentered(self.centers)


def gamma_entropy_part(shape: np.ndarray) -> np.ndarray:
    """``a + log Gamma(a) - a psi(a)``: the entropy of a Gamma(a, rate b) is this plus
    ``E[log u] = psi(a) - log b``."""
    return shape + gammaln(shape) - shape * digamma(shape)


def latent_entropy(dof: np.ndarray, n_observed, expected_log_u: np.ndarray,
                   evaluation: Evaluation) -> np.ndarray:
    """Entropy of a row's latent variables given the row and component, (n, K).

    ``u | x ~ Gamma(a, b)`` with ``a = (nu + p) / 2``: ``H = h(a) + E[log u]``
    (:func:`gamma_entropy_part`).  The m missing entries of a row are, given u,
    Gaussian with covariance ``C / u`` (C: the conditional covariance, whose
    ``1/2 log|2 pi C|`` is the completion's correction), adding
    ``m/2 + 1/2 log|2 pi C| - m/2 E[log u]``.  Rows with nothing observed get 0.
    """
    p = np.asarray(n_observed, dtype=float)
    shape = (dof + p[:, None]) / 2 if p.ndim else (dof + p) / 2
    out = gamma_entropy_part(shape) + expected_log_u
    layout = evaluation.layout
    if layout is None:
        return out
    inc = layout.incomplete_rows
    D = evaluation.completions[0].residual.shape[1]
    m = (D - p[inc])[:, None]
    corrections = np.stack([c.correction for c in evaluation.completions], axis=1)
    out[inc] += corrections + 0.5 * m * (1.0 - expected_log_u[inc])
    out[inc[layout.empty]] = 0.0
    return out
