"""``emkit fit``/``predict``/``score`` on files read in chunks (emkit.sources) and on Dask.

The files hold fewer rows than the initialisation sample, so the fit from a
file equals the in-memory fit of the same rows (docs/scaling.md): the
model files must agree with the library's in-memory fit.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from emkit import GaussianMixture

from .conftest import make_blobs
from .test_cli import snapshot
from .test_cli_long_fits import assert_failed, assert_same_model, run_main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

COLUMNS = ["a", "b", "c"]


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The same rows as data.csv, data.csv.gz, data.tsv, data.parquet, data.npy."""
    monkeypatch.chdir(tmp_path)
    X = make_blobs((90, 70, 60), dim=3)
    frame = pd.DataFrame(X, columns=COLUMNS)
    lines = [",".join(COLUMNS)] + [",".join(repr(v) for v in row) for row in X.tolist()]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    frame.to_csv(tmp_path / "data.csv.gz", index=False, float_format="%.17g")
    frame.to_csv(tmp_path / "data.tsv", index=False, sep="\t", float_format="%.17g")
    frame.to_parquet(tmp_path / "data.parquet", row_group_size=64)
    np.save(tmp_path / "data.npy", X)
    return X


def fit_file(capsys, name, *options):
    code, out, err = run_main(capsys, "fit", name, "--k", 3, "--random-state", 0, "--tol",
                              1e-8, "--out", "m.json", "--labels", "labels.csv", *options)
    assert code == 0, err
    return out


def loglik_of(out: str) -> float:
    return float(re.search(r"log-likelihood\s+(-?[\d.]+)", out)[1])


@pytest.mark.parametrize("name", ["data.parquet", "data.npy", "data.csv.gz", "data.tsv"])
def test_fit_from_a_file_read_in_chunks_equals_the_in_memory_fit(files, capsys, tmp_path,
                                                                  name):
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(files)
    out = fit_file(capsys, name)
    assert f"fitted to {name} (220 rows" in out
    model = assert_same_model(tmp_path / "m.json", reference)
    if name != "data.npy":  # named columns are recorded for predict
        assert list(model.feature_names_in_) == COLUMNS
    assert loglik_of(out) == pytest.approx(reference.score_samples(files).sum(), abs=1e-4)
    labels = np.loadtxt(tmp_path / "labels.csv", skiprows=1, dtype=int)
    np.testing.assert_array_equal(labels, reference.predict(files))


def test_stream_reads_a_plain_csv_in_chunks_too(files, capsys, tmp_path):
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(files)
    fit_file(capsys, "data.csv", "--stream")
    assert_same_model(tmp_path / "m.json", reference)
    assert_failed(run_main(capsys, "fit", "data.csv", "--stream", "--id-column", "a", "--k", 2,
                           "--out", "x.json"), "--id-column", "read in chunks")


def test_columns_and_drop_on_files_read_in_chunks(files, capsys, tmp_path):
    reference = GaussianMixture(2, random_state=0).fit(files[:, [2, 0]])
    for name, selection in [("data.parquet", ["--columns", "c,a"]),
                            ("data.npy", ["--columns", "3,1"]),
                            ("data.csv.gz", ["--columns", "3", "--columns", "a"])]:
        code, out, err = run_main(capsys, "fit", name, "--k", 2, "--random-state", 0,
                                  "--out", "m.json", *selection)
        assert code == 0, err
        assert_same_model(tmp_path / "m.json", reference)
    reference = GaussianMixture(2, random_state=0).fit(files[:, [0, 2]])
    code, out, err = run_main(capsys, "fit", "data.parquet", "--k", 2, "--random-state", 0,
                              "--out", "m.json", "--drop", "b")
    assert code == 0 and "columns a, c" in out, err
    assert_same_model(tmp_path / "m.json", reference)


def test_predict_and_score_on_files_read_in_chunks(files, capsys, tmp_path):
    model = GaussianMixture(3, random_state=0).fit(files)
    model.feature_names_in_ = np.asarray(COLUMNS, dtype=object)
    from emkit.persist import save_model

    save_model(model, tmp_path / "m.json")
    expected = None
    for name in ("data.csv", "data.parquet", "data.csv.gz"):
        code, out, err = run_main(capsys, "predict", "m.json", name, "--proba")
        assert code == 0, err
        rows = np.loadtxt(out.splitlines()[1:], delimiter=",")
        np.testing.assert_array_equal(rows[:, 0], model.predict(files))
        np.testing.assert_allclose(rows[:, 1:], model.predict_proba(files), rtol=1e-12)
        expected = out if expected is None else expected
        assert out == expected  # the same text whatever the reader
        code, out, err = run_main(capsys, "score", "m.json", name, "--contamination", 0.1)
        assert code == 0, err
        scores = np.loadtxt(out.splitlines()[1:], delimiter=",")
        np.testing.assert_allclose(scores[:, 0], model.score_samples(files), rtol=1e-12)
        assert int(scores[:, 1].sum()) == 22
    # an .npy file has no column names: the model's count is checked
    unnamed = GaussianMixture(3, random_state=0).fit(files)
    save_model(unnamed, tmp_path / "u.json")
    code, out, err = run_main(capsys, "predict", "u.json", "data.npy")
    assert code == 0, err
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()[1:]), unnamed.predict(files))
    np.save(tmp_path / "two.npy", files[:, :2])
    assert_failed(run_main(capsys, "predict", "u.json", "two.npy"), "two.npy has 2 columns",
                  "expects 3")
    assert_failed(run_main(capsys, "predict", "m.json", "data.parquet", "--columns", "a,b"),
                  "data.parquet", "['a', 'b']", "['a', 'b', 'c']")


@pytest.mark.parametrize(("args", "words"), [
    (["fit", "missing.parquet", "--k", 2, "--out", "x.json"], ["missing.parquet"]),
    (["fit", "data.parquet", "--k", 2, "--out", "x.json", "--columns", "zz"],
     ["--columns", "data.parquet", "'zz'"]),
    (["fit", "data.npy", "--k", 2, "--out", "x.json", "--columns", "4"],
     ["--columns", "out of range"]),
    (["fit", "data.parquet", "--k", 2, "--out", "x.json", "--id-column", "a"],
     ["--id-column", "read in chunks"]),
    (["fit", "data.parquet", "--k", 2, "--out", "x.json", "--target", "a"],
     ["--target", "plain .csv"]),
    (["fit", "data.parquet", "--k", 2, "--out", "x.json", "--family", "categorical"],
     ["categorical", "plain .csv"]),
    (["fit", "data.parquet", "--k", 2, "--out", "x.json", "--family", "poisson"],
     ["data.parquet", "row"]),
    (["fit", "data.weird", "--k", 2, "--out", "x.json", "--stream"], ["data.weird", "suffix"]),
    (["fit", "data.parquet", "--k", 2, "--out", "data.parquet"], ["input"]),
    (["select", "data.parquet"], ["data.parquet", "`emkit select` reads a plain CSV"]),
    (["impute", "data.npy", "--out", "x.csv"], ["data.npy", "`emkit impute` reads a plain"]),
])
def test_bad_files_read_in_chunks(files, capsys, tmp_path, args, words):
    (tmp_path / "data.weird").write_text("a,b\n1,2\n")
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, *args), *words)
    assert snapshot(tmp_path) == before


def test_a_bad_cell_in_a_file_read_in_chunks_is_named(files, capsys, tmp_path):
    frame = pd.DataFrame(files, columns=COLUMNS)
    frame.loc[150, "b"] = np.inf
    frame.to_parquet(tmp_path / "bad.parquet", row_group_size=64)
    assert_failed(run_main(capsys, "fit", "bad.parquet", "--k", 2, "--out", "x.json"),
                  "bad.parquet", "row", "'b'", "inf")
    assert not (tmp_path / "x.json").exists()


def test_fit_on_a_dask_cluster_equals_the_local_fit(files, capsys, tmp_path):
    distributed = pytest.importorskip("distributed")
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(files)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        out = fit_file(capsys, "data.parquet", "--dask-scheduler", cluster.scheduler_address)
        assert_same_model(tmp_path / "m.json", reference)
        labels = np.loadtxt(tmp_path / "labels.csv", skiprows=1, dtype=int)
        np.testing.assert_array_equal(labels, reference.predict(files))
        assert loglik_of(out) == pytest.approx(reference.score_samples(files).sum(), abs=1e-4)
        assert_failed(run_main(capsys, "fit", "data.parquet", "--k", 2, "--out", "x.json",
                               "--dask-scheduler", cluster.scheduler_address, "--columns",
                               "zz"), "--columns", "'zz'")
    assert not (tmp_path / "x.json").exists()


def test_an_unreachable_dask_scheduler_is_one_line(files, capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import dask

    monkeypatch.setitem(dask.config.config, "distributed", {
        **dask.config.config.get("distributed", {}),
        "comm": {**dask.config.config["distributed"]["comm"],
                 "timeouts": {"connect": "1s", "tcp": "1s"}}})
    assert_failed(run_main(capsys, "fit", "data.parquet", "--k", 2, "--out", "x.json",
                           "--dask-scheduler", "tcp://127.0.0.1:1"),
                  "--dask-scheduler tcp://127.0.0.1:1", "connect")
    assert not (tmp_path / "x.json").exists()
