"""How a chunk's log joint becomes responsibilities: the E-step's assignment rules.

``soft`` (logsumexp-normalised posteriors, plain EM), ``hard`` (argmax,
classification EM), :class:`Tempered` (annealed EM: posteriors at inverse
temperature beta) and :class:`Stochastic` (stochastic EM: one sampled component
per row, reproducible from a seed, the iteration and the row index).  Used by
:mod:`emkit.em.engine`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def soft_assignment(
    log_joint: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihoods ``logsumexp(log_joint)`` and responsibilities.

    The logsumexp trick fused with the normalisation: one ``exp`` pass,
    shifted by the row maximum, gives both results; no ``log(sum(exp))`` of
    unshifted values is ever formed.  A row whose entries are all ``-inf``
    (impossible for components with full support) gets log-likelihood ``-inf``.
    With ``overwrite`` the input array is reused for the responsibilities.
    """
    row_max = log_joint.max(axis=1)
    row_max[~np.isfinite(row_max)] = 0.0
    resp = log_joint if overwrite else log_joint.copy()
    resp -= row_max[:, None]
    np.exp(resp, out=resp)
    row_sum = resp.sum(axis=1)
    with np.errstate(invalid="ignore"):  # rows impossible under every component: NaN
        resp /= row_sum[:, None]
    with np.errstate(divide="ignore"):
        log_norm = np.log(row_sum)
    log_norm += row_max
    return log_norm, resp


def hard_assignment(
    log_joint: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot responsibilities of the best component and its per-row log joint."""
    labels = np.argmax(log_joint, axis=1)
    rows = np.arange(log_joint.shape[0])
    resp = np.zeros_like(log_joint)
    resp[rows, labels] = 1.0
    return log_joint[rows, labels], resp


ASSIGNMENTS = {"soft": soft_assignment, "hard": hard_assignment}


@dataclasses.dataclass(frozen=True)
class Tempered:
    """Soft assignment at inverse temperature ``beta`` (deterministic annealing).

    Responsibilities ``r_ik`` proportional to ``p(x_i, z_i = k) ** beta`` and
    per-row objective ``(1 / beta) log sum_k p(x_i, z_i = k) ** beta``: EM
    with this E-step never decreases the annealed free energy
    ``F_beta(theta) = sum_i w_i (1 / beta) log sum_k p(x_i, k | theta) ** beta``
    (Ueda & Nakano 1998), the maximum over q of
    ``E_q log p(x, z | theta) + H(q) / beta``.  ``beta = 1`` is plain EM.
    """

    beta: float

    #: The reported objective never decreases under EM with this assignment.
    monotone = True
    #: Whether the objective-change rule may stop the run.
    converges = True

    def at(self, iteration: int) -> Tempered:
        return self

    def __call__(self, log_joint: np.ndarray, overwrite: bool = False, start: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
        beta = self.beta
        scaled = log_joint if overwrite else log_joint.copy()
        scaled *= beta
        log_norm, resp = soft_assignment(scaled, overwrite=True)
        log_norm /= beta
        return log_norm, resp


def row_uniforms(seed: int, iteration: int, start: int, n_rows: int) -> np.ndarray:
    """Uniforms in [0, 1) for rows ``start .. start + n_rows`` of ``iteration``'s draw.

    A counter-based stream (Philox keyed by ``(seed, iteration)``, advanced to
    the row): row i gets the same number whatever the chunking, the threads
    or the Dask workers.
    """
    bits = np.random.Philox(key=[int(seed) % 2**64, int(iteration) % 2**64])
    bits.advance(start // 4)  # one Philox counter step gives 4 64-bit words
    skip = start % 4
    raw = bits.random_raw(skip + n_rows)[skip:]
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 2.0**53)


@dataclasses.dataclass(frozen=True)
class Stochastic:
    """Stochastic assignment (the S-step of SEM, Celeux & Diebolt 1985).

    Each row's component is drawn from its posterior ``p(z | x, theta)``; the
    statistics are those of the drawn one-hot partition.  The per-row
    objective is the log-likelihood ``log p(x_i | theta)`` of the parameters
    entering the iteration, which is *not* monotone along SEM: the engine
    neither checks it nor stops on it.  ``seed`` and the iteration number fix
    the draws (:func:`row_uniforms`).
    """

    seed: int
    iteration: int = 0

    monotone = False
    converges = False

    def at(self, iteration: int) -> Stochastic:
        return dataclasses.replace(self, iteration=iteration)

    def __call__(self, log_joint: np.ndarray, overwrite: bool = False, start: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
        log_norm, resp = soft_assignment(log_joint, overwrite=overwrite)
        u = row_uniforms(self.seed, self.iteration, start, resp.shape[0])
        cumulative = np.cumsum(resp, axis=1)
        labels = np.minimum((cumulative < u[:, None] * cumulative[:, -1:]).sum(axis=1),
                            resp.shape[1] - 1)
        resp[...] = 0.0
        resp[np.arange(resp.shape[0]), labels] = 1.0
        return log_norm, resp


def _resolve_assignment(assignment, iteration: int = 0):
    """(chunk assignment function, its fast-path hook name or None) of ``assignment``.

    ``assignment`` is "soft", "hard", or an object with ``at(iteration)``
    (:class:`Tempered`, :class:`Stochastic`); those take the generic path.
    """
    if isinstance(assignment, str):
        function = ASSIGNMENTS[assignment]
        return (lambda log_joint, overwrite=False, start=0:
                function(log_joint, overwrite=overwrite)), \
            ("hard_e_step" if assignment == "hard" else "soft_e_step")
    if isinstance(assignment, Tempered) and assignment.beta == 1.0:
        return _resolve_assignment("soft")
    return assignment.at(iteration), None
