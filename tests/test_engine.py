"""The EM engine: convergence rule, history, monotonicity check, memory per chunk."""

import dataclasses
import warnings

import numpy as np
import pytest

import emkit
from emkit.em import SufficientStatistics, run_em
from emkit.em.engine import expectation
from emkit.exceptions import MonotonicityError, MonotonicityWarning
from emkit.families.gaussian import GaussianMixtureModel
from emkit.sources import ArraySource, default_chunk_size

from .conftest import make_blobs


@dataclasses.dataclass(frozen=True)
class _Counts(SufficientStatistics):
    counts: np.ndarray


class _ScriptedModel:
    """A model whose 'parameters' are an iteration counter and whose objective is scripted."""

    def __init__(self, objectives):
        self.objectives = objectives

    def log_joint(self, t, X):
        # two components with equal mass: logsumexp gives objectives[t]
        return np.full((X.shape[0], 2), self.objectives[t] - np.log(2.0))

    def statistics(self, t, X, resp):
        return _Counts(resp.sum(0))

    def maximize(self, stats, t):
        return t + 1


def _source(n=10):
    return ArraySource(np.zeros((n, 1)), None, chunk_size=3)


def test_decrease_raises_in_strict_mode_and_warns_otherwise():
    model = _ScriptedModel([-5.0, -4.0, -4.5, -4.4])
    with pytest.raises(MonotonicityError, match="decreased at iteration 3"):
        run_em(model, 0, _source(), tol=0.0, max_iter=3)
    with emkit.config_context(monotonic="warn"), pytest.warns(MonotonicityWarning):
        run_em(model, 0, _source(), tol=0.0, max_iter=3)
    with emkit.config_context(monotonic="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        run_em(model, 0, _source(), tol=0.0, max_iter=3)


def test_float_noise_is_not_a_decrease():
    model = _ScriptedModel([-5.0, -4.0, -4.0 - 1e-14, -3.0])
    result = run_em(model, 0, _source(), tol=0.0, max_iter=3)
    np.testing.assert_allclose(result.objective_history, [-5.0, -4.0, -4.0 - 1e-14])


def test_convergence_rule_and_history():
    model = _ScriptedModel([-5.0, -4.0, -3.9, -3.8999, -3.8998])
    result = run_em(model, 0, _source(), tol=1e-3, max_iter=10)
    assert result.converged and result.n_iter == 4
    assert result.params == 4  # parameters after the last M-step
    np.testing.assert_allclose(result.objective_history, [-5.0, -4.0, -3.9, -3.8999])
    assert result.objective == -3.8999
    capped = run_em(model, 0, _source(), tol=1e-3, max_iter=2)
    assert not capped.converged and capped.n_iter == 2


def test_set_config_rejects_unknown_modes():
    with pytest.raises(ValueError, match="monotonic must be one of"):
        emkit.set_config(monotonic="loud")


def test_objective_is_weighted_mean_over_chunks():
    X = make_blobs()
    model = GaussianMixtureModel("diag")
    resp = np.full((X.shape[0], 3), 1 / 3)
    params = model.params_from_responsibilities(X, np.ones(len(X)), resp, 64)
    w = np.random.default_rng(0).uniform(0, 2, size=X.shape[0])
    _, whole = expectation(model, params, ArraySource(X, w, X.shape[0]))
    _, chunked = expectation(model, params, ArraySource(X, w, 13))
    from scipy.special import logsumexp

    direct = w @ logsumexp(model.log_joint(params, X), axis=1) / w.sum()
    assert whole == pytest.approx(direct, rel=1e-13)
    assert chunked == pytest.approx(direct, rel=1e-13)


def test_chunk_memory_is_bounded():
    # work arrays per chunk are (rows x max(K, D)) floats of a few MB, whatever n is
    for n, width in [(10**7, 200), (10**6, 10000), (50, 5)]:
        rows = default_chunk_size(n, width)
        assert rows <= n
        assert rows * width * 8 <= 8 * 2**20 or rows == 256


def test_e_step_never_allocates_n_by_k_by_d():
    class Spy(GaussianMixtureModel):
        largest = 0

        def log_joint(self, params, X):
            Spy.largest = max(Spy.largest, X.shape[0])
            return super().log_joint(params, X)

    X = make_blobs()
    model = Spy("full")
    resp = np.full((X.shape[0], 3), 1 / 3)
    params = model.params_from_responsibilities(X, np.ones(len(X)), resp, 64)
    # the NumPy path forms (chunk x K) log joints; the fused kernels none at all
    with emkit.config_context(kernels="numpy"):
        run_em(model, params, ArraySource(X, None, 50), tol=1e-6, max_iter=5)
    assert Spy.largest == 50


def _kernel_choices():
    """The E-step implementations to check: NumPy, and numba's kernels when installed."""
    from emkit._kernels import numba_available

    return ["numpy", "numba"] if numba_available() else ["numpy"]


@pytest.mark.parametrize("kernels", _kernel_choices())
@pytest.mark.parametrize(("covariance_type", "dim"), [
    ("full", 4), ("diag", 4), ("diag", 12), ("full", 20), ("tied", 2), ("spherical", 2),
])
def test_results_do_not_depend_on_the_number_of_threads(covariance_type, dim, kernels):
    # with kernels="numba", few features run the fused kernels, many the BLAS path
    X = make_blobs(n_per=(2000, 1500, 1800), dim=dim)
    fits = []
    for n_threads in (1, 2, 3):
        with emkit.config_context(n_threads=n_threads, kernels=kernels):
            fits.append(emkit.GaussianMixture(3, covariance_type=covariance_type, chunk_size=500,
                                              random_state=0, tol=1e-9).fit(X))
    for other in fits[1:]:
        assert other.n_iter_ == fits[0].n_iter_
        np.testing.assert_allclose(other.lower_bounds_, fits[0].lower_bounds_, rtol=1e-14)
        np.testing.assert_allclose(other.covariances_, fits[0].covariances_, rtol=1e-12)
    with emkit.config_context(n_threads=1, kernels=kernels):
        one = emkit.KMeans(5, random_state=0, chunk_size=300).fit(X)
    with emkit.config_context(n_threads=2, kernels=kernels):
        two = emkit.KMeans(5, random_state=0, chunk_size=300).fit(X)
    np.testing.assert_array_equal(one.labels_, two.labels_)
    np.testing.assert_allclose(one.cluster_centers_, two.cluster_centers_, rtol=1e-14)


def test_n_threads_config_is_validated():
    with pytest.raises(ValueError, match="n_threads must be None or an integer >= 1"):
        emkit.set_config(n_threads=0)
    assert emkit.get_config()["n_threads"] is None
