"""Column selection on the command line: --columns, --drop, --id-column; text columns.

In-process (:func:`emkit.cli.main`); the subprocess behaviour of the CLI is
covered by tests/test_cli.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from emkit import GaussianMixture, GaussianMixtureImputer
from emkit.cli import main
from emkit.datasets import load_faithful
from emkit.persist import load_model

from .test_cli import snapshot

NAMES_WARNING = "ignore:X does not have valid feature names"


def table_csv(path, n=None, ids=True):
    """faithful with a text id, a text city and a numeric target around the two features."""
    X = load_faithful()[:n]
    lines = ["name,eruptions,city,waiting,target"]
    for i, (a, b) in enumerate(X.tolist()):
        lines.append(f"{'r' if ids else ''}{i},{a!r},c{i % 3},{b!r},{i % 2}")
    path.write_text("\n".join(lines) + "\n")
    return X


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_rows(path_or_text, text=False):
    content = path_or_text if text else path_or_text.read_text()
    lines = content.splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return table_csv(tmp_path / "data.csv")


SELECTED = ["--id-column", "name", "--drop", "city,target"]


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_fit_with_ids_and_dropped_columns(tmp_path, data, capsys):
    code, out, err = run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "m.json",
                              "--labels", "labels.csv", "--random-state", 0, *SELECTED)
    assert code == 0, err
    assert "columns eruptions, waiting" in out
    model = load_model(tmp_path / "m.json")
    assert list(model.feature_names_in_) == ["eruptions", "waiting"]
    reference = GaussianMixture(2, random_state=0).fit(data)
    np.testing.assert_array_equal(model.means_, reference.means_)
    header, rows = read_rows(tmp_path / "labels.csv")
    assert header == ["name", "label"]
    assert [r[0] for r in rows] == [f"r{i}" for i in range(len(data))]
    assert [int(r[1]) for r in rows] == reference.predict(data).tolist()


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_predict_and_score_are_keyed_by_id(tmp_path, data, capsys):
    assert run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "m.json",
                    "--random-state", 0, *SELECTED)[0] == 0
    reference = load_model(tmp_path / "m.json")
    # the same selection by 1-based numbers, output on stdout
    code, out, err = run_main(capsys, "predict", "m.json", "data.csv", "--proba",
                              "--id-column", 1, "--columns", "2,4")
    assert code == 0 and err == ""
    header, rows = read_rows(out, text=True)
    assert header == ["name", "label", "p0", "p1"]
    assert [r[0] for r in rows] == [f"r{i}" for i in range(len(data))]
    assert [int(r[1]) for r in rows] == reference.predict(data).tolist()
    np.testing.assert_array_equal(np.array([r[2:] for r in rows], dtype=float),
                                  reference.predict_proba(data))
    code, out, err = run_main(capsys, "score", "m.json", "data.csv", "--threshold", "1e-3",
                              "--out", "flags.csv", *SELECTED)
    assert code == 0, err
    header, rows = read_rows(tmp_path / "flags.csv")
    assert header == ["name", "log_density", "outlier"]
    np.testing.assert_array_equal([float(r[1]) for r in rows], reference.score_samples(data))


def test_impute_keeps_ids_first_and_rows_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X = load_faithful()[:60].copy()
    X[::5, 1] = np.nan
    lines = ["code,eruptions,waiting,note"]
    lines += [f"id-{i},{a!r},{'' if np.isnan(b) else repr(b)},free text {i}"
              for i, (a, b) in enumerate(X.tolist())]
    (tmp_path / "holes.csv").write_text("\n".join(lines) + "\n")
    code, _, err = run_main(capsys, "impute", "holes.csv", "--out", "filled.csv",
                            "--id-column", "code", "--drop", "note", "--random-state", 0)
    assert code == 0, err
    header, rows = read_rows(tmp_path / "filled.csv")
    assert header == ["code", "eruptions", "waiting"]
    assert [r[0] for r in rows] == [f"id-{i}" for i in range(60)]
    expected = GaussianMixtureImputer(random_state=0).fit_transform(X)
    np.testing.assert_array_equal(np.array([r[1:] for r in rows], dtype=float), expected)


@pytest.mark.filterwarnings(NAMES_WARNING)
def test_select_takes_column_options(tmp_path, data, capsys):
    code, out, err = run_main(capsys, "select", "data.csv", "--components", "1-2", "--models",
                              "EII,VVV", "--columns", "eruptions,waiting", "--output", "b.json")
    assert code == 0, err
    assert "columns eruptions, waiting" in out
    assert list(load_model(tmp_path / "b.json").feature_names_in_) == ["eruptions", "waiting"]


def test_numeric_id_is_not_a_feature(tmp_path, monkeypatch, capsys):
    """Without --id-column a numeric id column would silently be a feature."""
    monkeypatch.chdir(tmp_path)
    X = load_faithful()
    rows = [f"{1000 + i},{a!r},{b!r}" for i, (a, b) in enumerate(X.tolist())]
    (tmp_path / "d.csv").write_text("\n".join(["id,eruptions,waiting", *rows]) + "\n")
    assert run_main(capsys, "fit", "d.csv", "--k", 2, "--out", "a.json")[0] == 0
    assert load_model(tmp_path / "a.json").n_features_in_ == 3
    assert run_main(capsys, "fit", "d.csv", "--k", 2, "--out", "b.json",
                    "--id-column", "id")[0] == 0
    assert load_model(tmp_path / "b.json").n_features_in_ == 2


BAD = {
    "text columns named, --drop suggested": (
        ["fit", "data.csv", "--k", 2, "--out", "m.json"],
        "data.csv, line 2: non-numeric values in columns 'name' ('r0'), 'city' ('c0'); text "
        "columns? leave them out with --drop name,city"),
    "one text column, the first: id suggested": (
        ["fit", "data.csv", "--k", 2, "--out", "m.json", "--drop", "city"],
        "data.csv, line 2, column 'name': non-numeric value 'r0'; a text column? leave it out "
        "with --drop name, or keep it as row ids with --id-column name"),
    "one text column": (
        ["impute", "data.csv", "--out", "f.csv", "--id-column", "name"],
        "data.csv, line 2, column 'city': non-numeric value 'c0'; a text column? leave it out "
        "with --drop city"),
    "unknown name": (["fit", "data.csv", "--k", 2, "--out", "m.json", "--columns", "erupt"],
                     "--columns: data.csv: no column 'erupt' (the columns are 'name', "
                     "'eruptions', 'city', 'waiting', 'target')"),
    "number out of range": (["predict", "m.json", "data.csv", "--drop", "0"],
                            "--drop: data.csv: column number 0 is out of range (the file has 5 "
                            "columns)"),
    "twice": (["fit", "data.csv", "--k", 2, "--out", "m.json", "--columns", "2,eruptions"],
              "--columns: data.csv: column 'eruptions' is given twice"),
    "id among the features": (["score", "m.json", "data.csv", "--threshold", "1", "--columns",
                               "2,4", "--id-column", "eruptions"],
                              "--columns: data.csv: 'eruptions' is the id column"),
    "nothing left": (["fit", "data.csv", "--k", 2, "--out", "m.json", "--columns", "2",
                      "--drop", "eruptions"], "--drop: data.csv: no column is left"),
    "empty name": (["fit", "data.csv", "--k", 2, "--out", "m.json", "--drop", "city,,name"],
                   "--drop: empty column name in 'city,,name'"),
    "unknown id column": (["fit", "data.csv", "--k", 2, "--out", "m.json", "--id-column", "id"],
                          "--id-column: data.csv: no column 'id'"),
    "model expects other columns": (
        ["predict", "m.json", "data.csv", "--id-column", "name", "--drop", "city"],
        "data.csv: columns ['eruptions', 'waiting', 'target'] but the model m.json expects "
        "['eruptions', 'waiting']; choose them with --columns eruptions,waiting"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_selections_fail_cleanly(tmp_path, data, capsys, case):
    args, expected = BAD[case]
    gm = GaussianMixture(2, random_state=0).fit(data)
    gm.feature_names_in_ = np.array(["eruptions", "waiting"], dtype=object)
    from emkit.persist import save_model

    save_model(gm, tmp_path / "m.json")
    before = snapshot(tmp_path)
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == ""
    assert err == f"emkit: error: {expected}\n" or (
        err.startswith(f"emkit: error: {expected}") and err.count("\n") == 1), err
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize(("ids", "expected"), [
    (["a", "b", "a"], "data.csv, line 4, id column 'key': id 'a' already used on line 2; ids "
                      "must be unique"),
    (["a", " ", "c"], "data.csv, line 3, id column 'key': empty id"),
])
def test_ids_must_be_unique_and_present(tmp_path, monkeypatch, capsys, ids, expected):
    monkeypatch.chdir(tmp_path)
    rows = [f"{i},{k}.5,{k * 2}.0" for k, i in enumerate(ids)]
    (tmp_path / "data.csv").write_text("\n".join(["key,x,y", *rows]) + "\n")
    code, out, err = run_main(capsys, "fit", "data.csv", "--k", 1, "--out", "m.json",
                              "--id-column", "key")
    assert (code, out, err) == (2, "", f"emkit: error: {expected}\n")


def test_version(capsys):
    from emkit import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"emkit {__version__}\n"


def test_help_documents_the_column_options(capsys):
    for command in ("fit", "select", "predict", "impute", "score"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        for word in ("--columns COLS", "--drop COLS", "--id-column COL", "1-based"):
            assert word in out, (command, word)
