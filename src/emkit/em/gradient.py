"""Direct maximisation of the log-likelihood by L-BFGS-B (``fit_method="gradient"``).

EM is one way to maximise the observed-data log-likelihood ``l(theta)``; a
quasi-Newton method on an unconstrained parametrisation is another (Redner &
Walker 1984; Xu & Jordan 1996 relate the two: EM is a gradient ascent with a
particular, parameter-dependent preconditioner).  :class:`GradientFit` runs
scipy's L-BFGS-B on ``-l(theta) / N`` (the mean log-likelihood per unit of row
weight, as EM reports it) and is passed to :func:`~emkit.em.engine.run_em` as
its ``assignment`` (a schedule with ``run_phases``), so restarts, monitors and
the fitted attributes work as for EM.

What the runner needs from the family is a *parametrisation*
(``parametrise(model, params)`` returns it) with

``pack(params) -> theta``, ``unpack(theta) -> params``,
``gradient(theta, params, stats) -> ndarray``
    the gradient of the *summed* log-likelihood from the soft E-step's
    statistics at ``params`` (Fisher's identity: it is the gradient of EM's
    ``Q(. | theta)`` at ``theta``), so one E-step (one pass over the data,
    chunked, threaded, out-of-core as EM's) gives the objective and its
    gradient.  :class:`emkit.families.gaussian_gradient.GaussianParametrisation`
    is the Gaussian mixture's (``ConstrainedParametrisation`` in
    :mod:`emkit.families.gaussian_gradient_constrained` for mclust's
    constrained models, ``FixedGroups`` around either for ``fixed``);
``recentre(theta) -> theta or None`` (optional)
    a new base point of a local chart (rotations as exponentials of
    skew-symmetric matrices about a base orientation): when it returns a new
    ``theta`` standing for the same parameters, L-BFGS-B restarts from it
    (its curvature pairs belong to the old coordinates).

Stopping rule: the run has converged when the mean log-likelihood changes by
less than ``tol`` between two iterations (EM's rule), or when L-BFGS-B stops
at a point where the largest gradient entry of the mean log-likelihood is
below :data:`GRADIENT_TOL` (its own tests, or a line search that cannot
improve the objective beyond rounding).  Every accepted iterate satisfies
L-BFGS-B's sufficient-decrease condition, so the recorded objective never
decreases; the engine's monotonicity check watches it as it does EM's.  When
L-BFGS-B ends otherwise after making progress (a failed line search: a trial
step outside the parameters' numerical range, or a stale curvature pair) with
a gradient entry above :data:`GRADIENT_TOL`, it is restarted from the last
iterate with an empty memory (at most :data:`MAX_RESTARTS` times).

References
----------
R. A. Redner and H. F. Walker (1984), Mixture densities, maximum likelihood
and the EM algorithm, SIAM Review 26(2), 195-239.
L. Xu and M. I. Jordan (1996), On convergence properties of the EM algorithm
for Gaussian mixtures, Neural Computation 8(1), 129-151.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize

from .._warnings import external_stacklevel
from ..exceptions import ConvergenceWarning
from ..sources._map import blas_controller
from .checkpoint import RunState
from .engine import EMResult, check_finite_objective, check_monotone, expectation, objective_rtol

#: A run that L-BFGS-B ends (line search failure, its own tests) counts as
#: converged when no entry of the mean log-likelihood's gradient exceeds this.
GRADIENT_TOL = 1e-6
#: Most restarts of L-BFGS-B after a failed line search that followed progress.
MAX_RESTARTS = 20
#: Largest number of objective evaluations per iteration allowed on average.
EVALUATIONS_PER_ITERATION = 20


def _largest(gradient: np.ndarray) -> float:
    return float(np.max(np.abs(gradient), initial=0.0))


class _Stop(Exception):
    """Raised by the iteration callback to end L-BFGS-B (works with every scipy)."""


class _Restart(Exception):
    """Raised by the iteration callback after the parametrisation re-centred itself."""


class _Evaluation:
    """The objective and gradient of ``theta``, remembering recent evaluations."""

    def __init__(self, model, source, parametrisation):
        self.model, self.source, self.parametrisation = model, source, parametrisation
        self.n_evaluations = 0
        self._recent: dict[bytes, tuple[float, Any, np.ndarray]] = {}

    def __call__(self, theta: np.ndarray, strict: bool = False) -> tuple[float, np.ndarray]:
        """(-mean log-likelihood, its gradient); +inf where it cannot be evaluated.

        ``strict``: raise instead (the start, whose errors name the problem).
        """
        self.n_evaluations += 1
        try:
            with np.errstate(over="raise", invalid="raise"):
                params = self.parametrisation.unpack(theta)
            stats, objective = expectation(self.model, params, self.source, "soft")
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            if strict:
                raise
            # a trial point outside the parameters' numerical range (overflowing
            # exponentials, a singular covariance): the line search backs off
            return np.inf, np.zeros_like(theta)
        if not np.isfinite(objective):
            return np.inf, np.zeros_like(theta)
        gradient = self.parametrisation.gradient(theta, params, stats) / stats.counts.sum()
        if len(self._recent) > 8:
            self._recent.pop(next(iter(self._recent)))
        self._recent[theta.tobytes()] = (objective, params, gradient)
        return -objective, -gradient

    def forget(self) -> None:
        """Drop the remembered evaluations (the map theta -> parameters changed)."""
        self._recent.clear()

    def at(self, theta: np.ndarray) -> tuple[float, Any, np.ndarray]:
        """(mean log-likelihood, parameters, gradient) of an evaluated ``theta``."""
        theta = np.asarray(theta, dtype=float)
        found = self._recent.get(theta.tobytes())
        if found is None:
            self(theta)
            found = self._recent.get(theta.tobytes())
            if found is None:
                raise ValueError("the gradient fit reached parameters whose log-likelihood "
                                 "cannot be evaluated")
        return found


class GradientFit:
    """L-BFGS-B on the mean log-likelihood, as a schedule of :func:`run_em`.

    Parameters
    ----------
    parametrise : callable
        ``parametrise(model, params)`` -> the model's parametrisation
        (module docstring).
    """

    #: The recorded objective never decreases (checked like EM's).
    monotone = True

    def __init__(self, parametrise: Callable[[Any, Any], Any]):
        self.parametrise = parametrise

    def run_phases(self, model, params, source, *, tol: float, max_iter: int,
                   verbose: int = 0, monitor=None) -> EMResult:
        """Maximise the log-likelihood from ``params`` (at most ``max_iter`` iterations)."""
        if max_iter == 0:
            result = EMResult(params, np.empty(0), False, 0)
            if monitor is not None:
                monitor.end(result, RunState(0, params, [], 0.0))
            return result
        parametrisation = self.parametrise(model, params)
        evaluate = _Evaluation(model, source, parametrisation)
        theta0 = parametrisation.pack(params)
        start_value, _ = evaluate(theta0, strict=True)
        check_finite_objective(-start_value)
        if theta0.size == 0:  # every parameter group fixed: the start is the fit
            result = EMResult(params, np.array([-start_value]), True, 1, n_em_evaluations=0,
                              n_e_steps=evaluate.n_evaluations)
            if monitor is not None:
                monitor.end(result, RunState(1, params, [-start_value], 0.0, converged=True))
            return result
        history: list[float] = []
        state = {"previous": -start_value, "converged": False, "stopped": False,
                 "theta": theta0}
        recentre = getattr(parametrisation, "recentre", None)
        rtol = objective_rtol(model)

        def callback(xk: np.ndarray) -> None:
            theta = np.array(xk, dtype=float)
            if np.array_equal(theta, state["theta"]):
                # L-BFGS-B restored the previous iterate after a failed line search
                # (it then restarts from steepest descent): no step, not convergence
                return
            objective, current, _ = evaluate.at(theta)
            iteration = len(history) + 1
            check_monotone(state["previous"], objective, iteration, 0.0, rtol)
            history.append(objective)
            state["theta"] = theta
            change = objective - state["previous"]
            state["previous"] = objective
            if verbose and monitor is None:
                print(f"  iteration {iteration:4d}  objective {objective: .10g}")
            converged = abs(change) < tol
            if monitor is not None and monitor.iteration(
                    RunState(iteration, current, history, 0.0, converged=converged)) \
                    and not converged:
                state["stopped"] = True
                raise _Stop
            if converged:
                state["converged"] = True
                raise _Stop
            moved = None if recentre is None else recentre(theta)
            if moved is not None:
                # a new base (rotations): the same parameters, another theta; L-BFGS-B
                # restarts from it (its curvature pairs belong to the old coordinates)
                evaluate.forget()
                state["theta"] = np.asarray(moved, dtype=float)
                raise _Restart

        # L-BFGS-B's small dense algebra is slower with BLAS threads (they wake
        # and sleep every call); the E-step limits BLAS to one thread anyway
        status, message = 99, "stopped by the convergence rule or a callback"
        with blas_controller().limit(limits=1, user_api="blas"):
            restarts = 0
            while True:
                remaining = max_iter - len(history)
                done = len(history)
                try:
                    outcome = minimize(
                        evaluate, state["theta"], jac=True, method="L-BFGS-B",
                        callback=callback,
                        options={"maxiter": remaining, "ftol": 0.0, "gtol": 0.0,
                                 "maxfun": EVALUATIONS_PER_ITERATION * remaining + 20})
                    status, message = int(outcome.status), str(outcome.message)
                    if (status != 1 and len(history) > done
                            and len(history) < max_iter and restarts < MAX_RESTARTS
                            and _largest(evaluate.at(state["theta"])[2]) > GRADIENT_TOL):
                        # a failed line search after progress (a trial step outside
                        # the parameters' numerical range, a stale curvature pair):
                        # start again from the last iterate with a fresh memory
                        restarts += 1
                        continue
                except _Stop:
                    pass
                except _Restart:
                    if len(history) < max_iter:
                        continue
                    status, message = 1, "the iteration limit"
                break
        theta = state["theta"]
        objective, final, gradient = evaluate.at(theta)
        if not history:
            history.append(objective)
        converged = state["converged"] or (
            not state["stopped"] and status != 1  # 1: the iteration limit
            and float(np.max(np.abs(gradient), initial=0.0)) <= GRADIENT_TOL)
        self.message = message
        warned = not converged and not state["stopped"] and status not in (1, 99)
        if warned:
            # not the iteration limit (the caller's ConvergenceWarning names that)
            warnings.warn(
                f"L-BFGS-B stopped before convergence ({self.message}); the largest entry "
                f"of the mean log-likelihood's gradient is "
                f"{float(np.max(np.abs(gradient), initial=0.0)):.3g}",
                ConvergenceWarning, stacklevel=external_stacklevel())
        result = EMResult(final, np.asarray(history, dtype=float), bool(converged),
                          len(history), n_em_evaluations=0,
                          n_e_steps=evaluate.n_evaluations, stopped=state["stopped"])
        result.warned = warned  # the ConvergenceWarning is issued: no generic one
        if monitor is not None:
            monitor.end(result, RunState(len(history), final, history, 0.0,
                                         converged=bool(converged)))
        return result
