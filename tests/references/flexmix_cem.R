# Makes tests/references/flexmix_cem.json: flexmix's classification EM (CEM,
# FLXcontrol(classify = "CEM"), Celeux & Govaert 1992) for FLXMCmvpois (mixture of
# independent Poissons) on its `dmft` data (797 children, columns Begin, End), K = 2, 3 (K = 4 empties a component and flexmix stops with an NA log-likelihood),
# each from a fixed deterministic starting partition (the same as flexmix_poisson.R), with
# minprior = 0 (no component removal), tolerance = 0 and up to 1000 iterations: CEM stops
# changing once the partition is fixed, so the result is CEM's fixed point from that start.
# emkit's PoissonMixture(assignment="hard") from the same partition (labels_init) must reach
# the same partition and parameters (tests/test_variants.py).
# Run from the repository root:  Rscript tests/references/flexmix_cem.R
suppressMessages(library(flexmix))
source(file.path("tests", "references", "json_writer.R"))
data("dmft", package = "flexmix")
X <- as.matrix(dmft[, c("Begin", "End")])
storage.mode(X) <- "integer"
fits <- list()
for (k in 2:3) {
  part <- rep(seq_len(k), length.out = nrow(X))
  fit <- flexmix(X ~ 1, model = FLXMCmvpois(), cluster = part,
                 control = list(minprior = 0, tolerance = 0, iter.max = 1000,
                                classify = "CEM"))
  rates <- t(sapply(fit@components, function(comp) comp[[1]]@parameters$lambda))
  fits[[as.character(k)]] <- list(
    k = k, partition = as.integer(part), cluster = as.integer(clusters(fit)),
    loglik = as.numeric(logLik(fit)), iterations = fit@iter,
    weights = as.numeric(fit@prior), rates = rates)
}
write_json(list(
  source = paste("flexmix", packageVersion("flexmix"),
                 "FLXMCmvpois with classify = 'CEM' on dmft (Begin, End)"),
  fits = fits),
  file.path("tests", "references", "flexmix_cem.json"))
