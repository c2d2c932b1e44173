"""emkit: latent-variable models fitted by Expectation-Maximization."""

from ._config import config_context, get_config, set_config
from .hmm import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
)
from .models import (
    BernoulliMixture,
    CategoricalMixture,
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixedMixture,
    MixtureOfExperts,
    MixtureOutlierDetector,
    PoissonMixture,
    ProbitRegression,
    RegressionMixture,
    SoftKMeans,
    StudentTMixture,
)
from .priors import GaussianPrior
from .selection import ModelSelection, select_model

__version__ = "0.1.0"

__all__ = [
    "GMMHMM",
    "HMM",
    "BernoulliHMM",
    "BernoulliMixture",
    "CategoricalHMM",
    "CategoricalMixture",
    "GaussianHMM",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "KMeans",
    "MixedMixture",
    "MixtureOfExperts",
    "MixtureOutlierDetector",
    "ModelSelection",
    "PoissonHMM",
    "PoissonMixture",
    "ProbitRegression",
    "RegressionMixture",
    "SoftKMeans",
    "StudentTHMM",
    "StudentTMixture",
    "__version__",
    "config_context",
    "get_config",
    "select_model",
    "set_config",
]
