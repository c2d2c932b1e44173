"""scikit-learn compatible estimators."""

from .bernoulli import BernoulliMixture
from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, SoftKMeans
from .outlier import MixtureOutlierDetector
from .student_t import StudentTMixture

__all__ = [
    "BernoulliMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MixtureOutlierDetector",
    "SoftKMeans",
    "StudentTMixture",
]
