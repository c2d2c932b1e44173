# Makes tests/references/mtcars.json: R's mtcars table (32 cars), a small real table of mixed
# columns for MixedMixture: continuous (mpg, disp, hp, drat, wt, qsec), categorical (cyl, vs,
# am, gear) and counts (carb).  Used by tests/test_mixed.py and the StepMix comparison in
# tests/references/peers_discrete.py.
# Run from the repository root:  Rscript tests/references/mtcars.R
source(file.path("tests", "references", "json_writer.R"))
columns <- lapply(as.list(mtcars), function(x) I(as.numeric(x)))
write_json(list(source = paste("R", getRversion(), "datasets::mtcars"),
                rownames = I(rownames(mtcars)), columns = columns),
           file.path("tests", "references", "mtcars.json"))
