"""select_model: the (G, model) table, sign conventions, failures, best model, plot."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from emkit import GaussianMixture, ModelSelection, select_model
from emkit.datasets import load_faithful
from emkit.hierarchical import hierarchical_tree, quantile_classes
from emkit.selection import DEFAULT_MAX_ITER, DEFAULT_TOL, _hierarchical_starts

FAITHFUL = load_faithful()
MODELS = ("EII", "VVI", "EEE", "VEV", "VVV")
GS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def faithful_selection() -> ModelSelection:
    return select_model(FAITHFUL, GS, MODELS)


def by_hand(X, G, model, labels, **params) -> GaussianMixture:
    """The cell as a user would fit it: mclust's start, select_model's settings."""
    params = {"reg_covar": 0.0, "tol": DEFAULT_TOL, "max_iter": DEFAULT_MAX_ITER, **params}
    return GaussianMixture(G, covariance_type=model, labels_init=labels, **params).fit(X)


def cell(result: ModelSelection, array: np.ndarray, G: int, model: str):
    return array[result.n_components.index(G), result.models.index(model)]


def degenerate_data() -> np.ndarray:
    """12 rows in 2-D: with G close to n some component holds <= 2 rows (singular)."""
    rng = np.random.default_rng(3)
    return np.vstack([rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 8.0])


# ------------------------------------------------------------------ the table
def test_table_equals_cells_fitted_by_hand(faithful_selection):
    result = faithful_selection
    tree = hierarchical_tree(FAITHFUL)
    n = FAITHFUL.shape[0]
    assert result.log_likelihood.shape == (len(GS), len(MODELS))
    assert (result.n_components, result.models) == (GS, MODELS)
    for G in GS:
        for model in MODELS:
            gm = by_hand(FAITHFUL, G, model, tree.cut(G))
            loglik = gm.score(FAITHFUL) * n
            assert cell(result, result.log_likelihood, G, model) == pytest.approx(loglik,
                                                                                  rel=1e-12)
            assert cell(result, result.n_parameters, G, model) == gm.n_parameters()
            assert cell(result, result.bic("sklearn"), G, model) == pytest.approx(
                gm.bic(FAITHFUL), rel=1e-12)
            assert cell(result, result.aic("sklearn"), G, model) == pytest.approx(
                gm.aic(FAITHFUL), rel=1e-12)
            assert cell(result, result.n_iter, G, model) == gm.n_iter_
            assert cell(result, result.converged, G, model) == gm.converged_
            np.testing.assert_allclose(result.estimators_[G, model].means_, gm.means_,
                                       rtol=1e-12)


def test_long_table_has_every_cell(faithful_selection):
    table = faithful_selection.table
    assert list(table.columns) == ["log_likelihood", "n_parameters", "bic", "icl", "aic",
                                   "converged", "n_iter", "reason"]
    assert table.shape[0] == len(GS) * len(MODELS)
    assert table.loc[(3, "EEE"), "bic"] == cell(faithful_selection,
                                                 faithful_selection.bic(), 3, "EEE")
    assert table["reason"].isna().all()


def test_sign_conventions(faithful_selection):
    result = faithful_selection
    for criterion in ("bic", "icl", "aic"):
        np.testing.assert_array_equal(result.values(criterion, "mclust"),
                                      -result.values(criterion, "sklearn"))
    n, logL, p = FAITHFUL.shape[0], result.log_likelihood, result.n_parameters
    np.testing.assert_allclose(result.bic("mclust"), 2 * logL - p * np.log(n), rtol=1e-14)
    np.testing.assert_allclose(result.aic("mclust"), 2 * logL - 2 * p, rtol=1e-14)
    sk = result.bic_table(convention="sklearn")
    np.testing.assert_array_equal(sk.to_numpy(), -result.bic_table().to_numpy())
    assert list(sk.columns) == list(MODELS) and list(sk.index) == list(GS)
    # the default convention is mclust's: larger is better
    assert np.nanargmax(result.bic()) == np.nanargmin(result.bic("sklearn"))


def test_icl_is_bic_plus_map_entropy_term(faithful_selection):
    result = faithful_selection
    for (G, model), gm in result.estimators_.items():
        z = gm.predict_proba(FAITHFUL)
        map_z = z[np.arange(len(z)), z.argmax(axis=1)]
        expected = -gm.bic(FAITHFUL) + 2 * np.sum(np.log(map_z))
        assert cell(result, result.icl(), G, model) == pytest.approx(expected, rel=1e-12)
        assert cell(result, result.icl(), G, model) <= cell(result, result.bic(), G, model)
    # one component: every row is certain, ICL = BIC
    np.testing.assert_allclose(result.icl()[0], result.bic()[0], rtol=1e-15)


# ----------------------------------------------------------- the best model
@pytest.mark.parametrize("criterion", ["bic", "icl", "aic"])
def test_best_model_is_the_argmax_of_the_criterion(criterion):
    result = select_model(FAITHFUL, GS, MODELS, criterion)
    values = result.values(criterion)
    i, j = np.unravel_index(np.nanargmax(values), values.shape)
    best = {"n_components": GS[i], "covariance_type": MODELS[j]}
    assert result.best_params_ == best
    assert result.best_model_ is result.estimators_[GS[i], MODELS[j]]
    assert (result.best_model_.n_components, result.best_model_.covariance_type) == (
        GS[i], MODELS[j])
    assert result.best_cell() == (GS[i], MODELS[j])


def test_top_models_like_mclust_summary(faithful_selection):
    result = faithful_selection
    top = result.top(5)
    assert list(top.index) == [1, 2, 3, 4, 5]
    values = np.sort(result.bic()[np.isfinite(result.bic())])[::-1]
    np.testing.assert_allclose(top["BIC"].to_numpy(), values[:5])
    np.testing.assert_allclose(top["difference"].to_numpy(), values[:5] - values[0])
    assert (top.iloc[0]["G"], top.iloc[0]["model"]) == result.best_cell()
    sk = result.top(3, convention="sklearn")
    np.testing.assert_allclose(sk["BIC"].to_numpy(), -values[:3])
    assert (sk["difference"] >= 0).all() and sk["difference"].iloc[0] == 0
    assert len(result.top()) == 3  # select_model's top=3
    aic_top = result.top(2, criterion="aic")
    assert "AIC" in aic_top.columns


def test_text_and_repr(faithful_selection):
    result = faithful_selection
    text = str(result)
    assert "BIC (mclust convention" in text and "larger is better" in text
    assert "Top 3 models by BIC" in text
    assert all(model in text for model in MODELS)
    assert "smaller is better" in result.to_string("sklearn")
    G, model = result.best_cell()
    rep = repr(result)
    assert rep.startswith("ModelSelection(") and f"best=({G}, {model!r})" in rep
    assert "failed=0/20" in rep


# --------------------------------------------------------------- failures
def test_failed_cells_are_nan_with_a_reason():
    X = degenerate_data()
    result = select_model(X, range(1, 15), ("EII", "VVV"))
    failed = ~np.isfinite(result.log_likelihood)
    assert failed.any() and not failed.all()
    assert set(result.reasons) == {(G, m) for i, G in enumerate(result.n_components)
                                   for j, m in enumerate(result.models) if failed[i, j]}
    for criterion in ("bic", "icl", "aic"):
        assert np.array_equal(np.isnan(result.values(criterion)), failed)
    # more components than rows
    assert "only 12 rows" in result.reasons[(13, "VVV")]
    assert (14, "EII") in result.reasons
    # VVV with 6 components on 12 rows: some component has <= 2 rows in 2-D
    assert "VVV" in {m for (G, m) in result.reasons if G <= 12}
    reasons = " ".join(r for (G, m), r in result.reasons.items() if m == "VVV" and G <= 12)
    assert "degenerate" in reasons or "singular" in reasons
    assert (1, "VVV") not in result.reasons and (2, "VVV") not in result.reasons
    # failed cells have no estimator but a parameter count
    assert all(key not in result.estimators_ for key in result.reasons)
    assert (result.n_parameters > 0).all()
    # the table shows them as missing with the reason
    table = result.to_frame()
    assert table.loc[(13, "VVV"), "reason"] == result.reasons[(13, "VVV")]
    assert np.isnan(table.loc[(13, "VVV"), "bic"])
    assert "NA" in str(result) and "Not estimated (NA)" in str(result)


def test_empty_starting_class_fails_like_mclust():
    # quantile classes of tied data: G = 3 leaves the middle class empty, and
    # mclust's mclustBIC reports NA for G = 3 (E and V) on these data
    x = np.array([0.0] * 40 + [1.0] * 40 + [2.0, 3.0, 4.0, 5.0])
    assert np.bincount(quantile_classes(x, 3), minlength=3).min() == 0
    result = select_model(x, [1, 2, 3])
    assert result.models == ("E", "V")
    assert "empty class" in result.reasons[(3, "E")]
    assert np.isnan(result.bic()[2]).all()
    assert np.isfinite(result.bic()[0]).all()


def test_no_estimable_cell_raises():
    with pytest.raises(ValueError, match="none of the models could be estimated"):
        select_model(degenerate_data(), [13, 14], ["VVV"])


def test_unconverged_cells_are_kept_and_flagged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # select_model keeps the cells' warnings inside
        result = select_model(FAITHFUL, [1, 3], ["VVV", "EEI"], max_iter=2)
    assert np.isfinite(result.log_likelihood).all()
    assert not result.converged[1].any()
    assert (result.n_iter[1] == 2).all()
    assert "did not converge" in str(result)


# ------------------------------------------------------- starts and inputs
def test_one_dimensional_data_use_quantile_starts():
    x = FAITHFUL[:, 1]
    result = select_model(x, [1, 2, 3])
    assert result.models == ("E", "V")
    gm = by_hand(x[:, None], 3, "V", quantile_classes(x, 3))
    assert cell(result, result.log_likelihood, 3, "V") == pytest.approx(
        gm.score(x[:, None]) * x.size, rel=1e-12)


def test_large_data_start_from_a_subset_like_mclust():
    # subset_size below n: tree on a random subset, one M-step there, one E-step on all rows
    result = select_model(FAITHFUL, [1, 2, 3], ["VVV", "EEI"], subset_size=100,
                          random_state=7)
    starts = _hierarchical_starts(FAITHFUL, (1, 2, 3), 100, _seed_of(7))
    rows = starts[3].rows
    assert rows.shape == (100,) and np.unique(rows).size == 100
    assert starts[1].rows is None  # G = 1 is the single Gaussian on all rows
    for model in ("VVV", "EEI"):
        on_subset = GaussianMixture(3, covariance_type=model, labels_init=starts[3].labels,
                                    reg_covar=0.0, max_iter=0).fit(FAITHFUL[rows])
        gm = by_hand(FAITHFUL, 3, model, on_subset.predict_proba(FAITHFUL))
        assert cell(result, result.log_likelihood, 3, model) == pytest.approx(
            gm.score(FAITHFUL) * FAITHFUL.shape[0], rel=1e-12)
        # the stored model does not keep n x G starting responsibilities
        assert result.estimators_[3, model].labels_init is None
    assert result.settings["subset_size"] == 100
    again = select_model(FAITHFUL, [1, 2, 3], ["VVV", "EEI"], subset_size=100,
                         random_state=7)
    np.testing.assert_array_equal(again.log_likelihood, result.log_likelihood)


def _seed_of(random_state) -> int:
    from emkit.selection import _base_seed

    return _base_seed(random_state)


def test_kmeans_plusplus_restarts_and_cell_seeds():
    kwargs = {"init": "k-means++", "n_init": 3, "random_state": 0}
    both = select_model(FAITHFUL, [2, 3], ["VVV", "EEI"], **kwargs)
    alone = select_model(FAITHFUL, [3], ["EEI"], **kwargs)
    # a cell's seed depends on random_state, G and the model only
    assert cell(both, both.log_likelihood, 3, "EEI") == alone.log_likelihood[0, 0]
    gm = both.estimators_[3, "EEI"]
    assert gm.init_params == "k-means++" and gm.n_init == 3
    again = GaussianMixture(3, covariance_type="EEI", init_params="k-means++", n_init=3,
                            random_state=gm.random_state, reg_covar=0.0, tol=DEFAULT_TOL,
                            max_iter=DEFAULT_MAX_ITER).fit(FAITHFUL)
    assert again.score(FAITHFUL) == pytest.approx(gm.score(FAITHFUL), rel=1e-12)


def test_n_jobs_gives_the_same_results_as_sequential():
    kwargs = {"n_components": [1, 2, 3, 5], "covariance_types": ["EII", "VEV", "VVV"],
              "init": "k-means++", "random_state": 3}
    sequential = select_model(FAITHFUL, **kwargs)
    parallel = select_model(FAITHFUL, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(parallel.log_likelihood, sequential.log_likelihood)
    np.testing.assert_array_equal(parallel.icl(), sequential.icl())
    np.testing.assert_array_equal(parallel.n_iter, sequential.n_iter)
    assert parallel.reasons == sequential.reasons
    assert parallel.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(parallel.best_model_.means_, sequential.best_model_.means_)


def test_dataframe_input_names_the_best_model(faithful_selection):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(FAITHFUL, columns=["eruptions", "waiting"])
    result = select_model(frame, [2], ["VVV"])
    assert list(result.best_model_.feature_names_in_) == ["eruptions", "waiting"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result.best_model_.predict(frame)


def test_aliases_are_shown_as_mclust_names():
    result = select_model(FAITHFUL, [2], ["full", "VVV", "diag"])
    assert result.models == ("VVV", "VVI")
    assert result.best_model_.covariance_type in ("VVV", "VVI")


def test_all_models_by_dimension():
    result = select_model(FAITHFUL[:40], [1])
    assert len(result.models) == 14
    small = select_model(np.random.default_rng(0).normal(size=(3, 4)), [1])
    assert small.models == ("EII", "VII", "EEI", "VEI", "EVI", "VVI")  # n <= d: as mclust


BAD_ARGUMENTS = {
    "criterion": ({"criterion": "bics"}, ValueError, "criterion"),
    "no G": ({"n_components": []}, ValueError, "n_components is empty"),
    "G = 0": ({"n_components": [0, 1]}, ValueError, "n_components must be"),
    "model": ({"covariance_types": ["EII", "banana"]}, ValueError, "banana"),
    "1-D model on 2-D data": ({"covariance_types": "V"}, ValueError, "one-dimensional"),
    "restarts of a deterministic start": ({"n_init": 3}, ValueError, "n_init must be 1"),
    "init": ({"init": "ward"}, ValueError, "init must be"),
    "n_jobs": ({"n_jobs": 0}, ValueError, "n_jobs"),
    "tol": ({"tol": -1.0}, ValueError, "tol must be"),
    "per-cell parameter": ({"labels_init": [0, 1]}, ValueError, "set for every"),
    "unknown keyword": ({"n_component": 3}, TypeError, "unexpected keyword"),
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_bad_arguments(case):
    kwargs, error, message = BAD_ARGUMENTS[case]
    with pytest.raises(error, match=message):
        select_model(FAITHFUL, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="inf"):
        select_model(np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]), [1])
    with pytest.raises(ValueError, match="at least 2 rows"):
        select_model(np.ones((1, 2)), [1])


# ---------------------------------------------------------------- no pandas
def test_tables_without_pandas(faithful_selection, monkeypatch):
    with_pandas = faithful_selection.table
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    table = faithful_selection.table
    assert isinstance(table, dict)
    assert list(table) == ["G", "model", "log_likelihood", "n_parameters", "bic", "icl",
                           "aic", "converged", "n_iter", "reason"]
    np.testing.assert_array_equal(table["bic"], with_pandas["bic"].to_numpy())
    np.testing.assert_array_equal(table["G"], with_pandas.index.get_level_values("G"))
    wide = faithful_selection.bic_table()
    assert list(wide) == ["G", *MODELS]
    np.testing.assert_array_equal(wide["VVV"], faithful_selection.bic()[:, -1])
    top = faithful_selection.top(2)
    assert isinstance(top, dict) and list(top["rank"]) == [1, 2]
    assert "Top 3 models by BIC" in str(faithful_selection)


# ------------------------------------------------------------------- plot
def test_plot_bic_one_line_per_model(faithful_selection, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from emkit.plotting import plot_bic, save_bic_plot

    result = select_model(degenerate_data(), range(1, 8), ("EII", "VVV", "EEE"))
    ax = plot_bic(result, Figure().add_subplot())
    lines = {line.get_gid(): line for line in ax.get_lines()
             if str(line.get_gid()).startswith("model-")}
    assert set(lines) == {f"model-{m}" for m in result.models}
    for j, model in enumerate(result.models):
        x, y = lines[f"model-{model}"].get_data()
        np.testing.assert_array_equal(x, result.n_components)
        np.testing.assert_array_equal(y, result.bic()[:, j])  # NaN: a gap in the line
    assert np.isnan(result.bic()).any()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(model in legend for model in result.models)
    (best,) = [line for line in ax.get_lines() if line.get_gid() == "best"]
    G, model = result.best_cell()
    assert best.get_data()[0][0] == G
    assert "larger is better" in ax.get_ylabel()
    flipped = plot_bic(result, Figure().add_subplot(), convention="sklearn", criterion="icl")
    y = {line.get_gid(): line.get_ydata() for line in flipped.get_lines()}["model-EII"]
    np.testing.assert_array_equal(y, result.icl("sklearn")[:, 0])
    path = tmp_path / "bic.png"
    save_bic_plot(faithful_selection, path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_prior_is_passed_to_every_cell():
    """MAP-EM cells: BIC from the log-likelihood at the MAP estimate, as mclust."""
    models = ["VII", "EEE", "EVE", "VVV"]
    result = select_model(FAITHFUL, n_components=[2, 3], covariance_types=models,
                          prior="default")
    tree = hierarchical_tree(FAITHFUL)
    for G in (2, 3):
        for model in models:
            gm = by_hand(FAITHFUL, G, model, tree.cut(G), prior="default")
            assert cell(result, result.bic("sklearn"), G, model) == pytest.approx(
                gm.bic(FAITHFUL), rel=1e-12)
            plain = by_hand(FAITHFUL, G, model, tree.cut(G))
            assert not np.allclose(gm.means_, plain.means_, rtol=1e-9)  # the prior acted
