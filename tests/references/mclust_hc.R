# Reference fixture for emkit.hierarchical: mclust's model-based agglomerative
# hierarchical clustering (hc), its cuts (hclass) and 1-D quantile classes
# (qclass), i.e. the partitions mclust starts EM from.
#
# Run from the repository root (needs R and the mclust package, written
# against mclust 6.0.0):
#
#     Rscript tests/references/mclust_hc.R
#
# It writes tests/references/mclust_hc.json (no R package beyond mclust is
# needed: the JSON is written by hand, doubles with 17 significant digits).
# tests/test_hierarchical.py checks emkit against that file; it never runs R.
#
# Contents of the JSON:
#   hc[]      one entry per data set:
#             source  "faithful" (R's faithful = emkit.datasets.load_faithful()),
#                     "iris" (iris[, 1:4] = sklearn.datasets.load_iris().data)
#                     or "inline" (the rows are in `data`);
#             model, use, partition ("singletons" = hc's default, every row
#                     alone; "duplicates" = partition = dupPartition(X));
#             pairs   t(hc(...)): the merges, 1-based labels as in R;
#             costs   the cost of every merge as mclust's Fortran returns it
#                     (hcvvv / hceii; hc() computes and then drops them);
#             hclass  hclass(hc, G) for G = 1..min(9, n), one row per G,
#                     labels 1..G as in R;
#             svd_data (some sets) hc's transformed data, attr(hc, "data").
#   qclass[]  source "faithful$waiting", "faithful$eruptions" or "inline" (x),
#             classes[k] = mclust:::qclass(x, k) for k = 1..9 (or fewer).
#
# Mclust()/mclustBIC() with default settings start from exactly
# hclass(hc(X, modelName = "VVV", use = "SVD"), G) when 1 < d < n <= 2000;
# the script checks that for faithful and iris.

suppressPackageStartupMessages(library(mclust))

if (packageVersion("mclust") != "6.0.0") {
  warning("fixture written against mclust 6.0.0, running ", packageVersion("mclust"))
}

# ---------------------------------------------------------------- JSON writer

num <- function(x) {
  out <- sprintf("%.17g", x)
  out[x == round(x) & abs(x) < 1e15] <- sprintf("%.0f", x[x == round(x) & abs(x) < 1e15])
  out
}
json_array <- function(x) paste0("[", paste(x, collapse = ","), "]")
json_vec <- function(x) json_array(num(x))
json_rows <- function(m) json_array(apply(m, 1, json_vec))
json_str <- function(s) if (is.null(s)) "null" else paste0("\"", s, "\"")
json_object <- function(fields) {
  keep <- !vapply(fields, is.null, logical(1))
  body <- paste0("\"", names(fields)[keep], "\": ", unlist(fields[keep]))
  paste0("{\n    ", paste(body, collapse = ",\n    "), "\n  }")
}

# ------------------------------------------------------------ merge costs

# The merge costs mclust's Fortran returns (hcVVV/hcEII compute them, then
# drop them); the pairs it returns are checked against hc()'s.
hc_costs <- function(h) {
  data <- attr(h, "data")
  partition <- as.integer(attr(h, "initialPartition"))
  n <- nrow(data); p <- ncol(data); l <- length(unique(partition)); m <- l - 1
  if (attr(h, "modelName") == "VVV") {
    ld <- max(n, (l * (l - 1)) / 2 + 1, 3 * m)
    alpha <- max(mclust:::traceW(data / sqrt(n * p)), .Machine$double.eps)
    out <- .Fortran("hcvvv", cbind(data, 0), as.integer(n), as.integer(p), partition,
                    as.integer(l), as.integer(m), as.double(alpha), as.double(1),
                    double(p), double(p * p), double(p * p), double(p * p),
                    as.integer(ld), double(ld), PACKAGE = "mclust")
    pairs <- out[[1]][1:m, 1:2, drop = FALSE]
    costs <- out[[14]][1:m]
  } else {
    ld <- max(c((l * (l - 1)) / 2, 3 * m))
    out <- .Fortran("hceii", data, as.integer(n), as.integer(p), partition,
                    as.integer(l), as.integer(m), double(p), as.integer(ld),
                    double(ld), PACKAGE = "mclust")
    pairs <- out[[1]][1:m, 1:2, drop = FALSE]
    costs <- out[[9]][1:m]
  }
  stopifnot(all(t(pairs) == unclass(h)[1:2, ]))
  costs
}

hc_entry <- function(name, X, source, model = "VVV", use = "SVD",
                     duplicates = FALSE, with_svd_data = FALSE) {
  X <- as.matrix(X)
  dimnames(X) <- NULL
  h <- if (duplicates) {
    hc(X, modelName = model, use = use, partition = dupPartition(X))
  } else {
    hc(X, modelName = model, use = use)
  }
  G <- 1:min(9, nrow(X))
  cl <- hclass(h, G)
  json_object(list(
    name = json_str(name),
    source = json_str(source),
    model = json_str(model),
    use = json_str(use),
    partition = json_str(if (duplicates) "duplicates" else "singletons"),
    n = num(nrow(X)),
    d = num(ncol(X)),
    data = if (source == "inline") json_rows(X) else NULL,
    pairs = json_rows(t(unclass(h)[1:2, , drop = FALSE])),
    costs = json_vec(hc_costs(h)),
    hclass = json_rows(t(cl)),
    svd_data = if (with_svd_data) json_rows(attr(h, "data")) else NULL
  ))
}

qclass_entry <- function(name, x, source) {
  K <- 1:min(9, length(unique(x)))
  cl <- sapply(K, function(k) mclust:::qclass(x, k))
  json_object(list(
    name = json_str(name),
    source = json_str(source),
    x = if (source == "inline") json_vec(x) else NULL,
    classes = json_rows(t(cl))
  ))
}

# ---------------------------------------------------- what Mclust starts from

for (X in list(as.matrix(faithful), as.matrix(iris[, 1:4]))) {
  bic <- mclustBIC(X, verbose = FALSE)
  stopifnot(all(attr(bic, "initialization")$hcPairs == hc(X, modelName = "VVV", use = "SVD")))
}

# -------------------------------------------------------------- data sets

# Gaussian clusters with duplicated rows (pairs, triples and a quadruple)
set.seed(20240601)
base <- rbind(matrix(rnorm(30 * 3), 30, 3),
              matrix(rnorm(30 * 3, mean = 3), 30, 3) %*% diag(c(1, 0.5, 2)))
dups <- base[c(1:60, 2, 2, 5, 5, 5, 11, 40, 40, 40, 47), ]
dups <- dups[sample(nrow(dups)), ]

# five dimensions, three clusters with different covariances
set.seed(20240602)
gauss5 <- do.call(rbind, lapply(1:3, function(k) {
  A <- matrix(rnorm(25), 5, 5)
  matrix(rnorm(70 * 5), 70, 5) %*% A + matrix(4 * rnorm(5), 70, 5, byrow = TRUE)
}))

# fewer rows than columns: mclust then uses model "EII"
set.seed(20240603)
wide <- matrix(rnorm(6 * 10), 6, 10)

# 1-D with ties
set.seed(20240604)
ties1d <- round(rnorm(60), 1)
small1d <- c(1, 1, 1, 2, 2, 3, 10, 10, 10, 10)

hc_entries <- c(
  hc_entry("faithful", faithful, "faithful"),
  hc_entry("iris", iris[, 1:4], "iris"),
  hc_entry("faithful_duplicates", faithful, "faithful", duplicates = TRUE),
  hc_entry("duplicated_rows", dups, "inline"),
  hc_entry("gauss5", gauss5, "inline", with_svd_data = TRUE),
  hc_entry("wide_eii", wide, "inline", model = "EII")
)
qclass_entries <- c(
  qclass_entry("waiting", faithful$waiting, "faithful$waiting"),
  qclass_entry("eruptions", faithful$eruptions, "faithful$eruptions"),
  qclass_entry("ties", ties1d, "inline"),
  qclass_entry("small", small1d, "inline")
)

json <- paste0(
  "{\n",
  "\"generated_by\": \"tests/references/mclust_hc.R\",\n",
  "\"R_version\": \"", paste(R.version$major, R.version$minor, sep = "."), "\",\n",
  "\"mclust_version\": \"", packageVersion("mclust"), "\",\n",
  "\"hc\": [\n  ", paste(hc_entries, collapse = ",\n  "), "\n],\n",
  "\"qclass\": [\n  ", paste(qclass_entries, collapse = ",\n  "), "\n]\n",
  "}\n"
)
writeLines(json, "tests/references/mclust_hc.json", sep = "")
cat("wrote tests/references/mclust_hc.json\n")
