"""StudentTMixture: densities against SciPy, direct maximisation of the likelihood,
the Gaussian limit, robustness to gross outliers, missing values, all 14 scale
structures, the degrees-of-freedom M-step and the compiled kernels."""

from __future__ import annotations

import doctest
import warnings
from itertools import permutations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import gammaln, logsumexp
from scipy.stats import multivariate_t

import emkit
from emkit import GaussianMixture, StudentTMixture
from emkit.exceptions import ConvergenceWarning
from emkit.families.structures import MCLUST_MODELS, get_structure
from emkit.families.student_t import StudentTFamily
from emkit.families.student_t_dof import (
    expected_dof_objective,
    log_normaliser,
    solve_dof,
    update_dof,
)


# ------------------------------------------------------------------ data
def t_clusters(seed=0, n=300, nu=4.0, means=((0.0, 0.0), (4.0, 1.0)), scale=None):
    """Rows from a mixture of t components with equal weights (true nu given)."""
    rng = np.random.default_rng(seed)
    means = np.asarray(means, dtype=float)
    K, D = means.shape
    root = np.eye(D) if scale is None else np.asarray(scale)
    z = rng.integers(K, size=n)
    u = rng.gamma(nu / 2, 2 / nu, size=n)
    return means[z] + rng.normal(size=(n, D)) @ root.T / np.sqrt(u)[:, None], z


# -------------------------------------------- direct observed-data likelihood
def pack(weights, means, covariances, dof):
    """Unconstrained vector: weight logits (first fixed at 0), means, log-Cholesky
    factors of the scale matrices, log degrees of freedom."""
    K, D = means.shape
    tri = np.tril_indices(D)
    parts = [np.log(weights[1:] / weights[0]), means.ravel()]
    for k in range(K):
        lower = np.linalg.cholesky(covariances[k]).copy()
        lower[np.diag_indices(D)] = np.log(np.diag(lower))
        parts.append(lower[tri])
    parts.append(np.log(dof))
    return np.concatenate(parts)


def unpack(theta, K, D, n_dof):
    tri = np.tril_indices(D)
    logits = np.concatenate([[0.0], theta[: K - 1]])
    i = K - 1
    weights = np.exp(logits - logsumexp(logits))
    means = theta[i : i + K * D].reshape(K, D)
    i += K * D
    m = D * (D + 1) // 2
    lowers = []
    for _ in range(K):
        lower = np.zeros((D, D))
        lower[tri] = theta[i : i + m]
        i += m
        lower[np.diag_indices(D)] = np.exp(np.diag(lower))
        lowers.append(lower)
    dof = np.broadcast_to(np.exp(theta[i : i + n_dof]), (K,)) if n_dof else None
    return weights, means, lowers, dof


def negative_log_likelihood(theta, X, K, n_dof, fixed_dof=None):
    """-sum_i log sum_k pi_k t(x_iO | mu_kO, Sigma_kOO, nu_k), rows grouped by pattern."""
    D = X.shape[1]
    weights, means, lowers, dof = unpack(theta, K, D, n_dof)
    if fixed_dof is not None:
        dof = np.broadcast_to(fixed_dof, (K,))
    observed = ~np.isnan(X)
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    total = 0.0
    for j, o in enumerate(patterns):
        rows = X[inverse.ravel() == j][:, o]
        p = int(o.sum())
        if p == 0:
            continue
        joint = np.empty((rows.shape[0], K))
        for k in range(K):
            scale = lowers[k] @ lowers[k].T
            lower = np.linalg.cholesky(scale[np.ix_(o, o)])
            z = np.linalg.solve(lower, (rows - means[k][o]).T)
            delta = (z * z).sum(axis=0)
            joint[:, k] = (np.log(weights[k]) + gammaln((dof[k] + p) / 2) - gammaln(dof[k] / 2)
                           - p / 2 * np.log(dof[k] * np.pi) - np.log(np.diag(lower)).sum()
                           - (dof[k] + p) / 2 * np.log1p(delta / dof[k]))
        total += logsumexp(joint, axis=1).sum()
    return -total


def fit_tight(X, n_components, **kwargs):
    """A fit to a tight tolerance (SQUAREM, no regularisation), in strict mode."""
    params = dict(tol=1e-13, max_iter=20000, accelerate="squarem", reg_covar=0.0,
                  random_state=0)
    params.update(kwargs)
    return StudentTMixture(n_components, **params).fit(X)


# ------------------------------------------------------------------ densities
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEE", "EII"])
def test_log_density_matches_scipy_with_and_without_missing_values(covariance_type):
    rng = np.random.default_rng(0)
    K, D = 3, 4
    structure = get_structure(covariance_type)
    roots = rng.normal(size=(K, D, D))
    full = roots @ roots.transpose(0, 2, 1) + np.eye(D)
    scales = {"full": full, "VEE": full, "tied": full[0], "diag": rng.uniform(0.5, 2, (K, D)),
              "spherical": rng.uniform(0.5, 2, K), "EII": np.full(K, 1.3)}[covariance_type]
    family = StudentTFamily(covariance_type)
    params = family.params_from_fields(means=rng.normal(size=(K, D)), covariances=scales,
                                       dof=np.array([1.5, 4.0, 30.0]))
    X = rng.normal(size=(60, D)) * 2
    X[rng.random(X.shape) < 0.3] = np.nan
    X[0] = np.nan  # nothing observed: log-density 0
    X[1] = rng.normal(size=D)  # complete
    ours = family.log_prob(params, X)
    expected = np.zeros_like(ours)
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(K):
            scale = structure.component_covariance(scales, k, D)
            if o.any():
                expected[i, k] = multivariate_t(params.means[k][o], scale[np.ix_(o, o)],
                                                df=params.dof[k]).logpdf(x[o])
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_normaliser_is_accurate_for_large_dof():
    """log G((nu+p)/2) - log G(nu/2) - p/2 log(nu pi) tends to -p/2 log(2 pi)."""
    p, b = 10, 5.0
    moderate = np.array([0.3, 2.0, 25.0, 99.99, 100.0, 400.0])  # both sides of the switch
    direct = gammaln((moderate + p) / 2) - gammaln(moderate / 2) - p / 2 * np.log(
        moderate * np.pi)
    np.testing.assert_allclose(log_normaliser(moderate, p), direct, rtol=1e-13)
    # log G(a + b) - log G(a) = b log a + b(b-1)/(2a) - b(b-1)(2b-1)/(12 a^2) + O(a^-3)
    dof = np.array([1e6, 1e8, 1e12])
    a = dof / 2
    expansion = (-p / 2 * np.log(2 * np.pi) + b * (b - 1) / (2 * a)
                 - b * (b - 1) * (2 * b - 1) / (12 * a**2))
    np.testing.assert_allclose(log_normaliser(dof, p), expansion, rtol=0, atol=1e-13)
    assert log_normaliser(dof, 0).tolist() == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------ the nu M-step
def test_dof_update_maximises_the_expected_complete_data_log_likelihood():
    counts, terms = 80.0, -3.7  # S = sum r (E log u - E u + 1) <= 0
    nu = solve_dof(-terms / counts, (0.1, 200.0))
    grid = np.exp(np.linspace(np.log(0.1), np.log(200.0), 20001))
    values = [expected_dof_objective(g, counts, terms) for g in grid]
    assert nu == pytest.approx(grid[int(np.argmax(values))], rel=1e-3)
    best = expected_dof_objective(nu, counts, terms)
    for step in (1e-6, 1e-3):
        assert best >= expected_dof_objective(nu * (1 + step), counts, terms)
        assert best >= expected_dof_objective(nu * (1 - step), counts, terms)
    # bounds: an all-Gaussian sample (S = 0) gives the upper bound; a huge S the lower
    assert solve_dof(0.0, (0.1, 200.0)) == 200.0
    assert solve_dof(50.0, (0.1, 200.0)) == 0.1
    # empty components keep their value; shared pools the statistics
    out = update_dof(np.array([80.0, 0.0]), np.array([-3.7, 0.0]), np.array([5.0, 7.0]),
                     np.array([False, True]), False, (0.1, 200.0))
    assert out[1] == 7.0 and out[0] == pytest.approx(nu)
    shared = update_dof(np.array([40.0, 40.0]), np.array([-1.0, -2.7]), np.array([5.0, 5.0]),
                        np.array([False, False]), True, (0.1, 200.0))
    assert shared[0] == shared[1] == pytest.approx(nu)


# ------------------------------------------------------ direct optimisation
@pytest.mark.parametrize("dof", ["estimate", "shared"])
def test_no_direct_improvement_of_the_likelihood_from_the_em_solution(dof):
    """BFGS over all parameters (softmax weights, log-Cholesky scales, log nu), started
    at emkit's fit, finds no higher likelihood and stays where EM stopped."""
    X, _ = t_clusters(1, n=300, scale=[[1, 0], [0.5, 0.8]])
    with emkit.config_context(monotonic="raise"):
        tm = fit_tight(X, 2, dof=dof)
    n_dof = 2 if dof == "estimate" else 1
    theta = pack(tm.weights_, tm.means_, tm.covariances_, tm.degrees_of_freedom_[:n_dof])
    at_em = negative_log_likelihood(theta, X, 2, n_dof)
    assert at_em == pytest.approx(-tm.score_samples(X).sum(), rel=1e-13)
    result = minimize(negative_log_likelihood, theta, args=(X, 2, n_dof), method="BFGS",
                      options={"gtol": 1e-9, "maxiter": 500})
    assert at_em - result.fun <= 1e-9 * abs(at_em)
    np.testing.assert_allclose(result.x, theta, rtol=0, atol=1e-5)
    assert (tm.degrees_of_freedom_ < 10).all()  # interior: heavy tails are detected


def test_missing_values_reach_the_observed_data_maximum():
    """With 15% NaN the EM fixed point is the maximum of the observed-data likelihood
    (marginal t of the observed coordinates): direct BFGS finds nothing better."""
    X, _ = t_clusters(2, n=200, nu=5.0, means=((0, 0, 0), (4, 1, -2)),
                      scale=[[1, 0, 0], [0.5, 0.8, 0], [0.2, -0.3, 0.7]])
    X[np.random.default_rng(3).random(X.shape) < 0.15] = np.nan
    X[5] = np.nan
    with emkit.config_context(monotonic="raise"):
        tm = fit_tight(X, 2)
    theta = pack(tm.weights_, tm.means_, tm.covariances_, tm.degrees_of_freedom_)
    at_em = negative_log_likelihood(theta, X, 2, 2)
    assert at_em == pytest.approx(-tm.score_samples(X).sum(), rel=1e-13)
    assert tm.lower_bound_ == pytest.approx(-at_em / X.shape[0], rel=1e-9)
    result = minimize(negative_log_likelihood, theta, args=(X, 2, 2), method="L-BFGS-B",
                      options={"maxiter": 200, "ftol": 1e-15, "gtol": 1e-9})
    assert at_em - result.fun <= 1e-9 * abs(at_em)
    np.testing.assert_allclose(result.x, theta, rtol=0, atol=1e-4)


def test_one_component_with_fixed_dof_is_the_direct_maximiser():
    """K = 1, nu = 3 fixed: location and scale equal the direct maximiser's."""
    X, _ = t_clusters(4, n=250, nu=3.0, means=((1.0, -2.0, 0.5),),
                      scale=[[2, 0, 0], [0.3, 1, 0], [-0.5, 0.2, 0.4]])
    with emkit.config_context(monotonic="raise"):
        tm = fit_tight(X, 1, dof=3.0)
    assert tm.degrees_of_freedom_.tolist() == [3.0]
    assert tm.n_parameters() == 3 + 6  # location, scale; no weight, no nu
    theta = pack(tm.weights_, tm.means_, tm.covariances_, tm.degrees_of_freedom_)[:-1]
    start = pack(np.ones(1), X.mean(0, keepdims=True), np.cov(X.T)[None], np.ones(1))[:-1]
    result = minimize(negative_log_likelihood, start, args=(X, 1, 0, 3.0), method="BFGS",
                      options={"gtol": 1e-10, "maxiter": 2000})
    np.testing.assert_allclose(result.x, theta, rtol=0, atol=1e-6)
    assert -tm.score_samples(X).sum() <= result.fun + 1e-9 * abs(result.fun)


def test_large_fixed_dof_is_the_gaussian_mixture():
    """nu = 1e8: the fit is GaussianMixture's from the same start (to O(1/nu))."""
    X, _ = t_clusters(5, n=400, nu=50.0, means=((0, 0), (3, 2), (-1, 4)))
    start = GaussianMixture(3, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_, tol=1e-12, max_iter=5000)
    with emkit.config_context(monotonic="raise"):
        gm = GaussianMixture(3, **init).fit(X)
        tm = StudentTMixture(3, dof=1e8, accelerate=None, **init).fit(X)  # EM as gm
    np.testing.assert_allclose(tm.means_, gm.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(tm.covariances_, gm.covariances_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(tm.weights_, gm.weights_, rtol=0, atol=1e-7)
    assert tm.score(X) == pytest.approx(gm.score(X), rel=1e-7)
    # estimated on Gaussian data, nu runs to the upper bound (the likelihood is flat there)
    gaussian = np.random.default_rng(6).normal(size=(2000, 2))
    assert fit_tight(gaussian, 1).degrees_of_freedom_[0] > 100


# ------------------------------------------------------------------ outliers
def contaminated(seed):
    """Three clean Gaussian clusters (570 rows) plus 5% gross outliers (30 uniform rows)."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 6.0, 4.0]])
    z = rng.integers(3, size=570)
    clean = centers[z] + rng.normal(size=(570, 3))
    X = np.vstack([clean, rng.uniform(-40, 40, size=(30, 3))])
    truth = np.array([clean[z == k].mean(axis=0) for k in range(3)])
    # the same start for both mixtures: nearest true centre, outliers included
    labels = np.argmin(((X[:, None, :] - centers) ** 2).sum(axis=2), axis=1)
    return X, truth, labels


def location_error(means, truth):
    return min(np.abs(means[list(p)] - truth).max() for p in permutations(range(len(truth))))


@pytest.mark.parametrize("seed", [0, 1])
def test_gross_outliers_barely_move_the_t_locations(seed):
    X, truth, labels = contaminated(seed)
    with emkit.config_context(monotonic="raise"):
        tm = StudentTMixture(3, labels_init=labels).fit(X)
        gm = GaussianMixture(3, labels_init=labels, tol=1e-6, max_iter=500).fit(X)
    t_error, g_error = location_error(tm.means_, truth), location_error(gm.means_, truth)
    assert t_error < 0.15  # ~ the sampling error of 190 rows
    assert g_error > 3.0  # a Gaussian component is spent on the outliers
    weights = tm.precision_weights(X)
    assert weights[-30:].max() < 0.1  # every gross outlier is down-weighted
    assert np.median(weights[:-30]) > 0.9


def test_random_row_starts_find_the_robust_fit_and_the_gaussian_does_not():
    """The documented usage with outliers: nearest-seed partitions of random rows, 5 starts."""
    X, truth, _ = contaminated(2)
    start = dict(init_params="random_from_data", n_init=5, random_state=0)
    tm = StudentTMixture(3, **start).fit(X)
    gm = GaussianMixture(3, tol=1e-6, max_iter=500, **start).fit(X)
    assert location_error(tm.means_, truth) < 0.15
    assert location_error(gm.means_, truth) > 3.0


def test_corrupted_old_faithful_records_are_found_and_ignored():
    """docs/student-t.md: 14 of Old Faithful's 272 records replaced by garbage."""
    from emkit.datasets import load_faithful

    X = np.asarray(load_faithful())
    rng = np.random.default_rng(0)
    bad = rng.choice(len(X), size=14, replace=False)
    X_bad = X.copy()
    X_bad[bad] = rng.uniform([0, 0], [30, 600], size=(14, 2))
    start = dict(init_params="random_from_data", n_init=5, random_state=0)
    clean = GaussianMixture(2, **start).fit(X)
    gm = GaussianMixture(2, **start).fit(X_bad)
    tm = StudentTMixture(2, **start).fit(X_bad)
    order = np.argsort(clean.means_[:, 0])
    t_order = np.argsort(tm.means_[:, 0])
    np.testing.assert_allclose(tm.means_[t_order], clean.means_[order], atol=0.3)
    assert np.abs(gm.means_).max() > 100  # a Gaussian component sits on the garbage
    weights = tm.precision_weights(X_bad)
    assert set(np.argsort(weights)[:14]) == set(bad)  # the 14 smallest weights
    assert weights[bad].max() < 0.05 and np.median(np.delete(weights, bad)) > 0.95
    kept = np.setdiff1d(np.arange(len(X)), bad)
    same = clean.predict(X)[kept] == tm.predict(X_bad)[kept]
    assert max(same.mean(), 1 - same.mean()) > 0.97
    assert tm.bic(X_bad) < gm.bic(X_bad) - 100


def test_a_heavy_tailed_start_escapes_the_outlier_component():
    """dof_init=4 (default) reaches the robust fit from a contaminated partition where
    a nearly Gaussian start (50) gets stuck with one component on the outliers."""
    X, truth, labels = contaminated(0)
    robust = StudentTMixture(3, labels_init=labels).fit(X)
    stuck = StudentTMixture(3, labels_init=labels, dof_init=50.0).fit(X)
    assert location_error(robust.means_, truth) < 0.15
    assert location_error(stuck.means_, truth) > 3.0
    assert robust.lower_bound_ > stuck.lower_bound_ + 0.1


def test_precision_weights_are_posterior_means_of_u():
    X, _ = t_clusters(7, n=120)
    X[::9, 1] = np.nan
    tm = StudentTMixture(2, random_state=0).fit(X)
    per = tm.precision_weights(X, by_component=True)
    resp = tm.predict_proba(X)
    np.testing.assert_allclose(tm.precision_weights(X), (resp * per).sum(axis=1), rtol=1e-12)
    structure = get_structure("full")
    for i in (0, 9):  # complete and incomplete rows
        o = ~np.isnan(X[i])
        for k in range(2):
            scale = structure.component_covariance(tm.covariances_, k, 2)[np.ix_(o, o)]
            d = X[i, o] - tm.means_[k, o]
            delta = d @ np.linalg.solve(scale, d)
            nu = tm.degrees_of_freedom_[k]
            assert per[i, k] == pytest.approx((nu + o.sum()) / (nu + delta), rel=1e-12)


# ------------------------------------------------------------ structures
@pytest.mark.parametrize("covariance_type", MCLUST_MODELS)
def test_every_structure_is_monotone_and_a_fixed_point(covariance_type):
    X, _ = t_clusters(8, n=240, nu=3.0, means=((0, 0), (5, 1), (1, 6)),
                      scale=[[1.2, 0], [0.4, 0.7]])
    with emkit.config_context(monotonic="raise"):
        tm = StudentTMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-10,
                             accelerate="squarem").fit(X)
        again = StudentTMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=1,
                                accelerate=None, weights_init=tm.weights_,
                                means_init=tm.means_, precisions_init=tm.precisions_,
                                dof_init=tm.degrees_of_freedom_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            again.fit(X)
    assert tm.converged_
    assert np.all(np.diff(tm.lower_bounds_) >= -1e-12 * abs(tm.lower_bound_))
    # one more EM step from the fit changes nothing: a fixed point
    np.testing.assert_allclose(again.means_, tm.means_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(again.covariances_, tm.covariances_, rtol=0, atol=1e-4)
    assert get_structure(covariance_type).shape(3, 2) == np.shape(tm.covariances_)


def test_nested_structures_order_the_likelihoods():
    """More constrained scale structures cannot fit better (from the same partition)."""
    X, z = t_clusters(9, n=300, nu=3.0, means=((0, 0), (5, 1), (1, 6)),
                      scale=[[1.2, 0], [0.4, 0.7]])
    loglik = {}
    for name in ("EII", "VII", "VVI", "VVV", "EEE"):
        loglik[name] = fit_tight(X, 3, covariance_type=name, labels_init=z).score(X)
    assert loglik["EII"] <= loglik["VII"] + 1e-9 <= loglik["VVI"] + 2e-9
    assert loglik["VVI"] <= loglik["VVV"] + 1e-9
    assert loglik["EEE"] <= loglik["VVV"] + 1e-9


def test_one_dimensional_models():
    X, _ = t_clusters(10, n=200, means=((0.0,), (6.0,)))
    for name in ("E", "V"):
        tm = StudentTMixture(2, covariance_type=name, random_state=0).fit(X)
        assert tm.covariances_.shape == (2,)
    with pytest.raises(ValueError, match="one-dimensional"):
        StudentTMixture(2, covariance_type="E").fit(np.c_[X, X])


# ------------------------------------------------------------------ engine
def test_chunked_statistics_add_up_to_the_one_chunk_fit():
    """The same 40 iterations on one chunk and on 14: equal up to rounding (the
    start too: missing entries are filled from all rows, not per chunk)."""
    X, z = t_clusters(11, n=500)
    X[::13, 0] = np.nan
    fits = []
    for chunk_size in (500, 37):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(StudentTMixture(2, labels_init=z, tol=0.0, max_iter=40,
                                        chunk_size=chunk_size, accelerate=None).fit(X))
    one, many = fits
    np.testing.assert_allclose(many.lower_bounds_, one.lower_bounds_, rtol=1e-13)
    for attr in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        np.testing.assert_allclose(getattr(many, attr), getattr(one, attr), rtol=1e-11)


def test_a_refilled_chunk_buffer_gets_its_own_missing_layout():
    """A streamed source may reuse one buffer for other rows: the cached NaN layout
    must follow the buffer's contents, not its address."""
    family = StudentTFamily("full")
    params = family.params_from_fields(means=np.zeros((2, 3)),
                                       covariances=np.array([np.eye(3)] * 2), dof=4.0)
    rng = np.random.default_rng(0)
    buffer = rng.normal(size=(50, 3))
    buffer[::3, 0] = np.nan
    first = family.log_prob(params, buffer)
    buffer[:] = rng.normal(size=(50, 3))
    buffer[1::4, 2] = np.nan
    refilled = family.log_prob(params, buffer)
    fresh = StudentTFamily("full").log_prob(params, buffer.copy())
    np.testing.assert_array_equal(refilled, fresh)
    assert not np.array_equal(first, refilled)


def test_squarem_with_per_component_dof_reaches_the_same_maximum():
    X, _ = t_clusters(12, n=300)
    with emkit.config_context(monotonic="raise"):
        plain = StudentTMixture(2, labels_init=np.arange(300) % 2, tol=1e-13,
                                max_iter=5000, accelerate=None).fit(X)
        fast = StudentTMixture(2, labels_init=np.arange(300) % 2, tol=1e-13, max_iter=5000,
                               accelerate="squarem").fit(X)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-11)
    assert fast.n_iter_ < plain.n_iter_ / 3
    # plain ECM converges linearly in nu; both sit within what tol allows of the maximum
    np.testing.assert_allclose(fast.degrees_of_freedom_, plain.degrees_of_freedom_, rtol=1e-3)
    np.testing.assert_allclose(fast.means_, plain.means_, rtol=0, atol=1e-4)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV"])
def test_compiled_kernels_match_the_numpy_path(covariance_type):
    pytest.importorskip("numba")
    X, _ = t_clusters(13, n=700, means=((0, 0, 0), (4, 1, -2), (1, 5, 0)),
                      scale=[[1, 0, 0], [0.5, 0.8, 0], [0.2, -0.3, 0.7]])
    X += 100.0  # offset data: moments are taken about centres
    fits = {}
    for kernels in ("numba", "numpy"):
        with emkit.config_context(kernels=kernels, monotonic="raise"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits[kernels] = StudentTMixture(3, covariance_type=covariance_type, tol=0,
                                                max_iter=30, random_state=0,
                                                accelerate=None).fit(X)
    fast, ref = fits["numba"], fits["numpy"]
    np.testing.assert_allclose(fast.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
    for attr in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        np.testing.assert_allclose(getattr(fast, attr), getattr(ref, attr), rtol=1e-9,
                                   atol=1e-12, err_msg=attr)


def test_compiled_e_step_statistics_equal_the_generic_ones():
    pytest.importorskip("numba")
    from emkit.families.mixture import MixtureParams

    X, _ = t_clusters(14, n=333, means=((0, 0), (4, 1), (1, 5)))
    tm = StudentTMixture(3, random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tm.fit(X)
    model = tm._engine_model()
    params = tm._params()
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    with emkit.config_context(kernels="numba"):
        row, stats = model.soft_e_step(params, X, w)
    log_joint = model.log_joint(params, X)
    ref_row = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - ref_row[:, None]) * w[:, None]
    ref = model.statistics(params, X, resp)
    np.testing.assert_allclose(row, ref_row, rtol=1e-13)
    assert stats.allclose(ref, rtol=1e-11, atol=1e-12)
    assert isinstance(params, MixtureParams)


# ------------------------------------------------------------------ API
def test_user_starting_values_are_used():
    X, _ = t_clusters(15, n=100)
    start = dict(weights_init=[0.3, 0.7], means_init=[[0.0, 0.0], [4.0, 1.0]],
                 precisions_init=np.array([np.eye(2), 2 * np.eye(2)]), dof_init=[3.0, 7.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tm = StudentTMixture(2, max_iter=0, **start).fit(X)
    np.testing.assert_array_equal(tm.weights_, [0.3, 0.7])
    np.testing.assert_array_equal(tm.degrees_of_freedom_, [3.0, 7.0])
    np.testing.assert_allclose(tm.covariances_[1], 0.5 * np.eye(2))
    np.testing.assert_allclose(tm.precisions_, start["precisions_init"])


def test_parameter_counts_and_component_covariances():
    X, _ = t_clusters(16, n=200)
    for dof, extra in (("estimate", 2), ("shared", 1), (5.0, 0)):
        tm = StudentTMixture(2, dof=dof, random_state=0).fit(X)
        assert tm.n_parameters() == 1 + 2 * 2 + 2 * 3 + extra
    tm = StudentTMixture(2, dof=[1.5, 6.0], random_state=0).fit(X)
    cov = tm.component_covariances()
    assert np.isinf(cov[0]).all()
    np.testing.assert_allclose(cov[1], 1.5 * tm.covariances_[1])


def test_sample_has_the_t_covariance():
    X, _ = t_clusters(17, n=200)
    tm = StudentTMixture(2, dof=[6.0, 8.0], random_state=0).fit(X)
    rows, labels = tm.sample(200_000, random_state=1)
    cov = tm.component_covariances()
    for k in range(2):
        part = rows[labels == k]
        np.testing.assert_allclose(part.mean(axis=0), tm.means_[k], atol=0.03)
        np.testing.assert_allclose(np.cov(part.T), cov[k], rtol=0.05, atol=0.03)


@pytest.mark.parametrize("params, message", [
    ({"dof": 0.0}, "dof must be > 0"),
    ({"dof": -2}, "dof must be > 0"),
    ({"dof": "gauss"}, "dof must be 'estimate', 'shared'"),
    ({"dof": [1.0, 2.0, 3.0]}, "one value per component"),
    ({"dof_init": 500.0}, "dof_init must lie within dof_bounds"),
    ({"dof_bounds": (5.0, 1.0)}, "dof_bounds must satisfy"),
    ({"dof_bounds": 3}, "dof_bounds must be a pair"),
    ({"reg_covar": -1.0}, "reg_covar"),
    ({"covariance_type": "XYZ"}, "covariance_type"),
    ({"means_init": np.zeros((3, 2))}, "means_init must have shape"),
    ({"precisions_init": np.ones((2, 2))}, "precisions_init must have shape"),
])
def test_bad_parameters_are_named(params, message):
    X, _ = t_clusters(18, n=50)
    with pytest.raises(ValueError, match=message):
        StudentTMixture(2, **params).fit(X)


def test_warm_start_refuses_changed_fixed_dof_and_structure():
    X, _ = t_clusters(19, n=150)
    tm = StudentTMixture(2, dof=4.0, random_state=0, warm_start=True).fit(X)
    tm.set_params(dof=6.0)
    with pytest.warns(UserWarning, match="differ from the fixed dof"):
        tm.fit(X)
    assert tm.degrees_of_freedom_.tolist() == [6.0, 6.0]
    tm.set_params(covariance_type="diag")
    with pytest.warns(UserWarning, match="covariance_type"):
        tm.fit(X)
    tm.set_params(dof="estimate")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tm.fit(X)  # continues from the fixed-dof fit
    assert tm.converged_


def test_the_docstring_example_runs():
    import emkit.models.student_t as module

    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical", "VEV"])
@pytest.mark.parametrize("dof", ["estimate", 5.0])
@pytest.mark.parametrize("missing", [False, True])
def test_expected_log_prob_plus_entropy_is_the_log_likelihood(covariance_type, dof, missing):
    """Q + H(z) from the statistics is the log-likelihood at the E-step's parameters:
    the entropy statistic holds H(u | x) and, for missing entries, H(x_M | x_O, u)."""
    from emkit.em.engine import soft_assignment

    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 0.0, 1.0], [8.0, 2.0, 0.0], [2.0, 9.0, 3.0]])
    labels = rng.integers(3, size=300)
    u = rng.gamma(1.5, 1 / 1.5, size=300)
    X = centers[labels] + rng.normal(size=(300, 3)) / np.sqrt(u)[:, None]
    if missing:
        X[rng.random(X.shape) < 0.15] = np.nan
        X[5] = np.nan  # a row with nothing observed
    est = StudentTMixture(3, covariance_type=covariance_type, dof=dof, random_state=0).fit(X)
    model, params = est._engine_model(), est._params()
    log_norm, resp = soft_assignment(model.log_joint(params, X))
    entropy = -float((resp * np.log(np.where(resp > 0, resp, 1.0))).sum())
    generic = model.statistics(params, X, resp)
    assert model.expected_log_joint(params, generic) + entropy == pytest.approx(
        log_norm.sum(), rel=1e-12)
    fused = model.soft_e_step(params, np.ascontiguousarray(X), np.ones(X.shape[0]))
    if fused is not None:  # the compiled E-step's statistics give the same
        assert model.expected_log_joint(params, fused[1]) + entropy == pytest.approx(
            log_norm.sum(), rel=1e-12)
