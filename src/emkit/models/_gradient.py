"""``fit_method``: fit a mixture estimator by EM (default) or by direct gradient ascent.

:class:`GradientFitMixin` goes before :class:`~emkit.models._mixture.BaseMixture`
in an estimator's bases; it reads the estimator parameter ``fit_method`` and,
for "gradient", gives the fit an :class:`~emkit.em.gradient.GradientFit`
schedule (L-BFGS-B on the log-likelihood) in place of EM, through the same
hook as the other EM variants (:mod:`emkit.models._variants`).  The estimator
provides ``_gradient_parametrisation(model, params)`` and
``_gradient_unsupported()`` (why the current settings cannot be fitted this
way, or None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..em.gradient import GradientFit
from ..em.variants import check_annealing, check_assignment
from ._mixture import BaseMixture

#: ``fit_method`` values.
FIT_METHODS = ("em", "gradient")


def check_fit_method(value: Any) -> str:
    """``fit_method``: "em" or "gradient"."""
    if not isinstance(value, str) or value not in FIT_METHODS:
        raise ValueError(f"fit_method must be one of {list(FIT_METHODS)}, got {value!r}")
    return value


class GradientFitMixin:
    """Checks and run settings of ``fit_method`` (module docstring)."""

    def _fit_method(self) -> str:
        return check_fit_method(getattr(self, "fit_method", "em"))

    def _uses_variant(self) -> bool:
        return self._fit_method() == "gradient" or super()._uses_variant()

    def _check_variant_parameters(self) -> None:
        if self._fit_method() != "gradient":
            super()._check_variant_parameters()
            return
        check_assignment(getattr(self, "assignment", "soft"))
        check_annealing(getattr(self, "annealing", None))
        conflicts = []
        if getattr(self, "assignment", "soft") != "soft":
            conflicts.append(f"assignment={self.assignment!r}")
        if getattr(self, "annealing", None) not in (None, False):
            conflicts.append("annealing")
        if getattr(self, "accelerate", None) is not None:
            conflicts.append(f"accelerate={self.accelerate!r}")
        if getattr(self, "schedule", "batch") != "batch":
            conflicts.append(f"schedule={self.schedule!r}")
        if getattr(self, "checkpoint", None) is not None:
            conflicts.append("checkpoint")
        if conflicts:
            raise ValueError(f"fit_method='gradient' maximises the log-likelihood by L-BFGS-B; "
                             f"it does not combine with {', '.join(conflicts)}")
        reason = self._gradient_unsupported()
        if reason is not None:
            raise ValueError(f"fit_method='gradient' {reason}")
        super()._check_variant_parameters()  # the values of the variant parameters

    def _variant_run(self, rng: np.random.RandomState) -> tuple[Any, str | None]:
        if self._fit_method() == "gradient":
            return GradientFit(self._gradient_parametrisation), None
        return super()._variant_run(rng)

    def _runner_name(self, schedule: str) -> str:
        """"gradient" for a gradient fit (verbose lines; a later warm EM fit does
        not continue its convergence test from this fit's ``lower_bound_``)."""
        if self._fit_method() == "gradient" and schedule == "batch":
            return "gradient"
        return super()._runner_name(schedule)

    def _gradient_unsupported(self) -> str | None:
        return "is not available for this estimator"

    def _gradient_parametrisation(self, model, params):
        raise NotImplementedError

    def partial_fit(self, X, y=None, sample_weight=None):
        if self._fit_method() == "gradient":
            raise ValueError("partial_fit runs stepwise EM; fit_method='gradient' applies to "
                             "fit only (use fit_method='em')")
        return super().partial_fit(X, y, sample_weight)


GradientFitMixin.partial_fit.__doc__ = BaseMixture.partial_fit.__doc__
