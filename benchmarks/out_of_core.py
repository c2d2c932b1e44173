"""Out-of-core and Dask EM: memory and time per iteration against the in-memory fit.

Run from the repository root, under the heavy-work lock (it reads 1.6 GB per
EM iteration and takes 10-20 minutes on a 2-core machine)::

    flock /tmp/emkit-heavy.lock .venv/bin/python benchmarks/out_of_core.py
    .venv/bin/python benchmarks/out_of_core.py --quick        # 200,000 rows, a minute

Cases
-----
``parquet-2e7``
    GaussianMixture(n_components=20, covariance_type="full") on a Parquet file of
    2e7 rows x 10 float64 columns (1.6 GB of values; generated once into
    ``benchmarks/data/``, which git ignores).  The fit from
    ``emkit.sources.from_file(path)`` runs in a fresh process whose **peak
    resident set** (``VmHWM``, imports included) is reported; target < 400 MB.
    The same rows loaded into memory are fitted in another fresh process.
    Both start from the same parameters and run ``--iterations`` EM
    iterations; seconds per iteration is the median wall time of the E-steps
    (one pass over the data each) after the first (which also loads the
    compiled kernels); target: Parquet <= 1.5 x memory.  Each pair runs with
    the compiled kernels (``EMKIT_KERNELS=auto``: numba, which alone adds
    ~100 MB of resident memory for LLVM) and with the NumPy path.
``dask-{1,2}w``
    The same fit on a ``distributed.LocalCluster`` of 1 and 2 worker processes
    (one thread each) reading the Parquet file themselves
    (``from_file(path, scheduler=address)``, 64 MB partitions), seconds per
    iteration as above,
    and the bytes that travel per iteration: the pickled parameters + model
    (to each worker, once) and the pickled statistics of one block (per block,
    up the reduction tree).

Each measurement runs in its own subprocess (``--measure MODE``) so that peak
memory is that of the measured fit alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
D, K = 10, 20
ROW_GROUP = 131_072
#: Rows generated (and written) at a time.
PIECE = 1_048_576


def mixture_parameters(seed: int = 0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(K, 5.0))
    means = rng.normal(size=(K, D)) * 4.5
    factors = []
    for _ in range(K):
        q, _ = np.linalg.qr(rng.normal(size=(D, D)))
        factors.append(q * rng.uniform(0.5, 1.5, size=D))
    return weights, means, np.array(factors)


def write_data(path: str, rows: int, seed: int = 0) -> None:
    """A seeded K=20, D=10 Gaussian mixture sample written piece by piece (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    weights, means, factors = mixture_parameters(seed)
    names = [f"x{j}" for j in range(D)]
    schema = pa.schema([(name, pa.float64()) for name in names])
    temporary = path + ".partial"
    with pq.ParquetWriter(temporary, schema) as writer:
        for piece, start in enumerate(range(0, rows, PIECE)):
            n = min(PIECE, rows - start)
            rng = np.random.default_rng([seed, piece])
            labels = rng.choice(K, size=n, p=weights)
            noise = rng.normal(size=(n, D))
            X = means[labels] + np.einsum("nd,nkd->nk", noise, factors[labels])
            table = pa.table({name: X[:, j] for j, name in enumerate(names)}, schema=schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    os.replace(temporary, path)


def starting_values(path: str) -> dict:
    """Start for every fit: one EM iteration from k-means++ on the first 20,000 rows."""
    import pyarrow.parquet as pq
    from sklearn.exceptions import ConvergenceWarning

    import emkit

    with pq.ParquetFile(path) as reader:
        batch = next(reader.iter_batches(batch_size=20_000))
    X = np.column_stack([column.to_numpy() for column in batch.columns])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = emkit.GaussianMixture(K, max_iter=1, init_params="k-means++",
                                      random_state=0).fit(X)
    return {"weights_init": first.weights_.tolist(), "means_init": first.means_.tolist(),
            "precisions_init": first.precisions_.tolist()}


# ---------------------------------------------------------------- measurements
def _fit_times(make_input, start: dict, iterations: int) -> dict:
    """One fit of ``iterations`` EM iterations; the wall time of every E-step (a pass).

    Seconds per iteration = the median E-step time after the first (which also
    loads the compiled kernels; on Dask, emkit on the workers); the M-step of a
    K=20, D=10 model takes microseconds.
    """
    from sklearn.exceptions import ConvergenceWarning

    import emkit
    from emkit.em import engine

    settings = {key: np.asarray(value) for key, value in start.items()}
    steps: list[float] = []
    expectation = engine.expectation

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return expectation(*args, **kwargs)
        finally:
            steps.append(time.perf_counter() - t0)

    engine.expectation = timed
    X = make_input()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = emkit.GaussianMixture(K, tol=0.0, max_iter=iterations,
                                           **settings).fit(X)
    finally:
        engine.expectation = expectation
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    close = getattr(X, "close", None)
    if close is not None:
        close()
    return {"seconds": total, "cpu_seconds": cpu, "e_steps": steps,
            "per_iteration": float(np.median(steps[1:])), "lower_bound": fitted.lower_bound_,
            "iterations": iterations}


def _peak_rss_mb() -> float:
    """Peak resident set of this process (``VmHWM``).

    Not ``getrusage``'s ``ru_maxrss``: on Linux a child started by fork + exec
    reports at least its parent's peak there (the driver's, which generated the
    data), while ``VmHWM`` belongs to the process's own address space.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(mode: str, path: str, start: dict, iterations: int, workers: int) -> dict:
    from emkit.sources import from_file

    if mode == "parquet":
        result = _fit_times(lambda: from_file(path), start, iterations)
    elif mode == "memory":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        X = np.empty((table.num_rows, D))
        for j, column in enumerate(table.columns):
            X[:, j] = column.to_numpy()
        del table
        result = _fit_times(lambda: X, start, iterations)
    elif mode == "dask":
        import logging

        from distributed import LocalCluster

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster:
            result = _fit_times(
                lambda: from_file(path, scheduler=cluster.scheduler_address), start,
                iterations)
            result.update(_traffic(path, start, cluster.scheduler_address))
    else:
        raise ValueError(mode)
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _traffic(path: str, start: dict, address: str) -> dict:
    """Bytes per iteration: the pickled parameters and model, one block's statistics."""
    import cloudpickle

    from emkit import GaussianMixture
    from emkit.em.engine import _chunk_step
    from emkit.sources import from_file
    from emkit.sources.dask import _Payload

    source = from_file(path, scheduler=address)
    estimator = GaussianMixture(K, **{key: np.asarray(v) for key, v in start.items()})
    model = estimator._engine_model()
    params = estimator._initial_params(model, None, None, estimator._user_initial_values(D))
    step = _chunk_step(model, params, "soft", True)
    layout = source._layout(None)
    payload = len(cloudpickle.dumps(_Payload(step, None, layout)))
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(1000, D))
    stats = step((rows, np.ones(1000)))
    source.close()
    return {"payload_bytes": payload, "statistics_bytes": len(pickle.dumps(stats)),
            "blocks": source.n_blocks}


# ---------------------------------------------------------------------- driver
def run_child(mode: str, path: str, start_file: str, iterations: int, workers: int = 0,
              kernels: str = "auto") -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--measure", mode, "--path", path,
               "--start", start_file, "--iterations", str(iterations), "--workers",
               str(workers)]
    environment = dict(os.environ, EMKIT_KERNELS=kernels)
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            env=environment)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, default=2e7)
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    parser.add_argument("--data", default=DATA, help="folder of the generated file")
    parser.add_argument("--iterations", type=int, default=4,
                        help="EM iterations per fit (the first is not timed)")
    parser.add_argument("--kernels", default="auto,numpy",
                        help="E-step kernels to measure (EMKIT_KERNELS values)")
    parser.add_argument("--workers", default="1,2", help="Dask worker counts ('' skips)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        with open(args.start) as handle:
            start = json.load(handle)
        result = measure(args.measure, args.path, start, args.iterations,
                         int(args.workers or 0))
        print(json.dumps(result))
        return 0
    rows = 200_000 if args.quick else int(args.rows)
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, f"gmm-d{D}-k{K}-{rows}.parquet")
    if not os.path.exists(path):
        t0 = time.perf_counter()
        write_data(path, rows)
        print(f"wrote {path} ({os.path.getsize(path) / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    start_file = path + ".start.json"
    if not os.path.exists(start_file):
        with open(start_file, "w") as handle:
            json.dump(starting_values(path), handle)
    print(f"GaussianMixture K={K} full, D={D}, N={rows:,} rows "
          f"({rows * D * 8 / 1e9:.2f} GB of float64), {args.iterations} iterations per fit; "
          "s/it = median E-step after the first; peak RSS of the whole process", flush=True)
    memory = None
    for kernels in [k.strip() for k in args.kernels.split(",") if k.strip()]:
        memory = run_child("memory", path, start_file, args.iterations, kernels=kernels)
        parquet = run_child("parquet", path, start_file, args.iterations, kernels=kernels)
        ratio = parquet["per_iteration"] / memory["per_iteration"]
        same = abs(parquet["lower_bound"] - memory["lower_bound"])
        print(f"  kernels={kernels}:")
        print(f"    in memory       {memory['per_iteration']:8.3f} s/it   peak RSS "
              f"{memory['peak_rss_mb']:7.0f} MB   (fit {memory['seconds']:.0f} s)", flush=True)
        print(f"    Parquet source  {parquet['per_iteration']:8.3f} s/it   peak RSS "
              f"{parquet['peak_rss_mb']:7.0f} MB   (fit {parquet['seconds']:.0f} s, pass "
              f"before EM included; target < 400 MB: "
              f"{'met' if parquet['peak_rss_mb'] < 400 else 'NOT met'})")
        print(f"    ratio Parquet / memory {ratio:.2f} (target <= 1.5: "
              f"{'met' if ratio <= 1.5 else 'NOT met'}); |lower_bound difference| {same:.1e}",
              flush=True)
    for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
        result = run_child("dask", path, start_file, args.iterations, workers)
        print(f"  Dask {workers} worker{'s' if workers > 1 else ' '}     "
              f"{result['per_iteration']:8.3f} s/it   ({result['blocks']} blocks; per "
              f"iteration {result['payload_bytes'] / 1024:.0f} KiB of parameters to each "
              f"worker, {result['statistics_bytes'] / 1024:.0f} KiB of statistics per block"
              + (f"; |lower_bound difference| "
                 f"{abs(result['lower_bound'] - memory['lower_bound']):.1e})"
                 if memory is not None else ")"), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    sys.exit(main())
