"""Seconds per EM iteration of the discrete mixtures against pomegranate and StepMix.

Cases (names for ``run.py --only``; this module also runs on its own)::

    categorical-100k  CategoricalMixture, N=100,000, 20 columns of 5 levels, K=10,
                      vs pomegranate GeneralMixtureModel(Categorical) and StepMix
                      (measurement="categorical")
    poisson-1M        PoissonMixture, N=1,000,000, D=10, K=10,
                      vs pomegranate GeneralMixtureModel(Poisson) (StepMix has no Poisson model)

Method, as ``run.py``: the same seeded data and the same start for every library, a
random partition of the rows (emkit: ``labels_init``; pomegranate: the M-step of that
partition as its initial distributions and priors, computed with NumPy; StepMix: the
partition as its initial responsibilities, its weights uniform as StepMix always
starts); no early stop (emkit ``tol=0``, pomegranate ``tol=-inf``, StepMix
``abs_tol=rel_tol=0``); per-iteration time = ``(T(max_iter=a+b) - T(max_iter=a)) / b``
(wall clock), so input validation, set-up and final passes cancel; the fits of a repeat
are interleaved, the library order rotating between repeats; medians over repeats.
``peak dRSS`` is the increase of the process's peak resident set during the a+b fit.
emkit runs with its defaults (compiled kernels where numba is installed); the
categorical case also times emkit's NumPy path (``kernels="numpy"``).  pomegranate
runs in float32, its default precision (faster for it than float64).  The mean
log-likelihood of each library's parameters after a+b iterations, in its own scoring and
outside the timing, is printed as a check that they do the same work (emkit and
pomegranate start from the same parameters and follow the same path, up to
pomegranate's float32 rounding; StepMix starts with uniform weights).

Targets (issue 9): emkit at most 0.3x each peer's time per iteration; peak memory
beyond the data O(chunk x K).

    python benchmarks/discrete.py [--quick] [--repeats 3] [--only categorical-100k]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np

import emkit

#: Case name -> (kind, N, D, levels, K, a, b, quick N).
CASES = {
    "categorical-100k": ("categorical", 100_000, 20, 5, 10, 1, 5, 10_000),
    "poisson-1M": ("poisson", 1_000_000, 10, None, 10, 1, 3, 50_000),
}
NAMES = tuple(CASES)
TARGET = 0.3


# ------------------------------------------------------------------ data and start
def categorical_data(n: int, d: int, levels: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.integers(k, size=n)
    probabilities = rng.dirichlet(np.ones(levels), size=(k, d))  # (K, D, L)
    u = rng.random((n, d))
    return (np.cumsum(probabilities[z], axis=2) < u[:, :, None]).sum(axis=2).astype(np.int64)


def count_data(n: int, d: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 2.0, size=(k, d))
    return rng.poisson(rates[rng.integers(k, size=n)]).astype(np.float64)


def partition_start(X: np.ndarray, labels: np.ndarray, k: int, levels: int | None):
    """The M-step of a partition: weights and level probabilities (or rates)."""
    resp = np.zeros((X.shape[0], k))
    resp[np.arange(X.shape[0]), labels] = 1.0
    counts = resp.sum(axis=0)
    weights = counts / counts.sum()
    if levels is None:
        return weights, (resp.T @ X) / counts[:, None]
    tables = np.stack([np.stack([np.bincount(X[labels == c, j], minlength=levels)
                                 for j in range(X.shape[1])]) for c in range(k)])
    return weights, tables / tables.sum(axis=2, keepdims=True)  # (K, D, L)


# ------------------------------------------------------------------ the libraries
Fit = Callable[[int], object]  # max_iter -> the fitted model


def emkit_fit(kind, X, labels, k, kernels="auto") -> Fit:
    estimator = emkit.CategoricalMixture if kind == "categorical" else emkit.PoissonMixture

    def fit(max_iter: int):
        with emkit.config_context(kernels=kernels):
            return estimator(k, labels_init=labels, tol=0.0, max_iter=max_iter).fit(X)
    return fit


def pomegranate_fit(kind, X, start) -> Fit:
    import torch
    from pomegranate.distributions import Categorical, Poisson
    from pomegranate.gmm import GeneralMixtureModel

    weights, params = start
    # pomegranate's own precision (float32, its default dtype; faster than float64)
    tensor = torch.tensor(X) if kind == "categorical" else torch.tensor(X, dtype=torch.float32)

    def fit(max_iter: int):
        if kind == "categorical":
            dists = [Categorical(probs=torch.tensor(p, dtype=torch.float32)) for p in params]
        else:
            dists = [Poisson(lambdas=torch.tensor(r, dtype=torch.float32)) for r in params]
        model = GeneralMixtureModel(dists, priors=torch.tensor(weights, dtype=torch.float32),
                                    max_iter=max_iter, tol=-np.inf)
        model.fit(tensor)
        return model
    return fit


def stepmix_fit(X, labels, k) -> Fit:
    from stepmix.stepmix import StepMix

    def fit(max_iter: int):
        model = StepMix(n_components=k, measurement="categorical", max_iter=max_iter,
                        abs_tol=0.0, rel_tol=0.0, verbose=0, progress_bar=0, random_state=0)

        def start(X_, random_state):
            model.log_resp_ = np.log(np.clip(np.eye(k)[labels], 1e-15, 1 - 1e-15))
            model.weights_ = np.ones(k) / k
            model._initialize_parameters_measurement(X_, random_state)

        model._initialize_parameters = start
        return model.fit(X)
    return fit


def mean_loglik(model, X: np.ndarray) -> float:
    """The mean log-likelihood of the fitted parameters, in each library's own scoring
    (outside the timing)."""
    if hasattr(model, "log_probability"):  # pomegranate
        import torch

        dtype = torch.float32 if X.dtype.kind == "f" else torch.int64
        return float(model.log_probability(torch.tensor(X, dtype=dtype)).double().mean())
    return float(model.score(X))  # emkit, StepMix


# ------------------------------------------------------------------ timing
def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def timed(fit: Fit, max_iter: int, X: np.ndarray) -> tuple[float, float, float | None]:
    """(wall seconds, mean log-likelihood of the result, peak RSS increase in MB)."""
    gc.collect()
    ok = _reset_peak()
    base = _status_kb("VmRSS")
    with quiet():
        t0 = time.perf_counter()
        model = fit(max_iter)
        wall = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    rss = (peak - base) / 1024 if ok and peak is not None and base is not None else None
    with quiet():
        loglik = mean_loglik(model, X)
    return wall, loglik, rss


def available(library: str) -> bool:
    try:
        __import__({"pomegranate": "pomegranate", "stepmix": "stepmix"}.get(library, "emkit"))
    except ImportError:
        return False
    return True


def discrete_report(names: Sequence[str], *, quick: bool, repeats: int, seed: int
                    ) -> list[str]:
    lines = []
    for name in names:
        kind, n, d, levels, k, a, b, quick_n = CASES[name]
        n = quick_n if quick else n
        if kind == "categorical":
            X = categorical_data(n, d, levels, k, seed)
        else:
            X = count_data(n, d, k, seed)
        labels = np.random.default_rng(seed + 1).integers(k, size=n)
        start = partition_start(X, labels, k, levels)
        fits: dict[str, Fit] = {"emkit": emkit_fit(kind, X, labels, k)}
        if kind == "categorical":
            fits["emkit-numpy"] = emkit_fit(kind, X, labels, k, kernels="numpy")
        if available("pomegranate"):
            fits["pomegranate"] = pomegranate_fit(kind, X, start)
        if kind == "categorical" and available("stepmix"):
            fits["stepmix"] = stepmix_fit(X, labels, k)
        for fit in fits.values():  # warm-up: imports, compilation, thread pools
            with quiet():
                fit(1)
        runs: dict[str, list[tuple[float, float, float | None]]] = {lib: [] for lib in fits}
        libraries = tuple(fits)
        for rep in range(repeats):
            order = libraries[rep % len(libraries):] + libraries[: rep % len(libraries)]
            short = {lib: timed(fits[lib], a, X) for lib in order}
            long = {lib: timed(fits[lib], a + b, X) for lib in order}
            for lib in order:
                runs[lib].append(((long[lib][0] - short[lib][0]) / b, long[lib][1],
                                  long[lib][2]))
        data_mb = X.nbytes / 2**20
        shape = f"{d} columns x {levels} levels" if kind == "categorical" else f"D={d}"
        lines.append(f"{name}: N={n:,} {shape} K={k}, iterations {a} -> {a + b}, "
                     f"{repeats} repeat(s), medians; data {data_mb:.0f} MB")
        lines.append(f"  {'library':<12} {'s/it':>8} {'emkit/lib':>9} {'mean loglik':>16} "
                     f"{'peak dRSS MB':>12}")
        per_it = {lib: statistics.median(r[0] for r in runs[lib]) for lib in fits}
        for lib in fits:
            loglik = runs[lib][-1][1]
            rss = [r[2] for r in runs[lib] if r[2] is not None]
            ratio = per_it["emkit"] / per_it[lib]
            lines.append(f"  {lib:<12} {per_it[lib]:8.4f} {ratio:9.3f} {loglik:16.8f} "
                         f"{statistics.median(rss) if rss else float('nan'):12.0f}")
        for lib in fits:
            if lib.startswith("emkit"):
                continue
            ratio = per_it["emkit"] / per_it[lib]
            verdict = "PASS" if ratio <= TARGET else "FAIL"
            lines.append(f"  {name}: emkit/{lib} {ratio:.3f} (target <= {TARGET}) {verdict}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", default=None, choices=NAMES)
    args = parser.parse_args(argv)
    for line in discrete_report(args.only or NAMES, quick=args.quick, repeats=args.repeats,
                                seed=args.seed):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
