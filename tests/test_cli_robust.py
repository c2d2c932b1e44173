"""The CLI against hostile use: special output paths, endless inputs, closed or full
stdout, signals, huge densities, a bad environment.  Regression tests for the
defects listed in issue 14 ("found by probing it as a hostile user would").
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal, getcontext

import numpy as np
import pytest

from emkit import GaussianMixture, cli
from emkit._cli_commands import density_text
from emkit.io import OutputBatch, check_output_path
from emkit.persist import load_model, save_model

from .test_cli import ENV, faithful_csv, snapshot

pytestmark = pytest.mark.slow  # subprocesses and signals


def run_main(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_failed(capsys_result, expected: str):
    code, out, err = capsys_result
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("emkit: error: ") and err.count("\n") == 1, err
    assert expected in err, err


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    faithful_csv(tmp_path / "data.csv")
    return tmp_path


# ------------------------------------------------------------ densities beyond float64
def test_density_text_beyond_the_float_range():
    getcontext().prec = 40
    for log_p in [-5000.0, -745.5, -700.5, -3.2, 0.0, 1.5, 709.9, 814.1642, 1e5]:
        text = density_text(log_p)
        exact = Decimal(log_p).exp()
        assert abs(Decimal(text) / exact - 1) < Decimal("6e-4"), (log_p, text)
    assert density_text(1000 * np.log(10)) == "1e+1000"


def test_outlier_rule_with_densities_above_the_float_range(tmp_path, monkeypatch, capsys):
    """150 columns with sd 1e-3: log-densities above 709.78 (exp overflows)."""
    monkeypatch.chdir(tmp_path)
    X = np.random.default_rng(0).normal(0.0, 1e-3, size=(300, 150))
    faithful_csv(tmp_path / "hd.csv", header=",".join(f"c{j}" for j in range(150)), rows=X)
    code, out, err = run_main(capsys, "fit", "hd.csv", "--k", 1, "--contamination", 0.1,
                              "--out", "det.json")
    assert code == 0, err
    detector = load_model(tmp_path / "det.json")
    assert detector.offset_ > 709.79
    assert f"log p(x) < {detector.offset_:.4f}, i.e. p(x) < {density_text(detector.offset_)}" \
        in out and "e+3" in out
    assert "flagged         30 of 300 training rows" in out
    code, out, err = run_main(capsys, "score", "det.json", "hd.csv", "--out", "s.csv")
    assert code == 0, err
    assert "flagged 30 of 300 rows" in out
    save_model(GaussianMixture(1).fit(X), tmp_path / "gm.json")
    code, out, err = run_main(capsys, "score", "gm.json", "hd.csv", "--contamination", 0.1)
    assert code == 0 and "flagged 30 of 300 rows" in err and "e+3" in err


# ------------------------------------------------------------------ output paths
def make_fifo(path):
    os.mkfifo(path)


def make_socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def make_dangling_link(path):
    os.symlink(path.parent / "absent.json", path)


def make_link_to_fifo(path):
    os.mkfifo(path.parent / "fifo")
    os.symlink(path.parent / "fifo", path)


SPECIAL = {
    "FIFO": (make_fifo, "it is a FIFO (named pipe); emkit writes only regular files or new "
                        "paths"),
    "socket": (make_socket, "it is a socket"),
    "directory": (os.mkdir, "it is a directory"),
    "dangling symlink": (make_dangling_link, "it is a symbolic link to"),
    "symlink to a FIFO": (make_link_to_fifo, "it is a FIFO"),
}


@pytest.mark.parametrize("case", SPECIAL)
def test_out_onto_a_special_file_is_refused(here, capsys, case):
    make, expected = SPECIAL[case]
    make(here / "out.json")
    before = {p.name: os.lstat(p) for p in here.iterdir()}
    assert_failed(run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "out.json"),
                  f"cannot write out.json: {expected}")
    after = {p.name: os.lstat(p) for p in here.iterdir()}
    assert after.keys() == before.keys()
    for name, st in before.items():  # not replaced: same inode and type
        assert (after[name].st_ino, after[name].st_mode) == (st.st_ino, st.st_mode), name


def test_device_nodes_are_refused():
    for device in ("/dev/null", "/dev/zero"):
        if os.path.exists(device):
            with pytest.raises(OSError, match=f"cannot write {device}: it is a character "
                               "device"):
                check_output_path(device)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_out_through_a_symlink_replaces_its_target_and_keeps_the_link(here, capsys):
    (here / "models").mkdir()
    (here / "models" / "v1.json").write_text("old")
    os.symlink("models/v1.json", here / "current.json")
    code, _, err = run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "current.json")
    assert code == 0, err
    assert os.readlink(here / "current.json") == "models/v1.json"
    assert load_model(here / "models" / "v1.json").n_components == 2
    assert sorted(p.name for p in (here / "models").iterdir()) == ["v1.json"]


# ------------------------------------------------------------------ endless inputs
def test_dev_zero_as_data_or_model_stops_at_once(here, capsys):
    save_model(GaussianMixture(2).fit(np.random.default_rng(0).normal(size=(20, 2))),
               here / "m.json")
    start = time.monotonic()
    assert_failed(run_main(capsys, "fit", "/dev/zero", "--k", 2, "--out", "z.json"),
                  "/dev/zero, line 1: holds a NUL character (a binary file, not CSV text)")
    assert_failed(run_main(capsys, "predict", "/dev/zero", "data.csv"),
                  "/dev/zero: not an emkit model file (it does not start with '{')")
    assert_failed(run_main(capsys, "predict", "m.json", "/dev/zero"), "holds a NUL character")
    assert time.monotonic() - start < 60  # bounded reads (16 MiB at most), not a hang


def test_endless_line_without_newline_stops_at_the_limit(here, capsys, monkeypatch):
    monkeypatch.setattr("emkit._csv_reader.MAX_LINE_CHARS", 10_000)
    fifo = here / "stream.csv"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed():  # an endless stream of digits, no newline, until the reader goes away
        with open(fifo, "w") as handle:
            try:
                while not stop.is_set():
                    handle.write("1" * 4096)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        assert_failed(run_main(capsys, "fit", "stream.csv", "--k", 1, "--out", "m.json"),
                      "stream.csv, line 1: longer than 10000 characters (not a CSV file?)")
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not (here / "m.json").exists()


# ------------------------------------------------------------------ stdout
def run_process(cwd, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "emkit", *map(str, args)], cwd=cwd, env=ENV,
                          stderr=subprocess.PIPE, text=True, timeout=300, **kwargs)


def close_stdout():
    os.close(1)


@pytest.mark.parametrize("command", [["predict", "m.json", "data.csv"],
                                     ["fit", "data.csv", "--k", 2, "--out", "new.json"]])
def test_closed_stdout_is_an_error_and_writes_nothing(tmp_path, command):
    faithful_csv(tmp_path / "data.csv")
    save_model(GaussianMixture(2, random_state=0).fit(np.random.default_rng(0).normal(
        size=(30, 2))), tmp_path / "m.json")
    before = snapshot(tmp_path)
    result = run_process(tmp_path, *command, preexec_fn=close_stdout)
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("emkit: error: cannot write to standard output: standard output "
                             "is closed\n")
    assert snapshot(tmp_path) == before and not list(tmp_path.glob(".*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_stdout_writes_no_output_file(tmp_path):
    faithful_csv(tmp_path / "data.csv")
    with open("/dev/full", "w") as full:
        result = run_process(tmp_path, "fit", "data.csv", "--k", 2, "--out", "m.json",
                             stdout=full)
    assert result.returncode == 2
    assert result.stderr == ("emkit: error: cannot write to standard output: No space left "
                             "on device\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


# ------------------------------------------------------------------ signals
def test_sigterm_during_a_write_leaves_no_temporary(tmp_path):
    previous = signal.signal(signal.SIGTERM, cli._terminate)
    try:
        def interrupted_writer(handle):
            handle.write("half of it")
            os.kill(os.getpid(), signal.SIGTERM)
            handle.write("never written")

        with pytest.raises(cli.Terminated), OutputBatch() as batch:
            batch.add(tmp_path / "a.csv", "complete\n")
            batch.add(tmp_path / "b.csv", interrupted_writer)
        assert list(tmp_path.iterdir()) == []
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_signals_are_held_while_a_batch_is_renamed(tmp_path):
    from emkit.io import _signals_held

    previous = signal.signal(signal.SIGTERM, cli._terminate)
    try:
        with pytest.raises(cli.Terminated):
            with _signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                (tmp_path / "done").write_text("the block ran to its end")
        assert (tmp_path / "done").exists()
    finally:
        signal.signal(signal.SIGTERM, previous)


def session_processes(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # fields[3]: the session id
                pids.append(int(entry))
    return pids


def default_sigint() -> None:
    """In the child before exec: Ctrl-C at its default, as a shell starts a foreground
    job.  A child inherits an ignored SIGINT (Python then installs no KeyboardInterrupt
    handler) and the test worker's may be ignored: fresh-clone CI runs showed SigIgn
    with SIGINT and SIGQUIT set in the xdist worker, the mark of C ``system()``
    (called while numba compiles, it seems), and the children then ignored Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_state(pid: int) -> str:
    """The signal masks, thread count and state of process ``pid`` (from /proc), for a
    failure message: a child that ignores Ctrl-C may have inherited a blocked or
    ignored SIGINT (SigBlk/SigIgn bit 2) or be busy in some thread."""
    try:
        lines = open(f"/proc/{pid}/status").read().splitlines()
    except OSError as exc:
        return f"no /proc/{pid}/status ({exc})"
    return "; ".join(line for line in lines if line.startswith(("State", "Threads", "Sig")))


def communicate_or_report(proc, timeout: float):
    """``proc.communicate(timeout)``; on a timeout, fail with the child's and this
    process's signal state instead of a bare TimeoutExpired."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"emkit did not exit {timeout} s after the signal; child: "
                             f"{signal_state(proc.pid)}; test process: "
                             f"{signal_state(os.getpid())}") from None


def start_reading_a_fifo(tmp_path, *args):
    """Start emkit on a FIFO as input; return once it has opened it (imports done)."""
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "emkit", *map(str, args)], cwd=tmp_path,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while True:
        try:
            return proc, os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or proc.poll() is not None \
                    or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"emkit did not open its input: {proc.communicate()}") \
                    from None
            time.sleep(0.05)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    proc, fd = start_reading_a_fifo(tmp_path, "fit", "data.csv", "--k", 2, "--out", "m.json")
    try:
        os.write(fd, b"a,b\n1.0,2.0\n")  # and keep it open: emkit waits for more rows
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        out, err = communicate_or_report(proc, 60)
    finally:
        os.close(fd)
    assert (proc.returncode, out, err) == (130, "", "emkit: interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_sigterm_stops_select_and_its_workers(tmp_path):
    proc, fd = start_reading_a_fifo(tmp_path, "select", "data.csv", "--n-jobs", 2,
                                    "--output", "best.json", "--plot", "bic.png")
    rows = np.random.default_rng(1).normal(size=(3000, 4))
    text = "a,b,c,d\n" + "".join(",".join(repr(v) for v in row) + "\n" for row in rows.tolist())
    os.set_blocking(fd, True)
    with open(fd, "w") as handle:
        handle.write(text)
    deadline = time.monotonic() + 180
    while len(session_processes(proc.pid)) < 3 and proc.poll() is None:  # main + 2 workers
        assert time.monotonic() < deadline, "no worker processes started"
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)  # to emkit only, as `kill PID`
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == "emkit: terminated (SIGTERM)\n" and out == ""
    deadline = time.monotonic() + 30
    while session_processes(proc.pid):  # the workers are gone too (not orphaned)
        assert time.monotonic() < deadline, session_processes(proc.pid)
        time.sleep(0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


# ------------------------------------------------------------------ environment, bugs
def test_invalid_emkit_kernels_is_a_clear_error(here, capsys, monkeypatch):
    from emkit import _config

    monkeypatch.setenv("EMKIT_KERNELS", "fastest")
    monkeypatch.setitem(_config._config, "kernels", None)  # as in a fresh process
    assert_failed(run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "m.json"),
                  "environment variable EMKIT_KERNELS='fastest' is not one of auto, numba, "
                  "numpy (or unset it)")
    assert not (here / "m.json").exists()


def test_internal_errors_are_one_line_with_status_70(here, capsys, monkeypatch):
    def broken(args):
        raise TypeError("unexpected\nmulti-line")

    parser = cli._parser
    monkeypatch.setattr(cli, "_parser", lambda: _with_handler(parser(), "fit", broken))
    code, out, err = run_main(capsys, "fit", "data.csv", "--k", 2, "--out", "m.json")
    assert (code, out) == (70, "")
    assert err == ("emkit: internal error: TypeError: unexpected multi-line (please report it; "
                   "EMKIT_TRACEBACK=1 shows the traceback)\n")
    monkeypatch.setenv("EMKIT_TRACEBACK", "1")
    with pytest.raises(TypeError):
        cli.main(["fit", "data.csv", "--k", "2", "--out", "m.json"])


def _with_handler(parser, command, handler):
    parser._subparsers._group_actions[0].choices[command].set_defaults(handler=handler)
    return parser


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "data.csv", "--k", "many", "--out", "m.json"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("emkit: error: argument --k: invalid int value: 'many' "
                                       "(see `emkit fit --help`)\n")


def test_a_failed_report_removes_the_directories_it_created(tmp_path, monkeypatch):
    from emkit._cli_commands import Outcome

    outcome = Outcome(files=[(str(tmp_path / "new" / "sub" / "m.json"), "{}")],
                      directories=[str(tmp_path / "new" / "sub")], stdout=["report\n"])
    monkeypatch.setattr("sys.stdout", cli._ClosedStream("output"))
    with pytest.raises(OSError, match="cannot write to standard output: standard output is "
                       "closed"):
        cli._finish(outcome)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_an_exception_while_signals_are_being_held_restores_the_mask(monkeypatch):
    """Another signal's handler may raise at any point (a SIGALRM time limit): right
    after the signals were blocked, the mask and the handlers must still be restored
    (a SIGINT left blocked is inherited by every process started later, which then
    ignores Ctrl-C: the fresh-clone CI's Ctrl-C tests hung that way)."""
    from emkit.io import _signals_held

    real = signal.pthread_sigmask
    before = (real(signal.SIG_BLOCK, []), signal.getsignal(signal.SIGINT))

    class Alarm(Exception):
        pass

    def block_then_raise(how, mask):
        result = real(how, mask)
        if how == signal.SIG_BLOCK and signal.SIGINT in set(mask):
            raise Alarm
        return result

    monkeypatch.setattr(signal, "pthread_sigmask", block_then_raise)
    with pytest.raises(Alarm), _signals_held():
        pass
    monkeypatch.undo()
    assert (real(signal.SIG_BLOCK, []), signal.getsignal(signal.SIGINT)) == before
    assert signal.SIGINT not in real(signal.SIG_BLOCK, [])
