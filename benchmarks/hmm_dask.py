"""HMMs on Dask: seconds per Baum-Welch iteration against the in-memory fit, same run.

Run from the repository root, under the heavy-work lock (a minute or two)::

    flock /tmp/emkit-heavy.lock .venv/bin/python benchmarks/hmm_dask.py

A Gaussian HMM (K=5 states, D=3, full covariances) on 100 sequences of 500 to
3,500 rows (about 200,000 rows), blocks of at most ``--block`` rows of whole
sequences, fitted in memory and on a ``distributed.LocalCluster`` of 1 and 2
worker processes (one thread each): with X persisted on the workers in blocks
of whole sequences (``client.persist(rechunk_sequences(X, lengths))``, the
realistic case: the data live on the cluster) and with X a
``da.from_array`` of the client's array (its rows travel from the client and
are rechunked at sequence boundaries on every E-step).  Seconds per iteration
is the difference between 11 and 1 iterations divided by 10 (the pass before
EM and the start excluded), after a warm-up fit (numba compiles on every new
worker process).
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np


def per_iteration(data, lengths, block: int) -> float:
    from emkit.hmm import GaussianHMM

    seconds = []
    for iterations in (1, 11):
        start = time.perf_counter()
        GaussianHMM(5, chunk_size=block, random_state=0, tol=0.0,
                    max_iter=iterations).fit(data, lengths)
        seconds.append(time.perf_counter() - start)
    return (seconds[1] - seconds[0]) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=65_536, help="rows per block")
    args = parser.parse_args()
    import dask.array as da
    from distributed import Client, LocalCluster

    from emkit.exceptions import ConvergenceWarning
    from emkit.hmm import rechunk_sequences

    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.default_rng(0)
    lengths = rng.integers(500, 3500, size=100)
    n = int(lengths.sum())
    z = np.repeat(rng.integers(0, 5, size=n // 50 + 1), 50)[:n]
    X = rng.normal(size=(n, 3)) + 3.0 * np.eye(5, 3)[z]
    B = args.block
    print(f"{n} rows in {lengths.size} sequences, D=3, K=5 full, blocks of <= {B} rows")
    per_iteration(X, lengths, B)  # warm-up (numba)
    memory = per_iteration(X, lengths, B)
    print(f"{'in memory':28s} {memory:.3f} s/it")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        for workers in (1, 2):
            cluster.scale(workers)
            client.wait_for_workers(workers)
            persisted = client.persist(rechunk_sequences(da.from_array(X, chunks=(B, 3)),
                                                         lengths))
            per_iteration(persisted, lengths, B)  # warm-up (numba on the workers)
            for name, make in (("X persisted", lambda p=persisted: p),
                               ("from the client", lambda: da.from_array(X, chunks=(B, 3)))):
                seconds = per_iteration(make(), lengths, B)
                print(f"{f'{workers} worker(s), {name}':28s} {seconds:.3f} s/it "
                      f"({seconds / memory:.1f} x in memory)")


if __name__ == "__main__":
    main()
