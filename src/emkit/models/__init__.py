"""scikit-learn compatible estimators."""

from .bernoulli import BernoulliMixture
from .categorical import CategoricalMixture
from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, SoftKMeans
from .mixed import MixedMixture
from .outlier import MixtureOutlierDetector
from .poisson import PoissonMixture

__all__ = [
    "BernoulliMixture",
    "CategoricalMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MixedMixture",
    "MixtureOutlierDetector",
    "PoissonMixture",
    "SoftKMeans",
]
