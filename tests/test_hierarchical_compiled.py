"""The compiled agglomeration loop (emkit._numba_hierarchical) against the NumPy one.

Both paths must give the same merges and the same costs (to rounding: the
log-determinants come from different LU codes) on the mclust fixtures and on
random data, including exact ties from duplicated rows, clusters smaller and
larger than the dimension, starting partitions with groups and the degenerate
first-factor-row fallback of mclust 6.0.0.  The fixtures themselves are checked
on both paths in test_hierarchical.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

import emkit
from emkit.datasets import load_faithful
from emkit.hierarchical import hierarchical_tree
from emkit.hierarchical_merges import NUMBA_MIN_GROUPS, _compiled_loop

pytest.importorskip("numba")

REFERENCE = json.loads(
    (Path(__file__).parent / "references" / "mclust_hc.json").read_text(encoding="utf-8")
)


def _both(X, **kwargs):
    with emkit.config_context(kernels="numpy"):
        reference = hierarchical_tree(X, **kwargs)
    with emkit.config_context(kernels="numba"):
        compiled = hierarchical_tree(X, **kwargs)
    return reference, compiled


def _assert_same_tree(reference, compiled):
    np.testing.assert_array_equal(compiled.merges, reference.merges)
    np.testing.assert_array_equal(compiled.initial_partition, reference.initial_partition)
    # costs are differences of cluster terms: compare relative to the terms' scale
    scale = np.max(np.abs(reference.costs))
    np.testing.assert_allclose(compiled.costs, reference.costs, rtol=1e-12, atol=1e-13 * scale)


@pytest.mark.parametrize("entry", REFERENCE["hc"], ids=lambda e: e["name"])
def test_fixture_data_same_tree_on_both_paths(entry):
    if entry["source"] == "faithful":
        X = load_faithful()
    elif entry["source"] == "iris":
        X = load_iris().data
    else:
        X = np.array(entry["data"], dtype=float)
    partition = "duplicates" if entry["partition"] == "duplicates" else None
    reference, compiled = _both(X, use=entry["use"], model=entry["model"], partition=partition)
    _assert_same_tree(reference, compiled)
    np.testing.assert_array_equal(compiled.merges, np.array(entry["pairs"]))


def _duplicated(rng, n_rows, n_distinct, p):
    base = rng.normal(size=(n_distinct, p))
    return base[rng.integers(0, n_distinct, size=n_rows)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("model", ["VVV", "EII"])
def test_random_data_same_tree(seed, model):
    rng = np.random.default_rng(seed)
    cases = {
        "n>p": rng.normal(size=(120, 3)),
        "p=8": rng.normal(size=(90, 8)) * rng.uniform(0.1, 5.0, size=8),
        "wide": rng.normal(size=(12, 20)),  # n < p: no cluster ever has n > p
        "near_p": rng.normal(size=(30, 9)),  # clusters cross n = p late
        "duplicates": _duplicated(rng, 100, 30, 4),  # exact ties in every phase
    }
    for name, X in cases.items():
        for use in ("SVD", "VARS"):
            reference, compiled = _both(X, model=model, use=use)
            if name == "duplicates":  # exactly tied costs, broken by the slot rules
                assert np.unique(reference.costs).size < reference.costs.size
            try:
                _assert_same_tree(reference, compiled)
            except AssertionError as exc:
                raise AssertionError(f"{name}, use={use}") from exc


@pytest.mark.parametrize("model", ["VVV", "EII"])
def test_starting_partitions_same_tree(model):
    rng = np.random.default_rng(7)
    X = _duplicated(rng, 150, 60, 3)
    _assert_same_tree(*_both(X, model=model, partition="duplicates"))
    labels = rng.integers(0, 70, size=150)  # groups larger and smaller than p
    _assert_same_tree(*_both(X, model=model, partition=labels))
    wide = rng.normal(size=(40, 6))
    _assert_same_tree(*_both(wide, model=model, use="VARS", partition=np.arange(40) // 5))


def test_fallback_row_stays_tied_to_its_slot():
    """Lattice data and grouped starts: merges whose scatter has a zero first
    column fall back to a stored factor row read from a slot that another
    cluster then moves into (the NumPy path's view of ``lead[b]``; mclust 6.0.0
    gives the same first 12 merges on this set, a copy of the row does not)."""
    rng = np.random.default_rng(75)
    n, p = int(rng.integers(10, 60)), int(rng.integers(2, 5))
    X = np.round(_duplicated(rng, n, max(2, n // 3), p) * 2)
    labels = rng.integers(0, n // 2, size=n)
    reference, compiled = _both(X, use="VARS", partition=labels)
    _assert_same_tree(reference, compiled)


def test_high_dimension_same_tree():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 20)) @ rng.normal(size=(20, 20))
    _assert_same_tree(*_both(X))


def test_one_column_left_after_scaling():
    X = np.column_stack([np.random.default_rng(1).normal(size=80), np.full(80, 2.0)])
    _assert_same_tree(*_both(X))


def test_which_loop_runs():
    with emkit.config_context(kernels="numpy"):
        assert _compiled_loop(10_000) is None
    with emkit.config_context(kernels="auto"):
        assert _compiled_loop(NUMBA_MIN_GROUPS - 1) is None
        assert _compiled_loop(NUMBA_MIN_GROUPS) is not None
    with emkit.config_context(kernels="numba"):
        assert _compiled_loop(2) is not None


def test_numpy_kernels_still_match_mclust():
    entry = {e["name"]: e for e in REFERENCE["hc"]}["faithful"]
    with emkit.config_context(kernels="numpy"):
        tree = hierarchical_tree(load_faithful())
    np.testing.assert_array_equal(tree.merges, np.array(entry["pairs"]))
