"""MixedMixture: reductions to the single-family estimators, the product density, StepMix on
mtcars, closed forms, pandas tables, the families spec and its errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, poisson

from emkit import CategoricalMixture, GaussianMixture, MixedMixture, PoissonMixture
from emkit.exceptions import ConvergenceWarning
from emkit.families.registry import FAMILIES, get_family

REFERENCES = Path(__file__).parent / "references"
pd = pytest.importorskip("pandas")


def table(seed=0, n=300) -> pd.DataFrame:
    """Two Gaussian columns, two categorical (strings), one count, an ID column; 2 classes."""
    rng = np.random.default_rng(seed)
    z = rng.integers(2, size=n)
    means = np.array([[160.0, 60.0], [178.0, 80.0]])
    size = means[z] + rng.normal(size=(n, 2)) @ np.array([[6.0, 3.0], [0.0, 5.0]])
    smoker = np.where(rng.random(n) < np.array([0.2, 0.6])[z], "yes", "no")
    diet = np.array(["veg", "mixed", "meat"])[(rng.random(n)[:, None]
                                               > np.array([[0.5, 0.8], [0.1, 0.4]])[z]).sum(1)]
    visits = rng.poisson(np.array([1.0, 4.0])[z])
    return pd.DataFrame({"id": np.arange(n), "height": size[:, 0], "weight": size[:, 1],
                         "smoker": smoker, "diet": diet, "visits": visits})


FAMILIES_SPEC = [("size", "gaussian", ["height", "weight"], {"covariance_type": "VVV"}),
                 ("habits", "categorical", ["smoker", "diet"]),
                 ("care", "poisson", ["visits"])]


def fit_quietly(estimator, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kw)


# ------------------------------------------------------------------ reductions
@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical", "VEV", "EVI"])
def test_one_gaussian_group_is_a_gaussian_mixture(covariance_type):
    X = np.array(table(1)[["height", "weight"]])
    X[::9, 0] = np.nan  # missing values: marginal densities, conditional moments
    labels = np.arange(X.shape[0]) % 2
    gm = GaussianMixture(2, covariance_type=covariance_type, labels_init=labels, tol=1e-8,
                         max_iter=5000).fit(X)
    mm = MixedMixture(2, families=[("g", "gaussian", [0, 1],
                                    {"covariance_type": covariance_type})],
                      labels_init=labels, tol=1e-8, max_iter=5000).fit(X)
    assert mm.n_iter_ == gm.n_iter_
    np.testing.assert_allclose(mm.lower_bounds_, gm.lower_bounds_, rtol=1e-12)
    g = mm.parameters_["g"]
    np.testing.assert_allclose(mm.weights_, gm.weights_, rtol=1e-10)
    np.testing.assert_allclose(g["means"], gm.means_, rtol=1e-10)
    np.testing.assert_allclose(g["covariances"], gm.covariances_, rtol=1e-9)
    np.testing.assert_allclose(mm.score_samples(X), gm.score_samples(X), rtol=1e-12)
    assert mm.n_parameters() == gm.n_parameters()


def test_one_categorical_or_poisson_group_is_that_mixture():
    frame = table(2)
    labels = np.arange(len(frame)) % 2
    lca = CategoricalMixture(2, labels_init=labels, alpha=0.5, tol=1e-10, max_iter=5000).fit(
        frame[["smoker", "diet"]])
    mm = MixedMixture(2, families=[("c", "categorical", ["smoker", "diet"], {"alpha": 0.5})],
                      labels_init=labels, tol=1e-10, max_iter=5000).fit(frame)
    np.testing.assert_allclose(mm.lower_bounds_, lca.lower_bounds_, rtol=1e-12)
    for a, b in zip(mm.parameters_["c"]["probabilities"], lca.probabilities_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert [list(c) for c in mm.categories_["c"]] == [list(c) for c in lca.categories_]
    pm = PoissonMixture(2, labels_init=labels, tol=1e-10, max_iter=5000).fit(frame[["visits"]])
    mm = MixedMixture(2, families=[("p", "poisson", "visits")], labels_init=labels,
                      tol=1e-10, max_iter=5000).fit(frame)
    np.testing.assert_allclose(mm.lower_bounds_, pm.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(mm.parameters_["p"]["rates"], pm.rates_, rtol=1e-10)


# ------------------------------------------------------------------ the product density
def test_log_density_is_the_sum_of_the_groups_with_missing_values():
    frame = table(3)
    mm = MixedMixture(2, families=FAMILIES_SPEC, random_state=0).fit(frame)
    rows = frame.iloc[:40].copy()
    rows.loc[rows.index[::3], "weight"] = np.nan
    rows.loc[rows.index[1::4], "diet"] = None
    rows["visits"] = rows["visits"].astype(float)
    rows.loc[rows.index[2::5], "visits"] = np.nan
    g, c, p = (mm.parameters_[name] for name in ("size", "habits", "care"))
    expected = np.empty((len(rows), 2))
    for i, (_, row) in enumerate(rows.iterrows()):
        for k in range(2):
            x = np.array([row["height"], row["weight"]])
            seen = ~np.isnan(x)
            value = multivariate_normal(g["means"][k][seen],
                                        g["covariances"][k][np.ix_(seen, seen)]).logpdf(x[seen])
            for j, column in enumerate(["smoker", "diet"]):
                if not pd.isna(row[column]):
                    level = list(mm.categories_["habits"][j]).index(row[column])
                    value += np.log(c["probabilities"][j][k, level])
            if not np.isnan(row["visits"]):
                value += poisson.logpmf(row["visits"], p["rates"][k, 0])
            expected[i, k] = np.log(mm.weights_[k]) + value
    np.testing.assert_allclose(mm.score_samples(rows), logsumexp(expected, axis=1), rtol=1e-12)
    # parameters: K - 1 + Gaussian (2 means, 3 covariances) + categorical (1 + 2) + Poisson (1)
    assert mm.n_parameters() == 1 + 2 * (2 + 3) + 2 * (1 + 2) + 2 * 1


def test_fully_labelled_fit_is_each_groups_closed_form():
    frame = table(4)
    y = np.asarray(frame["id"] % 2)
    mm = MixedMixture(2, families=FAMILIES_SPEC, semi_supervised=True).fit(frame, y)
    for k in range(2):
        rows = frame[y == k]
        size = np.asarray(rows[["height", "weight"]])
        np.testing.assert_allclose(mm.parameters_["size"]["means"][k], size.mean(axis=0),
                                   rtol=1e-12)
        np.testing.assert_allclose(mm.parameters_["size"]["covariances"][k],
                                   np.cov(size.T, bias=True) + 1e-6 * np.eye(2), rtol=1e-10)
        share = (rows["smoker"] == "yes").mean()
        np.testing.assert_allclose(mm.parameters_["habits"]["probabilities"][0][k],
                                   [1 - share, share], rtol=1e-12)
        np.testing.assert_allclose(mm.parameters_["care"]["rates"][k],
                                   rows["visits"].mean(), rtol=1e-12)


def test_converged_log_likelihood_is_at_least_stepmix_on_mtcars():
    """StepMix 3.0 (full Gaussian + categorical groups) from the same partition
    (tests/references/peers_discrete.py), its parameters scored in float64."""
    peers = json.loads((REFERENCES / "peers_discrete.json").read_text())["mixed_mtcars"]
    cars = pd.DataFrame(json.loads((REFERENCES / "mtcars.json").read_text())["columns"])
    mm = MixedMixture(2, families=[("engine", "gaussian", peers["gaussian"]),
                                   ("design", "categorical", peers["categorical"])],
                      labels_init=np.array(peers["partition"]), tol=1e-12, max_iter=5000,
                      accelerate="squarem").fit(cars)
    ours = float(mm.score_samples(cars).sum())
    theirs = peers["2"]["stepmix"]["loglik"]
    assert ours >= theirs - 1e-9 * abs(theirs)
    assert ours - theirs < 1e-4 * abs(theirs)  # the same maximum, not another one


# ------------------------------------------------------------------ tables and inference
def test_dataframes_unknown_levels_dropped_columns_and_sampling():
    frame = table(5)
    mm = MixedMixture(2, families=FAMILIES_SPEC, random_state=0).fit(frame)
    assert mm.groups_[1] == ("habits", "categorical", ["smoker", "diet"], {})
    assert list(mm.categories_["habits"][1]) == ["meat", "mixed", "veg"]
    # "id" is in no group (remainder="drop"): its values are never read
    other = frame.assign(id=["anything"] * len(frame))
    np.testing.assert_array_equal(mm.predict(other), mm.predict(frame))
    new = frame.iloc[:3].assign(diet=["veg", "vegan", "meat"])
    with pytest.raises(ValueError, match=r"column 'diet' \(group 'habits'\) has level 'vegan' "
                                         r"at row 1"):
        mm.predict(new)
    mm.set_params(handle_unknown="missing")
    expected = mm.score_samples(frame.iloc[:3].assign(diet=["veg", None, "meat"]))
    np.testing.assert_allclose(mm.score_samples(new), expected, rtol=1e-14)
    rows, labels = mm.sample(500, random_state=0)
    assert list(rows.columns) == list(frame.columns)
    assert rows["id"].isna().all() and set(rows["diet"]) <= {"meat", "mixed", "veg"}
    assert np.isfinite(mm.score_samples(rows)).all()
    for k in range(2):  # sampled counts follow the fitted rates
        counts = rows["visits"][labels == k]
        rate = mm.parameters_["care"]["rates"][k, 0]
        assert abs(counts.mean() - rate) < 5 * np.sqrt(rate / len(counts))


def test_families_none_infers_gaussian_and_categorical_groups():
    frame = table(6)[["height", "weight", "smoker", "diet"]]
    mm = MixedMixture(2, random_state=0).fit(frame)
    assert [g[:3] for g in mm.groups_] == [("gaussian", "gaussian", ["height", "weight"]),
                                           ("categorical", "categorical", ["smoker", "diet"])]
    X = np.asarray(table(6)[["height", "weight"]])
    assert [g[1] for g in MixedMixture(2, random_state=0).fit(X).groups_] == ["gaussian"]


def test_registry_names_every_family():
    assert {"gaussian", "categorical", "poisson", "bernoulli"} <= set(FAMILIES)
    assert get_family("poisson").name == "poisson"
    with pytest.raises(ValueError, match=r"unknown family 'gausian'; choose from \["):
        get_family("gausian")


# ------------------------------------------------------------------ spec errors
@pytest.mark.parametrize("spec, message", [
    ([("a", "gausian", ["height"])], r"group 'a': unknown family 'gausian'; choose from"),
    ([("a", "gaussian", [])], r"group 'a' has no columns"),
    ([("a", "gaussian", ["height"]), ("b", "poisson", ["height"])],
     r"column 'height' is in groups 'a' and 'b'"),
    ([("a", "gaussian", ["height"]), ("a", "poisson", ["visits"])],
     r"group name 'a' is used twice"),
    ([("a", "gaussian", ["size"])], r"group 'a': X has no column 'size'"),
    ([("a", "gaussian", [9])], r"group 'a': column position 9 is out of range"),
    ([("a", "poisson", ["visits"], {"covariance_type": "VVV"})],
     r"group 'a': family 'poisson' has no option 'covariance_type' \(options: \['alpha'\]\)"),
    ([("a", "gaussian", ["height"], {"covariance_type": "XYZ"})],
     r"group 'a' \(gaussian\): covariance_type must be one of"),
    ([("a", "gaussian")], r"every entry of families must be \(name, family, columns\)"),
    ([("a", "poisson", ["visits"], {"alpha": -1})],
     r"group 'a' \(poisson\): alpha must be a finite number >= 0.0, got -1"),
    ([("a", "categorical", ["diet"], {"alpha": float("nan")})],
     r"group 'a' \(categorical\): alpha must be a finite number >= 0.0, got nan"),
    ("gaussian", r"families must be a non-empty list"),
])
def test_bad_specs_are_one_line_errors_naming_the_group(spec, message):
    with pytest.raises(ValueError, match=message):
        MixedMixture(2, families=spec).fit(table(7))


def test_bad_columns_are_named():
    frame = table(8)
    with pytest.raises(ValueError, match=r"column 'id' is in no group \(remainder='error'\)"):
        MixedMixture(2, families=FAMILIES_SPEC, remainder="error").fit(frame)
    with pytest.raises(ValueError, match=r"group 'a' names column 'height', but X has no column"):
        MixedMixture(2, families=[("a", "gaussian", ["height"])]).fit(np.ones((5, 2)))
    bad = frame.assign(visits=frame["visits"].astype(float))
    bad.loc[7, "visits"] = -2.0
    with pytest.raises(ValueError, match=r"Negative values in data: X \(group 'care'\) has value "
                                         r"-2\.0 at row 7, column 'visits'"):
        MixedMixture(2, families=FAMILIES_SPEC).fit(bad)
    bad = frame.assign(height=frame["height"].astype(object))
    bad.loc[3, "height"] = "tall"
    with pytest.raises(ValueError, match=r"column 'height' \(group 'size'\) has value 'tall' "
                                         r"at row 3, which is not a number"):
        MixedMixture(2, families=FAMILIES_SPEC).fit(bad)
    with pytest.raises(ValueError, match=r"column 'smoker' \(group 'habits'\) has a single "
                                         r"level \('no'\)"):
        MixedMixture(2, families=FAMILIES_SPEC).fit(frame.assign(smoker="no"))
    with pytest.raises(ValueError, match="remainder"):
        MixedMixture(2, families=FAMILIES_SPEC, remainder="passthrough").fit(frame)


def test_bernoulli_group_and_warm_start_with_changed_families():
    frame = table(9)
    frame["smokes"] = (frame["smoker"] == "yes").astype(float)
    spec = [("size", "gaussian", ["height", "weight"], {"covariance_type": "EEE"}),
            ("binary", "bernoulli", ["smokes"])]
    mm = MixedMixture(2, families=spec, random_state=0).fit(frame)
    assert mm.parameters_["binary"]["probabilities"].shape == (2, 1)
    assert mm.n_parameters() == 1 + (2 * 2 + 3) + 2 * 1
    mm.set_params(warm_start=True, families=FAMILIES_SPEC)
    with pytest.warns(UserWarning, match="warm_start ignored: the families changed"):
        mm.fit(frame)
    assert set(mm.parameters_) == {"size", "habits", "care"}
