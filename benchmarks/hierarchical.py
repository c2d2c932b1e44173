"""Seconds to grow mclust's model-based hierarchical tree: NumPy loop vs compiled loop.

Run from the repository root (needs numba for the compiled column)::

    .venv/bin/python benchmarks/hierarchical.py              # 5 repeats, medians
    .venv/bin/python benchmarks/hierarchical.py --repeats 9 --only faithful

``emkit.hierarchical.hierarchical_tree(X)`` (model "VVV", use "SVD", every row
alone: what ``select_model`` starts from) is timed with ``kernels="numpy"`` (one
Python step per merge, :mod:`emkit.hierarchical_merges`) and ``kernels="numba"``
(the whole loop compiled, :mod:`emkit._numba_hierarchical`), interleaved in
every repeat so that both see the same machine load.  The compiled loop is
loaded (or compiled, on first use on a machine) before the timings.  Both
paths give the same merges; the script checks it.

Data: Old Faithful (272 x 2), iris (150 x 4), and standard normal sets of
2000 x 5 and 2000 x 20 (seed 0; mclust grows its tree on at most 2000 rows).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import emkit  # noqa: E402
from emkit.datasets import load_faithful  # noqa: E402
from emkit.hierarchical import hierarchical_tree  # noqa: E402


def datasets() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_iris

    rng = np.random.default_rng(0)
    return {
        "faithful": load_faithful(),
        "iris": load_iris().data,
        "normal_2000x5": rng.normal(size=(2000, 5)),
        "normal_2000x20": rng.normal(size=(2000, 20)),
    }


def timed(X: np.ndarray, kernels: str):
    with emkit.config_context(kernels=kernels):
        start = time.perf_counter()
        tree = hierarchical_tree(X)
        return time.perf_counter() - start, tree


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args(argv)
    data = datasets()
    names = [n for item in args.only for n in item.split(",")] or list(data)
    start = time.perf_counter()
    timed(data["faithful"][:80], "numba")  # load or compile the loop
    print(f"loading the compiled loop (first call in this process): "
          f"{time.perf_counter() - start:.2f} s")
    print(f"{'data':16} {'numpy':>10} {'numba':>10} {'ratio':>7}  same merges")
    for name in names:
        X = data[name]
        times: dict[str, list[float]] = {"numpy": [], "numba": []}
        trees = {}
        for _ in range(args.repeats):
            for kernels in times:
                seconds, trees[kernels] = timed(X, kernels)
                times[kernels].append(seconds)
        numpy_s = statistics.median(times["numpy"])
        numba_s = statistics.median(times["numba"])
        same = np.array_equal(trees["numpy"].merges, trees["numba"].merges)
        print(f"{name:16} {numpy_s * 1e3:8.1f}ms {numba_s * 1e3:8.1f}ms "
              f"{numpy_s / numba_s:6.1f}x  {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
