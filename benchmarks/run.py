"""Seconds per EM iteration: emkit against scikit-learn, side by side in one run.

Run from the repository root::

    .venv/bin/python benchmarks/run.py                 # full sizes, 3 repeats
    .venv/bin/python benchmarks/run.py --quick         # small smoke sizes
    .venv/bin/python benchmarks/run.py --only gmm-diag-1M --repeats 5 --verbose

Cases (``--only`` takes these names; it may be repeated or comma-separated):

* ``gmm-full-1M``   GaussianMixture, N=1,000,000, D=10, K=20, covariance "full"
* ``gmm-diag-1M``   GaussianMixture, N=1,000,000, D=10, K=20, covariance "diag"
* ``gmm-full-d50``  GaussianMixture, N=200,000,   D=50, K=20, covariance "full";
  also emkit with ``dtype="float32"`` (same start, same repeats) and the
  achieved GFLOP/s of the E-step + statistics against a GEMM measured in the
  same run (``throughput.py``)
* ``gmm-{full,diag}-d2-k{5,20}`` GaussianMixture, N=100,000, D=2, K=5 / 20
* ``kmeans-1M``, ``kmeans-1M-k100``  emkit.KMeans vs
  sklearn.cluster.KMeans(algorithm="lloyd"), N=1,000,000, D=10, K=20 / 100
* ``gmm-missing-100k`` emkit with 20% missing values vs complete data (``missing.py``)
* ``hmm-gauss-full-1M``, ``hmm-categorical-1M``  GaussianHMM (K=10, D=5, full) and
  CategoricalHMM (K=20) on 1,000,000 rows in 100 sequences vs hmmlearn (and pomegranate
  when installed), seconds per Baum-Welch iteration (``hmm_bench.py``)
* ``accel-d2``, ``accel-d10``  time to convergence (tol=1e-6) of emkit plain EM,
  emkit SQUAREM and scikit-learn, N=100,000, K=5, overlapping components
  (``acceleration.py``)
* ``categorical-100k``, ``poisson-1M``  CategoricalMixture (N=100,000, 20 columns of
  5 levels, K=10) and PoissonMixture (N=1,000,000, D=10, K=10) against pomegranate and
  StepMix, seconds per EM iteration (``discrete.py``; peers skipped when not installed)
* ``studentt-full-100k``  emkit.StudentTMixture vs emkit.GaussianMixture, N=100,000,
  D=10, K=5, full, s/it (target ratio <= 1.5); ``studentt-ecm-vs-ecme`` passes to
  convergence of ECM, ECM + SQUAREM and a reference ECME; ``studentt-starts`` robust
  fits per starting method with 5% gross outliers (``student_t.py``)

Method.  Both libraries get the same seeded synthetic mixture and the same
starting parameters (``weights_init``/``means_init``/``precisions_init`` from a
one-iteration scikit-learn fit on a 20,000-row subsample; k-means gets the same
``init`` centres, random data rows).  ``tol=0`` so EM never stops early.  Each
library is fitted with ``max_iter=a`` and ``max_iter=a+b``; the time per
iteration is ``(T(a+b) - T(a)) / (n_iter(a+b) - n_iter(a))``, so input
validation, initialisation and any final E-step cancel out.  The four fits of a
repeat are interleaved (emkit a, sklearn a, emkit a+b, sklearn a+b; the
library order alternates between repeats) so both see the same machine noise.
The table quotes medians over the repeats; ``--verbose`` prints every run.

Apples to apples: after ``a+b`` iterations both fits must reach the same mean
log-likelihood (``lower_bound_``; for k-means the ``inertia_``).  The
``obj rel diff`` column is ``|emkit - sklearn| / |sklearn|`` (largest over the
repeats); values above 1e-6 are flagged.  ``peak dRSS`` is the increase of the
process's peak resident set during the ``a+b`` fit (Linux ``/proc``; "n/a"
elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy
import sklearn
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_info

import emkit
from acceleration import NAMES as ACCELERATION_CASES
from acceleration import acceleration_report
from bernoulli import NAMES as BERNOULLI_CASES
from bernoulli import dense_report as bernoulli_dense_report
from bernoulli import sparse_report as bernoulli_sparse_report
from discrete import NAMES as DISCRETE_CASES
from discrete import discrete_report
from hmm_bench import NAMES as HMM_CASES
from hmm_bench import hmm_report
from missing import NAME as MISSING_CASE
from missing import missing_values_report
from student_t import CONVERGENCE_NAME as STUDENT_T_CONVERGENCE
from student_t import NAME as STUDENT_T_CASE
from student_t import NAMES as STUDENT_T_CASES
from student_t import STARTS_NAME as STUDENT_T_STARTS
from student_t import convergence_report, per_iteration_report, starts_report
from throughput import float32_report, kernels_report, throughput_report

#: Relative log-likelihood difference above which a case is flagged.
OBJECTIVE_RTOL = 1e-6
#: Rows of the subsample the starting parameters are computed on.
START_SUBSAMPLE = 20_000


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark configuration."""

    name: str
    kind: str  # "gmm" or "kmeans"
    n: int
    d: int
    k: int
    covariance: str  # "full" / "diag" (kmeans: shape of the generating mixture)
    a: int  # iterations of the short fit
    b: int  # extra iterations of the long fit
    quick_n: int
    target: float = 1.0  # issue 5's bound on the ratio emkit / scikit-learn
    informational: bool = False
    float32: bool = False  # also time emkit with dtype="float32" (GaussianMixture)


CASES: tuple[Case, ...] = (
    Case("gmm-full-1M", "gmm", 1_000_000, 10, 20, "full", a=1, b=3, quick_n=20_000,
         target=0.25),
    Case("gmm-diag-1M", "gmm", 1_000_000, 10, 20, "diag", a=1, b=4, quick_n=20_000,
         target=0.25),
    Case("gmm-full-d50", "gmm", 200_000, 50, 20, "full", a=1, b=3, quick_n=5_000,
         target=0.4, float32=True),
    Case("gmm-full-d2-k5", "gmm", 100_000, 2, 5, "full", a=1, b=10, quick_n=20_000,
         target=0.15),
    Case("gmm-diag-d2-k5", "gmm", 100_000, 2, 5, "diag", a=1, b=10, quick_n=20_000,
         target=0.15),
    Case("gmm-full-d2-k20", "gmm", 100_000, 2, 20, "full", a=1, b=10, quick_n=20_000,
         target=0.15),
    Case("gmm-diag-d2-k20", "gmm", 100_000, 2, 20, "diag", a=1, b=10, quick_n=20_000,
         target=0.15),
    Case("kmeans-1M", "kmeans", 1_000_000, 10, 20, "full", a=1, b=15, quick_n=20_000),
    Case("kmeans-1M-k100", "kmeans", 1_000_000, 10, 100, "full", a=1, b=10, quick_n=20_000),
)


@dataclasses.dataclass
class Run:
    """Measurements of one library in one repeat."""

    t_a: float
    t_ab: float
    cpu_a: float
    cpu_ab: float
    iters_a: int
    iters_ab: int
    objective: float
    rss_mb: float | None

    @property
    def per_iter(self) -> float:
        done = self.iters_ab - self.iters_a
        return (self.t_ab - self.t_a) / done if done > 0 else float("nan")

    @property
    def cpu_per_iter(self) -> float:
        done = self.iters_ab - self.iters_a
        return (self.cpu_ab - self.cpu_a) / done if done > 0 else float("nan")


@dataclasses.dataclass
class Result:
    """All repeats of one case."""

    case: Case
    n: int
    emkit: list[Run] = dataclasses.field(default_factory=list)
    sklearn: list[Run] = dataclasses.field(default_factory=list)
    emkit32: list[Run] = dataclasses.field(default_factory=list)  # dtype="float32"
    error: str | None = None

    def median(self, lib: str) -> float:
        runs = getattr(self, lib)
        return statistics.median(r.per_iter for r in runs) if runs else float("nan")

    def ratio(self) -> float:
        sk = self.median("sklearn")
        return self.median("emkit") / sk if sk > 0 else float("nan")

    def objective_rel_diff(self) -> float:
        diffs = [
            abs(e.objective - s.objective) / max(abs(s.objective), 1e-300)
            for e, s in zip(self.emkit, self.sklearn, strict=True)
        ]
        return max(diffs) if diffs else float("nan")

    def iterations_ok(self) -> bool:
        c = self.case
        return all(
            r.iters_a == c.a and r.iters_ab == c.a + c.b for r in self.emkit + self.sklearn
        )

    def spread(self) -> float:
        """Largest (max - min) / |median| of the per-run s/it of either library (noise gauge)."""
        worst = 0.0
        for runs in (self.emkit, self.sklearn):
            values = [r.per_iter for r in runs]
            if not values:
                continue
            mid = abs(statistics.median(values))
            worst = max(worst, (max(values) - min(values)) / mid if mid > 0 else float("inf"))
        return worst

    def rss(self, lib: str) -> float | None:
        runs = getattr(self, lib)
        values = [r.rss_mb for r in runs if r.rss_mb is not None]
        return statistics.median(values) if values else None


# --------------------------------------------------------------------- data
def make_mixture(n: int, d: int, k: int, covariance: str, seed: int) -> np.ndarray:
    """Seeded, well-separated-ish Gaussian mixture sample of shape (n, d), rows shuffled.

    Component scales are ~1 per direction (0.5 to 1.5), random orientations for
    "full", axis-aligned for "diag"; means are spread so that two components are
    ~6 units apart on average; weights are Dirichlet(5).
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    counts = rng.multinomial(n, weights)
    means = rng.normal(scale=6.0 / np.sqrt(2.0 * d), size=(k, d))
    X = np.empty((n, d))
    start = 0
    for j in range(k):
        stop = start + counts[j]
        z = rng.standard_normal((counts[j], d))
        scales = rng.uniform(0.5, 1.5, size=d)
        if covariance == "full":
            q, _ = np.linalg.qr(rng.standard_normal((d, d)))
            X[start:stop] = z @ (q * scales).T + means[j]
        else:
            X[start:stop] = z * scales + means[j]
        start = stop
    return X[rng.permutation(n)]


def gmm_start(
    X: np.ndarray, k: int, covariance: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cheap common start: one scikit-learn EM iteration on a k-means++-seeded subsample."""
    rng = np.random.default_rng(seed)
    m = min(X.shape[0], START_SUBSAMPLE)
    sub = X[np.sort(rng.choice(X.shape[0], size=m, replace=False))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = SkGaussianMixture(
            k, covariance_type=covariance, max_iter=1, tol=0.0, init_params="k-means++",
            random_state=seed,
        ).fit(sub)
    weights = gm.weights_ / gm.weights_.sum()
    return weights, gm.means_.copy(), gm.precisions_.copy()


def kmeans_start(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Common k-means start: k distinct random rows."""
    rng = np.random.default_rng(seed)
    return X[np.sort(rng.choice(X.shape[0], size=k, replace=False))].copy()


# ------------------------------------------------------------- estimators
Factory = Callable[[int], Any]


def gmm_factories(case: Case, start: tuple[np.ndarray, ...]) -> dict[str, Factory]:
    weights, means, precisions = start

    def params(max_iter: int) -> dict[str, Any]:
        return dict(
            n_components=case.k, covariance_type=case.covariance, tol=0.0, reg_covar=1e-6,
            max_iter=max_iter, n_init=1, init_params="random_from_data",
            weights_init=weights, means_init=means, precisions_init=precisions,
            random_state=0,
        )

    factories = {
        "emkit": lambda m: emkit.GaussianMixture(**params(m)),
        "sklearn": lambda m: SkGaussianMixture(**params(m)),
    }
    if case.float32:
        factories["emkit32"] = lambda m: emkit.GaussianMixture(**params(m), dtype="float32")
    return factories


def kmeans_factories(case: Case, centers: np.ndarray) -> dict[str, Factory]:
    def params(max_iter: int) -> dict[str, Any]:
        return dict(
            n_clusters=case.k, init=centers, n_init=1, max_iter=max_iter, tol=0.0,
            random_state=0,
        )

    return {
        "emkit": lambda m: emkit.KMeans(**params(m)),
        "sklearn": lambda m: SkKMeans(algorithm="lloyd", **params(m)),
    }


def objective(estimator: Any) -> float:
    """Mean log-likelihood reached (GMM ``lower_bound_``) or k-means ``inertia_``."""
    if hasattr(estimator, "lower_bound_"):
        return float(estimator.lower_bound_)
    return float(estimator.inertia_)


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


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the expected ConvergenceWarning (tol=0 always hits max_iter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        emkit_warning = getattr(getattr(emkit, "exceptions", None), "ConvergenceWarning", None)
        if isinstance(emkit_warning, type) and issubclass(emkit_warning, Warning):
            warnings.simplefilter("ignore", emkit_warning)
        yield


def timed_fit(
    factory: Factory, max_iter: int, X: np.ndarray
) -> tuple[float, float, int, float, float | None]:
    """Fit once; return (wall s, cpu s, n_iter_, objective, peak RSS increase MB)."""
    gc.collect()
    rss_ok = _reset_peak_rss()
    base = _status_kb("VmRSS")
    estimator = factory(max_iter)
    with quiet():
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        estimator.fit(X)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    peak = _status_kb("VmHWM")
    rss = (peak - base) / 1024 if rss_ok and peak is not None and base is not None else None
    return wall, cpu, int(estimator.n_iter_), objective(estimator), rss


def run_case(case: Case, *, quick: bool, repeats: int, seed: int, verbose: bool) -> Result:
    n = case.quick_n if quick else case.n
    result = Result(case, n)
    t0 = time.perf_counter()
    X = make_mixture(n, case.d, case.k, case.covariance, seed)
    if case.kind == "gmm":
        factories = gmm_factories(case, gmm_start(X, case.k, case.covariance, seed + 1))
    else:
        factories = kmeans_factories(case, kmeans_start(X, case.k, seed + 1))
    if verbose:
        print(f"[{case.name}] data + start in {time.perf_counter() - t0:.1f} s", flush=True)
    # Warm-up: import paths, thread pools, first-call overheads.
    for factory in factories.values():
        timed_fit(factory, 1, X[: min(n, 20_000)])
    for rep in range(repeats):
        libs = tuple(factories) if rep % 2 == 0 else tuple(reversed(factories))
        short = {lib: timed_fit(factories[lib], case.a, X) for lib in libs}
        long = {lib: timed_fit(factories[lib], case.a + case.b, X) for lib in libs}
        for lib in libs:
            (t_a, cpu_a, it_a, _, _), (t_ab, cpu_ab, it_ab, obj, rss) = short[lib], long[lib]
            run = Run(t_a, t_ab, cpu_a, cpu_ab, it_a, it_ab, obj, rss)
            getattr(result, lib).append(run)
        if verbose:
            for lib in factories:
                r = getattr(result, lib)[-1]
                rss_text = "n/a" if r.rss_mb is None else f"{r.rss_mb:.0f} MB"
                print(
                    f"[{case.name}] repeat {rep + 1}/{repeats} {lib:<7} "
                    f"T({r.iters_a})={r.t_a:.3f}s T({r.iters_ab})={r.t_ab:.3f}s "
                    f"-> {r.per_iter:.4f} s/it (cpu {r.cpu_per_iter:.4f} s/it) "
                    f"objective={r.objective:.12g} peak dRSS={rss_text}",
                    flush=True,
                )
    return result


# ------------------------------------------------------------------ output
def emkit_revision() -> str:
    """Git commit of the emkit sources measured, with ``+dirty`` if src/ has edits."""
    src = os.path.dirname(os.path.abspath(emkit.__file__))
    try:
        head = subprocess.run(
            ["git", "-C", src, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", src, "status", "--porcelain", "--", "."],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown revision"
    return f"git {head}{'+dirty' if dirty else ''}"


def environment_report() -> list[str]:
    lines = [
        f"python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}"
        f"  scikit-learn {sklearn.__version__}  emkit {emkit.__version__} ({emkit_revision()})",
        f"machine: {platform.machine()}  cpus: {os.cpu_count()}  "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '<unset>')}  "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '<unset>')}",
        "thread pools (threadpoolctl):",
    ]
    for pool in threadpool_info():
        extra = ""
        if pool.get("user_api") == "blas":
            extra = (
                f" arch={pool.get('architecture')} layer={pool.get('threading_layer')}"
            )
        lines.append(
            f"  {pool.get('user_api')}/{pool.get('internal_api')} "
            f"{pool.get('version')} threads={pool.get('num_threads')}{extra} "
            f"({os.path.basename(str(pool.get('filepath')))})"
        )
    return lines


def _fmt(value: float | None, spec: str) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return format(value, spec)


def table(results: Sequence[Result]) -> list[str]:
    header = (
        "case", "N", "D", "K", "cov", "iters", "emkit s/it", "sklearn s/it",
        "ratio", "spread", "obj rel diff", "emkit dRSS MB", "sklearn dRSS MB",
    )
    rows = []
    for res in results:
        c = res.case
        cov = c.covariance if c.kind == "gmm" else "-"
        iters = f"{c.a}->{c.a + c.b}"
        if res.error is not None:
            rows.append((c.name, f"{res.n:,}", str(c.d), str(c.k), cov, iters,
                         "ERROR", "", "", "", "", "", ""))
            continue
        rel = res.objective_rel_diff()
        flag = "" if rel <= OBJECTIVE_RTOL else " !"
        if not res.iterations_ok():
            flag += " (iters?)"
        rows.append((
            c.name, f"{res.n:,}", str(c.d), str(c.k), cov, iters,
            _fmt(res.median("emkit"), ".4f"), _fmt(res.median("sklearn"), ".4f"),
            _fmt(res.ratio(), ".3f"), _fmt(100 * res.spread(), ".0f") + "%",
            _fmt(rel, ".1e") + flag,
            _fmt(res.rss("emkit"), ".0f"), _fmt(res.rss("sklearn"), ".0f"),
        ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    left = {0, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def verdicts(results: Sequence[Result]) -> list[str]:
    lines = []
    for res in results:
        c = res.case
        tag = " (informational)" if c.informational else ""
        if res.error is not None:
            lines.append(f"{c.name}: ERROR {res.error}{tag}")
            continue
        ratio = res.ratio()
        same = res.objective_rel_diff() <= OBJECTIVE_RTOL and res.iterations_ok()
        check = "" if same else "  [WARNING: objectives or iteration counts differ]"
        if ratio <= c.target:
            verdict = f"ratio {ratio:.3f} <= target {c.target:g} (PASS)"
        elif np.isfinite(ratio):
            verdict = f"ratio {ratio:.3f} > target {c.target:g} (FAIL)"
        else:
            verdict = "ratio n/a (FAIL)"
        lines.append(f"{c.name}: {verdict}{tag}{check}")
    return lines


# -------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [c.name for c in CASES] + [MISSING_CASE, *ACCELERATION_CASES, *DISCRETE_CASES,
                                         *BERNOULLI_CASES, *STUDENT_T_CASES, *HMM_CASES]
    parser = argparse.ArgumentParser(
        description="Seconds per EM iteration, emkit vs scikit-learn (see module docstring).",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small smoke sizes (N=20,000 / 5,000) instead of the full ones")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats per case; medians are reported (default 3)")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help=f"run only these cases (repeatable or comma-separated): "
                             f"{', '.join(names)}")
    parser.add_argument("--seed", type=int, default=0, help="data / start seed (default 0)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every run's timings, CPU time, objective and RSS")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.only:
        wanted = [w.strip() for item in args.only for w in item.split(",") if w.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown case(s) {unknown}; choose from {names}")
        args.only = wanted
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    start = time.perf_counter()
    print("emkit vs scikit-learn: seconds per EM iteration "
          f"({'quick' if args.quick else 'full'} sizes, {args.repeats} repeat(s), "
          f"seed {args.seed})")
    print("command: " + " ".join([os.path.relpath(sys.executable), *sys.argv]))
    for line in environment_report():
        print(line)
    for line in kernels_report():
        print(line)
    print(flush=True)
    results = []
    for case in cases:
        t0 = time.perf_counter()
        try:
            res = run_case(case, quick=args.quick, repeats=args.repeats,
                           seed=args.seed + 1000 * CASES.index(case), verbose=args.verbose)
        except Exception as exc:  # keep going: one broken case should not hide the others
            res = Result(case, case.quick_n if args.quick else case.n,
                         error=f"{type(exc).__name__}: {exc}")
        results.append(res)
        print(f"... {case.name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    if results:
        _print_results(results)
    if not args.only or MISSING_CASE in args.only:
        print()
        for line in missing_values_report(quick=args.quick, repeats=args.repeats,
                                          seed=args.seed):
            print(line, flush=True)
    # time-to-convergence cases (benchmarks/acceleration.py)
    accelerated = [name for name in ACCELERATION_CASES
                   if not args.only or name in args.only]
    if accelerated:
        print()
        for line in acceleration_report(accelerated, quick=args.quick, repeats=args.repeats,
                                        seed=args.seed):
            print(line, flush=True)
    # discrete mixtures vs pomegranate / StepMix (benchmarks/discrete.py)
    discrete = [name for name in DISCRETE_CASES if not args.only or name in args.only]
    if discrete:
        print()
        for line in discrete_report(discrete, quick=args.quick, repeats=args.repeats,
                                    seed=args.seed):
            print(line, flush=True)
    # Bernoulli mixtures vs pomegranate / StepMix, GEMM rate, sparse (benchmarks/bernoulli.py)
    bernoulli_reports = dict(zip(BERNOULLI_CASES, (bernoulli_dense_report,
                                                   bernoulli_sparse_report), strict=True))
    for name, report in bernoulli_reports.items():
        if not args.only or name in args.only:
            print()
            for line in report(args.quick, args.repeats):
                print(line, flush=True)
    # Student-t mixtures against emkit's Gaussian (benchmarks/student_t.py)
    reports = {
        STUDENT_T_CASE: lambda: per_iteration_report(quick=args.quick, repeats=args.repeats,
                                                     seed=args.seed),
        STUDENT_T_CONVERGENCE: lambda: convergence_report(quick=args.quick, seed=args.seed),
        STUDENT_T_STARTS: lambda: starts_report(quick=args.quick, seed=args.seed),
    }
    for name, report in reports.items():
        if not args.only or name in args.only:
            print()
            for line in report():
                print(line, flush=True)
    # hidden Markov models vs hmmlearn (benchmarks/hmm_bench.py)
    hmm_cases = [name for name in HMM_CASES if not args.only or name in args.only]
    if hmm_cases:
        print()
        for line in hmm_report(hmm_cases, quick=args.quick, repeats=args.repeats,
                               seed=args.seed):
            print(line, flush=True)
    print(f"\ntotal time {time.perf_counter() - start:.1f} s")
    return 0


def _print_results(results: Sequence[Result]) -> None:
    print()
    print("s/it = median over repeats of (T(max_iter=a+b) - T(max_iter=a)) / b, wall clock;")
    print("ratio = emkit / sklearn (< 1 means emkit faster); obj rel diff = relative difference")
    print("of the mean log-likelihood (k-means: inertia) after a+b iterations ('!' > "
          f"{OBJECTIVE_RTOL:g});")
    print("spread = largest (max - min) / median of the per-run s/it of either library "
          "(machine noise);")
    print("dRSS = peak RSS increase during the a+b fit (median over repeats).")
    print()
    for line in table(results):
        print(line)
    print()
    for line in verdicts(results):
        print(line)
    for res in results:
        if res.case.float32 and res.error is None:
            print()
            for line in float32_report(res):
                print(line)
            for line in throughput_report(res):
                print(line, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
