"""The mixture estimators' EM variants: ``assignment`` and ``annealing``.

:class:`VariantMixin` reads the estimator parameters ``assignment``
("soft": EM; "hard": classification EM; "stochastic": stochastic EM, then EM)
``annealing`` (deterministic annealing, :mod:`emkit.em.variants`) and
``stochastic_iter`` (the stochastic EM iterations before EM),
checks how they combine with the other options and gives the fit the
engine's assignment or schedule.  An estimator whose ``__init__`` lacks them
fits by plain EM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int
from ..em.variants import (
    AnnealingSchedule,
    StochasticSchedule,
    check_annealing,
    check_assignment,
)

#: Defaults of the variant parameters (for estimators that lack them).
VARIANT_DEFAULTS = {"assignment": "soft", "annealing": None, "stochastic_iter": 100}


class StochasticSeeds(StochasticSchedule):
    """SEM then EM with a fresh seed for every run (every ``n_init`` start),
    drawn from the fit's random state."""

    def __init__(self, rng: np.random.RandomState, n_stochastic: int, accelerate=None):
        super().__init__(0, n_stochastic, accelerate)
        self._rng = rng

    def run_phases(self, model, params, source, **kwargs):
        self.seed = int(self._rng.randint(np.iinfo(np.int32).max))
        return super().run_phases(model, params, source, **kwargs)


class VariantMixin:
    """Checks and run settings of ``assignment`` / ``annealing`` (module docstring)."""

    def _variant(self, name: str) -> Any:
        return getattr(self, name, VARIANT_DEFAULTS[name])

    def _uses_variant(self) -> bool:
        return self._variant("assignment") != "soft" or self._variant("annealing") not in (
            None, False)

    def _check_variant_parameters(self) -> None:
        assignment = check_assignment(self._variant("assignment"))
        annealing = check_annealing(self._variant("annealing"))
        check_int(self._variant("stochastic_iter"), "stochastic_iter", 1)
        if not self._uses_variant():
            return
        what = (f"assignment={assignment!r}" if annealing is None
                else "annealing")
        if annealing is not None and assignment != "soft":
            raise ValueError(
                f"annealing tempers the soft E-step; it does not combine with "
                f"assignment={assignment!r} (use assignment='soft')")
        schedule = getattr(self, "schedule", "batch")
        if schedule != "batch":
            raise ValueError(f"{what} applies to schedule='batch' only, not to "
                             f"schedule={schedule!r}")
        accelerate = getattr(self, "accelerate", None)
        if assignment == "hard" and accelerate is not None:
            raise ValueError(
                f"accelerate={accelerate!r} does not apply to assignment='hard': the "
                "classification EM map is piecewise constant in the parameters, so "
                "extrapolating along it is meaningless; use accelerate=None")
        if getattr(self, "checkpoint", None) is not None and (
                annealing is not None or assignment == "stochastic"):
            raise ValueError(f"checkpoint is not supported with {what} (a run of several "
                             "phases cannot be resumed yet); use checkpoint=None")

    def _variant_run(self, rng: np.random.RandomState) -> tuple[Any, str | None]:
        """(the engine's assignment or schedule, the runner's ``accelerate``) of a fit.

        Schedules (annealing, stochastic EM) carry ``accelerate`` themselves:
        it applies to their final plain EM phase only.
        """
        assignment = self._variant("assignment")
        annealing = check_annealing(self._variant("annealing"))
        accelerate = getattr(self, "accelerate", None)
        if annealing is not None:
            return AnnealingSchedule(annealing, accelerate), None
        if assignment == "stochastic":
            return StochasticSeeds(rng, self._variant("stochastic_iter"), accelerate), None
        return assignment, accelerate
