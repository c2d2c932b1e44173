"""The EM variants on one fit: log-likelihood against time (the plot of docs/variants.md).

Run from the repository root (about two minutes; take the lock on a shared machine)::

    flock /tmp/emkit-heavy.lock .venv/bin/python benchmarks/variants_trace.py \\
        --plot docs/images/variants-objective.png
    .venv/bin/python benchmarks/variants_trace.py --quick      # N = 2,000

Every method fits the same data (N = 20,000 rows, D = 5, K = 5 overlapping
full-covariance Gaussians: ``overlap-5d`` of ``benchmarks/gradient.py``) from the
same k-means start with ``tol=1e-8``: plain EM, SQUAREM, the direct L-BFGS fit
(``fit_method="gradient"``), deterministic annealing, stochastic EM, Monte Carlo EM,
sparse EM (2 active components of 5) and classification EM.  A callback copies
the parameters after every iteration; their log-likelihood is computed after the
fit, and the callback's own time is subtracted from the clock, so the curves show
what each method's iterations cost.  The monitored objectives differ (annealed free
energy, sparse bound, classification likelihood, none for SEM/MCEM): the plot puts
them all on the one scale they share, the log-likelihood of the current parameters.
The table printed gives each method's iterations, seconds and final gap.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np

import emkit
from emkit.exceptions import ConvergenceWarning
from gradient import clusters

TOL = 1e-8
METHODS = {
    "EM": {},
    "SQUAREM": {"accelerate": "squarem"},
    "gradient (L-BFGS)": {"fit_method": "gradient"},
    "annealing": {"annealing": {"beta0": 0.5, "growth": 1.2}},
    "stochastic EM": {"assignment": "stochastic", "stochastic_iter": 50},
    "Monte Carlo EM": {"assignment": "monte-carlo", "stochastic_iter": 30},
    "sparse EM": {"sparse": {"n_active": 2, "full_every": 10}},
    "classification EM": {"assignment": "hard"},
}


def trace(X: np.ndarray, K: int, options: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """(seconds, mean log-likelihood) after every iteration, and the iterations."""
    points: list[tuple[float, object]] = []
    spent = [0.0]
    start = [0.0]

    def record(info) -> bool:
        entered = time.perf_counter()
        points.append((entered - start[0] - spent[0], copy.deepcopy(info.estimator_view())))
        spent[0] += time.perf_counter() - entered
        return False

    estimator = emkit.GaussianMixture(K, covariance_type="full", tol=TOL, max_iter=5_000,
                                      random_state=0, callback=record, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start[0] = time.perf_counter()
        estimator.fit(X)
    seconds = np.array([p[0] for p in points])
    loglik = np.array([p[1].score(X) for p in points])
    return seconds, loglik, len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000")
    parser.add_argument("--plot", metavar="PATH", help="write the plot (PNG)")
    args = parser.parse_args()
    n = 2_000 if args.quick else 20_000
    X = clusters(n, 5, 5, 2.0, 2)
    traces = {name: trace(X, 5, options) for name, options in METHODS.items()}
    best = max(t[1].max() for t in traces.values())
    print(f"overlap-5d, N={n}, K=5 full, tol={TOL:g}, same start; gap = best mean "
          f"log-likelihood of all methods ({best:.10f}) minus the method's final one")
    print("| method | iterations | seconds | final gap per row |")
    print("|---|---|---|---|")
    for name, (seconds, loglik, iterations) in traces.items():
        print(f"| {name} | {iterations} | {seconds[-1]:.2f} | {best - loglik[-1]:.2e} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, (seconds, loglik, _) in traces.items():
            ax.semilogy(seconds, np.maximum(best - loglik, 1e-12), label=name)
        ax.set_xlabel("seconds")
        ax.set_ylabel("best mean log-likelihood - current")
        ax.set_title(f"EM variants, overlap-5d, N={n}, K=5 full, same start")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
