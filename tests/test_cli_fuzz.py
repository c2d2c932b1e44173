"""A hypothesis-driven fuzz of the command line, bounded in time and derandomized.

Random CSV files (bad cells, separators, encodings, line endings, sizes,
ragged rows, NUL bytes, truncation), random option values and random or
mutated model files go through :func:`emkit.cli.main` in-process, and every
run must keep the CLI's contract:

* exit status 0, and then every output file finite (CSV cells that are
  numbers are finite; model files load);
* or exit status 2 (argparse: SystemExit(2)) with exactly one
  ``emkit: error:`` line on stderr (``emkit: warning:`` lines may precede it),
  nothing on stdout and no output file;
* never an escaping exception, an internal error (status 70) or a
  temporary file left; input files never modified.

The CLI runs as users run it, with EM's monotonicity check in its default
"warn" mode (a decrease is a warning line, not a crash): a decreasing EM
objective on degenerate fuzzed data is the numerical fuzz's business
(tests/test_properties.py), not the command line's.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import emkit
from emkit import (
    GaussianMixture,
    GaussianMixtureImputer,
    KMeans,
    MixedMixture,
    MixtureOutlierDetector,
    ProbitRegression,
)
from emkit.cli import main
from emkit.datasets import load_faithful
from emkit.hmm import GaussianHMM
from emkit.persist import load_model, model_to_dict

# Bounded and derandomized in the test suite; a longer random campaign (reports the
# first failure without shrinking it):
#   EMKIT_FUZZ_EXAMPLES=2000 EMKIT_FUZZ_RANDOM=1 pytest tests/test_cli_fuzz.py
CAMPAIGN = bool(os.environ.get("EMKIT_FUZZ_RANDOM"))
FUZZ = settings(max_examples=int(os.environ.get("EMKIT_FUZZ_EXAMPLES", "50")), deadline=None,
                derandomize=not CAMPAIGN, database=None,
                phases=(Phase.generate,) if CAMPAIGN else tuple(Phase),
                suppress_health_check=list(HealthCheck), print_blob=True)

# ------------------------------------------------------------------ running the CLI
def run_cli(directory: Path, args: list[str], inputs: list[Path]) -> tuple[int, str, str]:
    """Run main in-process; check the contract; return (status, stdout, stderr)."""
    before = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
            emkit.config_context(monotonic="warn"):
        try:
            status = main(args)
        except SystemExit as exc:  # argparse: usage errors and --help
            status = exc.code
    out, err = stdout.getvalue(), stderr.getvalue()
    after = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
    names = sorted(p.name for p in directory.iterdir())
    assert not [n for n in names if n.startswith(".")], f"temporary left: {names} {args}"
    for path in inputs:  # inputs never modified
        if path.name in before:
            assert after.get(path.name) == before[path.name], f"input {path.name} modified"
    assert status in (0, 2), f"status {status} for {args}: {err}"
    if status == 2:
        lines = err.splitlines()
        assert out == "", (args, out)
        assert lines and lines[-1].startswith("emkit: error: "), (args, err)
        assert all(line.startswith("emkit: warning: ") for line in lines[:-1]), (args, err)
        assert "Traceback" not in err
        assert after == before, f"outputs written by a failed command: {args}"
    else:
        assert "Traceback" not in err and "internal error" not in err, (args, err)
        for name in after.keys() - before.keys():
            check_finite_output(directory / name, ids="--id-column" in args)
    return status, out, err


def check_finite_output(path: Path, ids: bool) -> None:
    if path.suffix == ".json":
        load_model(path)  # validated, finite
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        for cell in row[1:] if ids else row:  # the ids (first column) are any text
            try:
                value = float(cell)
            except ValueError:
                continue  # an id
            assert math.isfinite(value), f"{path.name}: non-finite cell {cell!r}"


# ------------------------------------------------------------------ random CSV files
ODD_CELLS = ["", " ", "NA", "na", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309",
             "-1e309", "1e-320", "5e-324", "1e154", "-1e300", "1_000", "abc", "1,5", "1.2.3",
             "0x10", "\u0661\u0662", "\u00e9", '"4"', "' 5'", "+7", "--1", "1e", ".", "-"]
ODD_NAMES = ["a", "b", "a", "", " ", "1", "2.5", "x y", "\u00e9t\u00e9", '"q"', "id", "a;b",
             "c\td", "n\u00e4me"]


def clean_number():
    return st.floats(-60.0, 60.0, allow_nan=False).map(repr)


def odd_cell():
    return st.one_of(st.sampled_from(ODD_CELLS), st.text(max_size=4),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.integers(-10**25, 10**25).map(str))


@st.composite
def csv_bytes(draw) -> bytes:
    n_cols = draw(st.integers(1, 4))
    dirty = draw(st.sampled_from(["clean"] * 5 + ["cells", "cells", "structure", "bytes"]))
    n_rows = draw(st.integers(0 if dirty != "clean" else 2, 24))
    if dirty == "structure":
        header = draw(st.lists(st.one_of(st.sampled_from(ODD_NAMES), st.text(max_size=3)),
                               min_size=n_cols, max_size=n_cols))
    else:
        header = [f"c{j}" for j in range(n_cols)]
    rows = []
    for _ in range(n_rows):
        row = []
        for _ in range(n_cols):
            odd = dirty != "clean" and draw(st.sampled_from([False] * 9 + [True]))
            missing = dirty == "clean" and draw(st.sampled_from([False] * 14 + [True]))
            row.append(draw(odd_cell()) if odd else "" if missing else draw(clean_number()))
        if dirty == "structure" and draw(st.sampled_from([False] * 5 + [True])):
            row = row[:-1] if draw(st.booleans()) else [*row, draw(clean_number())]
        rows.append(row)
    sep = draw(st.sampled_from([",", ";", "\t", "|"])) if dirty == "structure" else ","
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"])) if dirty == "structure" else "\n"
    text = newline.join(sep.join(row) for row in [header, *rows]) + newline
    encoding = (draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
                if dirty in ("structure", "bytes") else "utf-8")
    data = text.encode(encoding, errors="replace")
    if dirty == "bytes" and data:
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["nul", "truncate", "garbage", "bom"]))
        if kind == "nul":
            data = data[:at] + b"\0" + data[at:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "garbage":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        else:
            data = b"\xef\xbb\xbf" + data
    return data


def data_commands(data: str, model: str, out: str, n_cols: int):
    k = st.integers(1, 3).map(str)
    covariance = st.sampled_from(["full", "diag", "spherical", "tied", "EEE", "VEV"])
    return st.one_of(
        st.tuples(k, covariance).map(lambda a: ["fit", data, "--k", a[0], "--covariance",
                                                a[1], "--out", out + ".json", "--labels",
                                                out + ".csv", "--random-state", "0"]),
        k.map(lambda k: ["fit", data, "--k", k, "--out", out + ".json",
                         "--contamination", "0.1", "--random-state", "0"]),
        k.map(lambda k: ["impute", data, "--k", k, "--out", out + ".csv",
                         "--random-state", "0"]),
        st.just(["select", data, "--components", "1-2", "--models",
                 "E,V" if n_cols == 1 else "EII,VVI", "--random-state", "0"]),
        st.just(["predict", model, data, "--proba"]),
        st.just(["score", model, data, "--threshold", "1e-3"]),
    )


@lru_cache(maxsize=1)
def small_model_text() -> str:
    """A GaussianMixture on two columns c0, c1 (for predict and score)."""
    from emkit.persist import model_to_json

    X = np.random.default_rng(0).uniform(-60, 60, size=(40, 2))
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.feature_names_in_ = np.array(["c0", "c1"], dtype=object)
    return model_to_json(gm)


@FUZZ
@given(data=st.data())
def test_random_csv_files(data):
    raw = data.draw(csv_bytes(), label="csv")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "in.csv").write_bytes(raw)
        (directory / "m.json").write_text(small_model_text())
        n_cols = raw.split(b"\n", 1)[0].count(b",") + 1
        args = data.draw(data_commands(str(directory / "in.csv"), str(directory / "m.json"),
                                       str(directory / "out"), n_cols), label="command")
        run_cli(directory, args, [directory / "in.csv", directory / "m.json"])


# ------------------------------------------------------------------ random option values
GARBAGE = ["", "abc", "nan", "inf", "-1", "0", "1e300", "99999999999999999999", ",", "-"]
VALUES = {
    "--k": ["1", "2", "3", "5", "80", "81"],
    "--covariance": ["full", "tied", "diag", "spherical", "EII", "VEV", "E", "V", "banana"],
    "--n-init": ["1", "2", "3"],
    "--random-state": ["0", "1", "4294967295", "4294967296"],
    "--max-iter": ["0", "1", "3", "100"],
    "--tol": ["0", "1e-12", "1e-3", "10", "1e300", "-1e-3"],
    "--reg-covar": ["0", "1e-12", "1e-6", "1", "1e6", "1e300", "-1"],
    "--contamination": ["0.01", "0.1", "0.5", "0.51", "1e-9"],
    "--threshold": ["1e-300", "1e-3", "1", "1e300", "5e-324", "-1e-3"],
    "--components": ["1", "1-2", "2,3", "1-3", "3-1", "0", "1-100000", "80"],
    "--models": ["all", "EII", "EII,VVV", "VEV,EVE", "E", "full,diag", "XYZ", "EII,,VVV"],
    "--criterion": ["bic", "icl", "aic"],
    "--top": ["1", "3", "0", "-2", "100"],
    "--convention": ["mclust", "sklearn"],
    "--init": ["hierarchical", "kmeans", "k-means++", "random", "random_from_data"],
    "--columns": ["eruptions", "waiting", "1", "2", "eruptions,waiting", "2,1", "3", "id"],
    "--drop": ["eruptions", "waiting", "1", "2", "3", "eruptions,waiting"],
    "--id-column": ["eruptions", "waiting", "1", "2", "3"],
    "--family": ["gaussian", "bernoulli", "categorical", "poisson", "student-t", "mixed"],
    "--alpha": ["0", "0.5", "1", "-1"],
    "--dof": ["estimate", "shared", "3", "0.01", "-1", "1e300"],
    "--schedule": ["batch", "incremental", "stepwise", "fast"],
    "--batch-size": ["1", "7", "50", "1000"],
    "--learning-decay": ["0.5", "0.51", "0.7", "1", "1.5"],
    "--target": ["eruptions", "waiting", "1", "3", "id"],
    "--states": ["1", "2", "3", "81"],
    "--lengths-column": ["eruptions", "waiting", "1", "3", "id"],
    "--group": ["a:gaussian:eruptions,waiting", "a:gaussian:eruptions", "b:poisson:waiting",
                "a:categorical:1,2", "a:gamma:1", "a:gaussian", "a:bernoulli:3"],
    "--hmm": None,  # flags
    "--probit": None,
}
OPTIONS = {
    "fit": ["--k", "--covariance", "--n-init", "--random-state", "--max-iter", "--tol",
            "--reg-covar", "--contamination", "--threshold", "--columns", "--drop",
            "--id-column", "--family", "--alpha", "--dof", "--schedule", "--batch-size",
            "--learning-decay", "--target", "--states", "--lengths-column", "--group",
            "--hmm", "--probit"],
    "select": ["--components", "--models", "--criterion", "--top", "--convention", "--init",
               "--n-init", "--random-state", "--max-iter", "--tol", "--reg-covar", "--columns",
               "--drop"],
    "impute": ["--k", "--covariance", "--n-init", "--random-state", "--columns", "--drop",
               "--id-column"],
    "score": ["--threshold", "--contamination", "--columns", "--drop", "--id-column",
              "--target", "--lengths-column"],
    "predict": ["--columns", "--drop", "--id-column", "--target", "--lengths-column"],
}


@st.composite
def option_runs(draw, directory: Path):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    data, model = str(directory / "faithful.csv"), str(directory / "m.json")
    out = str(directory / "out")
    base = {
        "fit": ["fit", data, "--k", "2", "--out", out + ".json"],
        "select": ["select", data, "--components", "1-2", "--models", "EII,VVV"],
        "impute": ["impute", data, "--out", out + ".csv"],
        "score": ["score", model, data, "--out", out + ".csv"],
        "predict": ["predict", model, data],
    }[command]
    args = list(base)
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=3, unique=True)):
        if VALUES[option] is None:  # a flag
            args.append(option)
            continue
        garbage = draw(st.sampled_from([False] * 5 + [True]))
        args += [option, draw(st.sampled_from(GARBAGE if garbage else VALUES[option]))]
    return args


@lru_cache(maxsize=1)
def faithful_files() -> tuple[str, str]:
    X = load_faithful()[:80]
    lines = ["eruptions,waiting"] + [f"{a!r},{b!r}" for a, b in X.tolist()]
    detector = MixtureOutlierDetector(2, random_state=0).fit(X)
    detector.feature_names_in_ = np.array(["eruptions", "waiting"], dtype=object)
    from emkit.persist import model_to_json

    return "\n".join(lines) + "\n", model_to_json(detector)


@FUZZ
@given(data=st.data())
def test_random_option_values(data):
    csv_text, model_text = faithful_files()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "faithful.csv").write_text(csv_text)
        (directory / "m.json").write_text(model_text)
        args = data.draw(option_runs(directory), label="command")
        run_cli(directory, args, [directory / "faithful.csv", directory / "m.json"])


# ------------------------------------------------------------------ random model files
@lru_cache(maxsize=1)
def base_documents() -> tuple[dict, ...]:
    X = load_faithful()[:80]
    names = np.array(["eruptions", "waiting"], dtype=object)
    models = [GaussianMixture(2, random_state=0), GaussianMixture(3, covariance_type="EII",
                                                                random_state=0),
              GaussianMixture(2, covariance_type="diag", random_state=0),
              MixtureOutlierDetector(2, random_state=0), GaussianMixtureImputer(2),
              KMeans(3, random_state=0), GaussianHMM(2, random_state=0),
              MixedMixture(2, families=[("e", "gaussian", [0]), ("w", "gaussian", [1])],
                           random_state=0),
              ProbitRegression()]
    docs = []
    for model in models:
        if isinstance(model, ProbitRegression):
            model.fit(X, np.arange(X.shape[0]) % 2)  # not separable
        else:
            model.fit(X)
        model.feature_names_in_ = names
        docs.append(json.loads(json.dumps(model_to_dict(model))))
    return tuple(docs)


def json_values():
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                       st.sampled_from([0, -1, 10**400, 2**63, -(2**63) - 1, 1e308, -1e-320]),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.text(max_size=6), st.sampled_from(["float64", "int64", "full",
                                                             "GaussianMixture", "EII"]))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["dtype", "shape", "data", "x", "GaussianPrior"]),
                        inner, max_size=3)), max_leaves=8)


def paths(node, prefix=()):
    """Paths to the values of a document (the first two entries of each list)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:2]):
            yield from paths(value, (*prefix, index))


EXTREMES = [0.0, -0.0, 1e-320, -1e-320, 1e154, -1e154, 1e300, -1e300, 1.7976931348623157e308,
            2.0, 0.5, -1.0, 10**400, 2**63, 1e-9]
PARAM_VALUES = [None, True, False, 0, 1, 2, -1, 3, 10**18, 0.5, 1e-300, 1e300, "full", "EII",
                "diag", "kmeans", "squarem", "default", "float32", "int8", ["weights"], [],
                {"GaussianPrior": {"shrinkage": -1.0}}, {"GaussianPrior": {}}]


def numeric_leaves(node, prefix=()):
    """Paths to the numbers inside the arrays and scalars of a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from numeric_leaves(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from numeric_leaves(value, (*prefix, index))
    elif type(node) in (int, float):
        yield prefix


def param_paths(node, prefix=()):
    """Paths to the parameters of a document and of its nested documents."""
    if isinstance(node, dict):
        for key, value in node.items():
            if prefix and prefix[-1] == "params":
                yield (*prefix, key)
            else:
                yield from param_paths(value, (*prefix, key))


def at(doc, path):
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    return parent, path[-1]


@st.composite
def mutated_models(draw) -> bytes:
    doc = copy.deepcopy(draw(st.sampled_from(base_documents())))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["number"] * 4 + ["param"] * 2 + ["any"]))
        if kind == "number":  # well-formed files with extreme or inconsistent values
            leaves = list(numeric_leaves(doc))
            free = [p for p in leaves if set(p) & {"means_", "cluster_centers_", "offset_",
                                                   "lower_bound_", "tol", "reg_covar"}]
            use_free = draw(st.sampled_from([True, True, True, False]))
            parent, key = at(doc, draw(st.sampled_from(free if use_free else leaves)))
            value = draw(st.sampled_from(EXTREMES))
            if draw(st.booleans()):
                with contextlib.suppress(OverflowError):  # 10**400 times a float
                    value = parent[key] * value
            parent[key] = value
        elif kind == "param":
            parent, key = at(doc, draw(st.sampled_from(list(param_paths(doc)))))
            parent[key] = draw(st.sampled_from(PARAM_VALUES))
        else:
            parent, key = at(doc, draw(st.sampled_from(list(paths(doc))[1:])))
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "delete" and isinstance(parent, dict):
                del parent[key]
            elif action == "add" and isinstance(parent, dict):
                parent[draw(st.text(max_size=4))] = draw(json_values())
            else:
                parent[key] = draw(json_values())
    text = json.dumps(doc, allow_nan=True).encode()
    if draw(st.sampled_from([False] * 9 + [True])):  # byte-level damage
        where = draw(st.integers(0, len(text)))
        text = text[:where] + draw(st.binary(max_size=4)) + text[where + 1:]
    return text


@FUZZ
@given(data=st.data())
def test_mutated_model_files(data):
    csv_text, _ = faithful_files()
    raw = data.draw(mutated_models(), label="model")
    command = data.draw(st.sampled_from([["predict", "m.json", "d.csv", "--proba"],
                                         ["score", "m.json", "d.csv", "--threshold", "1e-3"],
                                         ["score", "m.json", "d.csv"],
                                         ["predict", "m.json", "d.csv", "--out", "p.csv"]]),
                        label="command")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "m.json").write_bytes(raw)
        (directory / "d.csv").write_text(csv_text)
        args = [str(directory / a) if a.endswith((".json", ".csv")) else a for a in command]
        run_cli(directory, args, [directory / "m.json", directory / "d.csv"])
