"""emkit: latent-variable models fitted by Expectation-Maximization."""

from ._config import config_context, get_config, set_config
from .em.progress import ProgressBar
from .models import (
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MiniBatchKMeans,
    MixtureOutlierDetector,
    SoftKMeans,
)
from .priors import GaussianPrior
from .selection import ModelSelection, select_model

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "KMeans",
    "MiniBatchKMeans",
    "MixtureOutlierDetector",
    "ModelSelection",
    "ProgressBar",
    "SoftKMeans",
    "__version__",
    "config_context",
    "get_config",
    "select_model",
    "set_config",
]
