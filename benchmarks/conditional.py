"""Conditional mixtures: seconds per EM iteration against R's flexmix and mixtools,
a direct L-BFGS fit, and probit regression by EM against statsmodels' Newton.

Run from the repository root (R is used when ``Rscript`` is on the PATH with
flexmix and mixtools; otherwise the R columns say "not installed")::

    .venv/bin/python benchmarks/conditional.py            # full sizes
    .venv/bin/python benchmarks/conditional.py --quick    # small sizes, seconds

Cases

* ``regmix-1M``: RegressionMixture, N=1,000,000, D=20, K=5, Gaussian noise;
  emkit vs ``flexmix(y ~ ., k = 5)`` (FLXMRglm) vs mixtools ``regmixEM``
  (mixtools' E-step is an R loop over rows, so it runs on the first 100,000
  rows and its time is scaled by N / 100,000, which favours it);
* ``experts-100k``: MixtureOfExperts, N=100,000, D=10, K=5 (gate and experts
  on all inputs); emkit vs flexmix with a ``FLXPmultinom(~ .)`` concomitant;
* ``lbfgs``: the same regression mixture maximised directly with scipy's
  L-BFGS on an unconstrained parametrisation (softmax weights, log standard
  deviations), seconds per objective-and-gradient evaluation;
* ``probit``: iterations and seconds to the optimum (mean log-likelihood change
  below 1e-8 per row ... 1e-12) for plain EM, SQUAREM and statsmodels' Newton
  ``Probit`` (when statsmodels is installed).

Method: the same seeded data and the same starting partition for every
library; the time of one EM iteration is ``(T(max_iter=a+b) - T(max_iter=a)) / b``
so set-up and initialisation cancel (R: ``iter.max``/``maxit`` a and a+b, timed
inside R with ``system.time``).  Medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

import emkit
from emkit.exceptions import ConvergenceWarning

R_ROWS_MIXTOOLS = 100_000


def regression_data(n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    coef = rng.normal(0, 2, size=(k, d))
    intercept = rng.normal(0, 3, size=k)
    regime = rng.integers(k, size=n)
    y = np.einsum("nd,nd->n", X, coef[regime]) + intercept[regime] + rng.normal(0, 1, n)
    partition = np.where(rng.random(n) < 0.7, regime, rng.integers(k, size=n))
    return X, y, partition


def experts_data(n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    gate = rng.normal(0, 1.5, size=(k, d))
    logits = X @ gate.T
    u = rng.random(n)[:, None]
    probs = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    regime = np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), k - 1)
    coef = rng.normal(0, 2, size=(k, d))
    y = np.einsum("nd,nd->n", X, coef[regime]) + rng.normal(0, 1, n)
    partition = np.where(rng.random(n) < 0.7, regime, rng.integers(k, size=n))
    return X, y, partition


def emkit_per_iteration(make, X, y, a: int, b: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        spans = []
        for max_iter in (a, a + b):
            estimator = make(max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                estimator.fit(X, y)
                spans.append(time.perf_counter() - t0)
        times.append((spans[1] - spans[0]) / b)
    return statistics.median(times)


R_SCRIPT = r"""
suppressMessages({library(flexmix); library(mixtools)})
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]; n <- as.integer(args[2]); d <- as.integer(args[3]); k <- as.integer(args[4])
a <- as.integer(args[5]); b <- as.integer(args[6]); what <- args[7]; rows_mix <- as.integer(args[8])
con <- file(path, "rb"); Z <- matrix(readBin(con, "double", n * (d + 2)), ncol = d + 2); close(con)
X <- Z[, 1:d, drop = FALSE]; y <- Z[, d + 1]; part <- as.integer(Z[, d + 2]) + 1L
df <- data.frame(y = y, X)
ctl <- function(it) list(iter.max = it, tolerance = 0, minprior = 0)
time_flexmix <- function(it) {
  if (what == "experts") {
    system.time(flexmix(y ~ ., data = df, k = k, cluster = part, control = ctl(it),
                        concomitant = FLXPmultinom(~ . - y)))[["elapsed"]]
  } else {
    system.time(flexmix(y ~ ., data = df, k = k, cluster = part, control = ctl(it)))[["elapsed"]]
  }
}
fx <- (time_flexmix(a + b) - time_flexmix(a)) / b
mx <- NA
if (what == "regression") {
  m <- min(n, rows_mix); Xm <- X[1:m, , drop = FALSE]; ym <- y[1:m]
  start <- lapply(1:k, function(j) lm.fit(cbind(1, Xm[part[1:m] == j, , drop = FALSE]),
                                          ym[part[1:m] == j]))
  beta <- sapply(start, coef); sig <- sapply(start, function(f) sqrt(mean(f$residuals^2)))
  lam <- tabulate(part[1:m], k) / m
  tm <- function(it) system.time(regmixEM(ym, Xm, lambda = lam, beta = beta, sigma = sig,
                                          k = k, epsilon = -1, maxit = it))[["elapsed"]]
  mx <- (tm(a + b) - tm(a)) / b * (n / m)
}
cat(sprintf("%.6f %.6f\n", fx, mx))
"""


def r_per_iteration(X, y, partition, k: int, a: int, b: int, what: str) -> tuple[float, float]:
    """(flexmix s/it, mixtools s/it scaled to all rows) timed in R, or NaN when R is absent."""
    if shutil.which("Rscript") is None:
        return float("nan"), float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.bin"
        np.column_stack([X, y, partition]).astype(np.float64).ravel(order="F").tofile(data)
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        done = subprocess.run(
            ["Rscript", str(script), str(data), str(X.shape[0]), str(X.shape[1]), str(k),
             str(a), str(b), what, str(R_ROWS_MIXTOOLS)],
            capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return float("nan"), float("nan")
    flexmix_s, mixtools_s = (float(v) if v != "NA" else float("nan")
                             for v in done.stdout.split()[-2:])
    return flexmix_s, mixtools_s


def lbfgs_per_evaluation(X, y, k: int, evaluations: int = 5) -> float:
    """Seconds per objective-and-gradient evaluation of the direct fit (numpy, analytic)."""
    n, d = X.shape
    A = np.hstack([np.ones((n, 1)), X])

    def objective(theta):
        logit = theta[:k]
        beta = theta[k:k + k * (d + 1)].reshape(k, d + 1)
        log_sd = theta[k + k * (d + 1):]
        log_w = logit - logsumexp(logit)
        resid = y[:, None] - A @ beta.T
        z = resid * np.exp(-log_sd)
        log_dens = -0.5 * z * z - log_sd - 0.5 * np.log(2 * np.pi) + log_w
        norm = logsumexp(log_dens, axis=1)
        r = np.exp(log_dens - norm[:, None])
        grad_logit = r.sum(axis=0) - n * np.exp(log_w)
        grad_beta = (r * z * np.exp(-log_sd)).T @ A
        grad_sd = (r * (z * z - 1)).sum(axis=0)
        return -norm.sum(), -np.concatenate([grad_logit, grad_beta.ravel(), grad_sd])

    theta = np.concatenate([np.zeros(k), np.zeros(k * (d + 1)), np.zeros(k)])
    t0 = time.perf_counter()
    result = minimize(objective, theta, jac=True, method="L-BFGS-B",
                      options={"maxiter": evaluations, "maxfun": evaluations})
    return (time.perf_counter() - t0) / max(result.nfev, 1)


def probit_report(quick: bool) -> list[str]:
    n = 20_000 if quick else 200_000
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, 10))
    X[:, 1] += 0.7 * X[:, 0]
    y = (X @ rng.normal(0, 0.7, 10) + 0.2 + rng.normal(size=n) > 0).astype(int)
    lines = [f"probit: N={n:,} D=10; iterations and seconds until the mean log-likelihood "
             "changes by less than tol"]
    for tol in (1e-8, 1e-12):
        for accelerate in (None, "squarem"):
            t0 = time.perf_counter()
            fit = emkit.ProbitRegression(accelerate=accelerate, tol=tol,
                                         max_iter=100_000).fit(X, y)
            seconds = time.perf_counter() - t0
            lines.append(f"  tol={tol:.0e} emkit {accelerate or 'plain EM':9s} "
                         f"{fit.n_iter_:6d} it  {seconds:8.3f} s  "
                         f"loglik/row {fit.lower_bound_:.12f}")
    try:
        import statsmodels.api as sm
    except ImportError:
        lines.append("  statsmodels: not installed")
        return lines
    t0 = time.perf_counter()
    result = sm.Probit(y, sm.add_constant(X)).fit(method="newton", tol=1e-12, disp=0)
    seconds = time.perf_counter() - t0
    lines.append(f"  statsmodels Newton        {result.mle_retvals['iterations']:6d} it  "
                 f"{seconds:8.3f} s  loglik/row {result.llf / n:.12f}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="regmix-1M,experts-100k,lbfgs,probit")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    print(f"emkit {emkit.__version__}; R: "
          f"{'Rscript found' if shutil.which('Rscript') else 'not installed (R columns NaN)'}")
    rows = []
    k = 5
    if "regmix-1M" in only or "lbfgs" in only:
        n, d = (50_000 if args.quick else 1_000_000), 20
        X, y, part = regression_data(n, d, k, args.seed)
        if "regmix-1M" in only:
            ours = emkit_per_iteration(
                lambda it: emkit.RegressionMixture(k, labels_init=part, tol=0.0, max_iter=it),
                X, y, 1, 3, args.repeats)
            flex, mix = r_per_iteration(X, y, part, k, 1, 3, "regression")
            rows.append(("regmix-1M", n, d, ours, flex, mix))
        if "lbfgs" in only:
            print(f"lbfgs: N={n:,} D={d} K={k}: {lbfgs_per_evaluation(X, y, k):.4f} s per "
                  "objective+gradient evaluation (numpy); L-BFGS needs one or more per "
                  "iteration")
    if "experts-100k" in only:
        n, d = (20_000 if args.quick else 100_000), 10
        X, y, part = experts_data(n, d, k, args.seed)
        ours = emkit_per_iteration(
            lambda it: emkit.MixtureOfExperts(k, labels_init=part, tol=0.0, max_iter=it),
            X, y, 1, 3, args.repeats)
        flex, _ = r_per_iteration(X, y, part, k, 1, 3, "experts")
        rows.append(("experts-100k", n, d, ours, flex, float("nan")))
    if rows:
        print(f"{'case':14s} {'N':>10s} {'D':>3s} {'emkit s/it':>11s} {'flexmix s/it':>13s} "
              f"{'ratio':>7s} {'mixtools s/it':>14s} {'ratio':>7s}  (target: emkit <= 0.1x "
              "flexmix)")
        for name, n, d, ours, flex, mix in rows:
            print(f"{name:14s} {n:>10,d} {d:>3d} {ours:11.4f} {flex:13.4f} {ours / flex:7.3f} "
                  f"{mix:14.4f} {ours / mix:7.3f}")
    if "probit" in only:
        print("\n".join(probit_report(args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
