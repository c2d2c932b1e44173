"""``emkit fit --probit --target COL`` (ProbitRegression), predict and score.

In-process (:func:`emkit.cli.main`); the fit is compared with the library's
ProbitRegression of the same data, predictions and scores with its own.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.special import log_ndtr

from emkit import ProbitRegression
from emkit.persist import load_model

from .test_cli import snapshot
from .test_cli_families import loglik_of, write_csv
from .test_cli_long_fits import assert_failed, run_main

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture
def admissions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(31)
    X = rng.normal(size=(300, 2))
    y = (0.3 + X @ [1.0, -0.5] + rng.normal(size=300) > 0).astype(int)
    write_csv(tmp_path / "admit.csv", ["id", "score", "age", "admit"],
              [[f"a{i}", repr(a), repr(b), v] for i, ((a, b), v) in
               enumerate(zip(X.tolist(), y, strict=True))])
    return X, y.astype(float)


def test_probit_equals_the_library(admissions, tmp_path, capsys):
    X, y = admissions
    code, out, err = run_main(capsys, "fit", "admit.csv", "--probit", "--target", "admit",
                              "--id-column", "id", "--out", "p.json", "--labels", "l.csv")
    assert code == 0, err
    reference = ProbitRegression().fit(X, y)
    assert out.startswith("ProbitRegression fitted to admit.csv (300 rows; target admit; "
                          "columns score, age)")
    assert "classes         0, 1: P(admit = 1 | x) = Phi(x'beta)" in out
    printed = [float(re.search(rf"^    {name} +(-?[\d.e+-]+)$", out, re.M)[1])
               for name in (r"\(intercept\)", "score", "age")]
    np.testing.assert_allclose(printed, [reference.intercept_[0], *reference.coef_[0]],
                               rtol=1e-5)
    assert loglik_of(out) == pytest.approx(reference.log_likelihood(X, y), abs=1e-4)
    assert f"iterations      {reference.n_iter_}\n" in out
    model = load_model(tmp_path / "p.json")
    assert isinstance(model, ProbitRegression)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12)
    assert list(model.feature_names_in_) == ["score", "age"]
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert lines[0] == "id,prediction" and lines[1].startswith("a0,")
    np.testing.assert_array_equal([int(line.split(",")[1]) for line in lines[1:]],
                                  reference.predict(X))

    # predict: the response column is not needed (--drop it or name it with --target)
    code, out, err = run_main(capsys, "predict", "p.json", "admit.csv", "--id-column", "id",
                              "--target", "admit", "--proba")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "id,prediction,p_0,p_1"
    values = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_array_equal(values[:, 0], reference.predict(X))
    np.testing.assert_allclose(values[:, 1:], reference.predict_proba(X), rtol=1e-12)
    code, out, err = run_main(capsys, "predict", "p.json", "admit.csv", "--drop", "id,admit")
    assert code == 0, err
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()[1:]), reference.predict(X))

    # a file read in chunks (the inputs only)
    np.save(tmp_path / "inputs.npy", X)
    code, out, err = run_main(capsys, "predict", "p.json", "inputs.npy", "--proba")
    assert code == 0, err
    values = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_array_equal(values[:, 0], reference.predict(X))
    np.testing.assert_allclose(values[:, 1:], reference.predict_proba(X), rtol=1e-12)

    # score: log p(y | x) of every row; the total and the accuracy on stderr
    code, out, err = run_main(capsys, "score", "p.json", "admit.csv", "--drop", "id",
                              "--target", "admit")
    assert code == 0, err
    index = reference.decision_function(X)
    expected = np.where(y == 1, log_ndtr(index), log_ndtr(-index))
    assert out.splitlines()[0] == "log_likelihood"
    np.testing.assert_allclose(np.loadtxt(out.splitlines()[1:]), expected, rtol=1e-12)
    assert f"rows of admit.csv: {reference.log_likelihood(X, y):.4f} (accuracy " \
           f"{reference.score(X, y):.4f})" in err


@pytest.mark.parametrize(("args", "words"), [
    (["--probit"], ["--probit needs --target COL"]),
    (["--probit", "--target", "admit", "--k", 2], ["--k does not apply to --probit"]),
    (["--probit", "--target", "admit", "--family", "poisson"], ["--family does not apply"]),
    (["--probit", "--target", "admit", "--random-state", 1],
     ["--random-state does not apply to --probit", "ProbitRegression"]),
    (["--probit", "--target", "score"],
     ["admit.csv, target column 'score'", "Unknown label type: continuous"]),
    (["--probit", "--target", "admit", "--tol", -1], ["--tol", "tol"]),
    (["--probit", "--target", "nope"], ["--target", "'nope'"]),
])
def test_bad_probit_options(admissions, tmp_path, capsys, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "admit.csv", "--id-column", "id", *args, "--out",
                           "p.json"), *words)
    assert snapshot(tmp_path) == before


def test_score_errors(admissions, tmp_path, capsys):
    code, _, err = run_main(capsys, "fit", "admit.csv", "--probit", "--target", "admit",
                            "--drop", "id", "--out", "p.json")
    assert code == 0, err
    write_csv(tmp_path / "new.csv", ["score", "age", "admit"], [[0.1, 0.2, 1], [0.3, 0.1, 2],
                                                                    [0.2, 0.4, 0]])
    assert_failed(run_main(capsys, "score", "p.json", "new.csv", "--target", "admit"),
                  "--target: new.csv, data row 2", "is 2, not a class", "(0, 1)")
    assert_failed(run_main(capsys, "score", "p.json", "new.csv"), "--target COL")
    assert_failed(run_main(capsys, "fit", "new.csv", "--probit", "--target", "admit", "--out",
                           "q.json"), "new.csv, target column 'admit'", "exactly two classes")
    write_csv(tmp_path / "text.csv", ["score", "admit"], [[0.1, "yes"], [0.2, "no"]])
    assert_failed(run_main(capsys, "fit", "text.csv", "--probit", "--target", "2", "--out",
                           "q.json"), "non-numeric value 'yes'",
                  "the --target column 'admit' must hold numbers")
    assert_failed(run_main(capsys, "score", "p.json", "new.csv", "--target", "admit",
                           "--threshold", 0.1), "--threshold", "leave out")
