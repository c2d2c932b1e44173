"""scikit-learn compatible estimators."""

from .bernoulli import BernoulliMixture
from .categorical import CategoricalMixture
from .experts import MixtureOfExperts
from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, SoftKMeans
from .mixed import MixedMixture
from .outlier import MixtureOutlierDetector
from .poisson import PoissonMixture
from .probit import ProbitRegression
from .regression_mixture import RegressionMixture
from .student_t import StudentTMixture

__all__ = [
    "BernoulliMixture",
    "CategoricalMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MixedMixture",
    "MixtureOfExperts",
    "MixtureOutlierDetector",
    "PoissonMixture",
    "ProbitRegression",
    "RegressionMixture",
    "SoftKMeans",
    "StudentTMixture",
]
