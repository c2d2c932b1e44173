"""GaussianMixture: parity with scikit-learn, weights, initialisation, errors, criteria."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emkit import GaussianMixture
from emkit.exceptions import DegenerateComponentError
from emkit.families.structures import get_structure

from .conftest import make_blobs

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _sklearn_start(X, K, covariance_type, seed=1):
    """Rough parameters from two sklearn iterations: an identical start for both libraries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(K, covariance_type=covariance_type, random_state=seed,
                               max_iter=2).fit(X)
    return dict(weights_init=sk.weights_, means_init=sk.means_, precisions_init=sk.precisions_)


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("tol", [1e-3, 1e-10])
def test_parity_with_sklearn_from_identical_start(covariance_type, tol):
    X = make_blobs()
    start = _sklearn_start(X, 3, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=tol, max_iter=1000, **start)
    sk = SkGaussianMixture(3, **kw).fit(X)
    em = GaussianMixture(3, **kw).fit(X)
    assert em.n_iter_ == sk.n_iter_
    assert em.converged_ == sk.converged_
    assert _rel(em.lower_bound_, sk.lower_bound_) < 1e-8
    for name in ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]:
        assert _rel(getattr(em, name), getattr(sk, name)) < 1e-8, name
    assert _rel(em.score_samples(X), sk.score_samples(X)) < 1e-8
    assert _rel(em.predict_proba(X), sk.predict_proba(X)) < 1e-8
    assert _rel(em.bic(X), sk.bic(X)) < 1e-8
    assert _rel(em.aic(X), sk.aic(X)) < 1e-8
    np.testing.assert_array_equal(em.predict(X), sk.predict(X))
    if hasattr(sk, "lower_bounds_"):
        np.testing.assert_allclose(em.lower_bounds_, sk.lower_bounds_, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_matches_scipy_density(covariance_type):
    X = make_blobs(dim=2)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    structure = get_structure(covariance_type)
    density = sum(
        gm.weights_[k] * multivariate_normal(
            gm.means_[k], structure.component_covariance(gm.covariances_, k, 2)
        ).pdf(X)
        for k in range(3)
    )
    np.testing.assert_allclose(gm.score_samples(X), np.log(density), rtol=1e-10)
    precisions = np.linalg.inv(
        [structure.component_covariance(gm.covariances_, k, 2) for k in range(3)]
    )
    for k in range(3):
        expected = precisions[k] if covariance_type in ("full",) else None
        if expected is not None:
            np.testing.assert_allclose(gm.precisions_[k], expected, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunking_does_not_change_the_fit(covariance_type):
    X = make_blobs()
    start = _sklearn_start(X, 3, covariance_type)
    whole = GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, **start).fit(X)
    chunked = GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, chunk_size=7,
                              **start).fit(X)
    assert chunked.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(chunked.covariances_, whole.covariances_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weight_equals_duplicated_rows_and_zero_equals_removed(covariance_type):
    X = make_blobs()
    rng = np.random.default_rng(5)
    w = rng.integers(0, 4, size=X.shape[0])
    repeated = np.repeat(X, w, axis=0)
    start = _sklearn_start(X, 3, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=1e-9, max_iter=500, **start)
    weighted = GaussianMixture(3, **kw).fit(X, sample_weight=w)
    duplicated = GaussianMixture(3, **kw).fit(repeated)
    assert weighted.n_iter_ == duplicated.n_iter_
    np.testing.assert_allclose(weighted.lower_bounds_, duplicated.lower_bounds_, rtol=1e-10)
    for name in ["weights_", "means_", "covariances_"]:
        np.testing.assert_allclose(getattr(weighted, name), getattr(duplicated, name),
                                   rtol=1e-9, atol=1e-12)
    # a fit that ignored the weights would differ
    plain = GaussianMixture(3, **kw).fit(X)
    assert not np.allclose(plain.means_, weighted.means_, rtol=1e-3)


def test_default_kmeans_init_respects_weights_like_duplication():
    X = make_blobs()
    w = np.random.default_rng(0).integers(1, 3, size=X.shape[0])
    a = GaussianMixture(3, random_state=4, tol=1e-10).fit(X, sample_weight=w)
    b = GaussianMixture(3, random_state=4, tol=1e-10).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_is_reproducible_and_finds_the_clusters(init_params):
    X = make_blobs(n_per=(200, 200), dim=2, spread=6.0, seed=3)
    # random soft responsibilities start all means near the grand mean, where EM moves
    # slowly: with scikit-learn's default tol it stops there (as scikit-learn does)
    fits = [GaussianMixture(2, init_params=init_params, n_init=3, random_state=7, tol=1e-8,
                            max_iter=1000).fit(X) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    truth = np.repeat([0, 1], 200)
    labels = fits[0].predict(X)
    agreement = max(np.mean(labels == truth), np.mean(labels != truth))
    assert agreement > 0.95


def test_n_init_keeps_the_best_restart():
    X = make_blobs(n_per=(100, 100, 100, 100), dim=2, spread=2.0, seed=11)
    singles = [GaussianMixture(4, init_params="random", random_state=s).fit(X).lower_bound_
               for s in range(5)]
    rng = np.random.RandomState(0)
    best = GaussianMixture(4, init_params="random", n_init=5, random_state=rng).fit(X)
    assert best.lower_bound_ >= max(
        GaussianMixture(4, init_params="random", random_state=np.random.RandomState(0))
        .fit(X).lower_bound_, min(singles)
    )
    # restarts draw different starting points (not the same seed n_init times)
    runs = GaussianMixture(4, init_params="random", n_init=1, random_state=3)
    firsts = {round(runs.set_params(random_state=s).fit(X).lower_bound_, 8) for s in range(5)}
    assert len(firsts) > 1


def test_n_init_best_equals_max_over_its_restarts():
    X = make_blobs(n_per=(80, 80, 80), dim=2, spread=1.5, seed=2)
    gm = GaussianMixture(3, init_params="random", n_init=4, random_state=0, tol=1e-8,
                         max_iter=500).fit(X)
    rng = np.random.RandomState(0)
    # replaying the same random stream one restart at a time gives the same candidates
    bounds = []
    for _ in range(4):
        resp = rng.uniform(size=(X.shape[0], 3))
        resp /= resp.sum(1, keepdims=True)
        from emkit.families.gaussian import GaussianMixtureModel
        p = GaussianMixtureModel("full").params_from_responsibilities(
            X, np.ones(len(X)), resp, 1000)
        single = GaussianMixture(3, tol=1e-8, max_iter=500, weights_init=p.weights,
                                 means_init=p.means,
                                 precisions_init=np.linalg.inv(p.covariances)).fit(X)
        bounds.append(single.lower_bound_)
    assert gm.lower_bound_ == pytest.approx(max(bounds), rel=1e-9)


def test_warm_start_continues_from_current_parameters():
    X = make_blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = GaussianMixture(3, max_iter=2, warm_start=True, random_state=0, tol=0)
        warm.fit(X)
        first = warm.lower_bounds_.copy()
        warm.fit(X)
    assert warm.lower_bounds_[0] > first[-1]
    cold = GaussianMixture(3, max_iter=4, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X)
    np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-10)


def test_convergence_warning_and_history():
    X = make_blobs()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(3, max_iter=3, tol=0, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 3 and gm.lower_bounds_.shape == (3,)
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_
    assert np.all(np.diff(gm.lower_bounds_) >= 0)
    assert gm.lower_bound_ == gm.lower_bounds_[-1]


def test_fit_predict_equals_fit_then_predict():
    X = make_blobs()
    gm = GaussianMixture(3, random_state=0)
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_reproduces_the_mixture(covariance_type):
    X = make_blobs(dim=2)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    S, labels = gm.sample(60000, random_state=1)
    assert S.shape == (60000, 2) and labels.shape == (60000,)
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 60000, gm.weights_, atol=0.01)
    structure = get_structure(covariance_type)
    for k in range(3):
        Sk = S[labels == k]
        np.testing.assert_allclose(Sk.mean(0), gm.means_[k], atol=0.1)
        np.testing.assert_allclose(np.cov(Sk.T), structure.component_covariance(
            gm.covariances_, k, 2), atol=0.15)
    again, _ = gm.sample(5, random_state=1)
    np.testing.assert_array_equal(again, gm.sample(5, random_state=1)[0])
    assert not np.array_equal(again, gm.sample(5, random_state=2)[0])


def test_bic_aic_follow_their_formulas():
    X = make_blobs()
    for covariance_type, n_cov in [("full", 3 * 6), ("tied", 6), ("diag", 9), ("spherical", 3)]:
        gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
        p = 2 + 9 + n_cov
        assert gm.n_parameters() == p
        loglik = gm.score_samples(X).sum()
        assert gm.bic(X) == pytest.approx(-2 * loglik + p * np.log(len(X)), rel=1e-12)
        assert gm.aic(X) == pytest.approx(-2 * loglik + 2 * p, rel=1e-12)


def test_bic_picks_the_true_number_of_components():
    X = make_blobs(n_per=(300, 300, 300), dim=2, spread=8.0, seed=4)
    bics = [GaussianMixture(k, random_state=0, n_init=2).fit(X).bic(X) for k in range(1, 6)]
    assert int(np.argmin(bics)) + 1 == 3


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components must be an integer >= 1"),
        ({"n_components": 2.5}, "n_components"),
        ({"covariance_type": "VVQ"}, "covariance_type must be one of"),
        ({"tol": -1}, "tol must be"),
        ({"reg_covar": -1e-3}, "reg_covar must be"),
        ({"max_iter": -1}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "kmedoids"}, "init_params must be one of"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"weights_init": [0.5, 0.6]}, "weights_init must sum to 1"),
        ({"weights_init": [1.0]}, r"weights_init must have shape \(2,\)"),
        ({"means_init": np.zeros((2, 5))}, r"means_init must have shape \(2, 3\)"),
        ({"precisions_init": np.zeros((2, 3))}, "precisions_init must have shape"),
        ({"precisions_init": np.array([np.eye(3), -np.eye(3)])},
         r"precisions_init\[1\] is not positive definite"),
        ({"precisions_init": np.array([np.eye(3), np.triu(np.ones((3, 3)))])},
         r"precisions_init\[1\] is not symmetric"),
    ],
)
def test_bad_parameters_name_the_parameter(params, match):
    X = make_blobs()
    params = {"n_components": 2, **params}
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**params).fit(X)


def test_bad_data_errors_name_the_problem():
    X = make_blobs()
    bad = X.copy()
    bad[17, 2] = -np.inf
    with pytest.raises(ValueError, match=r"X contains -inf at row 17, column 2"):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match="2D array"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture(2).fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"X has 3 rows but n_components=5"):
        GaussianMixture(5).fit(X[:3])
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(370,\)"):
        GaussianMixture(2).fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be non-negative; index 4"):
        GaussianMixture(2).fit(X, sample_weight=np.r_[np.ones(4), -1, np.ones(365)])
    gm = GaussianMixture(2, random_state=0).fit(X)
    bad[17, 2] = np.inf
    with pytest.raises(ValueError, match="X contains inf at row 17, column 2"):
        gm.predict(bad)
    nan_column = X.copy()
    nan_column[:, 1] = np.nan
    with pytest.raises(ValueError, match="X column 1 has no observed value"):
        GaussianMixture(2).fit(nan_column)
    with pytest.raises(ValueError, match="3 features"):
        gm.predict(X[:, :2])


def test_collapsing_component_error_names_component_and_remedy():
    # two components, one of them sits on a single repeated point, no regularisation
    X = np.vstack([np.random.default_rng(0).normal(size=(50, 2)), np.tile([[9.0, 9.0]], (5, 1))])
    means = np.array([[0.0, 0.0], [9.0, 9.0]])
    with pytest.raises(DegenerateComponentError, match=r"component 1 .*reg_covar \(now 0\)"):
        GaussianMixture(2, reg_covar=0.0, means_init=means, random_state=0).fit(X)
    with pytest.raises(DegenerateComponentError, match=r"component 1 .*feature 0"):
        GaussianMixture(2, covariance_type="diag", reg_covar=0.0, means_init=means,
                        random_state=0).fit(X)
    # the default regularisation keeps the component finite and tight
    gm = GaussianMixture(2, means_init=means, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.covariances_))
    assert gm.covariances_[1].max() < 1e-5


def test_empty_component_policy_keeps_parameters_and_warns():
    X = np.random.default_rng(0).normal(size=(200, 2))
    means = np.array([[0.0, 0.0], [1e4, 1e4]])
    precisions = np.array([np.eye(2), np.eye(2) * 1e6])
    with pytest.warns(UserWarning, match=r"component\(s\) \[1\] became empty"):
        gm = GaussianMixture(2, means_init=means, precisions_init=precisions,
                             weights_init=[0.5, 0.5]).fit(X)
    np.testing.assert_array_equal(gm.means_[1], means[1])
    assert gm.weights_[1] == 0.0
    assert np.isfinite(gm.score(X))
    np.testing.assert_allclose(gm.means_[0], X.mean(0), rtol=1e-12)
