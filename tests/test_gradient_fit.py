"""GaussianMixture(fit_method="gradient"): L-BFGS-B on the log-likelihood.

The references: central finite differences of the log-likelihood (the
analytic gradient), EM run to a tight tolerance from the same start (the
optimum), the same rows repeated (sample weights).
"""

import numpy as np
import pytest
from scipy.optimize import check_grad
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from emkit import GaussianMixture
from emkit.em.engine import expectation
from emkit.families.gaussian import GaussianMixtureModel
from emkit.families.gaussian_gradient import GaussianParametrisation
from emkit.models._base import make_source
from emkit.persist import load_model, save_model

KINDS = ("full", "tied", "diag", "spherical", "EEI", "EII")


def separated(n=120, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n, dim)) @ (np.eye(dim) + 0.3 * rng.normal(size=(dim, dim)))
                      + 5.0 * k for k in range(3)])


def loglik_and_gradient(kind, reg, X, weights, theta, reference=None):
    """(summed log-likelihood, analytic gradient, parametrisation) at theta."""
    model = GaussianMixtureModel(kind, reg)
    param = GaussianParametrisation(model, 3, X.shape[1], reference)
    source = make_source(X, weights, None, 10)

    def loglik(t):
        stats, mean = expectation(model, param.unpack(t), source)
        return mean * stats.counts.sum()

    def gradient(t):
        params = param.unpack(t)
        stats, _ = expectation(model, params, source)
        return param.gradient(t, params, stats)

    return loglik, gradient, param


def start_theta(kind, reg, X, rng, standardised=False):
    gm = GaussianMixture(3, covariance_type=kind, reg_covar=reg, max_iter=2, tol=10.0,
                         random_state=0).fit(X)
    model = GaussianMixtureModel(kind, reg)
    reference = gm._params() if standardised else None
    param = GaussianParametrisation(model, 3, X.shape[1], reference)
    return param.pack(gm._params()) + rng.normal(scale=0.2, size=param.size), reference


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reg, standardised", [(0.0, False), (0.3, False), (0.3, True)])
def test_gradient_equals_central_differences(kind, reg, standardised):
    rng = np.random.default_rng(1)
    X = separated(60) * [1.0, 10.0, 0.2]  # features in different units
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    theta, reference = start_theta(kind, reg, X, rng, standardised)
    loglik, gradient, param = loglik_and_gradient(kind, reg, X, weights, theta, reference)
    analytic = gradient(theta)
    h = 1e-5
    numeric = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    assert np.abs(numeric - analytic).max() <= 1e-6 * np.abs(numeric).max()
    # scipy's forward-difference check agrees too (error ~ sqrt(eps) relative)
    assert check_grad(loglik, gradient, theta) <= 1e-5 * np.linalg.norm(numeric)
    # the map theta -> parameters -> theta is the identity
    np.testing.assert_allclose(param.pack(param.unpack(theta)), theta, atol=1e-12)


def test_gradient_with_missing_values_equals_central_differences():
    """Fisher's identity holds for the observed part of every row."""
    rng = np.random.default_rng(2)
    X = separated(60)
    X[rng.uniform(size=X.shape) < 0.15] = np.nan
    theta, reference = start_theta("full", 0.1, np.nan_to_num(X, nan=0.0), rng, True)
    loglik, gradient, _ = loglik_and_gradient("full", 0.1, X, None, theta, reference)
    h = 1e-5
    numeric = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    assert np.abs(numeric - gradient(theta)).max() <= 1e-6 * np.abs(numeric).max()


def fit_pair(X, kind, y=None, **params):
    em = GaussianMixture(3, covariance_type=kind, reg_covar=0.0, tol=1e-13, max_iter=3000,
                         random_state=0, **params).fit(X, y)
    gradient = GaussianMixture(3, covariance_type=kind, reg_covar=0.0, tol=1e-15,
                               max_iter=3000, random_state=0, fit_method="gradient",
                               **params).fit(X, y)
    return em, gradient


@pytest.mark.parametrize("kind", KINDS)
def test_same_optimum_as_em(kind):
    X = separated()
    em, gradient = fit_pair(X, kind)
    assert gradient.converged_
    assert gradient.score(X) == pytest.approx(em.score(X), abs=1e-11)
    np.testing.assert_allclose(gradient.weights_, em.weights_, atol=1e-7)
    np.testing.assert_allclose(gradient.means_, em.means_, atol=1e-6)
    np.testing.assert_allclose(gradient.covariances_, em.covariances_, atol=1e-6)
    np.testing.assert_allclose(gradient.precisions_,
                               np.linalg.inv(gradient.covariances_) if kind in ("full", "tied")
                               else 1.0 / gradient.covariances_, rtol=1e-10)
    # the recorded objective: L-BFGS-B iterates, never decreasing, ending at the fit's
    assert gradient.lower_bounds_.shape == (gradient.n_iter_,)
    assert np.all(np.diff(gradient.lower_bounds_) >= -1e-12)
    assert gradient.lower_bound_ == pytest.approx(gradient.score(X), abs=1e-12)


def test_same_optimum_as_em_with_missing_values_and_labels():
    rng = np.random.default_rng(3)
    X = separated()
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    y = np.full(X.shape[0], -1)
    y[[0, 130, 250]] = [0, 1, 2]
    em, gradient = fit_pair(X, "full", y, semi_supervised=True)
    assert gradient.lower_bound_ == pytest.approx(em.lower_bound_, abs=1e-10)
    np.testing.assert_allclose(gradient.means_, em.means_, atol=1e-6)


def test_sample_weights_are_counts():
    X = separated(40)
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 4, size=X.shape[0])
    start = GaussianMixture(3, random_state=0).fit(X)
    common = dict(weights_init=start.weights_, means_init=start.means_,
                  precisions_init=start.precisions_, tol=1e-15, max_iter=3000,
                  fit_method="gradient")
    weighted = GaussianMixture(3, **common).fit(X, sample_weight=counts)
    repeated = GaussianMixture(3, **common).fit(np.repeat(X, counts, axis=0))
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, abs=1e-11)
    np.testing.assert_allclose(weighted.means_, repeated.means_, atol=1e-6)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_reg_covar_is_a_floor_on_the_covariances(kind):
    """With reg_covar the fit maximises the likelihood over Sigma = C C' + reg I: every
    eigenvalue is at least reg, and EM's fixed point (S + reg I, in that set) is no better."""
    X = separated(15)
    reg = 0.5
    em = GaussianMixture(3, covariance_type=kind, reg_covar=reg, tol=1e-12, max_iter=3000,
                         random_state=0).fit(X)
    gradient = GaussianMixture(3, covariance_type=kind, reg_covar=reg, tol=1e-14,
                               max_iter=3000, random_state=0, fit_method="gradient").fit(X)
    cov = np.asarray(gradient.covariances_)
    smallest = (np.linalg.eigvalsh(cov).min() if kind in ("full", "tied") else cov.min())
    assert smallest >= reg * (1 - 1e-12)
    assert gradient.score(X) >= em.score(X) - 1e-12
    # and they are not the same point: the floor is not EM's regularisation
    assert np.abs(gradient.means_ - em.means_).max() > 1e-6


def test_convergence_warning_and_iteration_count():
    X = separated()
    gm = GaussianMixture(3, tol=0.0, max_iter=2, random_state=0, fit_method="gradient",
                         init_params="random")
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        gm.fit(X)
    assert not gm.converged_
    assert gm.n_iter_ == 2 and gm.lower_bounds_.shape == (2,)


def test_predict_score_bic_and_persistence(tmp_path):
    X = separated()
    gm = GaussianMixture(3, covariance_type="diag", fit_method="gradient",
                         random_state=0).fit(X)
    path = tmp_path / "model.json"
    save_model(gm, path)
    loaded = load_model(path)
    assert loaded.fit_method == "gradient"
    np.testing.assert_array_equal(loaded.predict(X), gm.predict(X))
    assert loaded.bic(X) == pytest.approx(gm.bic(X), rel=1e-12)
    refit = loaded.fit(X)
    assert refit.score(X) == pytest.approx(gm.score(X), abs=1e-10)


@pytest.mark.parametrize("params, match", [
    (dict(fit_method="newton"), "fit_method must be one of"),
    (dict(fit_method="gradient", accelerate="squarem"), "accelerate='squarem'"),
    (dict(fit_method="gradient", assignment="hard"), "assignment='hard'"),
    (dict(fit_method="gradient", dtype="float32"), "float64"),
    (dict(fit_method="gradient", covariance_type="VEV", m_step_iterations=1),
     "m_step_iterations"),
    (dict(fit_method="gradient", schedule="incremental"), "schedule='incremental'"),
])
def test_bad_settings_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3, **params).fit(separated(20))


def test_partial_fit_refused():
    with pytest.raises(ValueError, match="partial_fit runs stepwise EM"):
        GaussianMixture(3, fit_method="gradient").partial_fit(separated(20))


def test_default_is_em():
    assert GaussianMixture().fit_method == "em"


@pytest.mark.parametrize("kind", ["E", "V"])
def test_one_dimensional_models(kind):
    rng = np.random.default_rng(6)
    X = np.concatenate([rng.normal(0, 1, 150), rng.normal(6, 2, 100)])[:, None]
    em = GaussianMixture(2, covariance_type=kind, reg_covar=0.0, tol=1e-13, max_iter=3000,
                         random_state=0).fit(X)
    gradient = GaussianMixture(2, covariance_type=kind, reg_covar=0.0, tol=1e-15,
                               max_iter=3000, random_state=0, fit_method="gradient").fit(X)
    assert gradient.score(X) == pytest.approx(em.score(X), abs=1e-11)
    np.testing.assert_allclose(gradient.covariances_, em.covariances_, rtol=1e-6)
    if kind == "E":
        assert gradient.covariances_[0] == gradient.covariances_[1]


def test_callback_stops_the_gradient_fit():
    seen = []

    def stop_at_two(info):
        seen.append(info.objective)
        return info.iteration >= 2

    gm = GaussianMixture(3, tol=0.0, max_iter=50, random_state=0, init_params="random",
                         fit_method="gradient", callback=stop_at_two).fit(separated())
    assert gm.n_iter_ == 2 and not gm.converged_
    np.testing.assert_array_equal(seen, gm.lower_bounds_)


def test_optimiser_failure_is_a_convergence_warning(monkeypatch):
    from scipy.optimize import OptimizeResult

    import emkit.em.gradient as gradient_module

    def failing(fun, x0, **kwargs):
        return OptimizeResult(x=x0, status=2, message="ABNORMAL", success=False)

    monkeypatch.setattr(gradient_module, "minimize", failing)
    with pytest.warns(ConvergenceWarning) as caught:
        gm = GaussianMixture(3, max_iter=50, random_state=0, init_params="random",
                             fit_method="gradient").fit(separated())
    assert not gm.converged_
    # one warning, naming the optimiser's reason (not the generic max_iter one)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert len(messages) == 1 and "L-BFGS-B stopped before convergence (ABNORMAL)" in messages[0]


def test_a_file_source_gives_the_in_memory_fit(tmp_path):
    """The objective and gradient come from the engine's chunked E-step."""
    from emkit.sources import from_file

    X = separated(100)
    np.save(tmp_path / "x.npy", X)
    common = dict(fit_method="gradient", tol=1e-12, random_state=0, chunk_size=64)
    from_disk = GaussianMixture(3, **common).fit(from_file(tmp_path / "x.npy"))
    in_memory = GaussianMixture(3, **common).fit(X)
    assert from_disk.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(from_disk.means_, in_memory.means_, rtol=1e-12)


def _gradient_expected_failures(estimator) -> dict:
    from tests.test_estimator_checks import expected_failed

    failures = dict(expected_failed(estimator))
    refused = ("partial_fit is stepwise EM: refused with fit_method='gradient' (as with "
               "the other EM variants)")
    failures["check_fit_score_takes_y"] = refused
    failures["check_n_features_in_after_fitting"] = refused
    return failures


@parametrize_with_checks([GaussianMixture(n_components=2, fit_method="gradient",
                                          random_state=0)],
                         expected_failed_checks=_gradient_expected_failures)
def test_sklearn_checks_with_gradient_fit(estimator, check):
    check(estimator)
