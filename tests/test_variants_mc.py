"""Monte Carlo EM (Wei & Tanner 1990): draws, their error, the final EM phase.

The suite runs in strict mode (conftest): the final EM phase's log-likelihood
raises if it decreases (the Monte Carlo phase is not monotone and not checked).
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from emkit import GaussianMixture, PoissonMixture
from emkit.em.engine import row_uniforms
from emkit.em.montecarlo import MonteCarlo, draw_counts
from emkit.em.variants import MonteCarloEM, check_monte_carlo

from .conftest import make_blobs
from .test_variants import FIXED_POINT_GAP, fixed_point_gap


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_per=(120, 90, 100), dim=2, seed=3, spread=2.0)


# ----------------------------------------------------------------- the draws
def test_draw_counts_are_inverse_cdf_draws():
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(5), size=200)
    u = rng.uniform(size=(200, 7))
    counts = draw_counts(resp, u)
    cumulative = np.cumsum(resp, axis=1) / resp.sum(axis=1, keepdims=True)
    expected = np.zeros_like(resp)
    for i in range(200):  # one draw at a time, by definition
        for s in range(7):
            expected[i, np.searchsorted(cumulative[i], u[i, s], side="right")] += 1
    np.testing.assert_array_equal(counts, expected)


def test_monte_carlo_frequencies_and_chunk_independence():
    rng = np.random.default_rng(1)
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    n = 3000
    log_joint = np.log(probabilities) + rng.normal(size=(n, 1))
    step = MonteCarlo(seed=3, draws=20, growth=1.0, max_draws=20).at(4)
    objective, resp, variance = step(log_joint.copy())
    np.testing.assert_allclose(objective, logsumexp(log_joint, axis=1), rtol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-14)
    assert set(np.unique(resp * 20)) <= set(range(21))
    # 60,000 draws: binomial standard errors <= 0.002, allow 5 of them
    np.testing.assert_allclose(resp.mean(axis=0), probabilities, atol=0.01)
    # the posterior variance of log p(x, z) (the same for every row here)
    logs = np.log(probabilities)
    exact = probabilities @ logs**2 - (probabilities @ logs) ** 2
    np.testing.assert_allclose(variance, exact, rtol=1e-10)
    parts = [step(log_joint[a:b].copy(), start=a)[1] for a, b in ((0, 7), (7, 1000), (1000, n))]
    np.testing.assert_array_equal(np.vstack(parts), resp)
    assert not np.array_equal(MonteCarlo(seed=3, draws=20, max_draws=20).at(5)(
        log_joint.copy())[1], resp)


def test_draws_schedule():
    mc = MonteCarlo(seed=0, draws=10, growth=1.5, max_draws=40)
    assert [mc.at(t).n_draws for t in range(1, 7)] == [10, 15, 23, 34, 40, 40]
    assert check_monte_carlo(None) == MonteCarloEM(10, 1.2, 1000)
    assert check_monte_carlo(25) == MonteCarloEM(25, 1.0, 25)
    assert check_monte_carlo({"growth": 2}) == MonteCarloEM(10, 2.0, 1000)


def test_reported_standard_error_matches_the_spread_over_seeds():
    """The Monte Carlo standard error of Q_hat equals its spread over independent draws."""
    rng = np.random.default_rng(2)
    log_joint = rng.normal(size=(400, 3)) * 2.0
    w = rng.uniform(0.5, 2.0, size=400)
    log_norm = logsumexp(log_joint, axis=1)
    estimates, errors = [], []
    for seed in range(300):
        step = MonteCarlo(seed=seed, draws=5, growth=1.0, max_draws=5).at(1)
        _, resp, variance = step(log_joint.copy())
        estimates.append(w @ (resp * log_joint).sum(axis=1) / w.sum())
        step.finish(None, None, (0.0, w.sum(), None, float((w * w) @ variance)))
        errors.append(step.record[-1][2])
    np.testing.assert_allclose(errors, errors[0], rtol=1e-12)  # depends on theta only
    # the standard deviation of 300 estimates is within ~4% (1 sd) of the truth
    assert np.std(estimates, ddof=1) == pytest.approx(errors[0], rel=0.15)
    expected_q = w @ (np.exp(log_joint - log_norm[:, None]) * log_joint).sum(axis=1) / w.sum()
    assert np.mean(estimates) == pytest.approx(expected_q, abs=4 * errors[0] / np.sqrt(300))


# ----------------------------------------------------------------- estimator fits
@pytest.mark.parametrize("covariance_type", ["full", "diag", "VEV"])
def test_mcem_ends_at_the_plain_em_fixed_point(X, covariance_type):
    est = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=2000,
                          random_state=0, assignment="monte-carlo", stochastic_iter=15,
                          monte_carlo={"draws": 5, "growth": 1.3, "max_draws": 30}).fit(X)
    assert [p["name"] for p in est.phases_] == ["monte-carlo", "em"]
    mc = est.phases_[0]
    assert mc["n_iter"] == 15 and not mc["converged"]
    np.testing.assert_array_equal(
        mc["n_draws"], [min(int(np.ceil(5 * 1.3**t - 1e-9)), 30) for t in range(15)])
    assert mc["mc_standard_error"].shape == (15,) and (mc["mc_standard_error"] > 0).all()
    final = est.phases_[1]["objective_history"]  # strict mode checked it; so does this
    assert (np.diff(final) >= -1e-10 * np.abs(final[:-1])).all()
    assert est.converged_ and fixed_point_gap(est, X) < FIXED_POINT_GAP
    assert est.lower_bound_ == pytest.approx(est.score(X), abs=1e-8)
    em = GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=2000,
                         random_state=0).fit(X)
    assert est.score(X) == pytest.approx(em.score(X), abs=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mcem_is_reproducible_and_seeded(X):
    options = {"assignment": "monte-carlo", "stochastic_iter": 10, "max_iter": 5,
               "monte_carlo": 3}
    a = GaussianMixture(3, random_state=4, **options).fit(X)
    b = GaussianMixture(3, random_state=4, **options).fit(X)
    c = GaussianMixture(3, random_state=5, **options).fit(X)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.means_, b.means_)
    # another seed: other draws (the same start would give the same first value)
    assert not np.array_equal(a.phases_[0]["objective_history"][1:],
                              c.phases_[0]["objective_history"][1:])
    # the draws do not depend on the chunking
    d = GaussianMixture(3, random_state=4, chunk_size=17, **options).fit(X)
    np.testing.assert_allclose(d.lower_bounds_, a.lower_bounds_, rtol=1e-12)


def test_mcem_honours_sample_weights(X):
    rng = np.random.default_rng(6)
    counts = rng.integers(0, 3, size=X.shape[0])
    common = {"tol": 1e-10, "max_iter": 2000, "random_state": 0,
              "means_init": X[[0, 150, 250]]}
    mc = GaussianMixture(3, assignment="monte-carlo", stochastic_iter=10, **common).fit(
        X, sample_weight=counts)
    em = GaussianMixture(3, **common).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(mc.means_, em.means_, atol=1e-5)
    np.testing.assert_allclose(mc.weights_, em.weights_, atol=1e-6)


def test_mcem_with_accelerate_missing_values_and_other_families(X):
    Xm = X.copy()
    Xm[::9, 1] = np.nan
    est = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=2000, accelerate="squarem",
                          assignment="monte-carlo", stochastic_iter=8).fit(Xm)
    em = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=2000).fit(Xm)
    assert est.score(Xm) == pytest.approx(em.score(Xm), abs=1e-7)
    rng = np.random.default_rng(0)
    counts = np.vstack([rng.poisson(2, size=(150, 2)), rng.poisson(9, size=(150, 2))])
    pm = PoissonMixture(2, random_state=0, tol=1e-10, max_iter=2000,
                        assignment="monte-carlo", stochastic_iter=8).fit(counts)
    plain = PoissonMixture(2, random_state=0, tol=1e-10, max_iter=2000).fit(counts)
    assert pm.score(counts) == pytest.approx(plain.score(counts), abs=1e-8)


@pytest.mark.parametrize("params, match", [
    ({"monte_carlo": 0}, r"monte_carlo\['draws'\] must be an integer >= 1"),
    ({"monte_carlo": {"growth": 0.5}}, r"monte_carlo\['growth'\] must be a number >= 1"),
    ({"monte_carlo": {"draws": 20, "max_draws": 10}}, r"max_draws'\] \(10\) must be >="),
    ({"monte_carlo": {"draw": 2}}, r"monte_carlo has unknown setting\(s\) \['draw'\]"),
    ({"assignment": "monte-carlo", "checkpoint": "x.npz"},
     r"checkpoint is not supported with assignment='monte-carlo'"),
    ({"assignment": "monte-carlo", "annealing": True},
     r"does not combine with assignment='monte-carlo'"),
])
def test_invalid_monte_carlo_options_are_refused(X, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3, **params).fit(X)


def test_row_uniforms_give_s_draws_per_row_without_overlap():
    # row i uses uniforms [i * S, (i + 1) * S) of the iteration's stream
    S = 4
    whole = row_uniforms(1, 2, 0, 10 * S).reshape(10, S)
    np.testing.assert_array_equal(whole[3:], row_uniforms(1, 2, 3 * S, 7 * S).reshape(7, S))


def test_mcem_keeps_labelled_rows(X):
    y = np.full(X.shape[0], -1)
    y[:20], y[130:150], y[220:240] = 0, 1, 2
    common = {"semi_supervised": True, "tol": 1e-10, "max_iter": 2000, "random_state": 0}
    mc = GaussianMixture(3, assignment="monte-carlo", stochastic_iter=10, **common).fit(X, y)
    em = GaussianMixture(3, **common).fit(X, y)
    np.testing.assert_allclose(mc.means_, em.means_, atol=1e-5)
    assert mc.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-9)
