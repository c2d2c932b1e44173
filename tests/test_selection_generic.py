"""select_model(estimator=...): the G x variant grid for any mixture estimator."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import BernoulliMixture, GaussianMixture, RegressionMixture, select_model


def binary(seed=0, n=600):
    rng = np.random.default_rng(seed)
    p = np.array([[0.9, 0.9, 0.1, 0.1, 0.5], [0.1, 0.1, 0.9, 0.9, 0.5],
                  [0.5, 0.9, 0.1, 0.9, 0.1]])
    return (rng.random((n, 5)) < p[rng.integers(3, size=n)]).astype(float)


def test_bernoulli_grid_picks_the_true_k_and_its_values_are_the_estimators():
    X = binary()
    result = select_model(X, range(1, 6), estimator=BernoulliMixture(n_init=2),
                          random_state=0)
    assert result.best_params_ == {"n_components": 3}
    assert result.models == ("Bernoulli",)
    for G in range(1, 6):
        fitted = result.estimators_[(G, "Bernoulli")]
        i = G - 1
        assert result.log_likelihood[i, 0] == pytest.approx(fitted.score_samples(X).sum())
        assert result.n_parameters[i, 0] == fitted.n_parameters() == G * 5 + G - 1
        assert result.bic("sklearn")[i, 0] == pytest.approx(fitted.bic(X))
        assert result.icl("sklearn")[i, 0] == pytest.approx(fitted.icl(X))
    assert result.best_model_ is result.estimators_[(3, "Bernoulli")]


def test_conditional_estimator_with_y_and_a_param_grid():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 300)
    y = np.where(rng.integers(2, size=300) == 0, 1 + 2 * x, 20 - x) + rng.normal(0, 0.5, 300)
    result = select_model(x[:, None], [1, 2, 3], estimator=RegressionMixture(n_init=3),
                          y=y, param_grid={"noise": ["component", "common"]},
                          random_state=0)
    assert result.models == ("component", "common")
    assert result.best_params_["n_components"] == 2
    fitted = result.best_model_
    assert result.values("bic", "sklearn").min() == pytest.approx(fitted.bic(x[:, None], y))


def test_covariance_types_become_columns_and_parallel_cells_agree():
    X = np.random.default_rng(2).normal(size=(200, 2)) * [1.0, 3.0]
    serial = select_model(X, [1, 2], ["full", "diag"], estimator=GaussianMixture(n_init=2),
                          random_state=0)
    parallel = select_model(X, [1, 2], ["full", "diag"], estimator=GaussianMixture(n_init=2),
                            random_state=0, n_jobs=2)
    assert serial.models == ("full", "diag")
    np.testing.assert_allclose(parallel.log_likelihood, serial.log_likelihood, rtol=1e-12)
    assert serial.best_params_["covariance_type"] in ("full", "diag")


def test_failed_cells_are_na_with_the_reason():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, 12)
    y = rng.normal(size=12)
    result = select_model(x[:, None], [1, 6], estimator=RegressionMixture(
        init_params="random_from_data"), y=y, random_state=0)
    reason = result.reasons.get((6, "Regression"))
    assert reason is not None and ("collapsed" in reason or "empty" in reason)
    assert np.isnan(result.bic()[1, 0]) and np.isfinite(result.bic()[0, 0])


def test_bad_arguments_are_named():
    X = binary(4, 100)
    with pytest.raises(ValueError, match="param_grid names 'beta'"):
        select_model(X, [1, 2], estimator=BernoulliMixture(), param_grid={"beta": [1]})
    with pytest.raises(ValueError, match="has no covariance_type"):
        select_model(X, [1, 2], "full", estimator=BernoulliMixture())
    with pytest.raises(ValueError, match="need an estimator"):
        select_model(X, [1, 2], y=np.zeros(100))
    with pytest.raises(TypeError, match="takes no GaussianMixture keyword"):
        select_model(X, [1, 2], estimator=BernoulliMixture(), prior="default")
