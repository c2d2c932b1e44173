# Makes tests/references/flexmix_poisson.json: flexmix's FLXMCmvpois (plain ML mixture of
# independent Poissons) on its `dmft` data (797 children, decayed/missing/filled teeth counts
# at the beginning and end of a dental health study: columns Begin, End), K = 2, 3, 4, each
# from a fixed deterministic starting partition, iterated up to 50000 times (tolerance 0), far past
# convergence, so that the parameters (not only the log-likelihood) sit at the fixed point.
# emkit's PoissonMixture from the same partition (labels_init) must reach the same fixed
# point (tests/test_poisson.py).
# Run from the repository root:  Rscript tests/references/flexmix_poisson.R
# (flexmix 2.3-18 from Debian's r-cran-flexmix.)
suppressMessages(library(flexmix))
source(file.path("tests", "references", "json_writer.R"))
data("dmft", package = "flexmix")
X <- as.matrix(dmft[, c("Begin", "End")])
storage.mode(X) <- "integer"
fits <- list()
for (k in 2:4) {
  part <- rep(seq_len(k), length.out = nrow(X))
  fit <- flexmix(X ~ 1, model = FLXMCmvpois(), cluster = part,
                 control = list(minprior = 0, tolerance = 0, iter.max = 50000))
  rates <- t(sapply(fit@components, function(comp) comp[[1]]@parameters$lambda))
  fits[[as.character(k)]] <- list(
    k = k, partition = as.integer(part), loglik = as.numeric(logLik(fit)),
    iterations = fit@iter, converged = fit@converged,
    weights = as.numeric(fit@prior), rates = rates)
}
write_json(list(
  source = paste("flexmix", packageVersion("flexmix"), "FLXMCmvpois on dmft (Begin, End)"),
  columns = colnames(X), X = unname(X), fits = fits),
  file.path("tests", "references", "flexmix_poisson.json"))
