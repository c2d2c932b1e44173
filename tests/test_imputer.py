"""GaussianMixtureImputer: closed forms, accuracy against other imputers, draws, pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import multivariate_normal
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from emkit import GaussianMixture, GaussianMixtureImputer
from emkit.families.structures import get_structure

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]

# Two clusters told apart by x0 and x2, with opposite correlations of x0 and x1:
# a linear (global) imputation of x1 cannot follow both.
MEANS = np.array([[-3.0, 0.0, -3.0], [3.0, 0.0, 3.0]])
COVS = np.array([
    [[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]],
    [[1.0, -0.95, 0.0], [-0.95, 1.0, 0.0], [0.0, 0.0, 1.0]],
])


def two_clusters(seed: int, n: int = 500, fraction: float = 0.2):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    X = np.empty((n, 3))
    for k in range(2):
        X[z == k] = rng.multivariate_normal(MEANS[k], COVS[k], size=int((z == k).sum()))
    mask = rng.random(X.shape) < fraction
    Xm = X.copy()
    Xm[mask] = np.nan
    return X, Xm, mask, z


def correlated(seed: int, n: int, dim: int, fraction: float):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim)) + 2 * np.eye(dim)
    X = rng.normal(size=(n, dim)) @ A.T + np.arange(1.0, dim + 1)
    Xm = X.copy()
    Xm[rng.random(X.shape) < fraction] = np.nan
    return Xm


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


# ---------------------------------------------------------------- closed forms
def test_single_gaussian_bivariate_matches_conditional_mean_by_hand():
    Xm = correlated(0, 300, 2, 0.15)
    imp = GaussianMixtureImputer(random_state=0).fit(Xm)
    out = imp.transform(Xm)
    mu = imp.mixture_.means_[0]
    (s11, s12), (_, s22) = imp.mixture_.covariances_[0]
    miss0 = np.isnan(Xm[:, 0]) & ~np.isnan(Xm[:, 1])
    miss1 = np.isnan(Xm[:, 1]) & ~np.isnan(Xm[:, 0])
    both = np.isnan(Xm).all(axis=1)
    assert miss0.sum() > 10 and miss1.sum() > 10 and both.sum() > 0
    np.testing.assert_allclose(out[miss1, 1], mu[1] + s12 / s11 * (Xm[miss1, 0] - mu[0]),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[miss0, 0], mu[0] + s12 / s22 * (Xm[miss0, 1] - mu[1]),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[both], np.broadcast_to(mu, (both.sum(), 2)), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_conditional_mean_matches_row_by_row_computation(covariance_type):
    """E[x_M | x_O] = sum_k p(k | x_O) E[x_M | x_O, k], computed independently per row."""
    _, Xm, _, _ = two_clusters(1, n=200, fraction=0.3)
    imp = GaussianMixtureImputer(2, covariance_type=covariance_type, random_state=0).fit(Xm)
    gm = imp.mixture_
    out = imp.transform(Xm)
    structure = get_structure(covariance_type)
    covs = [structure.component_covariance(gm.covariances_, k, 3) for k in range(2)]
    for i in np.flatnonzero(np.isnan(Xm).any(axis=1)):
        m, o = np.isnan(Xm[i]), ~np.isnan(Xm[i])
        x_o = Xm[i, o]
        log_w = np.log(gm.weights_).copy()
        cond = []
        for k in range(2):
            mu, S = gm.means_[k], covs[k]
            if o.any():
                log_w[k] += multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(x_o)
                cond.append(mu[m] + S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)],
                                                                       x_o - mu[o]))
            else:
                cond.append(mu[m])
        expected = softmax(log_w) @ np.array(cond)
        np.testing.assert_allclose(out[i, m], expected, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("seed", [0, 1])
def test_beats_mean_and_iterative_imputation_on_a_mixture(seed):
    X, Xm, mask, _ = two_clusters(seed)

    def rmse(filled):
        return np.sqrt(np.mean((filled[mask] - X[mask]) ** 2))

    ours = rmse(GaussianMixtureImputer(2, random_state=0).fit_transform(Xm))
    mean = rmse(SimpleImputer().fit_transform(Xm))
    iterative = rmse(IterativeImputer(random_state=0, max_iter=30).fit_transform(Xm))
    # With the mixture fitted to the complete data (near the truth): our EM on
    # incomplete data loses almost nothing.
    oracle_imp = GaussianMixtureImputer(2, random_state=0).fit(Xm)
    oracle_imp.mixture_ = GaussianMixture(2, random_state=0).fit(X)
    oracle = rmse(oracle_imp.transform(Xm))
    # Observed: ours ~1.2-1.5, IterativeImputer ~1.5-1.8, column means ~2.6.
    assert ours < 0.6 * mean
    assert ours < 0.9 * iterative
    assert ours < 1.05 * oracle


# ------------------------------------------------------- multiple imputation
def test_draws_have_the_conditional_mean_and_covariance():
    Xm = correlated(2, 400, 3, 0.1)
    imp = GaussianMixtureImputer(random_state=0, sample_posterior=True).fit(Xm)
    mu, S = imp.mixture_.means_[0], imp.mixture_.covariances_[0]
    x0 = 0.5
    n = 20000
    rows = np.full((n, 3), np.nan)
    rows[:, 0] = x0
    draws = imp.transform(rows)
    assert (draws[:, 0] == x0).all()
    gain = S[1:, :1] / S[0, 0]
    cond_mean = mu[1:] + gain[:, 0] * (x0 - mu[0])
    cond_cov = S[1:, 1:] - gain @ S[:1, 1:]
    # The deterministic imputation is the conditional mean.
    mean_imputed = GaussianMixtureImputer(random_state=0).fit(Xm).transform(rows[:1])
    np.testing.assert_allclose(mean_imputed[0, 1:], cond_mean, rtol=1e-12)
    # Sample mean: standard error sqrt(var / n); allow 5 of them.
    se = np.sqrt(np.diag(cond_cov) / n)
    assert np.all(np.abs(draws[:, 1:].mean(axis=0) - cond_mean) < 5 * se)
    # Sample covariance: each entry's standard error is about
    # sqrt((S_ii S_jj + S_ij^2) / n) for Gaussian draws; allow 5 of them.
    sample_cov = np.cov(draws[:, 1:].T)
    d = np.diag(cond_cov)
    cov_se = np.sqrt((np.outer(d, d) + cond_cov**2) / n)
    assert np.all(np.abs(sample_cov - cond_cov) < 5 * cov_se)


def test_draws_depend_on_random_state_and_repeat_for_an_int():
    _, Xm, mask, _ = two_clusters(3, n=300)
    kwargs = {"n_components": 2, "sample_posterior": True}
    a = GaussianMixtureImputer(random_state=0, **kwargs).fit(Xm)
    first, again = a.transform(Xm), a.transform(Xm)
    np.testing.assert_array_equal(first, again)
    other = GaussianMixtureImputer(random_state=1, **kwargs).fit(Xm).transform(Xm)
    assert not np.allclose(first[mask], other[mask])
    np.testing.assert_array_equal(bits(first[~mask]), bits(Xm[~mask]))
    np.testing.assert_array_equal(bits(other[~mask]), bits(Xm[~mask]))
    # A RandomState is advanced: successive calls differ.
    rs = GaussianMixtureImputer(random_state=np.random.RandomState(0), **kwargs).fit(Xm)
    assert not np.array_equal(rs.transform(Xm), rs.transform(Xm))


def test_rows_with_nothing_observed_get_the_mixture_mean_or_mixture_draws():
    _, Xm, _, _ = two_clusters(4, n=300)
    empty = np.full((4000, 3), np.nan)
    imp = GaussianMixtureImputer(2, random_state=0).fit(Xm)
    gm = imp.mixture_
    mixture_mean = gm.weights_ @ gm.means_
    np.testing.assert_allclose(imp.transform(empty), np.tile(mixture_mean, (4000, 1)),
                               rtol=1e-12, atol=1e-12)
    draws = imp.set_params(sample_posterior=True).transform(empty)
    # Mixture draws: the first coordinate is bimodal (clusters at -3 and +3).
    share = (draws[:, 0] > 0).mean()
    assert abs(share - gm.weights_[np.argmax(gm.means_[:, 0])]) < 0.03
    total_var = np.var(draws[:, 0])
    assert total_var > 9  # between-cluster spread, not just one component's variance


# ------------------------------------------------------------------ contract
def test_observed_entries_unchanged_bit_for_bit_and_input_untouched():
    Xm = correlated(5, 200, 4, 0.25)
    Xm[3, 1] = 1e-300  # subnormal-ish and extreme values survive exactly
    Xm[4, 2] = -0.0
    before = Xm.copy()
    for sample in (False, True):
        imp = GaussianMixtureImputer(2, random_state=0, sample_posterior=sample)
        out = imp.fit_transform(Xm)
        observed = ~np.isnan(Xm)
        np.testing.assert_array_equal(bits(out[observed]), bits(Xm[observed]))
        assert np.isfinite(out).all()
    np.testing.assert_array_equal(bits(Xm), bits(before))


def test_input_without_missing_values_passes_through():
    X = correlated(6, 100, 3, 0.0)
    imp = GaussianMixtureImputer(random_state=0).fit(X)
    out = imp.transform(X)
    assert out is not X
    np.testing.assert_array_equal(bits(out), bits(X))


def test_a_row_is_imputed_alike_alone_and_in_a_batch():
    """A single row has a column without any observed value: that is allowed here."""
    _, Xm, _, _ = two_clusters(7, n=200)
    imp = GaussianMixtureImputer(2, random_state=0).fit(Xm)
    batch = imp.transform(Xm)
    for i in np.flatnonzero(np.isnan(Xm).any(axis=1))[:10]:
        np.testing.assert_allclose(imp.transform(Xm[i : i + 1])[0], batch[i], rtol=1e-12)


def test_pipeline_with_logistic_regression():
    _, Xm, _, z = two_clusters(8, n=400)
    pipe = make_pipeline(GaussianMixtureImputer(2, random_state=0), LogisticRegression())
    pipe.fit(Xm, z)
    assert (pipe.predict(Xm) == z).mean() > 0.95
    assert pipe.predict_proba(Xm[:5]).shape == (5, 2)


def test_pandas_input_and_output():
    pd = pytest.importorskip("pandas")
    _, Xm, _, _ = two_clusters(9, n=100)
    frame = pd.DataFrame(Xm, columns=["a", "b", "c"])
    imp = GaussianMixtureImputer(2, random_state=0).set_output(transform="pandas")
    out = imp.fit_transform(frame)
    assert list(out.columns) == ["a", "b", "c"]
    assert not out.isna().any().any()
    assert list(imp.get_feature_names_out()) == ["a", "b", "c"]


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    _, Xm, _, _ = two_clusters(10, n=100)
    imp = GaussianMixtureImputer()
    with pytest.raises(NotFittedError):
        imp.transform(Xm)
    imp.fit(Xm)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixtureImputer is "
                                         "expecting 3 features"):
        imp.transform(Xm[:, :2])
    bad = Xm.copy()
    bad[5, 2] = np.inf
    for method in (GaussianMixtureImputer().fit, imp.transform):
        with pytest.raises(ValueError, match=r"X contains inf at row 5, column 2"):
            method(bad)
    no_values = Xm.copy()
    no_values[:, 1] = np.nan
    with pytest.raises(ValueError, match="column 1 has no observed value"):
        GaussianMixtureImputer().fit(no_values)
    with pytest.raises(ValueError, match="sample_posterior must be True or False"):
        GaussianMixtureImputer(sample_posterior="yes").fit(Xm)
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        GaussianMixtureImputer(n_components=0).fit(Xm)
