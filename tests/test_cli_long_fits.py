"""``emkit fit`` for long fits: progress, iteration lines, checkpoints and resuming, schedules.

In-process (:func:`emkit.cli.main`); each fit is compared with the library's
fit of the same data and seed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from emkit import GaussianMixture
from emkit.cli import main
from emkit.em.checkpoint import read_checkpoint
from emkit.exceptions import ConvergenceWarning
from emkit.persist import load_model

from .conftest import make_blobs
from .test_cli import ENV, snapshot
from .test_cli_robust import communicate_or_report, default_sigint

NAMES_WARNING = "ignore:X does not have valid feature names"
# slow: CLI fits to convergence, a subprocess interrupted
pytestmark = [pytest.mark.filterwarnings(NAMES_WARNING), pytest.mark.slow]


def run_main(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_failed(result, *words):
    code, out, err = result
    assert code == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("emkit: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def blobs(tmp_path, monkeypatch):
    """Overlapping blobs (slow EM) as data.csv in the working directory."""
    monkeypatch.chdir(tmp_path)
    X = make_blobs((120, 100, 80), dim=2, spread=1.5)
    lines = ["a,b"] + [f"{u!r},{v!r}" for u, v in X.tolist()]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    return X


FIT = ("fit", "data.csv", "--k", 3, "--random-state", 0, "--tol", 1e-8, "--out", "m.json")


def assert_same_model(path, reference, rtol=1e-10):
    model = load_model(path)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(model, name), getattr(reference, name),
                                   rtol=rtol, atol=1e-12, err_msg=name)
    assert model.n_iter_ == reference.n_iter_
    return model


def test_checkpoint_then_resume_equals_the_uninterrupted_fit(blobs, capsys, tmp_path):
    reference = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=300).fit(blobs)
    assert reference.n_iter_ > 8
    code, out, err = run_main(capsys, *FIT, "--max-iter", 5, "--checkpoint", "ck.json",
                              "--checkpoint-interval", 2)
    assert code == 0, err
    assert "checkpoint in ck.json" in out and "converged       no" in out
    assert err.startswith("emkit: warning: ") and "did not converge" in err
    code, out, err = run_main(capsys, *FIT, "--max-iter", 300, "--checkpoint", "ck.json",
                              "--resume")
    assert code == 0, err
    assert "resumed from the checkpoint ck.json" in out and "converged       yes" in out
    assert_same_model(tmp_path / "m.json", reference)
    # --resume without the file yet: a fresh fit (and the file is written)
    code, out, err = run_main(capsys, *FIT, "--max-iter", 300, "--checkpoint", "new.json",
                              "--resume")
    assert code == 0, err
    assert "resumed" not in out and (tmp_path / "new.json").exists()
    assert_same_model(tmp_path / "m.json", reference)


def test_resume_refuses_a_checkpoint_of_other_data_or_options(blobs, capsys, tmp_path):
    assert run_main(capsys, *FIT, "--max-iter", 3, "--checkpoint", "ck.json")[0] == 0
    (tmp_path / "m.json").unlink()
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, *FIT, "--checkpoint", "ck.json", "--resume",
                           "--covariance", "diag"), "ck.json")
    assert_failed(run_main(capsys, *FIT, "--checkpoint", "ck.json", "--resume", "--columns",
                           "a"), "ck.json")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(("args", "words"), [
    (["--resume"], ["--resume needs --checkpoint"]),
    (["--checkpoint", "ck.json", "--n-init", 2], ["--checkpoint", "n_init=1"]),
    (["--checkpoint", "nowhere/ck.json"], ["--checkpoint", "does not exist"]),
    (["--checkpoint", "data.csv"], ["data.csv", "input"]),
    (["--checkpoint", "m.json"], ["same output file"]),
    (["--checkpoint", "ck.json", "--checkpoint-interval", 0], ["--checkpoint-interval"]),
    (["--verbose-interval", 0], ["--verbose-interval"]),
    (["--schedule", "incremental", "--batch-size", 0], ["--batch-size"]),
    (["--schedule", "stepwise", "--learning-decay", 2], ["--learning-decay"]),
    (["--schedule", "stepwise", "--learning-decay", 0.5], ["--learning-decay"]),
    (["--contamination", 0.1, "--schedule", "stepwise"],
     ["--schedule does not apply to an outlier detector"]),
])
def test_bad_long_fit_options(blobs, capsys, tmp_path, args, words):
    before = snapshot(tmp_path)
    assert_failed(run_main(capsys, *FIT, *args), *words)
    assert snapshot(tmp_path) == before


def test_bad_schedule_is_a_usage_error(blobs, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "data.csv", "--k", "2", "--out", "m.json", "--schedule", "fast"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--schedule" in err and "'fast'" in err


def test_verbose_lines_go_to_stderr_every_interval(blobs, capsys, tmp_path):
    code, out, err = run_main(capsys, *FIT, "--verbose-interval", 3)
    assert code == 0, err
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(blobs)
    iterations = [int(m) for m in re.findall(r"^\s+iteration\s+(\d+)", err, re.M)]
    assert iterations == list(range(3, reference.n_iter_ + 1, 3))
    assert "Initialization 1/1" in err and "converged after" in err
    assert out.startswith("GaussianMixture fitted to data.csv") and "iteration " not in out
    assert_same_model(tmp_path / "m.json", reference)
    code, out, err = run_main(capsys, *FIT, "--verbose")
    assert len(re.findall(r"^\s+iteration\s+\d+", err, re.M)) == reference.n_iter_


def test_progress_bar_only_when_asked_or_on_a_terminal(blobs, capsys, tmp_path):
    pytest.importorskip("tqdm")
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(blobs)
    code, out, err = run_main(capsys, *FIT, "--progress")
    assert code == 0, err
    assert f"/{100}" in err and "EM" in err  # tqdm's "n/total" (max_iter = 100)
    assert "GaussianMixture fitted" in out and "EM" not in out
    assert_same_model(tmp_path / "m.json", reference)
    # the saved model has no callback: predict works from it, and it loads as before
    assert load_model(tmp_path / "m.json").get_params()["callback"] is None
    for flag in ([], ["--no-progress"]):  # stderr is not a terminal here
        code, out, err = run_main(capsys, *FIT, *flag)
        assert code == 0 and err == "", err


@pytest.mark.parametrize(("options", "params"), [
    (["--schedule", "incremental", "--batch-size", 70],
     {"schedule": "incremental", "batch_size": 70}),
    (["--schedule", "stepwise", "--batch-size", 50, "--learning-decay", 0.8, "--max-iter", 20],
     {"schedule": "stepwise", "batch_size": 50, "learning_decay": 0.8, "max_iter": 20}),
])
def test_schedules_equal_the_library(blobs, capsys, tmp_path, options, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = GaussianMixture(3, random_state=0, tol=1e-8, **params).fit(blobs)
    code, out, err = run_main(capsys, *FIT, *options)
    assert code == 0, err
    model = assert_same_model(tmp_path / "m.json", reference)
    assert model.get_params()["schedule"] == params["schedule"]
    loglik = float(re.search(r"log-likelihood\s+(-?[\d.]+)", out)[1])
    assert loglik == pytest.approx(reference.score_samples(blobs).sum(), abs=1e-4)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_keeps_the_checkpoint_and_rerunning_with_resume_finishes(tmp_path):
    """A fit interrupted by Ctrl-C exits 130 with no model file but keeps its checkpoint;
    the same command with --resume continues it to the uninterrupted fit's result."""
    X = make_blobs((4000, 3000, 3000), dim=2, spread=1.0)
    lines = ["a,b"] + [f"{u!r},{v!r}" for u, v in X.tolist()]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    args = ["fit", "data.csv", "--k", "3", "--random-state", "0", "--tol", "0", "--out",
            "m.json", "--checkpoint", "ck.json", "--checkpoint-interval", "1", "--resume"]
    proc = subprocess.Popen([sys.executable, "-m", "emkit", *args, "--max-iter", "100000"],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ck.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = communicate_or_report(proc, 60)
    finally:  # a failure above must not leave a fit with --max-iter 100000 running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "emkit: interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "data.csv"]
    done = read_checkpoint(tmp_path / "ck.json")[1].iteration
    assert done >= 1
    total = done + 4
    result = subprocess.run([sys.executable, "-m", "emkit", *args, "--max-iter", str(total)],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resumed from the checkpoint ck.json" in result.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = GaussianMixture(3, random_state=0, tol=0, max_iter=total).fit(X)
    assert_same_model(tmp_path / "m.json", reference)
