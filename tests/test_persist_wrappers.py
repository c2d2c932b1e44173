"""save_model / load_model for MixtureOutlierDetector and GaussianMixtureImputer."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from emkit import GaussianMixture, GaussianMixtureImputer, KMeans, MixtureOutlierDetector
from emkit.exceptions import ModelFileError
from emkit.persist import load_model, model_to_dict, save_model


def data_with_missing(seed: int = 0, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n // 2, 3)), rng.normal(5, 0.5, (n - n // 2, 3))])
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


def round_trip(tmp_path, estimator):
    path = tmp_path / "model.json"
    save_model(estimator, path)
    return load_model(path)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("threshold", [None, 1e-4])
def test_outlier_detector_round_trip_is_exact(tmp_path, covariance_type, threshold):
    X = data_with_missing()
    detector = MixtureOutlierDetector(2, covariance_type=covariance_type, threshold=threshold,
                                      contamination=0.05, random_state=0).fit(X)
    loaded = round_trip(tmp_path, detector)
    assert type(loaded) is MixtureOutlierDetector
    assert loaded.get_params() == detector.get_params()
    assert loaded.offset_ == detector.offset_
    assert loaded.n_features_in_ == 3 and loaded.n_iter_ == detector.n_iter_
    assert isinstance(loaded.mixture_, GaussianMixture)
    grid = np.random.default_rng(1).uniform(-3, 8, size=(300, 3))
    grid[::7, 1] = np.nan
    for rows in (X, grid):
        assert np.array_equal(loaded.score_samples(rows), detector.score_samples(rows))
        assert np.array_equal(loaded.predict(rows), detector.predict(rows))


def test_imputer_round_trip_is_exact(tmp_path):
    X = data_with_missing(2)
    for sample_posterior in (False, True):
        imputer = GaussianMixtureImputer(2, sample_posterior=sample_posterior,
                                         random_state=3).fit(X)
        loaded = round_trip(tmp_path, imputer)
        assert loaded.get_params() == imputer.get_params()
        assert np.array_equal(loaded.transform(X), imputer.transform(X))


def test_feature_names_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data_with_missing(4), columns=["heat", "vibration", "noise"])
    detector = MixtureOutlierDetector(2, random_state=0).fit(frame)
    loaded = round_trip(tmp_path, detector)
    assert list(loaded.feature_names_in_) == ["heat", "vibration", "noise"]
    assert np.array_equal(loaded.predict(frame), detector.predict(frame))


@pytest.fixture(scope="module")
def detector_doc():
    detector = MixtureOutlierDetector(2, random_state=0).fit(data_with_missing(5))
    return json.loads(json.dumps(model_to_dict(detector)))


def edited(doc, edit):
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _kmeans_doc():
    return json.loads(json.dumps(model_to_dict(KMeans(2, random_state=0).fit(np.eye(3)))))


BAD = {
    "missing mixture": (lambda d: d["fitted"].pop("mixture_"),
                        "missing fitted attribute 'mixture_'"),
    "mixture not an object": (_set(["fitted", "mixture_"], [1, 2]),
                              "'mixture_' must be a nested model object"),
    "broken nested mixture": (lambda d: d["fitted"]["mixture_"]["fitted"].pop("means_"),
                              "fitted attribute 'mixture_': missing fitted attribute 'means_'"),
    "nested kmeans": (_set(["fitted", "mixture_"], _kmeans_doc()),
                      "must hold a GaussianMixture, not a KMeans"),
    "mismatched n_components": (_set(["params", "n_components"], 3),
                                "'mixture_' has n_components=2 but the parameters say "
                                "n_components=3"),
    "mismatched features": (_set(["fitted", "n_features_in_"], 4), "has 3 features but"),
    "bad contamination": (_set(["params", "contamination"], 0.7),
                          "contamination must be in (0, 0.5]"),
    "bad threshold": (_set(["params", "threshold"], -1.0), "threshold must be None or"),
    "offset missing": (lambda d: d["fitted"].pop("offset_"), "missing fitted attribute 'offset_'"),
    "offset text": (_set(["fitted", "offset_"], "low"), "'offset_' must be a finite number"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_detector_documents(tmp_path, detector_doc, case):
    edit, expected = BAD[case]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(edited(detector_doc, edit)))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert expected in message


def test_bad_imputer_sample_posterior(tmp_path):
    imputer = GaussianMixtureImputer(random_state=0).fit(data_with_missing(6))
    doc = json.loads(json.dumps(model_to_dict(imputer)))
    doc["params"]["sample_posterior"] = 1
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="parameter 'sample_posterior' must be true or false"):
        load_model(path)


def test_tuple_of_strings_parameter_round_trip(tmp_path):
    """GaussianMixture's ``fixed`` (a tuple of group names) is saved as a JSON list."""
    X = np.nan_to_num(data_with_missing(7), nan=1.0)
    means = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    gm = GaussianMixture(2, means_init=means, fixed=("means",), random_state=0).fit(X)
    assert model_to_dict(gm)["params"]["fixed"] == ["means"]
    loaded = round_trip(tmp_path, gm)
    assert loaded.fixed == ("means",)
    assert np.array_equal(loaded.predict(X), gm.predict(X))
    assert round_trip(tmp_path, GaussianMixture(2).fit(X)).fixed == ()
