"""Out-of-core EM: every source type gives the in-memory fit; errors name file, row, column."""

from __future__ import annotations

import gzip
import itertools
import os

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import emkit
from emkit import GaussianMixture, KMeans, SoftKMeans
from emkit.families.structures import MCLUST_MODELS
from emkit.models import _sources
from emkit.sources import (
    ArraySource,
    ChunkCheck,
    CsvSource,
    ParquetSource,
    SlicedArraySource,
    from_file,
    is_source,
)
from emkit.sources._summary import ScanStep

from ._toy_family import PoissonMixture, poisson_counts
from .conftest import make_blobs

pytestmark = pytest.mark.slow  # files of every type written and fitted

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def data():
    return make_blobs((300, 200, 250), dim=3)


def write(kind: str, X: np.ndarray, folder, names=NAMES, extra: dict | None = None) -> str:
    """X (with extra named columns) as a file of the given kind; returns the path."""
    frame = pd.DataFrame(X, columns=names[: X.shape[1]])
    for key, values in (extra or {}).items():
        frame[key] = values
    path = os.path.join(folder, {"npy": "x.npy", "csv": "x.csv", "csv.gz": "x.csv.gz",
                                 "parquet": "x.parquet", "folder": "parts", "zarr": "x.zarr",
                                 "h5": "x.h5"}[kind])
    if kind == "npy":
        np.save(path, X)
    elif kind in ("csv", "csv.gz"):
        text = frame.to_csv(index=False, float_format="%.17g")
        if kind == "csv":
            with open(path, "w") as handle:
                handle.write(text)
        else:
            with gzip.open(path, "wt") as handle:
                handle.write(text)
    elif kind == "parquet":
        frame.to_parquet(path, row_group_size=97)
    elif kind == "folder":
        os.makedirs(path)
        bounds = [0, 211, 212, 530, X.shape[0]]
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            frame.iloc[a:b].to_parquet(os.path.join(path, f"part-{i}.parquet"),
                                       row_group_size=50 + 17 * i)
    elif kind == "zarr":
        array = zarr.open_array(path, mode="w", shape=X.shape, chunks=(70, X.shape[1]),
                                dtype="f8")
        array[:] = X
    elif kind == "h5":
        with h5py.File(path, "w") as handle:
            handle.create_dataset("data", data=X, chunks=(64, X.shape[1]))
    return path


KINDS = ["npy", "csv", "csv.gz", "parquet", "folder", "zarr", "h5"]


def assert_same_fit(fitted, reference, atol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name),
                                   rtol=0, atol=atol, err_msg=name)
    assert fitted.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(fitted.lower_bounds_, reference.lower_bounds_, rtol=0,
                               atol=atol)


# ------------------------------------------------------------------ equality
@pytest.mark.parametrize("kind", KINDS)
def test_every_file_type_gives_the_in_memory_fit(kind, data, tmp_path):
    path = write(kind, data, tmp_path)
    source = from_file(path)
    assert is_source(source) and source.n_features == 3
    reference = GaussianMixture(3, chunk_size=128, random_state=0, tol=1e-8).fit(data)
    fitted = GaussianMixture(3, chunk_size=128, random_state=0, tol=1e-8).fit(source)
    assert_same_fit(fitted, reference)
    # the default chunk size is the in-memory default too
    reference = GaussianMixture(3, random_state=1).fit(data)
    assert_same_fit(GaussianMixture(3, random_state=1).fit(source), reference)


def test_memmap_and_named_columns(data, tmp_path):
    path = write("npy", data, tmp_path)
    mapped = np.load(path, mmap_mode="r")
    reference = GaussianMixture(2, random_state=0).fit(data)
    assert not is_source(mapped)  # a memory map is an array, as for scikit-learn
    assert_same_fit(GaussianMixture(2, random_state=0).fit(mapped), reference)
    streamed = SlicedArraySource(mapped, label="mapped")
    assert_same_fit(GaussianMixture(2, random_state=0).fit(streamed), reference)
    parquet = write("parquet", data, tmp_path, extra={"id": np.arange(data.shape[0])})
    fitted = GaussianMixture(2, random_state=0).fit(from_file(parquet, columns=["c", "a"]))
    assert list(fitted.feature_names_in_) == ["c", "a"]
    assert_same_fit(fitted, GaussianMixture(2, random_state=0).fit(data[:, [2, 0]]))
    npy = GaussianMixture(2, random_state=0).fit(from_file(path, columns=[2, 0]))
    assert not hasattr(npy, "feature_names_in_")
    assert_same_fit(npy, fitted)


@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_every_covariance_model_over_a_parquet_folder(model, data, tmp_path):
    source = from_file(write("folder", data, tmp_path))
    reference = GaussianMixture(3, covariance_type=model, chunk_size=100, random_state=0,
                                max_iter=30).fit(data)
    fitted = GaussianMixture(3, covariance_type=model, chunk_size=100, random_state=0,
                             max_iter=30).fit(source)
    assert_same_fit(fitted, reference)


def test_missing_values_weights_labels_squarem_and_prior(data, tmp_path):
    X = data.copy()
    rng = np.random.default_rng(3)
    X[rng.uniform(size=X.shape) < 0.08] = np.nan
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    labels = np.full(X.shape[0], -1)
    labels[[3, 5, 400, 401, 700]] = [0, 0, 1, 1, 2]
    path = write("parquet", X, tmp_path, extra={"w": weights,
                                                "y": np.where(labels >= 0, labels, np.nan)})
    source = from_file(path)
    settings = dict(chunk_size=90, random_state=0, tol=1e-9, semi_supervised=True,
                    accelerate="squarem")
    reference = GaussianMixture(3, **settings).fit(X, labels, sample_weight=weights)
    by_column = GaussianMixture(3, **settings).fit(source, "y", sample_weight="w")
    assert list(by_column.feature_names_in_) == NAMES  # w and y are not features
    assert_same_fit(by_column, reference)
    features = from_file(path, columns=NAMES)
    by_array = GaussianMixture(3, **settings).fit(features, labels, sample_weight=weights)
    assert_same_fit(by_array, reference)
    # a conjugate prior needs the data's moments, taken in the pass before EM
    complete = from_file(write("csv", data, tmp_path))
    reference = GaussianMixture(3, prior="default", random_state=0).fit(data)
    assert_same_fit(GaussianMixture(3, prior="default", random_state=0).fit(complete),
                    reference)


def test_csv_missing_cells_are_nan(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b\n1,2\n,3\nNA,4\nnan,5\n2,\n7,1\n")
    chunks = list(from_file(path).configured(chunk_size=4).chunks())
    X = np.vstack([X for X, _ in chunks])
    expected = np.array([[1, 2], [np.nan, 3], [np.nan, 4], [np.nan, 5], [2, np.nan], [7, 1]])
    np.testing.assert_array_equal(X, expected)
    assert [len(X) for X, _ in chunks] == [4, 2]


def test_float32_dtype_over_a_source(data, tmp_path):
    source = from_file(write("npy", data, tmp_path))
    reference = GaussianMixture(3, dtype="float32", random_state=0).fit(data)
    assert_same_fit(GaussianMixture(3, dtype="float32", random_state=0).fit(source), reference)


def test_init_methods_labels_init_and_warm_start(data, tmp_path):
    source = from_file(write("parquet", data, tmp_path))
    for init in ("k-means++", "random", "random_from_data", "hierarchical"):
        reference = GaussianMixture(3, init_params=init, random_state=4).fit(data)
        assert_same_fit(GaussianMixture(3, init_params=init, random_state=4).fit(source),
                        reference)
    start = np.repeat([0, 1, 2], [300, 200, 250])
    reference = GaussianMixture(3, labels_init=start).fit(data)
    assert_same_fit(GaussianMixture(3, labels_init=start).fit(source), reference)
    warm = GaussianMixture(3, random_state=0, max_iter=3, warm_start=True)
    memory = GaussianMixture(3, random_state=0, max_iter=3, warm_start=True)
    with pytest.warns(emkit.exceptions.ConvergenceWarning):
        warm.fit(source)
        memory.fit(data)
    assert_same_fit(warm.fit(source), memory.fit(data))


def test_kmeans_and_soft_kmeans_over_sources(data, tmp_path):
    weights = np.random.default_rng(0).uniform(0.5, 2, data.shape[0])
    source = from_file(write("csv", data, tmp_path, extra={"w": weights}))
    km = KMeans(3, random_state=0, chunk_size=100).fit(source, sample_weight="w")
    ref = KMeans(3, random_state=0, chunk_size=100).fit(data, sample_weight=weights)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-10)
    assert km.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
    assert km.n_iter_ == ref.n_iter_ and not hasattr(km, "labels_")
    soft = SoftKMeans(3, beta=0.5, random_state=0, accelerate="squarem").fit(
        source, sample_weight="w")
    ref = SoftKMeans(3, beta=0.5, random_state=0, accelerate="squarem").fit(
        data, sample_weight=weights)
    np.testing.assert_allclose(soft.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-10)
    with pytest.raises(TypeError, match="fit_predict needs X in memory"):
        KMeans(3).fit_predict(source)


def test_generic_base_mixture_estimator_over_a_source(tmp_path):
    X = poisson_counts()
    path = write("parquet", X, tmp_path)
    reference = PoissonMixture(2, random_state=0, tol=1e-9, accelerate="squarem").fit(X)
    fitted = PoissonMixture(2, random_state=0, tol=1e-9, accelerate="squarem").fit(
        from_file(path))
    np.testing.assert_allclose(fitted.rates_, reference.rates_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fitted.weights_, reference.weights_, rtol=0, atol=1e-10)
    # the family's support check runs on every chunk and names file, row and column
    bad = X.copy()
    bad[401, 1] = -2.0
    path = write("csv", bad, tmp_path)
    with pytest.raises(ValueError, match=r"x\.csv has value .*-2\.0.* at line 403, column "
                                         "'b': a Poisson mixture needs non-negative"):
        PoissonMixture(2).fit(from_file(path))


# ------------------------------------------------------------- the sample
def test_data_larger_than_the_sample(data, tmp_path, monkeypatch):
    """Beyond the sample size, initialisation works on a uniform sample; EM is still exact."""
    monkeypatch.setattr(_sources, "sample_rows", lambda n_features: 200)
    source = from_file(write("parquet", data, tmp_path))
    fitted = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=500).fit(source)
    reference = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=500).fit(data)
    order = np.argsort(fitted.means_[:, 0])
    ref_order = np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[order], reference.means_[ref_order], atol=1e-5)
    assert fitted.lower_bound_ == pytest.approx(reference.lower_bound_, abs=1e-8)
    # the same start as in memory when EM starts from the sample's starting values
    start = GaussianMixture(3, random_state=0, max_iter=0).fit(source)
    again = GaussianMixture(3, random_state=0, max_iter=0).fit(source)
    np.testing.assert_array_equal(start.means_, again.means_)
    # hierarchical: the 2000-row subset rule on the sample; labels_init indexed by row
    GaussianMixture(3, init_params="hierarchical", random_state=0).fit(source)
    start = np.repeat([0, 1, 2], [300, 200, 250])
    fitted = GaussianMixture(3, labels_init=start, tol=1e-10).fit(source)
    reference = GaussianMixture(3, labels_init=start, tol=1e-10).fit(data)
    np.testing.assert_allclose(fitted.means_, reference.means_, atol=1e-5)


def test_sample_is_uniform_and_independent_of_threads(tmp_path):
    n, cap = 1000, 100
    X = np.arange(n, dtype=float)[:, None]
    source = ArraySource(X, None, 64)
    counts = np.zeros(n)
    for seed in range(300):
        step = ScanStep(cap, seed)
        summary = source.map_reduce(step, step.combine, 64)
        assert summary.X.shape[0] == cap and summary.subsampled
        assert np.all(np.diff(summary.rows) > 0)
        np.testing.assert_array_equal(summary.X[:, 0], summary.rows)
        counts[summary.rows] += 1
    # each row is in about 300 * cap / n = 30 samples: no row or region is favoured
    assert counts.min() >= 10 and counts.max() <= 55
    for block in np.split(counts, 10):
        assert abs(block.mean() - 30) < 4
    step = ScanStep(cap, 7)
    with emkit.config_context(n_threads=1):
        one = source.map_reduce(step, step.combine, 64)
    with emkit.config_context(n_threads=3):
        three = source.map_reduce(step, step.combine, 64)
    np.testing.assert_array_equal(one.rows, three.rows)
    # moments match the two-pass computation
    summary = source.map_reduce(ScanStep(cap, 0), ScanStep(cap, 0).combine, 64)
    assert summary.mean[0] == pytest.approx(X.mean())
    assert summary.covariance()[0, 0] == pytest.approx(np.var(X, ddof=1))


def test_results_do_not_depend_on_threads(data, tmp_path):
    source = from_file(write("csv", data, tmp_path))
    with emkit.config_context(n_threads=1):
        one = GaussianMixture(3, random_state=0, chunk_size=64).fit(source)
    with emkit.config_context(n_threads=2):
        two = GaussianMixture(3, random_state=0, chunk_size=64).fit(source)
    assert_same_fit(one, two, atol=0.0)


# ------------------------------------------------------------------ errors
def one_line_error(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_missing_path_and_unknown_type(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file or folder: .*nope\.parquet"):
        from_file(tmp_path / "nope.parquet")
    (tmp_path / "x.xyz").write_text("1")
    with pytest.raises(ValueError, match=r"cannot tell the file type from '\.xyz'"):
        from_file(tmp_path / "x.xyz")


def test_parquet_schema_errors(data, tmp_path):
    frame = pd.DataFrame(data, columns=NAMES)
    frame["name"] = "row"
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(ValueError) as caught:
        from_file(tmp_path / "t.parquet")
    assert one_line_error(caught).startswith(f"{tmp_path / 't.parquet'}, column 'name': not "
                                             "numeric (")
    assert caught.value.args[0].endswith("string); select numeric columns with columns=[...]")
    assert from_file(tmp_path / "t.parquet", columns=NAMES).n_features == 3
    with pytest.raises(ValueError, match="no column named 'z'"):
        from_file(tmp_path / "t.parquet", columns=["a", "z"])
    folder = tmp_path / "parts"
    folder.mkdir()
    pd.DataFrame(data[:100], columns=NAMES).to_parquet(folder / "a.parquet")
    pd.DataFrame(data[100:], columns=["a", "b", "d"]).to_parquet(folder / "b.parquet")
    with pytest.raises(ValueError) as caught:
        from_file(folder)
    assert "b.parquet: the schema changes between files: it has column 'd'" in one_line_error(
        caught)
    with pytest.raises(ValueError, match=r"b\.parquet: the schema changes between files: "
                                         "no column 'c'"):
        from_file(folder, columns=["a", "c"])
    assert from_file(folder, columns=["a", "b"]).n_samples == data.shape[0]
    pd.DataFrame({"a": ["x"] * 3, "b": [1.0] * 3}).to_parquet(folder / "c.parquet")
    with pytest.raises(ValueError, match=r"c\.parquet, column 'a': not numeric \(\w*string\)"):
        from_file(folder, columns=["a", "b"])


def test_value_errors_name_file_row_and_column(data, tmp_path):
    X = data.copy()
    X[333, 2] = np.inf
    with pytest.raises(ValueError) as caught:
        GaussianMixture(2).fit(from_file(write("folder", X, tmp_path)))
    message = one_line_error(caught)
    assert message.startswith(f"{tmp_path / 'parts' / 'part-2.parquet'}, row 121, column 'c'")
    assert "inf" in message
    with pytest.raises(ValueError, match=r"x\.npy, row 333, column 2: inf"):
        GaussianMixture(2).fit(from_file(write("npy", X, tmp_path)))
    Y = data.copy()
    Y[10, 0] = np.nan
    with pytest.raises(ValueError, match=r"x\.csv, line 12, column 'a': NaN \(NaN and inf "
                                         "are not allowed"):
        KMeans(2).fit(from_file(write("csv", Y, tmp_path)))
    weights = np.ones(data.shape[0])
    weights[7] = -1
    path = write("parquet", data, tmp_path, extra={"w": weights})
    with pytest.raises(ValueError, match=r"x\.parquet, row 7, column 'w': sample weight -1\.0"):
        GaussianMixture(2).fit(from_file(path), sample_weight="w")
    labels = np.full(data.shape[0], np.nan)
    labels[5] = 4
    path = write("parquet", data, tmp_path, extra={"y": labels})
    with pytest.raises(ValueError, match=r"x\.parquet, row 5, column 'y': label 4 is not a "
                                         r"component index 0\.\.2"):
        GaussianMixture(3, semi_supervised=True).fit(from_file(path), "y")
    Z = data.copy()
    Z[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"x\.parquet: column 'b' has no observed value"):
        GaussianMixture(2).fit(from_file(write("parquet", Z, tmp_path)))


def test_csv_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,c\n1,2,3\n4,oops,6\n")
    with pytest.raises(ValueError) as caught:
        GaussianMixture(1).fit(from_file(path))
    assert one_line_error(caught) == f"{path}, line 3, column 'b': non-numeric value 'oops'"
    path.write_text("a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3: 2 cells but the header has 3"):
        GaussianMixture(1).fit(from_file(path))
    path.write_text("")
    with pytest.raises(ValueError, match="the file is empty"):
        from_file(path)
    path.write_text("a,a\n1,2\n")
    with pytest.raises(ValueError, match="column name 'a' appears twice"):
        from_file(path)
    many = tmp_path / "many.csv"
    rows = ["x,y"] + [f"{i},{i % 7}" for i in range(50_000)]
    rows[43_210] = "5,seven"
    many.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"many\.csv, line 43211, column 'y': non-numeric "
                                         "value 'seven'"):
        CsvSource(many, block_size=1 << 14).configured(chunk_size=999).scan(100, 0)


def test_array_file_errors(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(5.0))
    with pytest.raises(ValueError, match=r"v\.npy has shape \(5,\); a 2-D array"):
        from_file(tmp_path / "v.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"s\.npy holds <U1 values"):
        from_file(tmp_path / "s.npy")
    with h5py.File(tmp_path / "two.h5", "w") as handle:
        handle.create_dataset("one", data=np.ones((4, 2)))
        handle.create_dataset("two", data=np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"holds 2 2-D datasets \('one', 'two'\); choose one"):
        from_file(tmp_path / "two.h5")
    assert from_file(tmp_path / "two.h5", dataset="two").n_samples == 4
    with pytest.raises(ValueError, match="column 5 does not exist"):
        from_file(tmp_path / "two.h5", dataset="one", columns=[5])
    np.save(tmp_path / "m.npy", np.ones((6, 2)))
    with pytest.raises(ValueError, match=r"sample_weight has 5 entries but .*m\.npy has 6 rows"):
        GaussianMixture(1).fit(from_file(tmp_path / "m.npy"), sample_weight=np.ones(5))
    with pytest.raises(ValueError, match=r"names a column, but .*m\.npy has no column names"):
        GaussianMixture(1).fit(from_file(tmp_path / "m.npy"), sample_weight="w")


def test_a_failed_fit_writes_nothing(data, tmp_path):
    X = data.copy()
    X[600, 0] = np.inf
    model = GaussianMixture(2)
    with pytest.raises(ValueError):
        model.fit(from_file(write("parquet", X, tmp_path)))
    with pytest.raises(NotFittedError):
        check_is_fitted(model)
    assert not hasattr(model, "n_features_in_")


def test_chunks_have_exact_boundaries_across_files(data, tmp_path):
    source = from_file(write("folder", data, tmp_path)).configured(chunk_size=100)
    chunks = list(source._chunks())
    assert [c.start for c in chunks] == list(range(0, 750, 100))
    np.testing.assert_array_equal(np.vstack([c.X for c in chunks]), data)
    assert isinstance(source, ParquetSource)
    check = ChunkCheck(np.float32)
    assert next(source.configured(check=check)._chunks()).X.dtype == np.float32


def test_arrow_tables_with_nulls_and_integers(tmp_path):
    table = pa.table({"a": pa.array([1, None, 3, 4], pa.int32()),
                      "b": pa.array([0.5, 1.5, None, 2.0]),
                      "c": pa.array([True, False, True, None])})
    pq.write_table(table, tmp_path / "n.parquet")
    X = np.vstack([X for X, _ in from_file(tmp_path / "n.parquet").configured(
        chunk_size=3).chunks()])
    np.testing.assert_array_equal(X, [[1, 0.5, 1], [np.nan, 1.5, 0], [3, np.nan, 1],
                                      [4, 2.0, np.nan]])


def test_csv_header_with_spaces_and_tsv(data, tmp_path):
    path = tmp_path / "s.csv"
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in data[:50])
    path.write_text("a, b ,c\n" + rows + "\n")
    source = from_file(path, columns=["b"])
    np.testing.assert_array_equal(np.vstack([X for X, _ in source.chunks()]), data[:50, [1]])
    tsv = tmp_path / "t.tsv"
    tsv.write_text("a\tb\tc\n" + rows.replace(",", "\t") + "\n")
    np.testing.assert_array_equal(np.vstack([X for X, _ in from_file(tsv).chunks()]),
                                  data[:50])


# ------------------------------------------------------- discrete families
def discrete_data(rng: np.random.Generator, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Counts (4 columns) and integer codes (5 columns, 2 to 4 levels) from 3 classes."""
    z = rng.integers(3, size=n)
    rates = np.array([[0.5, 6.0, 2.0, 9.0], [5.0, 1.0, 2.0, 0.2], [3.0, 3.0, 12.0, 3.0]])
    counts = rng.poisson(rates[z]).astype(float)
    codes = np.empty((n, 5), dtype=np.int64)
    for j, L in enumerate((3, 2, 4, 3, 2)):
        p = np.full((3, L), 0.2 / (L - 1))
        p[np.arange(3), (np.arange(3) + j) % L] = 0.8
        codes[:, j] = (np.cumsum(p, axis=1)[z] < rng.random(n)[:, None]).sum(axis=1)
    return counts, codes


def recording_families(estimator) -> list:
    """Make ``estimator`` keep every family it builds (to inspect their caches)."""
    built, make = [], estimator._family

    def family():
        built.append(make())
        return built[-1]
    estimator._family = family
    return built


def chunk_caches(family) -> list:
    from emkit.families._columns import ChunkCache

    return [value for value in vars(family).values() if isinstance(value, ChunkCache)]


@pytest.mark.parametrize("name", ["poisson", "categorical"])
def test_discrete_mixtures_from_an_npy_file_equal_the_in_memory_fit(name, tmp_path):
    """The file is read in 6 chunks every pass: the fit is the in-memory fit (sums in
    the same chunk order), and the family's per-chunk caches stay empty (a chunk read
    anew is a new array: a cache keyed by it would only grow)."""
    counts, codes = discrete_data(np.random.default_rng(0))
    X = counts if name == "poisson" else codes
    cls = emkit.PoissonMixture if name == "poisson" else emkit.CategoricalMixture
    attribute = "rates_" if name == "poisson" else "probabilities_"
    path = os.path.join(tmp_path, "x.npy")
    np.save(path, X)
    common = dict(random_state=0, tol=1e-10, max_iter=500, chunk_size=500)
    memory = cls(3, **common)
    in_memory = recording_families(memory)
    memory.fit(X)
    fitted = cls(3, **common)
    from_npy = recording_families(fitted)
    fitted.fit(from_file(path))
    assert fitted.n_iter_ == memory.n_iter_
    np.testing.assert_allclose(fitted.weights_, memory.weights_, rtol=0, atol=1e-12)
    got_all, want_all = getattr(fitted, attribute), getattr(memory, attribute)
    if name == "poisson":
        got_all, want_all = [got_all], [want_all]
    for got, want in zip(got_all, want_all, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fitted.lower_bounds_, memory.lower_bounds_, rtol=1e-13)
    if name == "categorical":
        for levels, want in zip(fitted.categories_, memory.categories_, strict=True):
            np.testing.assert_array_equal(levels, want)
    # the in-memory fit kept its chunks' data-only values; the file fit kept none
    assert any(cache._entries for family in in_memory for cache in chunk_caches(family))
    assert from_npy and all(chunk_caches(family) for family in from_npy)
    assert not any(cache._entries for family in from_npy for cache in chunk_caches(family))
    np.testing.assert_allclose(fitted.score_samples(X), memory.score_samples(X), rtol=1e-12)


def test_categorical_mixture_from_a_file_with_given_levels_and_a_bad_code(tmp_path):
    _, codes = discrete_data(np.random.default_rng(1), 600)
    path = os.path.join(tmp_path, "x.npy")
    np.save(path, codes.astype(float))
    levels = [list(range(L)) for L in (3, 2, 4, 3, 2)]
    levels[1] = [0, 1, 7]  # a level the data never show still counts
    given = emkit.CategoricalMixture(3, categories=levels, random_state=0).fit(
        from_file(path))
    assert given.probabilities_[1].shape == (3, 3)
    np.testing.assert_array_equal(given.probabilities_[1][:, 2], 0.0)
    bad = codes.astype(float)
    bad[417, 2] = 9.0
    np.save(path, bad)
    with pytest.raises(ValueError, match=r"x\.npy.*column 2 has level 9\.0 at row 417"):
        emkit.CategoricalMixture(3, categories=[list(range(L)) for L in (3, 2, 4, 3, 2)]
                                 ).fit(from_file(path))


@pytest.mark.parametrize("variant", [{"assignment": "hard"},
                                     {"assignment": "stochastic", "stochastic_iter": 10},
                                     {"annealing": {"beta0": 0.5, "growth": 1.5}}],
                         ids=["hard", "stochastic", "annealing"])
def test_em_variants_over_a_file_equal_the_in_memory_fit(variant, data, tmp_path):
    """Classification, stochastic (draws keyed by the row's position, not the chunk)
    and annealed EM over a Parquet file give the in-memory fit."""
    path = write("parquet", data, tmp_path)
    reference = GaussianMixture(3, chunk_size=128, random_state=0, **variant).fit(data)
    fitted = GaussianMixture(3, chunk_size=128, random_state=0, **variant).fit(from_file(path))
    assert_same_fit(fitted, reference)
