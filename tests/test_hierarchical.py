"""emkit.hierarchical against R's mclust 6.0.0 (hc, hclass, qclass).

The reference values come from tests/references/mclust_hc.json, written by
tests/references/mclust_hc.R (see its header to re-run it); R is not needed
here.  The trees are grown on both paths (the NumPy loop and, when numba is
installed, the compiled one of emkit._numba_hierarchical).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

import emkit
from emkit.datasets import load_faithful
from emkit.hierarchical import (
    HierarchicalTree,
    hierarchical_tree,
    initial_partition,
    quantile_classes,
    svd_transform,
)

REFERENCE = json.loads(
    (Path(__file__).parent / "references" / "mclust_hc.json").read_text(encoding="utf-8")
)
HC = {entry["name"]: entry for entry in REFERENCE["hc"]}
QCLASS = {entry["name"]: entry for entry in REFERENCE["qclass"]}


def _hc_data(entry: dict) -> np.ndarray:
    if entry["source"] == "faithful":
        return load_faithful()
    if entry["source"] == "iris":
        return load_iris().data
    return np.array(entry["data"], dtype=float)


def _qclass_data(entry: dict) -> np.ndarray:
    if entry["source"] == "faithful$waiting":
        return load_faithful()[:, 1]
    if entry["source"] == "faithful$eruptions":
        return load_faithful()[:, 0]
    return np.array(entry["x"], dtype=float)


KERNELS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])


@pytest.fixture(scope="module", params=KERNELS)
def trees(request) -> dict[str, HierarchicalTree]:
    out = {}
    with emkit.config_context(kernels=request.param):
        for name, entry in HC.items():
            partition = "duplicates" if entry["partition"] == "duplicates" else None
            out[name] = hierarchical_tree(_hc_data(entry), use=entry["use"],
                                          model=entry["model"], partition=partition)
    return out


# ---------------------------------------------------------------- hc / hclass


@pytest.mark.parametrize("name", sorted(HC))
def test_merges_equal_mclust_hc_pairs(trees, name):
    np.testing.assert_array_equal(trees[name].merges, np.array(HC[name]["pairs"]))


@pytest.mark.parametrize("name", sorted(HC))
def test_merge_costs_equal_mclust_fortran(trees, name):
    np.testing.assert_allclose(trees[name].costs, HC[name]["costs"], rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("name", sorted(HC))
def test_cut_equals_hclass_for_every_g(trees, name):
    for n_clusters, labels in enumerate(HC[name]["hclass"], start=1):
        np.testing.assert_array_equal(trees[name].cut(n_clusters), np.array(labels) - 1,
                                      err_msg=f"{name}, G = {n_clusters}")


def test_tree_attributes(trees):
    tree = trees["faithful"]
    assert tree.n_rows == 272
    assert tree.n_initial == 272
    assert tree.merges.shape == (271, 2)
    assert np.all(tree.merges[:, 0] < tree.merges[:, 1])
    np.testing.assert_array_equal(tree.initial_partition, np.arange(272))
    np.testing.assert_array_equal(tree.cut(272), np.arange(272))
    np.testing.assert_array_equal(tree.cut(1), np.zeros(272, dtype=int))


def test_duplicates_partition_groups_identical_rows(trees):
    X = load_faithful()
    tree = trees["faithful_duplicates"]
    assert tree.n_initial == len(np.unique(X, axis=0)) == 256
    groups = tree.initial_partition
    for g in np.unique(groups):
        assert len(np.unique(X[groups == g], axis=0)) == 1
    # groups are numbered in order of first appearance, like R's partconv
    first = [np.flatnonzero(groups == g)[0] for g in range(tree.n_initial)]
    assert first == sorted(first)


def test_svd_transform_matches_mclust_up_to_column_signs():
    entry = HC["gauss5"]
    Z = svd_transform(_hc_data(entry))
    Z_r = np.array(entry["svd_data"])
    signs = np.sign(np.sum(Z * Z_r, axis=0))
    np.testing.assert_allclose(Z * signs, Z_r, rtol=1e-10, atol=1e-12)


def test_tree_of_mclust_transformed_data_with_use_vars():
    entry = HC["gauss5"]
    tree = hierarchical_tree(np.array(entry["svd_data"]), use="VARS")
    np.testing.assert_array_equal(tree.merges, np.array(entry["pairs"]))


def test_svd_transform_drops_constant_columns():
    X = np.column_stack([load_faithful(), np.full(272, 3.0)])
    assert svd_transform(X).shape == (272, 2)
    np.testing.assert_array_equal(hierarchical_tree(X).merges, HC["faithful"]["pairs"])


def test_custom_partition_depends_only_on_the_grouping():
    X = load_faithful()
    labels = hierarchical_tree(X).cut(200)
    tree = hierarchical_tree(X, partition=labels)
    assert tree.n_initial == 200
    np.testing.assert_array_equal(tree.initial_partition, labels)
    relabelled = hierarchical_tree(X, partition=(labels + 10) * 3)
    np.testing.assert_array_equal(relabelled.merges, tree.merges)


# ------------------------------------------------------- initial_partition


@pytest.mark.parametrize("name", ["faithful", "iris", "wide_eii"])
def test_initial_partition_is_mclust_start(name):
    """Mclust starts from hclass(hc(X, "VVV", "SVD"), G); "EII" when n <= d."""
    entry = HC[name]
    X = _hc_data(entry)
    for n_clusters, labels in enumerate(entry["hclass"], start=1):
        np.testing.assert_array_equal(initial_partition(X, n_clusters), np.array(labels) - 1)


def test_initial_partition_one_dimensional_uses_quantile_classes():
    entry = QCLASS["waiting"]
    x = _qclass_data(entry)
    for k, classes in enumerate(entry["classes"], start=1):
        expected = np.array(classes) - 1
        np.testing.assert_array_equal(initial_partition(x, k), expected)
        np.testing.assert_array_equal(initial_partition(x[:, None], k), expected)


# ------------------------------------------------------------------ qclass


@pytest.mark.parametrize("name", sorted(QCLASS))
def test_quantile_classes_equal_qclass(name):
    entry = QCLASS[name]
    x = _qclass_data(entry)
    for k, classes in enumerate(entry["classes"], start=1):
        np.testing.assert_array_equal(quantile_classes(x, k), np.array(classes) - 1,
                                      err_msg=f"{name}, k = {k}")


def test_quantile_classes_can_leave_a_class_empty_like_mclust():
    labels = quantile_classes(np.array(QCLASS["small"]["x"]), 4)
    assert np.bincount(labels, minlength=4).tolist() == [3, 0, 3, 4]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_rejected(bad):
    X = load_faithful().copy()
    X[5, 1] = bad
    with pytest.raises(ValueError, match="row 5, column 1"):
        hierarchical_tree(X)
    with pytest.raises(ValueError, match="row 5, column 1"):
        initial_partition(X, 2)
    with pytest.raises(ValueError, match="row 5"):
        quantile_classes(X[:, 1], 2)


def test_too_few_rows():
    with pytest.raises(ValueError, match="at least 2 rows"):
        hierarchical_tree(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        svd_transform(np.ones((1, 3)))


def test_one_feature_is_rejected_by_hierarchical_tree():
    with pytest.raises(ValueError, match="at least 2 features"):
        hierarchical_tree(load_faithful()[:, :1])


@pytest.mark.parametrize("n_clusters", [0, -1, 273, 2.5, True, "3"])
def test_cut_n_clusters_out_of_range(trees, n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        trees["faithful"].cut(n_clusters)


def test_cut_above_number_of_starting_groups(trees):
    with pytest.raises(ValueError, match="between 1 and 256"):
        trees["faithful_duplicates"].cut(257)


@pytest.mark.parametrize("n_clusters", [0, 273])
def test_quantile_classes_n_clusters_out_of_range(n_clusters):
    with pytest.raises(ValueError, match="n_clusters"):
        quantile_classes(load_faithful()[:, 1], n_clusters)


def test_quantile_classes_rejects_constant_and_matrix_input():
    with pytest.raises(ValueError, match="identical"):
        quantile_classes(np.full(10, 2.0), 2)
    with pytest.raises(ValueError, match="1-D"):
        quantile_classes(load_faithful(), 2)


@pytest.mark.parametrize("model", ["VVV", "EII"])
def test_values_whose_squares_overflow_are_rejected(model):
    X = load_faithful() * 1e170
    with pytest.raises(ValueError, match="too large in magnitude"):
        hierarchical_tree(X, use="VARS", model=model)


def test_bad_options():
    X = load_faithful()
    with pytest.raises(ValueError, match="model"):
        hierarchical_tree(X, model="VVI")
    with pytest.raises(ValueError, match="use"):
        hierarchical_tree(X, use="PCA")
    with pytest.raises(ValueError, match="partition"):
        hierarchical_tree(X, partition="dups")
    with pytest.raises(ValueError, match="one label per row"):
        hierarchical_tree(X, partition=np.zeros(10))


def test_single_starting_group_is_rejected():
    with pytest.raises(ValueError, match="single group"):
        hierarchical_tree(np.ones((5, 2)), partition="duplicates")
    with pytest.raises(ValueError, match="constant"):
        hierarchical_tree(np.ones((5, 2)))
