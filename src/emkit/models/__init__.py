"""scikit-learn compatible estimators."""

from .gaussian_mixture import GaussianMixture
from .kmeans import KMeans, SoftKMeans

__all__ = ["GaussianMixture", "KMeans", "SoftKMeans"]
