"""GaussianMixture(fit_method="gradient") with a prior (MAP) and with fixed parameter groups.

References: central finite differences of the log posterior (the prior's
analytic gradient), MAP-EM and EM with the same ``fixed`` from the same
start (the optimum they reach), the start's values (the fixed groups).
"""

import numpy as np
import pytest

from emkit import GaussianMixture, GaussianPrior
from emkit.em.engine import expectation
from emkit.models._base import make_source

PRIORS = {"default": "default",
          "concentrated": GaussianPrior(shrinkage=0.5, weight_concentration=3.0)}


def overlapping(n=60, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n, dim)) @ (np.eye(dim) + 0.3 * rng.normal(size=(dim, dim)))
                      + 3.0 * k for k in range(3)])


@pytest.mark.parametrize("prior", list(PRIORS))
@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical", "EEI", "EII", "EVE",
                                  "VEV", "VEI"])
def test_log_posterior_gradient_equals_central_differences(kind, prior):
    rng = np.random.default_rng(1)
    X = overlapping()
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    gm = GaussianMixture(3, covariance_type=kind, reg_covar=0.0, prior=PRIORS[prior],
                         max_iter=2, tol=10.0, random_state=0).fit(X)
    source = make_source(X, weights, None, 10)
    model = gm._engine_model_for(X)
    gm._prepare(model, X, source)
    assert model.prior is not None
    param = gm._gradient_parametrisation(model, gm._params())
    theta = param.pack(gm._params()) + rng.normal(scale=0.2, size=param.size)

    def log_posterior(t):
        stats, mean = expectation(model, param.unpack(t), source)
        return mean * stats.counts.sum()

    params = param.unpack(theta)
    stats, _ = expectation(model, params, source)
    analytic = param.gradient(theta, params, stats)
    h = 1e-5
    numeric = np.array([(log_posterior(theta + h * e) - log_posterior(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    assert np.abs(numeric - analytic).max() <= 1e-6 * np.abs(numeric).max()
    # the prior's part is not negligible: the log-likelihood's gradient alone differs
    model.prior = None
    plain = param.gradient(theta, params, stats)
    assert np.abs(plain - analytic).max() > 1e-3 * np.abs(numeric).max()


@pytest.mark.parametrize("prior", list(PRIORS))
@pytest.mark.parametrize("kind", ["full", "diag", "EII", "EVE", "VEV"])
def test_map_gradient_fit_reaches_map_em(kind, prior):
    X = overlapping()
    common = dict(covariance_type=kind, reg_covar=0.0, max_iter=5000, random_state=0,
                  prior=PRIORS[prior])
    em = GaussianMixture(3, tol=1e-13, **common).fit(X)
    gradient = GaussianMixture(3, tol=1e-14, fit_method="gradient", **common).fit(X)
    assert gradient.converged_
    # the log posterior per row, recorded by both
    assert gradient.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(gradient.weights_, em.weights_, atol=1e-6)
    np.testing.assert_allclose(gradient.means_, em.means_, atol=1e-5)
    np.testing.assert_allclose(gradient.covariances_, em.covariances_, atol=1e-5)
    # not the maximum-likelihood fit
    ml = GaussianMixture(3, tol=1e-14, fit_method="gradient",
                         **{**common, "prior": None}).fit(X)
    assert np.abs(ml.means_ - gradient.means_).max() > 1e-4


def _start(kind, X):
    start = GaussianMixture(3, covariance_type=kind, max_iter=3, tol=0.0, random_state=0)
    with pytest.warns(Warning):  # max_iter=3: not converged (a start, deliberately)
        start.fit(X)
    return dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_)


@pytest.mark.parametrize("fixed", [("weights",), ("means",), ("covariances",),
                                   ("weights", "means"), ("means", "covariances")])
@pytest.mark.parametrize("kind", ["full", "diag", "VEV"])
def test_fixed_groups_reach_the_conditional_em_optimum(kind, fixed):
    X = overlapping()
    init = _start(kind, X)
    common = dict(covariance_type=kind, reg_covar=0.0, max_iter=5000, fixed=fixed, **init)
    em = GaussianMixture(3, tol=1e-13, **common).fit(X)
    gradient = GaussianMixture(3, tol=1e-14, fit_method="gradient", **common).fit(X)
    assert gradient.converged_
    assert gradient.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-10)
    for group, attribute in [("weights", "weights_"), ("means", "means_"),
                             ("covariances", "covariances_")]:
        ours, theirs = getattr(gradient, attribute), getattr(em, attribute)
        if group in fixed:  # held exactly, as EM holds them
            np.testing.assert_array_equal(ours, theirs)
        else:
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # fewer free parameters: the fixed groups do not count
    assert gradient._n_parameters() == em._n_parameters()


def test_every_group_fixed_returns_the_start():
    X = overlapping()
    init = _start("full", X)
    gradient = GaussianMixture(3, fixed=("weights", "means", "covariances"), reg_covar=0.0,
                               fit_method="gradient", **init).fit(X)
    assert gradient.converged_
    np.testing.assert_array_equal(gradient.means_, init["means_init"])
    em = GaussianMixture(3, fixed=("weights", "means", "covariances"), reg_covar=0.0,
                         **init).fit(X)
    assert gradient.score(X) == pytest.approx(em.score(X), abs=1e-12)


def test_map_with_fixed_means():
    X = overlapping()
    init = _start("full", X)
    common = dict(reg_covar=0.0, max_iter=5000, fixed=("means",), prior="default", **init)
    em = GaussianMixture(3, tol=1e-13, **common).fit(X)
    gradient = GaussianMixture(3, tol=1e-14, fit_method="gradient", **common).fit(X)
    assert gradient.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(gradient.covariances_, em.covariances_, atol=1e-5)
