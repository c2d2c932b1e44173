"""``emkit select`` (and ``fit --covariance-type``), run as ``python -m emkit``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from emkit import (
    BernoulliMixture,
    CategoricalMixture,
    PoissonMixture,
    StudentTMixture,
    select_model,
)
from emkit.datasets import load_faithful
from emkit.persist import load_model

from .test_cli import PNG_MAGIC, check_bad_input, faithful_csv, run, snapshot
from .test_cli_families import write_csv
from .test_cli_long_fits import assert_failed, run_main

NAMES_WARNING = "ignore:X does not have valid feature names"
SELECT = ["select", "data.csv", "--components", "1-3", "--models", "EII,VVV,EEE"]


def bic_rows(stdout: str) -> dict[int, list[str]]:
    """The printed BIC grid: G -> cells (numbers or NA)."""
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"^\s*(\d+)((?:\s+(?:-?[\d.]+|NA))+)\s*$", line)
        if m:
            rows[int(m[1])] = m[2].split()
    return rows


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_select_prints_table_plot_and_best_model(tmp_path):
    faithful_csv(tmp_path / "data.csv")
    before = (tmp_path / "data.csv").read_bytes()
    result = run(tmp_path, *SELECT, "--plot", "bic.png", "--output", "best.json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    X = load_faithful()
    expected = select_model(X, [1, 2, 3], ["EII", "VVV", "EEE"])
    assert "BIC (mclust convention" in out and "Top 3 models by BIC" in out
    rows = bic_rows(out)
    assert sorted(rows) == [1, 2, 3]
    for i, G in enumerate((1, 2, 3)):
        np.testing.assert_allclose([float(v) for v in rows[G]], expected.bic()[i], atol=6e-4)
    G, model = expected.best_cell()
    assert f"chosen model (best BIC): G={G}, covariance={model!r}" in out
    assert (tmp_path / "bic.png").read_bytes().startswith(PNG_MAGIC)
    saved = load_model(tmp_path / "best.json")
    assert (saved.n_components, saved.covariance_type) == (G, model)
    assert saved.score(X) == pytest.approx(expected.best_model_.score(X), rel=1e-12)
    assert list(saved.feature_names_in_) == ["eruptions", "waiting"]
    assert (tmp_path / "data.csv").read_bytes() == before
    assert not list(tmp_path.glob(".*"))


def test_select_component_lists_criterion_and_convention(tmp_path):
    faithful_csv(tmp_path / "data.csv")
    result = run(tmp_path, "select", "data.csv", "--components", "1,2,4", "--models", "VVI",
                 "--criterion", "icl", "--convention", "sklearn", "--top", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(bic_rows(result.stdout)) == [1, 2, 4]
    assert "ICL (sklearn convention" in result.stdout and "smaller is better" in result.stdout
    assert "Top 2 models by ICL" in result.stdout
    assert "chosen model (best ICL)" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_select_reports_na_cells(tmp_path):
    rng = np.random.default_rng(3)
    rows = np.vstack([rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 8.0])
    faithful_csv(tmp_path / "data.csv", header="a,b", rows=rows)
    result = run(tmp_path, "select", "data.csv", "--components", "1-4,13",
                 "--models", "VVV,EII")
    assert result.returncode == 0, result.stderr
    assert bic_rows(result.stdout)[13] == ["NA", "NA"]
    assert "G=13 VVV: G=13 components but only 12 rows" in result.stdout
    assert "DegenerateComponentError" in result.stdout


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_fit_accepts_every_covariance_model(tmp_path):
    faithful_csv(tmp_path / "data.csv")
    result = run(tmp_path, "fit", "data.csv", "--k", 2, "--covariance-type", "VEV",
                 "--out", "m.json")
    assert result.returncode == 0, result.stderr
    assert load_model(tmp_path / "m.json").covariance_type == "VEV"
    help_text = run(tmp_path, "fit", "--help").stdout
    assert "EVV" in help_text and "spherical" in help_text


def good_data(tmp_path):
    faithful_csv(tmp_path / "data.csv")


def tiny_data(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")


BAD_INPUT = {
    "missing file": (lambda tmp_path: None, SELECT, ["data.csv", "No such file"]),
    "reversed range": (good_data, ["select", "data.csv", "--components", "3-1"],
                       ["--components", "'3-1'"]),
    "not a number": (good_data, ["select", "data.csv", "--components", "two"],
                     ["--components", "'two'"]),
    "G = 0": (good_data, ["select", "data.csv", "--components", "0-2"],
              ["--components", ">= 1"]),
    "unknown model": (good_data, ["select", "data.csv", "--models", "EII,banana"],
                      ["--models", "'banana'"]),
    "empty model name": (good_data, ["select", "data.csv", "--models", "EII,"],
                         ["--models"]),
    "1-D model": (good_data, ["select", "data.csv", "--models", "V"],
                  ["--models", "one-dimensional"]),
    "top 0": (good_data, [*SELECT, "--top", 0], ["--top", "got 0"]),
    "negative tol": (good_data, [*SELECT, "--tol", -1], ["--tol"]),
    "n-jobs 0": (good_data, [*SELECT, "--n-jobs", 0], ["--n-jobs"]),
    "restarts of hierarchical": (good_data, [*SELECT, "--n-init", 3], ["--n-init"]),
    "nothing estimable": (tiny_data, ["select", "data.csv", "--components", "3-4"],
                          ["none of the models could be estimated", "only 2 rows"]),
    "output is input": (good_data, [*SELECT, "--output", "./data.csv"], ["data.csv", "input"]),
    "plot is input": (good_data, [*SELECT, "--plot", "data.csv"], ["data.csv", "input"]),
    "same output twice": (good_data, [*SELECT, "--plot", "x.out", "--output", "x.out"],
                          ["same output file"]),
    "unwritable plot": (good_data, [*SELECT, "--plot", "no/dir/bic.png", "--output", "m.json"],
                        ["cannot write", "bic.png"]),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_exits_2_with_one_line(tmp_path, case):
    check_bad_input(tmp_path, *BAD_INPUT[case])


def test_bad_choice_is_a_usage_error(tmp_path):
    result = run(tmp_path, "select", "data.csv", "--criterion", "bics")
    assert result.returncode == 2
    assert "invalid choice: 'bics'" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------- --family: select_model(estimator=...)
@pytest.fixture
def family_files(tmp_path, monkeypatch):
    """Two-group counts, 0/1 answers and symbols, plus numbers with heavy tails."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    z = rng.integers(2, size=160)
    counts = rng.poisson(np.array([[1.0, 2.0], [7.0, 9.0]])[z]).astype(float)
    answers = (rng.random((160, 4)) < np.array([[0.2, 0.8, 0.3, 0.7],
                                                [0.8, 0.1, 0.9, 0.2]])[z]).astype(float)
    symbols = np.where(rng.random((160, 2)) < np.array([0.85, 0.2])[z][:, None], "a", "b")
    numbers = rng.standard_t(3, size=(160, 2)) + np.array([[0.0, 0.0], [6.0, -4.0]])[z]
    write_csv(tmp_path / "counts.csv", ["u", "v"], counts.astype(int).tolist())
    write_csv(tmp_path / "answers.csv", ["q1", "q2", "q3", "q4"], answers.astype(int).tolist())
    write_csv(tmp_path / "symbols.csv", ["s", "t"], symbols.tolist())
    write_csv(tmp_path / "numbers.csv", ["x", "y"], [[repr(a), repr(b)] for a, b in
                                                     numbers.tolist()])
    return counts, answers, symbols.astype(object), numbers


def check_selection(out: str, expected, saved_path, names) -> None:
    """The printed grid is the library's BIC table; the saved model its best model."""
    rows = bic_rows(out)
    assert sorted(rows) == list(expected.n_components)
    for i, G in enumerate(expected.n_components):
        np.testing.assert_allclose([float(v) for v in rows[G]], expected.bic()[i], atol=6e-4)
    saved = load_model(saved_path)
    best = expected.best_model_
    assert type(saved) is type(best) and saved.n_components == best.n_components
    for name in names:
        np.testing.assert_allclose(getattr(saved, name), getattr(best, name), rtol=1e-12,
                                   err_msg=name)


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_select_poisson_and_bernoulli_equal_the_library(family_files, tmp_path, capsys):
    counts, answers, _, _ = family_files
    code, out, err = run_main(capsys, "select", "counts.csv", "--family", "poisson",
                              "--components", "1-3", "--alpha", 0.5, "--random-state", 0,
                              "--out", "p.json", "--plot", "p.png")
    assert code == 0, err
    expected = select_model(counts, [1, 2, 3], estimator=PoissonMixture(alpha=0.5),
                            random_state=0)
    assert out.startswith("PoissonMixtures fitted to counts.csv (160 rows; columns u, v): "
                          "G = 1..3, the estimator's starts")
    G, _ = expected.best_cell()
    assert f"chosen model (best BIC): G={G}, PoissonMixture" in out
    check_selection(out, expected, tmp_path / "p.json", ("weights_", "rates_"))
    assert load_model(tmp_path / "p.json").alpha == 0.5
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)

    code, out, err = run_main(capsys, "select", "answers.csv", "--family", "bernoulli",
                              "--components", "1,2,3", "--n-init", 2, "--max-iter", 50,
                              "--tol", 1e-8, "--random-state", 1, "--out", "b.json")
    assert code == 0, err
    expected = select_model(answers, [1, 2, 3], random_state=1, estimator=BernoulliMixture(
        n_init=2, max_iter=50, tol=1e-8))
    check_selection(out, expected, tmp_path / "b.json", ("weights_", "probabilities_"))


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_select_categorical_and_student_t_equal_the_library(family_files, tmp_path, capsys):
    _, _, symbols, numbers = family_files
    code, out, err = run_main(capsys, "select", "symbols.csv", "--family", "categorical",
                              "--components", "1-2", "--random-state", 0, "--out", "c.json")
    assert code == 0, err
    expected = select_model(symbols, [1, 2], estimator=CategoricalMixture(), random_state=0)
    check_selection(out, expected, tmp_path / "c.json", ("weights_",))
    saved = load_model(tmp_path / "c.json")
    for a, b in zip(saved.probabilities_, expected.best_model_.probabilities_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)

    # --models are the covariance models of the student-t estimator
    code, out, err = run_main(capsys, "select", "numbers.csv", "--family", "student-t",
                              "--components", "1-2", "--models", "VVV,EII", "--dof", "shared",
                              "--random-state", 0, "--out", "t.json")
    assert code == 0, err
    expected = select_model(numbers, [1, 2], ["VVV", "EII"], random_state=0,
                            estimator=StudentTMixture(dof="shared"))
    assert "G = 1,2, 2 covariance models, the estimator's starts" in out
    G, model = expected.best_cell()
    assert f"chosen model (best BIC): G={G}, covariance={model!r}" in out
    check_selection(out, expected, tmp_path / "t.json",
                    ("weights_", "means_", "covariances_", "degrees_of_freedom_"))


@pytest.mark.parametrize(("args", "words"), [
    (["--family", "poisson", "--models", "EII"], ["--models", "--family poisson",
                                                  "no covariance models"]),
    (["--family", "poisson", "--init", "kmeans"], ["--init does not apply",
                                                   "PoissonMixture"]),
    (["--family", "poisson", "--dof", 3], ["--dof does not apply", "PoissonMixture",
                                           "'dof'"]),
    (["--family", "bernoulli", "--reg-covar", 1], ["--reg-covar does not apply",
                                                   "BernoulliMixture"]),
    (["--alpha", 1], ["--alpha does not apply to --family gaussian"]),
    (["--dof", 3], ["--dof does not apply to --family gaussian"]),
    (["--family", "poisson", "--tol", -1], ["--tol: tol must be"]),
    (["--family", "poisson", "--alpha", -1], ["--alpha: alpha must be"]),
    (["--family", "poisson", "--n-init", 0], ["--n-init: n_init must be"]),
    (["--family", "student-t", "--dof", -2], ["--dof: dof must be"]),
    (["--family", "student-t", "--models", "EII,banana"], ["--models", "'banana'"]),
])
def test_select_family_bad_options(family_files, tmp_path, capsys, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "select", "counts.csv", "--components", "1-2", *args,
                           "--out", "m.json"), *words)
    assert snapshot(tmp_path) == before
