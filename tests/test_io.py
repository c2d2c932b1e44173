"""The CSV reader's errors name file, line and column; writers are atomic."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from emkit.io import OutputBatch, atomic_write, csv_text, read_csv, write_csv


def write(tmp_path, text: str | bytes, name: str = "data.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_reads_numbers_and_names(tmp_path):
    text = '\ufeff"eruptions", waiting\n3.6,79\n\n -1.5e-3 , "54"\n2,  1E2\n'
    path = write(tmp_path, text)
    before = path.read_bytes()
    X, names = read_csv(path)
    assert names == ["eruptions", "waiting"]
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X, [[3.6, 79.0], [-1.5e-3, 54.0], [2.0, 100.0]])
    assert path.read_bytes() == before


def test_single_column_and_crlf(tmp_path):
    X, names = read_csv(write(tmp_path, "x\r\n1\r\n2\r\n"))
    assert names == ["x"]
    assert X.shape == (2, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,2\n3,abc\n", ["line 3", "column 'b'", "non-numeric", "'abc'"]),
        ("a,b\n1,2\n,4\n", ["line 3", "column 'a'", "empty cell"]),
        ("a,b\n1,nan\n", ["line 2", "column 'b'", "'nan'", "NaN"]),
        ("a,b\n1,2\n-inf,2\n", ["line 3", "column 'a'", "'-inf'", "finite"]),
        ("a,b\n1,Infinity\n", ["line 2", "column 'b'", "finite"]),
        ("a,b\n1,1_000\n", ["line 2", "column 'b'", "non-numeric"]),
        ("a,b\n1,2\n3\n", ["line 3", "1 cell", "2 columns", "column 'b'"]),
        ("a,b\n1,2,3\n", ["line 2", "3 cells", "extra"]),
        ("1,2\n3,4\n", ["line 1", "no header"]),
        ("a,b\n", ["no data rows"]),
        ("", ["empty"]),
        ("\n\n", ["empty"]),
        ("a,a\n1,2\n", ["line 1", "'a'", "twice"]),
        ("a,\n1,2\n", ["line 1", "column 2", "no name"]),
        ("a,b\n\n\n1,2\n\n4,x\n", ["line 6", "column 'b'"]),
    ],
)
def test_errors_name_file_line_and_column(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        read_csv(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for word in expected:
        assert word in message


def test_not_utf8(tmp_path):
    path = write(tmp_path, b"a,b\n1,\xff\xfe\n")
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_csv(path)


def test_missing_file_is_an_oserror_naming_it(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match=r"cannot read .*nope\.csv"):
        read_csv(path)


def test_directory_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="cannot read"):
        read_csv(tmp_path)


def test_write_csv_round_trips_floats_exactly(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(20, 3)) * 10.0 ** rng.integers(-30, 30, size=(20, 3))
    path = tmp_path / "out.csv"
    write_csv(path, ["a", "b", "c"], data)
    X, names = read_csv(path)
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(X, data)


def test_csv_text_formats_ints_and_floats():
    text = csv_text(["label", "p0"], [[np.int64(1), np.float64(0.1)], [0, 1.0]])
    assert text == "label,p0\n1,0.1\n0,1.0\n"


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")

    def fail(handle):
        handle.write("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == ["model.json"]


def test_atomic_write_missing_directory_names_target(tmp_path):
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(FileNotFoundError, match=r"cannot write .*out\.json"):
        atomic_write(target, "x")
    assert leftovers(tmp_path) == []


def test_atomic_write_file_modes(tmp_path):
    old_mask = os.umask(0o022)
    try:
        new = tmp_path / "new.txt"
        atomic_write(new, "text")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # not mkstemp's private 0o600
        kept = tmp_path / "kept.txt"
        kept.write_text("x")
        kept.chmod(0o640)
        atomic_write(kept, b"bytes")
        assert kept.read_bytes() == b"bytes"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old_mask)


def test_batch_writes_nothing_when_a_later_output_fails(tmp_path):
    with pytest.raises(OSError, match=r"cannot write .*labels\.csv"):
        with OutputBatch() as batch:
            batch.add(tmp_path / "model.json", "{}")
            batch.add(tmp_path / "nodir" / "labels.csv", "label\n")
    assert leftovers(tmp_path) == []


def test_batch_removes_published_files_when_a_rename_fails(tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("old a\n")
    batch = OutputBatch()
    batch.add(tmp_path / "a.csv", "a\n")
    batch.add(tmp_path / "b.csv", "b\n")
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("b.csv"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match=r"cannot write .*b\.csv: No space left"):
        batch.commit()
    assert leftovers(tmp_path) == []  # no half batch (the old a.csv is gone: it was replaced)


def test_batch_checks_again_before_renaming(tmp_path):
    batch = OutputBatch()
    batch.add(tmp_path / "a.csv", "a\n")
    batch.add(tmp_path / "b.csv", "b\n")
    (tmp_path / "b.csv").mkdir()  # appeared meanwhile: not replaced, nothing renamed
    with pytest.raises(OSError, match=r"cannot write .*b\.csv: it is a directory"):
        batch.commit()
    assert leftovers(tmp_path) == ["b.csv"]
    assert (tmp_path / "b.csv").is_dir()


def test_batch_commits_all(tmp_path):
    with OutputBatch() as batch:
        batch.add(tmp_path / "a.txt", "a")
        batch.add(tmp_path / "b.png", b"\x89PNG")
        assert len(leftovers(tmp_path)) == 2  # staged as hidden temporaries
        assert all(name.endswith(".tmp") for name in leftovers(tmp_path))
    assert leftovers(tmp_path) == ["a.txt", "b.png"]
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"


def test_allow_missing_reads_empty_na_and_nan_cells_as_nan(tmp_path):
    text = 'a,b,c\n1,,3\nNA,2,nan\n"",NaN, na \n-nan,5,6\n'
    X, names = read_csv(write(tmp_path, text), allow_missing=True)
    assert names == ["a", "b", "c"]
    expected = np.array([[1, np.nan, 3], [np.nan, 2, np.nan], [np.nan, np.nan, np.nan],
                         [np.nan, 5, 6]])
    np.testing.assert_array_equal(X, expected)
    # without the option the same file is refused, as before
    with pytest.raises(ValueError, match=r"line 2, column 'b'.*empty cell"):
        read_csv(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,inf\n", ["line 2", "column 'b'", "'inf'", "inf is not allowed"]),
        ("a,b\n1,N/A\n", ["line 2", "column 'b'", "non-numeric", "'N/A'"]),
        ("a,b\n1,2\n3\n", ["line 3", "1 cell", "2 columns"]),
    ],
)
def test_allow_missing_still_rejects_other_bad_cells(tmp_path, text, expected):
    with pytest.raises(ValueError) as info:
        read_csv(write(tmp_path, text), allow_missing=True)
    for word in expected:
        assert word in str(info.value)
