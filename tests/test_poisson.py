"""PoissonMixture: flexmix parity, peers, closed forms, exact boundary handling, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import poisson

from emkit import PoissonMixture
from emkit.exceptions import ConvergenceWarning
from emkit.families.poisson import PoissonFamily, PoissonParams

REFERENCES = Path(__file__).parent / "references"


def brute_log_prob(rates: np.ndarray, X: np.ndarray) -> np.ndarray:
    """log p(x | k) term by term with scipy, missing entries skipped."""
    out = np.zeros((X.shape[0], rates.shape[0]))
    for k in range(rates.shape[0]):
        terms = poisson.logpmf(np.nan_to_num(X), rates[k])
        out[:, k] = np.where(np.isnan(X), 0.0, terms).sum(axis=1)
    return out


def count_data(seed=0, n=400):
    rng = np.random.default_rng(seed)
    rates = np.array([[0.5, 6.0, 2.0], [5.0, 1.0, 2.0], [3.0, 3.0, 12.0]])
    return rng.poisson(rates[rng.integers(3, size=n)]).astype(float)


def fit_quietly(estimator, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: a fixed count
        return estimator.fit(X, **kw)


# ------------------------------------------------------------------ references
@pytest.fixture(scope="module")
def dmft():
    return json.loads((REFERENCES / "flexmix_poisson.json").read_text())


@pytest.fixture(scope="module")
def dmft_fits(dmft):
    """emkit on dmft from the reference partitions, SQUAREM to the fixed point."""
    X = np.array(dmft["X"], dtype=float)
    return {k: fit_quietly(PoissonMixture(int(k), labels_init=np.array(fit["partition"]) - 1,
                                          tol=0.0, max_iter=2500, accelerate="squarem"), X)
            for k, fit in dmft["fits"].items()}


@pytest.mark.parametrize("k", ["2", "3", "4"])
def test_matches_flexmix_on_dmft_from_the_same_partition(dmft, dmft_fits, k):
    """flexmix 2.3-18 FLXMCmvpois, 50000 iterations from the same partition (its fixed
    point); emkit gets there with SQUAREM (2500 EM-map evaluations, tol=0)."""
    fit = dmft["fits"][k]
    X = np.array(dmft["X"], dtype=float)
    pm = dmft_fits[k]
    loglik = float(pm.score_samples(X).sum())
    assert loglik == pytest.approx(fit["loglik"], rel=1e-10)
    np.testing.assert_allclose(pm.weights_, fit["weights"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pm.rates_, fit["rates"], rtol=1e-10, atol=1e-10)
    assert pm.lower_bounds_[-1] == pytest.approx(loglik / X.shape[0], rel=1e-10)


@pytest.mark.parametrize("k", ["2", "3", "4"])
def test_converged_log_likelihood_is_at_least_pomegranates(dmft, dmft_fits, k):
    """pomegranate 1.1 from the same starting parameters (tests/references/peers_discrete.py),
    its parameters scored in float64."""
    peers = json.loads((REFERENCES / "peers_discrete.json").read_text())
    theirs = peers["poisson_dmft"][k]["pomegranate"]["loglik"]
    X = np.array(dmft["X"], dtype=float)
    ours = float(dmft_fits[k].score_samples(X).sum())
    assert ours >= theirs - 1e-12 * abs(theirs)
    assert ours - theirs < 1e-6 * abs(theirs)  # the same maximum


def test_one_component_is_the_column_mean_and_alpha_is_pseudo_rows():
    X = count_data(1)
    X[::7, 1] = np.nan
    observed = ~np.isnan(X)
    sums, n = np.nansum(X, axis=0), observed.sum(axis=0)
    pm = PoissonMixture(1).fit(X)
    np.testing.assert_allclose(pm.rates_[0], sums / n, rtol=1e-14)
    pm = PoissonMixture(1, alpha=3.0).fit(X)
    mean = sums / n  # the prior's centre: the column means
    np.testing.assert_allclose(pm.rates_[0], (sums + 3.0 * mean) / (n + 3.0), rtol=1e-14)


def test_no_direct_improvement_of_the_log_likelihood_from_the_em_solution():
    """L-BFGS on the observed-data log-likelihood (log-rates, softmax weights) from emkit's MLE."""
    X = count_data(2)
    pm = PoissonMixture(3, tol=1e-13, max_iter=20000, random_state=0,
                        accelerate="squarem").fit(X)
    K, D = pm.rates_.shape
    theta0 = np.concatenate([np.log(pm.weights_), np.log(pm.rates_).ravel()])

    def negative_loglik(theta):
        log_w = theta[:K] - logsumexp(theta[:K])
        log_rates = theta[K:].reshape(K, D)
        lp = poisson.logpmf(X[:, None, :], np.exp(log_rates)[None]).sum(axis=2)
        return -logsumexp(lp + log_w, axis=1).sum()

    start = negative_loglik(theta0)
    best = minimize(negative_loglik, theta0, method="L-BFGS-B").fun
    assert start == pytest.approx(-pm.score_samples(X).sum(), rel=1e-12)
    assert best >= start - 1e-6 * abs(start)


def test_fully_labelled_fit_is_the_map_closed_form():
    X = count_data(3)
    y = np.arange(X.shape[0]) % 3
    y[:100] = 0
    pm = PoissonMixture(3, alpha=2.0, weight_concentration=4.0, semi_supervised=True).fit(X, y)
    counts = np.bincount(y, minlength=3)
    np.testing.assert_allclose(pm.weights_, (counts + 3.0) / (counts.sum() + 9.0), rtol=1e-12)
    sums = np.stack([X[y == k].sum(axis=0) for k in range(3)])
    mean = X.mean(axis=0)
    np.testing.assert_allclose(pm.rates_, (sums + 2.0 * mean) / (counts[:, None] + 2.0),
                               rtol=1e-12)


# ------------------------------------------------------------------ the E-step
def test_log_prob_is_exact_with_zero_rates_missing_values_and_large_counts():
    rng = np.random.default_rng(4)
    rates = rng.uniform(0.5, 30.0, size=(4, 5))
    rates[0, 1] = 0.0
    rates[2, :2] = 0.0
    X = rng.poisson(rates[rng.integers(1, 4, size=300)] + 1.0).astype(float)
    X[::5, 1] = 0.0
    X[3, 4] = 1e6  # gammaln of a large count
    X[rng.random(X.shape) < 0.15] = np.nan
    expected = brute_log_prob(rates, X)
    got = PoissonFamily().log_prob(PoissonParams(rates), X)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12)


def test_chunks_and_the_cached_constant_give_the_same_fit():
    X = count_data(5, n=1000)
    labels = np.arange(X.shape[0]) % 3
    one = PoissonMixture(3, labels_init=labels, tol=1e-12, max_iter=2000).fit(X)
    many = PoissonMixture(3, labels_init=labels, tol=1e-12, max_iter=2000,
                          chunk_size=97).fit(X)
    np.testing.assert_allclose(many.rates_, one.rates_, rtol=1e-10)
    np.testing.assert_allclose(many.lower_bounds_, one.lower_bounds_, rtol=1e-12)
    # the objective EM reports includes the log-factorial term exactly
    assert one.lower_bound_ == pytest.approx(one.score(X), rel=1e-9)


def test_zero_rates_under_maximum_likelihood_and_impossible_rows():
    X = np.array([[0, 3], [0, 5], [4, 0], [6, 0]], dtype=float)
    pm = PoissonMixture(2, labels_init=[0, 0, 1, 1]).fit(X)
    assert (pm.rates_ == 0.0).sum() == 2  # ML on the boundary
    new = np.array([[2.0, 2.0], [0.0, 1.0]])
    scores = pm.score_samples(new)
    assert scores[0] == -np.inf and np.isfinite(scores[1])
    with pytest.raises(ValueError, match="row 0 of X has probability 0 under every component"):
        pm.predict(new)
    smoothed = PoissonMixture(2, alpha=0.5, labels_init=[0, 0, 1, 1]).fit(X)
    assert (smoothed.rates_ > 0).all()
    assert np.isfinite(smoothed.score_samples(new)).all()


# ------------------------------------------------------------------ input checks
def test_bad_counts_are_named():
    X = count_data(6)
    X[4, 2] = -1.0
    with pytest.raises(ValueError, match=r"value -1\.0 at row 4, column 2; a Poisson"):
        PoissonMixture(2).fit(X)
    X[4, 2] = 2.5
    with pytest.raises(ValueError, match=r"value 2\.5 at row 4, column 2, which is not an "
                                         "integer"):
        PoissonMixture(2).fit(X)
    X[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"inf at row 4, column 2"):
        PoissonMixture(2).fit(X)
    fitted = PoissonMixture(2, random_state=0).fit(count_data(6))
    with pytest.raises(ValueError, match="non-negative integer counts"):
        fitted.predict(np.full((1, 3), 0.5))


def test_integer_input_and_bad_initial_values():
    X = count_data(7).astype(np.int64)
    assert np.isfinite(PoissonMixture(2, random_state=0).fit(X).lower_bound_)
    with pytest.raises(ValueError, match="rates_init must have shape"):
        PoissonMixture(2, rates_init=np.ones((3, 3))).fit(X)
    with pytest.raises(ValueError, match="rates_init must hold finite non-negative"):
        PoissonMixture(2, rates_init=-np.ones((2, 3))).fit(X)
    with pytest.raises(ValueError, match="alpha"):
        PoissonMixture(2, alpha=-1.0).fit(X)


def test_sample_reproduces_the_rates():
    pm = PoissonMixture(2, rates_init=[[0.5, 9.0], [4.0, 2.0]], weights_init=[0.3, 0.7],
                        max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.fit(np.array([[0.0, 1.0], [1.0, 0.0]]))
    rows, labels = pm.sample(20000, random_state=1)
    n = np.bincount(labels, minlength=2)
    assert abs(n[0] / 20000 - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 20000)
    for k in range(2):
        means = rows[labels == k].mean(axis=0)
        se = np.sqrt(pm.rates_[k] / n[k])
        assert np.all(np.abs(means - pm.rates_[k]) < 5 * se)
