"""scikit-learn compatible estimators."""

from .bayesian_mixture import BayesianGaussianMixture
from .bernoulli import BernoulliMixture
from .experts import MixtureOfExperts
from .gaussian_mixture import GaussianMixture
from .imputer import GaussianMixtureImputer
from .kmeans import KMeans, MiniBatchKMeans, SoftKMeans
from .outlier import MixtureOutlierDetector
from .probit import ProbitRegression
from .regression_mixture import RegressionMixture

__all__ = [
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "KMeans",
    "MiniBatchKMeans",
    "MixtureOfExperts",
    "MixtureOutlierDetector",
    "ProbitRegression",
    "RegressionMixture",
    "SoftKMeans",
]
