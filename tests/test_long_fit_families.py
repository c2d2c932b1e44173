"""Long-fit and online parameters on the discrete, mixed and Student-t mixtures.

Callbacks see every iteration, a checkpointed fit resumes exactly, and the
online schedules of PoissonMixture and CategoricalMixture reach the batch fit
(the engine is tested in tests/test_progress.py and tests/test_online.py; here
each estimator is checked to pass the parameters through).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emkit import CategoricalMixture, MixedMixture, PoissonMixture, StudentTMixture
from emkit.em.checkpoint import read_checkpoint
from emkit.exceptions import ConvergenceWarning

from .test_families_common import (
    MIXED_FAMILIES,
    categorical_data,
    count_data,
    heavy_tailed_data,
    mixed_data,
)

ESTIMATORS = {
    "poisson": (lambda **kw: PoissonMixture(3, random_state=0, **kw), count_data,
                ("weights_", "rates_")),
    "categorical": (lambda **kw: CategoricalMixture(3, random_state=0, **kw),
                    categorical_data, ("weights_",)),
    "mixed": (lambda **kw: MixedMixture(3, families=MIXED_FAMILIES, random_state=0, **kw),
              mixed_data, ("weights_",)),
    "student_t": (lambda **kw: StudentTMixture(3, random_state=0, **kw), heavy_tailed_data,
                  ("weights_", "means_", "covariances_", "degrees_of_freedom_")),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_callback_sees_every_iteration_and_can_stop(name):
    make, data, _ = ESTIMATORS[name]
    X = data(np.random.default_rng(0))
    plain = {"accelerate": None} if name == "student_t" else {}  # its default is SQUAREM
    infos = []
    est = make(tol=1e-10, max_iter=500, callback=infos.append, **plain).fit(X)
    assert [i.iteration for i in infos] == list(range(1, est.n_iter_ + 1))
    np.testing.assert_array_equal([i.objective for i in infos], est.lower_bounds_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        stopped = make(tol=1e-10, max_iter=500, callback=lambda info: info.iteration >= 3,
                       **plain).fit(X)
    assert stopped.n_iter_ == 3 and not stopped.converged_
    if name == "student_t":  # SQUAREM reports its accepted values
        infos = []
        est = make(tol=1e-10, max_iter=500, callback=infos.append).fit(X)
        assert infos and np.all(np.diff([i.objective for i in infos]) >= -1e-12)


RESUMABLE = [("poisson", {}), ("poisson", {"schedule": "incremental", "batch_size": 60}),
             ("categorical", {}), ("categorical", {"schedule": "stepwise", "batch_size": 60,
                                                   "tol": 0.0, "max_iter": 8}),
             ("mixed", {}), ("student_t", {}),
             ("student_t", {"schedule": "incremental", "batch_size": 80, "accelerate": None})]


@pytest.mark.parametrize(("name", "kwargs"), RESUMABLE,
                         ids=[f"{n}-{k.get('schedule', 'batch')}" for n, k in RESUMABLE])
def test_resume_from_a_checkpoint_equals_the_uninterrupted_fit(name, kwargs, tmp_path):
    make, data, attributes = ESTIMATORS[name]
    X = data(np.random.default_rng(1))
    kwargs = {"tol": 1e-10, "max_iter": 500, **kwargs}
    path = tmp_path / "fit.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = make(**kwargs).fit(X)
        make(**kwargs, checkpoint=path, checkpoint_interval=2,
             callback=lambda info: info.iteration >= 4).fit(X)
        assert read_checkpoint(path)[1].iteration == 4
        resumed = make(**kwargs, checkpoint=path, warm_start=True).fit(X)
    assert full.n_iter_ > 4
    assert resumed.n_iter_ == full.n_iter_
    for attr in (*attributes, "lower_bounds_"):
        np.testing.assert_allclose(getattr(resumed, attr), getattr(full, attr),
                                   rtol=1e-10, atol=1e-12, err_msg=attr)


def separated_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    rates = np.array([[1.0, 8.0, 3.0, 12.0], [7.0, 1.5, 3.0, 0.5], [3.0, 3.0, 14.0, 4.0]])
    return rng.poisson(rates[rng.integers(3, size=n)]).astype(float)


def separated_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    levels = (3, 2, 4, 3, 2, 3, 4, 3)
    z = rng.integers(3, size=n)
    X = np.empty((n, len(levels)), dtype=np.int64)
    for j, L in enumerate(levels):
        p = np.full((3, L), 0.15 / (L - 1))
        p[np.arange(3), (np.arange(3) + j) % L] = 0.85
        X[:, j] = (np.cumsum(p, axis=1)[z] < rng.random(n)[:, None]).sum(axis=1)
    return X


ONLINE = {"poisson": (PoissonMixture, separated_counts),
          "categorical": (CategoricalMixture, separated_codes)}


def online_tolerance(n_parameters: int, batch_size: int, eta: float) -> float:
    """Mean log-likelihood per row an online fit may lose against the batch fit.

    The running statistics are an exponentially weighted average of the
    batches' with weight ``eta`` on the newest: an effective sample of
    ``m = batch_size (2 - eta) / eta`` rows.  A maximum-likelihood fit from m
    rows falls short of the full-data optimum by about ``p / (2 m)`` per row in
    expectation (the asymptotic chi-square excess, p free parameters); the
    tolerance is twice that.  Measured: the online fits lose 4 to 100 times
    less than it; a fit that stopped learning after its first (300-row) batch
    loses 5 to 10 times more.
    """
    m = batch_size * (2.0 - eta) / eta
    return 2.0 * n_parameters / (2.0 * m)


@pytest.mark.parametrize("name", list(ONLINE))
def test_stepwise_fit_and_partial_fit_reach_the_batch_fit(name):
    cls, data = ONLINE[name]
    X = data(np.random.default_rng(2), 6000)
    batch = cls(3, random_state=0, tol=1e-10, max_iter=1000).fit(X)
    best = batch.score(X)
    p = batch.n_parameters()

    with warnings.catch_warnings():
        # the pass objective of a stochastic approximation fluctuates: no tol is met
        warnings.simplefilter("ignore", ConvergenceWarning)
        stepwise = cls(3, random_state=0, schedule="stepwise", batch_size=500,
                       learning_decay=0.7, tol=0.0, max_iter=10).fit(X)
    assert stepwise.n_steps_ == 10 * 12
    eta = (stepwise.n_steps_ + 1.0) ** -0.7  # the last update's weight
    assert 0.0 <= best - stepwise.score(X) < online_tolerance(p, 500, eta)

    online = cls(3, random_state=0, learning_decay=0.7)
    for start in range(0, X.shape[0], 300):
        online.partial_fit(X[start:start + 300])
        if start == 0:
            first = online.score(X)
    assert online.n_steps_ == 20
    eta = (online.n_steps_ + 1.0) ** -0.7
    tolerance = online_tolerance(p, 300, eta)
    assert 0.0 <= best - online.score(X) < tolerance
    assert best - first > 3 * tolerance  # the later batches taught it something
