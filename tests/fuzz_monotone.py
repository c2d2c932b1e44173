"""The monotonicity fuzz of issue 14: random mixtures x every covariance model, strict mode.

Each case is a random data set (K = 1..4 blobs in D = 1..4 dimensions, 8..150 rows,
scale 1e-3..1e3, offset 0 or 1e4, random ``reg_covar`` in {0, 1e-6, 1e-2} and
starting method); all 14 mclust models are fitted with EM in strict mode.  A fit
passes when it converges monotonically (the objective never decreases beyond the
M-step's regularisation allowance) or raises ``DegenerateComponentError`` (a
covariance singular up to rounding: docs/covariance-models.md).  Anything else
(``MonotonicityError``, another exception, a non-finite result) is a failure.

tests/test_degeneracy.py runs a bounded, fixed subset of the cases.  The full run::

    PYTHONPATH=src python tests/fuzz_monotone.py --cases 700

prints the counts and every failure (about 10 minutes on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import emkit
from emkit import GaussianMixture
from emkit.exceptions import DegenerateComponentError
from emkit.families.structures import MCLUST_MODELS

INITS = ("kmeans", "k-means++", "random", "random_from_data")


def fuzz_case(i: int) -> dict:
    """Case ``i``: data X, K, reg_covar, init_params (deterministic in ``i``)."""
    rng = np.random.default_rng(i)
    K, D = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    n = int(rng.integers(max(8, 3 * K), 151))
    scale = 10.0 ** int(rng.integers(-3, 4))
    offset = (0.0, 1e4)[int(rng.integers(0, 2))]
    reg_covar = (0.0, 1e-6, 1e-2)[int(rng.integers(0, 3))]
    init = INITS[int(rng.integers(0, 4))]
    centers = rng.normal(size=(K, D)) * 3
    labels = rng.integers(0, K, size=n)
    X = (centers[labels] + rng.normal(size=(n, D))) * scale + offset
    return {"X": X, "K": K, "reg_covar": reg_covar, "init_params": init, "seed": i,
            "scale": scale, "offset": offset}


def fit_case(case: dict, model: str) -> str:
    """"ok" or "degenerate"; any other exception propagates (a failure)."""
    gm = GaussianMixture(case["K"], covariance_type=model, init_params=case["init_params"],
                         random_state=case["seed"], tol=1e-10, max_iter=60,
                         reg_covar=case["reg_covar"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(case["X"])
    except DegenerateComponentError:
        return "degenerate"
    history = gm.lower_bounds_
    if not (np.all(np.isfinite(history)) and np.all(np.isfinite(gm.predict_proba(case["X"])))):
        raise AssertionError("non-finite objective or responsibilities")
    return "ok"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=700)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args(argv)
    emkit.set_config(monotonic="raise")
    counts = {"ok": 0, "degenerate": 0}
    failures = []
    started = time.perf_counter()
    for i in range(args.start, args.start + args.cases):
        case = fuzz_case(i)
        for model in MCLUST_MODELS:
            try:
                counts[fit_case(case, model)] += 1
            except Exception as exc:  # every other outcome is a failure, reported
                failures.append((i, model, case["scale"], case["offset"], case["reg_covar"],
                                 f"{type(exc).__name__}: {exc}"))
    seconds = time.perf_counter() - started
    print(f"{args.cases} cases x {len(MCLUST_MODELS)} models in {seconds:.0f} s: "
          f"{counts['ok']} monotone fits, {counts['degenerate']} DegenerateComponentError, "
          f"{len(failures)} failures")
    for i, model, scale, offset, reg_covar, what in failures:
        print(f"FAIL case {i} {model} scale {scale:g} offset {offset:g} "
              f"reg_covar {reg_covar:g}: {what}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
