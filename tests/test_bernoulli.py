"""BernoulliMixture: flexmix parity, closed forms, exact boundary handling, sparse input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

from emkit import BernoulliMixture
from emkit.exceptions import ConvergenceWarning
from emkit.families.bernoulli import BernoulliFamily, BernoulliParams

REFERENCES = Path(__file__).parent / "references"


def brute_log_prob(p: np.ndarray, X: np.ndarray) -> np.ndarray:
    """log p(x | k) term by term, missing entries skipped, log 0 = -inf."""
    out = np.zeros((X.shape[0], p.shape[0]))
    with np.errstate(divide="ignore"):
        for i, row in enumerate(X):
            for k in range(p.shape[0]):
                seen = ~np.isnan(row)
                terms = np.where(row[seen] == 1, np.log(p[k, seen]), np.log1p(-p[k, seen]))
                out[i, k] = terms.sum()
    return out


def mixed_data(seed=0, n=300, d=6):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, size=(3, d))
    z = rng.integers(3, size=n)
    return (rng.random((n, d)) < p[z]).astype(float)


# ------------------------------------------------------------------ references
@pytest.fixture(scope="module")
def whiskey():
    return json.loads((REFERENCES / "flexmix_bernoulli.json").read_text())


@pytest.mark.parametrize("k", ["2", "3", "4"])
def test_matches_flexmix_on_whiskey_from_the_same_partition(whiskey, k):
    """flexmix 2.3-18 FLXMCmvbinary, 4000 EM iterations from the same partition."""
    fit = whiskey["fits"][k]
    X = np.array(whiskey["X"], dtype=float)
    freq = np.array(whiskey["freq"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: the 4000 iterations
        bm = BernoulliMixture(int(k), labels_init=np.array(fit["partition"]) - 1, tol=0.0,
                              max_iter=4000).fit(X, sample_weight=freq)
    loglik = float(freq @ bm.score_samples(X))
    assert loglik == pytest.approx(fit["loglik"], rel=1e-12)
    np.testing.assert_allclose(bm.weights_, fit["weights"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(bm.probabilities_, fit["probabilities"], rtol=0, atol=1e-12)
    # the mean objective EM reports is the weighted log-likelihood per respondent
    assert bm.lower_bounds_[-1] == pytest.approx(loglik / freq.sum(), rel=1e-12)


def test_one_component_is_the_column_mean_and_alpha_is_a_pseudo_count():
    X = mixed_data(1)
    X[::7, 2] = np.nan
    observed = ~np.isnan(X)
    ones = np.nansum(X, axis=0)
    bm = BernoulliMixture(1).fit(X)
    np.testing.assert_allclose(bm.probabilities_[0], ones / observed.sum(axis=0), rtol=1e-14)
    bm = BernoulliMixture(1, alpha=2.5).fit(X)
    np.testing.assert_allclose(bm.probabilities_[0],
                               (ones + 2.5) / (observed.sum(axis=0) + 5.0), rtol=1e-14)


def test_no_direct_improvement_of_the_log_likelihood_from_the_em_solution():
    """L-BFGS on the observed-data log-likelihood (logits, softmax weights) from emkit's MLE."""
    X = mixed_data(2, n=400, d=5)
    bm = BernoulliMixture(3, tol=1e-13, max_iter=20000, random_state=0,
                          accelerate="squarem").fit(X)
    K, D = bm.probabilities_.shape
    p0 = np.clip(bm.probabilities_, 1e-12, 1 - 1e-12)
    theta0 = np.concatenate([np.log(bm.weights_), (np.log(p0) - np.log1p(-p0)).ravel()])

    def negative_loglik(theta):
        log_w = theta[:K] - logsumexp(theta[:K])
        p = expit(theta[K:].reshape(K, D))
        with np.errstate(divide="ignore"):
            lp = X @ np.log(p).T + (1 - X) @ np.log1p(-p).T
        return -logsumexp(lp + log_w, axis=1).sum()

    start = negative_loglik(theta0)
    best = minimize(negative_loglik, theta0, method="L-BFGS-B").fun
    assert start == pytest.approx(-bm.score_samples(X).sum(), rel=1e-12)
    assert best >= start - 1e-6 * abs(start)


# ------------------------------------------------------------------ the E-step
def test_log_prob_is_exact_at_probabilities_zero_and_one_with_missing_values():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.1, 0.9, size=(4, 6))
    p[0, 1] = 0.0
    p[1, 2] = 1.0
    p[2, :2] = [0.0, 1.0]
    X = (rng.random((200, 6)) < 0.5).astype(float)
    X[rng.random(X.shape) < 0.15] = np.nan
    family = BernoulliFamily()
    expected = brute_log_prob(p, X)
    got = family.log_prob(BernoulliParams(p), X)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12)
    # the same for a sparse matrix holding the NaN entries explicitly
    sparse = sp.csr_matrix(np.where(X == 0, 0.0, X))
    got_sparse = family.log_prob(BernoulliParams(p), sparse)
    np.testing.assert_array_equal(np.isneginf(got_sparse), np.isneginf(expected))
    np.testing.assert_allclose(got_sparse[finite], expected[finite], rtol=1e-12)


def test_sparse_and_dense_fits_are_the_same():
    X = mixed_data(4, n=500, d=30)
    X[:, 20:] = 0.0  # mostly zeros, as documents
    labels = np.arange(X.shape[0]) % 3
    dense = BernoulliMixture(3, labels_init=labels, tol=1e-12, max_iter=3000).fit(X)
    sparse = BernoulliMixture(3, labels_init=labels, tol=1e-12, max_iter=3000).fit(
        sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.probabilities_, dense.probabilities_, rtol=1e-10,
                               atol=1e-14)
    np.testing.assert_allclose(sparse.score_samples(sp.csr_matrix(X)), dense.score_samples(X),
                               rtol=1e-12)
    # a random start on sparse data works too (k-means on a random projection)
    fitted = BernoulliMixture(3, random_state=0).fit(sp.csr_matrix(X))
    assert np.isfinite(fitted.lower_bound_)


def test_impossible_rows_score_minus_infinity_and_cannot_be_classified():
    X = np.array([[1, 0], [1, 0], [0, 0], [0, 0]], dtype=float)
    bm = BernoulliMixture(2, labels_init=[0, 0, 1, 1]).fit(X)
    assert bm.probabilities_[:, 1].max() == 0.0  # ML at the boundary
    new = np.array([[1.0, 1.0], [0.0, 0.0]])
    scores = bm.score_samples(new)
    assert scores[0] == -np.inf and np.isfinite(scores[1])
    with pytest.raises(ValueError, match="row 0 of X has probability 0 under every component"):
        bm.predict_proba(new)
    smoothed = BernoulliMixture(2, alpha=0.5, labels_init=[0, 0, 1, 1]).fit(X)
    assert np.isfinite(smoothed.score_samples(new)).all()
    np.testing.assert_allclose(smoothed.predict_proba(new).sum(axis=1), 1.0)


def test_start_outside_the_support_is_a_clear_error():
    X = np.array([[1, 0], [1, 1], [0, 0]], dtype=float)
    with pytest.raises(ValueError, match="zero density under every component"):
        BernoulliMixture(1, probabilities_init=[[0.5, 0.0]], weights_init=[1.0]).fit(X)


def test_map_with_dirichlet_weights_matches_the_closed_form():
    X = mixed_data(5)
    y = np.arange(X.shape[0]) % 3
    y[:200] = 0
    bm = BernoulliMixture(3, weight_concentration=3.0, alpha=1.0,
                          semi_supervised=True).fit(X, y)
    counts = np.bincount(y, minlength=3)
    np.testing.assert_allclose(bm.weights_, (counts + 2.0) / (counts.sum() + 6.0), rtol=1e-12)
    ones = np.stack([X[y == k].sum(axis=0) for k in range(3)])
    np.testing.assert_allclose(bm.probabilities_, (ones + 1.0) / (counts[:, None] + 2.0),
                               rtol=1e-12)


# ------------------------------------------------------------------ input checks
def test_non_binary_values_are_named():
    X = mixed_data(6)
    X[4, 3] = 2.0
    with pytest.raises(ValueError, match=r"value 2\.0 at row 4, column 3.*binary"):
        BernoulliMixture(2).fit(X)
    S = sp.csr_matrix(mixed_data(6))
    S[7, 1] = 0.5
    with pytest.raises(ValueError, match=r"value 0\.5 at row 7, column 1"):
        BernoulliMixture(2).fit(S)
    fitted = BernoulliMixture(2, random_state=0).fit(mixed_data(6))
    with pytest.raises(ValueError, match="binary"):
        fitted.predict(np.full((1, 6), 3.0))


def test_bool_input_and_bad_initial_values():
    X = mixed_data(7).astype(bool)
    assert np.isfinite(BernoulliMixture(2, random_state=0).fit(X).lower_bound_)
    with pytest.raises(ValueError, match="probabilities_init must have shape"):
        BernoulliMixture(2, probabilities_init=np.full((3, 6), 0.5)).fit(X)
    with pytest.raises(ValueError, match=r"probabilities_init must hold probabilities"):
        BernoulliMixture(2, probabilities_init=np.full((2, 6), 1.5)).fit(X)
    with pytest.raises(ValueError, match="alpha"):
        BernoulliMixture(2, alpha=-1.0).fit(X)


def test_sample_reproduces_the_probabilities():
    bm = BernoulliMixture(2, probabilities_init=[[0.9, 0.2], [0.3, 0.6]], weights_init=[0.25, 0.75],
                          max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bm.fit(np.array([[0.0, 1.0], [1.0, 0.0]]))
    rows, labels = bm.sample(20000, random_state=1)
    n = np.bincount(labels, minlength=2)
    assert abs(n[0] / 20000 - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 20000)
    for k in range(2):
        freq = rows[labels == k].mean(axis=0)
        se = np.sqrt(bm.probabilities_[k] * (1 - bm.probabilities_[k]) / n[k])
        assert np.all(np.abs(freq - bm.probabilities_[k]) < 5 * se)


def test_chunks_without_missing_values_skip_the_scan_and_fit_the_same():
    """During a fit the family remembers which chunks are complete; chunks with NaN
    still take the missing-value path, so a fit in many chunks (some with NaN, most
    without) equals the fit in one chunk, and the cache holds one flag per chunk."""
    rng = np.random.default_rng(4)
    prototypes = rng.uniform(0.1, 0.9, size=(3, 12))
    X = (rng.random((600, 12)) < prototypes[rng.integers(3, size=600)]).astype(float)
    X[rng.integers(0, 40, 15), rng.integers(0, 12, 15)] = np.nan  # only in the first chunk
    whole = BernoulliMixture(3, random_state=0, tol=1e-10, max_iter=500).fit(X)
    chunked = BernoulliMixture(3, random_state=0, tol=1e-10, max_iter=500,
                               chunk_size=50).fit(X)
    assert chunked.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(chunked.probabilities_, whole.probabilities_, rtol=1e-10)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)
    family = BernoulliFamily()
    family.prepare(X, np.ones(len(X)))
    flags = [family._has_missing.get(X[i:i + 50], lambda c: bool(np.isnan(c).any()))
             for i in range(0, 600, 50)]
    assert flags == [True] + [False] * 11
    params = BernoulliParams(whole.probabilities_)
    for start in (0, 50):  # cached and uncached log-densities agree, with and without NaN
        chunk = X[start:start + 50]
        np.testing.assert_array_equal(family.log_prob(params, chunk),
                                      BernoulliFamily().log_prob(params, chunk))
