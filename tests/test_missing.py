"""EM with missing values (MAR): against closed forms, direct optimisation and the complete path."""

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from emkit import GaussianMixture
from emkit.families.structures import get_structure

from .conftest import make_blobs

# every covariance model: scikit-learn's names and mclust's other ten
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical", "EII", "EEI", "VEI", "EVI",
                    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"]


def _with_missing(X, fraction, seed):
    rng = np.random.default_rng(seed)
    Xm = X.copy()
    Xm[rng.random(X.shape) < fraction] = np.nan
    return Xm


def _observed_loglik(X, mean, cov):
    total = 0.0
    for row in X:
        o = ~np.isnan(row)
        if o.any():
            total += multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(row[o])
    return total


def test_single_gaussian_matches_direct_maximisation_of_observed_likelihood():
    rng = np.random.default_rng(0)
    A = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.3, 0.5, 0.7]])
    X = rng.normal(size=(120, 3)) @ A.T + [1.0, -2.0, 0.5]
    Xm = _with_missing(X, 0.25, 1)
    gm = GaussianMixture(1, reg_covar=0.0, tol=1e-13, max_iter=5000).fit(Xm)

    tril = np.tril_indices(3)

    def unpack(theta):
        L = np.zeros((3, 3))
        L[tril] = theta[3:]
        L[np.diag_indices(3)] = np.exp(L[np.diag_indices(3)])
        return theta[:3], L @ L.T

    def negative(theta):
        mean, cov = unpack(theta)
        return -_observed_loglik(Xm, mean, cov)

    L0 = np.linalg.cholesky(np.cov(np.nan_to_num(Xm, nan=0.0).T) + np.eye(3))
    L0[np.diag_indices(3)] = np.log(L0[np.diag_indices(3)])
    start = np.concatenate([np.nanmean(Xm, axis=0), L0[tril]])
    best = optimize.minimize(negative, start, method="BFGS", options={"gtol": 1e-9})
    mean, cov = unpack(best.x)
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gm.covariances_[0], cov, rtol=1e-6, atol=1e-6)
    assert gm.score(Xm) * len(Xm) == pytest.approx(-best.fun, rel=1e-9)
    # plugging in conditional means alone would shrink the covariance
    assert np.all(np.diag(gm.covariances_[0]) > np.diag(np.cov(
        np.where(np.isnan(Xm), gm.means_[0], Xm).T, bias=True)))


def test_bivariate_monotone_pattern_equals_anderson_closed_form():
    rng = np.random.default_rng(3)
    n, n_complete = 300, 180
    x1 = rng.normal(2.0, 1.5, size=n)
    x2 = 0.7 * x1 + rng.normal(0, 0.8, size=n) - 1.0
    X = np.column_stack([x1, x2])
    X[n_complete:, 1] = np.nan
    # EM converges linearly (40% of x2 missing); run it to its fixed point
    with pytest.warns(ConvergenceWarning):
        gm = GaussianMixture(1, reg_covar=0.0, tol=0.0, max_iter=400).fit(X)
    # Anderson (1957): factor p(x1) p(x2 | x1); x1 uses all rows, the regression complete rows
    mu1 = x1.mean()
    s11 = x1.var()
    c1, c2 = x1[:n_complete], X[:n_complete, 1]
    beta = np.cov(c1, c2, bias=True)[0, 1] / c1.var()
    residual = c2.var() - beta**2 * c1.var()
    mu2 = c2.mean() + beta * (mu1 - c1.mean())
    cov = np.array([[s11, beta * s11], [beta * s11, residual + beta**2 * s11]])
    np.testing.assert_allclose(gm.means_[0], [mu1, mu2], rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_[0], cov, rtol=1e-11)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_with_missing_values_is_monotone_and_scores_marginals(covariance_type):
    X = make_blobs(dim=3)
    Xm = _with_missing(X, 0.2, 2)
    Xm[7] = np.nan  # a row with nothing observed
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-8,
                         max_iter=500).fit(Xm)  # strict mode: a decrease would raise
    assert gm.converged_
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12)
    structure = get_structure(covariance_type)
    expected = np.zeros(len(Xm))
    for i, row in enumerate(Xm):
        o = ~np.isnan(row)
        if not o.any():
            continue
        dens = sum(
            gm.weights_[k] * multivariate_normal(
                gm.means_[k][o],
                structure.component_covariance(gm.covariances_, k, 3)[np.ix_(o, o)],
            ).pdf(row[o])
            for k in range(3)
        )
        expected[i] = np.log(dens)
    np.testing.assert_allclose(gm.score_samples(Xm), expected, rtol=1e-10, atol=1e-12)
    proba = gm.predict_proba(Xm)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(proba[7], gm.weights_, rtol=1e-12)  # nothing observed: prior
    np.testing.assert_array_equal(gm.predict(Xm), proba.argmax(1))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rows_with_nothing_observed_change_nothing(covariance_type):
    X = make_blobs(dim=2)
    Xm = _with_missing(X, 0.15, 4)
    start = GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=2,
                            tol=0).fit(np.nan_to_num(Xm, nan=0.0))
    # a fixed number of iterations: the stopping rule looks at the mean objective
    # per row, which the padding rows dilute, so tol would stop the two at different steps
    kw = dict(covariance_type=covariance_type, tol=0.0, max_iter=60,
              weights_init=start.weights_, means_init=start.means_,
              precisions_init=start.precisions_)
    plain = GaussianMixture(3, **kw).fit(Xm)
    padded = GaussianMixture(3, **kw).fit(np.vstack([Xm, np.full((25, 2), np.nan)]))
    np.testing.assert_allclose(padded.means_, plain.means_, rtol=1e-10)
    np.testing.assert_allclose(padded.covariances_, plain.covariances_, rtol=1e-10)
    np.testing.assert_allclose(padded.weights_, plain.weights_, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_nan_rows_with_zero_weight_equal_removed_rows(covariance_type):
    X = make_blobs(dim=3)
    Xm = _with_missing(X, 0.3, 5)
    complete = ~np.isnan(Xm).any(axis=1)
    w = complete.astype(float)
    kw = dict(covariance_type=covariance_type, tol=1e-10, random_state=0)
    start = GaussianMixture(3, max_iter=1, **kw).fit(X[complete])
    kw.update(weights_init=start.weights_, means_init=start.means_,
              precisions_init=start.precisions_)
    a = GaussianMixture(3, **kw).fit(Xm, sample_weight=w)
    b = GaussianMixture(3, **kw).fit(X[complete])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)


def test_missing_data_recovers_the_truth_better_than_dropping_rows():
    rng = np.random.default_rng(6)
    means = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0]])
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.2], [0.3, 0.2, 1.0]])
    labels = rng.integers(0, 2, size=3000)
    X = means[labels] + rng.multivariate_normal(np.zeros(3), cov, size=3000)
    Xm = _with_missing(X, 0.3, 7)
    gm = GaussianMixture(2, covariance_type="tied", random_state=0, tol=1e-8).fit(Xm)
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], means, atol=0.12)
    np.testing.assert_allclose(gm.covariances_, cov, atol=0.12)


def test_prediction_accepts_rows_and_batches_with_unobserved_columns():
    X = make_blobs(dim=2)
    gm = GaussianMixture(2, random_state=0).fit(X)
    batch = np.array([[1.0, np.nan], [0.5, np.nan]])
    expected = np.log(sum(
        gm.weights_[k] * multivariate_normal(gm.means_[k][0], gm.covariances_[k][0, 0]).pdf(
            batch[:, 0]) for k in range(2)))
    np.testing.assert_allclose(gm.score_samples(batch), expected, rtol=1e-10)
    np.testing.assert_allclose(gm.predict_proba(batch).sum(1), 1.0)
