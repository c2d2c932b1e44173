"""Generalized EM (``m_step_iterations``): partial M-steps that still increase Q.

Checked: the partial dof update never lowers Q and converges to the exact
root; fits in strict mode (a decreasing log-likelihood raises) end at the
fixed point of exact EM.
"""

import numpy as np
import pytest

from emkit import MixtureOfExperts, RegressionMixture, StudentTMixture
from emkit.em.generalized import check_m_step_iterations
from emkit.families.student_t_dof import (
    _unit_objective,
    improve_dofs,
    solve_dofs,
    update_dof,
)

BOUNDS = (0.1, 200.0)


def test_partial_dof_steps_never_lower_q_and_reach_the_root():
    rng = np.random.default_rng(0)
    ratios = np.exp(rng.uniform(np.log(1e-3), np.log(3.0), size=200))
    starts = np.exp(rng.uniform(np.log(0.1), np.log(200.0), size=200))
    exact = solve_dofs(ratios, BOUNDS)
    previous = starts
    for _ in range(6):
        step = improve_dofs(ratios, BOUNDS, previous, 1)
        # Q/N is a difference of terms of size ~ nu log nu: that much rounding
        noise = 1e-14 * (1.0 + previous * np.abs(np.log(previous)))
        assert np.all(_unit_objective(step, ratios) >= _unit_objective(previous, ratios) - noise)
        previous = step
    many = improve_dofs(ratios, BOUNDS, starts, 100)
    np.testing.assert_allclose(many, exact, rtol=1e-10)
    # at the root the step is zero: the exact M-step's fixed points are kept
    np.testing.assert_allclose(improve_dofs(ratios, BOUNDS, exact, 1), exact, rtol=1e-12)


def test_update_dof_partial_and_shared():
    counts = np.array([10.0, 20.0, 0.0])
    terms = np.array([-1.0, -0.5, 0.0])
    previous = np.array([4.0, 4.0, 7.0])
    empty = counts == 0
    exact = update_dof(counts, terms, previous, empty, False, BOUNDS)
    one = update_dof(counts, terms, previous, empty, False, BOUNDS, max_iter=1)
    assert one[2] == 7.0 and exact[2] == 7.0  # an empty component keeps its value
    ratios = -terms[:2] / counts[:2]
    assert np.all(_unit_objective(one[:2], ratios) >= _unit_objective(previous[:2], ratios))
    assert np.all(np.abs(one[:2] - exact[:2]) < np.abs(previous[:2] - exact[:2]))
    shared = update_dof(counts, terms, previous, empty, True, BOUNDS, max_iter=50)
    np.testing.assert_allclose(shared, update_dof(counts, terms, previous, empty, True, BOUNDS),
                               rtol=1e-10)


def heavy_tailed():
    rng = np.random.default_rng(0)
    return np.vstack([rng.standard_t(3, size=(250, 2)),
                      rng.standard_t(8, size=(250, 2)) @ [[1.0, 0.3], [0.0, 0.7]] + 6])


@pytest.mark.parametrize("dof", ["estimate", "shared"])
def test_student_t_generalized_em_is_monotone_and_ends_at_em_fixed_point(dof):
    X = heavy_tailed()
    common = dict(dof=dof, tol=1e-13, max_iter=5000, accelerate=None, random_state=0)
    exact = StudentTMixture(2, **common).fit(X)
    partial = StudentTMixture(2, m_step_iterations=1, **common).fit(X)  # strict mode
    assert partial.converged_
    assert np.all(np.diff(partial.lower_bounds_) >= 0)
    assert partial.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(partial.degrees_of_freedom_, exact.degrees_of_freedom_,
                               rtol=1e-4)
    np.testing.assert_allclose(partial.means_, exact.means_, atol=1e-6)
    # the first M-steps differ: the partial ones have not reached the exact dof
    first_exact = StudentTMixture(2, **{**common, "max_iter": 2, "tol": 1e9}).fit(X)
    first_partial = StudentTMixture(2, m_step_iterations=1,
                                    **{**common, "max_iter": 2, "tol": 1e9}).fit(X)
    assert not np.allclose(first_partial.degrees_of_freedom_,
                           first_exact.degrees_of_freedom_, rtol=1e-3)


def gated_data():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, 600)
    left = rng.random(600) < 1 / (1 + np.exp(2 * x))
    y = np.where(left, 2 - x, 1 + 2 * x) + rng.normal(0, 0.6, 600)
    return x[:, None], y


@pytest.mark.parametrize("steps", [1, 2])
def test_experts_gate_generalized_em_is_monotone_and_ends_at_em_fixed_point(steps):
    X, y = gated_data()
    common = dict(tol=1e-13, max_iter=3000, random_state=0)
    exact = MixtureOfExperts(2, **common).fit(X, y)
    partial = MixtureOfExperts(2, m_step_iterations=steps, **common).fit(X, y)  # strict mode
    assert partial.converged_
    assert np.all(np.diff(partial.lower_bounds_) >= 0)
    assert partial.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(partial.gate_coef_, exact.gate_coef_, atol=1e-5)
    np.testing.assert_allclose(partial.coef_, exact.coef_, atol=1e-6)


def test_binomial_experts_generalized_em_ends_at_em_fixed_point():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, 800)
    z = rng.random(800) < 1 / (1 + np.exp(2 * x))
    y = (rng.random(800) < 1 / (1 + np.exp(-np.where(z, 2 + 2 * x, -1 - x)))).astype(float)
    common = dict(family="binomial", tol=1e-13, max_iter=5000, random_state=0)
    exact = MixtureOfExperts(2, **common).fit(x[:, None], y)
    partial = MixtureOfExperts(2, m_step_iterations=1, **common).fit(x[:, None], y)
    assert partial.converged_
    assert np.all(np.diff(partial.lower_bounds_) >= 0)
    assert partial.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(partial.coef_, exact.coef_, atol=1e-4)
    np.testing.assert_allclose(partial.gate_coef_, exact.gate_coef_, atol=1e-4)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_glm_regression_mixture_generalized_em_ends_at_em_fixed_point(family):
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, 600)
    z = rng.random(600) < 0.4
    eta = np.where(z, 1.0 + 1.5 * x, -0.5 - x)
    y = (rng.random(600) < 1 / (1 + np.exp(-eta))).astype(float) if family == "binomial" \
        else rng.poisson(np.exp(eta)).astype(float)
    common = dict(family=family, tol=1e-13, max_iter=5000, random_state=0)
    exact = RegressionMixture(2, **common).fit(x[:, None], y)
    partial = RegressionMixture(2, m_step_iterations=1, **common).fit(x[:, None], y)
    assert partial.converged_
    assert np.all(np.diff(partial.lower_bounds_) >= 0)
    assert partial.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(partial.coef_, exact.coef_, atol=1e-4)


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_bad_m_step_iterations_named(value):
    with pytest.raises(ValueError, match="m_step_iterations must be None"):
        check_m_step_iterations(value)
    with pytest.raises(ValueError, match="m_step_iterations must be None"):
        StudentTMixture(2, m_step_iterations=value).fit(heavy_tailed())
    with pytest.raises(ValueError, match="m_step_iterations must be None"):
        MixtureOfExperts(2, m_step_iterations=value).fit(*gated_data())
    with pytest.raises(ValueError, match="m_step_iterations must be None"):
        RegressionMixture(2, m_step_iterations=value).fit(*gated_data())
    from emkit import GaussianMixture

    with pytest.raises(ValueError, match="m_step_iterations must be None"):
        GaussianMixture(2, covariance_type="VEV", m_step_iterations=value).fit(heavy_tailed())


def test_default_is_exact():
    assert StudentTMixture().m_step_iterations is None
    assert MixtureOfExperts().m_step_iterations is None
    assert RegressionMixture().m_step_iterations is None
    assert check_m_step_iterations(np.int64(3)) == 3


def test_m_step_iterations_survives_a_model_file(tmp_path):
    from emkit.persist import load_model, save_model

    X, y = gated_data()
    experts = MixtureOfExperts(2, m_step_iterations=1, random_state=0).fit(X, y)
    save_model(experts, tmp_path / "experts.json")
    assert load_model(tmp_path / "experts.json").m_step_iterations == 1
    from emkit import GaussianMixture

    gm = GaussianMixture(2, covariance_type="EVE", m_step_iterations=2,
                         random_state=0).fit(heavy_tailed())
    save_model(gm, tmp_path / "gm.json")
    assert load_model(tmp_path / "gm.json").m_step_iterations == 2
    t = StudentTMixture(2, m_step_iterations=3, random_state=0).fit(heavy_tailed())
    save_model(t, tmp_path / "t.json")
    loaded = load_model(tmp_path / "t.json")
    assert loaded.m_step_iterations == 3
    np.testing.assert_allclose(loaded.score_samples(heavy_tailed()),
                               t.score_samples(heavy_tailed()), rtol=1e-12)


@pytest.mark.parametrize("model", ["VEI", "VEE", "EVE", "VVE", "VEV"])
def test_iterative_covariance_models_generalized_em(model):
    """mclust's models whose M-step is an inner iteration: one round per M-step."""
    from emkit import GaussianMixture

    rng = np.random.default_rng(7)
    rotations = [np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(3)]
    X = np.vstack([rng.normal(size=(120, 3)) @ np.diag([1.0, 0.6, 0.3]) @ rotations[k]
                   + 1.5 * k for k in range(3)])
    common = dict(covariance_type=model, tol=1e-12, max_iter=3000, random_state=0)
    exact = GaussianMixture(3, **common).fit(X)
    partial = GaussianMixture(3, m_step_iterations=1, **common).fit(X)  # strict mode
    assert partial.converged_
    # the path differs: after two M-steps the inner iteration has not converged
    two = {**common, "max_iter": 2, "tol": 1e9}
    assert not np.allclose(GaussianMixture(3, m_step_iterations=1, **two).fit(X).covariances_,
                           GaussianMixture(3, **two).fit(X).covariances_, atol=1e-8)
    assert np.all(np.diff(partial.lower_bounds_) >= -1e-12 * np.abs(partial.lower_bounds_[1:]))
    assert partial.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-9)
    np.testing.assert_allclose(partial.means_, exact.means_, atol=1e-5)
    np.testing.assert_allclose(partial.covariances_, exact.covariances_, atol=1e-5)
