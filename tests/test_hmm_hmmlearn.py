"""Parity with hmmlearn from the same start: the log-likelihood of every iteration (to 1e-9
relative), the parameters after the last M-step, the Viterbi path and its log-probability.

hmmlearn (a pure-wheel install, in the ``test`` extra) runs live; its maximum-likelihood
settings are used (``covars_prior=0``, flat Dirichlet priors) and emkit's ``reg_covar=0``.
"""

import numpy as np
import pytest

import emkit
from emkit.hmm import CategoricalHMM, GaussianHMM, PoissonHMM

hmm = pytest.importorskip("hmmlearn.hmm")
from hmmlearn.base import ConvergenceMonitor  # noqa: E402

RTOL = 1e-9
N_ITER = 8
LENGTHS = [120, 75, 205]


def _kernel_modes():
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "numba"]


@pytest.fixture(params=_kernel_modes(), autouse=True)
def kernels(request):
    """Every parity test runs on the NumPy path and on the compiled kernels."""
    with emkit.config_context(kernels=request.param):
        yield request.param


class Recorder(ConvergenceMonitor):
    """hmmlearn's monitor, keeping the log-likelihood of every iteration."""

    def __init__(self, *args):
        super().__init__(*args)
        self.all: list[float] = []

    def report(self, log_prob):
        self.all.append(log_prob)
        super().report(log_prob)


def _chain(rng, K=3):
    startprob = rng.dirichlet(np.ones(K) * 2)
    transmat = rng.dirichlet(np.ones(K), K) * 0.3 + 0.7 * np.eye(K)
    return startprob, transmat


def _run_hmmlearn(model, X, lengths):
    model.monitor_ = Recorder(-np.inf, N_ITER, False)
    model.fit(X, lengths)
    return np.asarray(model.monitor_.all)


def _states(rng, startprob, transmat, lengths):
    out = []
    for T in lengths:
        z = [rng.choice(len(startprob), p=startprob)]
        for _ in range(T - 1):
            z.append(rng.choice(len(startprob), p=transmat[z[-1]]))
        out.append(z)
    return np.concatenate(out)


def _check_history(ours, theirs, n_rows):
    assert ours.lower_bounds_.shape == theirs.shape == (N_ITER,)
    np.testing.assert_allclose(ours.lower_bounds_ * n_rows, theirs, rtol=RTOL, atol=0)


def _check_chain(ours, theirs):
    np.testing.assert_allclose(ours.startprob_, theirs.startprob_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.transmat_, theirs.transmat_, rtol=1e-8, atol=1e-12)


def _check_decoding(ours, theirs, X, lengths):
    log_prob, path = ours.decode(X, lengths)
    their_log_prob, their_path = theirs.decode(X, lengths)
    np.testing.assert_array_equal(path, their_path)
    assert log_prob == pytest.approx(their_log_prob, rel=RTOL)
    np.testing.assert_allclose(ours.predict_proba(X, lengths), theirs.predict_proba(X, lengths),
                               rtol=0, atol=1e-9)
    assert ours.score(X, lengths) == pytest.approx(theirs.score(X, lengths), rel=RTOL)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_gaussian_matches_hmmlearn(covariance_type):
    rng = np.random.default_rng(1)
    startprob, transmat = _chain(rng)
    z = _states(rng, startprob, transmat, LENGTHS)
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.5]])
    X = means[z] + rng.normal(size=(z.size, 2)) @ np.array([[1.0, 0.4], [0.0, 0.8]])
    # a start away from the truth, so that EM has work to do
    start_means = means + rng.normal(scale=0.7, size=means.shape)
    if covariance_type == "diag":
        covars = rng.uniform(0.5, 2.0, size=(3, 2))
    else:
        A = rng.normal(size=(3, 2, 2))
        covars = A @ A.transpose(0, 2, 1) + np.eye(2)
    s0, t0 = _chain(rng)

    theirs = hmm.GaussianHMM(3, covariance_type=covariance_type, covars_prior=0.0,
                             covars_weight=1.0, means_weight=0.0, n_iter=N_ITER,
                             init_params="", params="stmc")
    theirs.startprob_, theirs.transmat_ = s0, t0
    theirs.means_, theirs.covars_ = start_means, covars
    history = _run_hmmlearn(theirs, X, LENGTHS)

    ours = GaussianHMM(3, covariance_type=covariance_type, reg_covar=0.0, startprob_init=s0,
                       transmat_init=t0, means_init=start_means, covariances_init=covars,
                       max_iter=N_ITER, tol=0.0)
    with pytest.warns(Warning, match="did not converge"):
        ours.fit(X, LENGTHS)
    _check_history(ours, history, X.shape[0])
    _check_chain(ours, theirs)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.covariances_, theirs._covars_, rtol=1e-8, atol=1e-10)
    _check_decoding(ours, theirs, X, LENGTHS)


def test_categorical_matches_hmmlearn():
    rng = np.random.default_rng(2)
    startprob, transmat = _chain(rng)
    z = _states(rng, startprob, transmat, LENGTHS)
    emission = rng.dirichlet(np.ones(5) * 0.7, 3)
    X = np.array([rng.choice(5, p=emission[k]) for k in z])[:, None]
    s0, t0 = _chain(rng)
    e0 = rng.dirichlet(np.ones(5) * 3, 3)

    theirs = hmm.CategoricalHMM(3, n_iter=N_ITER, init_params="", params="ste")
    theirs.n_features = 5
    theirs.startprob_, theirs.transmat_, theirs.emissionprob_ = s0, t0, e0
    history = _run_hmmlearn(theirs, X, LENGTHS)

    ours = CategoricalHMM(3, startprob_init=s0, transmat_init=t0, probabilities_init=[e0],
                          max_iter=N_ITER, tol=0.0)
    with pytest.warns(Warning, match="did not converge"):
        ours.fit(X, LENGTHS)
    _check_history(ours, history, X.shape[0])
    _check_chain(ours, theirs)
    np.testing.assert_allclose(ours.emissionprob_, theirs.emissionprob_, rtol=1e-8, atol=1e-12)
    _check_decoding(ours, theirs, X, LENGTHS)


def test_poisson_matches_hmmlearn():
    rng = np.random.default_rng(3)
    startprob, transmat = _chain(rng)
    z = _states(rng, startprob, transmat, LENGTHS)
    rates = np.array([[1.0, 6.0], [4.0, 0.5], [9.0, 3.0]])
    X = rng.poisson(rates[z]).astype(float)
    s0, t0 = _chain(rng)
    r0 = rates * rng.uniform(0.6, 1.5, size=rates.shape)

    theirs = hmm.PoissonHMM(3, lambdas_prior=0.0, lambdas_weight=0.0, n_iter=N_ITER,
                            init_params="", params="stl")
    theirs.startprob_, theirs.transmat_, theirs.lambdas_ = s0, t0, r0
    history = _run_hmmlearn(theirs, X, LENGTHS)

    ours = PoissonHMM(3, startprob_init=s0, transmat_init=t0, rates_init=r0,
                      max_iter=N_ITER, tol=0.0)
    with pytest.warns(Warning, match="did not converge"):
        ours.fit(X, LENGTHS)
    _check_history(ours, history, X.shape[0])
    _check_chain(ours, theirs)
    np.testing.assert_allclose(ours.rates_, theirs.lambdas_, rtol=1e-8, atol=1e-12)
    _check_decoding(ours, theirs, X, LENGTHS)
