"""EM variants on conditional mixtures (RegressionMixture, MixtureOfExperts).

The M-step of GLM regimes and of the softmax gate refines its coefficients by
passes over the data; those passes must use the responsibilities of the
E-step's assignment (hard, stochastic, tempered), not plain EM's, or the
step maximises a different Q and the monitored objective can decrease.  The
suite runs in strict mode (conftest): such a decrease raises.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, PoissonRegressor

from emkit import MixtureOfExperts, RegressionMixture
from emkit.em.engine import DataPass, Tempered
from emkit.exceptions import ConvergenceWarning
from emkit.sources import ArraySource


def data(family: str, seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    regime = rng.integers(2, size=n)
    y = np.where(regime == 0, 1 + 2 * x, 20 - x) + rng.normal(0, 0.5, n)
    if family == "binomial":
        y = (y > 10).astype(float)
    elif family == "poisson":
        y = np.round(np.abs(y))
    return x[:, None], y


VARIANTS = [{"assignment": "hard"}, {"assignment": "stochastic", "stochastic_iter": 20},
            {"annealing": {"beta0": 0.3, "growth": 1.5}}]


@pytest.mark.parametrize("cls", [RegressionMixture, MixtureOfExperts])
@pytest.mark.parametrize("family", ["gaussian", "binomial", "poisson"])
@pytest.mark.parametrize("variant", VARIANTS, ids=["hard", "stochastic", "annealing"])
def test_variants_run_monotone_on_conditional_mixtures(cls, family, variant):
    X, y = data(family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = cls(2, family=family, random_state=0, **variant).fit(X, y)  # strict mode
    assert np.isfinite(est.lower_bound_)
    if "annealing" in variant or variant["assignment"] == "stochastic":
        # both end with plain EM: the result is a fixed point of EM, whose objective
        # is the log-likelihood: at most the best plain EM start's, and close to it
        plain = cls(2, family=family, random_state=0, n_init=5).fit(X, y)
        assert est.lower_bound_ <= plain.lower_bound_ + 1e-8
        assert est.lower_bound_ >= plain.lower_bound_ - 0.1


def test_classification_em_regressions_are_least_squares_on_their_partition():
    """At a fixed point of classification EM each regime's line is the OLS fit of the
    rows assigned to it (Gaussian family, common structure of CEM)."""
    X, y = data("gaussian", seed=3)
    est = RegressionMixture(2, assignment="hard", random_state=0, tol=1e-13,
                            max_iter=200).fit(X, y)
    labels = est.predict_proba(X, y).argmax(axis=1)
    for k in range(2):
        rows = labels == k
        ols = LinearRegression().fit(X[rows], y[rows])
        np.testing.assert_allclose(est.coef_[k], ols.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(est.intercept_[k], ols.intercept_, rtol=1e-8, atol=1e-10)
        residual = y[rows] - ols.predict(X[rows])
        np.testing.assert_allclose(est.noise_variance_[k], residual @ residual / rows.sum(),
                                   rtol=1e-8)


def test_classification_em_poisson_regimes_are_glm_fits_of_their_partition():
    """Poisson regimes under CEM: each is the unpenalised Poisson regression of its
    rows (the IRLS passes must see the hard partition, not soft responsibilities)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, 600)
    regime = rng.integers(2, size=600)
    y = rng.poisson(np.exp(np.where(regime == 0, 0.5 + 0.8 * x, 3.0 - 0.6 * x)))
    X = x[:, None]
    est = RegressionMixture(2, family="poisson", assignment="hard", random_state=0,
                            tol=1e-13, max_iter=300).fit(X, y)
    labels = est.predict_proba(X, y).argmax(axis=1)
    for k in range(2):
        rows = labels == k
        assert rows.sum() > 50
        ref = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=10_000).fit(X[rows], y[rows])
        np.testing.assert_allclose(est.coef_[k].ravel(), ref.coef_, rtol=1e-6)
        np.testing.assert_allclose(est.intercept_[k], ref.intercept_, rtol=1e-6)


def test_weighted_data_pass_uses_the_tempered_responsibilities():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    log_joint = rng.normal(size=(50, 3))
    w = rng.uniform(0.5, 2.0, 50)
    source = ArraySource(X, w, 7)
    index = {X[i].tobytes(): i for i in range(50)}

    def chunk_log_joint(Xc):
        return log_joint[[index[row.tobytes()] for row in Xc]]

    beta = 0.4
    got = DataPass(source, Tempered(beta)).weighted(chunk_log_joint,
                                                    lambda Xc, r: r.sum(axis=0))
    scaled = beta * log_joint
    resp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, (resp * w[:, None]).sum(axis=0), rtol=1e-12)
    hard = DataPass(source, "hard").weighted(chunk_log_joint, lambda Xc, r: r.sum(axis=0))
    expected = np.bincount(log_joint.argmax(axis=1), weights=w, minlength=3)
    np.testing.assert_allclose(hard, expected, rtol=1e-12)
