"""EM vs SQUAREM vs direct gradient fits, and exact vs generalized EM M-steps.

Part 1 (``GaussianMixture``): the same fit three ways, from the same start
(``init_params="kmeans"``, ``random_state=0``, so every method starts from
the same M-step), ``tol = 1e-8`` (each stops when the mean log-likelihood
changes by less than that between two iterations), ``reg_covar = 1e-6``,
``max_iter = 10,000``:

* ``em``: plain EM; ``squarem``: ``accelerate="squarem"``;
* ``gradient``: ``fit_method="gradient"`` (L-BFGS-B with analytic gradients).

Data sets: ``separated-2d`` (K = 3 well separated clusters, D = 2),
``overlap-5d`` (K = 5 overlapping components, D = 5, full and diag),
``faithful`` (Old Faithful, 272 rows, K = 2 and K = 3, full).  Reported per
method: iterations (``n_iter_``), passes over the data (E-steps; for the
gradient fit, objective-and-gradient evaluations, each one pass), the
median wall time over ``--repeats`` (fits interleaved), the final mean
log-likelihood ``score(X)`` and its gap below the best of the three.

Part 2 (generalized EM, ``m_step_iterations``): ``GaussianMixture`` with
mclust's EVE and VEV (N / 5 rows of ``overlap-5d``: their M-step is an inner
iteration), ``StudentTMixture`` (K = 3, D = 3, estimated dof,
``accelerate=None``) and ``MixtureOfExperts`` (K = 3 Gaussian experts on one
input, softmax gate), exact M-steps vs one Q-increasing inner step,
``tol = 1e-10``: iterations, seconds, final mean log-likelihood.
``--part generalized`` runs part 2 only.

Part 3 (``--part constrained``): part 1's three methods with mclust's eight
constrained covariance models (VEI, EVI, VEE, EVE, VVE, EEV, VEV, EVV; the
gradient fit's log-volume / log-shape / rotation parametrisation) on Old
Faithful (K = 3) and 2,000 rows of ``overlap-5d`` (K = 5; 1,000 with
``--quick``).

``--plot PATH`` also draws, for the ``overlap-5d`` full-covariance fit, each
method's gap to the best final mean log-likelihood against wall time
(recorded by a ``callback``; EM's objective is that of the parameters
entering each iteration, the gradient fit's that after each).

Run (the lock keeps it off other benchmarks):

    flock /tmp/emkit-heavy.lock env PYTHONPATH=src python benchmarks/gradient.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import emkit
import emkit.models._mixture as mixture_module
from emkit.datasets import load_faithful

TOL = 1e-8
METHODS = {"em": {}, "squarem": {"accelerate": "squarem"}, "gradient": {"fit_method": "gradient"}}


def clusters(n: int, d: int, k: int, separation: float, seed: int) -> np.ndarray:
    """A seeded Gaussian mixture: means ~ ``separation`` apart, random orientations."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, rng.dirichlet(np.full(k, 5.0)))
    means = rng.normal(scale=separation / np.sqrt(2.0 * d), size=(k, d))
    parts = []
    for j in range(k):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        parts.append(rng.standard_normal((counts[j], d)) @ (q * rng.uniform(0.5, 1.5, d)).T
                     + means[j])
    return rng.permutation(np.vstack(parts))


def datasets(quick: bool) -> list[tuple[str, np.ndarray, int, str]]:
    n = 2_000 if quick else 20_000
    faithful = np.asarray(load_faithful(), dtype=float)
    return [
        ("separated-2d", clusters(n, 2, 3, 12.0, 1), 3, "full"),
        ("overlap-5d", clusters(n, 5, 5, 2.0, 2), 5, "full"),
        ("overlap-5d", clusters(n, 5, 5, 2.0, 2), 5, "diag"),
        ("faithful", faithful, 2, "full"),
        ("faithful", faithful, 3, "full"),
    ]


def timed_fit(make: Callable[[], Any], X: np.ndarray, y=None) -> dict[str, float]:
    """Fit once: seconds, iterations, passes over the data, final mean log-likelihood."""
    results: list = []
    original = mixture_module.fit_with_restarts

    def spy(*args: Any, **kwargs: Any):
        results.append(original(*args, **kwargs))
        return results[-1]

    estimator = make()
    mixture_module.fit_with_restarts = spy
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            estimator.fit(X) if y is None else estimator.fit(X, y)
            seconds = time.perf_counter() - start
    finally:
        mixture_module.fit_with_restarts = original
    loglik = estimator.score(X) if y is None else estimator.lower_bound_
    return {"seconds": seconds, "iterations": float(estimator.n_iter_),
            "passes": float(results[-1].n_e_steps), "loglik": float(loglik),
            "converged": float(estimator.converged_)}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


#: mclust's models with constrained volumes, shapes or orientations.
CONSTRAINED = ("VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV")


def constrained_datasets(quick: bool) -> list[tuple[str, np.ndarray, int, str]]:
    n = 1_000 if quick else 2_000
    faithful = np.asarray(load_faithful(), dtype=float)
    overlap = clusters(n, 5, 5, 2.0, 2)
    return [*(("faithful", faithful, 3, model) for model in CONSTRAINED),
            *(("overlap-5d", overlap, 5, model) for model in CONSTRAINED)]


def gradient_table(quick: bool, repeats: int, cases=None) -> list[str]:
    lines = ["| data | N | D | K | covariance | method | iterations | passes | seconds | "
             "mean log-lik | gap to best |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, X, K, kind in (datasets(quick) if cases is None else cases):
        def make(options: dict, K=K, kind=kind) -> Callable[[], Any]:
            return lambda: emkit.GaussianMixture(K, covariance_type=kind, tol=TOL,
                                                 max_iter=10_000, random_state=0, **options)
        timed_fit(make({}), X[:200])  # warm-up
        runs: dict[str, list] = {method: [] for method in METHODS}
        for rep in range(repeats):
            order = list(METHODS)[rep % 3:] + list(METHODS)[:rep % 3]
            for method in order:
                runs[method].append(timed_fit(make(METHODS[method]), X))
        summary = {method: medians(r) for method, r in runs.items()}
        best = max(s["loglik"] for s in summary.values())
        for method, s in summary.items():
            flag = "" if s["converged"] else " (not converged)"
            lines.append(f"| {name} | {X.shape[0]} | {X.shape[1]} | {K} | {kind} | {method}{flag} "
                         f"| {s['iterations']:.0f} | {s['passes']:.0f} | {s['seconds']:.3f} "
                         f"| {s['loglik']:.8f} | {best - s['loglik']:.1e} |")
    return lines


def t_rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = clusters(n, 3, 3, 8.0, seed)
    return X + rng.standard_t(4, size=X.shape) * 0.5


def experts_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    logits = np.stack([2 * x, np.zeros(n), -2 * x + 1], axis=1)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    z = (rng.random(n)[:, None] > np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)).sum(1)
    slopes, intercepts = np.array([1.0, -1.0, 2.0]), np.array([0.0, 3.0, -2.0])
    y = intercepts[z] + slopes[z] * x + rng.normal(0, 0.5, n)
    return x[:, None], y


def generalized_table(quick: bool, repeats: int) -> list[str]:
    n = 1_000 if quick else 10_000
    lines = ["| model | N | M-step | iterations | seconds | mean log-lik |",
             "|---|---|---|---|---|---|"]
    X = t_rows(n, 3)
    Xe, ye = experts_rows(n, 4)
    Xg = clusters(n // 5, 5, 5, 2.0, 2)
    cases = [
        *((f"GaussianMixture {model} K=5 D=5", Xg, None,
           lambda k, model=model: lambda: emkit.GaussianMixture(
               5, covariance_type=model, tol=1e-10, max_iter=10_000, random_state=0,
               m_step_iterations=k))
          for model in ("EVE", "VEV")),
        ("StudentTMixture K=3 D=3", X, None,
         lambda k: lambda: emkit.StudentTMixture(3, tol=1e-10, max_iter=10_000,
                                                 accelerate=None, random_state=0,
                                                 m_step_iterations=k)),
        ("MixtureOfExperts K=3", Xe, ye,
         lambda k: lambda: emkit.MixtureOfExperts(3, tol=1e-10, max_iter=10_000,
                                                  random_state=0, m_step_iterations=k)),
    ]
    for label, data, y, factory in cases:
        timed_fit(factory(None), data[:200], None if y is None else y[:200])
        for k in (None, 1):
            summary = medians([timed_fit(factory(k), data, y) for _ in range(repeats)])
            step = "exact" if k is None else f"m_step_iterations={k}"
            lines.append(f"| {label} | {data.shape[0]} | {step} | {summary['iterations']:.0f} "
                         f"| {summary['seconds']:.3f} | {summary['loglik']:.10f} |")
    return lines


def trace_plot(quick: bool, path: str) -> None:
    """Gap to the best mean log-likelihood against seconds, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name, X, K, kind = datasets(quick)[1]
    traces = {}
    for method, options in METHODS.items():
        points: list[tuple[float, float]] = []

        def record(info, points=points) -> bool:
            points.append((info.elapsed, info.objective))
            return False

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            emkit.GaussianMixture(K, covariance_type=kind, tol=TOL, max_iter=10_000,
                                  random_state=0, callback=record, **options).fit(X)
        traces[method] = np.array(points)
    best = max(trace[:, 1].max() for trace in traces.values())
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, trace in traces.items():
        ax.semilogy(trace[:, 0], np.maximum(best - trace[:, 1], 1e-12), label=method)
    ax.set_xlabel("seconds")
    ax.set_ylabel("best mean log-likelihood - current")
    ax.set_title(f"{name}, N={X.shape[0]}, K={K}, {kind}: same start, tol={TOL:g}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 2,000 (1,000 in part 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", metavar="PATH", help="write the objective-vs-time plot")
    parser.add_argument("--part", choices=("all", "gradient", "generalized", "constrained"),
                        default="all")
    args = parser.parse_args()
    print(f"tol={TOL} reg_covar=1e-6 repeats={args.repeats} (medians)")
    if args.part in ("all", "gradient"):
        print("\n".join(gradient_table(args.quick, args.repeats)))
        print()
    if args.part in ("all", "generalized"):
        print("\n".join(generalized_table(args.quick, args.repeats)))
        print()
    if args.part in ("all", "constrained"):
        print("\n".join(gradient_table(args.quick, args.repeats,
                                       constrained_datasets(args.quick))))
    if args.plot:
        trace_plot(args.quick, args.plot)


if __name__ == "__main__":
    main()
