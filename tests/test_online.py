"""Online EM: incremental EM (Neal & Hinton), stepwise EM / partial_fit, mini-batch k-means."""

import warnings
from typing import ClassVar

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.utils.estimator_checks import parametrize_with_checks

from emkit import GaussianMixture, KMeans, MiniBatchKMeans, SoftKMeans
from emkit.em import online
from emkit.em.engine import run_em, soft_assignment
from emkit.exceptions import ConvergenceWarning
from emkit.families.structures import MCLUST_MODELS
from emkit.sources import ArraySource

from .conftest import make_blobs


def overlapping(n=(600, 400, 500), seed=3):
    return make_blobs(n, seed=seed, spread=1.0)


def shuffled(X, seed=0):
    return X[np.random.default_rng(seed).permutation(X.shape[0])]


def quiet_fit(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kwargs)


# ------------------------------------------------------------------ free energy
@pytest.mark.parametrize("covariance_type", MCLUST_MODELS)
def test_expected_log_joint_plus_entropy_is_the_log_likelihood(covariance_type):
    """Q(theta; s(theta)) + H(q) = log p(X | theta) when q is the posterior at theta."""
    X = make_blobs()
    gm = quiet_fit(GaussianMixture(3, covariance_type=covariance_type, max_iter=3, tol=0,
                                   random_state=0), X)
    model, params = gm._engine_model(), gm._params()
    log_norm, resp = soft_assignment(model.log_joint(params, X))
    stats = model.statistics(params, X, resp)
    entropy = -float(np.sum(np.where(resp > 0, resp * np.log(np.where(resp > 0, resp, 1)), 0)))
    q = model.expected_log_joint(params, stats)
    assert q + entropy == pytest.approx(log_norm.sum(), rel=1e-11)
    # Q is linear in the statistics and maximised by the M-step
    assert model.expected_log_joint(params, stats * 2.0) == pytest.approx(2 * q, rel=1e-12)
    new = model.maximize(stats, params)
    assert model.expected_log_joint(new, stats) >= q - 1e-9 * abs(q) - \
        model.step_deficit(stats, new, params) * stats.counts.sum()


# ------------------------------------------------------------------ incremental EM
def batch_fixed_point_gap(gm, X, sample_weight=None):
    """Largest change of the means/covariances made by one batch EM step from gm's params."""
    model, params = gm._engine_model(), gm._params()
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    step = run_em(model, params, ArraySource(X, w, 512), tol=0.0, max_iter=1).params
    return max(np.abs(step.means - params.means).max(),
               np.abs(step.covariances - params.covariances).max())


@pytest.mark.parametrize("covariance_type", ["full", "diag", "VEV"])
def test_incremental_em_is_monotone_and_near_a_batch_em_fixed_point(covariance_type,
                                                                    monkeypatch):
    X = overlapping()
    checks = []
    original = online.check_monotone

    def spy(previous, current, *args):
        checks.append(current - previous)
        return original(previous, current, *args)

    monkeypatch.setattr(online, "check_monotone", spy)
    # reg_covar=0: no M-step deficit, so the free energy may not fall at all
    common = dict(covariance_type=covariance_type, random_state=0, tol=1e-10, max_iter=2000,
                  reg_covar=0.0)
    inc = GaussianMixture(3, schedule="incremental", batch_size=250, **common).fit(X)
    # strict mode (conftest) checked every partial E-step and M-step: 6 blocks, 2 checks each
    assert len(checks) >= 12 * (inc.n_iter_ - 1)
    assert inc.converged_
    assert np.all(np.diff(inc.lower_bounds_) >= -1e-12 * np.abs(inc.lower_bounds_[:-1]))
    batch = GaussianMixture(3, **common).fit(X)
    # as close to a fixed point of batch EM as batch EM itself with the same tol (EM
    # is slow on overlapping data: an objective change of 1e-10 leaves ~1e-5 steps)
    assert batch_fixed_point_gap(inc, X) <= 1.5 * batch_fixed_point_gap(batch, X) + 1e-9
    np.testing.assert_allclose(inc.means_, batch.means_, atol=2e-4)
    assert inc.score(X) == pytest.approx(batch.score(X), abs=1e-8)
    # the free energy is a lower bound of the log-likelihood, tight at convergence
    assert inc.lower_bound_ <= inc.score(X) + 1e-12
    assert inc.lower_bound_ == pytest.approx(inc.score(X), abs=1e-8)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_incremental_em_ends_at_the_batch_em_fixed_point(covariance_type):
    """Both run to float precision (tol=0, enough iterations for EM's linear rate)."""
    X = make_blobs(seed=4)
    common = dict(covariance_type=covariance_type, random_state=0, tol=0.0)
    inc = quiet_fit(GaussianMixture(3, schedule="incremental", batch_size=100, max_iter=150,
                                    **common), X)
    batch = quiet_fit(GaussianMixture(3, max_iter=300, **common), X)
    assert batch_fixed_point_gap(inc, X) < 1e-10
    np.testing.assert_allclose(inc.means_, batch.means_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(inc.covariances_, batch.covariances_, rtol=0, atol=1e-9)


def test_incremental_first_iteration_is_a_batch_em_iteration():
    X = overlapping()
    common = dict(random_state=0, tol=0, max_iter=1)
    inc = quiet_fit(GaussianMixture(3, schedule="incremental", batch_size=200, **common), X)
    batch = quiet_fit(GaussianMixture(3, **common), X)
    np.testing.assert_allclose(inc.means_, batch.means_, rtol=1e-12, atol=1e-12)
    assert inc.lower_bounds_[0] == pytest.approx(batch.lower_bounds_[0], rel=1e-13)


def test_incremental_em_needs_fewer_passes_than_batch_em_on_overlapping_data():
    X = shuffled(overlapping((3000, 2000, 2500)))
    common = dict(random_state=0, tol=1e-7, max_iter=2000)
    inc = GaussianMixture(3, schedule="incremental", batch_size=500, **common).fit(X)
    batch = GaussianMixture(3, **common).fit(X)
    assert inc.score(X) >= batch.score(X) - 1e-6
    assert inc.n_iter_ < batch.n_iter_


def test_incremental_with_missing_values_weights_labels_and_prior():
    X = overlapping()
    rng = np.random.default_rng(1)
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.1] = np.nan
    w = rng.uniform(0.2, 3.0, size=X.shape[0])
    y = np.full(X.shape[0], -1)
    y[:20], y[700:720] = 0, 1
    common = dict(random_state=0, tol=1e-12, max_iter=3000)
    inc = GaussianMixture(3, schedule="incremental", batch_size=300, semi_supervised=True,
                          **common).fit(Xm, y, sample_weight=w)
    batch = GaussianMixture(3, semi_supervised=True, **common).fit(Xm, y, sample_weight=w)
    np.testing.assert_allclose(inc.means_, batch.means_, atol=1e-6)
    assert np.all(np.diff(inc.lower_bounds_) >= -1e-12 * np.abs(inc.lower_bounds_[:-1]))
    prior = GaussianMixture(3, schedule="incremental", batch_size=300, prior="default",
                            **common).fit(X)
    prior_batch = GaussianMixture(3, prior="default", **common).fit(X)
    np.testing.assert_allclose(prior.means_, prior_batch.means_, atol=1e-6)
    assert prior.lower_bound_ == pytest.approx(prior_batch.lower_bound_, abs=1e-9)


def test_incremental_em_refuses_a_model_without_expected_log_joint():
    class Bare:
        def log_joint(self, params, X):
            return np.zeros((X.shape[0], 1))

    with pytest.raises(TypeError, match="expected_log_joint"):
        online.run_incremental(Bare(), None, ArraySource(np.zeros((4, 1)), None, 4),
                               tol=0.0, max_iter=1)


# ------------------------------------------------------------------ stepwise EM
def test_step_sizes_and_running_average():
    assert online.step_size(0, 1.0) == 0.5
    assert online.step_size(1, 0.5) == pytest.approx(3 ** -0.5)
    # decay = 1: the running statistics are the plain average of the batches'
    X = overlapping()
    gm = quiet_fit(GaussianMixture(3, max_iter=5, random_state=0), X)
    model, params = gm._engine_model(), gm._params()
    state = None
    batches = np.array_split(np.arange(X.shape[0]), 5)
    expected = []
    for rows in batches:
        block = ArraySource(X[rows], None, 1000)
        stats = online.block_expectation(model, params, block)[0] * (1.0 / rows.size)
        expected.append(stats)
        state = online.StepwiseState(stats, 1, rows.size) if state is None else \
            online.StepwiseState(stats * online.step_size(state.n_steps - 1, 1.0)
                                 + state.stats * (1 - online.step_size(state.n_steps - 1, 1.0)),
                                 state.n_steps + 1, state.weight_seen + rows.size)
    average = expected[0]
    for stats in expected[1:]:
        average = average + stats
    assert state.stats.allclose(average * (1.0 / len(expected)), rtol=1e-12)


def test_one_pass_of_partial_fit_reaches_the_batch_optimum_neighbourhood():
    X = shuffled(make_blobs((8000, 6000, 7000), seed=5))
    batch = GaussianMixture(3, random_state=0, tol=1e-8).fit(X)
    online_fit = GaussianMixture(3, random_state=0)
    for start in range(0, X.shape[0], 1000):
        online_fit.partial_fit(X[start:start + 1000])
    assert online_fit.n_steps_ == 21
    assert online_fit.score(X) > batch.score(X) - 2e-3
    order = np.argsort(online_fit.means_[:, 0])
    np.testing.assert_allclose(online_fit.means_[order],
                               batch.means_[np.argsort(batch.means_[:, 0])], atol=0.05)


def test_stepwise_fit_converges_to_the_batch_optimum_with_a_forgetting_step():
    """decay in (0.5, 1) forgets the statistics computed at the poor early parameters;
    decay = 1 (a plain running average) keeps them and converges far more slowly."""
    X = overlapping((1000, 800, 900))
    batch = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    gaps = {}
    for decay in (0.6, 1.0):
        step = quiet_fit(GaussianMixture(3, random_state=0, schedule="stepwise",
                                         batch_size=150, learning_decay=decay, max_iter=30,
                                         tol=0), X)
        assert step.n_steps_ == 30 * 18
        gaps[decay] = batch.score(X) - step.score(X)
    assert 0 <= gaps[0.6] < 2e-4
    assert gaps[1.0] > 10 * gaps[0.6]


def test_partial_fit_sklearn_conventions_and_errors():
    X = shuffled(make_blobs())
    gm = GaussianMixture(3, random_state=0)
    assert gm.partial_fit(X[:200]) is gm
    assert gm.n_features_in_ == 3 and gm.n_steps_ == 1
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(X[:50, :2])
    gm.partial_fit(X[200:])
    assert gm.n_steps_ == 2 and not gm.converged_
    with pytest.raises(ValueError, match="learning_decay"):
        GaussianMixture(2, learning_decay=0.5).partial_fit(X)
    with pytest.raises(ValueError, match="schedule"):
        GaussianMixture(2, schedule="online").fit(X)
    with pytest.raises(ValueError, match="accelerate"):
        GaussianMixture(2, schedule="incremental", accelerate="squarem").fit(X)


def test_partial_fit_with_missing_values_and_sample_weights():
    X = shuffled(make_blobs())
    rng = np.random.default_rng(2)
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.15] = np.nan
    start = quiet_fit(GaussianMixture(3, random_state=0, max_iter=5), X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_)
    # a weight of 2 is the row twice, batch by batch
    w = rng.integers(1, 3, size=X.shape[0]).astype(float)
    weighted = GaussianMixture(3, **init)
    repeated = GaussianMixture(3, **init)
    for rows in np.array_split(np.arange(X.shape[0]), 3):
        weighted.partial_fit(Xm[rows], sample_weight=w[rows])
        repeated.partial_fit(np.repeat(Xm[rows], w[rows].astype(int), axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-9)
    assert np.isfinite(weighted.score(Xm))
    # a later batch may miss a whole column (it is marginalised)
    batch = Xm[:30].copy()
    batch[:, 1] = np.nan
    weighted.partial_fit(batch)
    assert np.isfinite(weighted.means_).all()


def test_partial_fit_continues_a_fitted_model_and_keeps_a_data_prior():
    X = shuffled(make_blobs())
    gm = GaussianMixture(3, random_state=0, prior="default").fit(X)
    prior = gm._prepared["prior"]
    gm.partial_fit(X[:100])
    assert gm._prepared["prior"] is prior
    assert gm.n_steps_ == 1
    assert gm.score(X) > -10


# ------------------------------------------------------------------ k-means
def test_minibatch_kmeans_matches_kmeans_and_sklearn_inertia():
    X = shuffled(make_blobs((3000, 2000, 2500), seed=1))
    mb = MiniBatchKMeans(3, random_state=0, batch_size=256).fit(X)
    km = KMeans(3, random_state=0).fit(X)
    sk = SkMiniBatchKMeans(3, random_state=0, batch_size=256, n_init=1).fit(X)
    assert mb.inertia_ <= km.inertia_ * 1.002
    assert mb.inertia_ <= sk.inertia_ * 1.002
    assert mb.n_steps_ == mb.n_iter_ * 30
    online_fit = MiniBatchKMeans(3, random_state=0, learning_decay=1.0)
    for rows in np.array_split(np.arange(X.shape[0]), 10):
        online_fit.partial_fit(X[rows])
    assert online_fit.score(X) >= km.score(X) * 1.002


def test_softkmeans_partial_fit():
    X = shuffled(make_blobs())
    soft = SoftKMeans(3, random_state=0)
    for rows in np.array_split(np.arange(X.shape[0]), 5):
        soft.partial_fit(X[rows])
    batch = SoftKMeans(3, random_state=0).fit(X)
    assert soft.score(X) == pytest.approx(batch.score(X), abs=5e-3)
    assert not hasattr(KMeans(), "partial_fit")


@parametrize_with_checks([MiniBatchKMeans(n_clusters=3, random_state=0, batch_size=16)],
                         expected_failed_checks=lambda e: {
                             "check_sample_weight_equivalence_on_dense_data":
                             "random initialisation depends on row order"})
def test_minibatch_kmeans_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_incremental_with_float32_fixed_weights_and_restarts():
    X = overlapping()
    f32 = GaussianMixture(3, dtype="float32", schedule="incremental", batch_size=400,
                          random_state=0, tol=1e-8).fit(X)
    f64 = GaussianMixture(3, schedule="incremental", batch_size=400, random_state=0,
                          tol=1e-8).fit(X)
    assert f32.lower_bound_ == pytest.approx(f64.lower_bound_, rel=1e-5)
    fixed = GaussianMixture(3, fixed=("weights",), weights_init=[0.4, 0.25, 0.35],
                            schedule="incremental", batch_size=400, random_state=0).fit(X)
    np.testing.assert_array_equal(fixed.weights_, [0.4, 0.25, 0.35])
    best = GaussianMixture(3, n_init=3, schedule="incremental", batch_size=400,
                           random_state=0).fit(X)
    assert np.isfinite(best.lower_bound_)


# ------------------------------------------------------------------ other families
def test_poisson_mixture_incremental_em_ends_at_the_batch_fixed_point():
    """The real PoissonMixture (missing counts, row weights, a Gamma prior): incremental
    EM's free energy never decreases and it stops where batch EM does.

    Both runs stop when the objective moves by less than 1e-12 per row, so the
    rates agree to about sqrt(1e-12) = 1e-6 (the objective is quadratic near
    the optimum) and the objectives to 1e-9.
    """
    from emkit import PoissonMixture

    rng = np.random.default_rng(0)
    rates = np.array([[1.0, 8.0, 3.0], [6.0, 2.0, 3.0], [15.0, 12.0, 0.5]])
    X = rng.poisson(rates[rng.integers(0, 3, size=3000)]).astype(float)
    X[rng.random(X.shape) < 0.05] = np.nan
    w = rng.uniform(0.5, 2.0, size=3000)
    for alpha in (0.0, 2.0):
        common = dict(random_state=0, tol=1e-12, max_iter=3000, alpha=alpha)
        batch = PoissonMixture(3, **common).fit(X, sample_weight=w)
        inc = PoissonMixture(3, schedule="incremental", batch_size=500, **common).fit(
            X, sample_weight=w)
        assert inc.converged_ and inc.n_iter_ < batch.n_iter_
        assert np.all(np.diff(inc.lower_bounds_) >= -1e-12 * np.abs(inc.lower_bounds_[:-1]))
        np.testing.assert_allclose(inc.rates_, batch.rates_, atol=1e-6)
        assert inc.lower_bound_ == pytest.approx(batch.lower_bound_, abs=1e-9)


class _Rates:
    """A deliberately minimal Poisson family (log_prob, statistics, maximize,
    expected_log_prob and nothing else), kept to show that BaseMixture's online
    schedules need no more of a family; the library's PoissonMixture is tested
    above and in tests/test_long_fit_families.py."""

    def __init__(self):
        import dataclasses

        from emkit.em.statistics import SufficientStatistics
        from emkit.families.base import ComponentFamily

        @dataclasses.dataclass(frozen=True)
        class Params:
            rates: np.ndarray

        @dataclasses.dataclass(frozen=True)
        class Stats(SufficientStatistics):
            counts: np.ndarray
            sums: np.ndarray
            log_factorials: np.ndarray

        class Poisson(ComponentFamily):
            name = "toy-poisson"
            params_type = Params

            def log_prob(self, params, X):
                from scipy.special import gammaln

                rates = params.rates
                return X @ np.log(rates).T - rates.sum(axis=1) - gammaln(X + 1).sum(axis=1)[
                    :, None]

            def statistics(self, params, X, resp):
                from scipy.special import gammaln

                return Stats(resp.sum(axis=0), resp.T @ X, resp.T @ gammaln(X + 1).sum(axis=1))

            def maximize(self, stats, params=None):
                return Params(np.maximum(stats.sums / stats.counts[:, None], 1e-10))

            def expected_log_prob(self, params, stats):
                rates = params.rates
                return float(np.sum(stats.sums * np.log(rates))
                             - stats.counts @ rates.sum(axis=1) - stats.log_factorials.sum())

            def n_parameters(self, params):
                return params.rates.size

        self.family = Poisson()


def toy_mixture_class():
    from emkit.models._mixture import BaseMixture

    family = _Rates().family

    class ToyPoissonMixture(BaseMixture):
        _component_attributes: ClassVar[dict] = {"rates": "rates_"}

        def __init__(self, n_components=1, *, tol=1e-3, max_iter=100, n_init=1,
                     init_params="kmeans", weights_init=None, labels_init=None,
                     random_state=None, warm_start=False, verbose=0, chunk_size=None,
                     accelerate=None, semi_supervised=False, schedule="batch",
                     batch_size=None, learning_decay=0.7):
            self.n_components = n_components
            self.tol = tol
            self.max_iter = max_iter
            self.n_init = n_init
            self.init_params = init_params
            self.weights_init = weights_init
            self.labels_init = labels_init
            self.random_state = random_state
            self.warm_start = warm_start
            self.verbose = verbose
            self.chunk_size = chunk_size
            self.accelerate = accelerate
            self.semi_supervised = semi_supervised
            self.schedule = schedule
            self.batch_size = batch_size
            self.learning_decay = learning_decay

        def _family(self):
            return family

    return ToyPoissonMixture


def test_online_schedules_work_for_any_family_on_base_mixture():
    rng = np.random.default_rng(0)
    rates = np.array([[1.0, 8.0], [6.0, 2.0], [15.0, 12.0]])
    X = rng.poisson(rates[rng.integers(0, 3, size=3000)]).astype(float)
    cls = toy_mixture_class()
    batch = cls(3, random_state=0, tol=1e-12, max_iter=2000).fit(X)
    inc = cls(3, random_state=0, tol=1e-12, max_iter=2000, schedule="incremental",
              batch_size=500).fit(X)
    np.testing.assert_allclose(np.sort(inc.rates_, axis=0), np.sort(batch.rates_, axis=0),
                               atol=1e-5)
    assert np.all(np.diff(inc.lower_bounds_) >= -1e-12 * np.abs(inc.lower_bounds_[:-1]))
    online_fit = cls(3, random_state=0)
    for rows in np.array_split(rng.permutation(3000), 6):
        online_fit.partial_fit(X[rows])
    assert online_fit.n_steps_ == 6
    assert online_fit.score(X) > batch.score(X) - 5e-3
