"""emkit: latent-variable models fitted by Expectation-Maximization."""

from ._config import config_context, get_config, set_config
from .models import (
    BernoulliMixture,
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixtureOutlierDetector,
    SoftKMeans,
    StudentTMixture,
)
from .priors import GaussianPrior
from .selection import ModelSelection, select_model

__version__ = "0.1.0"

__all__ = [
    "BernoulliMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "KMeans",
    "MixtureOutlierDetector",
    "ModelSelection",
    "SoftKMeans",
    "StudentTMixture",
    "__version__",
    "config_context",
    "get_config",
    "select_model",
    "set_config",
]
