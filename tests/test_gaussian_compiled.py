"""The compiled EM loop of small Gaussian fits (emkit.families.gaussian_compiled).

Every fit here is also done on the NumPy path (``kernels="numpy"``), the
reference: the compiled loop must give the same parameters, iterations and
objectives up to float rounding, and wherever something unusual happens
(degenerate covariance, empty component, decrease of the objective) the same
error or warning as the NumPy path.
"""

from __future__ import annotations

import json
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import emkit
from emkit import GaussianMixture, select_model
from emkit.exceptions import DegenerateComponentError, MonotonicityError
from emkit.families import gaussian_compiled
from emkit.families.structures import MCLUST_MODELS

pytest.importorskip("numba")

REFERENCE = Path(__file__).parent / "references" / "mclust_fits.json"
DATA = json.loads(REFERENCE.read_text())["datasets"]
RTOL = 1e-8


def _X(name: str) -> np.ndarray:
    if name == "random":
        rng = np.random.default_rng(7)
        centers = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 5.0, 1.0]])
        return np.concatenate([c + rng.normal(size=(60, 3)) * (1 + i)
                               for i, c in enumerate(centers)])
    return np.asarray(DATA[name]["X"], dtype=float)


@pytest.fixture
def loop_calls(monkeypatch):
    """Statuses of every compiled loop run (0: finished)."""
    statuses: list[int] = []
    original = gaussian_compiled.run_loop

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        if result is not None:
            statuses.append(result.status)
        return result

    monkeypatch.setattr(gaussian_compiled, "run_loop", spy)
    return statuses


def _fit(X, kernels: str, **params):
    weights = params.pop("_w", None)
    with emkit.config_context(kernels=kernels):
        return GaussianMixture(**params).fit(X, sample_weight=weights)


def _assert_same_fit(a: GaussianMixture, b: GaussianMixture) -> None:
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=RTOL)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=RTOL, atol=1e-12)
    scale = np.abs(a.means_).max()
    np.testing.assert_allclose(a.means_, b.means_, rtol=RTOL, atol=RTOL * scale)
    scale = np.abs(a.covariances_).max()
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(a.precisions_cholesky_, b.precisions_cholesky_, rtol=1e-7,
                               atol=1e-7 * np.abs(a.precisions_cholesky_).max())


DATASETS = ("faithful", "iris", "diabetes", "random")


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_every_model_gives_the_numpy_fit(model, loop_calls):
    name = DATASETS[MCLUST_MODELS.index(model) % len(DATASETS)]
    X = _X(name)
    for G in (1, 3, 5):
        params = dict(n_components=G, covariance_type=model, init_params="hierarchical",
                      reg_covar=0.0, tol=1e-8, max_iter=2000)
        reference = _fit(X, "numpy", **params)
        before = len(loop_calls)
        fast = _fit(X, "numba", **params)
        assert loop_calls[before:] == [0], (name, G)  # the compiled loop did the fit
        _assert_same_fit(reference, fast)


@pytest.mark.parametrize("model", ["VVV", "EEE", "VEI", "EVE", "VII", "EEV"])
def test_sample_weight_and_reg_covar(model, loop_calls):
    X = _X("random")
    weights = np.random.default_rng(3).integers(0, 4, size=X.shape[0]).astype(float)
    params = dict(n_components=3, covariance_type=model, random_state=0, tol=1e-8,
                  max_iter=500, reg_covar=1e-3, _w=weights)
    reference = _fit(X, "numpy", **dict(params))
    fast = _fit(X, "numba", **dict(params))
    assert 0 in loop_calls
    _assert_same_fit(reference, fast)


def test_kmeans_start_and_default_settings(loop_calls):
    X = _X("faithful")
    reference = _fit(X, "numpy", n_components=4, random_state=1)
    fast = _fit(X, "numba", n_components=4, random_state=1)
    assert loop_calls == [0]
    _assert_same_fit(reference, fast)


def test_auto_uses_the_loop_only_when_it_pays(monkeypatch, loop_calls):
    """"auto": a small fit with a small max_iter stays on the NumPy path (loading numba
    would cost more than the fit), whatever ran before; a large max_iter or
    select_model uses the loop."""
    from emkit import _kernels

    monkeypatch.delitem(_kernels._STATE, "gaussian_loop", raising=False)
    X = _X("faithful")
    _fit(X, "auto", n_components=2, random_state=0)  # max_iter=100
    assert loop_calls == []
    limit = gaussian_compiled.AUTO_MIN_ITERATIONS
    _fit(X, "auto", n_components=2, random_state=0, max_iter=limit)
    assert loop_calls == [0]
    _fit(X, "auto", n_components=2, random_state=0)  # loaded now: still the NumPy path
    assert loop_calls == [0]
    monkeypatch.delitem(_kernels._STATE, "gaussian_loop")
    select_model(X, [1, 2], ["EII"])
    assert loop_calls == [0, 0, 0]


def test_kernels_numpy_disables_the_loop(loop_calls):
    X = _X("faithful")
    _fit(X, "numpy", n_components=2, random_state=0)
    assert loop_calls == []
    with emkit.config_context(kernels="numpy"):
        assert gaussian_compiled.loop_kernels() is None


def test_options_outside_the_scope_take_the_numpy_path(loop_calls):
    X = _X("faithful")
    _fit(X, "numba", n_components=2, random_state=0, prior="default")
    _fit(X, "numba", n_components=2, random_state=0, accelerate="squarem")
    _fit(X, "numba", n_components=2, random_state=0, dtype="float32")
    missing = X.copy()
    missing[3, 1] = np.nan
    _fit(missing, "numba", n_components=2, random_state=0)
    assert loop_calls == []


def test_degenerate_component_raises_as_the_numpy_path(loop_calls):
    X = _X("iris")
    params = dict(n_components=6, covariance_type="EVV", init_params="hierarchical",
                  reg_covar=0.0, tol=1e-6, max_iter=1000)
    with pytest.raises(DegenerateComponentError) as numpy_error:
        _fit(X, "numpy", **params)
    with pytest.raises(DegenerateComponentError) as fast_error:
        _fit(X, "numba", **params)
    assert loop_calls and loop_calls[-1] != 0  # the loop stopped; the engine raised
    # same component, same rule (the detail depends on rounding at the collapse)
    assert str(fast_error.value).split(":")[0] == str(numpy_error.value).split(":")[0]


def test_empty_component_warns_as_the_numpy_path(loop_calls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    params = dict(n_components=2, weights_init=[0.5, 0.5], means_init=[[0.0, 0.0], [60, 60]],
                  precisions_init=[np.eye(2), np.eye(2)], max_iter=5, tol=0.0)
    fits = {}
    for kernels in ("numpy", "numba"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fits[kernels] = _fit(X, kernels, **params)
        messages = [str(w.message) for w in caught if "became empty" in str(w.message)]
        assert messages and "component(s) [1]" in messages[0]
    assert loop_calls and loop_calls[-1] != 0
    _assert_same_fit(fits["numpy"], fits["numba"])


def test_decrease_raises_the_same_monotonicity_error(monkeypatch, loop_calls):
    """A (forced) decrease: the loop hands over, the engine raises its own error."""
    original = GaussianMixture._engine_model_for

    def strict(self, X):
        model = original(self, X)
        model.objective_rtol = -1.0  # every iteration after the first "decreases"
        return model

    monkeypatch.setattr(GaussianMixture, "_engine_model_for", strict)
    X = _X("faithful")
    messages = []
    for kernels in ("numpy", "auto"):  # auto: the engine's own E-step after the hand-over
        with emkit.config_context(monotonic="raise"), pytest.raises(MonotonicityError) as err:
            _fit(X, kernels, n_components=2, random_state=0, tol=0.0, max_iter=2000)
        messages.append(str(err.value))
    assert loop_calls == [gaussian_compiled.loop_kernels().DECREASE]
    assert messages[0] == messages[1]
    assert "iteration 2" in messages[0]


# ------------------------------------------------------------------ select_model
def _compare_selections(a, b) -> None:
    assert np.array_equal(np.isfinite(a.log_likelihood), np.isfinite(b.log_likelihood))
    both = np.isfinite(a.log_likelihood)
    np.testing.assert_allclose(b.log_likelihood[both], a.log_likelihood[both], rtol=RTOL)
    np.testing.assert_allclose(b.icl()[both], a.icl()[both], rtol=RTOL)
    np.testing.assert_array_equal(a.n_iter, b.n_iter)
    np.testing.assert_array_equal(a.converged, b.converged)
    assert a.best_cell() == b.best_cell()
    assert a.reasons.keys() == b.reasons.keys()
    for key, reason in a.reasons.items():  # same exception (its detail may differ by rounding)
        assert b.reasons[key].split(":")[0] == reason.split(":")[0], key
    for key, gm in a.estimators_.items():
        _assert_same_fit(gm, b.estimators_[key])
        assert sorted(vars(gm)) == sorted(vars(b.estimators_[key]))


@pytest.mark.parametrize(("name", "Gs", "models"), [
    ("faithful", range(1, 5), "all"),
    ("diabetes", range(1, 4), "all"),
    ("iris", range(4, 8), ["VEE", "EVV", "VEV", "EEE"]),  # cells that fail (NA)
])
def test_select_model_tables_equal_the_numpy_path(name, Gs, models, loop_calls):
    X = _X(name)
    with emkit.config_context(kernels="numpy"):
        reference = select_model(X, Gs, models)
    assert loop_calls == []
    fast = select_model(X, Gs, models)
    assert loop_calls.count(0) >= len(loop_calls) // 2  # the loop fitted the cells
    _compare_selections(reference, fast)
    if name == "iris":
        assert len(fast.reasons) >= 3 and any(s != 0 for s in loop_calls)


def test_select_model_in_worker_processes():
    X = _X("diabetes")
    one = select_model(X, [2, 3], ["VVV", "EII", "VEV"])
    two = select_model(X, [2, 3], ["VVV", "EII", "VEV"], n_jobs=2)
    _compare_selections(one, two)


@pytest.mark.parametrize("model", ["VVV", "VEV", "EII"])
def test_a_run_cut_into_calls_is_the_run_in_one_call(model, monkeypatch):
    """One iteration per compiled call (as Ctrl-C responsiveness cuts long runs)
    gives bit for bit the single call's fit, objectives and n_iter."""
    X = _X("faithful")
    whole = _fit(X, "numba", n_components=3, covariance_type=model, max_iter=3000,
                 random_state=0, tol=1e-10)
    assert whole.n_iter_ > 20
    monkeypatch.setattr(gaussian_compiled, "CALL_WORK", 1)
    assert gaussian_compiled.iterations_per_call(*X.shape, 3) == 1
    cut = _fit(X, "numba", n_components=3, covariance_type=model, max_iter=3000,
               random_state=0, tol=1e-10)
    assert cut.n_iter_ == whole.n_iter_ and cut.converged_ == whole.converged_
    np.testing.assert_array_equal(cut.lower_bounds_, whole.lower_bounds_)
    np.testing.assert_array_equal(cut.covariances_, whole.covariances_)
    np.testing.assert_array_equal(cut.means_, whole.means_)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
def test_a_long_compiled_fit_sees_a_signal_promptly():
    """A compiled fit of a million iterations (minutes) is interrupted
    by a signal handler within a second or so (Ctrl-C: KeyboardInterrupt), because
    the loop returns to Python every CALL_WORK of work."""
    rng = np.random.default_rng(0)
    X = np.concatenate([_X("random") + rng.normal(scale=0.1, size=(180, 3))
                        for _ in range(10)])  # 1800 rows: ~20 us per iteration

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.exceptions.ConvergenceWarning)
        _fit(X, "numba", n_components=3, max_iter=2000, random_state=0, tol=0)  # loaded
    previous = signal.signal(signal.SIGALRM, handler)
    start = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(Interrupted):
            _fit(X, "numba", n_components=3, max_iter=1_000_000, random_state=0, tol=0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < 10.0


@pytest.mark.parametrize("D", [1, 2, 3, 4])
def test_small_e_step_equals_the_blocked_kernel(D):
    """The loop's E-step for D <= 4 (D a compile-time constant) against the engine's
    blocked kernel: row log-likelihoods, counts and moments about the means to
    rounding, with zero and fractional row weights, far rows (responsibilities
    that underflow) and rows past one block."""
    from emkit._numba_kernels import gmm_full_chunk
    from emkit.families._numba_small_estep import small_e_step

    rng = np.random.default_rng(D)
    n, K = 301, 4
    X = rng.normal(size=(n, D)) * 3.0 + 100.0
    X[:5] += 60.0  # far from every component
    w = rng.uniform(0.5, 2.0, n)
    w[::7] = 0.0
    means = X[rng.choice(n, K, replace=False)]
    inverse = np.empty((K, D, D))
    half_log_det = np.empty(K)
    for k in range(K):
        A = rng.normal(size=(D, D))
        lower = np.linalg.cholesky(A @ A.T + D * np.eye(D))
        inverse[k] = np.linalg.inv(lower)
        half_log_det[k] = np.log(np.diag(lower)).sum()
    constant = np.log(rng.dirichlet(np.ones(K))) - half_log_det - 0.5 * D * np.log(2 * np.pi)
    expected = [np.empty(n), np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))]
    gmm_full_chunk(X, w, np.zeros(D), means, np.ascontiguousarray(inverse.transpose(0, 2, 1)),
                   constant, means, False, *expected)
    actual = [np.empty(n), np.empty(K), np.empty((K, D)), np.empty((K, D, D))]
    small_e_step(np.ascontiguousarray(X.T), w, constant, means, inverse, np.empty((K, n)),
                 np.empty(n), np.empty(n), *actual)
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    assert np.isfinite(actual[0]).all() and (expected[1] > 0).all()
