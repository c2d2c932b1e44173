"""EM variants as schedules of phases around the engine's one loop.

Each phase is a :func:`~emkit.em.engine.run_em` run with one assignment of
the engine (:data:`~emkit.em.assignments.ASSIGNMENTS`, :class:`~emkit.em.assignments.Tempered`,
:class:`~emkit.em.assignments.Stochastic`); a schedule only chains the phases, so
every variant drives the same model protocol as plain EM and knows no
distribution.  A schedule is passed to ``run_em`` as its ``assignment``.

Deterministic annealing (:class:`AnnealingSchedule`; Ueda & Nakano 1998)
    Levels of inverse temperature ``beta_0 < beta_1 < ... < 1``,
    ``beta_{j+1} = growth * beta_j``: at each level EM with the tempered
    E-step ``r_ik ∝ p(x_i, k | theta) ** beta`` for at most ``n_iter``
    iterations (or until the level's objective changes by less than ``tol``).
    Each level's EM never decreases the annealed free energy
    ``F_beta(theta) = (1 / beta) sum_i w_i log sum_k p(x_i, k | theta) ** beta``
    (per unit weight, plus the log prior for MAP-EM), which the monotonicity
    check watches; its reference is reset when ``beta`` changes (``F_beta``
    is a different function at every level).  Then plain EM (``beta = 1``,
    optionally accelerated) from the last level's parameters to convergence,
    so the run ends at a fixed point of plain EM.
Stochastic EM (:class:`StochasticSchedule`; Celeux & Diebolt 1985)
    ``n_stochastic`` iterations whose E-step draws every row's component from
    its posterior (seeded, reproducible); the log-likelihood is not monotone
    along them, so it is neither checked nor used to stop.  The iterate with
    the highest log-likelihood is kept and plain EM (optionally accelerated)
    runs from it to convergence: the result is a fixed point of plain EM,
    and ``lower_bound_`` its log-likelihood.

Monte Carlo EM (:class:`MonteCarloSchedule`; Wei & Tanner 1990)
    ``n_iter`` iterations whose statistics come from ``S_t`` posterior draws
    per row (weights ``1 / S_t``), ``S_t`` growing geometrically to a cap;
    the log-likelihood is neither checked nor used to stop, the Monte Carlo
    standard error of the estimated ``Q`` is recorded per iteration, and
    plain EM runs from the best iterate to convergence.
Sparse EM (:class:`SparseSchedule`; Neal & Hinton 1998, :mod:`emkit.em.sparse`)
    Partial E-steps on each row's active components with a full E-step every
    ``full_every`` iterations; the free energy ``F(q, theta)`` (a lower
    bound of the log-likelihood) is monitored and never decreases; plain EM
    follows to convergence.

Classification EM (``assignment="hard"``) needs no schedule: it is the
engine's hard assignment (the classification log-likelihood
``sum_i w_i max_k log p(x_i, k | theta)`` never decreases).

References
----------
N. Ueda and R. Nakano (1998), Deterministic annealing EM algorithm, Neural
Networks 11(2), 271-282.
G. Celeux and J. Diebolt (1985), The SEM algorithm: a probabilistic teacher
algorithm derived from the EM algorithm for the mixture problem,
Computational Statistics Quarterly 2, 73-82.
G. C. G. Wei and M. A. Tanner (1990), A Monte Carlo implementation of the EM
algorithm and the poor man's data augmentation algorithms, JASA 85(411),
699-704.
R. M. Neal and G. E. Hinton (1998), A view of the EM algorithm that justifies
incremental, sparse, and other variants, in Learning in Graphical Models.
G. Celeux and G. Govaert (1992), A classification EM algorithm for clustering
and two stochastic versions, Computational Statistics & Data Analysis 14(3),
315-332.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .accelerate import check_accelerate, get_runner
from .checkpoint import RunState
from .engine import EMResult, Stochastic, Tempered, run_em
from .montecarlo import MonteCarlo
from .sparse import SparseAssignment, SparseEM, check_sparse_model

#: ``assignment`` values of the mixture estimators.
ASSIGNMENT_NAMES = ("soft", "hard", "stochastic", "monte-carlo")


@dataclasses.dataclass(frozen=True)
class Annealing:
    """Settings of deterministic annealing.

    Parameters
    ----------
    beta0 : float, default=0.5
        Inverse temperature of the first level, in (0, 1).  Small values
        merge components: for Gaussian components with estimated covariances,
        ``p(x | k) ** beta`` is a Gaussian with covariance ``Sigma_k / beta``, so
        at low ``beta`` every component is pulled to the same mean and
        covariance (a fixed point of EM that plain EM at ``beta = 1`` does not
        leave); see ``docs/variants.md`` for the measured effect.
    growth : float, default=1.2
        Factor > 1 between consecutive levels.
    n_iter : int, default=50
        Largest number of EM iterations per level (a level also ends when its
        annealed free energy changes by less than ``tol``).
    """

    beta0: float = 0.5
    growth: float = 1.2
    n_iter: int = 50

    def betas(self) -> list[float]:
        """The levels' inverse temperatures, all below 1 (plain EM follows)."""
        levels = []
        beta = self.beta0
        while beta < 1.0 - 1e-12:
            levels.append(beta)
            beta *= self.growth
        return levels


def check_annealing(value: Any, name: str = "annealing") -> Annealing | None:
    """``annealing``: None/False (off), True (defaults), a dict of settings or an Annealing."""
    if value is None or value is False:
        return None
    if value is True:
        return Annealing()
    if isinstance(value, Annealing):
        settings = dataclasses.asdict(value)
    elif isinstance(value, Mapping):
        settings = dict(value)
        unknown = sorted(set(map(str, settings)) - {f.name for f in dataclasses.fields(Annealing)})
        if unknown:
            raise ValueError(f"{name} has unknown setting(s) {unknown}; the settings are "
                             "'beta0', 'growth' and 'n_iter'")
    else:
        raise ValueError(f"{name} must be None, True, a dict with 'beta0', 'growth', "
                         f"'n_iter' or an Annealing, got {value!r}")
    result = Annealing(**settings)

    def real(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, bool) and math.isfinite(v)

    if not (real(result.beta0) and 0.0 < result.beta0 < 1.0):
        raise ValueError(f"{name}['beta0'] must be a number in (0, 1), got {result.beta0!r}")
    if not (real(result.growth) and result.growth > 1.0):
        raise ValueError(f"{name}['growth'] must be a number > 1, got {result.growth!r}")
    if not (isinstance(result.n_iter, (int, np.integer)) and not isinstance(result.n_iter, bool)
            and result.n_iter >= 1):
        raise ValueError(f"{name}['n_iter'] must be an integer >= 1, got {result.n_iter!r}")
    if len(result.betas()) > 1000:
        raise ValueError(f"{name} gives more than 1000 levels; raise beta0 or growth")
    return Annealing(float(result.beta0), float(result.growth), int(result.n_iter))


def check_assignment(value: Any, name: str = "assignment") -> str:
    if not isinstance(value, str) or value not in ASSIGNMENT_NAMES:
        raise ValueError(f"{name} must be one of {list(ASSIGNMENT_NAMES)}, got {value!r}")
    return value


@dataclasses.dataclass
class Phase:
    """One phase of a multi-phase run.

    Attributes
    ----------
    name : str
        "anneal" (a tempered level), "stochastic" (SEM) or "em" (plain EM,
        possibly accelerated).
    beta : float
        Inverse temperature of the E-step (1 outside annealing levels).
    n_iter : int
        Iterations of the phase.
    converged : bool
        Whether the phase met its convergence rule (never for "stochastic").
    objective_history : ndarray
        The phase's objective at every iteration: the annealed free energy
        ``F_beta`` per unit weight ("anneal"), the log-likelihood
        ("stochastic", "em").
    """

    name: str
    beta: float
    n_iter: int
    converged: bool
    objective_history: np.ndarray
    #: Further per-phase records: "monte-carlo": ``n_draws`` and
    #: ``mc_standard_error`` per iteration; "sparse": ``n_active``,
    #: ``full_every`` and ``n_full`` (full E-steps).
    details: dict = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "beta": self.beta, "n_iter": self.n_iter,
                "converged": self.converged,
                "objective_history": np.asarray(self.objective_history, dtype=float),
                **self.details}


class _PhaseMonitor:
    """The run's monitor seen through one phase: iterations and history continue
    across phases, and only the last phase ends the run."""

    def __init__(self, monitor, offset: int, history: list, last: bool):
        self.monitor, self.offset, self.history, self.last = monitor, offset, history, last

    def _state(self, state: RunState) -> RunState:
        return dataclasses.replace(state, iteration=self.offset + state.iteration,
                                   history=self.history + list(state.history))

    def iteration(self, state: RunState) -> bool:
        return self.monitor.iteration(self._state(state))

    def end(self, result, state: RunState | None) -> None:
        if self.last or result.stopped:
            self.monitor.end(result, None if state is None else self._state(state))


class _Schedule:
    """Chains phases: each a :func:`run_em` (or accelerated) run from the last one's end."""

    accelerate: str | None = None

    def _phases(self) -> list[tuple[str, Any, float]]:
        raise NotImplementedError

    def _start_of_next(self, result: EMResult, name: str):
        return result.params

    def _details(self, name: str, assignment) -> dict:
        """Further records of a finished phase (:attr:`Phase.details`)."""
        return {}

    def _phase_source(self, name: str, source):
        """The source a phase runs on (sparse EM on Dask wraps it)."""
        return source

    def run_phases(self, model, params, source, *, tol: float, max_iter: int,
                   verbose: int = 0, monitor=None) -> EMResult:
        phases: list[Phase] = []
        history: list[float] = []
        plan = self._phases()
        result = None
        for index, (name, assignment, phase_max_iter) in enumerate(plan):
            last = index == len(plan) - 1
            watch = None if monitor is None else _PhaseMonitor(monitor, len(history),
                                                               list(history), last)
            if verbose:
                beta = getattr(assignment, "beta", 1.0)
                print(f" phase {name} (beta={beta:.4g})", flush=True)
            if last and self.accelerate is not None:
                result = get_runner(self.accelerate)(
                    model, params, source, tol=tol, max_iter=phase_max_iter,
                    verbose=max(0, verbose - 1) if monitor is not None else verbose,
                    monitor=watch)
            else:
                result = run_em(model, params, self._phase_source(name, source), tol=tol,
                                max_iter=phase_max_iter,
                                assignment=assignment, verbose=verbose, monitor=watch)
            phases.append(Phase(name, float(getattr(assignment, "beta", 1.0)), result.n_iter,
                                bool(result.converged), result.objective_history,
                                self._details(name, assignment)))
            history.extend(float(v) for v in result.objective_history)
            if result.stopped:
                break
            params = self._start_of_next(result, name)
        assert result is not None
        return EMResult(
            result.params, np.asarray(history, dtype=float), result.converged,
            n_iter=len(history),
            n_em_evaluations=sum(p.n_iter for p in phases[:-1]) + result.n_em_evaluations,
            n_e_steps=sum(p.n_iter for p in phases[:-1]) + result.n_e_steps,
            n_fallbacks=result.n_fallbacks, stopped=result.stopped, phases=phases)


class AnnealingSchedule(_Schedule):
    """Deterministic annealing EM (see the module docstring).

    ``max_iter`` of the run bounds the final plain EM phase; each level runs
    at most ``annealing.n_iter`` iterations.  ``accelerate`` ("squarem",
    "overrelax") applies to the final phase only: the tempered levels are
    never extrapolated.
    """

    def __init__(self, annealing: Annealing, accelerate: str | None = None):
        self.annealing = annealing
        self.accelerate = check_accelerate(accelerate)
        self._max_iter = None

    def _phases(self):
        levels = [("anneal", Tempered(beta), self.annealing.n_iter)
                  for beta in self.annealing.betas()]
        return [*levels, ("em", "soft", self._max_iter)]

    def run_phases(self, model, params, source, *, tol, max_iter, verbose=0, monitor=None):
        self._max_iter = max_iter
        return super().run_phases(model, params, source, tol=tol, max_iter=max_iter,
                                  verbose=verbose, monitor=monitor)


class StochasticSchedule(_Schedule):
    """Stochastic EM, then plain EM from its best iterate (see the module docstring).

    ``n_stochastic`` S-steps (seeded by ``seed``), then plain EM (at most the
    run's ``max_iter`` iterations; ``accelerate`` applies to it).
    """

    def __init__(self, seed: int, n_stochastic: int, accelerate: str | None = None):
        self.seed = int(seed)
        self.n_stochastic = int(n_stochastic)
        self.accelerate = check_accelerate(accelerate)
        self._max_iter = None

    def _phases(self):
        return [("stochastic", Stochastic(self.seed), self.n_stochastic),
                ("em", "soft", self._max_iter)]

    def _start_of_next(self, result: EMResult, name: str):
        if name == "stochastic" and result.best_params is not None:
            return result.best_params
        return result.params

    def run_phases(self, model, params, source, *, tol, max_iter, verbose=0, monitor=None):
        self._max_iter = max_iter
        return super().run_phases(model, params, source, tol=tol, max_iter=max_iter,
                                  verbose=verbose, monitor=monitor)


@dataclasses.dataclass(frozen=True)
class MonteCarloEM:
    """Settings of Monte Carlo EM: ``S_t = min(ceil(draws * growth ** (t - 1)), max_draws)``.

    Parameters
    ----------
    draws : int, default=10
        Posterior draws per row at the first iteration.
    growth : float, default=1.2
        Factor >= 1 by which the draws grow every iteration (Booth & Hobert
        1999 let ``S`` grow so that the Monte Carlo error falls below EM's
        step).
    max_draws : int, default=1000
        Cap on the draws per row.
    """

    draws: int = 10
    growth: float = 1.2
    max_draws: int = 1000


def check_monte_carlo(value: Any, name: str = "monte_carlo") -> MonteCarloEM:
    """``monte_carlo``: None (defaults), an int (constant draws), a dict or MonteCarloEM."""
    if value is None:
        return MonteCarloEM()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        settings = {"draws": int(value), "growth": 1.0, "max_draws": int(value)}
    elif isinstance(value, MonteCarloEM):
        settings = dataclasses.asdict(value)
    elif isinstance(value, Mapping):
        settings = dict(value)
        unknown = sorted(set(map(str, settings)) - {"draws", "growth", "max_draws"})
        if unknown:
            raise ValueError(f"{name} has unknown setting(s) {unknown}; the settings are "
                             "'draws', 'growth' and 'max_draws'")
    else:
        raise ValueError(f"{name} must be None, an int (draws per row), a dict with "
                         f"'draws', 'growth', 'max_draws' or a MonteCarloEM, got {value!r}")
    result = MonteCarloEM(**settings)
    for field in ("draws", "max_draws"):
        v = getattr(result, field)
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{name}[{field!r}] must be an integer >= 1, got {v!r}")
    growth = result.growth
    if not (isinstance(growth, (int, float, np.integer, np.floating))
            and not isinstance(growth, bool) and math.isfinite(growth) and growth >= 1.0):
        raise ValueError(f"{name}['growth'] must be a number >= 1, got {growth!r}")
    if result.max_draws < result.draws:
        raise ValueError(f"{name}['max_draws'] ({result.max_draws}) must be >= "
                         f"{name}['draws'] ({result.draws})")
    return MonteCarloEM(int(result.draws), float(growth), int(result.max_draws))


class MonteCarloSchedule(_Schedule):
    """Monte Carlo EM, then plain EM from its best iterate.

    ``n_iter`` MCEM iterations (:class:`~emkit.em.montecarlo.MonteCarlo`: ``S_t``
    posterior draws per row, seeded by ``seed``), whose log-likelihood is
    neither checked nor used to stop; then plain EM (at most the run's
    ``max_iter``; ``accelerate`` applies to it) from the iterate with the
    highest log-likelihood, so the run ends at a fixed point of EM.  The
    MCEM phase records ``n_draws`` and ``mc_standard_error`` (the Monte Carlo
    standard error of the estimated ``Q`` per unit weight) per iteration.
    """

    def __init__(self, seed: int, n_iter: int, settings: MonteCarloEM,
                 accelerate: str | None = None):
        self.seed = int(seed)
        self.n_iter = int(n_iter)
        self.settings = settings
        self.accelerate = check_accelerate(accelerate)
        self._max_iter = None

    def _phases(self):
        s = self.settings
        return [("monte-carlo", MonteCarlo(self.seed, s.draws, s.growth, s.max_draws),
                 self.n_iter), ("em", "soft", self._max_iter)]

    def _start_of_next(self, result: EMResult, name: str):
        if name == "monte-carlo" and result.best_params is not None:
            return result.best_params
        return result.params

    def _details(self, name, assignment):
        if name != "monte-carlo":
            return {}
        record = assignment.record
        return {"n_draws": np.array([r[1] for r in record], dtype=int),
                "mc_standard_error": np.array([r[2] for r in record], dtype=float)}

    def run_phases(self, model, params, source, *, tol, max_iter, verbose=0, monitor=None):
        self._max_iter = max_iter
        return super().run_phases(model, params, source, tol=tol, max_iter=max_iter,
                                  verbose=verbose, monitor=monitor)


class SparseSchedule(_Schedule):
    """Sparse EM (:mod:`emkit.em.sparse`), then plain EM to convergence.

    The sparse phase (at most the run's ``max_iter`` iterations) monitors the
    free energy ``F(q, theta)`` it maximises (a lower bound of the
    log-likelihood, equal to it at full E-steps) and may stop only at a full
    E-step; plain EM (at most ``max_iter`` iterations, accelerated with
    ``accelerate``) follows, so the run ends at a fixed point of EM.  The
    sparse iterations are never extrapolated.
    """

    def __init__(self, settings: SparseEM, accelerate: str | None = None):
        self.settings = settings
        self.accelerate = check_accelerate(accelerate)
        self._max_iter = None

    def _phases(self):
        return [("sparse", SparseAssignment(self.settings), self._max_iter),
                ("em", "soft", self._max_iter)]

    def _details(self, name, assignment):
        if name != "sparse":
            return {}
        return {"n_active": self.settings.n_active, "full_every": self.settings.full_every,
                "n_full": assignment.state.n_full}

    def _phase_source(self, name, source):
        from ..sources.dask import DaskSource

        if name != "sparse" or not isinstance(source, DaskSource):
            return source
        from .sparse_dask import DaskSparseSource

        self._dask = DaskSparseSource(source)  # the active lists stay on the workers
        return self._dask

    def run_phases(self, model, params, source, *, tol, max_iter, verbose=0, monitor=None):
        check_sparse_model(model)
        self._max_iter = max_iter
        self._dask = None
        try:
            return super().run_phases(model, params, source, tol=tol, max_iter=max_iter,
                                      verbose=verbose, monitor=monitor)
        finally:
            if self._dask is not None:
                self._dask.release()
                self._dask = None
