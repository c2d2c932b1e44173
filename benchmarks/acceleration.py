"""Time to convergence with EM acceleration: emkit plain, emkit SQUAREM, scikit-learn.

Cases ``accel-d2`` and ``accel-d10``: N = 100,000 rows (20,000 with ``--quick``)
of an *overlapping* K = 5 Gaussian mixture in D = 2 / D = 10 dimensions, full
covariances, ``tol = 1e-6`` on the mean log-likelihood for all three fits
(scikit-learn's ``tol`` has the same meaning), ``reg_covar = 1e-6``, the same
start (one scikit-learn EM iteration on a 20,000-row subsample, k-means++
seeding), ``max_iter = 10,000``.  Each fit is timed whole (wall clock); the fits
of a repeat are interleaved, the library order rotating between repeats;
medians are reported.  Besides the time, the report gives each fit's passes
over the data (emkit: ``EMResult.n_e_steps`` of the kept run; scikit-learn:
``n_iter_`` plus its final E-step) and the final mean log-likelihood
``score(X)`` of the fitted model (evaluated outside the timing) and how far
it is below the optimum (an untimed SQUAREM fit with ``tol = 1e-10``): with
``tol = 1e-6`` on a slow climb the three stop at different points.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
import emkit.models.gaussian_mixture as gaussian_mixture_module

#: Case name -> number of features.
CASES = {"accel-d2": 2, "accel-d10": 10}
NAMES = tuple(CASES)
N_FULL, N_QUICK, K = 100_000, 20_000, 5
TOL = 1e-6
#: Average distance between two component means (component scales are 0.5-1.5).
SEPARATION = 2.0
#: Issue 5: emkit SQUAREM's time to converge at most this fraction of scikit-learn's.
SQUAREM_TARGET = 0.2
LIBRARIES = ("emkit", "emkit-squarem", "sklearn")


def overlapping_mixture(n: int, d: int, k: int, seed: int) -> np.ndarray:
    """Seeded sample of a mixture whose components overlap heavily (rows shuffled).

    Two means are about ``SEPARATION`` (2) units apart on average, whatever
    ``d``; covariances have random orientations and scales 0.5-1.5 per
    direction; weights are Dirichlet(5).
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    counts = rng.multinomial(n, weights)
    means = rng.normal(scale=SEPARATION / np.sqrt(2.0 * d), size=(k, d))
    parts = []
    for j in range(k):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        scales = rng.uniform(0.5, 1.5, size=d)
        parts.append(rng.standard_normal((counts[j], d)) @ (q * scales).T + means[j])
    X = np.vstack(parts)
    return X[rng.permutation(n)]


def common_start(X: np.ndarray, k: int, seed: int) -> dict[str, np.ndarray]:
    """weights_init / means_init / precisions_init from one scikit-learn EM iteration."""
    rng = np.random.default_rng(seed)
    sub = X[np.sort(rng.choice(X.shape[0], size=min(X.shape[0], 20_000), replace=False))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = SkGaussianMixture(k, covariance_type="full", max_iter=1, tol=0.0,
                               init_params="k-means++", random_state=seed).fit(sub)
    return dict(weights_init=gm.weights_ / gm.weights_.sum(), means_init=gm.means_.copy(),
                precisions_init=gm.precisions_.copy())


@contextlib.contextmanager
def captured_em_results() -> Iterator[list]:
    """Collect the EMResult of every emkit GaussianMixture fit in the block."""
    results: list = []
    original = gaussian_mixture_module.fit_with_restarts

    def spy(*args: Any, **kwargs: Any):
        results.append(original(*args, **kwargs))
        return results[-1]

    gaussian_mixture_module.fit_with_restarts = spy
    try:
        yield results
    finally:
        gaussian_mixture_module.fit_with_restarts = original


def _estimator(library: str, start: dict[str, np.ndarray], tol: float) -> Any:
    common = dict(covariance_type="full", tol=tol, reg_covar=1e-6, max_iter=10_000, n_init=1,
                  random_state=0, **start)
    if library == "sklearn":
        return SkGaussianMixture(K, init_params="random_from_data", **common)
    return emkit.GaussianMixture(
        K, accelerate="squarem" if library == "emkit-squarem" else None, **common
    )


def _fit(
    library: str, start: dict[str, np.ndarray], X: np.ndarray, tol: float = TOL
) -> dict[str, float]:
    """One timed fit: seconds, passes over the data, final mean log-likelihood."""
    estimator = _estimator(library, start, tol)
    with warnings.catch_warnings(), captured_em_results() as results:
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        estimator.fit(X)
        seconds = time.perf_counter() - t0
    if library == "sklearn":
        passes = estimator.n_iter_ + 1  # its fit ends with one more E-step
    else:
        passes = results[-1].n_e_steps
    return dict(seconds=seconds, passes=float(passes), loglik=float(estimator.score(X)),
                converged=float(estimator.converged_))


def acceleration_report(
    names: Sequence[str], *, quick: bool, repeats: int, seed: int
) -> list[str]:
    """Report lines for the requested acceleration cases."""
    lines = []
    for name in names:
        d = CASES[name]
        n = N_QUICK if quick else N_FULL
        X = overlapping_mixture(n, d, K, seed + d)
        start = common_start(X, K, seed + d + 1)
        _fit("emkit", start, X[:2000])  # warm-up (imports, thread pools)
        runs: dict[str, list[dict[str, float]]] = {lib: [] for lib in LIBRARIES}
        for rep in range(repeats):
            order = LIBRARIES[rep % 3:] + LIBRARIES[: rep % 3]
            for library in order:
                runs[library].append(_fit(library, start, X))
        med = {lib: {key: statistics.median(r[key] for r in runs[lib]) for key in runs[lib][0]}
               for lib in LIBRARIES}
        # the optimum they are all climbing to: SQUAREM run to a tight tol (untimed)
        optimum = _fit("emkit-squarem", start, X, tol=1e-10)["loglik"]
        lines.append(f"{name}: N={n:,} D={d} K={K} full, overlapping components, "
                     f"tol={TOL:g}, {repeats} repeat(s), medians")
        lines.append(f"  {'library':<14} {'seconds':>8} {'passes':>7} {'converged':>9} "
                     f"{'final mean loglik':>18} {'below optimum':>13}")
        for lib in LIBRARIES:
            m = med[lib]
            lines.append(f"  {lib:<14} {m['seconds']:8.2f} {m['passes']:7.0f} "
                         f"{'yes' if m['converged'] == 1 else 'no':>9} {m['loglik']:18.10f} "
                         f"{optimum - m['loglik']:13.2e}")
        plain, sq, sk = (med[lib]["seconds"] for lib in LIBRARIES)
        lines.append(f"  time ratios: squarem/sklearn {sq / sk:.3f}  plain/sklearn "
                     f"{plain / sk:.3f}  squarem/plain {sq / plain:.3f}")
        at_least_as_good = med["emkit-squarem"]["loglik"] >= med["sklearn"]["loglik"]
        verdict = "PASS" if sq / sk <= SQUAREM_TARGET and at_least_as_good else "FAIL"
        lines.append(f"  {name}: squarem/sklearn {sq / sk:.3f}, target <= {SQUAREM_TARGET} "
                     f"at an equal or higher log-likelihood ({verdict})")
    return lines
