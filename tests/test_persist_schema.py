"""Model files: old files still load, hostile files give one named error, registration works."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from emkit import GaussianMixture, MixtureOutlierDetector
from emkit._persist_registry import REGISTRY
from emkit._persist_schema import MAX_MODEL_DEPTH, Array, Int, ListOf, Model, Optional, StrList
from emkit.datasets import load_faithful
from emkit.exceptions import ModelFileError
from emkit.persist import (
    load_model,
    model_from_dict,
    model_to_dict,
    register_estimator,
    register_param_type,
    save_model,
)

V1 = Path(__file__).parent / "references" / "model_files_v1"


@pytest.fixture(scope="module")
def X():
    return load_faithful()


# ------------------------------------------------------------- backward compatibility
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("name", sorted(json.loads((V1 / "expected.json").read_text())))
def test_files_written_by_emkit_0_1_0_still_load_and_predict_exactly(tmp_path, X, name):
    expected = json.loads((V1 / "expected.json").read_text())[name]
    model = load_model(V1 / f"{name}.json")
    data = X.copy()
    if name == "imputer":
        data[::7, 0] = np.nan
    data = data[:50]
    for method, values in expected.items():
        got = getattr(model, method)(X[:50] if method == "predict" else data)
        np.testing.assert_array_equal(got, np.asarray(values), err_msg=method, strict=False)
    # and a model loaded from an old file saves and loads again to the same document
    save_model(model, tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    old = json.loads((V1 / f"{name}.json").read_text())
    assert_same_model(again, old)


def assert_same_model(again: dict, old: dict) -> None:
    """The same document, except parameters added since (written with their defaults)."""
    added = again["fitted"].keys() - old["fitted"].keys()  # optional attributes added since
    assert again["fitted"].keys() >= old["fitted"].keys()
    assert all(again["fitted"][key] is None for key in added), added
    for key, value in old["fitted"].items():
        if isinstance(value, dict) and "format" in value:  # a nested model document
            assert_same_model(again["fitted"][key], value)
        else:
            assert again["fitted"][key] == value, key
    assert {k: again["params"][k] for k in old["params"]} == old["params"]
    defaults = REGISTRY[again["estimator"]].cls().get_params()
    for key in again["params"].keys() - old["params"].keys():
        assert again["params"][key] == defaults[key], key


def test_old_file_with_feature_names_and_prior(X):
    gm = load_model(V1 / "gaussian_full_names.json")
    assert list(gm.feature_names_in_) == ["eruptions", "waiting"]
    prior = load_model(V1 / "gaussian_eve_prior.json").prior
    assert prior.shrinkage == 0.05 and prior.dof == 5.0
    np.testing.assert_array_equal(prior.scale, np.diag([0.5, 30.0]))


# ------------------------------------------------------------------ hostile files
@pytest.fixture(scope="module")
def gm_doc(X):
    return json.loads(json.dumps(model_to_dict(GaussianMixture(2, random_state=0).fit(X))))


@pytest.fixture(scope="module")
def detector_doc(X):
    detector = MixtureOutlierDetector(2, contamination=0.05, random_state=0).fit(X)
    return json.loads(json.dumps(model_to_dict(detector)))


def nested(value, depth):
    for _ in range(depth):
        value = [value]
    return value


def array(shape, data):
    return {"dtype": "float64", "shape": shape, "data": data}


def prior(**fields):
    return {"GaussianPrior": fields}


HUGE = 10**400
GM_EDITS = {
    # (section, key, value) -> the message names the field and the rule
    "480 levels of nesting": ("params", "verbose", nested(1, 480),
                              "parameter 'verbose' must be true or false or an integer"),
    "dtype list": ("params", "dtype", ["x"], "parameter 'dtype' must be one of"),
    "dtype name": ("params", "dtype", "int8", "parameter 'dtype' must be one of"),
    "400 digits lower_bound_": ("fitted", "lower_bound_", HUGE,
                                "fitted attribute 'lower_bound_' must be a finite number, got "
                                "an integer with 401 digits"),
    "400 digits reg_covar": ("params", "reg_covar", HUGE,
                             "parameter 'reg_covar' is an integer out of range (401 digits)"),
    "400 digits n_iter_": ("fitted", "n_iter_", HUGE, "fitted attribute 'n_iter_' must be an "
                           "integer >= 0"),
    "chunk_size 0": ("params", "chunk_size", 0, "parameter 'chunk_size' must be an integer >= 1"),
    "chunk_size text": ("params", "chunk_size", "big",
                        "parameter 'chunk_size' must be an integer >= 1, got 'big'"),
    "tol negative": ("params", "tol", -1.0, "tol must be a finite number >= 0"),
    "max_iter float": ("params", "max_iter", 2.5, "max_iter must be an integer >= 0"),
    "n_init 0": ("params", "n_init", 0, "n_init must be an integer >= 1"),
    "warm_start not bool": ("params", "warm_start", "yes", "parameter 'warm_start' must be true"),
    "random_state huge": ("params", "random_state", 2**40, "parameter 'random_state' must be an "
                          "integer in [0, 4294967295]"),
    "random_state text": ("params", "random_state", "seed", "parameter 'random_state'"),
    "init_params": ("params", "init_params", "best", "init_params must be one of"),
    "accelerate": ("params", "accelerate", "warp", "accelerate must be one of"),
    "fixed without init": ("params", "fixed", ["weights"], "weights_init is not given"),
    "fixed unknown": ("params", "fixed", ["colour"], "fixed must contain only"),
    "means_init shape": ("params", "means_init", array([3, 2], [1.0] * 6),
                         "means_init must have shape (2, 2)"),
    "labels_init out of range": ("params", "labels_init",
                                 {"dtype": "int64", "shape": [3], "data": [0, 1, 5]},
                                 "labels_init[2] = 5 is not a component index"),
    # found by the CLI fuzz: a boolean labels_init crashed the check with an IndexError
    "labels_init not an array": ("params", "labels_init", True,
                                 "parameter 'labels_init' must be an array object"),
    "weights_init matrix": ("params", "weights_init", array([2, 1], [0.5, 0.5]),
                            "parameter 'weights_init' must have 1 dimensions, has 2"),
    "one-dimensional model": ("params", "covariance_type", "E", "is for one-dimensional data"),
    "prior text": ("params", "prior", "strong", "prior must be None, 'default'"),
    "prior shrinkage": ("params", "prior", prior(shrinkage=-1.0),
                        "parameter 'prior'.shrinkage must be a finite number >= 0"),
    "prior dof": ("params", "prior", prior(dof=0), "parameter 'prior'.dof must be a finite "
                  "number > 0"),
    "prior mean shape": ("params", "prior", prior(mean=array([3], [1.0, 2.0, 3.0])),
                         "prior mean must have shape (2,)"),
    "prior scale": ("params", "prior", prior(scale=array([2, 2], [1.0, 2.0, 2.0, 1.0])),
                    "prior scale must be symmetric positive definite"),
    "prior concentration": ("params", "prior", prior(weight_concentration=0.5),
                            "weight_concentration must be a finite number >= 1"),
    "prior unknown field": ("params", "prior", prior(strength=1.0),
                            "parameter 'prior' is not a valid GaussianPrior"),
    "prior nested in itself": ("params", "prior", prior(mean=prior(mean=prior())),
                               "parameter 'prior'.mean must be an array object"),
    "unsupported param value": ("params", "verbose", {"a": 1}, "parameter 'verbose' must be"),
    "shape too long": ("fitted", "weights_", {"dtype": "float64", "shape": [1] * 40,
                                              "data": [1.0]}, "has an invalid shape"),
    "shape negative": ("fitted", "weights_", {"dtype": "float64", "shape": [-2],
                                              "data": []}, "has an invalid shape"),
}


@pytest.mark.parametrize("case", GM_EDITS)
def test_hostile_gaussian_files(tmp_path, gm_doc, case):
    section, key, value, expected = GM_EDITS[case]
    doc = copy.deepcopy(gm_doc)
    doc[section][key] = value
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400
    assert expected in message


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("offset_", HUGE, "fitted attribute 'offset_' must be a finite number"),
    ("threshold", HUGE, "parameter 'threshold' is an integer out of range"),
    ("threshold", -1.0, "threshold must be None or a finite density > 0"),
    ("contamination", 0.9, "contamination must be in (0, 0.5]"),
])
def test_hostile_detector_files(detector_doc, key, value, expected):
    doc = copy.deepcopy(detector_doc)
    doc["fitted" if key.endswith("_") else "params"][key] = value
    with pytest.raises(ModelFileError, match=None) as info:
        model_from_dict(doc, "d.json")
    assert expected in str(info.value)


def test_deeply_nested_wrappers_are_refused_once(detector_doc):
    doc = copy.deepcopy(detector_doc)
    for _ in range(480):
        doc = {**copy.deepcopy(detector_doc), "fitted": {**detector_doc["fitted"],
                                                           "mixture_": doc}}
    with pytest.raises(ModelFileError) as info:
        model_from_dict(doc, "d.json")
    assert str(info.value) == (f"d.json: model documents are nested more than {MAX_MODEL_DEPTH}"
                               " levels deep (in fitted attribute 'mixture_')")


@pytest.mark.parametrize(("text", "expected"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"format": "emkit-model", "x": 1' + "0" * 5000 + "}", "integer with 5001 digits is out"),
    ('{"format": "emkit-model", "x": 1e999}', "number '1e999' is out of the float64 range"),
])
def test_hostile_json(tmp_path, text, expected):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=None) as info:
        load_model(path)
    assert expected in str(info.value)


def test_endless_and_oversized_inputs_are_refused(tmp_path, gm_doc):
    with pytest.raises(ModelFileError, match="does not start with"):
        load_model("/dev/zero")  # stops after the first block
    path = tmp_path / "m.json"
    path.write_text(json.dumps(gm_doc))
    with pytest.raises(ModelFileError, match="larger than 100 bytes"):
        load_model(path, max_bytes=100)
    with pytest.raises(ModelFileError, match="cannot read the model file: Is a directory"):
        load_model(tmp_path)


def test_notes_must_be_strings(gm_doc):
    doc = copy.deepcopy(gm_doc)
    doc["notes"] = [1]
    with pytest.raises(ModelFileError, match='"notes" must be a list of strings'):
        model_from_dict(doc)


def test_a_model_that_would_not_load_is_not_saved(tmp_path, X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.set_params(n_components=3)  # e.g. changed after fitting, without a refit
    with pytest.raises(ValueError, match="cannot save GaussianMixture: the file would not load: "
                       "fitted attribute 'weights_' has shape"):
        save_model(gm, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


def test_integer_initial_values_round_trip(X):
    gm = GaussianMixture(2, means_init=[[2, 55], [4, 80]],
                         labels_init=(X[:, 0] > 3).astype(int), random_state=0).fit(X)
    loaded = model_from_dict(json.loads(json.dumps(model_to_dict(gm))))
    np.testing.assert_array_equal(loaded.means_init, [[2.0, 55.0], [4.0, 80.0]])
    assert loaded.means_init.dtype == np.float64
    np.testing.assert_array_equal(loaded.labels_init, gm.labels_init)
    assert loaded.labels_init.dtype == np.int64
    np.testing.assert_array_equal(loaded.means_, gm.means_)


def test_numpy_dtype_parameter_is_written_by_name(X):
    gm = GaussianMixture(2, dtype=np.float32, random_state=0).fit(X)
    doc = model_to_dict(gm)
    assert doc["params"]["dtype"] == "float32" and "notes" not in doc
    loaded = model_from_dict(json.loads(json.dumps(doc)))
    assert np.array_equal(loaded.score_samples(X), gm.score_samples(X))


# ------------------------------------------------------------------ registration
class Levels(BaseEstimator):
    """A toy estimator with learned category levels (as a categorical family would have)."""

    def __init__(self, smoothing=1.0, columns=(0, 2), spec=None):
        self.smoothing = smoothing
        self.columns = columns
        self.spec = spec

    def fit(self, table):
        self.levels_ = [sorted(set(column)) for column in table]
        self.probabilities_ = [np.full(len(lv), 1.0 / len(lv)) for lv in self.levels_]
        self.n_features_in_ = len(table)
        self.inner_ = GaussianMixture(1).fit(load_faithful())
        self.names_ = ["a", "b"]
        return self


class Spec2:
    def __init__(self, width=1, labels=()):
        self.width, self.labels = width, labels


def _level_probabilities(ctx):
    return (len(ctx.values["levels_"][ctx.index]),)


@pytest.fixture
def registered():
    register_param_type(Spec2, {"width": Int(1), "labels": StrList()})
    schema = register_estimator(
        Levels,
        fitted={
            "levels_": ListOf(StrList(distinct=True), length="n_features_in_"),
            "probabilities_": ListOf(Array(shape=_level_probabilities, min=0.0, max=1.0)),
            "n_features_in_": Int(1),
            "inner_": Model(("GaussianMixture",)),
            "names_": Optional(StrList(length=2)),
        },
        required=("smoothing",),
    )
    yield schema
    del REGISTRY["Levels"]
    from emkit._persist_registry import PARAM_TYPES

    del PARAM_TYPES["Spec2"]


def test_registered_estimator_round_trips(registered, tmp_path):
    model = Levels(spec=Spec2(3, ["x", "y"])).fit([["b", "a", "b"], ["z"]])
    save_model(model, tmp_path / "levels.json")
    loaded = load_model(tmp_path / "levels.json")
    assert loaded.levels_ == [["a", "b"], ["z"]]
    for got, want in zip(loaded.probabilities_, model.probabilities_, strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.spec.width == 3 and loaded.spec.labels == ["x", "y"]
    np.testing.assert_array_equal(loaded.columns, [0, 2])  # integer sequences stay integers
    assert loaded.columns.dtype == np.int64
    assert np.array_equal(loaded.inner_.means_, model.inner_.means_)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda f: f["levels_"].append(["q"]), "fitted attribute 'levels_' has 3 entries, expected 2"),
    (lambda f: f["levels_"][0].append("a"), "fitted attribute 'levels_'[0] must hold distinct"),
    (lambda f: f["levels_"].__setitem__(1, [1]), "'levels_'[1] must be a list of strings"),
    (lambda f: f["probabilities_"][0]["data"].__setitem__(0, 1.5),
     "fitted attribute 'probabilities_'[0] holds 1.5 at [0] (values must be <= 1)"),
    (lambda f: f["probabilities_"][1].update(shape=[2], data=[0.5, 0.5]),
     "'probabilities_'[1] has shape [2], expected [1]"),
    (lambda f: f.__setitem__("names_", ["a"]), "'names_' has 1 strings, expected 2"),
    (lambda f: f["inner_"].__setitem__("estimator", "KMeans"), "fitted attribute 'inner_': "),
])
def test_registered_estimator_fields_are_validated(registered, edit, expected):
    doc = json.loads(json.dumps(model_to_dict(Levels().fit([["b", "a"], ["z"]]))))
    edit(doc["fitted"])
    with pytest.raises(ModelFileError) as info:
        model_from_dict(doc, "levels.json")
    assert expected in str(info.value)


def test_registration_refuses_unknown_parameters():
    with pytest.raises(TypeError, match="has no parameters"):
        register_estimator(Levels, fitted={}, required=("smoothness",))
    assert "Levels" not in REGISTRY
