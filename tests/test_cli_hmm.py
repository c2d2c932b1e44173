"""``emkit fit --hmm`` and predict/score with the hidden Markov models it writes.

In-process (:func:`emkit.cli.main`); every fit is compared with the
library's fit of the same sequences and seed, every prediction and score
with the library's from the fitted estimator.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from emkit.hmm import GMMHMM, CategoricalHMM, GaussianHMM, PoissonHMM
from emkit.persist import load_model

from .test_cli import snapshot
from .test_cli_families import bic_of, loglik_of, write_csv
from .test_cli_long_fits import assert_failed, run_main

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

LENGTHS = (70, 50, 90)


@pytest.fixture
def sequences(tmp_path, monkeypatch):
    """Three sequences of a two-state chain: numbers, counts and symbols per row."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(11)
    rows, states = [], []
    for s, n in enumerate(LENGTHS):
        z = 0
        for _ in range(n):
            if rng.random() < 0.1:
                z = 1 - z
            states.append(z)
            symbol = ("a", "b")[z] if rng.random() < 0.85 else ("b", "a")[z]
            rows.append([f"run{s}", len(rows), repr(float(rng.normal((0.0, 4.0)[z]))),
                         repr(float(rng.normal((1.0, -2.0)[z], 0.7))),
                         int(rng.poisson((1.0, 6.0)[z])), symbol])
    write_csv(tmp_path / "seq.csv", ["run", "t", "x", "y", "n", "c"], rows)
    X = np.array([[float(r[2]), float(r[3])] for r in rows])
    counts = np.array([[r[4]] for r in rows], dtype=float)
    symbols = np.array([[r[5]] for r in rows], dtype=object)
    return X, counts, symbols


def fit(capsys, *args):
    code, out, err = run_main(capsys, "fit", "seq.csv", "--hmm", *args, "--out", "h.json",
                              "--random-state", 0)
    assert code == 0, err
    return out


def test_gaussian_hmm_equals_the_library(sequences, tmp_path, capsys):
    X, _, _ = sequences
    out = fit(capsys, "--states", 2, "--lengths-column", "run", "--drop", "t,n,c",
              "--covariance", "diag", "--labels", "states.csv")
    reference = GaussianHMM(2, covariance_type="diag", random_state=0).fit(X, LENGTHS)
    assert out.startswith("GaussianHMM fitted to seq.csv (210 rows in 3 sequences by 'run'; "
                          "columns x, y)")
    assert loglik_of(out) == pytest.approx(reference.score(X, LENGTHS), abs=1e-4)
    assert bic_of(out) == pytest.approx(reference.bic(X, LENGTHS), abs=1e-4)
    assert f"iterations      {reference.n_iter_}\n" in out
    start = re.search(r"start +(.*)\n", out)[1].split()
    np.testing.assert_allclose([float(v) for v in start], reference.startprob_, atol=5e-5)
    rows = re.findall(r"^  (?:transitions|  ) +([\d. ]+)  \(from state (\d)\)$", out, re.M)
    assert [int(i) for _, i in rows] == [0, 1]
    np.testing.assert_allclose([[float(v) for v in r.split()] for r, _ in rows],
                               reference.transmat_, atol=5e-5)
    model = load_model(tmp_path / "h.json")
    assert isinstance(model, GaussianHMM) and model.covariance_type == "diag"
    np.testing.assert_allclose(model.transmat_, reference.transmat_, rtol=1e-12)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-12)
    assert list(model.feature_names_in_) == ["x", "y"]
    lines = (tmp_path / "states.csv").read_text().splitlines()
    assert lines[0] == "run,state" and lines[1].startswith("run0,") and len(lines) == 211
    np.testing.assert_array_equal([int(line.split(",")[1]) for line in lines[1:]],
                                  reference.predict(X, LENGTHS))

    # predict: the Viterbi path, and with --proba the posteriors, per row
    code, out, err = run_main(capsys, "predict", "h.json", "seq.csv", "--lengths-column",
                              "run", "--drop", "t,n,c", "--proba")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run,state,p0,p1"
    values = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_array_equal(values[:, 0], reference.predict(X, LENGTHS))
    np.testing.assert_allclose(values[:, 1:], reference.predict_proba(X, LENGTHS), rtol=1e-10)

    # score: the log-likelihood of every sequence; the total on stderr
    code, out, err = run_main(capsys, "score", "h.json", "seq.csv", "--lengths-column", "run",
                              "--drop", "t,n,c")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run,rows,log_likelihood"
    assert [line.split(",")[:2] for line in lines[1:]] == [["run0", "70"], ["run1", "50"],
                                                          ["run2", "90"]]
    np.testing.assert_allclose([float(line.split(",")[2]) for line in lines[1:]],
                               reference.score_sequences(X, LENGTHS), rtol=1e-12)
    total = float(re.search(r"210 rows\) of seq.csv: (-?[\d.]+)", err)[1])
    assert total == pytest.approx(reference.score(X, LENGTHS), abs=1e-4)


def test_without_lengths_the_file_is_one_sequence(sequences, tmp_path, capsys):
    X, _, _ = sequences
    out = fit(capsys, "--k", 2, "--columns", "x,y", "--max-iter", 20, "--tol", 1e-4)
    reference = GaussianHMM(2, max_iter=20, tol=1e-4, random_state=0).fit(X)
    assert "(210 rows in 1 sequence; columns x, y)" in out
    assert loglik_of(out) == pytest.approx(reference.score(X), abs=1e-4)
    np.testing.assert_allclose(load_model(tmp_path / "h.json").means_, reference.means_,
                               rtol=1e-12)
    code, out, err = run_main(capsys, "score", "h.json", "seq.csv", "--columns", "x,y",
                              "--out", "s.csv")
    assert code == 0, err
    assert (tmp_path / "s.csv").read_text().splitlines()[:2] == [
        "sequence,rows,log_likelihood", f"1,210,{reference.score(X)!r}"]


def test_poisson_and_categorical_emissions(sequences, tmp_path, capsys):
    _, counts, symbols = sequences
    out = fit(capsys, "--k", 2, "--family", "poisson", "--lengths-column", "run", "--columns",
              "n", "--alpha", 0.5)
    reference = PoissonHMM(2, alpha=0.5, random_state=0).fit(counts, LENGTHS)
    assert out.startswith("PoissonHMM fitted")
    assert loglik_of(out) == pytest.approx(reference.score(counts, LENGTHS), abs=1e-4)
    np.testing.assert_allclose(load_model(tmp_path / "h.json").rates_, reference.rates_,
                               rtol=1e-12)
    # symbols are read as text
    out = fit(capsys, "--k", 2, "--family", "categorical", "--lengths-column", "run",
              "--columns", "c", "--n-init", 2)
    reference = CategoricalHMM(2, n_init=2, random_state=0).fit(symbols, LENGTHS)
    assert loglik_of(out) == pytest.approx(reference.score(symbols, LENGTHS), abs=1e-4)
    code, out, err = run_main(capsys, "predict", "h.json", "seq.csv", "--lengths-column",
                              "run", "--columns", "c", "--id-column", "t", "--out", "p.csv")
    assert code == 0 and out == "wrote 210 states to p.csv\n", err
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[:2] == ["t,run,state", f"0,run0,{reference.predict(symbols, LENGTHS)[0]}"]
    np.testing.assert_array_equal([int(line.split(",")[2]) for line in lines[1:]],
                                  reference.predict(symbols, LENGTHS))


def assert_same_fit(path, reference, names):
    """The model file's fitted parameters equal the library fit's (same data, seed)."""
    model = load_model(path)
    assert type(model) is type(reference)
    for name in ("startprob_", "transmat_", *names):
        np.testing.assert_allclose(getattr(model, name), getattr(reference, name),
                                   rtol=1e-12, atol=1e-300, err_msg=name)
    return model


def test_transition_structure_and_sticky_prior(sequences, tmp_path, capsys):
    """--transitions (--transmat-mask) and --sticky are the estimator's transmat_mask and
    sticky: the CLI's model file holds the library's fit with those settings."""
    X, _, _ = sequences
    common = ("--lengths-column", "run", "--columns", "x,y", "--covariance", "diag")
    out = fit(capsys, "--states", 3, *common, "--transitions", "left-right", "--sticky", 5)
    reference = GaussianHMM(3, covariance_type="diag", transmat_mask="left-right",
                            sticky=5.0, random_state=0).fit(X, LENGTHS)
    assert loglik_of(out) == pytest.approx(reference.score(X, LENGTHS), abs=1e-4)
    assert bic_of(out) == pytest.approx(reference.bic(X, LENGTHS), abs=1e-4)
    model = assert_same_fit(tmp_path / "h.json", reference, ("means_", "covariances_"))
    assert model.transmat_mask == "left-right" and model.sticky == 5.0
    assert np.all(np.tril(model.transmat_, -1) == 0.0)  # structural zeros stay exact
    # the sticky prior changes the fit: the same options without it differ
    plain = GaussianHMM(3, covariance_type="diag", transmat_mask="left-right",
                        random_state=0).fit(X, LENGTHS)
    assert not np.allclose(plain.transmat_, reference.transmat_, rtol=1e-6)

    # a mask file: K rows of K values, 1 allowed, 0 forbidden (true/false too)
    (tmp_path / "mask.csv").write_text("1,1,0\n0,1,1\ntrue,false,TRUE\n")
    mask = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool)
    fit(capsys, "--states", 3, *common, "--transmat-mask", "mask.csv")
    reference = GaussianHMM(3, covariance_type="diag", transmat_mask=mask,
                            random_state=0).fit(X, LENGTHS)
    model = assert_same_fit(tmp_path / "h.json", reference, ("means_", "covariances_"))
    np.testing.assert_array_equal(model.transmat_mask, mask)
    assert np.all(model.transmat_[~mask] == 0.0)


def test_gmm_emissions(sequences, tmp_path, capsys):
    """--family gmm is GMMHMM; --n-mix and --weight-concentration its parameters."""
    X, _, _ = sequences
    out = fit(capsys, "--states", 2, "--family", "gmm", "--n-mix", 2, "--covariance", "diag",
              "--weight-concentration", 2, "--lengths-column", "run", "--columns", "x,y",
              "--max-iter", 30)
    reference = GMMHMM(2, n_mix=2, covariance_type="diag", weight_concentration=2.0,
                       max_iter=30, random_state=0).fit(X, LENGTHS)
    assert out.startswith("GMMHMM fitted to seq.csv")
    assert "  per state       2 Gaussians\n" in out
    assert loglik_of(out) == pytest.approx(reference.score(X, LENGTHS), abs=1e-4)
    assert bic_of(out) == pytest.approx(reference.bic(X, LENGTHS), abs=1e-4)
    model = assert_same_fit(tmp_path / "h.json", reference,
                            ("weights_", "means_", "covariances_"))
    assert (model.n_mix, model.weight_concentration) == (2, 2.0)
    code, out, err = run_main(capsys, "predict", "h.json", "seq.csv", "--lengths-column",
                              "run", "--columns", "x,y")
    assert code == 0, err
    np.testing.assert_array_equal([int(line.split(",")[1]) for line in out.splitlines()[1:]],
                                  reference.predict(X, LENGTHS))


@pytest.mark.parametrize(("args", "words"), [
    (["--transmat-mask", "nothing.csv"], ["--transmat-mask nothing.csv", "no such file",
                                          "left-right"]),
    (["--transitions", "short.csv"], ["--transmat-mask short.csv", "2 rows for 3 states"]),
    (["--transitions", "ragged.csv"], ["--transmat-mask ragged.csv", "row 2 has 2 values"]),
    (["--transitions", "words.csv"], ["--transmat-mask words.csv", "row 1, value 3",
                                      "'maybe'"]),
    (["--transitions", "stuck.csv"], ["--transmat-mask", "no transition out of state 1"]),
    (["--transitions", "seq.csv"], ["--transmat-mask seq.csv", "211 rows for 3 states"]),
    # endless input: a bounded read, not a hang
    (["--transitions", "/dev/zero"], ["--transmat-mask /dev/zero", "more than", "characters"]),
    (["--sticky", -1], ["--sticky", "sticky must be"]),
    (["--family", "gmm", "--n-mix", 0], ["--n-mix", "n_mix must be"]),
    (["--family", "gmm", "--weight-concentration", 0.5], ["--weight-concentration",
                                                          "weight_concentration"]),
    (["--n-mix", 2], ["--n-mix does not apply to --hmm --family gaussian", "GaussianHMM"]),
    (["--family", "poisson", "--weight-concentration", 2],
     ["--weight-concentration does not apply to --hmm --family poisson"]),
])
def test_bad_structure_options(sequences, tmp_path, capsys, args, words):
    (tmp_path / "short.csv").write_text("1,1,0\n0,1,1\n")
    (tmp_path / "ragged.csv").write_text("1,1,0\n0,1\n0,0,1\n")
    (tmp_path / "words.csv").write_text("1,1,maybe\n0,1,1\n0,0,1\n")
    (tmp_path / "stuck.csv").write_text("1,1,0\n0,0,0\n0,0,1\n")
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "seq.csv", "--hmm", "--k", 3, "--lengths-column",
                           "run", "--columns", "x,y", *args, "--out", "h.json"), *words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("args", "words"), [
    (["--sticky", 1], ["--sticky does not apply to --family gaussian", "GaussianMixture"]),
    (["--transitions", "left-right"], ["--transmat-mask does not apply to --family gaussian"]),
    (["--family", "gmm"], ["--family gmm", "--hmm"]),
    (["--n-mix", 2], ["--n-mix does not apply to --family gaussian"]),
])
def test_chain_options_need_hmm(sequences, tmp_path, capsys, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "seq.csv", "--k", 2, "--columns", "x,y", *args,
                           "--out", "h.json"), *words)
    assert snapshot(tmp_path) == before


def test_a_sequence_that_is_not_contiguous(sequences, tmp_path, capsys):
    lines = (tmp_path / "seq.csv").read_text().splitlines()
    # run0 again after run1's rows: its rows are not consecutive
    (tmp_path / "mixed.csv").write_text("\n".join([*lines[:151], lines[1], *lines[151:]])
                                        + "\n")
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "mixed.csv", "--hmm", "--k", 2, "--lengths-column",
                           "run", "--columns", "x,y", "--out", "h.json"),
                  "--lengths-column run", "mixed.csv, data row 151", "sequence 'run0'",
                  "ended at data row 70", "consecutive")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("args", "words"), [
    (["--hmm", "--columns", "x,y"], ["--k K (or --states K) is required"]),
    (["--k", 2, "--lengths-column", "run"], ["--lengths-column needs --hmm"]),
    (["--hmm", "--k", 2, "--target", "x"], ["--target does not apply to --hmm"]),
    (["--hmm", "--k", 2, "--contamination", 0.1], ["--contamination does not apply"]),
    (["--hmm", "--k", 2, "--family", "mixed"], ["--family mixed", "hidden Markov"]),
    (["--hmm", "--probit", "--k", 2], ["--hmm and --probit"]),
    (["--hmm", "--k", 2, "--family", "poisson", "--covariance", "diag", "--columns", "n"],
     ["--covariance does not apply to --hmm --family poisson", "PoissonHMM"]),
    (["--hmm", "--k", 2, "--checkpoint", "c.npz"], ["--checkpoint does not apply",
                                                    "GaussianHMM"]),
    (["--hmm", "--k", 2, "--schedule", "stepwise"], ["--schedule does not apply"]),
    (["--hmm", "--k", 2, "--lengths-column", "zz"], ["--lengths-column", "'zz'"]),
    (["--hmm", "--k", 2, "--lengths-column", "run", "--id-column", "run"],
     ["--lengths-column", "'run' is the id column"]),
    (["--hmm", "--k", 2, "--lengths-column", "run", "--columns", "run"],
     ["--lengths-column", "no column is left"]),
    (["--hmm", "--k", 2, "--columns", "x,c"], ["non-numeric", "'c'"]),
    (["--hmm", "--k", 2, "--max-iter", -1, "--columns", "x"], ["--max-iter", "max_iter"]),
])
def test_bad_hmm_options(sequences, tmp_path, capsys, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, "fit", "seq.csv", *args, "--out", "h.json"), *words)
    assert snapshot(tmp_path) == before


def test_model_file_errors(sequences, tmp_path, capsys):
    write_csv(tmp_path / "gap.csv", ["run", "x", "y"],
              [["a", 1.0, 2.0], [None, 1.5, 2.5], ["b", 0.0, 1.0]])
    fit(capsys, "--k", 2, "--lengths-column", "run", "--columns", "x,y,run")
    for args, words in [
        (["predict", "h.json", "gap.csv", "--lengths-column", "run"],
         ["--lengths-column run", "gap.csv, data row 2", "no sequence id"]),
        (["score", "h.json", "seq.csv", "--columns", "x,y", "--threshold", 0.1],
         ["--threshold", "per sequence"]),
        (["predict", "h.json", "seq.csv", "--columns", "x,y", "--target", "n"],
         ["--target", "hidden Markov model"]),
        (["predict", "h.json", "seq.csv", "--columns", "y,x"], ["different order"]),
        (["predict", "h.json", "seq.npy"], ["seq.npy", "plain .csv file"]),
    ]:
        assert_failed(run_main(capsys, *args), *words)
    # a mixture's model file refuses --lengths-column
    code, _, err = run_main(capsys, "fit", "seq.csv", "--k", 2, "--columns", "x,y", "--out",
                            "g.json")
    assert code == 0, err
    assert_failed(run_main(capsys, "predict", "g.json", "seq.csv", "--columns", "x,y",
                           "--lengths-column", "run"),
                  "--lengths-column", "not a hidden Markov model")


def test_errors_name_the_file_row_and_sequence(sequences, tmp_path, capsys):
    write_csv(tmp_path / "neg.csv", ["run", "n"], [["a", 1], ["a", 2], ["b", 0], ["b", -3]])
    assert_failed(run_main(capsys, "fit", "neg.csv", "--hmm", "--family", "poisson", "--k", 1,
                           "--lengths-column", "run", "--out", "h.json"),
                  "neg.csv, data row 4, column 'n': has value -3.0",
                  "(row 2 of sequence 'b')")
    assert_failed(run_main(capsys, "fit", "neg.csv", "--hmm", "--k", 5, "--lengths-column",
                           "run", "--out", "h.json"),
                  "neg.csv has 4 rows but n_components=5")


def test_impossible_sequences_are_named_by_their_ids():
    """The library's "sequence 1 (rows 3 to 5 of X)" becomes the id and the data rows."""
    from emkit._cli_data import Data
    from emkit._cli_hmm import Sequences, _error

    seq = Sequences(Data("f.csv", ["x"]), np.array([3, 3]), ["first", "second"],
                    ["first"] * 3 + ["second"] * 3, "run")
    message = str(_error(ValueError("sequence 1 (rows 3 to 5 of X) has probability 0 under "
                                    "the fitted model: ..."), seq, "f.csv"))
    assert message == ("f.csv: sequence 'second' (data rows 4 to 6) has probability 0 under "
                       "the fitted model: ...")
