"""Component families: distributions with log-densities, statistics and M-steps."""

from .covariance import COVARIANCE_STRUCTURES, get_structure
from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics

__all__ = [
    "COVARIANCE_STRUCTURES",
    "GaussianMixtureModel",
    "GaussianParams",
    "GaussianStatistics",
    "get_structure",
]
