"""``emkit fit --family mixed --group NAME:FAMILY:COLS`` (MixedMixture), predict and score.

In-process (:func:`emkit.cli.main`); the fit is compared with the library's
MixedMixture fitted to the same table (an object array whose groups name
their columns by position) with the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from emkit import MixedMixture
from emkit.persist import load_model

from .test_cli import snapshot
from .test_cli_families import bic_of, loglik_of, write_csv
from .test_cli_long_fits import assert_failed, run_main

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

GROUPS = ["--group", "size:gaussian:height,weight", "--group", "habits:categorical:smoker",
          "--group", "care:poisson:visits"]
SPEC = [("size", "gaussian", [0, 1], {"covariance_type": "diag"}),
        ("habits", "categorical", [2], {"alpha": 1.0}),
        ("care", "poisson", [3], {"alpha": 1.0})]


@pytest.fixture
def people(tmp_path, monkeypatch):
    """Two classes of people: two measurements, a yes/no answer, a count; a few gaps."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(21)
    n = 200
    z = rng.integers(2, size=n)
    height = rng.normal(np.array([160.0, 178.0])[z], 6.0)
    weight = rng.normal(np.array([58.0, 80.0])[z], 7.0)
    smoker = np.where(rng.random(n) < np.array([0.2, 0.7])[z], "yes", "no").astype(object)
    visits = rng.poisson(np.array([1.0, 5.0])[z]).astype(float)
    X = np.empty((n, 4), dtype=object)
    X[:, 0], X[:, 1], X[:, 2], X[:, 3] = height, weight, smoker, visits
    X[3, 0] = np.nan
    X[8, 2] = None
    X[12, 3] = np.nan
    rows = [[f"p{i}", *("" if v is None or (isinstance(v, float) and np.isnan(v))
                        else repr(v) if isinstance(v, float) and j < 2
                        else int(v) if isinstance(v, float) else v
                        for j, v in enumerate(row))]
            for i, row in enumerate(X.tolist())]
    write_csv(tmp_path / "people.csv", ["person", "height", "weight", "smoker", "visits"],
              rows)
    return X


def test_mixed_equals_the_library(people, tmp_path, capsys):
    code, out, err = run_main(capsys, "fit", "people.csv", "--family", "mixed", *GROUPS,
                              "--k", 2, "--id-column", "person", "--covariance", "diag",
                              "--alpha", 1, "--random-state", 0, "--output", "m.json",
                              "--labels", "labels.csv")
    assert code == 0, err
    reference = MixedMixture(2, families=SPEC, random_state=0).fit(people)
    assert out.startswith("MixedMixture fitted to people.csv (200 rows; columns height, "
                          "weight, smoker, visits)")
    assert "group size      gaussian (height, weight, covariance_type=diag)\n" in out
    assert "group habits    categorical (smoker, alpha=1.0)\n" in out
    assert loglik_of(out) == pytest.approx(reference.score_samples(people).sum(), abs=1e-4)
    assert bic_of(out) == pytest.approx(reference.bic(people), abs=1e-4)
    assert f"iterations      {reference.n_iter_}\n" in out
    model = load_model(tmp_path / "m.json")
    assert isinstance(model, MixedMixture)
    assert list(model.feature_names_in_) == ["height", "weight", "smoker", "visits"]
    np.testing.assert_allclose(model.weights_, reference.weights_, rtol=1e-12)
    for name in ("size", "care"):
        for field, value in reference.parameters_[name].items():
            np.testing.assert_allclose(model.parameters_[name][field], value, rtol=1e-12)
    labels = np.loadtxt(tmp_path / "labels.csv", skiprows=1, delimiter=",", usecols=1)
    np.testing.assert_array_equal(labels, reference.predict(people))

    code, out, err = run_main(capsys, "predict", "m.json", "people.csv", "--id-column",
                              "person", "--proba")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "person,label,p0,p1" and lines[1].startswith("p0,")
    values = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_array_equal(values[:, 0], reference.predict(people))
    np.testing.assert_allclose(values[:, 1:], reference.predict_proba(people), rtol=1e-10)
    code, out, err = run_main(capsys, "score", "m.json", "people.csv", "--drop", "person",
                              "--contamination", 0.05)
    assert code == 0, err
    scores = np.loadtxt(out.splitlines()[1:], delimiter=",")
    np.testing.assert_allclose(scores[:, 0], reference.score_samples(people), rtol=1e-12)
    # predict checks the columns against the model's, and a number cell in a numeric group
    assert_failed(run_main(capsys, "predict", "m.json", "people.csv", "--drop", "person",
                           "--columns", "smoker,height,weight,visits"), "different order")
    assert_failed(run_main(capsys, "predict", "m.json", "people.csv", "--columns",
                           "height,weight,smoker"), "expects ['height', 'weight', 'smoker', "
                  "'visits']")
    np.save(tmp_path / "numbers.npy", np.zeros((3, 4)))
    assert_failed(run_main(capsys, "predict", "m.json", "numbers.npy"),
                  "numbers.npy: categorical and mixed data are read as text")
    write_csv(tmp_path / "new.csv", ["height", "weight", "smoker", "visits"],
              [[170, 70, "no", 2], [171, "heavy", "yes", 1]])
    assert_failed(run_main(capsys, "predict", "m.json", "new.csv"),
                  "new.csv, data row 2, column 'weight' (group 'size', gaussian)",
                  "non-numeric value 'heavy'")


def test_groups_by_column_number_and_bernoulli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(22)
    z = rng.integers(2, size=150)
    flags = (rng.random((150, 2)) < np.where(z[:, None] == 0, 0.2, 0.8)).astype(float)
    level = rng.normal(np.where(z == 0, -2.0, 2.0))
    write_csv(tmp_path / "f.csv", ["f1", "f2", "level"],
              [[int(a), int(b), repr(float(c))] for (a, b), c in zip(flags, level,
                                                                     strict=True)])
    code, out, err = run_main(capsys, "fit", "f.csv", "--family", "mixed", "--group",
                              "flags:bernoulli:1,2", "--group", "level:gaussian:level",
                              "--k", 2, "--random-state", 0, "--out", "m.json")
    assert code == 0, err
    X = np.empty((150, 3), dtype=object)
    X[:, :2], X[:, 2] = flags, level
    reference = MixedMixture(2, families=[("flags", "bernoulli", [0, 1], {}),
                                          ("level", "gaussian", [2], {})],
                             random_state=0).fit(X)
    assert "group flags     bernoulli (f1, f2)\n" in out
    assert loglik_of(out) == pytest.approx(reference.score_samples(X).sum(), abs=1e-4)


@pytest.mark.parametrize(("args", "words"), [
    ([], ["--family mixed needs", "--group NAME:FAMILY:COLS"]),
    (["--group", "size:gaussian"], ["--group 'size:gaussian'", "expected NAME:FAMILY:COLS"]),
    (["--group", "size:gamma:height"], ["unknown family 'gamma'", "bernoulli, categorical"]),
    (["--group", "a:gaussian:height", "--group", "a:poisson:visits"], ["'a' is used twice"]),
    (["--group", "size:gaussian:height,,weight"], ["empty column name"]),
    (["--group", "size:gaussian:height,shoe"], ["--group size", "no column 'shoe'"]),
    (["--group", "size:gaussian:height,person"], ["'person' is the id column"]),
    (["--group", "size:gaussian:height,weight", "--group", "w:gaussian:weight"],
     ["--group w", "'weight' is already in group 'size'"]),
    (["--group", "size:gaussian:height"],
     ["columns in no group: 'weight', 'smoker', 'visits'", "--drop weight,smoker,visits"]),
    (["--group", "all:gaussian:height,weight,smoker,visits"],
     ["people.csv, data row 1, column 'smoker' (group 'all', gaussian)", "non-numeric"]),
    ([*GROUPS, "--dof", 3], ["--dof does not apply to --family mixed"]),
    (["--group", "h:categorical:height,weight,smoker,visits", "--covariance", "diag"],
     ["--covariance does not apply to any group"]),
    ([*GROUPS, "--contamination", 0.1], ["--contamination", "--family mixed"]),
])
def test_bad_group_specs(people, tmp_path, capsys, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "people.csv", "--family", "mixed", "--k", 2,
                           "--id-column", "person", *args, "--out", "m.json"), *words)
    assert snapshot(tmp_path) == before


def test_group_needs_family_mixed(people, tmp_path, capsys):
    assert_failed(run_main(capsys, "fit", "people.csv", "--k", 2, *GROUPS, "--out", "m.json"),
                  "--group needs --family mixed")
