"""Sparse EM vs plain EM on many components: time per iteration and to convergence.

Data: N rows of a K-component Gaussian mixture in D = 10 (means uniform in
[0, spread]^D, default spread 20, diagonal standard deviations uniform in
[0.5, 1.5], weights Dirichlet(5); with ``--covariance-type full`` each
component's noise is also turned by a random rotation, so its covariance is
full).  Both methods fit a K-component GaussianMixture (``--covariance-type``,
default "diag") from the same start (k-means++ seeds on the data, ``random_state=0``), ``tol``
on the mean log-likelihood, ``max_iter`` per phase.  Sparse EM
(``sparse={"n_active": m, "full_every": f}``) ends with plain EM, so both end
at fixed points of EM; the table reports the final mean log-likelihood
(``score(X)``) of both and their difference per row.

Seconds per iteration are measured between consecutive iteration callbacks
(so the initialisation is excluded): "partial" are sparse EM's iterations
between full E-steps, "full" its full E-steps, "EM" plain EM's (both runs'
final EM phases included).  "Time to convergence" is the sum of all
iteration times of a fit.  Run with the heavy lock:

    flock /tmp/emkit-heavy.lock env PYTHONPATH=src python benchmarks/sparse.py
    flock /tmp/emkit-heavy.lock env PYTHONPATH=src python benchmarks/sparse.py \
        --covariance-type full --n 200000 --k 64
    PYTHONPATH=src python benchmarks/sparse.py --quick      # smoke test, seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emkit import GaussianMixture

D = 10


def make_data(n: int, k: int, seed: int = 0, spread: float = 20.0,
              rotate: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.uniform(0.0, spread, size=(k, D))
    scales = rng.uniform(0.5, 1.5, size=(k, D))
    labels = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 5.0)))
    noise = rng.normal(size=(n, D)) * scales[labels]
    if rotate:  # a random rotation per component: full covariances
        for j in range(k):
            rotation = np.linalg.qr(rng.normal(size=(D, D)))[0]
            rows = labels == j
            noise[rows] = noise[rows] @ rotation
    return means[labels] + noise


class Clock:
    """An iteration callback recording the wall time of every iteration."""

    def __init__(self):
        self.stamps: list[float] = []

    def start(self, info) -> None:
        self.stamps = [time.perf_counter()]

    def __call__(self, info) -> bool:
        self.stamps.append(time.perf_counter())
        return False

    def durations(self) -> np.ndarray:
        return np.diff(self.stamps)


COVARIANCE = {"type": "diag"}


def fit(X, k, tol, max_iter, **options):
    clock = Clock()
    est = GaussianMixture(k, covariance_type=COVARIANCE["type"], tol=tol, max_iter=max_iter,
                          init_params="k-means++", random_state=0, callback=clock,
                          **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    return est, clock.durations()


def step_times(X, k, rounds: int, n_active: int, full_every: int) -> dict:
    """Seconds of one EM iteration (E-step + M-step) of each kind, interleaved.

    From the parameters of a 5-iteration fit, ``rounds`` rounds of: a plain EM
    iteration (the fused E-step), a sparse full E-step, a sparse partial
    E-step and the same partial E-step on the NumPy path (each followed by the
    M-step), so that the machine's load affects all alike; the medians are
    returned.
    """
    import emkit
    from emkit.em.engine import expectation, m_step
    from emkit.em.sparse import SparseAssignment, SparseEM
    from emkit.families.gaussian import GaussianMixtureModel
    from emkit.models._base import make_source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GaussianMixture(k, covariance_type=COVARIANCE["type"], max_iter=5,
                              init_params="k-means++", random_state=0).fit(X)
    model = GaussianMixtureModel(COVARIANCE["type"], reg_covar=est.reg_covar)
    model.kernel_work = X.shape[0] * k
    source = make_source(X, None, None, k + X.shape[1])
    params = est._params()
    sparse = SparseAssignment(SparseEM(n_active, full_every))
    times: dict[str, list[float]] = {"plain": [], "full": [], "partial": [],
                                     "partial-numpy": []}
    for _ in range(rounds):
        for name, assignment, iteration in (("plain", "soft", 1), ("full", sparse, 1),
                                            ("partial", sparse, 2),
                                            ("partial-numpy", sparse, 2)):
            kernels = "numpy" if name.endswith("numpy") else emkit.get_config()["kernels"]
            with emkit.config_context(kernels=kernels):
                begin = time.perf_counter()
                stats, _ = expectation(model, params, source, assignment, iteration)
                m_step(model, stats, params, source)
                times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--n-active", type=int, default=4)
    parser.add_argument("--full-every", type=int, default=10)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of the interleaved per-iteration timing")
    parser.add_argument("--no-fits", action="store_true",
                        help="only the interleaved per-iteration timing")
    parser.add_argument("--covariance-type", default="diag",
                        help="covariance_type of both fits (default diag; 'full' turns "
                             "every component's noise by a random rotation)")
    parser.add_argument("--quick", action="store_true", help="N = 20,000, K = 32")
    args = parser.parse_args()
    if args.quick:
        args.n, args.k = 20_000, 32
    COVARIANCE["type"] = args.covariance_type
    X = make_data(args.n, args.k, spread=args.spread,
                  rotate=args.covariance_type != "diag")
    warm = make_data(2000, 8, seed=1)  # compile the kernels before timing
    fit(warm, 8, 1e-3, 5)
    fit(warm, 8, 1e-3, 5, sparse={"n_active": 2, "full_every": 2})
    print(f"N = {args.n:,}, K = {args.k}, D = {D}, {args.covariance_type}, tol = {args.tol:g}, "
          f"max_iter = {args.max_iter} per phase; sparse: n_active = {args.n_active}, "
          f"full_every = {args.full_every}; spread = {args.spread:g}; "
          f"load average {os.getloadavg()[0]:.1f}")

    steps = step_times(X, args.k, args.rounds, args.n_active, args.full_every)
    amortised = ((args.full_every - 1) * steps["partial"] + steps["full"]) / args.full_every
    print()
    print(f"Interleaved timing ({args.rounds} rounds, median seconds per iteration, "
          "E-step + M-step):")
    print()
    print("| iteration | s | speed-up vs plain EM |")
    print("|---|---|---|")
    for name, label in (("plain", "plain EM (fused E-step)"),
                        ("partial", "sparse EM partial iteration"),
                        ("partial-numpy", "sparse EM partial iteration, NumPy path"),
                        ("full", "sparse EM full E-step")):
        print(f"| {label} | {steps[name]:.3f} | {steps['plain'] / steps[name]:.1f}x |")
    print(f"| sparse EM, amortised over full_every = {args.full_every} | {amortised:.3f} | "
          f"{steps['plain'] / amortised:.1f}x |")
    if args.no_fits:
        return
    print()
    print("Fits to convergence:")
    em, em_times = fit(X, args.k, args.tol, args.max_iter)
    sparse = {"n_active": args.n_active, "full_every": args.full_every}
    sp, sp_times = fit(X, args.k, args.tol, args.max_iter, sparse=sparse)

    phase = sp.phases_[0]
    n_sparse = phase["n_iter"]
    full_rows = np.arange(n_sparse) % args.full_every == 0
    sparse_times = sp_times[:n_sparse]
    partial, full = sparse_times[~full_rows], sparse_times[full_rows]
    final = sp_times[n_sparse:]
    em_iter = statistics.median(em_times)
    em_score, sp_score = em.score(X), sp.score(X)

    def row(name, iters, per_iter, total, score):
        ratio = em_iter / per_iter if per_iter else float("nan")
        print(f"| {name} | {iters} | {per_iter:.3f} | {ratio:.1f}x | {total:.1f} | "
              f"{score:.6f} |")

    print()
    print("| run | iterations | median s / iteration | speed-up per iteration vs EM "
          "| s to convergence | final mean log-likelihood |")
    print("|---|---|---|---|---|---|")
    row("plain EM", em.n_iter_, em_iter, em_times.sum(), em_score)
    row("sparse EM: partial iterations", int(partial.size),
        statistics.median(partial) if partial.size else 0.0, partial.sum(), sp_score)
    row("sparse EM: full E-steps", int(full.size), statistics.median(full), full.sum(),
        sp_score)
    row("sparse EM: final plain EM", int(final.size),
        statistics.median(final) if final.size else 0.0, final.sum(), sp_score)
    row("sparse EM: whole fit", sp.n_iter_, sp_times.mean(), sp_times.sum(), sp_score)
    print()
    print(f"final log-likelihood, sparse - plain: {sp_score - em_score:+.2e} nats/row; "
          f"time to convergence ratio (plain / sparse): "
          f"{em_times.sum() / sp_times.sum():.2f}x; "
          f"sparse phase {n_sparse} iterations ({phase['n_full']} full), "
          f"final EM {sp.phases_[1]['n_iter']}; converged: plain {em.converged_}, "
          f"sparse {sp.converged_}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
