"""scikit-learn compatible estimators."""

from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, MiniBatchKMeans, SoftKMeans
from .outlier import MixtureOutlierDetector

__all__ = [
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MiniBatchKMeans",
    "MixtureOutlierDetector",
    "SoftKMeans",
]
