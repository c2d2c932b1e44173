"""HMM estimators against references: the dishonest casino (known parameters), a direct
numerical maximisation of the likelihood, brute-force enumeration of state paths, the
chain's empirical frequencies, and the compiled kernels against the NumPy path.

Every fit runs in strict mode (tests/conftest.py): a decreasing objective raises.
"""

import itertools

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import logsumexp

import emkit
from emkit.hmm import CategoricalHMM, GaussianHMM, PoissonHMM

# Durbin, Eddy, Krogh & Mitchison (1998), Biological Sequence Analysis, section 3.2:
# a casino switches between a fair die and a loaded one (a six half of the time).
CASINO_START = np.array([0.5, 0.5])
CASINO_TRANSMAT = np.array([[0.95, 0.05], [0.10, 0.90]])
CASINO_EMISSION = np.array([[1 / 6] * 6, [0.1] * 5 + [0.5]])


def simulate_states(rng, startprob, transmat, lengths):
    """State paths of the given lengths, drawn from the chain."""
    out = []
    cumulative = np.cumsum(transmat, axis=1)
    for T in lengths:
        z = np.empty(T, dtype=int)
        z[0] = rng.choice(len(startprob), p=startprob)
        u = rng.random(T)
        for t in range(1, T):
            z[t] = min(np.searchsorted(cumulative[z[t - 1]], u[t]), len(startprob) - 1)
        out.append(z)
    return np.concatenate(out)


def casino(rng, lengths):
    z = simulate_states(rng, CASINO_START, CASINO_TRANSMAT, lengths)
    u = rng.random(z.size)
    rolls = (np.cumsum(CASINO_EMISSION, axis=1)[z] < u[:, None]).sum(axis=1)
    return rolls[:, None] + 1, z  # faces 1..6


def reference_loglik(log_b, startprob, transmat, lengths):
    """log p(x) per sequence by the textbook log-space forward recursion (independent of
    emkit's kernels)."""
    with np.errstate(divide="ignore"):
        log_pi, log_a = np.log(startprob), np.log(transmat)
    out, start = [], 0
    for T in lengths:
        alpha = log_pi + log_b[start]
        for t in range(start + 1, start + T):
            alpha = logsumexp(alpha[:, None] + log_a, axis=0) + log_b[t]
        out.append(logsumexp(alpha))
        start += T
    return np.array(out)


def enumerate_paths(log_b, startprob, transmat):
    """(log p(x, path) for every path, the paths) of one short sequence."""
    T, K = log_b.shape
    with np.errstate(divide="ignore"):
        log_pi, log_a = np.log(startprob), np.log(transmat)
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    joint = log_pi[paths[:, 0]] + log_b[0, paths[:, 0]]
    for t in range(1, T):
        joint = joint + log_a[paths[:, t - 1], paths[:, t]] + log_b[t, paths[:, t]]
    return joint, paths


def given(estimator, X, lengths=None):
    """``estimator`` "fitted" to exactly its starting values (max_iter=0)."""
    return estimator.set_params(max_iter=0).fit(X, lengths)


def gaussian_log_b(model, X):
    """Gaussian emission log-densities by scipy (full covariances)."""
    return np.column_stack([
        stats.multivariate_normal(model.means_[k], model.covariances_[k]).logpdf(X)
        for k in range(model.n_components)])


# ------------------------------------------------------------------ the casino
def test_casino_recovers_the_textbook_parameters():
    rng = np.random.default_rng(0)
    lengths = [2000] * 15
    X, _ = casino(rng, lengths)
    # k-means on the one-hot faces starts from groups of faces: restarts find the optimum
    model = CategoricalHMM(2, n_init=4, random_state=0, accelerate="squarem").fit(X, lengths)
    order = np.argsort(model.emissionprob_[:, 5])  # fair first, then loaded
    np.testing.assert_allclose(model.emissionprob_[order], CASINO_EMISSION, atol=0.03)
    np.testing.assert_allclose(model.transmat_[np.ix_(order, order)], CASINO_TRANSMAT,
                               atol=0.015)
    assert model.converged_
    np.testing.assert_array_equal(model.categories_[0], np.arange(1, 7))


def test_casino_likelihood_and_paths_by_enumeration():
    """With the true parameters, P(O | lambda) is the sum over all paths (Rabiner's
    problem 1), the Viterbi path their maximum (problem 2), the posteriors their
    normalised sums."""
    rng = np.random.default_rng(1)
    X, _ = casino(rng, [200])
    model = given(CategoricalHMM(2, startprob_init=CASINO_START, transmat_init=CASINO_TRANSMAT,
                                 probabilities_init=[CASINO_EMISSION]), X)
    short = np.array([[6], [6], [2], [6], [6], [6], [1], [6], [3], [5]])
    log_b = np.log(CASINO_EMISSION[:, short[:, 0] - 1]).T
    joint, paths = enumerate_paths(log_b, CASINO_START, CASINO_TRANSMAT)
    assert model.score(short) == pytest.approx(logsumexp(joint), rel=1e-13)
    log_prob, path = model.decode(short)
    assert log_prob == pytest.approx(joint.max(), rel=1e-13)
    np.testing.assert_array_equal(path, paths[np.argmax(joint)])
    posterior = np.exp(joint - logsumexp(joint))
    loaded = (posterior[:, None] * (paths == 1)).sum(axis=0)
    np.testing.assert_allclose(model.predict_proba(short)[:, 1], loaded, atol=1e-13)


def scaled_loglik(log_b, startprob, transmat):
    """Total log p(x) of equal-length sequences, log_b (S, T, K): the scaled forward
    recursion run on all sequences at once (independent of emkit's kernels)."""
    top = log_b.max(axis=2)
    b = np.exp(log_b - top[:, :, None])
    alpha = startprob * b[:, 0]
    total = top.sum()
    for t in range(log_b.shape[1]):
        if t:
            alpha = (alpha @ transmat) * b[:, t]
        c = alpha.sum(axis=1)
        alpha /= c[:, None]
        total += np.log(c).sum()
    return total


def test_direct_maximisation_finds_no_improvement():
    """From emkit's fit, a quasi-Newton search over the transition and emission
    probabilities (softmax logits; likelihood by an independent forward recursion)
    cannot raise the log-likelihood, and its gradient there is ~0.  The start
    probabilities are held fixed (with a few sequences their MLE is on the boundary)."""
    rng = np.random.default_rng(4)
    lengths = [1000] * 3
    X, _ = casino(rng, lengths)
    model = CategoricalHMM(2, random_state=0, accelerate="squarem", tol=1e-11, max_iter=5000,
                           startprob_init=[0.5, 0.5], fixed=("startprob",)).fit(X, lengths)
    assert model.converged_
    assert model.startprob_.tolist() == [0.5, 0.5]
    codes = (X[:, 0] - 1).reshape(3, 1000)

    def negative_loglik(theta):
        transmat, emission = (np.exp(v - logsumexp(v, axis=1, keepdims=True))
                              for v in (theta[:4].reshape(2, 2), theta[4:].reshape(2, 6)))
        log_b = np.log(emission[:, codes]).transpose(1, 2, 0)
        return -scaled_loglik(log_b, model.startprob_, transmat)

    theta0 = np.log(np.concatenate([model.transmat_.ravel(), model.emissionprob_.ravel()]))
    f0 = negative_loglik(theta0)
    assert -f0 == pytest.approx(model.score(X, lengths), rel=1e-12)
    gradient = optimize.approx_fprime(theta0, negative_loglik, 1e-6)
    assert np.abs(gradient).max() < 1e-3
    result = optimize.minimize(negative_loglik, theta0, method="L-BFGS-B",
                               options={"maxiter": 20})
    assert result.fun >= f0 - 1e-9 * abs(f0)


# ------------------------------------------------------------------ enumeration
@pytest.fixture(scope="module")
def gaussian_fit():
    rng = np.random.default_rng(3)
    transmat = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.15, 0.15, 0.7]])
    lengths = [150, 90, 210]
    z = simulate_states(rng, np.array([0.6, 0.3, 0.1]), transmat, lengths)
    means = np.array([[0.0, 0.0], [2.5, 1.0], [-1.0, 3.0]])
    X = means[z] + rng.normal(size=(z.size, 2)) @ np.array([[1.0, 0.3], [0.0, 0.7]])
    with emkit.config_context(kernels="numpy"):
        model = GaussianHMM(3, random_state=0, n_init=2).fit(X, lengths)
    return model, X, lengths


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_viterbi_and_posteriors_by_enumeration(gaussian_fit, kernels):
    if kernels == "numba":
        pytest.importorskip("numba")
    model, _, _ = gaussian_fit
    rng = np.random.default_rng(4)
    short = [rng.normal(scale=2.0, size=(T, 2)) for T in (1, 5, 7)]
    with emkit.config_context(kernels=kernels):
        log_prob, path = model.decode(short)
        proba = model.predict_proba(short)
        scores = model.score_sequences(short)
    total, start = 0.0, 0
    for s, x in enumerate(short):
        joint, paths = enumerate_paths(gaussian_log_b(model, x), model.startprob_,
                                       model.transmat_)
        best = int(np.argmax(joint))
        total += joint[best]
        rows = slice(start, start + x.shape[0])
        np.testing.assert_array_equal(path[rows], paths[best])
        posterior = np.exp(joint - logsumexp(joint))
        expected = np.stack([(posterior[:, None] * (paths == k)).sum(axis=0)
                             for k in range(3)], axis=1)
        np.testing.assert_allclose(proba[rows], expected, atol=1e-12)
        assert scores[s] == pytest.approx(logsumexp(joint), rel=1e-12)
        start += x.shape[0]
    assert log_prob == pytest.approx(total, rel=1e-12)


def test_score_equals_independent_forward(gaussian_fit):
    model, X, lengths = gaussian_fit
    expected = reference_loglik(gaussian_log_b(model, X), model.startprob_, model.transmat_,
                                lengths)
    np.testing.assert_allclose(model.score_sequences(X, lengths), expected, rtol=1e-12)
    assert model.score(X, lengths) == pytest.approx(expected.sum(), rel=1e-12)
    total, proba = model.score_samples(X, lengths)
    assert total == pytest.approx(expected.sum(), rel=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    # the fit's last objective is the log-likelihood per row of its last E-step
    assert model.lower_bound_ * X.shape[0] <= expected.sum() + 1e-9
    p = model.n_parameters()
    assert p == 2 + 6 + 6 + 9  # start, transitions, means, full covariances
    assert model.bic(X, lengths) == pytest.approx(-2 * expected.sum() + p * np.log(X.shape[0]))
    assert model.aic(X, lengths) == pytest.approx(-2 * expected.sum() + 2 * p)
    map_log_prob, map_states = model.decode(X, lengths, algorithm="map")
    assert map_log_prob == pytest.approx(expected.sum(), rel=1e-12)
    np.testing.assert_array_equal(map_states, np.argmax(proba, axis=1))


def test_sample_follows_the_chain(gaussian_fit):
    model, _, _ = gaussian_fit
    X, states = model.sample(60_000, random_state=0)
    assert X.shape == (60_000, 2) and states.shape == (60_000,)
    counts = np.zeros((3, 3))
    np.add.at(counts, (states[:-1], states[1:]), 1.0)
    frequencies = counts / counts.sum(axis=1, keepdims=True)
    se = np.sqrt(model.transmat_ * (1 - model.transmat_) / counts.sum(axis=1, keepdims=True))
    assert np.all(np.abs(frequencies - model.transmat_) < 5 * se + 1e-12)
    for k in range(3):
        rows = X[states == k]
        se = np.sqrt(np.diag(model.covariances_[k]) / rows.shape[0])
        assert np.all(np.abs(rows.mean(axis=0) - model.means_[k]) < 5 * se)
    _again, again_states = model.sample(100, random_state=0)
    np.testing.assert_array_equal(again_states, states[:100])
    _, from_two = model.sample(5, random_state=1, currstate=2)
    assert from_two[0] == 2


# ------------------------------------------------------------------ kernels
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_compiled_fit_matches_numpy(accelerate):
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    lengths = [300, 1, 120, 80, 5, 17, 60, 33, 2]  # >= 8: the NumPy path's lockstep
    z = simulate_states(rng, np.ones(3) / 3, np.full((3, 3), 0.1) + 0.7 * np.eye(3), lengths)
    X = rng.poisson(np.array([1.0, 4.0, 9.0])[z])[:, None].astype(float)
    y = np.full(z.size, -1)
    y[::17] = z[::17]
    fits = []
    for kernels in ("numba", "numpy"):
        with emkit.config_context(kernels=kernels):
            fits.append(PoissonHMM(3, random_state=0, semi_supervised=True, tol=1e-9,
                                   max_iter=40, accelerate=accelerate).fit(
                X, lengths, y=y, sample_weight=[1.0, 2.0, 0.5, 1.0, 0.0, 1.0, 3.0, 1.0, 1.0]))
    fast, slow = fits
    assert fast.n_iter_ == slow.n_iter_
    np.testing.assert_allclose(fast.lower_bounds_, slow.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(fast.rates_, slow.rates_, rtol=1e-8)
    np.testing.assert_allclose(fast.transmat_, slow.transmat_, rtol=1e-8, atol=1e-12)
