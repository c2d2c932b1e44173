"""BayesianGaussianMixture: scikit-learn parity (full), the exact evidence at K = 1, the ELBO."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import gammaln, multigammaln
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from emkit import BayesianGaussianMixture

PRIORS = ("dirichlet_process", "dirichlet_distribution")


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(0)
    centres = ([0, 0, 0], [5, 5, 0], [0, 6, 6])
    X = np.vstack([rng.normal(size=(200, 3)) @ rng.normal(size=(3, 3)) + c for c in centres])
    labels = KMeans(6, n_init=1, random_state=0).fit(X).labels_
    return X, labels


def sklearn_from(X, labels, **params):
    model = SkBayesianGaussianMixture(**params)
    resp = np.eye(params["n_components"])[labels]
    model._initialize_parameters = lambda X, random_state, xp=None: model._initialize(X, resp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


@pytest.mark.parametrize("prior", PRIORS)
def test_full_covariances_reproduce_scikit_learn(clusters, prior):
    X, labels = clusters
    # the same number of updates (their stopping rules differ: scikit-learn's bound drops
    # constants and is a total, emkit's is the ELBO per row)
    params = dict(n_components=6, covariance_type="full", weight_concentration_prior_type=prior,
                  tol=0.0, max_iter=60)
    theirs = sklearn_from(X, labels, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = BayesianGaussianMixture(labels_init=labels, **params).fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 60
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "mean_precision_", "degrees_of_freedom_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-8,
                                   atol=1e-10, err_msg=name)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-10)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-10)


@pytest.mark.parametrize("prior", PRIORS)
def test_unneeded_components_vanish(clusters, prior):
    X, labels = clusters
    model = BayesianGaussianMixture(6, weight_concentration_prior_type=prior, tol=1e-9,
                                    max_iter=2000, labels_init=labels).fit(X)
    assert model.converged_ and model.n_effective_components_ == 3
    expected_rows = model.mean_precision_ - model.mean_precision_prior_
    assert np.sort(expected_rows)[:3].sum() < 0.05  # three components hold no data


def _normal_wishart_evidence(X, beta0, nu0, psi0):
    N, D = X.shape
    xbar = X.mean(axis=0)
    scatter = (X - xbar).T @ (X - xbar)
    beta, nu = beta0 + N, nu0 + N
    psi = psi0 + scatter + beta0 * N / beta * np.outer(xbar, xbar - xbar)
    return (-N * D / 2 * np.log(np.pi) + multigammaln(nu / 2, D) - multigammaln(nu0 / 2, D)
            + nu0 / 2 * np.linalg.slogdet(psi0)[1] - nu / 2 * np.linalg.slogdet(psi)[1]
            + D / 2 * np.log(beta0 / beta))


def _normal_gamma_evidence(sums_of_squares, N, dims, a0, b0, beta0):
    beta, a = beta0 + N, a0 + N * dims / 2
    b = b0 + 0.5 * sums_of_squares
    return (gammaln(a) - gammaln(a0) + a0 * np.log(b0) - a * np.log(b)
            + dims / 2 * np.log(beta0 / beta) - N * dims / 2 * np.log(2 * np.pi))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_one_component_bound_is_the_exact_evidence(covariance_type):
    """With K = 1 the factorised posterior is exact, so the ELBO is log p(X) in closed form
    (the prior's mean is the data mean: the shrinkage term vanishes)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3)) + [1.0, 2.0, 3.0]
    N, D = X.shape
    model = BayesianGaussianMixture(1, covariance_type=covariance_type, reg_covar=0.0,
                                    weight_concentration_prior_type="dirichlet_distribution",
                                    tol=1e-14, max_iter=10).fit(X)
    squares = ((X - X.mean(axis=0)) ** 2).sum(axis=0)
    variances = np.var(X, axis=0, ddof=1)
    if covariance_type in ("full", "tied"):
        evidence = _normal_wishart_evidence(X, 1.0, D, np.cov(X.T))
    elif covariance_type == "diag":
        evidence = sum(_normal_gamma_evidence(squares[d], N, 1, D / 2, variances[d] / 2, 1.0)
                       for d in range(D))
    else:
        evidence = _normal_gamma_evidence(squares.sum(), N, D, D * D / 2,
                                          D * variances.mean() / 2, 1.0)
    assert model.lower_bound_ * N == pytest.approx(evidence, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["tied", "diag", "spherical"])
@pytest.mark.parametrize("prior", PRIORS)
def test_other_types_are_monotone_and_prune_components(clusters, covariance_type, prior):
    X, labels = clusters
    model = BayesianGaussianMixture(6, covariance_type=covariance_type,
                                    weight_concentration_prior_type=prior, tol=1e-8,
                                    max_iter=2000, labels_init=labels).fit(X)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12 * np.abs(model.lower_bounds_[1:]))
    assert model.converged_
    np.testing.assert_allclose(model.weights_.sum(), 1.0)


def test_diag_and_spherical_updates_are_scikit_learn_s_tied_is_not(clusters):
    """The first update from the same responsibilities: scikit-learn's M-step is exact VB
    for "diag" and "spherical" (their E-steps differ), not for "tied" (nu_0 + N / K)."""
    X, labels = clusters
    for covariance_type in ("diag", "spherical", "tied"):
        params = dict(n_components=6, covariance_type=covariance_type, max_iter=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = BayesianGaussianMixture(labels_init=labels, **params).fit(X)
        theirs = sklearn_from(X, labels, **{**params, "max_iter": 1})
        # scikit-learn's max_iter=1 has taken one more update; redo its initial one
        theirs._initialize(X, np.eye(6)[labels])
        same = np.allclose(ours.covariances_, theirs.covariances_, rtol=1e-10)
        assert same == (covariance_type != "tied"), covariance_type
        np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-10)


def test_bad_priors_are_named(clusters):
    X, _ = clusters
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        BayesianGaussianMixture(2, degrees_of_freedom_prior=1.0).fit(X)
    with pytest.raises(ValueError, match="covariance_prior must have shape"):
        BayesianGaussianMixture(2, covariance_type="diag", covariance_prior=np.eye(3)).fit(X)
    with pytest.raises(ValueError, match="mean_prior"):
        BayesianGaussianMixture(2, mean_prior=[0.0, 1.0]).fit(X)
    with pytest.raises(ValueError, match="weight_concentration_prior_type"):
        BayesianGaussianMixture(2, weight_concentration_prior_type="pitman_yor").fit(X)
