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
used it), the two interleaved in every repeat so that both see the same machine
load.  Threads are not offered: the cells are Python-bound and threads share
the GIL (measured slower than sequential at these sizes).  R:
``system.time(mclustBIC(X))`` with ``set.seed(1)`` before each run; without
``--with-r`` the medians stored in the reference file are shown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
el <- numeric({repeats})
for (r in 1:{repeats}) {{
  set.seed(1)
  el[r] <- system.time(b <- mclustBIC(X, verbose = FALSE))[["elapsed"]]
}}
cat(el, "\\n")
best <- pickBIC(b, 1)
cat(names(best), format(best[[1]], digits = 12), "\\n")
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


def time_emkit(X: np.ndarray, repeats: int) -> tuple[dict[int, float], str]:
    """Median seconds with n_jobs=1 and n_jobs=2, interleaved so both see the same load."""
    times: dict[int, list[float]] = {1: [], 2: []}
    best = None
    for _ in range(repeats):
        for n_jobs in times:
            start = time.perf_counter()
            result = select_model(X, n_jobs=n_jobs, random_state=1)
            times[n_jobs].append(time.perf_counter() - start)
            G, model = result.best_cell()
            value = result.bic()[result.n_components.index(G), result.models.index(model)]
            best = f"{model},{G} {value:.6f}"
    return {k: statistics.median(v) for k, v in times.items()}, best


def time_r(X: np.ndarray, repeats: int) -> tuple[float, str] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "X.csv"
        header = ",".join(f"x{j}" for j in range(X.shape[1]))
        np.savetxt(csv, X, delimiter=",", header=header, comments="", fmt="%.17g")
        script = Path(tmp) / "time.R"
        script.write_text(R_SCRIPT.format(repeats=repeats))
        out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                             text=True, check=True).stdout
    times, best = out.strip().splitlines()[-2:]
    return statistics.median(float(v) for v in times.split()), best.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", action="append", choices=DATASETS)
    parser.add_argument("--with-r", action="store_true", help="time R's mclustBIC too")
    args = parser.parse_args(argv)
    data, stored = load()
    select_model(data["iris"][:40], [1, 2], ["EII"], n_jobs=2)  # start the worker pool
    print(f"{'data':<18} {'n x d':>8}  {'emkit n_jobs=1':>14}  {'n_jobs=2':>9}  "
          f"{'R mclustBIC':>11}  {'1 job / R':>9}  best, BIC (emkit | R)")
    for name in args.only or DATASETS:
        X = data[name]
        medians, best = time_emkit(X, args.repeats)
        one, two = medians[1], medians[2]
        timed = time_r(X, args.repeats) if args.with_r else None
        r, r_best = timed if timed is not None else (stored.get(name), "")
        r_text = "-" if r is None else f"{r:.2f} s" + ("" if timed else "*")
        ratio = "-" if r is None else f"{one / r:.2f}"
        print(f"{name:<18} {X.shape[0]:>4} x {X.shape[1]:<2}  {one:>12.2f} s  {two:>7.2f} s  "
              f"{r_text:>11}  {ratio:>9}  {best} | {r_best}")
    if not args.with_r:
        print("* stored in tests/references/mclust_fits.json (another run, same machine type)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
