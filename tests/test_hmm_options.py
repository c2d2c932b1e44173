"""HMM structure and data options: masks and structural zeros, Dirichlet/sticky priors
(MAP stationarity), fixed groups, missing observations, partially known states, sequence
weights, SQUAREM, restarts, warm start, the emission families (GMM-HMM, any registry
family), state-number selection, input forms and plotting."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from emkit.families.gaussian_family import GaussianFamily
from emkit.hmm import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
    select_n_states,
)
from emkit.hmm.sources import SequenceSource

from .test_hmm import enumerate_paths, reference_loglik, simulate_states

# slow: HMM fits per option
pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.slow]

TRANSMAT = np.array([[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])


def gaussian_data(seed=0, lengths=(200, 150, 250), dim=2):
    rng = np.random.default_rng(seed)
    z = simulate_states(rng, np.ones(3) / 3, TRANSMAT, lengths)
    means = np.array([[0.0] * dim, [3.0] + [1.0] * (dim - 1), [-2.0] + [3.0] * (dim - 1)])
    return means[z] + rng.normal(size=(z.size, dim)), z, list(lengths)


def poisson_data(seed=0, lengths=(200, 150, 250)):
    rng = np.random.default_rng(seed)
    z = simulate_states(rng, np.ones(3) / 3, TRANSMAT, lengths)
    return rng.poisson(np.array([[1.0, 5.0], [6.0, 1.0], [12.0, 8.0]])[z]).astype(float), z, \
        list(lengths)


# ------------------------------------------------------------------ structure
def test_left_right_zeros_stay_zero():
    rng = np.random.default_rng(1)
    lengths = [90, 120, 60, 100]
    z = np.concatenate([np.arange(T) * 3 // T for T in lengths])  # 0 -> 1 -> 2 in order
    X = np.array([[-3.0], [0.0], [3.0]])[z] + rng.normal(size=(z.size, 1))
    model = GaussianHMM(3, transmat_mask="left-right", init_params="segments",
                        startprob_init=[1.0, 0.0, 0.0]).fit(X, lengths)
    assert np.all(model.transmat_[np.tril_indices(3, -1)] == 0.0)
    assert model.startprob_.tolist() == [1.0, 0.0, 0.0]
    path = model.predict(X, lengths)
    for piece in np.split(path, np.cumsum(lengths)[:-1]):
        assert np.all(np.diff(piece) >= 0) and piece[0] == 0
    # start: none free; transitions 2 + 1 + 0; means 3; variances 3
    assert model.n_parameters() == 0 + 3 + 3 + 3
    bakis = GaussianHMM(3, transmat_mask="bakis", init_params="segments").fit(X, lengths)
    assert bakis.transmat_[0, 2] == 0.0 and np.all(np.tril(bakis.transmat_, -1) == 0.0)


def test_zeros_of_transmat_init_are_structural():
    X, _, lengths = poisson_data(2)
    transmat = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.8]])
    model = PoissonHMM(3, transmat_init=transmat, transmat_prior=2.0, random_state=0).fit(
        X, lengths)
    assert model.transmat_[0, 2] == 0.0 and model.transmat_[2, 0] == 0.0
    assert model.n_parameters() == 2 + (1 + 2 + 1) + 6


def _expected_counts(model, X, lengths):
    """One E-step at the fitted parameters: expected first states and transitions."""
    inference, params, source = model._inference(X, lengths)
    start, trans = 0.0, 0.0
    for chunk, _ in source.chunks():
        post = inference.posteriors(params, chunk)
        start, trans = start + post.start, trans + post.transitions
    return start, trans


@pytest.mark.parametrize("sticky", [0.0, 40.0])
def test_dirichlet_and_sticky_priors_are_map_fixed_points(sticky):
    """At convergence the MAP transition matrix is its own M-step:
    A = (n + a - 1) / row sums, with the expected counts n at A itself."""
    X, _, lengths = poisson_data(3)
    model = PoissonHMM(3, transmat_prior=1.5, startprob_prior=3.0, sticky=sticky, tol=1e-12,
                       max_iter=3000, accelerate="squarem", random_state=0).fit(X, lengths)
    assert model.converged_
    start, trans = _expected_counts(model, X, lengths)
    prior = np.full((3, 3), 1.5) + sticky * np.eye(3)
    expected = (trans + prior - 1) / (trans + prior - 1).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.transmat_, expected, rtol=1e-6)
    np.testing.assert_allclose(model.startprob_, (start + 2.0) / (start + 2.0).sum(), rtol=1e-6)
    # the objective is the log posterior per row
    log_prior = (2.0 * np.log(model.startprob_).sum()
                 + ((prior - 1) * np.log(model.transmat_)).sum())
    assert model.lower_bound_ * X.shape[0] == pytest.approx(
        model.score(X, lengths) + log_prior, rel=1e-8)
    if sticky:
        plain = PoissonHMM(3, transmat_prior=1.5, startprob_prior=3.0, random_state=0).fit(
            X, lengths)
        assert np.all(np.diag(model.transmat_) > np.diag(plain.transmat_))


def test_fixed_groups_stay_at_their_starting_values():
    X, _, lengths = gaussian_data(4)
    means = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]])
    transmat = np.full((3, 3), 1 / 3)
    model = GaussianHMM(3, covariance_type="diag", means_init=means, transmat_init=transmat,
                        fixed=("means", "transmat"), random_state=0).fit(X, lengths)
    np.testing.assert_array_equal(model.means_, means)
    np.testing.assert_array_equal(model.transmat_, transmat)
    free = GaussianHMM(3, covariance_type="diag", random_state=0).fit(X, lengths)
    assert not np.allclose(model.covariances_, 1.0)
    assert model.n_parameters() == free.n_parameters() - 6 - 6
    rates = np.array([[1.0, 5.0], [6.0, 1.0], [12.0, 8.0]])
    Y, _, lengths = poisson_data(4)
    fixed = PoissonHMM(3, rates_init=rates, fixed=("emission",), random_state=0).fit(Y, lengths)
    np.testing.assert_array_equal(fixed.rates_, rates)
    assert fixed.n_parameters() == 2 + 6


# ------------------------------------------------------------------ data options
def test_missing_rows_carry_the_state():
    X, _z, lengths = gaussian_data(5)
    rng = np.random.default_rng(5)
    X[rng.random(X.shape[0]) < 0.1] = np.nan  # whole rows missing
    X[rng.random(X.shape[0]) < 0.05, 1] = np.nan  # and single entries
    model = GaussianHMM(3, covariance_type="full", random_state=0).fit(X, lengths)
    # reference: a missing row has density 1, a partial row its marginal density
    log_b = np.zeros((X.shape[0], 3))
    for i, row in enumerate(X):
        seen = ~np.isnan(row)
        for k in range(3):
            if seen.any():
                cov = model.covariances_[k][np.ix_(seen, seen)]
                log_b[i, k] = stats.multivariate_normal(model.means_[k][seen], cov).logpdf(
                    row[seen])
    expected = reference_loglik(log_b, model.startprob_, model.transmat_, lengths)
    np.testing.assert_allclose(model.score_sequences(X, lengths), expected, rtol=1e-11)
    path = model.predict(X, lengths)
    assert path.min() >= 0
    gone = np.isnan(X).all(axis=1)
    inside = gone[1:-1] & (path[:-2] == path[2:])
    assert np.mean(path[1:-1][inside] == path[:-2][inside]) > 0.95


def test_known_states_give_the_joint_likelihood():
    """Semi-supervised: the objective of the starting parameters is log of the sum over
    the paths that agree with the known states (enumerated)."""
    rng = np.random.default_rng(6)
    X = rng.poisson([2.0, 7.0], size=(8, 2)).astype(float)
    y = np.array([-1, 1, -1, -1, 0, -1, -1, 1])
    rates = np.array([[2.0, 6.0], [7.0, 1.5]])
    startprob, transmat = np.array([0.3, 0.7]), np.array([[0.8, 0.2], [0.4, 0.6]])
    model = PoissonHMM(2, startprob_init=startprob, transmat_init=transmat, rates_init=rates,
                       semi_supervised=True, max_iter=1).fit(X, y=y)
    log_b = np.column_stack([stats.poisson(rates[k]).logpmf(X).sum(axis=1) for k in range(2)])
    joint, paths = enumerate_paths(log_b, startprob, transmat)
    agree = np.all((paths == y) | (y < 0), axis=1)
    assert model.lower_bounds_[0] * 8 == pytest.approx(logsumexp(joint[agree]), rel=1e-12)
    with pytest.raises(ValueError, match="semi_supervised=True needs y"):
        PoissonHMM(2, semi_supervised=True).fit(X)


def test_sequence_weights_are_repetitions():
    X, _, lengths = poisson_data(7, lengths=(50, 70, 40))
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    start = dict(startprob_init=[0.2, 0.3, 0.5], transmat_init=TRANSMAT,
                 rates_init=[[1.0, 4.0], [5.0, 2.0], [10.0, 9.0]], tol=0.0, max_iter=15)
    weighted = PoissonHMM(3, **start).fit(X, lengths, sample_weight=[2.0, 1.0, 0.0])
    repeated = PoissonHMM(3, **start).fit([pieces[0], pieces[0], pieces[1]])
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(weighted.rates_, repeated.rates_, rtol=1e-10)
    np.testing.assert_allclose(weighted.transmat_, repeated.transmat_, rtol=1e-10)


def test_list_of_sequences_equals_lengths():
    X, _, lengths = gaussian_data(8)
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    a = GaussianHMM(3, random_state=0).fit(X, lengths)
    b = GaussianHMM(3, random_state=0).fit(pieces)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.predict(X, lengths), b.predict(pieces))


# ------------------------------------------------------------------ EM options
def test_squarem_and_restarts_reach_the_same_optimum():
    X, _, lengths = gaussian_data(9, lengths=(300, 300))
    plain = GaussianHMM(3, random_state=0, tol=1e-10, max_iter=2000).fit(X, lengths)
    fast = GaussianHMM(3, random_state=0, tol=1e-10, max_iter=2000,
                       accelerate="squarem").fit(X, lengths)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-8)
    np.testing.assert_allclose(np.sort(fast.means_, axis=0), np.sort(plain.means_, axis=0),
                               atol=1e-4)
    best = GaussianHMM(3, random_state=0, n_init=3).fit(X, lengths)
    assert best.lower_bound_ >= GaussianHMM(3, random_state=0).fit(X, lengths).lower_bound_


def test_warm_start_continues():
    X, _, lengths = poisson_data(10)
    model = PoissonHMM(3, random_state=0, max_iter=3, warm_start=True).fit(X, lengths)
    first = model.lower_bounds_[-1]
    model.set_params(max_iter=50).fit(X, lengths)
    assert model.lower_bounds_[0] >= first
    Y, _, lengths = gaussian_data(10)
    gauss = GaussianHMM(3, random_state=0, max_iter=3, warm_start=True).fit(Y, lengths)
    with pytest.warns(UserWarning, match=r"warm_start ignored: the fitted covariances have "
                                         r"shape \(3, 2, 2\), not \(3, 2\)"):
        gauss.set_params(covariance_type="diag").fit(Y, lengths)
    assert gauss.covariances_.shape == (3, 2)


# ------------------------------------------------------------------ emissions
def test_gmmhmm_with_one_mixture_component_is_gaussianhmm():
    X, _, lengths = gaussian_data(11)
    rng = np.random.default_rng(11)
    means = rng.normal(size=(3, 2))
    precisions = np.stack([np.eye(2)] * 3)
    common = dict(startprob_init=[0.4, 0.3, 0.3], transmat_init=TRANSMAT, tol=0.0,
                  max_iter=10, reg_covar=0.0)
    gmm = GMMHMM(3, 1, means_init=means[:, None], precisions_init=precisions,
                 weights_init=np.ones((3, 1)), **common).fit(X, lengths)
    gauss = GaussianHMM(3, means_init=means, precisions_init=precisions, **common).fit(
        X, lengths)
    np.testing.assert_allclose(gmm.lower_bounds_, gauss.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(gmm.means_[:, 0], gauss.means_, rtol=1e-10)


def test_gmmhmm_fits_bimodal_states():
    rng = np.random.default_rng(12)
    lengths = [400, 400]
    z = simulate_states(rng, np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.1, 0.9]]),
                        lengths)
    centres = np.array([[[-6.0, 0.0], [-2.0, 0.0]], [[2.0, 0.0], [6.0, 0.0]]])
    mix = rng.integers(2, size=z.size)
    X = centres[z, mix] + 0.5 * rng.normal(size=(z.size, 2))
    one = GaussianHMM(2, random_state=0).fit(X, lengths)
    two = GMMHMM(2, 2, random_state=0, n_init=2).fit(X, lengths)
    assert two.score(X, lengths) > one.score(X, lengths) + 100
    assert two.weights_.shape == (2, 2) and two.means_.shape == (2, 2, 2)
    np.testing.assert_allclose(two.weights_, 0.5, atol=0.08)
    found = np.sort(two.means_[:, :, 0].ravel())
    np.testing.assert_allclose(found, [-6.0, -2.0, 2.0, 6.0], atol=0.2)
    assert two.n_parameters() == 1 + 2 + 2 + 8 + 12
    sample, states = two.sample(200, random_state=0)
    assert sample.shape == (200, 2) and set(states) <= {0, 1}


def test_generic_hmm_takes_names_and_family_objects():
    X, _, lengths = poisson_data(13)
    start = dict(startprob_init=[0.2, 0.3, 0.5], transmat_init=TRANSMAT, random_state=0)
    named = PoissonHMM(3, rates_init=[[1.0, 4.0], [5.0, 2.0], [10.0, 9.0]], **start).fit(
        X, lengths)
    generic = HMM(3, emission="poisson",
                  emission_options={"rates_init": [[1.0, 4.0], [5.0, 2.0], [10.0, 9.0]]},
                  **start).fit(X, lengths)
    np.testing.assert_array_equal(named.rates_, generic.rates_)
    Y, _, lengths = gaussian_data(13)
    family = HMM(3, emission=GaussianFamily("VEI"), random_state=0).fit(Y, lengths)
    assert family.means_.shape == (3, 2) and family.covariances_ is not None
    structured = HMM(3, emission="gaussian", emission_options={"covariance_type": "EEV"},
                     random_state=0).fit(Y, lengths)
    assert np.isfinite(structured.score(Y, lengths))
    with pytest.raises(ValueError, match="unknown family"):
        HMM(2, emission="nope").fit(Y)


def test_student_t_emissions():
    """With fixed, huge degrees of freedom a t-HMM is the Gaussian HMM (same start); on
    heavy-tailed regimes it explains the data far better and decodes them better."""
    X, z, lengths = gaussian_data(16)
    start = dict(startprob_init=[0.4, 0.3, 0.3], transmat_init=TRANSMAT, reg_covar=0.0,
                 means_init=[[0.0, 0.0], [3.0, 1.0], [-2.0, 3.0]],
                 covariances_init=np.stack([np.eye(2)] * 3), tol=0.0, max_iter=5)
    t = StudentTHMM(3, dof=1e9, **start).fit(X, lengths)
    g = GaussianHMM(3, **start).fit(X, lengths)
    np.testing.assert_allclose(t.lower_bounds_, g.lower_bounds_, rtol=1e-7)
    np.testing.assert_allclose(t.means_, g.means_, rtol=1e-6, atol=1e-8)
    rng = np.random.default_rng(16)
    heavy = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]])[z] + rng.standard_t(
        2.0, size=(z.size, 2))
    robust = StudentTHMM(3, random_state=0).fit(heavy, lengths)
    plain = GaussianHMM(3, random_state=0).fit(heavy, lengths)
    assert robust.score(heavy, lengths) > plain.score(heavy, lengths) + 100
    np.testing.assert_allclose(robust.degrees_of_freedom_, 2.0, atol=0.7)
    assert robust.n_parameters() == 2 + 6 + 6 + 9 + 3

    def accuracy(model):
        path = model.predict(heavy, lengths)
        return max(np.mean(np.asarray(p)[z] == path)
                   for p in __import__("itertools").permutations(range(3)))

    assert accuracy(robust) > accuracy(plain)
    generic = HMM(3, emission="student_t", random_state=0).fit(heavy, lengths)
    np.testing.assert_array_equal(generic.means_, robust.means_)


def test_categorical_labels_and_bernoulli():
    rng = np.random.default_rng(14)
    lengths = [120, 180]
    z = simulate_states(rng, np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]]),
                        lengths)
    words = np.array(["rain", "sun", "cloud"])
    emit = np.where(z == 0, rng.choice(3, size=z.size, p=[0.7, 0.1, 0.2]),
                    rng.choice(3, size=z.size, p=[0.1, 0.8, 0.1]))
    X = words[emit][:, None].astype(object)
    X[5, 0] = None  # a missing observation
    model = CategoricalHMM(2, random_state=0, n_init=2).fit(X, lengths)
    assert sorted(model.categories_[0]) == ["cloud", "rain", "sun"]
    sample, _ = model.sample(50, random_state=0)
    assert set(sample[:, 0]) <= set(words)
    with pytest.raises(ValueError, match="sequence 1"):
        model.predict(np.array([["sun"], ["rain"], ["fog"]], dtype=object), lengths=[1, 2])
    B = (rng.random((z.size, 4)) < np.where(z[:, None] == 0, 0.15, 0.85)).astype(float)
    bern = BernoulliHMM(2, random_state=0).fit(B, lengths)
    np.testing.assert_allclose(np.sort(bern.probabilities_.mean(axis=1)), [0.15, 0.85],
                               atol=0.06)


def test_select_n_states_by_bic():
    X, _, lengths = gaussian_data(15, lengths=(300, 300))
    result = select_n_states(GaussianHMM(covariance_type="diag", random_state=0), X, lengths,
                             n_states=[1, 2, 3, 4])
    assert result.best_n_states == 3
    assert result.scores.shape == (4,)
    assert result.best_estimator.n_components == 3


def test_results_do_not_depend_on_threads_and_clone_and_pickle_work():
    import pickle

    from sklearn.base import clone

    import emkit

    X, _, lengths = poisson_data(17, lengths=(400, 3, 250, 1, 600))
    fits = []
    for n_threads in (1, 2):
        with emkit.config_context(n_threads=n_threads):
            fits.append(PoissonHMM(3, random_state=0, chunk_size=300).fit(X, lengths))
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].rates_, fits[1].rates_)
    again = clone(fits[0]).fit(X, lengths)
    np.testing.assert_array_equal(again.transmat_, fits[0].transmat_)
    restored = pickle.loads(pickle.dumps(fits[0]))
    np.testing.assert_array_equal(restored.predict(X, lengths), fits[0].predict(X, lengths))


@pytest.mark.parametrize("make", [
    lambda: GaussianHMM(3, random_state=0, max_iter=8),
    lambda: GMMHMM(3, 2, covariance_type="diag", random_state=0, max_iter=8),
    lambda: StudentTHMM(3, random_state=0, max_iter=8),
], ids=["gaussian", "gmm", "student_t"])
def test_long_chunks_are_evaluated_in_blocks(make, monkeypatch):
    """The family sees a long chunk in blocks of rows (bounded work arrays); the fit is
    the same as in one piece (missing values included: the per-chunk caches hold)."""
    from emkit.hmm import model as hmm_model

    X, _, lengths = gaussian_data(18, lengths=(500, 100))
    X[::13, 0] = np.nan
    X[5] = np.nan
    whole = make().fit(X, lengths)
    monkeypatch.setattr(hmm_model, "EMISSION_BLOCK_ROWS", 37)
    blocked = make().fit(X, lengths)
    np.testing.assert_allclose(blocked.lower_bounds_, whole.lower_bounds_, rtol=1e-11)
    np.testing.assert_allclose(blocked.transmat_, whole.transmat_, rtol=1e-9, atol=1e-12)


def test_sequence_source_packs_whole_sequences():
    X = np.arange(30.0)[:, None]
    source = SequenceSource(X, np.array([5, 12, 3, 4, 6]), None, chunk_size=10)
    chunks = [chunk for chunk, _ in source.chunks()]
    assert [c.offsets.tolist() for c in chunks] == [[0, 5], [0, 12], [0, 3, 7], [0, 6]]
    assert [c.first_row for c in chunks] == [0, 5, 17, 24]
    assert np.shares_memory(chunks[1].X, X)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, fit_kwargs, match", [
    ({}, {"lengths": [100, 99]}, r"lengths sum to 199 but X has 200 rows"),
    ({}, {"lengths": [100, 0, 100]}, r"sequence 1 has length 0"),
    ({"transmat_init": [[0.5, 0.5], [0.3, 0.6]]}, {}, r"transmat_init row 1 sums to 0.9"),
    ({"startprob_init": [0.5, 0.6]}, {}, r"startprob_init must sum to 1"),
    ({"startprob_prior": 0.5}, {}, r"startprob_prior must be finite Dirichlet"),
    ({"transmat_mask": "left-right", "transmat_init": [[0.5, 0.5], [0.5, 0.5]]}, {},
     r"transmat_init\[1, 0\] = 0.5 but transmat_mask forbids"),
    ({"fixed": ("transmat",)}, {}, r"fixed contains 'transmat' but transmat_init"),
    ({"fixed": ("emission",)}, {}, r"fixed contains 'emission' but its starting values"),
    ({}, {"lengths": [100, 100], "sample_weight": [1.0]}, r"one weight per sequence \(2\)"),
    ({"algorithm": "best"}, {}, r"algorithm must be one of"),
])
def test_bad_input_is_named(kwargs, fit_kwargs, match):
    X = np.random.default_rng(0).poisson(3.0, size=(200, 2)).astype(float)
    with pytest.raises(ValueError, match=match):
        PoissonHMM(2, **kwargs).fit(X, **fit_kwargs)


def test_value_outside_the_support_names_sequence_and_row():
    X = np.random.default_rng(0).poisson(3.0, size=(200, 2)).astype(float)
    X[130, 1] = -1.0
    with pytest.raises(ValueError, match=r"row 130.*\(row 130 of X is row 30 of sequence 1\)"):
        PoissonHMM(2).fit(X, [100, 100])
    X[130, 1] = 2.5
    with pytest.raises(ValueError, match=r"not an integer.*row 30 of sequence 1"):
        PoissonHMM(2).fit(X, [100, 100])


def test_impossible_sequence_is_named():
    X = np.zeros((40, 1))
    X[25] = 3.0
    model = PoissonHMM(2, startprob_init=[0.5, 0.5], transmat_init=[[0.9, 0.1], [0.1, 0.9]],
                       rates_init=[[0.0], [0.0]], max_iter=0).fit(X[:20])
    with pytest.raises(ValueError, match=r"sequence 1 \(rows 20 to 39 of X\) has probability 0"):
        model.predict_proba(X, [20, 20])
    with pytest.raises(ValueError, match=r"sequence 1 \(rows 20 to 39 of X\)"):
        model.predict(X, [20, 20])
    assert model.score_sequences(X, [20, 20])[1] == -np.inf
    with pytest.raises(ValueError, match=r"sequence 1 \(rows 20 to 39 of X\) has probability 0"):
        PoissonHMM(2, rates_init=[[0.0], [0.0]], max_iter=5).fit(X, [20, 20])


# ------------------------------------------------------------------ plotting
def test_plot_states_colours_runs():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from emkit.plotting_hmm import plot_states, state_runs

    states = np.array([0, 0, 1, 1, 1, 2, 0, 0])
    assert state_runs(states) == [(0, 2, 0), (2, 5, 1), (5, 6, 2), (6, 8, 0)]
    ax = plot_states(np.arange(8.0), states)
    bands = [p for p in ax.patches if (p.get_gid() or "").startswith("state")]
    assert [p.get_gid() for p in bands] == ["state0", "state1", "state2", "state0"]
    with pytest.raises(ValueError, match="one entry per row"):
        plot_states(np.arange(8.0), states[:5])
