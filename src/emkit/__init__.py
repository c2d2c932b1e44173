"""emkit: latent-variable models fitted by Expectation-Maximization."""

from ._config import config_context, get_config, set_config
from .models import (
    BernoulliMixture,
    CategoricalMixture,
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixedMixture,
    MixtureOutlierDetector,
    PoissonMixture,
    SoftKMeans,
)
from .priors import GaussianPrior
from .selection import ModelSelection, select_model

__version__ = "0.1.0"

__all__ = [
    "BernoulliMixture",
    "CategoricalMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "KMeans",
    "MixedMixture",
    "MixtureOutlierDetector",
    "ModelSelection",
    "PoissonMixture",
    "SoftKMeans",
    "__version__",
    "config_context",
    "get_config",
    "select_model",
    "set_config",
]
