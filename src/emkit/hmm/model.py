"""The hidden Markov model as the EM engine sees it: a Markov-chain prior over any family.

:class:`HiddenMarkovModel` combines a latent Markov chain (start
probabilities and a transition matrix, with Dirichlet priors and structural
zeros) with one :class:`~emkit.families.base.ComponentFamily` for the
emissions (Gaussian with any covariance model, categorical, Bernoulli,
Poisson, a mixture per state, ...).  It is driven by the same engine as the
mixtures (:func:`emkit.em.engine.run_em`, restarts, SQUAREM, the strict
monotonicity check): the E-step of a chunk of whole sequences
(:class:`~emkit.hmm.sources.SequenceChunk`) is

1. the emission log-densities of all its rows, in bulk, by the family
   (``family.log_prob``);
2. forward-backward over its sequences (:mod:`emkit.hmm._recursions`),
   giving each sequence's log-likelihood, the state posteriors and the
   expected start and transition counts;
3. the family's statistics of the rows with the posteriors (times the
   sequence weights) as responsibilities.

Those statistics add over chunks as the mixtures' do, and the M-step is the
chain's closed form plus the family's own.  The objective is the
log-likelihood per observation (plus the log prior with MAP priors).

Missing observations (NaN) are the family's business: their terms are left
out of the log-density (a fully missing row has density 1 under every
state), so the chain still carries the state through them.  Known states
(semi-supervised EM) restrict a row's density to its state: the objective is
then the joint log p(x, known states), as for partially labelled mixtures.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ..em.statistics import SufficientStatistics
from ..families.base import ComponentFamily
from ..families.mixture import EMPTY_COMPONENT_FRACTION
from . import _recursions
from .sources import SequenceChunk

#: Largest |sum - 1| of a probability vector that from_vector renormalises.
SIMPLEX_ATOL = 1e-9
#: The family evaluates a long chunk (one long sequence) in blocks of this many rows,
#: so that its work arrays (e.g. (rows, K, D) for full Gaussians) stay bounded: memory
#: beyond the data is O(chunk x K) for the recursions plus O(block x K x D).
EMISSION_BLOCK_ROWS = 65_536
#: Chain parameter groups ``fixed`` may hold (besides the family's).
CHAIN_GROUPS = ("startprob", "transmat")


@dataclasses.dataclass(frozen=True)
class HMMParams:
    """Start probabilities (K,), transition matrix (K, K) and the emission parameters."""

    startprob: np.ndarray
    transmat: np.ndarray
    emission: Any


@dataclasses.dataclass(frozen=True)
class HMMStatistics(SufficientStatistics):
    """Expected counts of the chain and the family's statistics.

    Attributes
    ----------
    start : ndarray (K,)
        Weighted expected first states.
    transitions : ndarray (K, K)
        Weighted expected transitions i -> j.
    occupancy : ndarray (K,)
        Weighted expected rows per state.
    emission : SufficientStatistics
        The family's statistics with the state posteriors as responsibilities.
    """

    start: np.ndarray
    transitions: np.ndarray
    occupancy: np.ndarray
    emission: Any


def dirichlet_map(counts: np.ndarray, concentration: np.ndarray, allowed: np.ndarray,
                  previous: np.ndarray | None) -> np.ndarray:
    """MAP probabilities (rows of the last axis) under Dirichlet priors, with structural zeros.

    ``(counts + a - 1) / sum`` over the ``allowed`` entries (``a >= 1``: the
    mode exists and is this closed form); disallowed entries are 0.  A row
    without counts or prior mass keeps ``previous`` (uniform over the allowed
    entries when there is none).
    """
    numerator = np.where(allowed, counts + (concentration - 1.0), 0.0)
    np.maximum(numerator, 0.0, out=numerator)  # rounding of ~0 counts
    total = numerator.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = numerator / total
    empty = ~(total[..., 0] > 0)
    if empty.any():
        if previous is not None:
            out[empty] = previous[empty]
        else:
            uniform = allowed / allowed.sum(axis=-1, keepdims=True)
            out[empty] = uniform[empty]
    return out


class HiddenMarkovModel:
    """A hidden Markov model with emissions from one family, for the EM engine.

    Parameters
    ----------
    family : ComponentFamily
        The emission family (its "components" are the states).
    n_states : int
    startprob_prior : ndarray (K,)
        Dirichlet concentrations of the start probabilities (>= 1; 1 is flat).
    transmat_prior : ndarray (K, K)
        Dirichlet concentrations of every row of the transition matrix
        (>= 1; a larger diagonal is a "sticky" prior).
    start_allowed, trans_allowed : ndarray of bool, (K,), (K, K)
        Structure: disallowed entries are structural zeros (never fitted).
    fixed : iterable of str
        "startprob", "transmat", "emission" hold those groups at their
        current values (an ECM step: the others get their conditional
        maximisers, so EM stays monotone).  Family-specific groups are the
        family's business (see :class:`emkit.hmm.emissions`).
    n_rows : int, optional
        Rows of the data being fitted (chooses compiled kernels with
        ``kernels="auto"``).
    """

    def __init__(self, family: ComponentFamily, n_states: int, *,
                 startprob_prior: np.ndarray | None = None,
                 transmat_prior: np.ndarray | None = None,
                 start_allowed: np.ndarray | None = None,
                 trans_allowed: np.ndarray | None = None,
                 fixed=(), n_rows: int | None = None):
        K = int(n_states)
        self.family = family
        self.n_states = K
        self.startprob_prior = np.ones(K) if startprob_prior is None else np.asarray(
            startprob_prior, dtype=float)
        self.transmat_prior = np.ones((K, K)) if transmat_prior is None else np.asarray(
            transmat_prior, dtype=float)
        self.start_allowed = np.ones(K, bool) if start_allowed is None else np.asarray(
            start_allowed, dtype=bool)
        self.trans_allowed = np.ones((K, K), bool) if trans_allowed is None else np.asarray(
            trans_allowed, dtype=bool)
        self.fixed = frozenset(fixed)
        self.n_rows = n_rows
        #: Messages naming sequences of probability 0 met by E-steps (see soft_e_step).
        self.impossible: list[str] = []
        #: Relative float noise of the objective (None: float64's).
        self.objective_rtol: float | None = getattr(family, "objective_rtol", None)

    # --- engine interface ---------------------------------------------------
    def log_joint(self, params, X):
        raise TypeError("a hidden Markov model has no per-row log joint: its E-step is "
                        "forward-backward over whole sequences (a SequenceSource's chunks)")

    @staticmethod
    def _blocks(n: int) -> list[slice]:
        return [slice(start, min(start + EMISSION_BLOCK_ROWS, n))
                for start in range(0, n, EMISSION_BLOCK_ROWS)] or [slice(0, 0)]

    def emission_log_prob(self, params: HMMParams, chunk: SequenceChunk) -> np.ndarray:
        """(n, K) emission log-densities of a chunk, restricted to any known states."""
        X = chunk.X
        blocks = self._blocks(X.shape[0])
        if len(blocks) == 1:
            log_b = np.asarray(self.family.log_prob(params.emission, X), dtype=np.float64)
        else:
            log_b = np.empty((X.shape[0], self.n_states))
            for rows in blocks:
                log_b[rows] = self.family.log_prob(params.emission, X[rows])
        if chunk.labels is not None:
            known = np.flatnonzero(chunk.labels >= 0)
            if known.size:
                keep = log_b[known, chunk.labels[known]]
                log_b[known] = -np.inf
                log_b[known, chunk.labels[known]] = keep
        return log_b

    def posteriors(self, params: HMMParams, chunk: SequenceChunk,
                   weights: np.ndarray | None = None) -> _recursions.Posteriors:
        """Forward-backward over the chunk's sequences."""
        log_b = self.emission_log_prob(params, chunk)
        return _recursions.forward_backward(
            log_b, chunk.offsets, params.startprob, params.transmat,
            chunk.weights if weights is None else weights,
            _recursions.use_compiled(self.n_rows or chunk.X.shape[0]))

    def soft_e_step(self, params: HMMParams, chunk: SequenceChunk, w: np.ndarray):
        """The fused E-step of a chunk: (weighted log-likelihood sum, statistics).

        A sequence of positive weight with probability 0 makes the objective
        -inf (the engine then refuses the parameters; an accelerator rejects
        them as a candidate); :attr:`impossible` records a message naming it.
        """
        post = self.posteriors(params, chunk)
        positive = chunk.weights > 0
        impossible = np.flatnonzero(positive & ~(post.loglik > -np.inf))
        if impossible.size:
            self.impossible.append(impossible_message(chunk, int(impossible[0]),
                                                      "the current parameters"))
            post.gamma[:] = 0.0
        objective = float(chunk.weights[positive] @ post.loglik[positive]) if \
            not impossible.size else -np.inf
        resp = post.gamma
        if not np.all(chunk.weights == 1.0):
            resp *= w[:, None]
        emission = None
        for rows in self._blocks(chunk.X.shape[0]):
            part = self.family.statistics(params.emission, chunk.X[rows], resp[rows])
            emission = part if emission is None else emission + part
        return objective, HMMStatistics(post.start, post.transitions, post.occupancy, emission)

    def maximize(self, stats: HMMStatistics, params: HMMParams | None = None) -> HMMParams:
        """Chain probabilities (MAP under the Dirichlet priors) and the family's M-step.

        A state with no posterior mass keeps its previous parameters (a
        :class:`UserWarning` names it); at initialisation it is an error.
        """
        empty = stats.occupancy < EMPTY_COMPONENT_FRACTION * stats.occupancy.sum()
        if empty.any():
            which = np.flatnonzero(empty).tolist()
            if params is None:
                raise ValueError(f"state(s) {which} received no data at initialisation; use "
                                 "fewer states or another init_params")
            warnings.warn(f"state(s) {which} became empty (no posterior mass); they keep "
                          "their previous parameters. Consider fewer states.",
                          UserWarning, stacklevel=2)
        previous = None if params is None else params
        if previous is not None and "startprob" in self.fixed:
            startprob = previous.startprob
        else:
            startprob = dirichlet_map(stats.start, self.startprob_prior, self.start_allowed,
                                      None if previous is None else previous.startprob)
        if previous is not None and "transmat" in self.fixed:
            transmat = previous.transmat
        else:
            transmat = dirichlet_map(stats.transitions, self.transmat_prior,
                                     self.trans_allowed,
                                     None if previous is None else previous.transmat)
        if previous is not None and "emission" in self.fixed:
            emission = previous.emission
        else:
            with warnings.catch_warnings():  # the chain reports empty states above
                warnings.filterwarnings("ignore", message=r"component\(s\) .* became empty")
                emission = self.family.maximize(
                    stats.emission, None if previous is None else previous.emission)
        return HMMParams(startprob, transmat, emission)

    def log_prior(self, params: HMMParams) -> float:
        """Dirichlet log-densities of the chain (up to constants) plus the family's prior."""
        value = 0.0 if "emission" in self.fixed else float(self.family.log_prior(
            params.emission))
        for p, a, allowed, group in (
                (params.startprob, self.startprob_prior, self.start_allowed, "startprob"),
                (params.transmat, self.transmat_prior, self.trans_allowed, "transmat")):
            active = allowed & (a != 1.0)
            if group in self.fixed or not active.any():
                continue
            with np.errstate(divide="ignore"):
                value += float(((a[active] - 1.0) * np.log(p[active])).sum())
        return value

    @property
    def has_prior(self) -> bool:
        return bool((self.startprob_prior != 1.0).any() or (self.transmat_prior != 1.0).any()
                    or getattr(self.family, "has_prior", False))

    def step_deficit(self, stats: HMMStatistics, new_params: HMMParams,
                     params: HMMParams | None = None) -> float:
        """The family's M-step deficit per unit weight (0 for exact M-steps)."""
        if "emission" in self.fixed:
            return 0.0
        deficit = self.family.step_deficit(stats.emission, new_params.emission,
                                           None if params is None else params.emission)
        total = float(stats.occupancy.sum())
        return float(deficit) / total if deficit and total > 0 else 0.0

    # --- parameter vectors (EM acceleration) ----------------------------------
    def to_vector(self, params: HMMParams) -> np.ndarray:
        return np.concatenate([np.asarray(params.startprob, dtype=float),
                               np.ravel(params.transmat).astype(float),
                               self.family.to_vector(params.emission)])

    def from_vector(self, vector: np.ndarray, like: HMMParams) -> HMMParams | None:
        """Parameters from a vector, or None when a probability row leaves the simplex
        (or a structural zero is not 0) or the family rejects its part."""
        vector = np.asarray(vector, dtype=float)
        K = self.n_states
        size = K + K * K + self.family.vector_size(like.emission)
        if vector.shape != (size,):
            raise ValueError(f"parameter vector must have shape ({size},), got {vector.shape}")
        if not np.isfinite(vector).all():
            return None
        startprob = _simplex_rows(vector[:K], self.start_allowed)
        transmat = _simplex_rows(vector[K:K + K * K].reshape(K, K), self.trans_allowed)
        if startprob is None or transmat is None:
            return None
        emission = self.family.from_vector(vector[K + K * K:], like.emission)
        if emission is None:
            return None
        return HMMParams(startprob, transmat, emission)

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: HMMParams) -> int:
        """Free parameters of the chain (structural zeros and fixed groups excluded)
        plus the family's (0 when the emission is fixed)."""
        count = 0
        if "startprob" not in self.fixed:
            count += max(int(self.start_allowed.sum()) - 1, 0)
        if "transmat" not in self.fixed:
            count += int(np.maximum(self.trans_allowed.sum(axis=1) - 1, 0).sum())
        if "emission" not in self.fixed:
            count += int(self.family.n_parameters(params.emission))
        return count

    def sample_states(self, params: HMMParams, n_samples: int, rng: np.random.Generator,
                      currstate: int | None = None) -> np.ndarray:
        """One state path of ``n_samples`` steps (from ``currstate`` if given)."""
        cumulative = np.cumsum(params.transmat, axis=1)
        states = np.empty(n_samples, dtype=np.intp)
        u = rng.random(n_samples)
        if currstate is None:
            state = int(np.searchsorted(np.cumsum(params.startprob), u[0] *
                                        params.startprob.sum(), side="right"))
        else:
            state = int(currstate)
        K = self.n_states
        states[0] = min(state, K - 1)
        for t in range(1, n_samples):
            row = cumulative[states[t - 1]]
            states[t] = min(int(np.searchsorted(row, u[t] * row[-1], side="right")), K - 1)
        return states


def _simplex_rows(values: np.ndarray, allowed: np.ndarray) -> np.ndarray | None:
    """Rows of probabilities renormalised, or None when one is off the simplex or a
    structural zero is not 0."""
    if (values < 0).any() or (values[~allowed] != 0).any():
        return None
    total = values.sum(axis=-1, keepdims=True)
    if np.any(np.abs(total - 1.0) > SIMPLEX_ATOL):
        return None
    return values / total


def impossible_message(chunk: SequenceChunk, s: int, where: str) -> str:
    """A one-line error message naming a sequence of probability 0 and its rows."""
    lo, hi = chunk.sequence_rows(s)
    return (
        f"sequence {chunk.first_sequence + s} (rows {lo} to {hi - 1} of X) has probability 0 "
        f"under {where}: no state path can emit it (a value no state can produce, or "
        "transitions that are structural zeros); use a prior (alpha > 0) or other "
        "starting values"
    )
