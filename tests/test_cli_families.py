"""``emkit fit --family ...`` and ``--target``, and predict/score with the models they write.

In-process (:func:`emkit.cli.main`); every fit is compared with the
library's fit of the same data and seed, and every prediction with the
library's prediction from the fitted estimator.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from emkit import (
    BernoulliMixture,
    CategoricalMixture,
    MixtureOfExperts,
    PoissonMixture,
    RegressionMixture,
    StudentTMixture,
)
from emkit.persist import load_model

from .test_cli import snapshot
from .test_cli_long_fits import assert_failed, run_main

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


def write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row)
                                  for row in rows]
    path.write_text("\n".join(lines) + "\n")


def loglik_of(out: str) -> float:
    return float(re.search(r"log-likelihood\s+(-?[\d.]+)", out)[1])


def bic_of(out: str) -> float:
    return float(re.search(r"BIC\s+(-?[\d.]+)", out)[1])


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def binary(here):
    rng = np.random.default_rng(1)
    z = rng.integers(2, size=240)
    p = np.where(z[:, None] == 0, [0.85, 0.8, 0.2, 0.1], [0.15, 0.3, 0.9, 0.7])
    X = (rng.random((240, 4)) < p).astype(int)
    write_csv(here / "binary.csv", ["q1", "q2", "q3", "q4"], X.tolist())
    return X


@pytest.fixture
def counts(here):
    rng = np.random.default_rng(2)
    z = rng.integers(2, size=240)
    X = rng.poisson(np.where(z[:, None] == 0, [1.0, 3.0], [6.0, 0.5]))
    write_csv(here / "counts.csv", ["calls", "visits"], X.tolist())
    return X


@pytest.fixture
def answers(here):
    """Survey answers (text, with a few empty cells) and an id column."""
    rng = np.random.default_rng(3)
    z = rng.integers(2, size=200)
    typical = np.array([["yes", "agree", "red"], ["no", "disagree", "blue"]], dtype=object)
    other = np.array([["no", "neutral", "blue"], ["yes", "neutral", "red"]], dtype=object)
    X = np.where(rng.random((200, 3)) < 0.8, typical[z], other[z]).astype(object)
    X[[5, 17, 90], [0, 2, 1]] = None
    rows = [[f"p{i}", *row] for i, row in enumerate(X.tolist())]
    write_csv(here / "answers.csv", ["person", "smoker", "opinion", "colour"], rows)
    return X


@pytest.fixture
def regimes(here):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 10, 240)
    regime = rng.integers(2, size=240)
    y = np.where(regime == 0, 1 + 2 * x, 20 - x) + rng.normal(0, 0.5, 240)
    noise = rng.normal(size=240)
    write_csv(here / "pairs.csv", ["x", "noise", "y"],
              [[repr(float(a)), repr(float(b)), repr(float(c))]
               for a, b, c in zip(x, noise, y, strict=True)])
    return np.c_[x, noise], y


def fit(capsys, *args):
    code, out, err = run_main(capsys, "fit", *args, "--out", "m.json", "--labels", "labels.csv",
                              "--random-state", 0)
    assert code == 0, err
    return out


def labels_file(here):
    return np.loadtxt(here / "labels.csv", skiprows=1, delimiter=",", usecols=-1, dtype=int)


def check_report(out, reference, X, y=None):
    args = (X,) if y is None else (X, y)
    assert loglik_of(out) == pytest.approx(reference.score_samples(*args).sum(), abs=1e-4)
    assert bic_of(out) == pytest.approx(reference.bic(*args), abs=1e-4)
    assert f"iterations      {reference.n_iter_}\n" in out


def test_bernoulli(binary, here, capsys):
    out = fit(capsys, "binary.csv", "--k", 2, "--family", "bernoulli", "--alpha", 0.5)
    reference = BernoulliMixture(2, alpha=0.5, random_state=0).fit(binary)
    assert out.startswith("BernoulliMixture fitted to binary.csv (240 rows; columns q1, q2, "
                          "q3, q4)")
    check_report(out, reference, binary)
    model = load_model(here / "m.json")
    assert isinstance(model, BernoulliMixture) and model.alpha == 0.5
    np.testing.assert_allclose(model.probabilities_, reference.probabilities_, rtol=1e-12)
    np.testing.assert_allclose(model.weights_, reference.weights_, rtol=1e-12)
    np.testing.assert_array_equal(labels_file(here), reference.predict(binary))
    code, out, err = run_main(capsys, "predict", "m.json", "binary.csv", "--proba")
    assert code == 0, err
    rows = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_array_equal(rows[:, 0], reference.predict(binary))
    np.testing.assert_allclose(rows[:, 1:], reference.predict_proba(binary), rtol=1e-10)
    code, out, err = run_main(capsys, "score", "m.json", "binary.csv", "--threshold", 0.01)
    assert code == 0, err
    scores = np.loadtxt(out.splitlines()[1:], delimiter=",")
    log_p = reference.score_samples(binary)
    np.testing.assert_allclose(scores[:, 0], log_p, rtol=1e-12)
    np.testing.assert_array_equal(scores[:, 1], log_p < np.log(0.01))
    # a cell outside {0, 1}: one line naming the file, row and column
    write_csv(here / "bad.csv", ["q1", "q2", "q3", "q4"], [[0, 1, 1, 0], [1, 2, 0, 0]])
    assert_failed(run_main(capsys, "predict", "m.json", "bad.csv"),
                  "bad.csv, data row 2, column 'q2': has value 2.0")


def test_poisson_incremental_schedule_with_a_checkpoint(counts, here, capsys):
    """The long-fit options reach every family that has them (here Poisson)."""
    fit(capsys, "counts.csv", "--k", 2, "--family", "poisson", "--schedule", "incremental",
        "--batch-size", 60, "--checkpoint", "ck.npz", "--no-progress")
    reference = PoissonMixture(2, schedule="incremental", batch_size=60,
                               random_state=0).fit(counts)
    model = load_model(here / "m.json")
    np.testing.assert_allclose(model.rates_, reference.rates_, rtol=1e-12)
    assert model.n_iter_ == reference.n_iter_
    assert (here / "ck.npz").exists()


def test_poisson(counts, here, capsys):
    out = fit(capsys, "counts.csv", "--k", 2, "--family", "poisson", "--n-init", 2)
    reference = PoissonMixture(2, n_init=2, random_state=0).fit(counts)
    check_report(out, reference, counts)
    model = load_model(here / "m.json")
    np.testing.assert_allclose(model.rates_, reference.rates_, rtol=1e-12)
    np.testing.assert_array_equal(labels_file(here), reference.predict(counts))
    code, out, err = run_main(capsys, "score", "m.json", "counts.csv", "--contamination", 0.05)
    assert code == 0, err
    scores = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(scores[:, 0], reference.score_samples(counts), rtol=1e-12)
    write_csv(here / "bad.csv", ["calls", "visits"], [[1, 2], [-1, 0]])
    assert_failed(run_main(capsys, "fit", "bad.csv", "--k", 1, "--family", "poisson", "--out",
                           "x.json"), "bad.csv, data row 2, column 'calls': has value -1.0")


def test_categorical_reads_text_cells(answers, here, capsys):
    out = fit(capsys, "answers.csv", "--k", 2, "--family", "categorical", "--alpha", 1,
              "--id-column", "person")
    reference = CategoricalMixture(2, alpha=1.0, random_state=0).fit(answers)
    assert "(200 rows; columns smoker, opinion, colour)" in out
    check_report(out, reference, answers)
    model = load_model(here / "m.json")
    assert [list(c) for c in model.categories_] == [["no", "yes"],
                                                    ["agree", "disagree", "neutral"],
                                                    ["blue", "red"]]
    for fitted, expected in zip(model.probabilities_, reference.probabilities_, strict=True):
        np.testing.assert_allclose(fitted, expected, rtol=1e-12)
    ids = np.loadtxt(here / "labels.csv", skiprows=1, delimiter=",", usecols=0, dtype=str)
    assert ids[0] == "p0" and ids[-1] == "p199"
    np.testing.assert_array_equal(labels_file(here), reference.predict(answers))
    code, out, err = run_main(capsys, "predict", "m.json", "answers.csv", "--id-column",
                              "person", "--proba")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "person,label,p0,p1"
    proba = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    np.testing.assert_allclose(proba, reference.predict_proba(answers), rtol=1e-10)
    # a level the model never saw: one line naming it
    write_csv(here / "new.csv", ["smoker", "opinion", "colour"], [["yes", "agree", "green"]])
    assert_failed(run_main(capsys, "predict", "m.json", "new.csv"),
                  "new.csv, data row 1, column 'colour': has level 'green'")
    # without --family categorical, text columns are refused with the hint
    assert_failed(run_main(capsys, "fit", "answers.csv", "--k", 2, "--out", "x.json",
                           "--drop", "person"), "--family categorical")


def test_student_t(here, capsys):
    rng = np.random.default_rng(5)
    X = np.r_[rng.standard_t(3, size=(150, 2)), 6 + rng.standard_t(3, size=(120, 2))]
    write_csv(here / "heavy.csv", ["u", "v"], [[repr(a), repr(b)] for a, b in X.tolist()])
    out = fit(capsys, "heavy.csv", "--k", 2, "--family", "student-t", "--covariance", "diag")
    reference = StudentTMixture(2, covariance_type="diag", random_state=0).fit(X)
    check_report(out, reference, X)
    assert "covariance      diag" in out
    assert "dof             " + ", ".join(
        f"{v:.4g}" for v in reference.degrees_of_freedom_) in out
    np.testing.assert_allclose(load_model(here / "m.json").means_, reference.means_,
                               rtol=1e-10)
    fit(capsys, "heavy.csv", "--k", 2, "--family", "student-t", "--dof", 5)
    fixed = StudentTMixture(2, dof=5.0, random_state=0).fit(X)
    model = load_model(here / "m.json")
    np.testing.assert_allclose(model.degrees_of_freedom_, [5.0, 5.0])
    np.testing.assert_allclose(model.means_, fixed.means_, rtol=1e-10)
    fit(capsys, "heavy.csv", "--k", 2, "--family", "student-t", "--dof", "shared")
    shared = load_model(here / "m.json").degrees_of_freedom_
    assert shared[0] == shared[1]


def test_regression_mixture_on_a_target_column(regimes, here, capsys):
    X, y = regimes
    out = fit(capsys, "pairs.csv", "--k", 2, "--target", "y", "--n-init", 3)
    reference = RegressionMixture(2, n_init=3, random_state=0).fit(X, y)
    assert out.startswith("RegressionMixture fitted to pairs.csv (240 rows; target y; "
                          "columns x, noise)")
    assert "family          gaussian" in out
    check_report(out, reference, X, y)
    model = load_model(here / "m.json")
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-10)
    np.testing.assert_array_equal(labels_file(here), reference.predict_regime(X, y))
    assert list(model.feature_names_in_) == ["x", "noise"]
    # predict without the target: E[y | x]; with it, the regime and its probabilities
    code, out, err = run_main(capsys, "predict", "m.json", "pairs.csv", "--drop", "y")
    assert code == 0, err
    assert out.splitlines()[0] == "prediction"
    np.testing.assert_allclose(np.loadtxt(out.splitlines()[1:]), reference.predict(X),
                               rtol=1e-12)
    code, out, err = run_main(capsys, "predict", "m.json", "pairs.csv", "--target", "y",
                              "--proba")
    assert code == 0, err
    assert out.splitlines()[0] == "label,prediction,p0,p1"
    rows = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_array_equal(rows[:, 0], reference.predict_regime(X, y))
    np.testing.assert_allclose(rows[:, 2:], reference.predict_proba(X, y), rtol=1e-10)
    code, out, err = run_main(capsys, "score", "m.json", "pairs.csv", "--target", "y",
                              "--contamination", 0.1)
    assert code == 0, err
    scores = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(scores[:, 0], reference.score_samples(X, y), rtol=1e-12)
    assert_failed(run_main(capsys, "score", "m.json", "pairs.csv", "--threshold", 0.1),
                  "--target COL")
    assert_failed(run_main(capsys, "predict", "m.json", "pairs.csv", "--drop", "y",
                           "--proba"), "--proba", "--target")
    assert_failed(run_main(capsys, "predict", "m.json", "pairs.csv"),
                  "['x', 'noise', 'y']", "['x', 'noise']")


def test_poisson_regression(here, capsys):
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 2, 300)
    regime = rng.integers(2, size=300)
    y = rng.poisson(np.exp(np.where(regime == 0, 0.2 + 1.0 * x, 2.0 - 0.5 * x)))
    write_csv(here / "counts.csv", ["x", "y"], [[repr(float(a)), int(b)]
                                          for a, b in zip(x, y, strict=True)])
    out = fit(capsys, "counts.csv", "--k", 2, "--target", "y", "--regression-family",
              "poisson")
    reference = RegressionMixture(2, family="poisson", random_state=0).fit(x[:, None], y)
    assert "family          poisson" in out
    check_report(out, reference, x[:, None], y)
    np.testing.assert_allclose(load_model(here / "m.json").coef_, reference.coef_, rtol=1e-8)


def test_mixture_of_experts(here, capsys):
    """--gate: the regime probabilities depend on x (MixtureOfExperts), as the library."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, 300)
    regime = (rng.random(300) < 1 / (1 + np.exp(-2 * x))).astype(int)
    y = np.where(regime == 0, 1.0 + 2.0 * x, -1.0 - 0.5 * x) + 0.3 * rng.normal(size=300)
    write_csv(here / "pairs.csv", ["x", "y"], [[repr(float(a)), repr(float(b))]
                                         for a, b in zip(x, y, strict=True)])
    out = fit(capsys, "pairs.csv", "--k", 2, "--target", "y", "--gate")
    reference = MixtureOfExperts(2, random_state=0).fit(x[:, None], y)
    check_report(out, reference, x[:, None], y)
    model = load_model(here / "m.json")
    assert isinstance(model, MixtureOfExperts)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.predict_proba_gate(x[:, None]),
                               reference.predict_proba_gate(x[:, None]), rtol=1e-8)
    code, out, err = run_main(capsys, "predict", "m.json", "pairs.csv", "--target", "y")
    assert code == 0, err
    assert_failed(run_main(capsys, "fit", "pairs.csv", "--k", 2, "--gate", "--out", "g.json"),
                  "--gate needs --target")


@pytest.mark.parametrize(("args", "words"), [
    (["data.csv", "--alpha", 1], ["--alpha does not apply to --family gaussian"]),
    (["data.csv", "--family", "bernoulli", "--dof", 3], ["--dof", "--family bernoulli"]),
    (["data.csv", "--family", "bernoulli", "--covariance", "diag"], ["--covariance"]),
    (["data.csv", "--family", "poisson", "--reg-covar", 1e-3], ["--reg-covar"]),
    (["data.csv", "--regression-family", "poisson"], ["--regression-family needs --target"]),
    (["data.csv", "--target", "y", "--family", "poisson"], ["--family poisson", "--target"]),
    (["data.csv", "--target", "y", "--contamination", 0.1], ["--contamination", "--target"]),
    (["data.csv", "--family", "poisson", "--threshold", 0.1], ["--threshold",
                                                                 "--family poisson"]),
    (["data.csv", "--target", "zz"], ["--target", "data.csv", "'zz'"]),
    (["data.csv", "--target", "9"], ["--target", "out of range"]),
    (["data.csv", "--target", "x", "--columns", "x"], ["--target", "no column is left"]),
    (["data.csv", "--target", "x", "--id-column", "x"], ["--target", "id column"]),
    (["gap.csv", "--target", "y"], ["--target", "gap.csv, row 2", "missing"]),
    (["data.csv", "--target", "y", "--alpha", 1], ["--alpha does not apply to --target"]),
    (["data.csv", "--family", "bernoulli", "--alpha", -1], ["--alpha"]),
    (["data.csv", "--family", "student-t", "--dof", -2], ["--dof"]),
    (["data.csv", "--family", "bernoulli"], ["data.csv"]),
    (["data.csv", "--target", "y", "--regression-family", "binomial"],
     ["data.csv, target column 'y' has value -1.0", "binary"]),
])
def test_bad_family_options(here, capsys, args, words):
    write_csv(here / "data.csv", ["x", "y"], [[0.5 * i, 2.5 * i - 1] for i in range(20)])
    write_csv(here / "gap.csv", ["x", "y"], [[1, 2], [2, None], [3, 4]])
    before = snapshot(here)
    assert_failed(run_main(capsys, "fit", *args, "--k", 2, "--out", "m.json"), *words)
    assert snapshot(here) == before


def test_bad_dof_is_a_usage_error(here, capsys):
    with pytest.raises(SystemExit) as info:
        run_main(capsys, "fit", "x.csv", "--k", 2, "--out", "m.json", "--family", "student-t",
                 "--dof", "lots")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--dof" in err and "'lots'" in err
