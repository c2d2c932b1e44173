"""CategoricalMixture (latent class analysis): references, closed forms, encodings, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from emkit import CategoricalMixture
from emkit.exceptions import ConvergenceWarning
from emkit.families.categorical import CategoricalFamily, CategoricalParams

REFERENCES = Path(__file__).parent / "references"


@pytest.fixture(scope="module")
def hec():
    """HairEyeColor cells (labels and R's codes), counts and the reference fits."""
    return json.loads((REFERENCES / "lca_haireyecolor.json").read_text())


def hec_labels(hec) -> np.ndarray:
    return np.array(hec["labels"], dtype=object).T  # 32 x 3 strings


def reordered(probabilities, categories, levels):
    """emkit's probabilities (columns in categories_ order) in the reference's level order."""
    return [p[:, [list(c).index(level) for level in lv]]
            for p, c, lv in zip(probabilities, categories, levels, strict=True)]


def brute_log_prob(probabilities, X) -> np.ndarray:
    """log p(x | k) term by term; NaN entries skipped; log 0 = -inf."""
    K = probabilities[0].shape[0]
    out = np.zeros((X.shape[0], K))
    with np.errstate(divide="ignore"):
        for i, row in enumerate(X):
            for j, value in enumerate(row):
                if not np.isnan(value):
                    out[i] += np.log(probabilities[j][:, int(value)])
    return out


def fit_quietly(estimator, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: a fixed count
        return estimator.fit(X, **kw)


# ------------------------------------------------------------------ references
@pytest.fixture(scope="module")
def hec_fits(hec):
    """emkit on HairEyeColor from the reference partitions, 5000 EM iterations as in R."""
    X, freq = hec_labels(hec), np.array(hec["freq"])
    return {k: fit_quietly(CategoricalMixture(int(k),
                                              labels_init=np.array(fit["partition"]) - 1,
                                              tol=0.0, max_iter=5000), X, sample_weight=freq)
            for k, fit in hec["fits"].items()}


@pytest.mark.parametrize("k", ["2", "3"])
def test_matches_the_r_reference_on_haireyecolor(hec, hec_fits, k):
    """A plain R EM (tests/references/lca_haireyecolor.R), 5000 iterations, same partition."""
    fit = hec["fits"][k]
    X, freq = hec_labels(hec), np.array(hec["freq"])
    lca = hec_fits[k]
    loglik = float(freq @ lca.score_samples(X))
    assert loglik == pytest.approx(fit["loglik"], rel=1e-12)
    np.testing.assert_allclose(lca.weights_, fit["weights"], rtol=0, atol=1e-10)
    ours = reordered(lca.probabilities_, lca.categories_, hec["levels"])
    for got, expected in zip(ours, fit["probabilities"], strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    assert lca.n_parameters() == (int(k) - 1) + int(k) * (3 + 3 + 1)


@pytest.mark.parametrize("k", ["2", "3"])
def test_converged_log_likelihood_is_at_least_stepmix_and_pomegranate(hec, hec_fits, k):
    """StepMix 3.0 and pomegranate 1.1 from the same start (tests/references/peers_discrete.py),
    their parameters scored in float64."""
    peers = json.loads((REFERENCES / "peers_discrete.json").read_text())["lca_haireyecolor"][k]
    X, freq = hec_labels(hec), np.array(hec["freq"])
    ours = float(freq @ hec_fits[k].score_samples(X))
    for peer in ("stepmix", "pomegranate"):
        theirs = peers[peer]["loglik"]
        assert ours >= theirs - 1e-12 * abs(theirs), peer
        assert ours - theirs < 1e-6 * abs(theirs), peer  # the same maximum


def test_no_direct_improvement_on_haireyecolor(hec, hec_fits):
    """L-BFGS on the weighted observed-data log-likelihood (softmax weights and level
    logits) from emkit's two-class solution finds nothing better (a probability at 0 enters
    as logit log(1e-300))."""
    X = np.array(hec["X"])
    freq = np.array(hec["freq"])
    lca = hec_fits["2"]
    levels = [len(c) for c in lca.categories_]
    # emkit's probabilities are in sorted-label order: re-index the R codes to match
    order = [np.array([list(c).index(label) for label in lv])
             for c, lv in zip(lca.categories_, hec["levels"], strict=True)]
    codes = np.column_stack([order[j][X[:, j]] for j in range(3)])

    def negative_loglik(theta):
        log_w = theta[:2] - logsumexp(theta[:2])
        lp, start = log_w[None, :], 2
        for j, L in enumerate(levels):
            logits = theta[start:start + 2 * L].reshape(2, L)
            lp = lp + (logits - logsumexp(logits, axis=1, keepdims=True)).T[codes[:, j]]
            start += 2 * L
        return -float(freq @ logsumexp(lp, axis=1))

    theta0 = np.concatenate([np.log(lca.weights_)]
                            + [np.log(np.clip(p, 1e-300, None)).ravel()
                               for p in lca.probabilities_])
    start = negative_loglik(theta0)
    assert start == pytest.approx(-hec["fits"]["2"]["loglik"], rel=1e-12)
    best = minimize(negative_loglik, theta0, method="L-BFGS-B").fun
    assert best >= start - 1e-6 * abs(start)


def test_counts_as_weights_equal_the_expanded_table(hec):
    """Cells weighted by their counts and the 592 individual rows follow the same EM path."""
    X, freq = hec_labels(hec), np.array(hec["freq"], dtype=int)
    partition = np.array(hec["fits"]["2"]["partition"]) - 1
    weighted = fit_quietly(CategoricalMixture(2, labels_init=partition, tol=0.0, max_iter=60),
                           X, sample_weight=freq)
    expanded = fit_quietly(CategoricalMixture(2, labels_init=np.repeat(partition, freq),
                                              tol=0.0, max_iter=60), np.repeat(X, freq, axis=0))
    np.testing.assert_allclose(expanded.lower_bounds_, weighted.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(expanded.weights_, weighted.weights_, rtol=1e-11)
    for a, b in zip(expanded.probabilities_, weighted.probabilities_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-300)


def test_no_direct_improvement_of_the_log_likelihood_from_the_em_solution():
    """L-BFGS on the observed-data log-likelihood (softmax weights and level logits)."""
    rng = np.random.default_rng(0)
    z = rng.integers(3, size=500)
    levels = (3, 4, 2, 3, 3)
    X = np.column_stack([np.where(rng.random(500) < 0.6, (z + j) % L, rng.integers(L, size=500))
                         for j, L in enumerate(levels)])
    lca = CategoricalMixture(3, tol=1e-13, max_iter=20000, random_state=0,
                             accelerate="squarem").fit(X)
    K = 3
    sizes = [K * L for L in levels]

    def unpack(theta):
        log_w = theta[:K] - logsumexp(theta[:K])
        blocks, start = [], K
        for L, size in zip(levels, sizes, strict=True):
            logits = theta[start:start + size].reshape(K, L)
            blocks.append(logits - logsumexp(logits, axis=1, keepdims=True))
            start += size
        return log_w, blocks

    def negative_loglik(theta):
        log_w, blocks = unpack(theta)
        lp = log_w + sum(b.T[X[:, j]] for j, b in enumerate(blocks))
        return -logsumexp(lp, axis=1).sum()

    theta0 = np.concatenate([np.log(lca.weights_)]
                            + [np.log(np.clip(p, 1e-300, None)).ravel()
                               for p in lca.probabilities_])
    start = negative_loglik(theta0)
    assert start == pytest.approx(-lca.score_samples(X).sum(), rel=1e-12)
    best = minimize(negative_loglik, theta0, method="L-BFGS-B").fun
    assert best >= start - 1e-6 * abs(start)


def test_one_class_is_the_level_frequencies_and_alpha_is_a_pseudo_count():
    X = np.array([["a", "x"], ["b", "x"], ["a", None], ["a", "y"], ["c", "y"], [np.nan, "y"]],
                 dtype=object)
    lca = CategoricalMixture(1).fit(X)
    np.testing.assert_allclose(lca.probabilities_[0][0], [3 / 5, 1 / 5, 1 / 5], rtol=1e-14)
    np.testing.assert_allclose(lca.probabilities_[1][0], [2 / 5, 3 / 5], rtol=1e-14)
    lca = CategoricalMixture(1, alpha=2.0).fit(X)
    np.testing.assert_allclose(lca.probabilities_[0][0], [5 / 11, 3 / 11, 3 / 11], rtol=1e-14)
    np.testing.assert_allclose(lca.probabilities_[1][0], [4 / 9, 5 / 9], rtol=1e-14)
    assert lca.n_parameters() == 0 + 1 * (2 + 1)


def test_fully_labelled_fit_is_the_map_closed_form():
    rng = np.random.default_rng(1)
    X = rng.integers(4, size=(300, 3))
    y = rng.integers(3, size=300)
    lca = CategoricalMixture(3, alpha=0.5, weight_concentration=2.0,
                             semi_supervised=True).fit(X, y)
    counts = np.bincount(y, minlength=3)
    np.testing.assert_allclose(lca.weights_, (counts + 1.0) / (300 + 3.0), rtol=1e-12)
    for j in range(3):
        table = np.stack([np.bincount(X[y == k, j], minlength=4) for k in range(3)])
        np.testing.assert_allclose(lca.probabilities_[j],
                                   (table + 0.5) / (counts[:, None] + 4 * 0.5), rtol=1e-12)


# ------------------------------------------------------------------ the E-step
def test_log_prob_is_exact_with_zero_probabilities_and_missing_values():
    rng = np.random.default_rng(2)
    levels = (3, 2, 4)
    probabilities = [rng.dirichlet(np.ones(L), size=4) for L in levels]
    probabilities[0][1] = [0.0, 0.5, 0.5]
    probabilities[2][3] = [0.0, 0.0, 1.0, 0.0]
    X = np.column_stack([rng.integers(L, size=200) for L in levels]).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    family = CategoricalFamily(levels)
    expected = brute_log_prob(probabilities, X)
    got = family.log_prob(CategoricalParams(probabilities), X)
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-13)
    # integer codes with -1 for missing give the same
    codes = np.where(np.isnan(X), -1, X).astype(np.int32)
    np.testing.assert_array_equal(family.log_prob(CategoricalParams(probabilities), codes), got)


def test_impossible_rows_under_maximum_likelihood():
    X = np.array([["a", "x"], ["a", "x"], ["b", "y"], ["b", "y"], ["a", "y"]])
    lca = CategoricalMixture(2, labels_init=[0, 0, 1, 1, 0], max_iter=5000).fit(X)
    assert min(p.min() for p in lca.probabilities_) == 0.0
    new = np.array([["b", "x"]])
    assert lca.score_samples(new)[0] == -np.inf
    with pytest.raises(ValueError, match="row 0 of X has probability 0 under every component"):
        lca.predict(new)
    smoothed = CategoricalMixture(2, alpha=1.0, labels_init=[0, 0, 1, 1, 0],
                                  max_iter=5000).fit(X)
    assert np.isfinite(smoothed.score_samples(new)).all()


# ------------------------------------------------------------------ encodings
def test_strings_codes_and_pandas_categoricals_give_the_same_fit():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    codes = rng.integers(3, size=(200, 4))
    names = np.array(["lo", "mid", "hi"])
    frame = pd.DataFrame({f"q{j}": pd.Categorical(names[codes[:, j]], categories=names)
                          for j in range(4)})
    labels = np.arange(200) % 2
    by_codes = CategoricalMixture(2, labels_init=labels, tol=1e-10, max_iter=2000).fit(codes)
    by_frame = CategoricalMixture(2, labels_init=labels, tol=1e-10, max_iter=2000).fit(frame)
    # the categorical dtype's declared order is kept: lo, mid, hi = codes 0, 1, 2
    assert list(by_frame.categories_[0]) == ["lo", "mid", "hi"]
    assert list(by_frame.feature_names_in_) == ["q0", "q1", "q2", "q3"]
    for a, b in zip(by_codes.probabilities_, by_frame.probabilities_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(by_frame.score_samples(frame), by_codes.score_samples(codes),
                               rtol=1e-12)
    # plain strings: sorted levels (hi, lo, mid), the same model up to that order
    strings = CategoricalMixture(2, labels_init=labels, tol=1e-10, max_iter=2000).fit(
        names[codes])
    assert list(strings.categories_[0]) == ["hi", "lo", "mid"]
    np.testing.assert_allclose(strings.probabilities_[0][:, [1, 2, 0]],
                               by_codes.probabilities_[0], rtol=1e-12)


def test_missing_values_as_none_nan_and_pandas_na_are_marginalised():
    pd = pytest.importorskip("pandas")
    X = np.array([["a", "x"], ["b", "y"], ["a", "y"], ["b", "x"], ["a", "x"]], dtype=object)
    lca = CategoricalMixture(2, alpha=0.5, random_state=0, max_iter=5000).fit(X)
    rows = np.array([["a", None], ["a", np.nan], ["a", pd.NA]], dtype=object)
    only_first = CategoricalMixture  # the first column alone gives the same density
    scores = lca.score_samples(rows)
    expected = logsumexp(np.log(lca.weights_) + np.log(lca.probabilities_[0][:, 0]))
    np.testing.assert_allclose(scores, expected, rtol=1e-13)
    frame = pd.DataFrame({"c0": ["a", "b", None], "c1": pd.array(["x", pd.NA, "y"],
                                                                 dtype="string")})
    assert np.isfinite(only_first(1, max_iter=10).fit(frame).score_samples(frame)).all()


def test_unknown_levels_are_an_error_or_missing_by_choice():
    X = np.array([["a", "x"], ["b", "y"], ["a", "y"], ["b", "x"]])
    lca = CategoricalMixture(2, alpha=1.0, random_state=0).fit(X)
    new = np.array([["a", "x"], ["c", "y"]])
    with pytest.raises(ValueError, match=r"column 0 has level 'c' at row 1, which is not one "
                                         r"of its categories \['a', 'b'\]"):
        lca.predict(new)
    lca.set_params(handle_unknown="missing")
    np.testing.assert_allclose(lca.score_samples(new),
                               lca.score_samples(np.array([["a", "x"], [None, "y"]],
                                                          dtype=object)), rtol=1e-14)
    with pytest.raises(ValueError, match="handle_unknown"):
        CategoricalMixture(2, handle_unknown="ignore").fit(X)


def test_bad_columns_and_categories_are_named():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"column 'q2' has a single level \('yes'\)"):
        CategoricalMixture(2).fit(pd.DataFrame({"q1": ["a", "b", "a"], "q2": ["yes"] * 3}))
    with pytest.raises(ValueError, match="column 1 has no observed value"):
        CategoricalMixture(1).fit(np.array([["a", None], ["b", None]], dtype=object))
    with pytest.raises(ValueError, match="column 0 mixes values of types"):
        CategoricalMixture(1).fit(np.array([["a", "x"], [1, "y"]], dtype=object))
    levels = [["a", "b", "c"], ["x", "y"]]
    X = np.array([["a", "x"], ["b", "y"], ["a", "y"]])
    fitted = CategoricalMixture(1, categories=levels).fit(X)
    assert fitted.n_parameters() == 2 + 1
    np.testing.assert_allclose(fitted.probabilities_[0][0], [2 / 3, 1 / 3, 0.0])
    with pytest.raises(ValueError, match=r"column 1 has level 'z' at row 0"):
        CategoricalMixture(1, categories=levels).fit(np.array([["a", "z"], ["b", "x"]]))
    with pytest.raises(ValueError, match=r"categories must give the levels of all 2 columns"):
        CategoricalMixture(1, categories=[["a", "b"]]).fit(X)
    with pytest.raises(ValueError, match=r"categories\[1\] must list at least two levels"):
        CategoricalMixture(1, categories=[["a", "b"], ["x"]]).fit(X)
    with pytest.raises(ValueError, match="probabilities_init\\[1\\] must have shape"):
        CategoricalMixture(2, probabilities_init=[np.full((2, 2), 0.5), np.ones((2, 3)) / 3],
                           random_state=0).fit(np.array([["a", "x"], ["b", "y"]] * 3))


def test_sample_gives_levels_with_the_fitted_frequencies():
    lca = CategoricalMixture(2, weights_init=[0.4, 0.6], max_iter=0,
                             probabilities_init=[[[0.9, 0.1], [0.2, 0.8]],
                                                 [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lca.fit(np.array([["no", "lo"], ["yes", "mid"], ["no", "hi"]]))
    rows, labels = lca.sample(20000, random_state=0)
    assert rows.dtype == object and set(rows[:, 0]) == {"no", "yes"}
    for k in range(2):
        for j, categories in enumerate(lca.categories_):
            freq = np.array([(rows[labels == k, j] == c).mean() for c in categories])
            p = lca.probabilities_[j][k]
            se = np.sqrt(p * (1 - p) / (labels == k).sum())
            assert np.all(np.abs(freq - p) <= 5 * se + 1e-12)


def test_zero_weight_rows_are_absent_even_when_impossible():
    """A row of weight 0 whose level no weighted row has: ML gives that level probability 0,
    the row is impossible, and it must not turn the objective or statistics into NaN."""
    rng = np.random.default_rng(5)
    X = rng.integers(3, size=(120, 3))
    X[7, 1] = 3  # a level only the zero-weight row has
    w = np.ones(120)
    w[7] = 0.0
    labels = np.arange(120) % 2
    with_row = fit_quietly(CategoricalMixture(2, labels_init=labels, tol=0.0, max_iter=100),
                           X, sample_weight=w)
    without = fit_quietly(CategoricalMixture(2, labels_init=np.delete(labels, 7), tol=0.0,
                                             max_iter=100, categories=with_row.categories_),
                          np.delete(X, 7, axis=0))
    np.testing.assert_allclose(with_row.lower_bounds_, without.lower_bounds_, rtol=1e-12)
    assert with_row.probabilities_[1][:, 3].max() == 0.0
    assert with_row.score_samples(X[7:8])[0] == -np.inf


def test_compiled_and_numpy_e_steps_give_the_same_fit():
    pytest.importorskip("numba")
    from emkit import config_context

    rng = np.random.default_rng(6)
    z = rng.integers(3, size=3000)
    X = np.column_stack([np.where(rng.random(3000) < 0.7, (z + j) % 4, rng.integers(4, size=3000))
                         for j in range(6)]).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    w = rng.integers(0, 3, size=3000).astype(float)
    fits = {}
    for kernels in ("numba", "numpy"):
        with config_context(kernels=kernels):
            fits[kernels] = fit_quietly(
                CategoricalMixture(3, labels_init=np.arange(3000) % 3, tol=0.0, max_iter=30,
                                   chunk_size=700), X, sample_weight=w)
    np.testing.assert_allclose(fits["numba"].lower_bounds_, fits["numpy"].lower_bounds_,
                               rtol=1e-12)
    for a, b in zip(fits["numba"].probabilities_, fits["numpy"].probabilities_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)
