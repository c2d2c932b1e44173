"""EM acceleration: SQUAREM and adaptive over-relaxation around the engine's EM map.

Both runners treat one EM iteration as a fixed-point map ``F(theta) =
M(E(theta))`` on a flat parameter vector and take longer steps along the EM
path, with safeguards that keep the recorded objective non-decreasing and the
limit an EM fixed point.  They drive any engine model that, besides the
engine interface (:mod:`emkit.em.engine`), provides

``to_vector(params) -> ndarray``
    the free parameters as one 1-D float vector;
``from_vector(vector, like) -> params or None``
    the inverse (shapes taken from ``like``); ``None`` when the vector is not a
    valid parameter value (weights off the simplex, a covariance that is not
    positive definite, anything non-finite).

Cost model.  One E-step of a parameter value gives its mean objective *and* its
sufficient statistics, so the E-step that scores a candidate is reused for the
M-step taken from it: a candidate costs one pass over the data, not two.
:class:`~emkit.em.engine.EMResult` reports ``n_em_evaluations`` (evaluations of
``F``, R's ``fpevals``) and ``n_e_steps`` (passes over the data).

Conventions shared with :func:`~emkit.em.engine.run_em`:

* ``tol`` has the same meaning: the run stops when a *plain* EM step from the
  current point changes the mean objective by less than ``tol`` (through the
  model's ``converged`` rule), and the returned parameters are that step's
  M-step, so ``objective_history[-1]`` is the objective of the parameters
  entering the last M-step, as for plain EM;
* ``max_iter`` bounds the number of EM-map evaluations (the cost);
* ``objective_history`` holds the objective of every accepted parameter value;
  it is checked with :func:`~emkit.em.engine.check_monotone` (config
  ``monotonic``).  A candidate is accepted only if its objective is not below
  the current one by more than float noise; rejected candidates are replaced by
  the plain EM step(s).  With a regularised M-step (``step_deficit`` > 0)
  plain EM may itself lower the objective, by at most that deficit, and near
  its fixed point the objective typically falls along the EM path, so "never
  below theta0" would reject most good extrapolations.  SQUAREM then also keeps
  a stabilised candidate ``F(theta')`` whose objective is within the deficit
  allowance of the two plain steps it replaces *and* whose EM residual
  ``||F(theta') - theta'||`` is no larger than ``theta0``'s (it is closer to a
  fixed point); the monotonicity check gets the same allowance.  Without
  regularisation this rule never applies.  Over-relaxation never accepts a
  decrease (see :func:`run_overrelaxed`).

Soft assignments only: on hard assignments (k-means) the EM map is piecewise
constant in the parameters, so extrapolating along it is not meaningful.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..exceptions import DegenerateComponentError
from .checkpoint import RunState, restore
from .engine import (
    EMResult,
    _default_converged,
    check_finite_objective,
    check_monotone,
    expectation,
    m_step,
    objective_rtol,
    run_em,
)

#: Accepted values of the estimators' ``accelerate`` parameter (besides None).
ACCELERATIONS = ("squarem", "overrelax")

#: SQUAREM skips the stabilising EM step when ``|alpha - 1|`` is at most this (as R does).
STABILISE_THRESHOLD = 0.01


def check_accelerate(value: Any, name: str = "accelerate") -> str | None:
    """Validate an ``accelerate`` parameter: None, "squarem" or "overrelax".

    Raises
    ------
    ValueError
        Naming the parameter and the allowed values.
    """
    if value is None or (isinstance(value, str) and value in ACCELERATIONS):
        return value
    allowed = ", ".join(["None", *(repr(a) for a in ACCELERATIONS)])
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def get_runner(accelerate: str | None) -> Callable[..., EMResult]:
    """The runner for an ``accelerate`` value (None: plain :func:`run_em`)."""
    accelerate = check_accelerate(accelerate)
    if accelerate is None:
        return run_em
    return {"squarem": run_squarem, "overrelax": run_overrelaxed}[accelerate]


@dataclasses.dataclass
class _Trial:
    """A scored candidate: parameters, their E-step statistics and mean objective."""

    params: Any
    stats: Any
    objective: float
    warnings: list
    #: ``||F(theta') - theta'||`` for a stabilised candidate ``F(theta')`` (else None).
    residual: float | None = None


class _Run:
    """Bookkeeping shared by the accelerated runners.

    Counts EM-map evaluations and E-steps, keeps the objective history of the
    accepted parameter values and checks it for monotonicity.
    """

    def __init__(self, model: Any, source: Any, verbose: int, label: str, monitor: Any = None):
        for method in ("to_vector", "from_vector"):
            if not callable(getattr(model, method, None)):
                raise TypeError(
                    f"{type(model).__name__} has no {method}() method; EM acceleration "
                    "needs to_vector(params) and from_vector(vector, like)"
                )
        self.model = model
        self.source = source
        self.verbose = verbose
        self.label = label
        self.converged_rule = getattr(model, "converged", _default_converged)
        self.step_deficit = getattr(model, "step_deficit", None)
        self.n_maps = 0
        self.n_e_steps = 0
        self.n_fallbacks = 0
        self.history: list[float] = []
        self.monitor = monitor
        self.stopped = False

    # --- resuming and monitoring --------------------------------------------
    _COUNTERS = ("n_maps", "n_e_steps", "n_fallbacks")

    def start(self, params: Any, resume: RunState | None, extra: dict) -> tuple:
        """The first E-step; with ``resume`` the counters, history and ``extra`` come back.

        Returns ``(stats, objective)`` of ``params``.
        """
        if resume is not None:
            self.history = [float(v) for v in resume.history]
            for name in self._COUNTERS:
                setattr(self, name, int(restore(resume.extra.get(name, 0))))
            for name in extra:
                if name in resume.extra:
                    extra[name] = float(restore(resume.extra[name]))
        stats, objective = self.expectation(params)
        check_finite_objective(objective)
        if resume is None:
            self.accept(objective, 0.0)
            self.report("start", 0.0)
        return stats, objective

    def state(self, params: Any, extra: dict, converged: bool = False) -> RunState:
        counters = {name: getattr(self, name) for name in self._COUNTERS}
        return RunState(len(self.history), params, self.history, 0.0,
                        {**counters, **extra}, converged)

    def notify(self, params: Any, extra: dict, converged: bool = False) -> bool:
        """Tell the monitor about an accepted value; True when it asks to stop."""
        if self.monitor is None:
            return False
        if self.monitor.iteration(self.state(params, extra, converged)) and not converged:
            self.stopped = True
        return self.stopped

    def finish(self, final: Any, params: Any, extra: dict, converged: bool) -> EMResult:
        result = self.result(final, converged)
        if self.monitor is not None:
            self.monitor.end(result, self.state(params, extra, converged))
        return result

    # --- the EM map, counted ------------------------------------------------
    def expectation(self, params: Any) -> tuple[Any, float]:
        """One E-step: (summed statistics, mean objective)."""
        self.n_e_steps += 1
        return expectation(self.model, params, self.source, "soft")

    def maximize(self, stats: Any, params: Any) -> Any:
        """The M-step completing one evaluation of the EM map at ``params``."""
        self.n_maps += 1
        return m_step(self.model, stats, params, self.source)

    def deficit(self, stats: Any, new_params: Any, params: Any) -> float:
        """How much the M-step from ``params`` to ``new_params`` may lower the objective."""
        if self.step_deficit is None:
            return 0.0
        return float(self.step_deficit(stats, new_params, params))

    def noise(self, objective: float) -> float:
        """A decrease this small is float noise (as in the monotonicity check)."""
        return objective_rtol(self.model) * max(1.0, abs(objective))

    # --- candidates ---------------------------------------------------------
    def trial(self, vector: np.ndarray, like: Any, stabilise: bool) -> _Trial | None:
        """Score the parameters ``vector`` encodes (after one EM step if ``stabilise``).

        Returns None when the vector, or the stabilised point, is not a valid
        parameter value or has a non-finite objective.  Warnings raised while
        scoring (an empty component in the stabilising M-step, say) are held
        back and only re-issued if the candidate is accepted.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if not np.isfinite(vector).all():
                return None
            params = self.model.from_vector(vector, like)
            if params is None:
                return None
            stats, objective = self.expectation(params)
            if not np.isfinite(objective):
                return None
            residual = None
            if stabilise:
                try:
                    params = self.maximize(stats, params)
                except (DegenerateComponentError, np.linalg.LinAlgError, FloatingPointError):
                    return None
                residual = float(np.linalg.norm(self.model.to_vector(params) - vector))
                stats, objective = self.expectation(params)
                if not np.isfinite(objective):
                    return None
        return _Trial(params, stats, float(objective), list(caught), residual)

    def acceptable(self, trial: _Trial | None, objective: float, allowance: float = 0.0) -> bool:
        """Whether a candidate passes the monotonicity check after ``objective``.

        That is, it is not below ``objective - allowance`` by more than float
        noise (the same test as :func:`~emkit.em.engine.check_monotone`).
        """
        if trial is None or not np.isfinite(objective):
            return False
        return trial.objective >= objective - allowance - self.noise(objective)

    @staticmethod
    def reissue(trial: _Trial) -> None:
        for record in trial.warnings:
            warnings.warn_explicit(
                record.message, record.category, record.filename, record.lineno
            )

    # --- history ------------------------------------------------------------
    def accept(self, objective: float, allowance: float) -> None:
        """Record the objective of an accepted value; check it did not decrease."""
        previous = self.history[-1] if self.history else -np.inf
        self.history.append(float(objective))
        check_monotone(previous, objective, len(self.history), allowance,
                       objective_rtol(self.model))

    def report(self, kind: str, step: float) -> None:
        if self.verbose:
            print(
                f"  {self.label} {len(self.history):4d}  objective {self.history[-1]: .10g}  "
                f"{kind:<12s} step {step:<8.4g} EM maps {self.n_maps}"
            )

    def result(self, params: Any, converged: bool) -> EMResult:
        return EMResult(
            params,
            np.asarray(self.history, dtype=float),
            converged,
            len(self.history),
            n_em_evaluations=self.n_maps,
            n_e_steps=self.n_e_steps,
            n_fallbacks=self.n_fallbacks,
            stopped=self.stopped,
        )


def run_squarem(
    model: Any,
    params: Any,
    source: Any,
    *,
    tol: float,
    max_iter: int,
    verbose: int = 0,
    step_min0: float = 1.0,
    step_max0: float = 1.0,
    mstep: float = 4.0,
    monitor: Any = None,
    resume: RunState | None = None,
) -> EMResult:
    """EM accelerated by SQUAREM (Varadhan & Roland 2008, scheme SqS3).

    One cycle from ``theta0`` (whose E-step is already known):

    1. ``theta1 = F(theta0)``; if this plain EM step changes the mean objective
       by less than ``tol`` the run has converged (``theta1`` is accepted and
       ``F(theta1)`` is returned);
    2. ``theta2 = F(theta1)``, ``r = theta1 - theta0``,
       ``v = theta2 - 2 theta1 + theta0``;
    3. step length ``alpha = sqrt(<r, r> / <v, v>)`` clamped to
       ``[step_min, step_max]`` and ``theta' = theta0 + 2 alpha r + alpha^2 v``
       (this is R's sign convention; Varadhan & Roland write
       ``alpha = -sqrt(...)`` and ``theta0 - 2 alpha r + alpha^2 v``);
    4. a stabilising EM step ``theta'' = F(theta')`` unless
       ``|alpha - 1| <= 0.01``;
    5. ``theta''`` is accepted if it is a valid parameter value whose objective
       is not below ``theta0``'s (beyond float noise; with a regularised M-step
       see the module docstring for the allowance); otherwise the plain double
       EM step ``theta2`` is taken and, if ``alpha`` was at ``step_max``,
       ``step_max`` shrinks to ``max(step_max0, step_max / mstep)``;
    6. ``step_max`` grows by ``mstep`` whenever the step taken had
       ``alpha == step_max``.

    Steps 3-6 follow ``squarem1`` of the R package SQUAREM (2021.1) with its
    default control (``step.min0 = 1``, ``step.max0 = 1``, ``mstep = 4``).
    Differences: R accepts an extrapolation whose objective is worse by up to
    ``objfn.inc = 1`` (summed negative log-likelihood) and converges on the
    parameter change ``||theta1 - theta0|| < tol``; here no decrease is
    accepted (beyond float noise and the regularisation allowance, so the
    history passes the monotonicity check) and ``tol`` is on the mean
    objective, as in plain EM.  Up to R's first accepted decrease the two
    produce the same steps (``tests/references/squarem_faithful.R``).

    Parameters
    ----------
    model : object
        Engine model with ``to_vector`` / ``from_vector`` (module docstring).
    params : object
        Initial parameters.
    source : object
        Has ``chunks()`` yielding ``(X, sample_weight)`` pairs.
    tol : float
        Convergence threshold on the change of the mean objective made by a
        plain EM step (through the model's ``converged`` rule).
    max_iter : int
        Maximum number of EM-map evaluations (0 returns ``params`` unchanged).
    verbose : int
        Print every accepted step when > 0.
    step_min0, step_max0, mstep : float
        R's ``step.min0``, ``step.max0`` and ``mstep``.
    monitor, resume
        As :func:`~emkit.em.engine.run_em`; the monitor is called after every
        accepted value (``state.params`` is that value; the run returns one EM
        step further).  A resumed run repeats one E-step (of the resumed point).

    Returns
    -------
    EMResult
        ``n_iter`` is the number of accepted parameter values,
        ``n_em_evaluations`` the EM-map evaluations (including the final
        M-step), ``n_fallbacks`` the rejected extrapolations.

    References
    ----------
    R. Varadhan and C. Roland (2008), Simple and globally convergent methods
    for accelerating the convergence of any EM algorithm, Scandinavian Journal
    of Statistics 35(2), 335-353.
    """
    run = _Run(model, source, verbose, "squarem", monitor)
    if max_iter <= 0:
        return run.result(params, False)
    steps = {"step_min": float(step_min0), "step_max": float(step_max0)}
    stats, objective = run.start(params, resume, steps)
    step_min, step_max = steps["step_min"], steps["step_max"]
    converged = resume is not None and resume.converged
    if converged:
        return run.finish(run.maximize(stats, params), params, steps, True)
    # Each cycle needs room for at least one EM map and for the final M-step.
    while run.n_maps < max_iter - 1:
        theta1 = run.maximize(stats, params)
        deficit0 = run.deficit(stats, theta1, params)
        stats1, objective1 = run.expectation(theta1)
        converged = bool(run.converged_rule(params, theta1, objective1 - objective, tol))
        if converged or run.n_maps >= max_iter - 1:
            run.accept(objective1, deficit0)
            params, stats, objective = theta1, stats1, objective1
            run.report("EM", 1.0)
            if run.notify(params, {"step_min": step_min, "step_max": step_max}, converged) \
                    or converged:
                break
            continue
        theta2 = run.maximize(stats1, theta1)
        deficit1 = run.deficit(stats1, theta2, theta1)

        x0, x1 = model.to_vector(params), model.to_vector(theta1)
        r = x1 - x0
        v = model.to_vector(theta2) - 2.0 * x1 + x0
        sr2, sv2 = float(r @ r), float(v @ v)
        if sv2 > 0.0:
            alpha = math.sqrt(sr2 / sv2)
        else:
            alpha = step_max if sr2 > 0.0 else 1.0
        alpha = max(step_min, min(step_max, alpha))

        trial = None
        stabilise = abs(alpha - 1.0) > STABILISE_THRESHOLD
        # alpha == 1 gives theta2 itself; a stabilising step needs budget for itself
        # and for the final M-step.
        attempt = alpha != 1.0 and (not stabilise or run.n_maps <= max_iter - 2)
        allowance = 0.0
        if attempt:
            trial = run.trial(x0 + (2.0 * alpha) * r + (alpha * alpha) * v, params, stabilise)
            if trial is not None and not run.acceptable(trial, objective):
                # Worse than theta0: R falls back to theta2.  A regularised M-step
                # may itself lower the objective (by at most its step_deficit), so
                # near its fixed point the objective falls along the EM path and
                # R's rule would reject most good extrapolations; a candidate that
                # stays within the plain steps' allowance and is closer to a fixed
                # point than theta0 (smaller EM residual) is kept.
                allowance = deficit0 + deficit1
                closer = trial.residual is not None and trial.residual <= math.sqrt(sr2)
                if not (allowance > 0.0 and closer
                        and run.acceptable(trial, objective, allowance)):
                    trial = None
        if trial is None:
            stats2, objective2 = run.expectation(theta2)
            run.accept(objective2, deficit0 + deficit1)
            params, stats, objective = theta2, stats2, objective2
            if attempt:
                run.n_fallbacks += 1
                run.report("fallback", alpha)
            else:
                run.report("EM x2", alpha)
            if alpha == step_max:
                step_max = max(step_max0, step_max / mstep)
            alpha = 1.0
        else:
            run.reissue(trial)
            run.accept(trial.objective, allowance)
            params, stats, objective = trial.params, trial.stats, trial.objective
            run.report("extrapolated", alpha)
        if alpha == step_max:
            step_max *= mstep
        if step_min < 0 and alpha == step_min:
            step_min *= mstep
        if run.notify(params, {"step_min": step_min, "step_max": step_max}):
            break
    final = run.maximize(stats, params)
    return run.finish(final, params, {"step_min": step_min, "step_max": step_max}, converged)


def run_overrelaxed(
    model: Any,
    params: Any,
    source: Any,
    *,
    tol: float,
    max_iter: int,
    verbose: int = 0,
    growth: float = 1.5,
    max_eta: float = 1e3,
    monitor: Any = None,
    resume: RunState | None = None,
) -> EMResult:
    """Adaptive over-relaxed EM: ``theta + eta (F(theta) - theta)``.

    ``eta`` starts at 1 (plain EM) and is multiplied by ``growth`` (up to
    ``max_eta``) after every accepted step.  A candidate that is not a valid
    parameter value, or whose objective is below the current one (beyond float
    noise), is replaced by the plain EM step ``F(theta)`` and ``eta`` is reset
    to 1 (Salakhutdinov & Roweis 2003, "adaptive over-relaxed EM").

    Unlike :func:`run_squarem`, a candidate must never lower the objective, even
    with a regularised M-step: the objective is the only guard against
    over-long steps here (there is no stabilising EM step), and allowing any
    decrease lets steps oscillate at that scale forever.  With a strongly regularised M-step
    (``reg_covar`` not small against the variances) plain EM steps near the
    fixed point may themselves lower the log-likelihood, candidates are then
    often rejected, and over-relaxation can cost more than plain EM; prefer
    SQUAREM there.

    Each accepted step costs one EM-map evaluation and one E-step (the E-step
    scoring the candidate is reused for its M-step); a rejected one costs an
    extra E-step.  Convergence is decided on plain EM steps only: when an
    over-relaxed step changes the objective by less than ``tol``, the next step
    is a plain one, which decides (this rules out a false stop when an
    over-long step jumps across the optimum to a point of equal objective).

    Parameters
    ----------
    model, params, source, tol, max_iter, verbose
        As :func:`run_squarem`.
    growth : float
        Factor applied to ``eta`` after an accepted step (> 1).
    max_eta : float
        Upper bound on ``eta``.
    monitor, resume
        As :func:`run_squarem`.

    Returns
    -------
    EMResult
        ``n_fallbacks`` counts rejected over-relaxed candidates.

    References
    ----------
    R. Salakhutdinov and S. Roweis (2003), Adaptive overrelaxed bound
    optimization methods, ICML.
    """
    if not growth > 1.0:
        raise ValueError(f"growth must be > 1, got {growth!r}")
    run = _Run(model, source, verbose, "overrelax", monitor)
    if max_iter <= 0:
        return run.result(params, False)
    state = {"eta": 1.0}
    stats, objective = run.start(params, resume, state)
    eta = state["eta"]
    converged = resume is not None and resume.converged
    if converged:
        return run.finish(run.maximize(stats, params), params, state, True)
    while run.n_maps < max_iter - 1:
        theta1 = run.maximize(stats, params)
        deficit0 = run.deficit(stats, theta1, params)
        trial = None
        if eta > 1.0:
            x0 = model.to_vector(params)
            x1 = model.to_vector(theta1)
            trial = run.trial(x0 + eta * (x1 - x0), params, stabilise=False)
            if not run.acceptable(trial, objective):
                trial = None
        if trial is None:
            stats1, objective1 = run.expectation(theta1)
            change = objective1 - objective
            converged = bool(run.converged_rule(params, theta1, change, tol))
            run.accept(objective1, deficit0)
            params, stats, objective = theta1, stats1, objective1
            if eta > 1.0:
                run.n_fallbacks += 1
                run.report("fallback", eta)
                eta = 1.0
            else:
                run.report("EM", eta)
                eta = min(eta * growth, max_eta)
            if run.notify(params, {"eta": eta}, converged) or converged:
                break
        else:
            run.reissue(trial)
            change = trial.objective - objective
            run.accept(trial.objective, 0.0)
            params, stats, objective = trial.params, trial.stats, trial.objective
            run.report("overrelaxed", eta)
            # a small change of an over-relaxed step is confirmed by a plain step
            eta = 1.0 if abs(change) < tol else min(eta * growth, max_eta)
            if run.notify(params, {"eta": eta}):
                break
    final = run.maximize(stats, params)
    return run.finish(final, params, {"eta": eta}, converged)
