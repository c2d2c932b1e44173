"""Generalized EM: M-steps that only increase Q (``m_step_iterations``).

EM's monotonicity needs only that each M-step does not decrease EM's
``Q(theta' | theta)`` (Dempster, Laird & Rubin 1977, "GEM"); it need not
maximise it.  Where the exact M-step is itself an iterative solver, stopping
it early trades EM iterations for cheaper M-steps:

* the softmax gate of :class:`~emkit.MixtureOfExperts`: Newton's method with
  step halving on the gate's expected log-likelihood, each step (and each
  halving) one pass over the data;
* the degrees of freedom of :class:`~emkit.StudentTMixture`: Newton's method
  on ``log nu`` for the root of ``log(nu/2) - psi(nu/2) = -S_k / N_k``;
* binomial and Poisson regressions (:class:`~emkit.RegressionMixture`, the
  experts of :class:`~emkit.MixtureOfExperts`): Newton's method with step
  halving, one pass over the data per step;
* mclust's covariance models fitted by an inner iteration (VEI, VEE, EVE, VVE,
  VEV; :class:`~emkit.GaussianMixture`): block-coordinate ascent over volumes,
  shapes and orientations (:mod:`emkit.families.decomposed`).

The estimators' ``m_step_iterations`` sets it: None (default) solves the
M-step to convergence (exact EM); an integer k >= 1 takes at most k inner
steps *from the current value*, each accepted only if it does not decrease
``Q`` (halved until it does), so EM stays monotone (the engine's check still
applies) and the fixed points are EM's (at a fixed point of EM the inner
step from the current value is zero).
"""

from __future__ import annotations

from typing import Any


def check_m_step_iterations(value: Any, name: str = "m_step_iterations") -> int | None:
    """``m_step_iterations``: None (exact M-step) or an integer >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or (not isinstance(value, int) and not (
            hasattr(value, "__index__") and not isinstance(value, float))):
        raise ValueError(f"{name} must be None (exact M-step) or an integer >= 1, "
                         f"got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be None (exact M-step) or an integer >= 1, "
                         f"got {value}")
    return value
