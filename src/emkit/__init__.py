"""emkit: latent-variable models fitted by Expectation-Maximization."""

from ._config import config_context, get_config, set_config
from .models import (
    BayesianGaussianMixture,
    BernoulliMixture,
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixtureOfExperts,
    MixtureOutlierDetector,
    ProbitRegression,
    RegressionMixture,
    SoftKMeans,
)
from .priors import GaussianPrior
from .selection import ModelSelection, select_model

__version__ = "0.1.0"

__all__ = [
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "KMeans",
    "MixtureOfExperts",
    "MixtureOutlierDetector",
    "ModelSelection",
    "ProbitRegression",
    "RegressionMixture",
    "SoftKMeans",
    "__version__",
    "config_context",
    "get_config",
    "select_model",
    "set_config",
]
