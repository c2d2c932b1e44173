"""EM on Dask: equal to the in-memory fit on the same chunks, and a lost worker changes nothing."""

from __future__ import annotations

import logging
import os
import signal
from typing import ClassVar

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster, get_client

from emkit import GaussianMixture, KMeans, SoftKMeans
from emkit.exceptions import ConvergenceWarning
from emkit.families.structures import MCLUST_MODELS
from emkit.sources import DaskSource, from_file

from ._toy_family import PoissonMixture, poisson_counts
from .conftest import make_blobs

pytestmark = pytest.mark.slow  # starts Dask LocalClusters

BLOCK = 128


@pytest.fixture(scope="module")
def data():
    return make_blobs((300, 200, 250), dim=3)


@pytest.fixture(scope="module")
def messy(data):
    """The blobs with 8% missing cells, row weights and a few labelled rows."""
    rng = np.random.default_rng(5)
    X = data.copy()
    X[rng.uniform(size=X.shape) < 0.08] = np.nan
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    labels = np.full(X.shape[0], -1)
    labels[[3, 5, 400, 401, 700]] = [0, 0, 1, 1, 2]
    return X, weights, labels


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as local:
        yield local


def assert_same_fit(fitted, reference, atol=1e-10):
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name),
                                   rtol=0, atol=atol, err_msg=name)
    assert fitted.n_iter_ == reference.n_iter_


MESSY = dict(chunk_size=BLOCK, random_state=0, tol=1e-9, semi_supervised=True,
             accelerate="squarem")


#: Fewer iterations for the fits on worker processes (each E-step is a round trip).
ON_WORKERS = {**MESSY, "tol": 1e-4}


def messy_reference(messy, settings=MESSY):
    X, weights, labels = messy
    return GaussianMixture(3, **settings).fit(X, labels, sample_weight=weights)


# --------------------------------------------------------- local scheduler
def test_dask_array_equals_the_in_memory_fit(data):
    with dask.config.set(scheduler="threads"):
        X = da.from_array(data, chunks=(BLOCK, 3))
        reference = GaussianMixture(3, chunk_size=BLOCK, random_state=0, tol=1e-9).fit(data)
        assert_same_fit(GaussianMixture(3, chunk_size=BLOCK, random_state=0, tol=1e-9).fit(X),
                        reference)
        # blocks split across columns are joined; smaller chunks inside a block
        split = da.from_array(data, chunks=(BLOCK * 2, 2))
        assert_same_fit(GaussianMixture(3, chunk_size=BLOCK, random_state=0, tol=1e-9).fit(
            split), reference)


@pytest.mark.parametrize("variant", [{"assignment": "hard"},
                                     {"assignment": "stochastic", "stochastic_iter": 10},
                                     {"annealing": {"beta0": 0.5, "growth": 1.5}}],
                         ids=["hard", "stochastic", "annealing"])
def test_em_variants_on_dask_equal_the_in_memory_fit(variant, messy):
    """Classification, stochastic and annealed EM on Dask blocks, with missing values,
    weights and labels (stochastic draws are keyed by the row's position)."""
    X, weights, labels = messy
    settings = dict(chunk_size=BLOCK, random_state=0, tol=1e-6, semi_supervised=True,
                    **variant)
    reference = GaussianMixture(3, **settings).fit(X, labels, sample_weight=weights)
    with dask.config.set(scheduler="threads"):
        fitted = GaussianMixture(3, **settings).fit(
            da.from_array(X, chunks=(BLOCK, 3)), labels, sample_weight=weights)
    assert_same_fit(fitted, reference)


def test_dask_missing_values_weights_labels_squarem(messy):
    X, weights, labels = messy
    reference = messy_reference(messy)
    with dask.config.set(scheduler="threads"):
        as_array = GaussianMixture(3, **MESSY).fit(
            da.from_array(X, chunks=(BLOCK, 3)), da.from_array(labels, chunks=BLOCK * 2),
            sample_weight=weights)
        assert_same_fit(as_array, reference)
        frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
            w=weights, y=np.where(labels >= 0, labels, np.nan))
        frame = dd.from_pandas(frame, chunksize=BLOCK)
        as_frame = GaussianMixture(3, **MESSY).fit(frame, "y", sample_weight="w")
    assert list(as_frame.feature_names_in_) == ["a", "b", "c"]
    assert_same_fit(as_frame, reference)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_every_covariance_model_on_dask(model, data):
    X = da.from_array(data, chunks=(BLOCK, 3))
    settings = dict(covariance_type=model, chunk_size=BLOCK, random_state=0, max_iter=25)
    reference = GaussianMixture(3, **settings).fit(data)
    with dask.config.set(scheduler="threads"):
        assert_same_fit(GaussianMixture(3, **settings).fit(X), reference)


def test_kmeans_soft_kmeans_and_any_base_mixture_on_dask(data):
    with dask.config.set(scheduler="threads"):
        X = da.from_array(data, chunks=(BLOCK, 3))
        km = KMeans(3, random_state=0, chunk_size=BLOCK).fit(X)
        ref = KMeans(3, random_state=0, chunk_size=BLOCK).fit(data)
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, atol=1e-10)
        assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
        soft = SoftKMeans(3, beta=0.3, random_state=0, chunk_size=BLOCK).fit(X)
        ref = SoftKMeans(3, beta=0.3, random_state=0, chunk_size=BLOCK).fit(data)
        np.testing.assert_allclose(soft.cluster_centers_, ref.cluster_centers_, atol=1e-10)
        counts = poisson_counts()
        fitted = PoissonMixture(2, random_state=0, chunk_size=BLOCK).fit(
            da.from_array(counts, chunks=(BLOCK, 3)))
        ref = PoissonMixture(2, random_state=0, chunk_size=BLOCK).fit(counts)
        np.testing.assert_allclose(fitted.rates_, ref.rates_, atol=1e-10)


def test_dask_bad_input(data):
    X = da.from_array(data, chunks=(BLOCK, 3))
    unknown = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match=r"^dask array has unknown chunk sizes \(rows per "
                                         r"block\); call X\.compute_chunk_sizes\(\) first"):
        GaussianMixture(2).fit(unknown)
    frame = dd.from_pandas(pd.DataFrame({"a": data[:, 0], "s": ["x"] * data.shape[0]}),
                           npartitions=3)
    with pytest.raises(ValueError, match=r"^dask dataframe, column 's': not numeric"):
        GaussianMixture(2).fit(frame)
    with pytest.raises(ValueError, match="sample_weight has 3 entries but dask array has 750"):
        GaussianMixture(2).fit(X, sample_weight=np.ones(3))
    bad = data.copy()
    bad[300, 1] = np.inf
    with dask.config.set(scheduler="threads"), pytest.raises(
            ValueError, match=r"^dask array, row 300, column 1: inf"):
        GaussianMixture(2).fit(da.from_array(bad, chunks=(BLOCK, 3)))
    with pytest.raises(ValueError, match=r"has shape \(750,\); a 2-D array"):
        DaskSource(X[:, 0])


# ------------------------------------------------------ distributed workers
def test_distributed_workers_give_the_same_fit(cluster, messy, tmp_path):
    X, weights, labels = messy
    reference = messy_reference(messy, ON_WORKERS)
    with Client(cluster):
        fitted = GaussianMixture(3, **ON_WORKERS).fit(da.from_array(X, chunks=(BLOCK, 3)),
                                                      labels, sample_weight=weights)
    assert_same_fit(fitted, reference)
    # a file read by the workers, EM on the cluster given by its address
    path = tmp_path / "x.parquet"
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(w=weights).to_parquet(
        path, row_group_size=BLOCK)
    source = from_file(path, columns=["a", "b", "c"], scheduler=cluster.scheduler_address)
    try:
        on_cluster = GaussianMixture(3, random_state=0, tol=1e-4).fit(source, sample_weight="w")
    finally:
        source.close()
    local = GaussianMixture(3, random_state=0, tol=1e-4).fit(from_file(path), sample_weight="w")
    assert_same_fit(on_cluster, local)


class _LosesAWorker(DaskSource):
    """Kills one worker process while the blocks of the 4th E-step are being computed."""

    calls = 0
    killed: ClassVar[list] = []

    def _compute(self, *collections):
        type(self).calls += 1
        if type(self).calls != 4:
            return super()._compute(*collections)
        client = get_client()
        futures = client.compute(list(collections))
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        type(self).killed.append(victim)
        return tuple(client.gather(futures))


def test_a_worker_lost_in_the_middle_of_a_fit(cluster, messy):
    X, weights, labels = messy
    settings = {**ON_WORKERS, "accelerate": None, "tol": 0.0, "max_iter": 8}
    with pytest.warns(ConvergenceWarning):
        reference = messy_reference(messy, settings)
    with Client(cluster), pytest.warns(ConvergenceWarning):
        source = _LosesAWorker(da.from_array(X, chunks=(BLOCK // 2, 3)))
        fitted = GaussianMixture(3, **settings).fit(source, labels, sample_weight=weights)
    assert _LosesAWorker.killed, "no worker was killed"
    assert _LosesAWorker.calls > 4  # the fit went on after the loss
    assert_same_fit(fitted, reference)


# ------------------------------------------------------------- sparse EM
def sparse_case():
    """8 blobs (sparse posteriors) with row weights and a few labelled rows."""
    from .test_variants_sparse import make_data

    X = make_data(n_per=80)
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    labels = np.full(X.shape[0], -1)
    labels[[0, 1, 81, 162, 500]] = [0, 0, 1, 2, 6]
    return X, weights, labels


SPARSE = dict(covariance_type="full", chunk_size=BLOCK // 2, random_state=0, tol=1e-8,
              semi_supervised=True, sparse={"n_active": 2, "full_every": 4})


def assert_same_sparse_fit(fitted, reference, atol=1e-10):
    assert_same_fit(fitted, reference, atol)
    got, expected = fitted.phases_[0], reference.phases_[0]
    assert got["name"] == "sparse" and got["n_iter"] == expected["n_iter"] > 8
    assert got["n_full"] == expected["n_full"] > 2
    np.testing.assert_allclose(got["objective_history"], expected["objective_history"],
                               rtol=0, atol=atol)
    history = got["objective_history"]  # the free energy never decreases
    assert (np.diff(history) >= -1e-12 * np.abs(history[:-1])).all()


def test_sparse_em_on_dask_equals_the_in_memory_fit():
    """The active lists of every block live where the block is computed (here: Dask's
    local threads); the fit equals the in-memory sparse fit on the same chunks."""
    X, weights, labels = sparse_case()
    reference = GaussianMixture(8, **SPARSE).fit(X, labels, sample_weight=weights)
    with dask.config.set(scheduler="threads"):
        fitted = GaussianMixture(8, **SPARSE).fit(
            da.from_array(X, chunks=(BLOCK, 3)), labels, sample_weight=weights)
    assert_same_sparse_fit(fitted, reference)


def test_sparse_em_keeps_the_active_lists_on_the_workers(cluster, monkeypatch):
    """On a distributed cluster the per-block active lists are futures held in the
    workers' memory, fed to the next E-steps there; the client gathers only the
    reduced statistics."""
    from distributed import futures_of

    from emkit.em.sparse_dask import DaskSparseSource

    X, weights, labels = sparse_case()
    settings = {**SPARSE, "tol": 1e-4}  # fewer iterations: each is a round trip
    reference = GaussianMixture(8, **settings).fit(X, labels, sample_weight=weights)
    seen = {"held": [], "gathered": set()}
    original_map_reduce = DaskSparseSource.map_reduce

    def watched_map_reduce(self, function, *args, **kwargs):
        result = original_map_reduce(self, function, *args, **kwargs)
        if self.held is not None:
            client = get_client()
            futures = [f for held in self.held for f in futures_of(held)]
            where = client.who_has(futures)
            seen["held"].append((len(self.held), len(futures),
                                 all(f.status == "finished" for f in futures),
                                 all(where.get(f.key) for f in futures),
                                 {f.key for f in futures}))
        return result

    monkeypatch.setattr(DaskSparseSource, "map_reduce", watched_map_reduce)
    with Client(cluster) as client:
        original_gather = client.gather

        def gather(futures, *args, **kwargs):
            seen["gathered"].update(f.key for f in futures_of(futures))
            return original_gather(futures, *args, **kwargs)

        client.gather = gather
        fitted = GaussianMixture(8, **settings).fit(
            da.from_array(X, chunks=(BLOCK, 3)), labels, sample_weight=weights)
    assert_same_sparse_fit(fitted, reference)
    n_blocks = -(-X.shape[0] // BLOCK)
    assert seen["held"] and all(n == count == n_blocks and done and located
                                for n, count, done, located, _ in seen["held"])
    held_keys = set().union(*(keys for *_, keys in seen["held"]))
    assert seen["gathered"] and not held_keys & seen["gathered"]


class _SparseLosesAWorker(_LosesAWorker):
    """Kills a worker in the 3rd E-step of the sparse phase (a partial one, reading the
    active lists held on the workers)."""

    calls = 0
    killed: ClassVar[list] = []


def test_a_worker_lost_in_the_sparse_phase(cluster):
    """The lost worker's active lists are recomputed from their full E-step's graph."""
    X, weights, labels = sparse_case()
    settings = {**SPARSE, "tol": 0.0, "max_iter": 6}
    with pytest.warns(ConvergenceWarning):
        reference = GaussianMixture(8, **settings).fit(X, labels, sample_weight=weights)
    with Client(cluster), pytest.warns(ConvergenceWarning):
        source = _SparseLosesAWorker(da.from_array(X, chunks=(BLOCK, 3)))
        fitted = GaussianMixture(8, **settings).fit(source, labels, sample_weight=weights)
    assert _SparseLosesAWorker.killed, "no worker was killed"
    assert _SparseLosesAWorker.calls > 4
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name),
                                   rtol=0, atol=1e-10, err_msg=name)
