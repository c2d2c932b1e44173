"""Sparse EM (Neal & Hinton 1998): active lists, the free energy, composition.

The suite runs in strict mode (conftest): the sparse phase's free energy
raises if it decreases.
"""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import emkit
from emkit import GaussianMixture
from emkit.em.engine import run_em
from emkit.em.sparse import SparseAssignment, SparseEM, check_sparse
from emkit.families.gaussian import GaussianMixtureModel
from emkit.models._base import make_source

from .test_variants import FIXED_POINT_GAP, fixed_point_gap


def make_data(n_per=60, k=8, dim=3, seed=0, offset=0.0):
    """k separated blobs with partly overlapping neighbours (posteriors are sparse)."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-6, 6, size=(k, dim)) + offset
    scales = rng.uniform(0.6, 1.4, size=(k, dim))
    return np.vstack([means[j] + rng.normal(size=(n_per, dim)) * scales[j]
                      for j in range(k)])


@pytest.fixture(scope="module")
def X():
    return make_data()


def start(X, k, covariance_type):
    """Parameters after three EM iterations (a start with spread-out posteriors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GaussianMixture(k, covariance_type=covariance_type, max_iter=3,
                              random_state=1).fit(X)
    return est._params()


def reference_sparse_em(model, params, X, w, n_active, full_every, n_iter):
    """Sparse EM with dense (n, K) distributions q: the free energy computed directly.

    Returns the free energy F(q_t, theta_t) and the log-likelihood of theta_t per
    unit weight at every iteration, and the final parameters.
    """
    free_energy, loglik = [], []
    q = in_active = mass = None
    for t in range(n_iter):
        lj = model.log_joint(params, X)
        L = logsumexp(lj, axis=1)
        if t % full_every == 0:
            q = np.exp(lj - L[:, None])
            active = np.argsort(-q, axis=1)[:, :n_active]
            in_active = np.zeros(q.shape, dtype=bool)
            np.put_along_axis(in_active, active, True, axis=1)
            mass = np.where(in_active, q, 0.0).sum(axis=1)
        else:
            la = np.where(in_active, lj, -np.inf)
            inside = mass[:, None] * np.exp(la - logsumexp(la, axis=1)[:, None])
            q = np.where(in_active, inside, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_row = np.where(q > 0, q * (lj - np.log(q)), 0.0).sum(axis=1)
        free_energy.append(w @ per_row / w.sum())
        loglik.append(w @ L / w.sum())
        params = model.maximize(model.statistics(params, X, q * w[:, None]), params)
    return np.array(free_energy), np.array(loglik), params


# ----------------------------------------------------------------- active pairs
@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "VVI", "EEI", "VII",
                                             "full", "VEV", "EEV"])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_active_pair_evaluation_equals_the_full_evaluation(covariance_type, offset):
    X = make_data(n_per=20, offset=offset)
    model = GaussianMixtureModel(covariance_type)
    params = start(X, 8, covariance_type)
    rng = np.random.default_rng(0)
    active = np.array([rng.choice(8, size=3, replace=False) for _ in range(X.shape[0])])
    full = model.log_joint(params, X)
    sub = model.log_joint_active(params, X, active)
    np.testing.assert_allclose(sub, np.take_along_axis(full, active, axis=1), rtol=1e-12)
    resp = rng.uniform(size=active.shape) * rng.uniform(0, 3, size=(X.shape[0], 1))
    dense = np.zeros_like(full)
    np.put_along_axis(dense, active, resp, axis=1)
    expected = model.statistics(params, X, dense)
    got = model.statistics_active(params, X, active, resp)
    assert got is not None and expected.allclose(got, rtol=1e-10, atol=1e-9)


def test_structures_without_the_active_path_and_missing_values_fall_back():
    X = make_data(n_per=10)
    params = start(X, 8, "tied")
    active = np.tile(np.arange(3), (X.shape[0], 1))
    assert GaussianMixtureModel("tied").log_joint_active(params, X, active) is None
    assert GaussianMixtureModel("tied").statistics_active(params, X, active,
                                                         np.ones(active.shape)) is None
    Xm = X.copy()
    Xm[3, 1] = np.nan
    model = GaussianMixtureModel("diag")
    assert model.log_joint_active(start(X, 8, "diag"), Xm, active) is None


# ----------------------------------------------------------------- free energy
@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_free_energy_equals_the_direct_computation_and_bounds_the_loglik(X, covariance_type):
    rng = np.random.default_rng(4)
    w = rng.uniform(0.2, 2.0, size=X.shape[0])
    w[::17] = 0.0  # absent rows
    params = start(X, 8, covariance_type)
    n_iter = 23
    result = run_em(GaussianMixtureModel(covariance_type), params,
                    make_source(X, w, 37, 11), tol=0.0, max_iter=n_iter,
                    assignment=SparseAssignment(SparseEM(n_active=2, full_every=5)))
    free_energy, loglik, final = reference_sparse_em(
        GaussianMixtureModel(covariance_type), params, X, w, 2, 5, n_iter)
    np.testing.assert_allclose(result.objective_history, free_energy, rtol=1e-10)
    np.testing.assert_allclose(result.params.means, final.means, rtol=1e-8, atol=1e-10)
    # a lower bound of the log-likelihood, equal to it at the full E-steps
    assert (free_energy <= loglik + 1e-12).all()
    full = np.arange(n_iter) % 5 == 0
    np.testing.assert_allclose(free_energy[full], loglik[full], rtol=1e-12)
    assert (free_energy[~full] < loglik[~full]).any()  # the bound is not trivially tight
    assert (np.diff(free_energy) >= -1e-12).all()


def test_all_components_active_is_plain_em(X):
    params = start(X, 8, "diag")
    source = make_source(X, None, 50, 11)
    plain = run_em(GaussianMixtureModel("diag"), params, source, tol=0.0, max_iter=15)
    sparse = run_em(GaussianMixtureModel("diag"), params, source, tol=0.0, max_iter=15,
                    assignment=SparseAssignment(SparseEM(n_active=8, full_every=4)))
    np.testing.assert_allclose(sparse.objective_history, plain.objective_history,
                               rtol=1e-11)
    np.testing.assert_allclose(sparse.params.means, plain.params.means, rtol=1e-9)


# ----------------------------------------------------------------- estimator fits
@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "VVI", "tied"])
def test_sparse_fit_ends_at_the_plain_em_fixed_point(X, covariance_type):
    common = {"covariance_type": covariance_type, "tol": 1e-10, "max_iter": 3000,
              "random_state": 0}
    em = GaussianMixture(8, **common).fit(X)
    sp = GaussianMixture(8, sparse={"n_active": 2, "full_every": 4}, **common).fit(X)
    assert [p["name"] for p in sp.phases_] == ["sparse", "em"]
    phase = sp.phases_[0]
    assert phase["n_active"] == 2 and phase["full_every"] == 4
    assert phase["n_full"] == (phase["n_iter"] - 1) // 4 + 1
    assert (phase["n_iter"] - 1) % 4 == 0 or phase["n_iter"] == 3000  # stops at a full step
    history = phase["objective_history"]
    assert (np.diff(history) >= -1e-10 * np.abs(history[:-1])).all()
    assert history[0] == pytest.approx(em.lower_bounds_[0], rel=1e-12)  # same start
    assert sp.n_iter_ == len(sp.lower_bounds_) == sum(p["n_iter"] for p in sp.phases_)
    assert sp.converged_
    assert fixed_point_gap(sp, X) < FIXED_POINT_GAP
    assert sp.score(X) == pytest.approx(em.score(X), abs=1e-8)
    np.testing.assert_allclose(np.sort(sp.means_, axis=0), np.sort(em.means_, axis=0),
                               atol=1e-4)


def test_sample_weights_equal_repeated_rows(X):
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 3, size=X.shape[0])
    options = {"covariance_type": "diag", "tol": 1e-9, "max_iter": 500, "random_state": 0,
               "sparse": {"n_active": 2, "full_every": 3},
               "means_init": X[rng.choice(X.shape[0], 8, replace=False)]}
    weighted = GaussianMixture(8, **options).fit(X, sample_weight=counts)
    repeated = GaussianMixture(8, **options).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_missing_values_take_the_full_path_and_stay_valid(X, covariance_type):
    Xm = X.copy()
    rng = np.random.default_rng(5)
    Xm[rng.uniform(size=X.shape) < 0.08] = np.nan
    common = {"covariance_type": covariance_type, "tol": 1e-9, "max_iter": 2000,
              "random_state": 0}
    em = GaussianMixture(8, **common).fit(Xm)
    sp = GaussianMixture(8, sparse={"n_active": 2, "full_every": 4}, **common).fit(Xm)
    history = sp.phases_[0]["objective_history"]  # strict mode checked it too
    assert (np.diff(history) >= -1e-10 * np.abs(history[:-1])).all()
    assert sp.score(Xm) == pytest.approx(em.score(Xm), abs=1e-6)


def test_map_prior_and_acceleration_compose():
    X = make_data(n_per=40)
    sp = GaussianMixture(8, covariance_type="diag", tol=1e-10, max_iter=2000,
                         random_state=0, prior="default", sparse=2, accelerate="squarem").fit(X)
    em = GaussianMixture(8, covariance_type="diag", tol=1e-10, max_iter=2000,
                         random_state=0, prior="default").fit(X)
    assert [p["name"] for p in sp.phases_] == ["sparse", "em"]
    assert sp.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-7)


# ----------------------------------------------------------------- refusals
@pytest.mark.parametrize("params, match", [
    ({"sparse": 0}, r"sparse\['n_active'\] must be an integer >= 1"),
    ({"sparse": {"full_every": 0}}, r"sparse\['full_every'\] must be an integer >= 1"),
    ({"sparse": {"n_activ": 2}}, r"sparse has unknown setting\(s\) \['n_activ'\]"),
    ({"sparse": "yes"}, r"sparse must be None, True, an int"),
    ({"sparse": 2, "assignment": "hard"}, r"sparse EM .* does not combine with "
                                          r"assignment='hard'"),
    ({"sparse": 2, "annealing": True}, r"sparse EM .* does not combine with annealing"),
    ({"sparse": 2, "schedule": "incremental"}, r"sparse applies to schedule='batch' only"),
    ({"sparse": 2, "checkpoint": "x.npz"}, r"checkpoint is not supported with sparse"),
])
def test_invalid_sparse_options_are_refused(X, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3, **params).fit(X, y=np.full(X.shape[0], -1))


def test_check_sparse_shorthands():
    assert check_sparse(None) is None and check_sparse(False) is None
    assert check_sparse(True) == SparseEM(4, 10)
    assert check_sparse(3) == SparseEM(3, 10)
    assert check_sparse({"full_every": 5}) == SparseEM(4, 5)


def test_partial_fit_refuses_sparse(X):
    with pytest.raises(ValueError, match="partial_fit runs stepwise EM"):
        GaussianMixture(3, sparse=2).partial_fit(X)


def test_monotonicity_check_watches_the_free_energy(X, monkeypatch):
    """A wrong free energy (the frozen part dropped) is caught by strict mode."""
    from emkit.em import sparse as sparse_module

    original = sparse_module.SparseAssignment.finish

    def broken(self, model, params, result):
        total, weight, stats = original(self, model, params, result)
        if not self.full:
            total -= float(model.expected_log_joint(params, self.state.frozen_stats))
        return total, weight, stats

    monkeypatch.setattr(sparse_module.SparseAssignment, "finish", broken)
    with emkit.config_context(monotonic="raise"), pytest.raises(
            emkit.exceptions.MonotonicityError, match="EM objective decreased"):
        GaussianMixture(8, covariance_type="diag", tol=0.0, max_iter=40, random_state=0,
                        sparse={"n_active": 1, "full_every": 3}).fit(X)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full", "tied", "VEV",
                                             "VVE"])
def test_compiled_partial_step_equals_the_numpy_path(X, covariance_type, monkeypatch):
    """The compiled partial and full sparse E-steps (diagonal kernels; full and tied
    factors) give the NumPy path's free energies and fit."""
    pytest.importorskip("numba")
    from emkit import _kernels

    rng = np.random.default_rng(8)
    w = rng.uniform(0.0, 2.0, size=X.shape[0])
    w[::13] = 0.0
    params = start(X, 8, covariance_type)
    runs, used = {}, []
    def spying(name):
        original = getattr(_kernels, name)

        def spy(*args):
            used.append(name)
            return original(*args)

        return spy

    for name in ("gaussian_active_e_step", "gaussian_select_e_step"):
        monkeypatch.setattr(_kernels, name, spying(name))
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels):
            runs[kernels] = run_em(
                GaussianMixtureModel(covariance_type), params, make_source(X, w, 41, 11),
                tol=0.0, max_iter=12,
                assignment=SparseAssignment(SparseEM(n_active=3, full_every=4)))
    np.testing.assert_allclose(runs["numba"].objective_history,
                               runs["numpy"].objective_history, rtol=1e-12)
    np.testing.assert_allclose(runs["numba"].params.covariances,
                               runs["numpy"].params.covariances, rtol=1e-10)
    np.testing.assert_allclose(runs["numba"].params.means, runs["numpy"].params.means,
                               rtol=1e-10, atol=1e-12)
    # 12 iterations, 3 full (every 4), on every chunk: every E-step compiled
    n_chunks = -(-X.shape[0] // 41)
    assert used.count("gaussian_select_e_step") == 3 * n_chunks
    assert used.count("gaussian_active_e_step") == 9 * n_chunks


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_compiled_full_kernels_on_chunks_of_several_pair_blocks(covariance_type):
    """Chunks longer than the pair kernels' row block (PAIR_ROWS) and a last partial
    block: the compiled sparse E-steps still equal the NumPy path."""
    pytest.importorskip("numba")
    from emkit._numba_sparse import PAIR_ROWS

    X = make_data(n_per=330)
    rng = np.random.default_rng(9)
    w = rng.uniform(0.0, 2.0, size=X.shape[0])
    w[::7] = 0.0
    params = start(X, 8, covariance_type)
    chunk = 2 * PAIR_ROWS + 300
    assert X.shape[0] > chunk
    runs = {}
    for kernels in ("numpy", "numba"):
        with emkit.config_context(kernels=kernels):
            runs[kernels] = run_em(
                GaussianMixtureModel(covariance_type), params, make_source(X, w, chunk, 11),
                tol=0.0, max_iter=6,
                assignment=SparseAssignment(SparseEM(n_active=3, full_every=3)))
    np.testing.assert_allclose(runs["numba"].objective_history,
                               runs["numpy"].objective_history, rtol=1e-12)
    np.testing.assert_allclose(runs["numba"].params.covariances,
                               runs["numpy"].params.covariances, rtol=1e-10)
    np.testing.assert_allclose(runs["numba"].params.means, runs["numpy"].params.means,
                               rtol=1e-10, atol=1e-12)


def _family_cases():
    rng = np.random.default_rng(4)
    z = rng.integers(0, 4, size=400)
    rates = np.array([0.1, 0.35, 0.65, 0.9])
    binary = (rng.uniform(size=(400, 6)) < rates[z][:, None]).astype(float)
    counts = rng.poisson(np.array([1.0, 4.0, 9.0, 16.0])[z][:, None],
                         size=(400, 3)).astype(float)
    gaussian = rng.normal(size=(400, 2)) + 4.0 * np.c_[z % 2, z // 2]
    return {
        "bernoulli": (emkit.BernoulliMixture, {"alpha": 0.5}, binary),
        "categorical": (emkit.CategoricalMixture, {"alpha": 0.5}, binary.astype(int)),
        "poisson": (emkit.PoissonMixture, {}, counts),
        "student_t": (emkit.StudentTMixture, {}, gaussian),
        "mixed": (emkit.MixedMixture, {"families": [("g", "gaussian", [0, 1]),
                                                    ("n", "poisson", [2, 3, 4])]},
                  np.hstack([gaussian, counts])),
    }


@pytest.mark.parametrize("kind", ["bernoulli", "categorical", "poisson", "student_t",
                                  "mixed"])
@pytest.mark.parametrize("variant", [{"sparse": {"n_active": 2, "full_every": 3}},
                                     {"assignment": "monte-carlo", "stochastic_iter": 8,
                                      "monte_carlo": 5}])
def test_sparse_and_monte_carlo_em_on_every_family(kind, variant):
    """Each family: the variant's monotone phases pass strict mode and it ends where EM does."""
    cls, extra, data = _family_cases()[kind]
    common = {"tol": 1e-10, "max_iter": 3000, "random_state": 0, **extra}
    em = cls(4, **common).fit(data)
    fit = cls(4, **common, **variant).fit(data)
    assert fit.phases_[-1]["name"] == "em" and fit.converged_
    if "sparse" in variant:
        history = fit.phases_[0]["objective_history"]
        assert (np.diff(history) >= -1e-10 * np.abs(history[:-1])).all()
        assert history[-1] <= fit.lower_bound_ + 1e-12
    assert fit.score(data) == pytest.approx(em.score(data), abs=2e-6)


def test_float32_sparse_em_ends_where_em_does(X):
    """(Sparse EM on Dask sources: tests/test_dask.py.)"""
    common = {"covariance_type": "diag", "tol": 1e-9, "max_iter": 2000, "random_state": 0}
    em = GaussianMixture(8, **common).fit(X)
    sp = GaussianMixture(8, dtype=np.float32, sparse=2, **common).fit(X)
    assert sp.phases_[0]["name"] == "sparse"
    assert sp.score(X) == pytest.approx(em.score(X), abs=1e-5)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_semi_supervised_sparse_em_ends_at_the_semi_supervised_em_fixed_point(
        X, covariance_type):
    """Labelled rows keep a one-hot responsibility on their component (in their
    active list with all the mass; objective the joint log-density): the sparse
    phase's free energy never decreases (strict mode) and the fit ends where
    semi-supervised plain EM from the same start ends."""
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(8), 60)
    labels = np.where(rng.uniform(size=X.shape[0]) < 0.15, truth, -1)
    settings = dict(covariance_type=covariance_type, semi_supervised=True, random_state=0,
                    tol=1e-10, max_iter=2000)
    plain = GaussianMixture(8, **settings).fit(X, labels)
    sparse = GaussianMixture(8, sparse={"n_active": 2, "full_every": 4}, **settings).fit(
        X, labels)
    assert sparse.phases_[0]["n_iter"] > 4  # partial iterations ran
    assert sparse.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-8)
    np.testing.assert_allclose(sparse.means_, plain.means_, atol=1e-4)


def test_labelled_rows_are_one_hot_in_the_sparse_statistics(X):
    """One full and one partial sparse E-step with every row labelled give the
    statistics of the labelled partition (the M-step is then the class means)."""
    truth = np.repeat(np.arange(8), 60)
    model_settings = dict(covariance_type="diag", semi_supervised=True, random_state=0,
                          max_iter=3, tol=0.0, sparse={"n_active": 2, "full_every": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GaussianMixture(8, **model_settings).fit(X, truth)
    expected = np.array([X[truth == k].mean(axis=0) for k in range(8)])
    np.testing.assert_allclose(est.means_, expected, rtol=1e-10, atol=1e-12)
