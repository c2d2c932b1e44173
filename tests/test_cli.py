"""The ``emkit`` command, run as ``python -m emkit`` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emkit import GaussianMixture
from emkit.datasets import load_faithful
from emkit.persist import load_model, save_model

# One BLAS thread: tiny matrices are much slower with threads on a busy machine.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(cwd: Path, *args: object, python_code: str | None = None):
    command = [sys.executable, "-m", "emkit", *map(str, args)]
    if python_code is not None:
        command = [sys.executable, "-c", python_code]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=120)


def faithful_csv(path: Path, header: str = "eruptions,waiting", rows=None) -> Path:
    rows = load_faithful() if rows is None else rows
    lines = [header] + [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# ------------------------------------------------------------------- demo
def parse_table(stdout: str) -> list[dict]:
    rows = []
    for line in stdout.splitlines():
        m = re.match(r"^([* ]) +(\d+)  (\w+) +(-?[\d.]+) +([\d.]+) +([\d.]+) +(yes|no)", line)
        if m:
            rows.append({"chosen": m[1] == "*", "K": int(m[2]), "cov": m[3],
                         "loglik": float(m[4]), "bic": float(m[5]), "aic": float(m[6])})
    return rows


# Models written by the CLI record the CSV column names; predicting on plain arrays
# in these tests then makes scikit-learn warn.
NAMES_WARNING = "ignore:X does not have valid feature names"


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_demo_writes_plot_and_model(tmp_path):
    result = run(tmp_path, "demo", "--out", "out")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "log-likelihood" in out and "BIC" in out and "AIC" in out
    rows = parse_table(out)
    assert len(rows) == 24
    assert {(r["K"], r["cov"]) for r in rows} == {
        (k, c) for k in range(1, 7) for c in ("full", "tied", "diag", "spherical")}
    chosen = [r for r in rows if r["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["bic"] == min(r["bic"] for r in rows)
    assert "<- lowest BIC" in out
    best_line = next(line for line in out.splitlines() if line.startswith("*"))
    assert best_line.endswith("<- lowest BIC")
    # Columns are aligned: every table row has the BIC at the same offset.
    table = [line for line in out.splitlines() if re.match(r"^[* ] +\d+  ", line)]
    ends = {len(line[:line.index(f"{r['bic']:.2f}")]) + len(f"{r['bic']:.2f}")
            for line, r in zip(table, rows, strict=True)}
    assert len(ends) == 1

    png = tmp_path / "out" / "faithful_clusters.png"
    assert png.read_bytes().startswith(PNG_MAGIC)
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 400 and image.shape[1] > 600
    assert image.shape[2] in (3, 4)
    assert image[..., :3].std() > 0.05  # not a blank canvas

    model = load_model(tmp_path / "out" / "faithful_model.json")
    assert isinstance(model, GaussianMixture)
    assert (model.n_components, model.covariance_type) == (chosen[0]["K"], chosen[0]["cov"])
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    X = load_faithful()
    assert model.bic(X) == pytest.approx(chosen[0]["bic"], abs=0.01)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "faithful_clusters.png", "faithful_model.json"]


def test_demo_without_matplotlib_still_writes_model(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from emkit.cli import main; "
            "sys.exit(main(['demo']))")
    result = run(tmp_path, python_code=code)
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if "plot skipped" in line]
    assert len(skipped) == 1 and "pip install 'emkit[plot]'" in skipped[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faithful_model.json"]


# ------------------------------------------------------------ fit/predict
@pytest.mark.filterwarnings(NAMES_WARNING)
def test_fit_then_predict_round_trip(tmp_path):
    data = faithful_csv(tmp_path / "faithful.csv")
    before = data.read_bytes()
    result = run(tmp_path, "fit", "faithful.csv", "--k", 2, "--covariance", "full",
                 "--out", "model.json", "--labels", "labels.csv", "--n-init", 2,
                 "--random-state", 0, "--max-iter", 200, "--tol", 1e-4, "--reg-covar", 1e-6)
    assert result.returncode == 0, result.stderr
    for word in ("K", "covariance", "log-likelihood", "BIC", "converged", "iterations"):
        assert re.search(rf"^  {word} +\S", result.stdout, re.M), word

    X = load_faithful()
    model = load_model(tmp_path / "model.json")
    reference = GaussianMixture(2, covariance_type="full", n_init=2, random_state=0,
                                max_iter=200, tol=1e-4).fit(X)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-10)
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    assert f"{model.bic(X):.4f}" in result.stdout

    labels = (tmp_path / "labels.csv").read_text().splitlines()
    assert labels[0] == "label" and len(labels) == 1 + len(X)
    np.testing.assert_array_equal(np.array(labels[1:], dtype=int), model.predict(X))

    result = run(tmp_path, "predict", "model.json", "faithful.csv", "--proba",
                 "--out", "pred.csv")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    assert lines[0] == "label,p0,p1"
    table = np.array([line.split(",") for line in lines[1:]], dtype=float)
    np.testing.assert_array_equal(table[:, 0], model.predict(X))
    np.testing.assert_array_equal(table[:, 1:], model.predict_proba(X))  # exact: repr floats

    result = run(tmp_path, "predict", "model.json", "faithful.csv")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines() == labels
    assert data.read_bytes() == before


# ------------------------------------------------------------- bad input
def small_model(tmp_path: Path, with_names: bool) -> None:
    """model.json fitted on faithful, with or without feature names."""
    X = load_faithful()
    gm = GaussianMixture(2, random_state=0).fit(X)
    if with_names:
        gm.feature_names_in_ = np.array(["eruptions", "waiting"], dtype=object)
    save_model(gm, tmp_path / "model.json")


def bad_cells(text: str):
    def setup(tmp_path):
        (tmp_path / "data.csv").write_text(text)

    return setup


def good_data(tmp_path):
    faithful_csv(tmp_path / "data.csv")


def rows_only(n):
    def setup(tmp_path):
        faithful_csv(tmp_path / "data.csv", rows=load_faithful()[:n])

    return setup


def model_and(text: str, with_names: bool = True):
    def setup(tmp_path):
        small_model(tmp_path, with_names)
        (tmp_path / "data.csv").write_text(text)

    return setup


def model_text(text: str):
    def setup(tmp_path):
        faithful_csv(tmp_path / "data.csv")
        (tmp_path / "model.json").write_text(text)

    return setup


FIT = ["fit", "data.csv", "--k", 2, "--out", "model_out.json", "--labels", "labels.csv"]
PREDICT = ["predict", "model.json", "data.csv", "--out", "pred.csv"]

BAD_INPUT = {
    "missing file": (lambda tmp_path: None, FIT, ["data.csv", "No such file"]),
    "non-numeric": (bad_cells("eruptions,waiting\n3.6,79\n1.8,54\n2.1,abc\n"), FIT,
                    ["data.csv", "line 4", "column 'waiting'", "'abc'"]),
    "column with nothing observed": (bad_cells("eruptions,waiting\n3.6,NaN\n1.8,\n2.2,NA\n"),
                                     FIT, ["data.csv", "column 'waiting'", "no observed value"]),
    "inf": (bad_cells("eruptions,waiting\n3.6,79\n1.8,inf\n2.2,60\n"), FIT,
            ["line 3", "column 'waiting'", "'inf'"]),
    "fewer rows than K": (rows_only(3), ["fit", "data.csv", "--k", 5, "--out", "m.json"],
                          ["data.csv has 3 rows", "n_components=5"]),
    "K < 1": (good_data, ["fit", "data.csv", "--k", 0, "--out", "m.json"],
              ["--k", "n_components", "got 0"]),
    "unknown covariance": (good_data, [*FIT, "--covariance", "banana"],
                           ["--covariance", "'banana'", "full"]),
    "unwritable model": (good_data, ["fit", "data.csv", "--k", 2, "--out", "no/dir/m.json"],
                         ["cannot write", "no/dir/m.json"]),
    "unwritable labels": (good_data, ["fit", "data.csv", "--k", 2, "--out", "m.json",
                                      "--labels", "no/dir/labels.csv"],
                          ["cannot write", "labels.csv"]),
    "output is input": (good_data, ["fit", "data.csv", "--k", 2, "--out", "./data.csv"],
                        ["data.csv", "input"]),
    "corrupted model": (model_text('{"format": "emkit-model", "format_version": 1, "est'),
                        PREDICT, ["model.json", "not valid JSON", "line 1"]),
    "foreign model": (model_text('{"format": "sklearn", "coef_": [1, 2]}'), PREDICT,
                      ["model.json", "not an emkit model", "'sklearn'"]),
    "wrong columns": (model_and("x,y\n1,2\n"), PREDICT,
                      ["data.csv", "['x', 'y']", "['eruptions', 'waiting']"]),
    "wrong number of columns": (model_and("a,b,c\n1,2,3\n", with_names=False), PREDICT,
                                ["data.csv has 3 columns", "expects 2"]),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    check_bad_input(tmp_path, *BAD_INPUT[case])


def check_bad_input(tmp_path, setup, args, expected) -> None:
    """One line on stderr naming the problem, exit 2, nothing written, inputs unchanged."""
    setup(tmp_path)
    before = snapshot(tmp_path)
    result = run(tmp_path, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emkit: error: ")
    for word in expected:
        assert word in lines[0]
    # No output written (nor temporary left), inputs unchanged.
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.glob(".*"))


def test_usage_errors_exit_2(tmp_path):
    result = run(tmp_path, "fit", "data.csv", "--k", "two", "--out", "m.json")
    assert result.returncode == 2
    assert "invalid int value: 'two'" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []

