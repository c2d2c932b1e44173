"""Variational Bayes: emkit's BayesianGaussianMixture against scikit-learn's, per iteration.

Run from the repository root::

    .venv/bin/python benchmarks/variational.py            # N=1e6, D=10, K=20, full
    .venv/bin/python benchmarks/variational.py --quick

Both start from the same k-means responsibilities (scikit-learn through its
``_initialize``), run with ``tol=0``; the time of one iteration is
``(T(max_iter=a+b) - T(max_iter=a)) / b``, medians over ``--repeats``; the
fitted means of both are compared (the "full" updates are the same).
Target (issue 12): emkit at least 3x faster per iteration.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture as SkBGMM

import emkit


def per_iteration(make, X, a: int, b: int, repeats: int) -> tuple[float, object]:
    values, model = [], None
    for _ in range(repeats):
        spans = []
        for max_iter in (a, a + b):
            model = make(max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                model.fit(X)
                spans.append(time.perf_counter() - t0)
        values.append((spans[1] - spans[0]) / b)
    return statistics.median(values), model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--covariance-type", default="full")
    args = parser.parse_args(argv)
    n, d, k = (50_000 if args.quick else 1_000_000), 10, 20
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, size=(k, d))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    labels = KMeans(k, n_init=1, random_state=0).fit(X[:20_000]).predict(X)
    resp = np.eye(k)[labels]
    common = dict(n_components=k, covariance_type=args.covariance_type, tol=0.0)

    def theirs(max_iter):
        model = SkBGMM(max_iter=max_iter, **common)
        model._initialize_parameters = lambda X, random_state, xp=None: model._initialize(
            X, resp)
        return model

    def ours(max_iter):
        return emkit.BayesianGaussianMixture(max_iter=max_iter, labels_init=labels, **common)

    emkit_s, fitted_ours = per_iteration(ours, X, 1, 3, args.repeats)
    sklearn_s, fitted_theirs = per_iteration(theirs, X, 1, 3, args.repeats)
    difference = np.abs(fitted_ours.means_ - fitted_theirs.means_).max()
    print(f"variational-1M: N={n:,} D={d} K={k} {args.covariance_type}")
    print(f"  emkit    {emkit_s:.4f} s/it")
    print(f"  sklearn  {sklearn_s:.4f} s/it")
    print(f"  ratio emkit/sklearn {emkit_s / sklearn_s:.3f} (target <= 0.33); "
          f"max |means difference| after 4 iterations {difference:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
