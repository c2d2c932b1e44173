"""MAP-EM with missing values: the posterior M-step on the missing-data E-step's
expected statistics maximises the observed-data log posterior."""

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import multivariate_normal

import emkit
from emkit import GaussianMixture, GaussianPrior
from emkit.priors import _data_moments, observed_moments

from .conftest import make_blobs
from .test_decomposed import central_gradient
from .test_missing import _with_missing


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VVE",
                                             "EEV"])
def test_map_with_missing_values_is_monotone_in_strict_mode(covariance_type, kernels):
    if kernels == "numba":
        pytest.importorskip("numba")
    Xm = _with_missing(make_blobs(dim=3), 0.2, 6)
    with emkit.config_context(kernels=kernels, monotonic="raise"):
        gm = GaussianMixture(3, covariance_type=covariance_type, prior="default",
                             random_state=0, tol=1e-9, max_iter=500).fit(Xm)
    assert gm.converged_
    history = gm.lower_bounds_
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
    assert gm.lower_bound_ != pytest.approx(gm.score(Xm), rel=1e-6)  # posterior, not likelihood


def test_map_kernels_agree_with_missing_values():
    pytest.importorskip("numba")
    Xm = _with_missing(make_blobs(dim=3), 0.2, 7)
    fits = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels):
            fits[kernels] = GaussianMixture(3, prior=GaussianPrior(shrinkage=0.5),
                                            random_state=0, tol=1e-10, max_iter=500).fit(Xm)
    np.testing.assert_allclose(fits["numba"].lower_bounds_, fits["numpy"].lower_bounds_,
                               rtol=1e-11)
    np.testing.assert_allclose(fits["numba"].covariances_, fits["numpy"].covariances_,
                               rtol=1e-8, atol=1e-10)


def test_observed_moments_without_missing_values_are_the_data_moments():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3))
    w = rng.uniform(0.5, 2.0, 50)
    for ours, theirs in zip(observed_moments(X, w), _data_moments(X, w), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    Xm = X.copy()
    Xm[:10, 0] = np.nan
    mean, cov = observed_moments(Xm, w)
    np.testing.assert_allclose(mean[0], np.average(X[10:, 0], weights=w[10:]), rtol=1e-13)
    np.testing.assert_allclose(mean[1:], np.average(X[:, 1:], axis=0, weights=w), rtol=1e-13)
    np.testing.assert_allclose(cov[1:, 1:], _data_moments(X[:, 1:], w)[1], rtol=1e-13)
    np.testing.assert_allclose(cov[0, 0], _data_moments(X[10:, :1], w[10:])[1][0, 0],
                               rtol=1e-13)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", ["full", "diag", "EVE"])
def test_no_missing_information_gives_the_complete_data_map_fit(covariance_type):
    """Rows with nothing observed add nothing: the MAP fit is the complete-data one
    (same data-based prior defaults, same parameters)."""
    X = make_blobs(dim=2)
    kw = dict(covariance_type=covariance_type, prior="default", tol=0.0, max_iter=40)
    start = GaussianMixture(3, random_state=0, max_iter=2, tol=0.0, **{
        k: v for k, v in kw.items() if k not in ("tol", "max_iter")}).fit(X)
    kw.update(weights_init=start.weights_, means_init=start.means_,
              precisions_init=start.precisions_)
    plain = GaussianMixture(3, **kw).fit(X)
    padded = GaussianMixture(3, **kw).fit(np.vstack([X, np.full((5, 2), np.nan)]))
    np.testing.assert_allclose(padded.means_, plain.means_, rtol=1e-10)
    np.testing.assert_allclose(padded.covariances_, plain.covariances_, rtol=1e-10)
    np.testing.assert_allclose(padded.weights_, plain.weights_, rtol=1e-10)


def test_a_tiny_missing_fraction_changes_the_map_fit_slightly():
    X = make_blobs(dim=3)
    kw = dict(prior="default", random_state=0, tol=1e-10, max_iter=500)
    full = GaussianMixture(3, **kw).fit(X)
    Xm = X.copy()
    Xm[[3, 50, 200], [0, 2, 1]] = np.nan  # 3 of 1110 entries
    missing = GaussianMixture(3, **kw).fit(Xm)
    change = np.abs(missing.means_ - full.means_).max()
    assert 0.0 < change < 0.05
    assert 0.0 < np.abs(missing.covariances_ - full.covariances_).max() < 0.05


def test_map_em_fixed_point_is_stationary_for_the_observed_log_posterior():
    """2-D, K = 2, 20% missing: the gradient of log p(X_obs | theta) + log p(theta),
    by finite differences, vanishes at EM's fixed point, and BFGS finds nothing higher."""
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(40, 2)) @ [[1.0, 0.5], [0.0, 0.8]],
                   rng.normal(size=(30, 2)) * 0.7 + [3.0, 1.0]])
    Xm = _with_missing(X, 0.2, 12)
    Xm[0] = [np.nan, np.nan]
    prior = GaussianPrior(shrinkage=0.3, mean=[1.0, 0.5], dof=5.0,
                          scale=[[0.6, 0.1], [0.1, 0.4]], weight_concentration=2.0)
    gm = GaussianMixture(2, prior=prior, reg_covar=0.0, tol=1e-14, max_iter=3000,
                         random_state=0).fit(Xm)
    assert gm.converged_
    a = 5.0 + 2 + 2  # dof + D + 2: |S|^(-1/2) of the mean prior, IW(dof, scale)
    B = np.array([[0.6, 0.1], [0.1, 0.4]])
    mean0 = np.array([1.0, 0.5])

    def unpack(theta):
        weights = np.exp([0.0, theta[0]])
        weights /= weights.sum()
        means = theta[1:5].reshape(2, 2)
        covs = []
        for k in range(2):
            L = np.array([[np.exp(theta[5 + 3 * k]), 0.0],
                          [theta[6 + 3 * k], np.exp(theta[7 + 3 * k])]])
            covs.append(L @ L.T)
        return weights, means, covs

    observed = ~np.isnan(Xm)
    groups = [(o, Xm[(observed == o).all(axis=1)][:, o])
              for o in map(np.array, {tuple(row) for row in observed}) if o.any()]

    def negative(theta):
        weights, means, covs = unpack(theta)
        total = 0.0
        for o, rows in groups:  # rows observing the same coordinates o, vectorised
            density = sum(weights[k] * multivariate_normal(
                means[k][o], covs[k][np.ix_(o, o)]).pdf(rows) for k in range(2))
            total += np.log(density).sum()
        for k in range(2):
            inv = np.linalg.inv(covs[k])
            offset = means[k] - mean0
            total -= 0.5 * (a * np.linalg.slogdet(covs[k])[1] + np.trace(B @ inv)
                            + 0.3 * offset @ inv @ offset)
        total += (2.0 - 1.0) * np.log(weights).sum()  # Dirichlet(2, 2)
        return -total

    theta = [np.log(gm.weights_[1] / gm.weights_[0]), *gm.means_.ravel()]
    for k in range(2):
        L = np.linalg.cholesky(gm.covariances_[k])
        theta += [np.log(L[0, 0]), L[1, 0], np.log(L[1, 1])]
    theta = np.array(theta)
    assert np.abs(central_gradient(negative, theta)).max() < 1e-5
    found = optimize.minimize(negative, theta, method="BFGS", options={"gtol": 1e-10})
    assert found.fun >= negative(theta) - 1e-9 * abs(negative(theta))
    # the monitored objective is this log posterior (per row, up to the prior's constant)
    history = gm.lower_bounds_
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
