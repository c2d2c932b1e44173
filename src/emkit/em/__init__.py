"""The EM engine: one driver on additive sufficient statistics."""

from .engine import EMResult, expectation, run_em
from .statistics import SufficientStatistics

__all__ = ["EMResult", "SufficientStatistics", "expectation", "run_em"]
