"""KMeans as hard EM, SoftKMeans, vector quantisation."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from emkit import GaussianMixture, KMeans, SoftKMeans
from emkit.init import kmeans_plusplus

from .conftest import make_blobs


@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_centres_and_inertia_as_sklearn_lloyd(seed, tol):
    X = make_blobs(n_per=(300, 200, 250, 150), dim=4, spread=2.0, seed=seed)
    rng = np.random.default_rng(seed)
    init = X[rng.choice(len(X), 6, replace=False)]
    sk = SkKMeans(6, init=init, n_init=1, algorithm="lloyd", tol=tol, max_iter=300).fit(X)
    em = KMeans(6, init=init, tol=tol, max_iter=300).fit(X)
    np.testing.assert_allclose(em.cluster_centers_, sk.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert em.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)
    np.testing.assert_array_equal(em.labels_, sk.labels_)
    assert abs(em.n_iter_ - sk.n_iter_) <= 1


def test_same_result_as_sklearn_with_sample_weight():
    X = make_blobs(dim=2, seed=5)
    w = np.random.default_rng(1).uniform(0.1, 3, size=len(X))
    init = X[:4]
    sk = SkKMeans(4, init=init, n_init=1, algorithm="lloyd", tol=0).fit(X, sample_weight=w)
    em = KMeans(4, init=init, tol=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(em.cluster_centers_, sk.cluster_centers_, rtol=1e-10)
    assert em.inertia_ == pytest.approx(sk.inertia_, rel=1e-10)


def test_weights_equal_duplicates_and_zero_equals_removed():
    X = make_blobs(dim=2)
    w = np.random.default_rng(3).integers(0, 4, size=len(X))
    init = X[w > 0][:3]
    a = KMeans(3, init=init, tol=0).fit(X, sample_weight=w)
    b = KMeans(3, init=init, tol=0).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    # the seeding honours count weights too: same seeds as on the repeated rows
    ca, _ = kmeans_plusplus(X, 3, sample_weight=w.astype(float),
                            random_state=np.random.RandomState(0))
    cb, _ = kmeans_plusplus(np.repeat(X, w, axis=0), 3, random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(ca, cb)


def test_inertia_history_is_monotone_and_matches_objective():
    X = make_blobs(n_per=(500, 500, 500), dim=3, spread=1.0, seed=8)
    km = KMeans(10, init="random", n_init=1, random_state=0, tol=0).fit(X)
    assert np.all(np.diff(km.objective_history_) >= -1e-12)
    # objective = -inertia / (2 n) at the centres entering each iteration
    assert km.objective_history_[-1] == pytest.approx(-km.inertia_ / (2 * len(X)), rel=1e-9)


def test_n_init_keeps_lowest_inertia():
    X = make_blobs(n_per=(100,) * 6, dim=2, spread=2.0, seed=9)
    rng = np.random.RandomState(0)
    runs = []
    for _ in range(8):
        centers = X[rng.choice(len(X), 6, replace=False, p=np.full(len(X), 1 / len(X)))]
        runs.append(KMeans(6, init=centers).fit(X).inertia_)
    best = KMeans(6, init="random", n_init=8, random_state=0).fit(X)
    assert best.inertia_ == pytest.approx(min(runs), rel=1e-12)
    assert max(runs) > min(runs)  # the restarts really differ


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kmeans_plus_plus_beats_random_seeds_on_average():
    X = make_blobs(n_per=(100,) * 8, dim=2, spread=4.0, seed=10)
    pp = np.mean([KMeans(8, n_init=1, max_iter=1, random_state=s).fit(X).inertia_
                  for s in range(10)])
    rnd = np.mean([KMeans(8, init="random", n_init=1, max_iter=1, random_state=s).fit(X)
                   .inertia_ for s in range(10)])
    assert pp < rnd


def test_empty_cluster_is_moved_to_the_farthest_row():
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [30.0]])
    init = np.array([[0.1], [10.05], [1000.0]])  # the third centre attracts nothing
    km = KMeans(3, init=init, max_iter=1, tol=0)
    with pytest.warns(Warning):  # stops after one iteration: not converged
        km.fit(X)
    # after one iteration the empty centre sits on 30 (farthest from its centre)
    np.testing.assert_allclose(np.sort(km.cluster_centers_.ravel()), [0.1, 10.05, 30.0])
    sk = SkKMeans(3, init=init, n_init=1, algorithm="lloyd", max_iter=1).fit(X)
    np.testing.assert_allclose(np.sort(km.cluster_centers_.ravel()),
                               np.sort(sk.cluster_centers_.ravel()))
    full = KMeans(3, init=init, tol=0).fit(X)
    assert full.inertia_ == pytest.approx(((X[:3] - 0.1) ** 2).sum() + 2 * 0.05**2)


def test_transform_predict_score():
    X = make_blobs(dim=2)
    km = KMeans(3, random_state=0).fit(X)
    D = km.transform(X)
    np.testing.assert_allclose(D, np.linalg.norm(X[:, None] - km.cluster_centers_, axis=2),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(km.predict(X), D.argmin(1))
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-10)


def test_vector_quantisation_round_trip():
    X = make_blobs(dim=3)
    km = KMeans(16, random_state=0).fit(X)
    codes = km.encode(X)
    recon = km.decode(codes)
    assert recon.shape == X.shape
    err = km.reconstruction_error(X)
    assert err == pytest.approx(np.mean(((X - recon) ** 2).sum(1)), rel=1e-10)
    assert err == pytest.approx(km.inertia_ / len(X), rel=1e-9)
    assert KMeans(32, random_state=0).fit(X).reconstruction_error(X) < err
    with pytest.raises(ValueError, match=r"codes must be integers in \[0, 15\]"):
        km.decode([0, 16])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_clusters": 0}, "n_clusters must be an integer >= 1"),
        ({"init": "kmeans||"}, "init must be 'k-means\\+\\+', 'random' or an array"),
        ({"init": np.zeros((2, 3))}, r"init array must have shape \(3, 3\)"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"n_init": 0}, "n_init"),
    ],
)
def test_kmeans_bad_parameters(params, match):
    X = make_blobs()
    with pytest.raises(ValueError, match=match):
        KMeans(**{"n_clusters": 3, **params}).fit(X)


def test_kmeans_too_few_rows():
    with pytest.raises(ValueError, match=r"X has 2 rows but n_clusters=3"):
        KMeans(3).fit(np.zeros((2, 2)))


# ------------------------------------------------------------ soft k-means
def test_soft_kmeans_fixed_point_and_likelihood():
    X = make_blobs(dim=2, seed=6)
    beta = 0.5
    sk = SoftKMeans(3, beta=beta, random_state=0, tol=1e-12, max_iter=2000).fit(X)
    resp = sk.predict_proba(X)
    np.testing.assert_allclose(resp.sum(1), 1.0, rtol=1e-12)
    # fixed point: centres are the responsibility-weighted means
    np.testing.assert_allclose(sk.cluster_centers_, (resp.T @ X) / resp.sum(0)[:, None],
                               rtol=1e-6, atol=1e-6)
    # its likelihood is that of an equal-weight isotropic GaussianMixture with variance 1/beta
    gm = GaussianMixture(3, covariance_type="spherical", max_iter=0,
                         weights_init=np.full(3, 1 / 3), means_init=sk.cluster_centers_,
                         precisions_init=np.full(3, beta)).fit(X)
    np.testing.assert_allclose(sk.score_samples(X), gm.score_samples(X), rtol=1e-12)
    assert np.all(np.diff(sk.objective_history_) >= -1e-12)


def test_soft_kmeans_approaches_kmeans_as_beta_grows():
    X = make_blobs(dim=2, seed=7, spread=5.0)
    init = X[:3]
    hard = KMeans(3, init=init, tol=0).fit(X)
    soft = SoftKMeans(3, beta=1e4, init=init, tol=1e-12).fit(X)
    np.testing.assert_allclose(soft.cluster_centers_, hard.cluster_centers_, atol=1e-6)
    blurry = SoftKMeans(3, beta=1e-3, init=init, tol=1e-12, max_iter=3000).fit(X)
    # very soft: all centres collapse to the data mean
    np.testing.assert_allclose(blurry.cluster_centers_, np.tile(X.mean(0), (3, 1)), atol=1e-2)


def test_soft_kmeans_rejects_bad_beta():
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        SoftKMeans(2, beta=0).fit(make_blobs())


def test_given_centres_run_once_and_random_runs_n_init_times(monkeypatch):
    from emkit.models import _base

    calls = []
    original = _base.run_em

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_base, "run_em", counting)
    X = make_blobs(dim=2)
    KMeans(3, init=X[:3]).fit(X)
    assert len(calls) == 1
    calls.clear()
    KMeans(3, init="random", random_state=0).fit(X)
    assert len(calls) == 10
    calls.clear()
    KMeans(3, random_state=0).fit(X)
    assert len(calls) == 1
