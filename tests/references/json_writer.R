# The JSON writer of the reference scripts (full double precision: %.17g;
# jsonlite is not needed).
# Lists with names -> objects, unnamed lists -> arrays.  Atomic vectors of length 1
# are scalars unless wrapped in I(); longer ones arrays; matrices / arrays nest by
# their first index.  NA / NaN / Inf -> null.
json_num <- function(x) {
  if (is.integer(x)) return(ifelse(is.na(x), "null", sprintf("%d", x)))
  ifelse(is.finite(x), sprintf("%.17g", x), "null")
}
json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
  x <- gsub("\n", "\\\\n", x)
  ifelse(is.na(x), "null", paste0("\"", x, "\""))
}
json_atom <- function(x) {
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.numeric(x)) return(json_num(x))
  json_str(as.character(x))
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- vapply(names(x), function(k) paste0(json_str(k), ":", to_json(x[[k]])), "")
      return(paste0("{", paste(items, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  dims <- dim(x)
  if (!is.null(dims) && length(dims) >= 2) {
    rows <- vapply(seq_len(dims[1]), function(i) {
      sl <- if (length(dims) == 2) x[i, ] else x[i, , , drop = TRUE]
      if (length(dims) > 2) dim(sl) <- dims[-1]
      if (length(dims) == 2) to_json(I(unname(sl))) else to_json(sl)
    }, "")
    return(paste0("[", paste(rows, collapse = ","), "]"))
  }
  if (length(x) == 1 && !inherits(x, "AsIs")) return(json_atom(unclass(x)))
  paste0("[", paste(json_atom(unclass(x)), collapse = ","), "]")
}
write_json <- function(x, path) writeLines(to_json(x), path)
