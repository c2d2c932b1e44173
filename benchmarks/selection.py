"""Seconds of a full model selection: emkit's select_model against R's mclustBIC.

Run from the repository root::

    .venv/bin/python benchmarks/selection.py            # 3 repeats, medians
    .venv/bin/python benchmarks/selection.py --with-r   # also time R on the same data
    .venv/bin/python benchmarks/selection.py --repeats 5 --only faithful

Data (from tests/references/mclust_fits.json, so R and emkit see the same
numbers): Old Faithful (272 x 2), iris (150 x 4), mclust's diabetes (145 x 3),
scikit-learn's wine standardised as R's ``scale()`` does (178 x 13; mean 0,
standard deviation 1 with ``n - 1``) and a synthetic 3000 x 5 set (4 Gaussian
clusters; more than 2000 rows, so both libraries grow the hierarchical tree on a
random subset of 2000 rows).  R is given the same numbers (written with 17
significant digits).  Each run is the default grid: mclust's 14
models x G = 1..9, hierarchical starts, no regularisation.

emkit is timed with ``n_jobs=1`` (sequential) and ``n_jobs=2`` (worker
processes; the pool is started once before the timings, as in a session that has
used it) and R (one R process with mclust loaded, timing one ``mclustBIC`` per
request), the three interleaved in every repeat, after one untimed run of each, so
that all see the same machine load (this machine's speed drifts by 1.5x over
seconds); "1 job / R" is the ratio of the medians, and in brackets the median of
the ratios within each repeat.  Threads are not offered: the cells are
Python-bound and threads share the GIL (measured slower than sequential at these
sizes).  R:
``system.time(mclustBIC(X))`` with ``set.seed(1)`` before each run; without
``--with-r`` the medians stored in the reference file are shown.

Two more figures close the run: the fixed cost of one EM iteration of a
single small fit (``GaussianMixture`` on 50 x 2 rows, K = 2, ``tol=0``:
``(t(1000 iterations) - t(100 iterations)) / 900``, the data's own work being
negligible; with ``kernels="numba"``, i.e. the compiled loop, which ``"auto"``
uses from ``max_iter=2000``), and with ``--with-r`` a whole program run end to end on Old
Faithful, start-up included: ``python -m emkit select faithful.csv`` against
``Rscript -e 'library(mclust); Mclust(X)'`` (medians of ``--repeats`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from emkit import select_model  # noqa: E402

REFERENCE = ROOT / "tests" / "references" / "mclust_fits.json"
DATASETS = ("faithful", "iris", "diabetes", "wine", "synthetic_3000x5")

R_SCRIPT = """
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv(commandArgs(TRUE)[1]))
input <- file("stdin", "r")
while (length(line <- readLines(input, n = 1)) > 0) {
  if (line == "best") {
    best <- pickBIC(b, 1)
    cat(names(best), format(best[[1]], digits = 12), "\n")
  } else {
    set.seed(1)
    cat(system.time(b <- mclustBIC(X, verbose = FALSE))[["elapsed"]], "\n")
  }
  flush(stdout())
}
"""


def load() -> tuple[dict, dict]:
    ref = json.loads(REFERENCE.read_text())
    data = {name: np.asarray(ref["datasets"][name]["X"], dtype=float)
            for name in ("faithful", "iris", "diabetes")}
    data["wine"] = standardised_wine()
    data["synthetic_3000x5"] = np.asarray(ref["synthetic_3000x5"]["X"], dtype=float)
    stored = {name: ref["timing"][name]["median_s"] for name in DATASETS
              if name in ref["timing"]}
    return data, stored


def standardised_wine() -> np.ndarray:
    """scikit-learn's wine data, each column as R's ``scale()`` leaves it."""
    from sklearn.datasets import load_wine

    X = load_wine().data
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)


class RServer:
    """One R process with mclust loaded and X read: ``run()`` times one ``mclustBIC(X)``
    (``set.seed(1)`` first), so R's runs interleave with emkit's."""

    def __init__(self, X: np.ndarray, tmp: Path) -> None:
        csv = tmp / "X.csv"
        header = ",".join(f"x{j}" for j in range(X.shape[1]))
        np.savetxt(csv, X, delimiter=",", header=header, comments="", fmt="%.17g")
        script = tmp / "time.R"
        script.write_text(R_SCRIPT)
        self.process = subprocess.Popen(["Rscript", str(script), str(csv)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def _ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the R process stopped")
        return answer.strip()

    def run(self) -> float:
        return float(self._ask("run"))

    def best(self) -> str:
        return self._ask("best")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def time_both(X: np.ndarray, repeats: int, with_r: bool):
    """Median seconds of emkit with n_jobs=1 and n_jobs=2 and (with R) of mclustBIC,
    the three interleaved in every repeat (after one untimed run of each) so that all
    see the same machine load; and each one's best model and BIC."""
    times: dict[object, list[float]] = {1: [], 2: [], "R": []}
    best = r_best = None
    with tempfile.TemporaryDirectory() as tmp:
        server = RServer(X, Path(tmp)) if with_r and shutil.which("Rscript") else None
        try:
            for repeat in range(repeats + 1):
                for n_jobs in (1, 2):
                    start = time.perf_counter()
                    result = select_model(X, n_jobs=n_jobs, random_state=1)
                    if repeat:
                        times[n_jobs].append(time.perf_counter() - start)
                    G, model = result.best_cell()
                    value = result.bic()[result.n_components.index(G),
                                         result.models.index(model)]
                    best = f"{model},{G} {value:.6f}"
                if server is not None:
                    elapsed = server.run()
                    if repeat:
                        times["R"].append(elapsed)
            if server is not None:
                r_best = server.best()
        finally:
            if server is not None:
                server.close()
    medians = {k: statistics.median(v) if v else None for k, v in times.items()}
    medians["paired"] = (statistics.median(a / b for a, b in zip(times[1], times["R"],
                                                                    strict=True))
                         if times["R"] else None)
    return medians, best, r_best


def iteration_cost(repeats: int) -> float:
    """Seconds of fixed cost per EM iteration of a single small fit (see the docstring)."""
    from emkit import GaussianMixture

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(25, 2)), rng.normal(size=(25, 2)) + 3.0])

    def seconds(max_iter: int) -> float:
        from emkit import config_context
        from emkit._kernels import numba_available

        runs = []
        kernels = "numba" if numba_available() else "numpy"
        for _ in range(max(repeats, 5)):
            gm = GaussianMixture(2, tol=0.0, max_iter=max_iter, random_state=0)
            start = time.perf_counter()
            with warnings.catch_warnings(), config_context(kernels=kernels):
                warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
                gm.fit(X)
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    seconds(10)
    return (seconds(1000) - seconds(100)) / 900


R_MCLUST = """
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv(commandArgs(TRUE)[1]))
m <- Mclust(X, verbose = FALSE)
cat(m$modelName, m$G, "\n")
"""


def end_to_end(X: np.ndarray, repeats: int, with_r: bool) -> tuple[float, float | None]:
    """Median wall seconds of ``python -m emkit select`` and (with R) of ``Mclust``."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "X.csv"
        header = ",".join(f"x{j}" for j in range(X.shape[1]))
        np.savetxt(csv, X, delimiter=",", header=header, comments="", fmt="%.17g")
        script = Path(tmp) / "mclust.R"
        script.write_text(R_MCLUST)
        commands = {"emkit": [sys.executable, "-m", "emkit", "select", str(csv)]}
        if with_r and shutil.which("Rscript") is not None:
            commands["R"] = ["Rscript", str(script), str(csv)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, capture_output=True, check=True, env=env)
                times[name].append(time.perf_counter() - start)
    r = statistics.median(times["R"]) if "R" in times else None
    return statistics.median(times["emkit"]), r


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", action="append", choices=DATASETS)
    parser.add_argument("--with-r", action="store_true", help="time R's mclustBIC too")
    args = parser.parse_args(argv)
    data, stored = load()
    select_model(data["iris"][:40], [1, 2], ["EII"], n_jobs=2)  # start the worker pool
    select_model(data["iris"][:40], [1, 2], ["EII"])  # load the compiled kernels here too
    print(f"{'data':<18} {'n x d':>8}  {'emkit n_jobs=1':>14}  {'n_jobs=2':>9}  "
          f"{'R mclustBIC':>11}  {'1 job / R (paired)':>18}  best, BIC (emkit | R)")
    for name in args.only or DATASETS:
        X = data[name]
        medians, best, r_best = time_both(X, args.repeats, args.with_r)
        one, two, timed = medians[1], medians[2], medians["R"]
        r = timed if timed is not None else stored.get(name)
        r_best = r_best or ""
        r_text = "-" if r is None else f"{r:.2f} s" + ("" if timed else "*")
        ratio = "-" if r is None else f"{one / r:.2f}"
        if medians["paired"] is not None:
            ratio += f" ({medians['paired']:.2f})"
        print(f"{name:<18} {X.shape[0]:>4} x {X.shape[1]:<2}  {one:>12.2f} s  {two:>7.2f} s  "
              f"{r_text:>11}  {ratio:>18}  {best} | {r_best}")
    if not args.with_r:
        print("* stored in tests/references/mclust_fits.json (another run, same machine type)")
    print(f"single small fit (50 x 2, K=2): {1e6 * iteration_cost(args.repeats):.1f} us of "
          "fixed cost per EM iteration")
    emkit_s, r_s = end_to_end(data["faithful"], args.repeats, args.with_r)
    r_text = "" if r_s is None else f", Rscript Mclust {r_s:.2f} s, ratio {emkit_s / r_s:.2f}"
    print(f"end to end on faithful: python -m emkit select {emkit_s:.2f} s{r_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
