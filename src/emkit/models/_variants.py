"""The mixture estimators' EM variants: ``assignment``, ``annealing`` and ``sparse``.

:class:`VariantMixin` reads the estimator parameters ``assignment``
("soft": EM; "hard": classification EM; "stochastic": stochastic EM, then EM;
"monte-carlo": Monte Carlo EM, then EM), ``annealing`` (deterministic
annealing, :mod:`emkit.em.variants`), ``sparse`` (sparse EM,
:mod:`emkit.em.sparse`), ``stochastic_iter`` (the stochastic or Monte Carlo
EM iterations before EM) and ``monte_carlo`` (the draws schedule of Monte
Carlo EM), checks how they combine with the other options and gives the fit
the engine's assignment or schedule.  An estimator whose ``__init__`` lacks
them fits by plain EM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int
from ..em.sparse import check_sparse
from ..em.variants import (
    AnnealingSchedule,
    MonteCarloSchedule,
    SparseSchedule,
    StochasticSchedule,
    check_annealing,
    check_assignment,
    check_monte_carlo,
)

#: Defaults of the variant parameters (for estimators that lack them).
VARIANT_DEFAULTS = {"assignment": "soft", "annealing": None, "stochastic_iter": 100,
                    "sparse": None, "monte_carlo": None}


class StochasticSeeds(StochasticSchedule):
    """SEM then EM with a fresh seed for every run (every ``n_init`` start),
    drawn from the fit's random state."""

    def __init__(self, rng: np.random.RandomState, n_stochastic: int, accelerate=None):
        super().__init__(0, n_stochastic, accelerate)
        self._rng = rng

    def run_phases(self, model, params, source, **kwargs):
        self.seed = int(self._rng.randint(np.iinfo(np.int32).max))
        return super().run_phases(model, params, source, **kwargs)


class MonteCarloSeeds(MonteCarloSchedule):
    """MCEM then EM with a fresh seed for every run, drawn from the fit's random state."""

    def __init__(self, rng: np.random.RandomState, n_iter: int, settings, accelerate=None):
        super().__init__(0, n_iter, settings, accelerate)
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
            None, False) or self._variant("sparse") not in (None, False)

    def _check_variant_parameters(self) -> None:
        assignment = check_assignment(self._variant("assignment"))
        annealing = check_annealing(self._variant("annealing"))
        sparse = check_sparse(self._variant("sparse"))
        check_monte_carlo(self._variant("monte_carlo"))
        check_int(self._variant("stochastic_iter"), "stochastic_iter", 1)
        if not self._uses_variant():
            return
        what = ("sparse" if sparse is not None else "annealing" if annealing is not None
                else f"assignment={assignment!r}")
        if annealing is not None and assignment != "soft":
            raise ValueError(
                f"annealing tempers the soft E-step; it does not combine with "
                f"assignment={assignment!r} (use assignment='soft')")
        if sparse is not None and (assignment != "soft" or annealing is not None):
            other = "annealing" if annealing is not None else f"assignment={assignment!r}"
            raise ValueError(f"sparse EM restricts the soft E-step; it does not combine "
                             f"with {other} (use sparse=None, or assignment='soft' and "
                             "annealing=None)")
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
                annealing is not None or sparse is not None
                or assignment in ("stochastic", "monte-carlo")):
            raise ValueError(f"checkpoint is not supported with {what} (a run of several "
                             "phases cannot be resumed yet); use checkpoint=None")

    def _variant_run(self, rng: np.random.RandomState) -> tuple[Any, str | None]:
        """(the engine's assignment or schedule, the runner's ``accelerate``) of a fit.

        Schedules (annealing, stochastic, Monte Carlo and sparse EM) carry
        ``accelerate`` themselves: it applies to their final plain EM phase only.
        """
        assignment = self._variant("assignment")
        annealing = check_annealing(self._variant("annealing"))
        sparse = check_sparse(self._variant("sparse"))
        accelerate = getattr(self, "accelerate", None)
        if annealing is not None:
            return AnnealingSchedule(annealing, accelerate), None
        if sparse is not None:
            return SparseSchedule(sparse, accelerate), None
        if assignment == "stochastic":
            return StochasticSeeds(rng, self._variant("stochastic_iter"), accelerate), None
        if assignment == "monte-carlo":
            return MonteCarloSeeds(rng, self._variant("stochastic_iter"),
                                   check_monte_carlo(self._variant("monte_carlo")),
                                   accelerate), None
        return assignment, accelerate
