# Makes tests/references/lca_haireyecolor.json: latent class analysis (a mixture of
# independent categorical variables, plain maximum likelihood) of R's HairEyeColor table
# (592 students by Hair (4), Eye (4) and Sex (2)): the 32 cells are the rows and their
# counts the weights.  flexmix has no driver for multi-level categorical variables and
# poLCA is not available here, so this is a plain, independent EM written from the model's
# definition (no emkit code), run for K = 2, 3 from a fixed starting partition of the cells
# (seeded, chosen so that every level of every variable occurs in every class: a hard start
# that leaves a level out of a class gives it probability exactly 0, which EM never leaves)
# for 5000 iterations, far past convergence.  emkit's CategoricalMixture from the same
# partition (labels_init, sample_weight = counts) must reach the same fixed point
# (tests/test_categorical.py).
# Run from the repository root:  Rscript tests/references/lca_haireyecolor.R
source(file.path("tests", "references", "json_writer.R"))
cells <- as.data.frame(HairEyeColor)
vars <- c("Hair", "Eye", "Sex")
X <- sapply(vars, function(v) as.integer(cells[[v]]))  # codes 1..L_j in R's level order
w <- cells$Freq
L <- sapply(vars, function(v) nlevels(cells[[v]]))

lca_em <- function(X, w, part, K, iterations) {
  n <- nrow(X)
  R <- matrix(0, n, K)
  R[cbind(seq_len(n), part)] <- 1
  for (it in seq_len(iterations)) {
    # M-step: class weights and level probabilities from weighted responsibilities
    Rw <- R * w
    weights <- colSums(Rw) / sum(Rw)
    P <- lapply(seq_along(L), function(j) {
      counts <- sapply(seq_len(L[j]), function(l) colSums(Rw[X[, j] == l, , drop = FALSE]))
      counts / rowSums(counts)  # K x L_j
    })
    # E-step: log pi_k + sum_j log P_j[k, x_j], normalised per row
    logf <- matrix(log(weights), n, K, byrow = TRUE)
    for (j in seq_along(L)) logf <- logf + t(log(P[[j]][, X[, j], drop = FALSE]))
    top <- apply(logf, 1, max)
    rowll <- top + log(rowSums(exp(logf - top)))
    R <- exp(logf - rowll)
  }
  list(weights = weights, probabilities = P, loglik = sum(w * rowll))
}

fits <- list()
for (K in 2:3) {
  seed <- 0
  repeat {
    seed <- seed + 1
    set.seed(seed)
    part <- sample(rep(seq_len(K), length.out = nrow(X)))
    ok <- all(sapply(seq_along(L), function(j) all(table(factor(X[, j], 1:L[j]),
                                                        factor(part, 1:K)) > 0)))
    if (ok) break
  }
  fit <- lca_em(X, w, part, K, 5000)
  fits[[as.character(K)]] <- list(
    k = K, seed = seed, partition = as.integer(part), loglik = fit$loglik,
    weights = fit$weights,
    probabilities = lapply(fit$probabilities, function(p) p))
}
write_json(list(
  source = paste("plain R EM (R", getRversion(), ") on HairEyeColor"),
  variables = vars,
  levels = lapply(vars, function(v) levels(cells[[v]])),
  X = unname(X - 1L), labels = lapply(vars, function(v) as.character(cells[[v]])),
  freq = as.numeric(w), fits = fits),
  file.path("tests", "references", "lca_haireyecolor.json"))
