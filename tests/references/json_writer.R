# A small JSON writer for the reference scripts (full double precision: %.17g;
# jsonlite is not needed).  Named lists -> objects, unnamed lists -> arrays,
# length-1 atomics -> scalars unless wrapped in I(), matrices -> arrays of rows.
json_num <- function(x) {
  if (is.integer(x)) return(ifelse(is.na(x), "null", sprintf("%d", x)))
  ifelse(is.finite(x), sprintf("%.17g", x), "null")
}
json_str <- function(x) {
  x <- gsub("\\\\", "\\\\\\\\", x)
  x <- gsub("\"", "\\\\\"", x)
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
      return(paste0("{", paste(items, collapse = ",\n"), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  dims <- dim(x)
  if (!is.null(dims) && length(dims) == 2) {
    rows <- vapply(seq_len(dims[1]), function(i) to_json(I(unname(x[i, ]))), "")
    return(paste0("[", paste(rows, collapse = ","), "]"))
  }
  if (length(x) == 1 && !inherits(x, "AsIs")) return(json_atom(unclass(x)))
  paste0("[", paste(json_atom(unclass(x)), collapse = ","), "]")
}
write_json <- function(x, path) writeLines(to_json(x), path)
