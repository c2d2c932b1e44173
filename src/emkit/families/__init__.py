"""Component families: distributions with log-densities, statistics and M-steps."""

from .gaussian import GaussianMixtureModel, GaussianParams, GaussianStatistics
from .structures import COVARIANCE_STRUCTURES, MCLUST_MODELS, UNIVARIATE_MODELS, get_structure

__all__ = [
    "COVARIANCE_STRUCTURES",
    "MCLUST_MODELS",
    "UNIVARIATE_MODELS",
    "GaussianMixtureModel",
    "GaussianParams",
    "GaussianStatistics",
    "get_structure",
]
