"""Model files of every estimator added after emkit 0.1.0 still load and compute exactly
what the estimator that wrote them computed (tests/references/model_files_v1_more)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emkit.persist import load_model, save_model

from .test_persist_schema import assert_same_model

MORE = Path(__file__).parent / "references" / "model_files_v1_more"
EXPECTED = json.loads((MORE / "expected.json").read_text())


def decode(value):
    if "tuple" in value:
        return tuple(decode(v) for v in value["tuple"])
    dtype = {"str": str, "object": object}.get(value["dtype"], value["dtype"])
    return np.array(value["data"], dtype=dtype)


def assert_same(got, want, what):
    if isinstance(want, tuple):
        for g, w in zip(got, want, strict=True):
            assert_same(g, w, what)
        return
    np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_files_still_load_and_compute_exactly(tmp_path, name):
    model = load_model(MORE / f"{name}.json")
    for record in EXPECTED[name]:
        args = [decode(a) for a in record["args"]]
        assert_same(getattr(model, record["method"])(*args), decode(record["result"]),
                    f"{name}.{record['method']}")
    save_model(model, tmp_path / "again.json")  # and saves to the same document
    assert_same_model(json.loads((tmp_path / "again.json").read_text()),
                      json.loads((MORE / f"{name}.json").read_text()))
