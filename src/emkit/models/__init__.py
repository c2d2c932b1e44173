"""scikit-learn compatible estimators."""

from .bernoulli import BernoulliMixture
from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, SoftKMeans
from .outlier import MixtureOutlierDetector

__all__ = [
    "BernoulliMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MixtureOutlierDetector",
    "SoftKMeans",
]
