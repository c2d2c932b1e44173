"""save_model / load_model for every estimator beyond GaussianMixture, KMeans and the wrappers.

Each estimator of ``tests/_persist_cases.py`` is fitted on small data, saved,
loaded, and the loaded copy must compute exactly what the original does
(predict, predict_proba, score_samples; for conditional models predict(X) and
score(X, y); for HMMs score/predict/... on sequences with lengths).  Files
edited to break one rule must fail with a ModelFileError naming the field.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

from emkit import (
    BernoulliMixture,
    CategoricalMixture,
    KMeans,
    MiniBatchKMeans,
    MixedMixture,
    MixtureOfExperts,
    PoissonMixture,
)
from emkit.em.progress import ProgressBar
from emkit.exceptions import ModelFileError
from emkit.persist import load_model, model_from_dict, model_to_dict, save_model

from ._persist_cases import cases, fitted_cases

pytestmark = pytest.mark.slow  # every estimator fitted, saved, loaded and mutated


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. HMMs stopped by max_iter
        return fitted_cases()


@pytest.fixture(scope="module")
def documents(fitted):
    return {name: json.loads(json.dumps(model_to_dict(est))) for name, (est, _) in
            fitted.items()}


def assert_same_output(got, want, what: str) -> None:
    if isinstance(want, tuple):  # e.g. an HMM's score_samples: (log-likelihood, posteriors)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same_output(g, w, what)
        return
    np.testing.assert_array_equal(got, want, err_msg=what, strict=True)


def assert_same_params(loaded, original) -> None:
    mine, theirs = loaded.get_params(deep=False), original.get_params(deep=False)
    assert mine.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(mine[key], value, err_msg=key)
        elif key == "families" and value is not None:
            assert [tuple(g) for g in mine[key]] == [tuple(g) for g in value]
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
            # number sequences are written as arrays (as GaussianMixture's column indices)
            np.testing.assert_array_equal(mine[key], value, err_msg=key)
        else:
            assert mine[key] == value, key


@pytest.mark.parametrize("name", sorted(cases()))
def test_round_trip_is_exact(tmp_path, fitted, name):
    estimator, calls = fitted[name]
    path = tmp_path / f"{name}.json"
    save_model(estimator, path)
    loaded = load_model(path)
    assert type(loaded) is type(estimator)
    assert_same_params(loaded, estimator)
    for method, args in calls:
        assert_same_output(getattr(loaded, method)(*args), getattr(estimator, method)(*args),
                           f"{name}.{method}")
    # the loaded model writes the same document again (nothing lost or added)
    assert model_to_dict(loaded) == model_to_dict(estimator)


def test_every_estimator_is_saveable():
    import emkit
    from emkit._persist_registry import REGISTRY

    public = {name for name in dir(emkit) if isinstance(getattr(emkit, name, None), type)
              and hasattr(getattr(emkit, name), "fit")}
    assert public - set(REGISTRY) == set()


# ------------------------------------------------------------------ hostile files
def _set(attr, value):
    def edit(doc):
        doc["fitted"][attr] = value
    return edit


def _data(attr, index, value, *path):
    def edit(doc):
        node = doc["fitted"][attr]
        for key in path:
            node = node[key]
        node["data"][index] = value
    return edit


def _param(key, value):
    def edit(doc):
        doc["params"][key] = value
    return edit


def _scale(attr, factor, *path):
    def edit(doc):
        node = doc["fitted"][attr]
        for key in path:
            node = node[key]
        node["data"] = [v * factor for v in node["data"]]
    return edit


BAD = [
    ("bernoulli", _data("probabilities_", 0, 1.5),
     "fitted attribute 'probabilities_' holds 1.5 at [0, 0] (values must be <= 1)"),
    ("bernoulli", _scale("weights_", 0.5), "weights_ sum to 0.5, not 1"),
    ("poisson", _data("rates_", 2, -1.0), "fitted attribute 'rates_' holds -1.0 at [0, 2]"),
    ("poisson", _set("rates_", {"dtype": "float64", "shape": [2, 2], "data": [1, 2, 3, 4]}),
     "fitted attribute 'rates_' has shape [2, 2], expected [2, 3]"),
    ("categorical", _data("probabilities_", 0, 0.0, 0),
     "probabilities_[0] component 0 sums to"),
    ("categorical", lambda d: d["fitted"]["categories_"][0].__setitem__(1, "no"),
     "fitted attribute 'categories_'[0] must hold distinct labels"),
    ("categorical", lambda d: d["fitted"]["categories_"][1].append("medium"),
     "fitted attribute 'probabilities_'[1] has shape [2, 2], expected [2, 3]"),
    ("categorical", lambda d: d["fitted"]["categories_"].pop(),
     "fitted attribute 'categories_' has 2 entries, expected 3"),
    ("categorical", lambda d: d["fitted"]["categories_"].__setitem__(0, ["a", 1]),
     "fitted attribute 'categories_'[0] must be a list of distinct strings"),
    ("mixed", lambda d: d["fitted"]["parameters_"]["visits"].pop("rates"),
     "fitted attribute parameters_['visits'] has fields [], expected ['rates']"),
    ("mixed", lambda d: d["fitted"]["parameters_"].pop("flag"),
     "fitted attribute 'parameters_' has keys"),
    ("mixed", lambda d: d["fitted"]["groups_"][3].__setitem__(2, [7]),
     "group 'flag' has column position 7, outside 0..3"),
    ("mixed", lambda d: d["fitted"]["groups_"][3].__setitem__(2, [2]),
     "column 2 is in two groups"),
    ("mixed", lambda d: d["fitted"]["groups_"][0].__setitem__(1, "weibull"),
     "fitted attribute 'groups_'[0] has unknown family 'weibull'"),
    ("mixed", lambda d: d["fitted"]["parameters_"]["height"]["covariances"]["data"]
     .__setitem__(0, -4.0), "group 'height': covariances_ of component 0 is not symmetric"),
    ("mixed", lambda d: d["fitted"]["parameters_"]["smoker"]["probabilities"][0]["data"]
     .__setitem__(0, 2.0), "parameters_['smoker']['probabilities'][0] holds values outside"),
    ("student_t", _data("degrees_of_freedom_", 0, -2.0),
     "fitted attribute 'degrees_of_freedom_' holds -2.0 at [0] (values must be > 0)"),
    ("student_t", _data("degrees_of_freedom_", 0, 500.0),
     "fitted attribute 'degrees_of_freedom_': the fitted degrees of freedom"),
    ("student_t_diag_shared", _data("degrees_of_freedom_", 0, 3.0),
     "differ between components but dof='shared'"),
    ("student_t", _data("precisions_", 0, 99.0),
     "precisions_ of component 0 does not match precisions_cholesky_"),
    ("bayesian_dp", lambda d: d["fitted"]["weights_"]["data"].reverse(),
     "weights_ are not the expected weights of weight_concentration_"),
    ("bayesian_dp", lambda d: d["fitted"].__setitem__(
        "weight_concentration_", d["fitted"]["weight_concentration_"][0]),
     "'weight_concentration_' must be a list of two arrays"),
    ("bayesian_tied", _set("degrees_of_freedom_", {"dtype": "float64", "shape": [3],
                                                    "data": [5.0, 5.0, 5.0]}),
     "fitted attribute 'degrees_of_freedom_' has shape [3], expected []"),
    ("bayesian_spherical", _set("covariance_prior_", -1.0),
     "'covariance_prior_' must be a finite number > 0 or a float64 array"),
    ("regression", _data("noise_variance_", 1, -0.5),
     "noise_variance_ must be positive (definite)"),
    ("regression", _set("noise_variance_", None), "noise_variance_ is missing"),
    ("regression", _set("coef_", {"dtype": "float64", "shape": [2, 3], "data": [0.0] * 6}),
     "fitted attribute 'coef_' has shape [2, 3], expected [2, 2]"),
    ("regression_multi_common", _data("noise_variance_", 0, 9.0),
     "noise_variance_ must be equal in every regime with noise='common'"),
    ("regression_binomial", _set("noise_variance_", {"dtype": "float64", "shape": [2],
                                                     "data": [1.0, 1.0]}),
     "noise_variance_ must be null for family='binomial'"),
    ("regression_poisson", _data("intercept_", 0, 0.5),
     "intercept_ must be 0 with fit_intercept=False"),
    ("experts", _data("gate_coef_", 1, 0.5),
     "gate_coef_[-1] and gate_intercept_[-1] must be 0"),
    ("experts", _param("gate_features", [0, 1]),
     "fitted attribute 'gate_coef_' has 1 columns but gate_features gives 2"),
    ("probit", lambda d: d["fitted"]["classes_"].append("eggs"),
     "fitted attribute 'classes_' has 3 labels, expected 2"),
    ("probit", _param("tol", -1.0), "tol"),
    ("minibatch_kmeans", _data("labels_", 0, 5),
     "fitted attribute 'labels_' holds labels outside 0..1"),
    ("minibatch_kmeans", _set("n_steps_", -1), "fitted attribute 'n_steps_' must be"),
    ("gaussian_hmm", _data("transmat_", 0, 0.0),
     "transmat_ row 0 sums to"),
    ("gaussian_hmm", _scale("startprob_", 0.5), "startprob_ sum to"),
    ("gaussian_hmm", _data("transmat_", 0, 1.5),
     "fitted attribute 'transmat_' holds 1.5 at [0, 0] (values must be <= 1)"),
    ("gaussian_hmm_left_right", lambda d: d["fitted"]["transmat_"].update(
        data=[0.5, 0.5, 0.25, 0.75]),
     "transmat_[1, 0] is 0.25 but the transition 1 -> 0 is a structural zero"),
    ("gaussian_hmm", _set("means_", {"dtype": "float64", "shape": [3, 2], "data": [0.0] * 6}),
     "fitted attribute 'means_' has shape [3, 2], expected [2, 2]"),
    ("gaussian_hmm", _data("covariances_", 1, 7.0),
     "covariances_ of component 0 is not symmetric positive definite"),
    ("categorical_hmm", _data("probabilities_", 0, 0.0, 1),
     "probabilities_[1] component 0 sums to"),
    ("poisson_hmm", _data("rates_", 0, -3.0), "'rates_' holds -3.0 at [0, 0]"),
    ("bernoulli_hmm", _data("probabilities_", 0, 1.25), "'probabilities_' holds 1.25"),
    ("gmm_hmm", _scale("weights_", 0.5), "weights_ state 0 sums to 0.5, not 1"),
    ("student_t_hmm", _data("degrees_of_freedom_", 1, 0.0), "values must be > 0"),
    ("student_t_hmm", _data("precisions_cholesky_", 2, 3.0),
     "precisions_cholesky_ of component 0 is not upper triangular"),
    ("hmm_poisson", _set("rates_", None), "fitted attribute 'rates_' is missing"),
    ("hmm_poisson", _set("means_", {"dtype": "float64", "shape": [2, 2], "data": [0.0] * 4}),
     "fitted attribute 'means_' is not used by 'poisson'"),
    ("hmm_poisson", _param("emission", "weibull"), "parameter 'emission' must be one of"),
    ("hmm_gmm", lambda d: d["params"]["emission_options"].__setitem__("n_mix", 3),
     "fitted attribute 'covariances_' has shape [4], expected [6] (n_features_in_=2)"),
    ("hmm_gmm", _param("emission_options", [1]), "parameter 'emission_options' must be null "
     "or a JSON object of settings"),
    ("hmm_categorical", lambda d: d["fitted"]["categories_"][0].reverse(), None),
    ("bernoulli", _param("callback", "print"), "parameter 'callback' must be null"),
]


@pytest.mark.parametrize(("name", "edit", "expected"), BAD,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(BAD)])
def test_edited_files_raise_named_errors(documents, name, edit, expected):
    doc = copy.deepcopy(documents[name])
    edit(doc)
    if expected is None:  # a legal edit (levels in another order): it loads
        model_from_dict(doc, "m.json")
        return
    with pytest.raises(ModelFileError) as info:
        model_from_dict(doc, "m.json")
    message = str(info.value)
    assert message.startswith("m.json: ") and "\n" not in message
    assert expected in message


HOSTILE = [None, -1, 2.5, "x", True, [], {}, [[1]], ["a", 1], {"a": 1}, [None],
           {"dtype": "float64", "shape": [1], "data": [0.0]},
           {"dtype": "int64", "shape": [2, 2], "data": [1, 2, 3, 4]},
           {"dtype": "float64", "shape": [], "data": [-1.0]}, 10**30]


def _field_paths(doc: dict) -> list[tuple]:
    """Every parameter and fitted attribute, and the entries of lists and objects in them."""
    paths = [("params", k) for k in doc["params"]]
    for key, value in doc["fitted"].items():
        paths.append(("fitted", key))
        if isinstance(value, list):
            paths += [("fitted", key, i) for i in range(len(value))]
        elif isinstance(value, dict) and "data" not in value:
            for inner, item in value.items():
                paths.append(("fitted", key, inner))
                if isinstance(item, dict):
                    paths += [("fitted", key, inner, k) for k in item]
    return paths


@pytest.mark.parametrize("name", sorted(cases()))
def test_any_value_in_any_field_gives_a_model_file_error(documents, name):
    """A hostile value anywhere loads (if legal) or raises one ModelFileError: never
    another exception."""
    for path in _field_paths(documents[name]):
        for value in HOSTILE:
            doc = copy.deepcopy(documents[name])
            node = doc
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            try:
                model_from_dict(doc, "m.json")
            except ModelFileError as exc:
                assert "\n" not in str(exc)


# ------------------------------------------------------------------ run-only parameters
@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_callback_and_checkpoint_are_saved_as_null_with_notes(tmp_path):
    X = (np.random.default_rng(0).random((80, 4)) < 0.5).astype(float)
    seen = []
    bar = ProgressBar(disable=True)
    model = BernoulliMixture(2, callback=[seen.append, bar], random_state=0,
                             checkpoint=tmp_path / "run.npz").fit(X)
    assert seen and (tmp_path / "run.npz").exists()
    doc = model_to_dict(model)
    assert doc["params"]["callback"] is None and doc["params"]["checkpoint"] is None
    notes = " ".join(doc["notes"])
    assert "parameter callback (list) saved as null" in notes
    assert "parameter checkpoint (PosixPath) saved as null" in notes
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded.callback is None and loaded.checkpoint is None
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # the loaded model refits without touching the old checkpoint file
    before = (tmp_path / "run.npz").stat().st_mtime_ns
    loaded.set_params(max_iter=2).fit(X)
    assert (tmp_path / "run.npz").stat().st_mtime_ns == before


def test_checkpoint_path_in_a_file_is_checked(tmp_path, documents):
    doc = copy.deepcopy(documents["bernoulli"])
    doc["params"]["checkpoint"] = str(tmp_path / "no-such-folder" / "run.npz")
    with pytest.raises(ModelFileError, match=r"checkpoint .* folder .* does not exist"):
        model_from_dict(doc, "m.json")
    doc["params"]["checkpoint"] = str(tmp_path / "run.npz")
    assert model_from_dict(doc, "m.json").checkpoint == str(tmp_path / "run.npz")


# ------------------------------------------------------------------ optional attributes
def test_partial_fit_only_minibatch_kmeans(tmp_path):
    X = np.random.default_rng(1).normal(size=(200, 2))
    model = MiniBatchKMeans(3, random_state=0)
    for batch in np.array_split(X, 4):
        model.partial_fit(batch)
    assert not hasattr(model, "labels_") and not hasattr(model, "inertia_")
    doc = model_to_dict(model)
    assert doc["fitted"]["labels_"] is None and doc["fitted"]["n_steps_"] == model.n_steps_
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert not hasattr(loaded, "labels_") and loaded.n_steps_ == model.n_steps_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # the stream continues from the loaded centres (its running statistics restart)
    centres = loaded.cluster_centers_.copy()
    loaded.partial_fit(X[:50])
    assert loaded.cluster_centers_.shape == (3, 2)
    assert not np.array_equal(loaded.cluster_centers_, centres)


def test_kmeans_fitted_from_a_source_saves_without_labels(tmp_path):
    from emkit.sources import NpySource

    X = np.random.default_rng(2).normal(size=(120, 2))
    np.save(tmp_path / "X.npy", X)
    model = KMeans(2, random_state=0).fit(NpySource(tmp_path / "X.npy"))
    assert not hasattr(model, "labels_")
    save_model(model, tmp_path / "m.json")
    np.testing.assert_array_equal(load_model(tmp_path / "m.json").predict(X), model.predict(X))


def test_optional_attributes_may_be_left_out(documents):
    doc = copy.deepcopy(documents["poisson"])
    assert doc["fitted"].pop("n_steps_") is None
    assert not hasattr(model_from_dict(doc), "n_steps_")
    doc["fitted"].pop("rates_")
    with pytest.raises(ModelFileError, match="missing fitted attribute 'rates_'"):
        model_from_dict(doc, "m.json")


def test_stepwise_fit_keeps_n_steps(tmp_path):
    X = (np.random.default_rng(3).random((300, 4)) < 0.3).astype(float)
    model = BernoulliMixture(2, schedule="stepwise", batch_size=50, alpha=1.0,
                             random_state=0).fit(X)
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded.n_steps_ == model.n_steps_ > 0
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    counts = np.random.default_rng(4).poisson(2.0, (90, 2))
    online = PoissonMixture(2, random_state=0)
    for batch in np.array_split(counts, 3):
        online.partial_fit(batch)
    save_model(online, tmp_path / "online.json")
    loaded = load_model(tmp_path / "online.json")
    assert loaded.n_steps_ == online.n_steps_ == 3
    np.testing.assert_array_equal(loaded.predict_proba(counts), online.predict_proba(counts))


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_categorical_starting_values_round_trip():
    table = np.array([["a", "x"], ["b", "y"], ["a", "y"], ["b", "x"]] * 10)
    for init in ([np.array([[0.9, 0.1], [0.2, 0.8]])] * 2,  # a list of (K, L_j) arrays
                 np.array([[[0.9, 0.1], [0.2, 0.8]]] * 2)):  # one (D, K, L) array
        model = CategoricalMixture(2, probabilities_init=init, max_iter=3).fit(table)
        loaded = model_from_dict(json.loads(json.dumps(model_to_dict(model))))
        np.testing.assert_array_equal(np.asarray(loaded.probabilities_init), np.asarray(init))


# ------------------------------------------------------------------ labels of any type
def test_categorical_levels_keep_their_types(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({
        "answer": rng.choice(["yes", "no"], 120),
        "flag": rng.random(120) < 0.4,
        "size": pd.Categorical(rng.choice(["S", "M", "L"], 120), categories=["S", "M", "L"]),
        "score": rng.integers(1, 4, 120),
        "weight": rng.choice([0.5, 1.5], 120),
    })
    model = CategoricalMixture(2, alpha=0.5, random_state=0).fit(frame)
    save_model(model, tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    levels = doc["fitted"]["categories_"]
    assert levels[0] == ["no", "yes"] and levels[1] == [False, True]
    assert levels[2] == ["S", "M", "L"]  # a pandas categorical keeps its level order
    assert levels[3]["dtype"] == "int64" and levels[4]["dtype"] == "float64"
    loaded = load_model(tmp_path / "m.json")
    assert list(loaded.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    np.testing.assert_array_equal(loaded.score_samples(frame), model.score_samples(frame))
    np.testing.assert_array_equal(loaded.sample(5, random_state=1)[0],
                                  model.sample(5, random_state=1)[0])


def test_levels_mixing_types_are_refused_on_save():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"c": pd.Categorical(["a", 1, "a", 1], categories=["a", 1]),
                          "d": ["x", "y", "x", "y"]})
    model = CategoricalMixture(1).fit(frame)
    with pytest.raises(ValueError, match=r"cannot save CategoricalMixture: categories_\[0\] "
                                         "holds labels of types"):
        model_to_dict(model)


def test_mixed_mixture_with_column_names(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    z = rng.integers(2, size=200)
    frame = pd.DataFrame({"height": rng.normal(np.array([160.0, 180.0])[z], 6.0),
                          "smoker": np.where(rng.random(200) < np.array([0.2, 0.7])[z],
                                             "yes", "no"),
                          "visits": rng.poisson(np.array([1.0, 5.0])[z]),
                          "ignored": rng.normal(size=200)})
    model = MixedMixture(2, families=[("size", "gaussian", ["height"],
                                       {"covariance_type": "V"}),
                                      ("habits", "categorical", "smoker"),
                                      ("care", "poisson", ["visits"])],
                         random_state=0).fit(frame)
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert loaded.families == model.families and loaded.groups_ == model.groups_
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    # warm start continues (the fitted groups match the parameters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.set_params(warm_start=True, max_iter=3).fit(frame)
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["fitted"]["groups_"][0][2] = ["weight"]
    with pytest.raises(ModelFileError, match="group 'size' names column 'weight', which is "
                                             "not in feature_names"):
        model_from_dict(doc, "m.json")


def test_experts_with_named_gate_features(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"x": rng.normal(size=200), "g": rng.normal(size=200)})
    y = np.where(frame["g"] > 0, 2.0 * frame["x"], -frame["x"]) + rng.normal(0, 0.2, 200)
    model = MixtureOfExperts(2, gate_features=["g"], expert_features=["x"],
                             random_state=0).fit(frame, y)
    save_model(model, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.predict_proba_gate(frame),
                                  model.predict_proba_gate(frame))


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_hmm_with_a_family_object_is_refused_on_save():
    from emkit.families.poisson import PoissonFamily
    from emkit.hmm import HMM

    X = np.random.default_rng(7).poisson(3, (60, 2))
    model = HMM(2, emission=PoissonFamily(alpha=0.1), max_iter=5, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"cannot save HMM: parameter emission is not a "
                                         r"string: .*give HMM\(emission=<name>"):
        model_to_dict(model)
