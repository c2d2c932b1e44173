# Reference fixture for emkit's SQUAREM: univariate Gaussian mixture EM on Old
# Faithful, accelerated with R's SQUAREM::squarem() (default control, tighter
# tol) and run plain with SQUAREM::fpiter().
#
# Run from the repository root:
#
#     Rscript tests/references/squarem_faithful.R
#
# It writes tests/references/squarem_faithful.json (no R package beyond
# SQUAREM is needed: the JSON is written by hand).  tests/test_accelerate.py
# checks emkit against that file; it never runs R.
#
# Parameter vector (same order and scale as emkit's
# GaussianMixtureModel.to_vector for 1-D "spherical"/"diag" mixtures):
#     par = c(weights[1:K], means[1:K], variances[1:K])
# The EM map is the plain closed-form M-step (no regularisation); the objective
# given to squarem() is the negative log-likelihood (summed over rows).
# squarem.loglik_path is the log-likelihood of the start and of every accepted
# SQUAREM step (from control intermed = TRUE).

suppressPackageStartupMessages(library(SQUAREM))

unpack <- function(par, K) {
  list(w = par[1:K], mu = par[(K + 1):(2 * K)], v = par[(2 * K + 1):(3 * K)])
}

# log(w_k) + log N(x | mu_k, v_k), an n x K matrix
log_joint <- function(par, x, K) {
  p <- unpack(par, K)
  sapply(1:K, function(k) log(p$w[k]) + dnorm(x, p$mu[k], sqrt(p$v[k]), log = TRUE))
}

row_logsumexp <- function(a) {
  m <- apply(a, 1, max)
  m + log(rowSums(exp(a - m)))
}

em_map <- function(par, x, K) {
  lj <- log_joint(par, x, K)
  resp <- exp(lj - row_logsumexp(lj))
  nk <- colSums(resp)
  w <- nk / length(x)
  mu <- colSums(resp * x) / nk
  v <- colSums(resp * outer(x, mu, "-")^2) / nk
  c(w, mu, v)
}

negloglik <- function(par, x, K) {
  p <- unpack(par, K)
  if (any(p$w < 0) || any(p$v <= 0)) return(NaN)
  -sum(row_logsumexp(log_joint(par, x, K)))
}

TOL <- 1e-10
MAXITER <- 100000

run_case <- function(name, column, start) {
  x <- faithful[[column]]
  K <- length(start) / 3
  sq <- squarem(par = start, fixptfn = em_map, objfn = negloglik, x = x, K = K,
                control = list(tol = TOL, maxiter = MAXITER, intermed = TRUE))
  fp <- fpiter(par = start, fixptfn = em_map, objfn = negloglik, x = x, K = K,
               control = list(tol = TOL, maxiter = MAXITER))
  list(name = name, column = column, K = K, start = start,
       squarem = list(par = sq$par, loglik = -negloglik(sq$par, x, K),
                      fpevals = sq$fpevals, objfevals = sq$objfevals,
                      iter = sq$iter, convergence = sq$convergence,
                      loglik_path = -sq$p.intermed[, ncol(sq$p.intermed)]),
       fpiter = list(par = fp$par, loglik = -negloglik(fp$par, x, K),
                     fpevals = fp$fpevals, objfevals = fp$objfevals,
                     convergence = fp$convergence))
}

cases <- list(
  run_case("waiting_k2", "waiting", c(0.5, 0.5, 55, 80, 100, 100)),
  run_case("eruptions_k3", "eruptions",
           c(1 / 3, 1 / 3, 1 / 3, 2.0, 3.5, 4.5, 0.5, 0.5, 0.5))
)

# ---------------------------------------------------------------- JSON writer
num <- function(v) {
  if (is.logical(v)) return(if (v) "true" else "false")
  s <- sprintf("%.17g", v)
  if (length(v) == 1) s else paste0("[", paste(s, collapse = ", "), "]")
}
obj <- function(fields, indent) {
  pad <- strrep(" ", indent)
  inner <- strrep(" ", indent + 2)
  body <- sapply(names(fields), function(k) {
    v <- fields[[k]]
    val <- if (is.list(v)) obj(v, indent + 2)
           else if (is.character(v)) sprintf("\"%s\"", v)
           else num(v)
    sprintf("%s\"%s\": %s", inner, k, val)
  })
  paste0("{\n", paste(body, collapse = ",\n"), "\n", pad, "}")
}

meta <- list(
  generator = "tests/references/squarem_faithful.R",
  r_version = R.version.string,
  squarem_version = as.character(packageVersion("SQUAREM")),
  tol = TOL,
  note = paste("par = c(weights, means, variances); loglik summed over rows;",
               "squarem() default control except tol (and intermed = TRUE);",
               "fpiter() plain EM")
)
out <- paste0(
  "{\n  \"meta\": ", obj(meta, 2), ",\n  \"cases\": [\n",
  paste(sapply(cases, function(case) paste0("    ", obj(case, 4))), collapse = ",\n"),
  "\n  ]\n}\n"
)
path <- file.path("tests", "references", "squarem_faithful.json")
writeLines(out, path, sep = "")
for (case in cases) {
  cat(sprintf("%-13s squarem fpevals %4d objfevals %4d loglik %.12f | fpiter fpevals %5d loglik %.12f\n",
              case$name, case$squarem$fpevals, case$squarem$objfevals, case$squarem$loglik,
              case$fpiter$fpevals, case$fpiter$loglik))
}
