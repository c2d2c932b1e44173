"""save_model / load_model: exact round trips and a named ModelFileError for every bad file."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from emkit import GaussianMixture, KMeans, SoftKMeans
from emkit.datasets import load_faithful
from emkit.exceptions import ModelFileError
from emkit.persist import FORMAT_VERSION, load_model, model_to_dict, save_model

# every covariance model: scikit-learn's names and mclust's other ten
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical", "EII", "EEI", "VEI", "EVI",
                    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"]


@pytest.fixture(scope="module")
def X():
    return load_faithful()


@pytest.fixture(scope="module")
def fitted_gm(X):
    return GaussianMixture(3, covariance_type="full", random_state=0).fit(X)


def assert_same_fitted(a, b):
    assert type(a) is type(b)
    assert a.get_params().keys() == b.get_params().keys()
    for attr, value in vars(a).items():
        if attr.endswith("_") and not attr.startswith("_"):
            other = getattr(b, attr)
            if isinstance(value, np.ndarray):
                assert other.dtype == value.dtype or value.dtype.kind == "O", attr
                np.testing.assert_array_equal(other, value, err_msg=attr, strict=True)
            else:
                assert other == value and type(other) is type(value), attr


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_mixture_round_trip_is_exact(tmp_path, X, covariance_type):
    gm = GaussianMixture(3, covariance_type=covariance_type, n_init=2, random_state=1).fit(X)
    path = tmp_path / "model.json"
    save_model(gm, path)
    loaded = load_model(path)
    assert_same_fitted(gm, loaded)
    assert loaded.get_params() == gm.get_params()
    # Bit for bit, not approximately.
    assert np.array_equal(loaded.predict(X), gm.predict(X))
    assert np.array_equal(loaded.score_samples(X), gm.score_samples(X))
    assert np.array_equal(loaded.predict_proba(X), gm.predict_proba(X))
    assert loaded.bic(X) == gm.bic(X)
    assert np.array_equal(loaded.sample(5, random_state=3)[0], gm.sample(5, random_state=3)[0])
    grid = np.random.default_rng(0).uniform([1, 40], [6, 100], size=(500, 2))
    assert np.array_equal(loaded.score_samples(grid), gm.score_samples(grid))


@pytest.mark.parametrize("cls", [KMeans, SoftKMeans])
def test_centroid_round_trip_is_exact(tmp_path, X, cls):
    model = cls(4, random_state=0).fit(X)
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert_same_fitted(model, loaded)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.score(X) == model.score(X)
    if cls is KMeans:
        assert np.array_equal(loaded.transform(X), model.transform(X))
        assert loaded.inertia_ == model.inertia_
    else:
        assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_feature_names_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = load_faithful(as_frame=True)
    gm = GaussianMixture(2, random_state=0).fit(frame)
    save_model(gm, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert list(loaded.feature_names_in_) == ["eruptions", "waiting"]
    assert np.array_equal(loaded.predict(frame), gm.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(pd.DataFrame(frame.to_numpy(), columns=["a", "b"]))


def test_array_params_and_random_state(tmp_path, X):
    means = np.array([[2.0, 55.0], [4.3, 80.0]])
    gm = GaussianMixture(2, means_init=means, random_state=np.random.RandomState(0)).fit(X)
    doc = model_to_dict(gm)
    assert doc["params"]["random_state"] is None
    assert any("random_state" in note for note in doc["notes"])
    assert doc["params"]["means_init"] == {"dtype": "float64", "shape": [2, 2],
                                           "data": means.ravel().tolist()}
    save_model(gm, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.means_init, means)
    assert loaded.random_state is None
    km = KMeans(2, init=means, n_init=1).fit(X)
    save_model(km, tmp_path / "k.json")
    np.testing.assert_array_equal(load_model(tmp_path / "k.json").init, means)


def test_zero_iterations_round_trip(tmp_path, X):
    gm = GaussianMixture(2, max_iter=0, random_state=0).fit(X)
    assert gm.lower_bound_ == -np.inf
    save_model(gm, tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["fitted"]["lower_bound_"] is None
    loaded = load_model(tmp_path / "m.json")
    assert loaded.lower_bound_ == -np.inf and loaded.n_iter_ == 0
    assert np.array_equal(loaded.predict(X), gm.predict(X))


def test_file_is_readable_json(tmp_path, fitted_gm):
    path = tmp_path / "m.json"
    save_model(fitted_gm, path)
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["format"] == "emkit-model"
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["estimator"] == "GaussianMixture"
    assert doc["feature_names"] is None
    assert doc["fitted"]["means_"]["shape"] == [3, 2]
    # Indented, one array per line, floats as repr.
    lines = text.splitlines()
    assert any(line.strip().startswith('"means_": {"dtype": "float64"') for line in lines)
    assert repr(float(fitted_gm.means_[0, 0])) in text
    assert "pickle" not in text


def test_save_refuses_unfitted_and_foreign_estimators(tmp_path, X):
    path = tmp_path / "m.json"
    path.write_text("previous")
    with pytest.raises(NotFittedError):
        save_model(GaussianMixture(2), path)
    with pytest.raises(TypeError, match="save_model supports"):
        save_model(SklearnGaussianMixture(2).fit(X), path)
    assert path.read_text() == "previous"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_save_to_missing_directory(tmp_path, fitted_gm):
    with pytest.raises(OSError, match="cannot write"):
        save_model(fitted_gm, tmp_path / "nodir" / "m.json")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ bad files
@pytest.fixture(scope="module")
def good_doc(fitted_gm):
    return json.loads(json.dumps(model_to_dict(fitted_gm)))


def write_doc(tmp_path, doc) -> str:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def load_error(path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def set_in(*keys, value):
    def edit(doc):
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def delete(*keys):
    def edit(doc):
        target = doc
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def scale_data(attr, factor, index=None):
    def edit(doc):
        data = doc["fitted"][attr]["data"]
        for i in range(len(data)) if index is None else [index]:
            data[i] *= factor

    return edit


def weights(values):
    return set_in("fitted", "weights_", "data", value=values)


BAD_EDITS = {
    "no format": (delete("format"), 'no "format" field'),
    "foreign format": (set_in("format", value="sklearn-pickle"), "'sklearn-pickle'"),
    "newer version": (set_in("format_version", value=2), "unsupported format_version 2"),
    "version as text": (set_in("format_version", value="1"), "unsupported format_version '1'"),
    "no version": (delete("format_version"), "unsupported format_version None"),
    "unknown estimator": (set_in("estimator", value="SpectralClustering"),
                          "unknown estimator 'SpectralClustering'"),
    "no fitted": (delete("fitted"), 'missing field "fitted"'),
    "extra field": (set_in("pickle", value="..."), 'unknown field "pickle"'),
    "missing means_": (delete("fitted", "means_"), "missing fitted attribute 'means_'"),
    "missing n_iter_": (delete("fitted", "n_iter_"), "missing fitted attribute 'n_iter_'"),
    "unknown attribute": (set_in("fitted", "labels_", value=1), "unknown fitted attribute"),
    "means_ shape": (set_in("fitted", "means_", "shape", value=[2, 3]),
                     "'means_' has shape [2, 3], expected [3, 2]"),
    "covariance_type": (set_in("params", "covariance_type", value="diag"),
                        "'covariances_' has shape [3, 2, 2], expected [3, 2]"),
    "n_components": (set_in("params", "n_components", value=4),
                     "'weights_' has shape [3], expected [4]"),
    "bad covariance_type": (set_in("params", "covariance_type", value="banana"),
                            "covariance_type must be one of"),
    "n_components 0": (set_in("params", "n_components", value=0), "n_components must be"),
    "missing n_components": (delete("params", "n_components"),
                             "missing parameter 'n_components'"),
    "unknown param": (set_in("params", "n_clusters", value=3), "unknown parameter 'n_clusters'"),
    "data length": (set_in("fitted", "weights_", "data", value=[0.5, 0.5]),
                    "'weights_' has 2 values but shape [3] needs 3"),
    "dtype": (set_in("fitted", "means_", "dtype", value="float32"), "dtype 'float32'"),
    "string in data": (set_in("fitted", "means_", "data", 0, value="2.0"), "not a number"),
    "bool in data": (set_in("fitted", "means_", "data", 0, value=True), "not a number"),
    "array not object": (set_in("fitted", "means_", value=[[1, 2]] * 3), "array object"),
    "huge number": (set_in("fitted", "means_", "data", 0, value=float("1e308") * 10),
                    "non-finite"),
    "weights sum": (weights([0.5, 0.3, 0.1]), "weights_ sum to 0.9"),
    "negative weight": (weights([1.2, -0.1, -0.1]),
                        "'weights_' holds -0.1 at [1] (values must be >= 0)"),
    "converged_ type": (set_in("fitted", "converged_", value=1), "'converged_' must be true"),
    "negative n_iter_": (set_in("fitted", "n_iter_", value=-1), "'n_iter_' must be an integer"),
    "n_iter_ vs history": (set_in("fitted", "n_iter_", value=99),
                           "'lower_bounds_' has shape"),
    "feature names": (set_in("feature_names", value=["a"]), '"feature_names" has 1 names'),
    "edited covariance": (scale_data("covariances_", 2.0),
                          "covariances_ of component 0 is not the inverse of precisions_"),
    "edited precisions": (scale_data("precisions_", 1.5), "does not match precisions_cholesky_"),
    "non-triangular": (set_in("fitted", "precisions_cholesky_", "data", 2, value=0.5),
                       "not upper triangular"),
}


@pytest.mark.parametrize("case", BAD_EDITS)
def test_bad_documents_raise_named_errors(tmp_path, good_doc, case):
    edit, expected = BAD_EDITS[case]
    doc = copy.deepcopy(good_doc)
    edit(doc)
    path = write_doc(tmp_path, doc)
    assert expected in load_error(path)


def test_good_document_loads(tmp_path, good_doc, X, fitted_gm):
    loaded = load_model(write_doc(tmp_path, good_doc))
    assert np.array_equal(loaded.predict(X), fitted_gm.predict(X))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not valid JSON"),
        (b"not json at all", "not valid JSON (Expecting value at line 1, column 1)"),
        (b'{"format": "emkit-model", "format_version": 1,', "not valid JSON"),
        (b"[1, 2, 3]", "not an emkit model file"),
        (b'"emkit-model"', "not an emkit model file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b'{"format": "emkit-model", "x": NaN}', "non-finite number NaN"),
        (b'{"format": "emkit-model", "x": -Infinity}', "non-finite number -Infinity"),
    ],
)
def test_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "model.json"
    path.write_bytes(content)
    assert expected in load_error(path)


def test_nan_inside_real_model(tmp_path, fitted_gm):
    path = tmp_path / "model.json"
    save_model(fitted_gm, path)
    text = path.read_text()
    value = repr(float(fitted_gm.means_[1, 1]))
    path.write_text(text.replace(value, "NaN", 1))
    assert "non-finite number NaN" in load_error(path)


def test_missing_file(tmp_path):
    message = load_error(tmp_path / "absent.json")
    assert "cannot read the model file" in message and "No such file" in message


def test_kmeans_checks(tmp_path, X):
    doc = json.loads(json.dumps(model_to_dict(KMeans(3, random_state=0).fit(X))))
    doc["fitted"]["labels_"]["data"][0] = 7
    assert "labels outside 0..2" in load_error(write_doc(tmp_path, doc))
    doc = json.loads(json.dumps(model_to_dict(SoftKMeans(3, random_state=0).fit(X))))
    doc["params"]["beta"] = 0
    assert "beta must be" in load_error(write_doc(tmp_path, doc))
    doc["params"]["beta"] = 1.0
    doc["fitted"]["cluster_centers_"]["shape"] = [6, 1]
    assert "'cluster_centers_' has shape [6, 1], expected [3, 2]" in load_error(
        write_doc(tmp_path, doc))


def test_loaded_model_can_be_refitted(tmp_path, X, fitted_gm):
    save_model(fitted_gm, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.fit(X)
    np.testing.assert_allclose(loaded.means_, fitted_gm.means_)
