"""Partially labelled data (semi-supervised EM) and fixed parameter groups."""

import numpy as np
import pytest
from scipy import optimize
from scipy.special import logsumexp
from scipy.stats import norm

from emkit import GaussianMixture

from .conftest import make_blobs


def _vehicles(seed=0, n=400, n_labelled=40):
    """Seed 003's example: car lengths ~ N(mu_c, 1), trucks ~ N(mu_t, 2^2), pi = (0.6, 0.4)."""
    rng = np.random.default_rng(seed)
    is_truck = rng.random(n) < 0.4
    lengths = np.where(is_truck, rng.normal(9.0, 2.0, n), rng.normal(4.5, 1.0, n))
    y = np.full(n, -1)
    labelled = rng.choice(n, n_labelled, replace=False)
    y[labelled] = is_truck[labelled].astype(int)
    return lengths[:, None], y


def _vehicle_objective(mu, x, y):
    """Joint log-likelihood of labelled rows plus marginal of unlabelled ones."""
    log_joint = np.column_stack([np.log(0.6) + norm.logpdf(x, mu[0], 1.0),
                                 np.log(0.4) + norm.logpdf(x, mu[1], 2.0)])
    known = y >= 0
    return log_joint[known, y[known]].sum() + logsumexp(log_joint[~known], axis=1).sum()


def test_seed_003_vehicles_only_means_unknown():
    X, y = _vehicles()
    gm = GaussianMixture(
        2, covariance_type="spherical", reg_covar=0.0, tol=1e-13, max_iter=2000,
        weights_init=[0.6, 0.4], means_init=[[3.0], [12.0]], precisions_init=[1.0, 0.25],
        fixed=("weights", "covariances"), semi_supervised=True,
    ).fit(X, y)
    np.testing.assert_array_equal(gm.weights_, [0.6, 0.4])
    np.testing.assert_array_equal(gm.covariances_, [1.0, 4.0])
    best = optimize.minimize(lambda mu: -_vehicle_objective(mu, X[:, 0], y), [3.0, 12.0],
                             method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    np.testing.assert_allclose(gm.means_[:, 0], best.x, atol=1e-6)
    assert gm.lower_bound_ * len(X) == pytest.approx(-best.fun, rel=1e-10)
    assert gm.n_parameters() == 2  # only the two means are free
    assert abs(gm.means_[0, 0] - 4.5) < 0.3 and abs(gm.means_[1, 0] - 9.0) < 0.6


def test_labels_pin_components_to_their_index():
    X = make_blobs(n_per=(200, 200), dim=2, spread=6.0, seed=3)
    truth = np.repeat([0, 1], 200)
    y = np.full(400, -1)
    y[[0, 1, 2]] = 1  # say the first cluster is component 1
    y[[200, 201, 202]] = 0
    gm = GaussianMixture(2, random_state=0, semi_supervised=True).fit(X, y)
    assert np.mean(gm.predict(X) == 1 - truth) > 0.95


def test_fully_labelled_rows_give_the_supervised_mle():
    X = make_blobs(dim=2)
    y = np.repeat([0, 1, 2], [150, 100, 120])
    gm = GaussianMixture(3, reg_covar=0.0, semi_supervised=True, tol=1e-12).fit(X, y)
    assert gm.n_iter_ <= 2  # one M-step reaches the closed form
    for k in range(3):
        rows = X[y == k]
        np.testing.assert_allclose(gm.means_[k], rows.mean(0), rtol=1e-12)
        np.testing.assert_allclose(gm.covariances_[k], np.cov(rows.T, bias=True), rtol=1e-10)
    np.testing.assert_allclose(gm.weights_, [150 / 370, 100 / 370, 120 / 370], rtol=1e-12)


def test_y_is_ignored_unless_semi_supervised():
    X = make_blobs(dim=2)
    a = GaussianMixture(3, random_state=0).fit(X, np.arange(len(X)) % 7)
    b = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros(5, dtype=int), r"y must have shape \(370,\)"),
        (np.r_[np.full(369, -1), 3], r"y has label 3 at row 369 but n_components=3"),
        (np.r_[np.full(369, -1.0), 0.5], "y must hold integer component labels; row 369"),
        (np.r_[np.full(369, -1), -2], "y has label -2 at row 369"),
        (None, "semi_supervised=True needs y"),
    ],
)
def test_bad_labels_are_named(y, match):
    X = make_blobs()
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3, semi_supervised=True).fit(X, y)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_fixed_means_give_covariances_about_those_means(covariance_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)) @ np.array([[1, 0, 0], [0.5, 1, 0], [0.2, 0.3, 1.0]]).T
    mean = np.array([[0.3, -0.2, 0.1]])
    gm = GaussianMixture(1, covariance_type=covariance_type, reg_covar=0.0, means_init=mean,
                         fixed=("means",)).fit(X)
    np.testing.assert_array_equal(gm.means_, mean)
    scatter = (X - mean).T @ (X - mean) / len(X)
    expected = {"full": scatter[None], "tied": scatter, "diag": np.diag(scatter)[None],
                "spherical": np.array([np.trace(scatter) / 3])}[covariance_type]
    np.testing.assert_allclose(gm.covariances_, expected, rtol=1e-12)
    free = GaussianMixture(1, covariance_type=covariance_type, reg_covar=0.0).fit(X)
    assert gm.n_parameters() == free.n_parameters() - 3
    assert gm.score(X) <= free.score(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fixed_weights_and_means_in_a_mixture_are_monotone_and_held():
    X = make_blobs(dim=2)
    start = GaussianMixture(3, random_state=0, max_iter=1).fit(X)
    gm = GaussianMixture(3, weights_init=[0.2, 0.3, 0.5], means_init=start.means_,
                         fixed=("weights", "means"), tol=1e-10).fit(X)
    np.testing.assert_array_equal(gm.weights_, [0.2, 0.3, 0.5])
    np.testing.assert_array_equal(gm.means_, start.means_)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12)
    assert gm.n_parameters() == 3 * 3  # three full 2x2 covariances only


@pytest.mark.parametrize(
    "params, match",
    [
        ({"fixed": ("weights",)}, "fixed contains 'weights' but weights_init is not given"),
        ({"fixed": ("means",)}, "fixed contains 'means' but means_init is not given"),
        ({"fixed": ("covariances",)}, "fixed contains 'covariances' but precisions_init"),
        ({"fixed": ("variances",)}, r"fixed must contain only \['covariances', 'means'"),
        ({"fixed": ("covariances",), "precisions_init": np.ones((2, 3, 3))},
         r"precisions_init\[0\] is not positive definite"),
        ({"fixed": ("means",), "means_init": np.zeros((2, 2))},
         r"means_init must have shape \(2, 3\)"),
    ],
)
def test_bad_fixed_parameters_are_named(params, match):
    X = make_blobs()
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **params).fit(X)


@pytest.mark.parametrize("estimator", ["KMeans", "SoftKMeans"])
def test_labelled_rows_stay_in_their_cluster_for_centroid_models(estimator):
    import emkit

    X = make_blobs(n_per=(200, 200), dim=2, spread=6.0, seed=3)
    y = np.full(400, -1)
    y[:5] = 1
    y[200:205] = 0
    y[399] = 1  # a deliberately "wrong" label: that row must stay in cluster 1
    kw = {"beta": 0.5} if estimator == "SoftKMeans" else {}
    model = getattr(emkit, estimator)(2, random_state=0, semi_supervised=True, **kw).fit(X, y)
    truth = np.repeat([0, 1], 200)
    # labels name the clusters: the first blob is cluster 1
    assert np.mean(model.predict(X)[:399] == 1 - truth[:399]) > 0.95
    # the labelled outlier pulls cluster 1's centre: compare with the centre without it
    centre = X[np.r_[np.flatnonzero(model.predict(X)[:399] == 1), 399]].mean(0)
    if estimator == "KMeans":
        np.testing.assert_allclose(model.cluster_centers_[1], centre, rtol=1e-10)
    with pytest.raises(ValueError, match="semi_supervised=True needs y"):
        getattr(emkit, estimator)(2, semi_supervised=True).fit(X)
