"""Bernoulli mixtures: emkit against pomegranate and StepMix per EM iteration, the GEMM
rate of the dense E-step, and the sparse E-step's cost against the non-zeros.

Run from the repository root::

    .venv/bin/python benchmarks/bernoulli.py            # full sizes
    .venv/bin/python benchmarks/bernoulli.py --quick
    .venv/bin/python benchmarks/run.py --only bernoulli-dense,bernoulli-sparse   # the same

Cases

* ``bernoulli-dense``: N=100,000, D=784 binarised image-like rows (each of 10
  prototypes with 3% of the pixels flipped), K=10.  emkit, pomegranate 1.x
  (``GeneralMixtureModel`` of ``Bernoulli``, float32 torch on the CPU) and
  StepMix (``measurement="binary"``) from the same starting parameters where
  the library takes them (StepMix draws its own start; per-iteration times do
  not depend on it).  The achieved GFLOP/s of emkit's iteration counts its two
  GEMMs, ``X @ logit(p)'`` and ``resp' @ X`` (``4 N D K`` flops), against a
  GEMM of the E-step's shape measured in the same run with every BLAS thread.
* ``bernoulli-sparse``: N=100,000 x D=20,000 CSR at densities 0.25% and 0.5%,
  K=20, emkit only (the peers need dense arrays: 16 GB here).  The time per
  iteration should follow the non-zeros, not N x D.

Per-iteration time = ``(T(max_iter=a+b) - T(max_iter=a)) / b``, medians over
``--repeats``; ``tol=0`` so nothing stops early.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

import emkit
from emkit.exceptions import ConvergenceWarning

#: The cases (also run by ``benchmarks/run.py --only bernoulli-dense,bernoulli-sparse``).
NAMES = ("bernoulli-dense", "bernoulli-sparse")


def image_like(n: int, d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows near K random binary prototypes (3% of the pixels flipped), and the prototypes."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((k, d)) < 0.3
    labels = rng.integers(k, size=n)
    flips = rng.random((n, d)) < 0.03
    return (prototypes[labels] ^ flips).astype(np.float64), prototypes


def sparse_documents(n: int, d: int, k: int, density: float, seed: int) -> sp.csr_matrix:
    """CSR rows whose present words come mostly from one of K topics' vocabularies."""
    rng = np.random.default_rng(seed)
    per_row = max(1, round(density * d))
    topics = rng.integers(k, size=n)
    block = d // k
    common = rng.integers(0, block, size=(n, per_row)) + (topics * block)[:, None]
    noise = rng.integers(0, d, size=(n, per_row))
    words = np.where(rng.random((n, per_row)) < 0.8, common, noise)
    rows = np.repeat(np.arange(n), per_row)
    matrix = sp.csr_matrix((np.ones(rows.size), (rows, words.ravel())), shape=(n, d))
    matrix.data[:] = 1.0  # duplicates summed: back to presence
    return matrix


def timed(fit, a: int, b: int, repeats: int) -> float:
    values = []
    for _ in range(repeats):
        spans = []
        for max_iter in (a, a + b):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                fit(max_iter)
                spans.append(time.perf_counter() - t0)
        values.append((spans[1] - spans[0]) / b)
    return statistics.median(values)


def gemm_rate(rows: int, inner: int, cols: int) -> float:
    A = np.random.default_rng(0).random((rows, inner))
    B = np.random.default_rng(1).random((inner, cols))
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    return 2.0 * rows * inner * cols / best / 1e9


def dense_report(quick: bool, repeats: int) -> list[str]:
    n, d, k = (10_000 if quick else 100_000), 784, 10
    X, prototypes = image_like(n, d, k, 0)
    start_p = np.clip(prototypes * 0.8 + 0.1, 0.05, 0.95)
    start_w = np.full(k, 1.0 / k)
    lines = [f"bernoulli-dense: N={n:,} D={d} K={k}"]

    def ours(max_iter):
        emkit.BernoulliMixture(k, weights_init=start_w, probabilities_init=start_p, tol=0.0,
                               max_iter=max_iter).fit(X)
    ours_s = timed(ours, 1, 3, repeats)
    flops = 4.0 * n * d * k
    with threadpool_limits(None):
        rate = gemm_rate(8192, d, k)
    lines.append(f"  emkit        {ours_s:.4f} s/it   {flops / ours_s / 1e9:6.1f} GFLOP/s "
                 f"= {flops / ours_s / 1e9 / rate:.0%} of the E-step-shaped GEMM "
                 f"({rate:.1f} GFLOP/s)")
    try:
        import torch
        from pomegranate.distributions import Bernoulli
        from pomegranate.gmm import GeneralMixtureModel

        tensor = torch.tensor(X, dtype=torch.float32)

        def theirs(max_iter):
            model = GeneralMixtureModel(
                [Bernoulli(probs=torch.tensor(p, dtype=torch.float32)) for p in start_p],
                priors=torch.tensor(start_w, dtype=torch.float32), max_iter=max_iter, tol=0.0,
                verbose=False)
            model.fit(tensor)
        pom = timed(theirs, 1, 3, repeats)
        lines.append(f"  pomegranate  {pom:.4f} s/it   emkit/pomegranate = {ours_s / pom:.3f} "
                     "(target <= 0.3)")
    except ImportError:
        lines.append("  pomegranate: not installed")
    try:
        from stepmix import StepMix

        def stepmix(max_iter):
            StepMix(k, measurement="binary", max_iter=max_iter, abs_tol=0.0, rel_tol=0.0,
                    n_init=1, random_state=0, verbose=0, progress_bar=0).fit(X)
        sm = timed(stepmix, 2, 3, repeats)
        lines.append(f"  StepMix      {sm:.4f} s/it   emkit/StepMix = {ours_s / sm:.3f} "
                     "(target <= 0.3)")
    except ImportError:
        lines.append("  StepMix: not installed")
    return lines


def sparse_report(quick: bool, repeats: int) -> list[str]:
    n, d, k = (10_000 if quick else 100_000), 20_000, 20
    lines = [f"bernoulli-sparse: N={n:,} D={d:,} K={k} (CSR; dense would be "
             f"{n * d * 8 / 1e9:.0f} GB)"]
    for density in (0.0025, 0.005):
        X = sparse_documents(n, d, k, density, 1)
        start = emkit.BernoulliMixture(k, max_iter=1, alpha=0.5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start.fit(X[: min(n, 5000)])

        def ours(max_iter, X=X, start=start):
            emkit.BernoulliMixture(k, alpha=0.5, weights_init=start.weights_,
                                   probabilities_init=start.probabilities_, tol=0.0,
                                   max_iter=max_iter).fit(X)
        seconds = timed(ours, 1, 3, repeats)
        lines.append(f"  density {density:.2%}: nnz {X.nnz:>11,}  {seconds:.4f} s/it  "
                     f"{seconds / X.nnz * 1e9:6.2f} ns per non-zero")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(NAMES))
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if "bernoulli-dense" in only:
        print("\n".join(dense_report(args.quick, args.repeats)))
    if "bernoulli-sparse" in only:
        print("\n".join(sparse_report(args.quick, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
