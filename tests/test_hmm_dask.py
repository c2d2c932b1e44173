"""HMMs on Dask: blocks of whole sequences give the in-memory fit, on 1 or 2 workers alike."""

from __future__ import annotations

import logging
import pickle
import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from sklearn.base import clone

import emkit
from emkit.exceptions import ConvergenceWarning
from emkit.hmm import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
)
from emkit.hmm import dask as hmm_dask
from emkit.hmm.dask import rechunk_sequences
from emkit.sources import DaskSource, SlicedArraySource

pytestmark = pytest.mark.slow  # starts Dask LocalClusters

BLOCK = 128
#: Very different lengths; sequence 0 is longer than a block, 3 has one row.
LENGTHS = np.array([700, 3, 40, 1, 150, 90, 12, 260, 5, 64])
START = np.array([0.5, 0.3, 0.2])
TRANSMAT = np.array([[0.90, 0.07, 0.03], [0.05, 0.90, 0.05], [0.10, 0.10, 0.80]])
MEANS = np.array([[0.0, 0.0], [3.0, 1.0], [-1.0, 3.0]])
LEVELS = [np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]),
          np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.1, 0.7]])]


def states(rng, lengths=LENGTHS):
    out = []
    for T in lengths:
        z = np.empty(T, dtype=int)
        z[0] = rng.choice(3, p=START)
        for t in range(1, T):
            z[t] = rng.choice(3, p=TRANSMAT[z[t - 1]])
        out.append(z)
    return np.concatenate(out)


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    z = states(rng)
    return MEANS[z] + rng.normal(scale=0.8, size=(z.size, 2)), z


@pytest.fixture(scope="module")
def symbols():
    rng = np.random.default_rng(1)
    z = states(rng)
    columns = [np.array([rng.choice(p.shape[1], p=p[k]) for k in z]) for p in LEVELS]
    return np.column_stack(columns)


def assert_same(fitted, reference, names, rtol=1e-10):
    for name in ("startprob_", "transmat_", *names):
        a, b = getattr(fitted, name), getattr(reference, name)
        for x, y in zip(a, b, strict=True) if isinstance(a, list) else [(a, b)]:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-13, err_msg=name)
    assert fitted.lower_bound_ == pytest.approx(reference.lower_bound_, rel=rtol)
    assert fitted.n_iter_ == reference.n_iter_


GAUSS = dict(n_components=3, chunk_size=BLOCK, random_state=0, tol=1e-8)
CATEGORICAL = dict(n_components=3, chunk_size=BLOCK, random_state=0, tol=1e-6)


# ------------------------------------------------------------ blocks
def test_blocks_hold_whole_sequences(gaussian):
    X = da.from_array(gaussian[0], chunks=(BLOCK, 2))
    aligned = rechunk_sequences(X, LENGTHS)
    # packed up to BLOCK rows; the 700-row and 260-row sequences are blocks of their own
    assert aligned.chunks[0] == (700, 44, 150, 102, 260, 69)
    ends = set(np.cumsum(LENGTHS))
    assert set(np.cumsum(aligned.chunks[0])) <= ends
    # blocks that already end at sequence boundaries are kept
    assert rechunk_sequences(aligned, LENGTHS) is aligned
    np.testing.assert_array_equal(aligned.compute(), gaussian[0])
    with pytest.raises(ValueError, match=r"^block_rows must be an integer >= 1"):
        rechunk_sequences(X, LENGTHS, 0)


def test_sample_of_whole_sequences():
    rng = np.random.RandomState(0)
    lengths = np.array([50, 7, 300, 20, 90])
    everything = hmm_dask._sample_windows(lengths, 467, rng)
    assert everything == [(s, 0, int(T)) for s, T in enumerate(lengths)]
    windows = hmm_dask._sample_windows(lengths, 100, rng)
    assert sum(T for _, _, T in windows) == 100
    for s, lo, T in windows:
        assert 0 <= lo and lo + T <= lengths[s]
    assert sum(T < lengths[s] for s, _, T in windows) <= 1  # one window, the rest whole
    assert [s for s, _, _ in windows] == sorted({s for s, _, _ in windows})


# ------------------------------------------------------------ local scheduler
def test_gaussian_categorical_poisson_on_dask_equal_the_in_memory_fit(gaussian, symbols):
    X = gaussian[0]
    counts = np.random.default_rng(4).poisson(np.repeat([1.0, 6.0], [700, 625]))[:, None]
    poisson = dict(n_components=2, chunk_size=BLOCK, random_state=0)
    ref = GaussianHMM(**GAUSS).fit(X, LENGTHS)
    ref_cat = CategoricalHMM(**CATEGORICAL).fit(symbols, LENGTHS)
    ref_poisson = PoissonHMM(**poisson).fit(counts, LENGTHS)
    with dask.config.set(scheduler="threads"):
        fitted = GaussianHMM(**GAUSS).fit(da.from_array(X, chunks=(BLOCK, 2)), LENGTHS)
        cat = CategoricalHMM(**CATEGORICAL).fit(da.from_array(symbols, chunks=(100, 1)),
                                                LENGTHS)
        # aligned blocks prepared once give the same fit
        again = GaussianHMM(**GAUSS).fit(
            rechunk_sequences(da.from_array(X, chunks=(BLOCK, 2)), LENGTHS), LENGTHS)
        from_source = GaussianHMM(**GAUSS).fit(DaskSource(da.from_array(X, chunks=(BLOCK, 2))),
                                               LENGTHS)
        score = fitted.score(da.from_array(X, chunks=(77, 2)), LENGTHS)
        viterbi = fitted.decode(da.from_array(X, chunks=(77, 2)), LENGTHS)
        proba = fitted.predict_proba(da.from_array(X, chunks=(300, 2)), LENGTHS)
        rates = PoissonHMM(**poisson).fit(da.from_array(counts, chunks=(BLOCK, 1)), LENGTHS)
    assert ref.n_iter_ > 5
    assert_same(fitted, ref, ["means_", "covariances_"])
    assert_same(again, ref, ["means_", "covariances_"])
    assert_same(from_source, ref, ["means_", "covariances_"])
    assert_same(cat, ref_cat, ["probabilities_"])
    assert_same(rates, ref_poisson, ["rates_"])
    assert [list(c) for c in cat.categories_] == [list(c) for c in ref_cat.categories_]
    assert score == pytest.approx(ref.score(X, LENGTHS), rel=1e-12)
    log_prob, path = ref.decode(X, LENGTHS)
    assert viterbi[0] == pytest.approx(log_prob, rel=1e-12)
    np.testing.assert_array_equal(viterbi[1], path)
    np.testing.assert_allclose(proba, ref.predict_proba(X, LENGTHS), rtol=0, atol=1e-12)


@pytest.mark.parametrize("estimator", [
    GaussianHMM(3, covariance_type="tied"), GMMHMM(3, n_mix=2, covariance_type="diag"),
    StudentTHMM(3), BernoulliHMM(3), HMM(3, emission="poisson")],
    ids=lambda e: type(e).__name__)
def test_other_emissions_on_dask(estimator, gaussian):
    X = gaussian[0]
    if isinstance(estimator, BernoulliHMM):
        X = (X > 0.5).astype(float)
    elif isinstance(estimator, HMM):
        X = np.abs(np.round(X))
    estimator.set_params(chunk_size=BLOCK, random_state=0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = clone(estimator).fit(X, LENGTHS)
        with dask.config.set(scheduler="threads"):
            fitted = clone(estimator).fit(da.from_array(X, chunks=(BLOCK, 2)), LENGTHS)
    assert_same(fitted, ref, [])
    # what travels to worker processes: the family and parameters pickle (no locks)
    family = fitted._emission().family(fitted, 2)
    params = fitted._params(family)
    family.log_prob(params.emission, X)  # fills any per-parameter cache first
    loaded, loaded_params = pickle.loads(pickle.dumps((family, params)))
    np.testing.assert_array_equal(loaded.log_prob(loaded_params.emission, X),
                                  family.log_prob(params.emission, X))


def test_missing_rows_weights_known_states_squarem_and_frames(gaussian):
    X, z = gaussian
    rng = np.random.default_rng(3)
    X = X.copy()
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    X[[10, 11, 800]] = np.nan  # fully missing rows: the state still propagates
    weights = rng.uniform(0.3, 2.0, size=LENGTHS.shape[0])
    labels = np.full(X.shape[0], -1)
    labels[:30:3] = z[:30:3]
    settings = dict(GAUSS, semi_supervised=True, accelerate="squarem",
                    covariance_type="diag")
    ref = GaussianHMM(**settings).fit(X, LENGTHS, labels, sample_weight=weights)
    with dask.config.set(scheduler="threads"):
        as_array = GaussianHMM(**settings).fit(
            da.from_array(X, chunks=(BLOCK, 2)), LENGTHS, da.from_array(labels, chunks=200),
            sample_weight=weights)
        frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), chunksize=BLOCK)
        as_frame = GaussianHMM(**settings).fit(frame, LENGTHS, labels, sample_weight=weights)
        score = as_frame.score(frame, LENGTHS)
    assert_same(as_array, ref, ["means_", "covariances_"])
    assert_same(as_frame, ref, ["means_", "covariances_"])
    assert list(as_frame.feature_names_in_) == ["a", "b"]
    assert score == pytest.approx(ref.score(X, LENGTHS), rel=1e-12)


def test_start_from_a_sample_of_sequences(gaussian, monkeypatch):
    """Data larger than the initialisation sample: the start comes from a sample of whole
    sequences, and EM reaches the in-memory optimum."""
    X = gaussian[0]
    ref = GaussianHMM(**dict(GAUSS, tol=1e-10)).fit(X, LENGTHS)
    monkeypatch.setattr(hmm_dask, "sample_rows", lambda n_features: 400)
    with dask.config.set(scheduler="threads"):
        fitted = GaussianHMM(**dict(GAUSS, tol=1e-10)).fit(
            da.from_array(X, chunks=(BLOCK, 2)), LENGTHS)
    order = np.argsort(fitted.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[order], ref.means_[np.argsort(ref.means_[:, 0])],
                               atol=1e-5)
    assert fitted.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-8)


def test_bad_input_on_dask(gaussian, symbols):
    X = da.from_array(gaussian[0], chunks=(BLOCK, 2))
    model = GaussianHMM(2, max_iter=2)
    with pytest.raises(ValueError, match=r"^lengths sum to 1324 but X has 1325 rows"):
        model.fit(X, LENGTHS - np.eye(LENGTHS.size, dtype=int)[0])
    bad = LENGTHS.copy()
    bad[2] = -3
    with pytest.raises(ValueError, match=r"^sequence 2 has length -3 \(lengths\[2\]\)"):
        model.fit(X, bad)
    values = gaussian[0].copy()
    values[745, 1] = np.inf
    with dask.config.set(scheduler="threads"), pytest.raises(
            ValueError, match=r"^dask array, row 745, column 1: inf .* \(row 745 of X is row 1 "
                              r"of sequence 4\)$"):
        model.fit(da.from_array(values, chunks=(BLOCK, 2)), LENGTHS)
    values[:, 1] = np.nan
    fresh = GaussianHMM(2)
    with dask.config.set(scheduler="threads"), pytest.raises(
            ValueError, match=r"^dask array: column 1 has no observed value"):
        fresh.fit(da.from_array(values, chunks=(BLOCK, 2)), LENGTHS)
    assert not hasattr(fresh, "n_features_in_")  # recorded only once the rows pass
    y = np.full(values.shape[0], -1)
    y[900] = 5
    with dask.config.set(scheduler="threads"), pytest.raises(
            ValueError, match=r"^dask array, row 900, column 'y': label 5 is not a component "
                              r"index 0\.\.1 .* of sequence 5\)$"):
        GaussianHMM(2, semi_supervised=True).fit(X, LENGTHS, da.from_array(y, chunks=100))
    with pytest.raises(ValueError, match=r"^dask array has unknown chunk sizes"):
        model.fit(X[X[:, 0] > -100], LENGTHS)
    with pytest.raises(TypeError, match=r"^HMMs read X in memory or on Dask, not from a "
                                        r"SlicedArraySource"):
        model.fit(SlicedArraySource(gaussian[0]), LENGTHS)
    with pytest.warns(ConvergenceWarning):
        fitted = CategoricalHMM(2, max_iter=3, random_state=0).fit(symbols, LENGTHS)
    unseen = symbols.copy()
    unseen[1000, 0] = 7
    with dask.config.set(scheduler="threads"), pytest.raises(
            ValueError, match=r"column 0 has level 7\.0 at row 1000.* of sequence 7\)$"):
        fitted.score(da.from_array(unseen, chunks=(BLOCK, 2)), LENGTHS)


# ------------------------------------------------------------ distributed workers
def test_one_and_two_workers_give_the_in_memory_fit(gaussian, symbols):
    X = gaussian[0]
    with emkit.config_context(kernels="numpy"):
        ref = GaussianHMM(**GAUSS).fit(X, LENGTHS)
        ref_cat = CategoricalHMM(**CATEGORICAL).fit(symbols, LENGTHS)
        ref_score = ref.score(X, LENGTHS)
        ref_cat_score = ref_cat.score(symbols, LENGTHS)
    zeros_but_one = np.zeros((LENGTHS.sum(), 1))
    zeros_but_one[750] = 3.0
    results = []
    # the NumPy kernels: compiling the numba ones in every new worker process takes
    # seconds (the local-scheduler tests above run them)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client, emkit.config_context(kernels="numpy"):
        for n_workers in (1, 2):
            cluster.scale(n_workers)
            client.wait_for_workers(n_workers)
            assert len(client.scheduler_info()["workers"]) == n_workers
            fitted = GaussianHMM(**GAUSS).fit(da.from_array(X, chunks=(BLOCK, 2)), LENGTHS)
            score = fitted.score(da.from_array(X, chunks=(BLOCK, 2)), LENGTHS)
            cat = CategoricalHMM(**CATEGORICAL).fit(da.from_array(symbols, chunks=(BLOCK, 2)),
                                                    LENGTHS)
            cat_score = cat.score(da.from_array(symbols, chunks=(BLOCK, 2)), LENGTHS)
            assert_same(fitted, ref, ["means_", "covariances_"])
            assert_same(cat, ref_cat, ["probabilities_"])
            assert score == pytest.approx(ref_score, rel=1e-12)
            assert cat_score == pytest.approx(ref_cat_score, rel=1e-12)
            # the E-step of a worker process finds the impossible sequence; the error names it
            with pytest.raises(ValueError, match=r"^sequence 4 \(rows 744 to 893 of X\) has "
                                                 r"probability 0 under the current parameters"):
                PoissonHMM(2, rates_init=[[0.0], [0.0]], max_iter=5).fit(
                    da.from_array(zeros_but_one, chunks=(BLOCK, 1)), LENGTHS)
            results.append((fitted.means_, fitted.transmat_, fitted.lower_bounds_,
                            cat.transmat_, score))
    for one, two in zip(*results, strict=True):  # the tree depends on the blocks only
        np.testing.assert_array_equal(one, two)
