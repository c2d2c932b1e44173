"""BaseHMM: what every HMM estimator shares (fit, decoding, scoring, sampling, criteria).

A concrete estimator lists its parameters in ``__init__`` (scikit-learn's
rule) and returns its emission adapter from ``_emission()``
(:mod:`emkit.hmm.emissions`).  Fitting runs the shared EM engine on a
:class:`~emkit.hmm.model.HiddenMarkovModel` over a
:class:`~emkit.hmm.sources.SequenceSource`.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._config import effective_threads
from .._validation import check_int, check_option, check_partial_labels, check_real
from ..em.accelerate import check_accelerate
from ..em.engine import _blas_controller, _ordered_map
from ..models._base import fit_with_restarts
from ..models._mixture import random_generator
from ..sources import default_chunk_size
from . import _recursions
from ._start import (
    INIT_METHODS,
    chain_start,
    complete,
    from_fields,
    merge_values,
    state_responsibilities,
)
from .dask import is_dask_input, open_dask
from .emissions import Emission
from .model import CHAIN_GROUPS, HiddenMarkovModel, HMMParams, impossible_message
from .sources import (
    SequenceSource,
    check_lengths,
    check_sequence_weight,
    split_sequences,
    with_sequence,
)

#: ``transmat_mask`` shortcuts.
MASKS = ("full", "left-right", "bakis")
DECODERS = ("viterbi", "map")


def transition_mask(mask, n_states: int) -> np.ndarray:
    """Allowed transitions (K, K) from ``transmat_mask``.

    None or "full": every transition; "left-right": to the same or a later
    state (j >= i); "bakis": to the same or the next state; or a (K, K)
    array-like of booleans.
    """
    K = n_states
    if mask is None or (isinstance(mask, str) and mask == "full"):
        return np.ones((K, K), dtype=bool)
    if isinstance(mask, str):
        check_option(mask, "transmat_mask", MASKS)
        upper = np.triu(np.ones((K, K), dtype=bool))
        return upper if mask == "left-right" else upper & ~np.triu(upper, 2)
    allowed = np.asarray(mask)
    if allowed.shape != (K, K):
        raise ValueError(f"transmat_mask must have shape ({K}, {K}) or be one of "
                         f"{list(MASKS)}, got shape {allowed.shape}")
    if allowed.dtype != bool and not np.isin(allowed, (0, 1)).all():
        raise ValueError("transmat_mask must hold booleans (True: allowed transition)")
    return allowed.astype(bool)


def _probabilities(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """User-given probabilities: finite, non-negative, every row summing to 1 (named)."""
    p = np.asarray(value, dtype=float)
    if p.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must hold finite non-negative probabilities")
    sums = p.sum(axis=-1)
    bad = np.flatnonzero(np.abs(np.atleast_1d(sums) - 1.0) > 1e-6)
    if bad.size:
        if p.ndim == 1:
            raise ValueError(f"{name} must sum to 1, got sum {float(sums):.6g}")
        raise ValueError(f"{name} row {bad[0]} sums to {sums[bad[0]]:.6g}: every row must "
                         "sum to 1")
    return p / p.sum(axis=-1, keepdims=True)


def _concentration(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Dirichlet concentrations: a number or an array of ``shape``, every entry >= 1."""
    a = np.broadcast_to(np.asarray(value, dtype=float), shape).copy() if np.ndim(value) == 0 \
        else np.asarray(value, dtype=float)
    if a.shape != shape:
        raise ValueError(f"{name} must be a number or have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all() or (a < 1.0).any():
        raise ValueError(f"{name} must be finite Dirichlet concentrations >= 1 (1 is flat; "
                         "below 1 the posterior has no mode)")
    return a


class BaseHMM(BaseEstimator):
    """Shared behaviour of the HMM estimators (not used directly)."""

    # ------------------------------------------------------------ hooks
    def _emission(self) -> Emission:
        raise NotImplementedError

    # ------------------------------------------------------------ checks
    def _check_parameters(self) -> None:
        check_int(self.n_components, "n_components", 1)
        check_real(self.tol, "tol", 0.0)
        check_int(self.max_iter, "max_iter", 0)
        check_int(self.n_init, "n_init", 1)
        check_option(self.init_params, "init_params", INIT_METHODS)
        check_option(self.algorithm, "algorithm", DECODERS)
        check_real(self.sticky, "sticky", 0.0)
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", 1)
        check_accelerate(self.accelerate)

    def _fixed(self, emission: Emission) -> frozenset:
        """Validated ``fixed``: known groups, each with its starting value given."""
        fixed = (self.fixed,) if isinstance(self.fixed, str) else self.fixed
        try:
            groups = frozenset(fixed)
        except TypeError:
            raise ValueError(f"fixed must be a tuple of parameter groups, got "
                             f"{self.fixed!r}") from None
        needs = {"startprob": "startprob_init", "transmat": "transmat_init",
                 "emission": "the emission's starting values", **emission.fixed_groups}
        unknown = groups - needs.keys()
        if unknown:
            raise ValueError(f"fixed must contain only {sorted(needs)}, got "
                             f"{sorted(map(str, unknown))}")
        for group in sorted(groups - {"emission"}):
            if group in emission.fixed_groups:
                given = emission.given(group)
            else:
                given = getattr(self, needs[group], None) is not None
            if not given:
                raise ValueError(f"fixed contains {group!r} but {needs[group]} is not given: a "
                                 "fixed group is held at its starting value, so provide it")
        return groups

    def _structure(self, K: int) -> dict:
        """Allowed entries (structural zeros) and Dirichlet concentrations of the chain."""
        trans_allowed = transition_mask(self.transmat_mask, K)
        start_allowed = np.ones(K, dtype=bool)
        if self.transmat_init is not None:
            init = _probabilities(self.transmat_init, "transmat_init", (K, K))
            outside = np.argwhere((init > 0) & ~trans_allowed)
            if outside.size:
                i, j = outside[0]
                raise ValueError(f"transmat_init[{i}, {j}] = {init[i, j]:.6g} but transmat_mask "
                                 f"forbids the transition {i} -> {j}")
            trans_allowed &= init > 0  # zeros of transmat_init are structural
        if self.startprob_init is not None:
            start_allowed &= _probabilities(self.startprob_init, "startprob_init", (K,)) > 0
        empty = np.flatnonzero(~trans_allowed.any(axis=1))
        if empty.size:
            raise ValueError(f"transmat_mask allows no transition out of state {empty[0]}")
        transmat_prior = _concentration(self.transmat_prior, "transmat_prior", (K, K))
        transmat_prior = transmat_prior + float(self.sticky) * np.eye(K)
        return dict(start_allowed=start_allowed, trans_allowed=trans_allowed,
                    startprob_prior=_concentration(self.startprob_prior, "startprob_prior",
                                                   (K,)),
                    transmat_prior=transmat_prior)

    # ------------------------------------------------------------ data
    def _validate(self, X, lengths, *, reset: bool):
        """(X in the family's form, lengths); errors name the sequence and row."""
        X, list_lengths = split_sequences(X)
        if list_lengths is not None:
            if lengths is not None and not np.array_equal(np.asarray(lengths), list_lengths):
                raise ValueError("lengths disagrees with the sequences given as a list; give "
                                 "one or the other")
            lengths = list_lengths
        lengths = check_lengths(lengths, _num_samples(X))
        try:
            X = self._emission().validate(self, X, reset=reset)
        except ValueError as exc:
            raise with_sequence(exc, lengths) from None
        return X, lengths

    def _warm(self) -> bool:
        if not (self.warm_start and hasattr(self, "transmat_")):
            return False
        reason = None
        if self.transmat_.shape[0] != self.n_components:
            reason = (f"the fitted model has {self.transmat_.shape[0]} states but "
                      f"n_components={self.n_components}")
        else:
            emission = self._emission()
            try:
                family = emission.family(self, self.n_features_in_)
                reason = emission.fitted_mismatch(self, family, self._params(family).emission)
            except (ValueError, AttributeError, KeyError, IndexError) as exc:
                reason = f"the fitted emission parameters do not fit the settings ({exc})"
        if reason is not None:
            warnings.warn(f"warm_start ignored: {reason}; fitting from a new start",
                          UserWarning, stacklevel=3)
            return False
        return True

    def _model(self, emission: Emission, family, n_rows: int | None, fixed: frozenset,
               structure: dict) -> HiddenMarkovModel:
        emission.configure_fixed(family, fixed)
        return HiddenMarkovModel(family, self.n_components,
                                 fixed=fixed & {*CHAIN_GROUPS, "emission"}, n_rows=n_rows,
                                 **structure)

    def _fitted_model(self, emission: Emission, family, n_rows: int | None
                      ) -> HiddenMarkovModel:
        """The engine model of the fitted estimator (its structure and fixed groups)."""
        return self._model(emission, family, n_rows, self._fitted_fixed,
                           self._fitted_structure)

    # ------------------------------------------------------------ fitting
    def fit(self, X, lengths=None, y=None, sample_weight=None):
        """Estimate the parameters with EM (Baum-Welch).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a list of such arrays
            The rows of all sequences one after the other (a list: one array
            per sequence, and ``lengths`` is then read from it).  NaN marks a
            missing value; a fully missing row still carries the state.  A
            dask array or data frame is fitted on its blocks, where they are
            (:mod:`emkit.hmm.dask`; ``y`` may then be a dask array too).
        lengths : array-like of int, optional
            Length of every sequence (summing to n_samples); None: one sequence.
        y : array-like of shape (n_samples,), optional
            Read only with ``semi_supervised=True``: the known state of every
            row, -1 where unknown.
        sample_weight : array-like of shape (n_sequences,), optional
            Non-negative weight of every sequence (weight 2 = the sequence twice).

        Returns
        -------
        self
        """
        self._check_parameters()
        warm = self._warm()
        emission = self._emission()
        fixed = self._fixed(emission)
        rng = check_random_state(self.random_state)
        K = self.n_components
        if is_dask_input(X):
            source, init = open_dask(self, X, lengths, y, sample_weight, fitting=True,
                                     reset=not warm, rng=rng)
        else:
            source = init = self._memory_source(X, lengths, y, sample_weight, reset=not warm)
        D = init.X.shape[1]
        family = emission.family(self, D)
        model = self._model(emission, family, source.n_samples, fixed, self._structure(K))
        if init is source:
            family.prepare(init.X, init.sample_weight)
        else:  # the initialisation sample: no per-chunk caches (chunks are built anew)
            family.prepare(init.X, init.sample_weight, cache_chunks=False)
        tried: list[HMMParams] = []  # the starting parameters (to name an impossible row)
        if warm:
            current = self._params(family)
            tried.append(current)
            starts, n_init = (lambda: current), 1
        else:
            user = emission.initial_values(self, K, D)
            if "emission" in fixed and not complete(family, user):
                raise ValueError("fixed contains 'emission' but its starting values are not "
                                 f"all given ({', '.join(emission.init_names.values())}): a "
                                 "fixed group is held at its starting value, so provide it")

            def starts():
                tried.append(self._initial_params(model, emission, init, rng, user))
                return tried[-1]
            n_init = self.n_init
        try:
            result = fit_with_restarts(model, starts, source, n_init=n_init, tol=self.tol,
                                       max_iter=self.max_iter, verbose=self.verbose,
                                       accelerate=self.accelerate)
        except ValueError as exc:
            if str(exc).startswith("the EM objective is") and tried:
                message = model.impossible[-1] if model.impossible else \
                    self._impossible(model, tried[-1], source)
                if message is not None:
                    raise ValueError(message) from None
            raise
        self._fitted_structure = {key: getattr(model, key) for key in (
            "start_allowed", "trans_allowed", "startprob_prior", "transmat_prior")}
        self._fitted_fixed = fixed
        self._set_params(result.params, emission)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bounds_ = result.objective_history
        self.lower_bound_ = result.objective
        return self

    def _impossible(self, model: HiddenMarkovModel, params: HMMParams, source) -> str | None:
        """The message naming the first sequence of probability 0 under ``params`` (when
        the E-steps ran where ``model.impossible`` is not seen: Dask worker processes)."""
        if not hasattr(source, "map_chunks"):
            return None

        def check(chunk):
            loglik = model.posteriors(params, chunk).loglik
            bad = np.flatnonzero((chunk.weights > 0) & ~(loglik > -np.inf))
            return impossible_message(chunk, int(bad[0]), "the current parameters") \
                if bad.size else None

        return next((m for m in self._map_chunks(check, source) if m is not None), None)

    def _memory_source(self, X, lengths, y, sample_weight, *, reset: bool) -> SequenceSource:
        """X in memory, checked, as a :class:`SequenceSource` for fitting."""
        X, lengths = self._validate(X, lengths, reset=reset)
        n = int(lengths.sum())
        K = self.n_components
        if n < K:
            raise ValueError(f"X has {n} rows but n_components={K}: need at least as many rows "
                             "as states")
        labels = None
        if self.semi_supervised:
            if y is None:
                raise ValueError("semi_supervised=True needs y: the known state of every row, "
                                 "-1 where unknown")
            labels = check_partial_labels(y, n, K)
        weights = check_sequence_weight(sample_weight, lengths.shape[0])
        chunk_size = self.chunk_size or default_chunk_size(n, 4 * K + X.shape[1])
        return SequenceSource(X, lengths, weights, chunk_size, labels)

    def fit_predict(self, X, lengths=None, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the Viterbi path of X."""
        X, given = split_sequences(X)
        lengths = given if given is not None else lengths
        return self.fit(X, lengths, y, sample_weight).predict(X, lengths)

    def _initial_params(self, model: HiddenMarkovModel, emission: Emission,
                        source: SequenceSource, rng, user: dict) -> HMMParams:
        K = self.n_components
        family = model.family
        if complete(family, user):
            start = from_fields(family, user)
            resp = None
        else:
            view = np.asarray(family.init_view(source.X), dtype=np.float64)
            resp = state_responsibilities(self.init_params, view, source, K, rng)
            if source.state_labels is not None:
                known = source.state_labels >= 0
                resp[known] = np.eye(K)[source.state_labels[known]]
            smoothing = float(getattr(family, "start_smoothing", 0.0))
            if smoothing:
                free = slice(None) if source.state_labels is None else \
                    source.state_labels < 0
                resp[free] = (1.0 - smoothing) * resp[free] + smoothing / K
            start = emission.start(family, source.X, source.sample_weight, resp, rng,
                                   source.chunk_size)
            if user:
                start = merge_values(family, start, user)
        if self.startprob_init is not None and self.transmat_init is not None:
            startprob = _probabilities(self.startprob_init, "startprob_init", (K,))
            transmat = _probabilities(self.transmat_init, "transmat_init", (K, K))
        else:
            if resp is None:
                resp = np.full((source.n_samples, K), 1.0 / K)
            startprob, transmat = chain_start(resp, source, model.start_allowed,
                                              model.trans_allowed)
            if self.startprob_init is not None:
                startprob = _probabilities(self.startprob_init, "startprob_init", (K,))
            if self.transmat_init is not None:
                transmat = _probabilities(self.transmat_init, "transmat_init", (K, K))
        return HMMParams(startprob, transmat, start)

    # ------------------------------------------------------------ fitted state
    def _set_params(self, params: HMMParams, emission: Emission) -> None:
        self.startprob_ = params.startprob
        self.transmat_ = params.transmat
        emission.export(self, params.emission)

    def _params(self, family=None) -> HMMParams:
        emission = self._emission()
        if family is None:
            family = emission.family(self, self.n_features_in_)
        return HMMParams(self.startprob_, self.transmat_, emission.restore(self, family))

    def _inference(self, X, lengths):
        """(model, params, source) to score or decode X with the fitted parameters."""
        check_is_fitted(self, "transmat_")
        emission = self._emission()
        if is_dask_input(X):
            source = open_dask(self, X, lengths, None, None, fitting=False, reset=False)[0]
        else:
            X, lengths = self._validate(X, lengths, reset=False)
            n = int(lengths.sum())
            chunk_size = default_chunk_size(n, 4 * self.n_components + X.shape[1])
            source = SequenceSource(X, lengths, None, chunk_size)
        family = emission.family(self, self.n_features_in_)
        model = self._fitted_model(emission, family, source.n_samples)
        return model, self._params(family), source

    @staticmethod
    def _map_chunks(function, source):
        """``function(chunk)`` for every chunk, in order: on the E-step threads, or on the
        Dask blocks' workers."""
        if hasattr(source, "map_chunks"):
            yield from source.map_chunks(lambda item: function(item[0]))
            return
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield from _ordered_map(lambda item: function(item[0]), source.chunks(),
                                    effective_threads())

    def _forward_backward(self, X, lengths, *, refuse_impossible: bool, posteriors: bool = True):
        """(log-likelihood per sequence, posteriors (n, K) or None) of X."""
        model, params, source = self._inference(X, lengths)
        loglik = np.empty(source.n_sequences)
        gamma = np.empty((source.n_samples, self.n_components)) if posteriors else None

        def run(chunk):
            post = model.posteriors(params, chunk)
            if refuse_impossible:
                bad = np.flatnonzero(~(post.loglik > -np.inf))
                if bad.size:
                    raise ValueError(impossible_message(chunk, int(bad[0]),
                                                        "the fitted model"))
            return (chunk.first_sequence, chunk.first_row, post.loglik,
                    post.gamma if posteriors else None)

        for first_sequence, first_row, chunk_loglik, chunk_gamma in self._map_chunks(
                run, source):
            loglik[first_sequence:first_sequence + chunk_loglik.shape[0]] = chunk_loglik
            if posteriors:
                gamma[first_row:first_row + chunk_gamma.shape[0]] = chunk_gamma
        return loglik, gamma

    # ------------------------------------------------------------ inference
    def score_sequences(self, X, lengths=None) -> np.ndarray:
        """Log-likelihood ``log p(x_s)`` of every sequence, shape (n_sequences,)."""
        return self._forward_backward(X, lengths, refuse_impossible=False,
                                      posteriors=False)[0]

    def score(self, X, lengths=None) -> float:
        """Total log-likelihood of X (the sum over its sequences), as hmmlearn's ``score``.

        (scikit-learn's density estimators return a mean per row; an HMM's
        rows are not independent, so the total is the meaningful quantity.)
        """
        return float(self.score_sequences(X, lengths).sum())

    def score_samples(self, X, lengths=None) -> tuple[float, np.ndarray]:
        """Total log-likelihood of X and the state posteriors (n_samples, n_components),
        as hmmlearn's ``score_samples``."""
        loglik, gamma = self._forward_backward(X, lengths, refuse_impossible=True)
        return float(loglik.sum()), gamma

    def predict_proba(self, X, lengths=None) -> np.ndarray:
        """State posteriors ``p(z_t = k | x)`` (smoothing), shape (n_samples, n_components).

        Raises
        ------
        ValueError
            A sequence has probability 0 under the model (naming it and its rows).
        """
        return self._forward_backward(X, lengths, refuse_impossible=True)[1]

    def decode(self, X, lengths=None, algorithm: str | None = None) -> tuple[float, np.ndarray]:
        """The most probable states of X.

        Parameters
        ----------
        X, lengths
            As :meth:`fit`.
        algorithm : {"viterbi", "map"}, optional
            "viterbi": the most probable state *path* (its log-probability
            ``log p(x, path)`` summed over the sequences is returned); "map":
            the most probable state of every row (posterior decoding; the
            returned value is then the log-likelihood ``log p(x)``).  Default:
            the ``algorithm`` parameter.

        Returns
        -------
        log_prob : float
        states : ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            A sequence has probability 0 under the model (naming it).
        """
        algorithm = check_option(algorithm or self.algorithm, "algorithm", DECODERS)
        if algorithm == "map":
            loglik, gamma = self._forward_backward(X, lengths, refuse_impossible=True)
            return float(loglik.sum()), np.argmax(gamma, axis=1)
        model, params, source = self._inference(X, lengths)
        best = np.empty(source.n_sequences)
        path = np.empty(source.n_samples, dtype=np.intp)
        compiled = _recursions.use_compiled(source.n_samples)

        def run(chunk):
            log_b = model.emission_log_prob(params, chunk)
            chunk_best, chunk_path = _recursions.viterbi(log_b, chunk.offsets, params.startprob,
                                                         params.transmat, compiled)
            bad = np.flatnonzero(~(chunk_best > -np.inf))
            if bad.size:
                raise ValueError(impossible_message(chunk, int(bad[0]), "the fitted model"))
            return chunk.first_sequence, chunk.first_row, chunk_best, chunk_path

        for first_sequence, first_row, chunk_best, chunk_path in self._map_chunks(run, source):
            best[first_sequence:first_sequence + chunk_best.shape[0]] = chunk_best
            path[first_row:first_row + chunk_path.shape[0]] = chunk_path
        return float(best.sum()), path

    def predict(self, X, lengths=None) -> np.ndarray:
        """The decoded states of X (``algorithm``: Viterbi path by default)."""
        return self.decode(X, lengths)[1]

    def sample(self, n_samples: int = 1, random_state=None, currstate: int | None = None):
        """Draw one sequence from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Its length.
        random_state : int, Generator, RandomState or None
            None uses the estimator's ``random_state`` (repeated calls repeat
            the draws, as in scikit-learn).
        currstate : int, optional
            The first state (default: drawn from ``startprob_``).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "transmat_")
        n_samples = check_int(n_samples, "n_samples", 1)
        if currstate is not None:
            currstate = check_int(currstate, "currstate", 0)
            if currstate >= self.n_components:
                raise ValueError(f"currstate must be a state 0..{self.n_components - 1}, got "
                                 f"{currstate}")
        rng = random_generator(self.random_state if random_state is None else random_state)
        emission = self._emission()
        family = emission.family(self, self.n_features_in_)
        params = self._params(family)
        model = HiddenMarkovModel(family, self.n_components)
        states = model.sample_states(params, n_samples, rng, currstate)
        return emission.decode(self, family.sample(params.emission, states, rng)), states

    # ------------------------------------------------------------ criteria
    def n_parameters(self) -> int:
        """Free parameters of the fitted model (structural zeros and fixed groups excluded)."""
        check_is_fitted(self, "transmat_")
        emission = self._emission()
        family = emission.family(self, self.n_features_in_)
        fixed = self._fitted_fixed
        model = self._fitted_model(emission, family, None)
        params = self._params(family)
        count = model.n_parameters(params)
        if "emission" not in fixed:
            count -= emission.n_fixed_parameters(family, params.emission, fixed)
        return int(count)

    def bic(self, X, lengths=None) -> float:
        """Bayesian information criterion ``-2 log L + p log n`` (n: rows of X; smaller is
        better)."""
        X, given = split_sequences(X)
        lengths = given if given is not None else lengths
        n = _num_samples(X) if lengths is None else int(np.sum(lengths))  # (dask frames)
        return -2.0 * self.score(X, lengths) + self.n_parameters() * np.log(n)

    def aic(self, X, lengths=None) -> float:
        """Akaike information criterion ``-2 log L + 2 p`` (smaller is better)."""
        return -2.0 * self.score(X, lengths) + 2.0 * self.n_parameters()
