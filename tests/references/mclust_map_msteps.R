# MAP M-steps of mclust 6.0.0 with its default prior (priorControl()), from the
# hierarchical partitions mclust itself starts from, on faithful and iris[, 1:4]
# (G = 2, 3, every model mclust has a prior for).
# Writes tests/references/mclust_map_msteps.json; re-run from the repository root:
#   Rscript tests/references/mclust_map_msteps.R
# Needs R with the mclust and jsonlite packages (apt-get install r-cran-mclust r-cran-jsonlite).
library(mclust)
library(jsonlite)
out <- list(mclust_version = as.character(packageVersion("mclust")), cells = list())
datasets <- list(faithful = as.matrix(faithful), iris = as.matrix(iris[, 1:4]))
for (data_name in names(datasets)) {
  X <- datasets[[data_name]]
  for (G in c(2, 3)) {
    cl <- as.vector(hclass(hc(X, modelName = "VVV", use = "SVD"), G))
    # mclustBIC drops EVE, VEE, VVE and EVV when a prior is given (no MAP step)
    for (m in setdiff(mclust.options("emModelNames"), c("EVE", "VEE", "VVE", "EVV"))) {
      ms <- mstep(X, modelName = m, z = unmap(cl), prior = priorControl())
      pp <- defaultPrior(X, G, m)
      out$cells[[length(out$cells) + 1]] <- list(
        data = data_name, G = G, model = m, partition = cl,
        sigma = ms$parameters$variance$sigma, mean = ms$parameters$mean,
        pro = ms$parameters$pro,
        prior = list(shrinkage = pp$shrinkage, mean = as.vector(pp$mean), dof = pp$dof,
                     scale = pp$scale))
    }
  }
}
write(toJSON(out, digits = NA, auto_unbox = TRUE), "tests/references/mclust_map_msteps.json")
