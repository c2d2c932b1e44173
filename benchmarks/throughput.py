"""How close to the machine the D=50 E-step runs, float32 against float64, and the kernels.

* :func:`throughput_report`: achieved GFLOP/s of one emkit EM iteration on the
  ``gmm-full-d50`` case, counting the GEMM work of the E-step and statistics,
  ``2 N K D (D + 1)`` (the projections ``(x - m_k) P_k`` of all rows and
  components, with the mean row) ``+ 2 N K D^2`` (the second moments
  ``sum_i r_ik (x_i - m_k)(x_i - m_k)'``), against float64 GEMMs measured in the
  same run with all BLAS threads: the E-step's own shape
  ``(rows x (D+1)) @ ((D+1) x K D)`` and a square 2048^3 product.  The M-step
  (K Cholesky factorisations of D x D matrices) and the O(N K D) terms are in
  the time but not in the count, so the figure is a lower bound.
* :func:`float32_report`: emkit with ``dtype="float32"`` against float64 on the
  same case (same start, same interleaved repeats): speed-up and the relative
  difference of the fitted mean log-likelihood.
* :func:`kernels_report`: which E-step kernels run (numba or NumPy) and how
  long loading (or, the first time on a machine, compiling) them takes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import emkit
from emkit import _kernels
from emkit.families.gaussian import GaussianMixtureModel

#: float32 targets (issue 5): speed-up over float64 and log-likelihood agreement.
FLOAT32_SPEEDUP_TARGET = 1.6
FLOAT32_RTOL_TARGET = 1e-5
#: Achieved fraction of the GEMM rate targeted on the D=50 case.
GEMM_FRACTION_TARGET = 0.5
#: Rows of the E-step-shaped reference GEMM (its output stays ~64 MB).
REFERENCE_ROWS = 8192


def estep_flops(n: int, d: int, k: int) -> float:
    """GEMM flops of one full-covariance E-step + statistics (see module docstring)."""
    return 2.0 * n * k * d * (d + 1) + 2.0 * n * k * d * d


def gemm_rate(rows: int, inner: int, cols: int, dtype: type, repeats: int = 5) -> float:
    """Best GFLOP/s of ``(rows x inner) @ (inner x cols)`` with every BLAS thread."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inner)).astype(dtype)
    b = rng.standard_normal((inner, cols)).astype(dtype)
    out = np.empty((rows, cols), dtype=dtype)
    best = np.inf
    with threadpool_limits(limits=os.cpu_count(), user_api="blas"):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * rows * inner * cols / best / 1e9


def throughput_report(res: Any) -> list[str]:
    """Achieved GFLOP/s of emkit (float64 and float32) against GEMMs of this run."""
    c = res.case
    flops = estep_flops(res.n, c.d, c.k)
    rates = {}
    for dtype in (np.float64, np.float32):
        rates[dtype] = (
            gemm_rate(REFERENCE_ROWS, c.d + 1, c.k * c.d, dtype),
            gemm_rate(2048, 2048, 2048, dtype, repeats=3),
        )
    lines = [
        f"{c.name} throughput: {flops / 1e9:.1f} GFLOP per iteration counted "
        f"(2NKD(D+1) + 2NKD^2, N={res.n:,} D={c.d} K={c.k})",
    ]
    for dtype, lib in ((np.float64, "emkit"), (np.float32, "emkit32")):
        per_iter = res.median(lib)
        achieved = flops / per_iter / 1e9 if per_iter > 0 else float("nan")
        skinny, square = rates[dtype]
        reference = max(skinny, square)
        fraction = achieved / reference
        name = np.dtype(dtype).name
        verdict = "PASS" if fraction >= GEMM_FRACTION_TARGET else "FAIL"
        lines.append(
            f"  {name}: emkit {achieved:6.1f} GFLOP/s   GEMM {skinny:6.1f} "
            f"({REFERENCE_ROWS}x{c.d + 1} @ {c.d + 1}x{c.k * c.d}), {square:6.1f} (2048^3)   "
            f"achieved / best GEMM = {fraction:.0%}"
            + (f" (target >= {GEMM_FRACTION_TARGET:.0%}: {verdict})" if dtype is np.float64
               else "")
        )
    return lines


def float32_report(res: Any) -> list[str]:
    """float32 against float64 emkit on the same case: speed-up and log-likelihood."""
    t64, t32 = res.median("emkit"), res.median("emkit32")
    speedup = t64 / t32 if t32 > 0 else float("nan")
    diffs = [
        abs(a.objective - b.objective) / max(abs(b.objective), 1e-300)
        for a, b in zip(res.emkit32, res.emkit, strict=True)
    ]
    rel = max(diffs) if diffs else float("nan")
    ok = speedup >= FLOAT32_SPEEDUP_TARGET and rel <= FLOAT32_RTOL_TARGET
    return [
        f"{res.case.name} float32 opt-in (GaussianMixture(dtype='float32'), same start):",
        f"  emkit float64 {t64:.4f} s/it   emkit float32 {t32:.4f} s/it   "
        f"speed-up {speedup:.2f}x (target >= {FLOAT32_SPEEDUP_TARGET}x)",
        f"  mean log-likelihood after {res.case.a + res.case.b} iterations: relative "
        f"difference {rel:.1e} (target <= {FLOAT32_RTOL_TARGET:g})   "
        f"{'PASS' if ok else 'FAIL'}",
    ]


def kernels_report() -> list[str]:
    """Which E-step kernels run, and the time to load (or first compile) them."""
    mode = emkit.get_config()["kernels"]
    if not _kernels.numba_available() or mode == "numpy":
        why = "numba not installed" if not _kernels.numba_available() else "kernels='numpy'"
        return [f"E-step kernels: NumPy only ({why})"]
    t0 = time.perf_counter()
    module = _kernels.compiled()  # imports numba
    imported = time.perf_counter() - t0
    import numba

    rng = np.random.default_rng(0)
    X, w = rng.standard_normal((64, 3)), np.ones(64)
    t0 = time.perf_counter()
    _kernels.kmeans_assign(X, w, X[:4])
    for name in ("full", "tied", "diag"):
        gm = GaussianMixtureModel(name)
        params = gm.params_from_responsibilities(X, w, rng.dirichlet(np.ones(2), 64), 64)
        _kernels.gaussian_e_step(gm._fused_form(params), X, w)
    loaded = time.perf_counter() - t0
    return [
        f"E-step kernels: numba {numba.__version__} (kernels={mode!r}); import "
        f"{imported:.2f} s, first calls (load from numba's disk cache, or compile) "
        f"{loaded:.2f} s ({module.__name__})",
    ]
