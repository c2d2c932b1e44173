"""CPU seconds of select_model under two source trees, alternated in fresh processes.

Run from the repository root, e.g. against the tree of an older commit::

    git archive OLD src | tar -x -C /tmp/old
    .venv/bin/python benchmarks/selection_ab.py before=/tmp/old/src after=src \\
        --repeats 3 faithful iris diabetes wine

Each repeat runs every data set under every tree, one fresh process each (so
both trees see the same machine load), with ``select_model(X, n_jobs=1,
random_state=1)`` after a small warm-up fit.  Prints the medians of wall and CPU
seconds, the total number of EM iterations and the best cell.  Data as in
benchmarks/selection.py (faithful, iris, diabetes from
tests/references/mclust_fits.json; wine standardised as R's ``scale()``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from emkit import select_model
name = sys.argv[2]
if name == "wine":  # as R's scale() leaves it
    from sklearn.datasets import load_wine
    X = load_wine().data
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
else:
    X = np.asarray(json.loads(open(sys.argv[3]).read())["datasets"][name]["X"], dtype=float)
select_model(X[:40], [1, 2], ["EII"], n_jobs=1)
wall, cpu = time.perf_counter(), time.process_time()
result = select_model(X, n_jobs=1, random_state=1)
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu,
                  int(result.n_iter.sum()), list(result.best_cell())]))
"""
REFERENCE = ROOT / "tests" / "references" / "mclust_fits.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="name=path/to/src ... then data set names")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_intermixed_args(argv)
    trees = dict(t.split("=", 1) for t in args.trees if "=" in t)
    datasets = [t for t in args.trees if "=" not in t]
    runs: dict[tuple[str, str], list] = {}
    for _ in range(args.repeats):
        for name in datasets:
            for label, src in trees.items():
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(Path(src).resolve()), name,
                     str(REFERENCE)],
                    capture_output=True, text=True, check=True)
                runs.setdefault((name, label), []).append(
                    json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'data':<10} {'tree':<8} {'wall s':>7} {'cpu s':>7} {'EM iterations':>14}  best")
    for (name, label), values in runs.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{name:<10} {label:<8} {wall:>7.2f} {cpu:>7.2f} {values[0][2]:>14}  "
              f"{values[0][3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
