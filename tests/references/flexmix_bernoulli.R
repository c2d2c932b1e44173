# Makes tests/references/flexmix_bernoulli.json: flexmix's FLXMCmvbinary (plain ML
# Bernoulli mixture) on its `whiskey` data (484 brand-incidence patterns x 21 brands,
# frequency weights Freq, 2218 respondents), K = 2, 3, 4, each from a fixed
# deterministic starting partition, iterated 4000 times (tolerance 0), far past
# convergence, so that the parameters (not only the log-likelihood) sit at the fixed point.  emkit's
# BernoulliMixture from the same partition (labels_init, sample_weight = Freq) must
# reach the same fixed point (tests/test_bernoulli.py).
# Run from the repository root:  Rscript tests/references/flexmix_bernoulli.R
# (flexmix 2.3-18 from Debian's r-cran-flexmix.)
suppressMessages(library(flexmix))
source(file.path("tests", "references", "json_writer.R"))
data("whiskey", package = "flexmix")
X <- whiskey$Incidence
storage.mode(X) <- "integer"
freq <- whiskey$Freq
fits <- list()
for (k in 2:4) {
  part <- rep(seq_len(k), length.out = nrow(X))
  fit <- flexmix(X ~ 1, model = FLXMCmvbinary(), cluster = part, weights = freq,
                 control = list(minprior = 0, tolerance = 0, iter.max = 4000))
  centers <- t(sapply(fit@components, function(comp) comp[[1]]@parameters$center))
  fits[[as.character(k)]] <- list(
    k = k, partition = as.integer(part), loglik = as.numeric(logLik(fit)),
    iterations = fit@iter, converged = fit@converged,
    weights = as.numeric(fit@prior), probabilities = centers)
}
write_json(list(
  source = paste("flexmix", packageVersion("flexmix"), "FLXMCmvbinary on whiskey"),
  X = unname(X), freq = as.numeric(freq), fits = fits),
  file.path("tests", "references", "flexmix_bernoulli.json"))
