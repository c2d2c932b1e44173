"""``emkit impute`` and ``emkit score`` (and ``emkit fit --contamination``).

Happy paths and a few bad inputs run ``python -m emkit`` in a subprocess, as
tests/test_cli.py does; the full table of bad inputs calls :func:`emkit.cli.main`
in-process (each subprocess costs a second or two of imports).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from emkit import GaussianMixture, GaussianMixtureImputer, MixtureOutlierDetector
from emkit.cli import main
from emkit.persist import load_model, save_model

from .test_cli import run, snapshot

NAMES_WARNING = "ignore:X does not have valid feature names"


def engines(seed: int = 0, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.multivariate_normal([2.0, 8.0], [[0.3, 0.0], [0.0, 4.0]], size=n // 2)
    b = rng.multivariate_normal([6.0, 2.0], [[4.0, 0.0], [0.0, 0.3]], size=n - n // 2)
    return np.vstack([a, b, [[6.0, 8.0], [-3.0, -3.0]]])


def write_csv(path: Path, header: str, rows, missing: set[tuple[int, int]] = frozenset(),
              token: str = "") -> Path:
    lines = [header]
    for i, row in enumerate(rows):
        cells = [token if (i, j) in missing else repr(float(v)) for j, v in enumerate(row)]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def incomplete(seed: int = 1):
    """engines() with about 15% of the cells missing, written as '', NA or NaN."""
    X = engines(seed)
    rng = np.random.default_rng(seed)
    mask = rng.random(X.shape) < 0.15
    mask[5] = True  # a row with nothing observed
    Xm = X.copy()
    Xm[mask] = np.nan
    return Xm, {tuple(ij) for ij in np.argwhere(mask)}


def read_table(path_or_text, text: bool = False):
    content = path_or_text if text else Path(path_or_text).read_text()
    lines = content.splitlines()
    return lines[0], np.array([line.split(",") for line in lines[1:]], dtype=float)


# ---------------------------------------------------------------- impute
@pytest.mark.parametrize("draw", [False, True])
def test_impute_writes_the_completed_csv(tmp_path, draw):
    Xm, missing = incomplete()
    data = write_csv(tmp_path / "data.csv", "vibration,heat", Xm, missing, token="NA")
    # other spellings of "missing" too
    text = data.read_text().replace("NA,", ",", 5).replace(",NA", ",NaN", 5)
    data.write_text(text)
    before = data.read_bytes()
    options = ["--draw"] if draw else []
    result = run(tmp_path, "impute", "data.csv", "--out", "filled.csv", "--k", 2,
                 "--covariance", "full", "--random-state", 1, *options)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "missing values" in result.stdout
    assert f"{int(np.isnan(Xm).sum())} in {int(np.isnan(Xm).any(axis=1).sum())} rows" \
        in result.stdout
    header, filled = read_table(tmp_path / "filled.csv")
    assert header == "vibration,heat"
    expected = GaussianMixtureImputer(2, random_state=1, sample_posterior=draw).fit_transform(Xm)
    np.testing.assert_array_equal(filled, expected)  # repr floats: exact
    observed = ~np.isnan(Xm)
    np.testing.assert_array_equal(filled[observed], Xm[observed])
    assert np.isfinite(filled).all()
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "filled.csv"]


# ----------------------------------------------------------------- score
@pytest.mark.filterwarnings(NAMES_WARNING)
def test_fit_a_detector_then_score_new_rows(tmp_path):
    X = engines(2)
    write_csv(tmp_path / "train.csv", "vibration,heat", X)
    new = np.array([[2.0, 8.0], [6.0, 2.0], [6.0, 8.0], [0.0, 0.0], [2.1, 7.0]])
    new_csv = write_csv(tmp_path / "new.csv", "vibration,heat", new)
    before = new_csv.read_bytes()
    result = run(tmp_path, "fit", "train.csv", "--k", 2, "--random-state", 0,
                 "--contamination", 0.02, "--out", "detector.json", "--labels", "labels.csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MixtureOutlierDetector fitted to train.csv")
    detector = load_model(tmp_path / "detector.json")
    assert isinstance(detector, MixtureOutlierDetector)
    assert list(detector.feature_names_in_) == ["vibration", "heat"]
    reference = MixtureOutlierDetector(2, contamination=0.02, random_state=0).fit(X)
    assert detector.offset_ == reference.offset_
    flagged = int((reference.predict(X) == -1).sum())
    assert f"{flagged} of {len(X)} training rows" in result.stdout
    labels = (tmp_path / "labels.csv").read_text().splitlines()
    assert labels[0] == "label"
    np.testing.assert_array_equal(np.array(labels[1:], dtype=int), reference.mixture_.predict(X))

    result = run(tmp_path, "score", "detector.json", "new.csv", "--out", "flags.csv")
    assert result.returncode == 0, result.stderr
    header, table = read_table(tmp_path / "flags.csv")
    assert header == "log_density,outlier"
    np.testing.assert_array_equal(table[:, 0], reference.score_samples(new))
    np.testing.assert_array_equal(table[:, 1], [0, 0, 1, 1, 0])
    assert "flagged 2 of 5 rows of new.csv as outliers" in result.stdout
    assert new_csv.read_bytes() == before

    # a missing cell is scored by the density of the row's observed values
    write_csv(tmp_path / "gaps.csv", "vibration,heat", new[:2])
    gaps = tmp_path / "gaps.csv"
    gaps.write_text(gaps.read_text().replace(",8.0", ",", 1))
    result = run(tmp_path, "score", "detector.json", "gaps.csv", "--out", "gap_flags.csv")
    assert result.returncode == 0, result.stderr
    _, table = read_table(tmp_path / "gap_flags.csv")
    expected = reference.score_samples(np.array([[2.0, np.nan], [6.0, 2.0]]))
    np.testing.assert_allclose(table[:, 0], expected, rtol=1e-12)


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_score_with_a_gaussian_mixture_and_a_density_threshold(tmp_path):
    X = engines(3)
    write_csv(tmp_path / "data.csv", "vibration,heat", X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.feature_names_in_ = np.array(["vibration", "heat"], dtype=object)
    save_model(gm, tmp_path / "model.json")
    epsilon = 1e-3
    result = run(tmp_path, "score", "model.json", "data.csv", "--threshold", epsilon)
    assert result.returncode == 0, result.stderr
    header, table = read_table(result.stdout, text=True)
    assert header == "log_density,outlier"
    log_density = gm.score_samples(X)
    np.testing.assert_array_equal(table[:, 0], log_density)
    np.testing.assert_array_equal(table[:, 1], log_density < math.log(epsilon))
    count = int((log_density < math.log(epsilon)).sum())
    assert 0 < count < 20
    assert result.stderr.splitlines() == [
        f"flagged {count} of {len(X)} rows of data.csv as outliers "
        f"(log p(x) < {math.log(epsilon):.4f}, i.e. p(x) < 0.001)"]


def test_score_contamination_flags_that_fraction_of_the_data(tmp_path, capsys, monkeypatch):
    X = engines(4)
    write_csv(tmp_path / "data.csv", "vibration,heat", X)
    save_model(GaussianMixture(2, random_state=0).fit(X), tmp_path / "model.json")
    monkeypatch.chdir(tmp_path)
    assert main(["score", "model.json", "data.csv", "--contamination", "0.05",
                 "--out", "flags.csv"]) == 0
    _, table = read_table(tmp_path / "flags.csv")
    assert abs(table[:, 1].sum() - 0.05 * len(X)) <= 1
    assert table[table[:, 1] == 1, 0].max() < table[table[:, 1] == 0, 0].min()


# ------------------------------------------------------------- bad input
def detector_and_data(text: str):
    def setup(tmp_path):
        X = engines(0)
        detector = MixtureOutlierDetector(2, random_state=0).fit(X)
        detector.feature_names_in_ = np.array(["vibration", "heat"], dtype=object)
        save_model(detector, tmp_path / "model.json")
        (tmp_path / "data.csv").write_text(text)

    return setup


def mixture_and_data(tmp_path):
    save_model(GaussianMixture(2, random_state=0).fit(engines(0)), tmp_path / "model.json")
    write_csv(tmp_path / "data.csv", "vibration,heat", engines(1))


def imputer_and_data(tmp_path):
    save_model(GaussianMixtureImputer().fit(engines(0)), tmp_path / "model.json")
    write_csv(tmp_path / "data.csv", "vibration,heat", engines(1))


def cells(text: str):
    def setup(tmp_path):
        (tmp_path / "data.csv").write_text(text)

    return setup


IMPUTE = ["impute", "data.csv", "--out", "filled.csv"]
SCORE = ["score", "model.json", "data.csv", "--out", "flags.csv"]

BAD_INPUT = {
    "impute: output is input": (cells("a,b\n1,2\n3,\n5,6\n"),
                                ["impute", "data.csv", "--out", "./data.csv"],
                                ["data.csv", "input"]),
    "impute: inf cell": (cells("a,b\n1,2\n3,\n5,inf\n"), IMPUTE,
                         ["data.csv", "line 4", "column 'b'", "'inf'", "inf is not allowed"]),
    "impute: non-numeric": (cells("a,b\n1,2\nx,\n5,6\n"), IMPUTE,
                            ["line 3", "column 'a'", "'x'"]),
    "impute: empty column": (cells("a,b\n1,\n3,NA\n5,nan\n"), IMPUTE,
                             ["data.csv", "column 'b'", "no observed value"]),
    "impute: more components than rows": (cells("a,b\n1,2\n3,\n5,6\n"), [*IMPUTE, "--k", 5],
                                          ["data.csv has 3 rows", "n_components=5"]),
    "impute: unknown covariance": (cells("a,b\n1,2\n3,\n5,6\n"),
                                   [*IMPUTE, "--covariance", "banana"],
                                   ["--covariance", "'banana'"]),
    "impute: missing file": (lambda tmp_path: None, IMPUTE, ["data.csv", "No such file"]),
    "score: mixture without a rule": (mixture_and_data, SCORE,
                                      ["GaussianMixture", "--threshold", "--contamination"]),
    "score: bad contamination": (mixture_and_data, [*SCORE, "--contamination", "0.7"],
                                 ["--contamination", "(0, 0.5]", "0.7"]),
    "score: bad threshold": (mixture_and_data, [*SCORE, "--threshold", "-1"],
                             ["--threshold", "> 0", "-1"]),
    "score: nan threshold": (mixture_and_data, [*SCORE, "--threshold", "nan"],
                             ["--threshold", "nan"]),
    "score: imputer model": (imputer_and_data, SCORE,
                             ["GaussianMixtureImputer", "score needs a mixture",
                              "or a MixtureOutlierDetector"]),
    "score: wrong columns": (detector_and_data("x,y\n1,2\n"), SCORE,
                             ["data.csv", "['x', 'y']", "['vibration', 'heat']"]),
    "score: output is model": (detector_and_data("vibration,heat\n1,2\n"),
                               ["score", "model.json", "data.csv", "--out", "model.json"],
                               ["model.json", "input"]),
    "predict: imputer model": (imputer_and_data, ["predict", "model.json", "data.csv"],
                               ["GaussianMixtureImputer", "does not predict"]),
}


def check_failed_cleanly(tmp_path, before, returncode, stderr, expected):
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("emkit: error: ")
    for word in expected:
        assert word in lines[0]
    assert snapshot(tmp_path) == before  # no output written, inputs unchanged
    assert not list(tmp_path.glob(".*"))  # no temporary left


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, case):
    setup, args, expected = BAD_INPUT[case]
    setup(tmp_path)
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    check_failed_cleanly(tmp_path, before, code, captured.err, expected)


@pytest.mark.parametrize("case", ["impute: inf cell", "score: mixture without a rule",
                                  "score: bad contamination"])
def test_bad_input_in_a_subprocess(tmp_path, case):
    setup, args, expected = BAD_INPUT[case]
    setup(tmp_path)
    before = snapshot(tmp_path)
    result = run(tmp_path, *args)
    check_failed_cleanly(tmp_path, before, result.returncode, result.stderr, expected)


def test_threshold_and_contamination_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["score", "m.json", "d.csv", "--threshold", "1e-3", "--contamination", "0.1"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_help_documents_the_new_commands(capsys):
    for command, words in [("impute", ["--draw", "NA", "conditional mean"]),
                           ("score", ["log_density,outlier", "--threshold", "--contamination"])]:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        for word in words:
            assert word in out, (command, word)
