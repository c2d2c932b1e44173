"""scikit-learn's own estimator contract checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from emkit import (
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixtureOutlierDetector,
    SoftKMeans,
)

# The check shuffles the weighted rows but not the repeated ones, so a *random*
# initialisation sees the rows in another order and may label components
# differently.  From identical initial parameters weights and repetitions are
# equivalent: tests/test_gaussian_mixture.py and tests/test_kmeans.py test that.
RANDOM_INIT_ORDER = {
    "check_sample_weight_equivalence_on_dense_data": (
        "random initialisation depends on row order; equivalence from identical "
        "starting points is tested in test_gaussian_mixture.py / test_kmeans.py"
    ),
}


def expected_failed(estimator):
    return RANDOM_INIT_ORDER


@parametrize_with_checks(
    [
        GaussianMixture(n_components=2, random_state=0),
        GaussianMixture(n_components=2, covariance_type="diag", random_state=0),
        GaussianMixture(n_components=2, covariance_type="tied", random_state=0),
        GaussianMixture(n_components=2, covariance_type="spherical", random_state=0),
        KMeans(n_clusters=3, random_state=0),
        SoftKMeans(n_clusters=3, random_state=0),
        GaussianMixtureImputer(),
        GaussianMixtureImputer(n_components=2, random_state=0, sample_posterior=True),
        MixtureOutlierDetector(),
        MixtureOutlierDetector(n_components=2, covariance_type="diag", random_state=0),
    ],
    expected_failed_checks=expected_failed,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
