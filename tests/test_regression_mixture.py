"""Mixtures of regressions, GLMs and experts against mixtools, flexmix and direct optimisation."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp
from sklearn.linear_model import Ridge

from emkit import MixtureOfExperts, RegressionMixture
from emkit.exceptions import ConvergenceWarning, DegenerateComponentError

REFERENCES = Path(__file__).parent / "references"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REFERENCES / "regression_mixtures.json").read_text())


def quiet_fit(estimator, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args)


def two_lines(seed=0, n=400, noise=0.5):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    regime = rng.integers(2, size=n)
    y = np.where(regime == 0, 1 + 2 * x, 20 - x) + rng.normal(0, noise, n)
    return x[:, None], y, regime


# ------------------------------------------------------------------ references
def test_matches_mixtools_regmixem_on_nodata(ref):
    """mixtools 2.0.0 regmixEM(Equivalence ~ NO), from the same starting values."""
    data = ref["nodata"]
    x, y = np.array(data["x"])[:, None], np.array(data["y"])
    start = data["start"]
    beta = np.array(start["beta"])  # rows: intercept, slope; columns: components
    rm = quiet_fit(RegressionMixture(
        2, weights_init=start["lambda"], coef_init=beta[1][:, None], intercept_init=beta[0],
        noise_variance_init=np.square(start["sigma"]), tol=0.0, max_iter=2000), x, y)
    assert rm.score_samples(x, y).sum() == pytest.approx(data["loglik"], rel=1e-12)
    expected = np.array(data["beta"])  # (component, [intercept, slope])
    np.testing.assert_allclose(rm.intercept_, expected[:, 0], atol=1e-8)
    np.testing.assert_allclose(rm.coef_[:, 0], expected[:, 1], atol=1e-8)
    np.testing.assert_allclose(np.sqrt(rm.noise_variance_), data["sigma"], atol=1e-8)
    np.testing.assert_allclose(rm.weights_, data["lambda"], atol=1e-8)


def test_npreg_gaussian_is_the_ml_fixed_point_not_flexmix_s(ref):
    """flexmix corrects its variance for degrees of freedom; emkit's fixed point is the
    maximum-likelihood one (mixtools' regmixEM, started at flexmix's solution)."""
    data = ref["npreg"]
    x = np.array(data["x"])
    X, y = np.c_[x, x ** 2], np.array(data["yn"])
    rm = quiet_fit(RegressionMixture(2, labels_init=np.array(data["class"]) - 1, tol=0.0,
                                     max_iter=3000), X, y)
    ml, flex = ref["mixtools_gaussian"], ref["flexmix_gaussian"]
    loglik = rm.score_samples(X, y).sum()
    assert loglik == pytest.approx(ml["loglik"], rel=1e-10)
    beta = np.array(ml["beta"])
    np.testing.assert_allclose(rm.intercept_, beta[:, 0], atol=1e-6)
    np.testing.assert_allclose(rm.coef_, beta[:, 1:], atol=1e-6)
    np.testing.assert_allclose(np.sqrt(rm.noise_variance_), ml["sigma"], atol=1e-6)
    # flexmix's fixed point (sigma^2 = RSS / (n_k - p)) has a lower likelihood:
    # -642.5452 vs -642.5320 here, and larger noise (3.476 / 3.480 vs 3.444 / 3.451)
    assert flex["loglik"] < loglik - 1e-3
    assert np.all(np.array(flex["sigma"]) > np.sqrt(rm.noise_variance_))


def test_poisson_regressions_match_flexmix(ref):
    data = ref["npreg"]
    x, y = np.array(data["x"])[:, None], np.array(data["yp"])
    fit = ref["flexmix_poisson"]
    rm = quiet_fit(RegressionMixture(2, family="poisson", tol=0.0, max_iter=400,
                                     labels_init=np.array(data["class"]) - 1), x, y)
    assert rm.score_samples(x, y).sum() == pytest.approx(fit["loglik"], rel=1e-12)
    coef = np.array(fit["coef"])
    np.testing.assert_allclose(rm.intercept_, coef[:, 0], atol=1e-8)
    np.testing.assert_allclose(rm.coef_[:, 0], coef[:, 1], atol=1e-8)
    np.testing.assert_allclose(rm.weights_, fit["prior"], atol=1e-8)


def test_logistic_regressions_reach_flexmix_s_fixed_point(ref):
    """A weakly identified logistic mixture: plain EM crawls, SQUAREM gets there."""
    fit = ref["flexmix_binomial"]
    x, y = np.array(fit["x"])[:, None], np.array(fit["y"], dtype=float)
    rm = RegressionMixture(2, family="binomial", tol=1e-13, max_iter=5000,
                           accelerate="squarem", labels_init=np.array(fit["class"]) - 1)
    rm.fit(x, y)
    assert rm.score_samples(x, y).sum() == pytest.approx(fit["loglik"], rel=1e-11)
    coef = np.array(fit["coef"])
    np.testing.assert_allclose(rm.intercept_, coef[:, 0], atol=5e-4)
    np.testing.assert_allclose(rm.coef_[:, 0], coef[:, 1], atol=5e-4)


def test_poisson_experts_with_a_gate_match_flexmix_concomitant(ref):
    """flexmix FLXMRglm(poisson) + FLXPmultinom(~ x) from the same partition."""
    data = ref["npreg"]
    x, y = np.array(data["x"])[:, None], np.array(data["yp"])
    fit = ref["flexmix_poisson_gate"]
    moe = MixtureOfExperts(2, family="poisson", tol=1e-14, max_iter=2000,
                           accelerate="squarem", labels_init=np.array(data["class"]) - 1)
    moe.fit(x, y)
    assert moe.score_samples(x, y).sum() == pytest.approx(fit["loglik"], rel=1e-12)
    coef = np.array(fit["coef"])
    np.testing.assert_allclose(moe.intercept_, coef[:, 0], atol=1e-5)
    np.testing.assert_allclose(moe.coef_[:, 0], coef[:, 1], atol=1e-5)
    # flexmix's baseline is the first regime, emkit's the last: same gate up to that
    gate = np.array(fit["gate"])  # rows: regimes, columns: (intercept, x)
    np.testing.assert_allclose(moe.gate_intercept_[0] - moe.gate_intercept_[1],
                               gate[0, 0] - gate[1, 0], atol=1e-5)
    np.testing.assert_allclose(moe.gate_coef_[0, 0] - moe.gate_coef_[1, 0],
                               gate[0, 1] - gate[1, 1], atol=1e-5)


# ------------------------------------------------------------------ direct optimisation
def test_no_direct_improvement_for_a_mixture_of_regressions():
    X, y, _ = two_lines(1, n=300, noise=1.5)
    rm = RegressionMixture(2, tol=1e-14, max_iter=5000, accelerate="squarem", n_init=3,
                           random_state=0).fit(X, y)
    theta0 = np.concatenate([np.log(rm.weights_), rm.intercept_, rm.coef_[:, 0],
                             0.5 * np.log(rm.noise_variance_)])

    def negative_loglik(theta):
        log_w = theta[:2] - logsumexp(theta[:2])
        mean = theta[2:4] + np.outer(X[:, 0], theta[4:6])
        sd = np.exp(theta[6:8])
        dens = -0.5 * ((y[:, None] - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        return -logsumexp(dens + log_w, axis=1).sum()

    start = negative_loglik(theta0)
    assert start == pytest.approx(-rm.score_samples(X, y).sum(), rel=1e-12)
    assert minimize(negative_loglik, theta0, method="BFGS").fun >= start - 1e-6 * abs(start)


def test_no_direct_improvement_for_a_mixture_of_experts():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, 500)
    left = rng.random(500) < 1 / (1 + np.exp(2 * x))
    y = np.where(left, 2 - x, 1 + 2 * x) + rng.normal(0, 0.5, 500)
    moe = MixtureOfExperts(2, tol=1e-14, max_iter=5000, accelerate="squarem", n_init=2,
                           random_state=0).fit(x[:, None], y)
    theta0 = np.concatenate([[moe.gate_intercept_[0], moe.gate_coef_[0, 0]], moe.intercept_,
                             moe.coef_[:, 0], 0.5 * np.log(moe.noise_variance_)])

    def negative_loglik(theta):
        eta = np.c_[theta[0] + theta[1] * x, np.zeros_like(x)]
        log_gate = log_softmax(eta, axis=1)
        mean = theta[2:4] + np.outer(x, theta[4:6])
        sd = np.exp(theta[6:8])
        dens = -0.5 * ((y[:, None] - mean) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        return -logsumexp(dens + log_gate, axis=1).sum()

    start = negative_loglik(theta0)
    assert start == pytest.approx(-moe.score_samples(x[:, None], y).sum(), rel=1e-12)
    assert minimize(negative_loglik, theta0, method="BFGS").fun >= start - 1e-6 * abs(start)


# ------------------------------------------------------------------ closed forms and options
def test_one_component_is_weighted_ridge_regression():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 3.0 + rng.normal(0, 0.7, 200)
    w = rng.uniform(0.2, 2.0, 200)
    for ridge in (0.0, 5.0):
        rm = RegressionMixture(1, ridge=ridge).fit(X, y, sample_weight=w)
        reference = Ridge(alpha=ridge).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(rm.coef_[0], reference.coef_, rtol=1e-10)
        assert rm.intercept_[0] == pytest.approx(reference.intercept_, rel=1e-10)
        residual = y - reference.predict(X)
        expected = (w @ residual ** 2 + ridge * reference.coef_ @ reference.coef_) / w.sum()
        assert rm.noise_variance_[0] == pytest.approx(expected, rel=1e-10)


def test_multivariate_response_and_common_noise():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    B = np.array([[1.0, 0.5], [-1.0, 2.0]])
    noise = rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 2.0]], size=300)
    Y = X @ B + np.array([0.5, -1.0]) + noise
    rm = RegressionMixture(1).fit(X, Y)
    A = np.c_[np.ones(300), X]
    beta = np.linalg.lstsq(A, Y, rcond=None)[0]
    np.testing.assert_allclose(rm.intercept_[0], beta[0], rtol=1e-10)
    np.testing.assert_allclose(rm.coef_[0], beta[1:].T, rtol=1e-10)
    residual = Y - A @ beta
    np.testing.assert_allclose(rm.noise_variance_[0], residual.T @ residual / 300, rtol=1e-10)
    assert rm.predict(X).shape == (300, 2)
    X2, y2, _ = two_lines(5)
    common = RegressionMixture(2, noise="common", n_init=3, random_state=0).fit(X2, y2)
    assert common.noise_variance_[0] == common.noise_variance_[1]


def test_recovers_two_lines_and_the_predictions_are_consistent():
    X, y, regime = two_lines(6)
    rm = RegressionMixture(2, n_init=5, random_state=0).fit(X, y)
    order = np.argsort(rm.coef_[:, 0])
    np.testing.assert_allclose(rm.coef_[order, 0], [-1.0, 2.0], atol=0.05)
    np.testing.assert_allclose(rm.intercept_[order], [20.0, 1.0], atol=0.3)
    post = rm.predict_proba(X, y)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    agreement = np.mean(post.argmax(axis=1) == np.where(regime == 0, order[1], order[0]))
    assert agreement > 0.95  # the lines cross at x = 19/3: ~3% of rows are ambiguous
    np.testing.assert_allclose(rm.predict(X), rm.predict_components(X) @ rm.weights_)
    np.testing.assert_allclose(rm.predict_proba(X), np.tile(rm.weights_, (len(y), 1)))
    scores = rm.score_samples(X, y)
    perm = np.random.default_rng(0).permutation(len(y))
    np.testing.assert_allclose(rm.score_samples(X[perm], y[perm]), scores[perm], rtol=1e-12)
    assert rm.bic(X, y) == pytest.approx(-2 * scores.sum() + rm.n_parameters() * np.log(len(y)))
    assert rm.n_parameters() == 2 * 2 + 2 + 1
    assert rm.icl(X, y) >= rm.bic(X, y)
    draws, regimes = rm.sample_y(X, random_state=0)
    assert draws.shape == y.shape and regimes.shape == y.shape


def test_a_collapsing_component_is_named_and_the_floor_prevents_it():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, 40)
    y = rng.normal(size=40)
    labels = np.zeros(40, dtype=int)
    labels[:2] = 1  # a component on two points: an exact line through them
    with pytest.raises(DegenerateComponentError, match=r"component 1 collapsed.*variance_floor"):
        RegressionMixture(2, labels_init=labels).fit(x[:, None], y)
    fitted = RegressionMixture(2, labels_init=labels, variance_floor=1e-2).fit(x[:, None], y)
    assert np.all(fitted.noise_variance_ >= 1e-2)


def test_gate_and_expert_features_select_columns():
    rng = np.random.default_rng(8)
    n = 600
    g = rng.normal(size=n)
    x = rng.uniform(-2, 2, n)
    upper = rng.random(n) < 1 / (1 + np.exp(-3 * g))
    y = np.where(upper, 3 + x, -3 - 2 * x) + rng.normal(0, 0.3, n)
    X = np.c_[x, g]
    moe = MixtureOfExperts(2, gate_features=[1], expert_features=[0], n_init=3,
                           random_state=0).fit(X, y)
    assert moe.gate_coef_.shape == (2, 1) and moe.coef_.shape == (2, 1)
    assert abs(moe.gate_coef_[0, 0]) == pytest.approx(3.0, rel=0.25)
    gate = moe.predict_proba_gate(X)
    np.testing.assert_allclose(moe.predict(X), (gate * moe.predict_components(X)).sum(axis=1))
    np.testing.assert_allclose(moe.predict_proba(X), gate)
    with pytest.raises(ValueError, match="gate_features must hold column indices"):
        MixtureOfExperts(2, gate_features=[5]).fit(X, y)


# ------------------------------------------------------------------ bad input
def test_bad_responses_are_named():
    X, y, _ = two_lines(9, n=50)
    with pytest.raises(ValueError, match="requires y"):
        RegressionMixture(2).fit(X, None)
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN at row 3"):
        RegressionMixture(2).fit(X, bad)
    with pytest.raises(ValueError, match=r"y has value 2\.0 at row 0: the binomial family"):
        RegressionMixture(2, family="binomial").fit(X, np.r_[2.0, np.zeros(49)])
    with pytest.raises(ValueError, match=r"y has value -1\.0 at row 1: the poisson family"):
        RegressionMixture(2, family="poisson").fit(X, np.r_[0.0, -1.0, np.zeros(48)])
    with pytest.raises(ValueError, match="family must be one of"):
        RegressionMixture(2, family="gamma").fit(X, y)
    with pytest.raises(ValueError, match=r"one value .* per row of X"):
        RegressionMixture(2).fit(X, y[:-1])


def test_plots_draw_every_regime_and_the_gate():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from emkit.plotting import plot_gate, plot_regression_mixture

    X, y, _ = two_lines(10, n=120)
    rm = RegressionMixture(2, n_init=2, random_state=0).fit(np.c_[X, X ** 2], y)
    ax = plot_regression_mixture(rm, X[:, 0], y, design=lambda t: np.c_[t, t ** 2])
    gids = {line.get_gid() for line in ax.get_lines()}
    assert {"regime0", "regime1"} <= gids
    np.testing.assert_allclose(ax.get_lines()[-1].get_ydata(),
                               rm.predict(np.c_[ax.get_lines()[-1].get_xdata(),
                                                ax.get_lines()[-1].get_xdata() ** 2]))
    with pytest.raises(ValueError, match="one input"):
        plot_regression_mixture(rm, np.c_[X, X ** 2], y)
    moe = MixtureOfExperts(2, n_init=2, random_state=0).fit(X, y)
    ax = plot_gate(moe, X)
    curves = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("gate")]
    assert len(curves) == 2
    np.testing.assert_allclose(curves[0].get_ydata() + curves[1].get_ydata(), 1.0)
    matplotlib.pyplot.close("all")


def test_online_schedules_for_regressions_and_their_refusal_for_glms():
    X, y, _ = two_lines(11, n=2000)
    batch = RegressionMixture(2, n_init=3, random_state=0).fit(X, y)
    incremental = RegressionMixture(2, n_init=3, random_state=0, schedule="incremental",
                                    batch_size=250).fit(X, y)
    np.testing.assert_allclose(np.sort(incremental.coef_[:, 0]), np.sort(batch.coef_[:, 0]),
                               atol=1e-4)
    online = RegressionMixture(2, n_init=3, random_state=0)
    for start in range(0, 2000, 250):
        online.partial_fit(X[start:start + 250], y[start:start + 250])
    np.testing.assert_allclose(np.sort(online.coef_[:, 0]), [-1.0, 2.0], atol=0.05)
    # GLM regimes and a gate need passes over the data: no partial_fit, and no
    # online schedule
    assert not hasattr(RegressionMixture(2, family="poisson"), "partial_fit")
    assert not hasattr(MixtureOfExperts(2), "partial_fit")
    with pytest.raises(ValueError, match="needs passes over the data"):
        RegressionMixture(2, family="poisson", schedule="stepwise").fit(X, np.ones(2000))
