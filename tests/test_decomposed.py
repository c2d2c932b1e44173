"""mclust's covariance models: M-steps against direct numerical optimisation.

Every model is parametrised here independently of the library, as
Sigma_k = lambda_k D_k diag(A_k) D_k' with the constraints its three letters
impose (volume, shape, orientation: E equal, V variable, I identity), and
perturbed around a fitted value: volumes by exp(a), shapes by exp(s) with
sum(s) = 0, orientations by expm(skew).  The number of free perturbation
coordinates must equal ``n_parameters``; BFGS started at the library's answer
must not find anything better.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, optimize
from scipy.special import logsumexp

import emkit
from emkit import GaussianMixture
from emkit.datasets import load_faithful
from emkit.families import decomposed
from emkit.families.decomposed import common_orientation
from emkit.families.gaussian import GaussianMixtureModel
from emkit.families.structures import (
    MCLUST_MODELS,
    SKLEARN_ALIASES,
    get_structure,
    mclust_name,
)

from .conftest import make_blobs

ITERATIVE = ["VEI", "VEE", "EVE", "VVE", "VEV"]


# ------------------------------------------------------------ parametrisation
def _letters(name: str) -> str:
    name = mclust_name(name)
    return name + "II" if len(name) == 1 else name


def _full(structure, covariances, K, D) -> np.ndarray:
    return np.stack([structure.component_covariance(covariances, k, D) for k in range(K)])


def decompose(name: str, sigma: np.ndarray):
    """(volumes (K,), shapes (K, D), orientations (K, D, D)) of full covariances."""
    _K, D, _ = sigma.shape
    orientation = _letters(name)[2]
    if orientation == "I":
        vectors = np.broadcast_to(np.eye(D), sigma.shape).copy()
        values = np.diagonal(sigma, axis1=1, axis2=2).copy()
    elif orientation == "E":
        common = common_orientation(sigma)
        vectors = np.broadcast_to(common, sigma.shape).copy()
        values = np.einsum("ji,kjl,li->ki", common, sigma, common)
    else:
        values, vectors = np.linalg.eigh(sigma)
        values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    volumes = np.exp(np.log(values).mean(axis=1))
    return volumes, values / volumes[:, None], vectors


def _skew(coordinates: np.ndarray, D: int) -> np.ndarray:
    S = np.zeros((D, D))
    S[np.triu_indices(D, 1)] = coordinates
    return S - S.T


class Perturbation:
    """Sigma(theta) around a decomposed point, with the model's free coordinates only."""

    def __init__(self, name: str, sigma: np.ndarray):
        self.letters = _letters(name)
        self.K, self.D, _ = sigma.shape
        self.volumes, self.shapes, self.vectors = decompose(name, sigma)
        K, D = self.K, self.D
        volume, shape, orientation = self.letters
        self.sizes = {
            "volume": {"E": 1, "V": K}[volume],
            "shape": {"I": 0, "E": D - 1, "V": K * (D - 1)}[shape],
            "orientation": {"I": 0, "E": D * (D - 1) // 2, "V": K * D * (D - 1) // 2}[
                orientation
            ],
        }
        self.size = sum(self.sizes.values())

    def _split(self, theta):
        out, start = {}, 0
        for key, size in self.sizes.items():
            out[key] = theta[start : start + size]
            start += size
        return out

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        K, D = self.K, self.D
        parts = self._split(np.asarray(theta, dtype=float))
        volumes = self.volumes * np.exp(np.broadcast_to(parts["volume"], (K,)))
        if self.sizes["shape"]:
            s = parts["shape"].reshape(-1, D - 1)
            s = np.concatenate([s, -s.sum(axis=1, keepdims=True)], axis=1)
            shapes = self.shapes * np.exp(np.broadcast_to(s, (K, D)))
        else:
            shapes = self.shapes
        vectors = self.vectors
        if self.sizes["orientation"]:
            per = parts["orientation"].reshape(-1, D * (D - 1) // 2)
            rotations = [linalg.expm(_skew(c, D)) for c in per]
            rotations = rotations * K if len(rotations) == 1 else rotations
            vectors = np.stack([v @ r for v, r in zip(vectors, rotations, strict=True)])
        values = volumes[:, None] * shapes
        return np.einsum("kij,kj,klj->kil", vectors, values, vectors)


def central_gradient(function, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Central finite differences (forward ones are too coarse for the rotation angles)."""
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step
        out[i] = (function(x + e) - function(x - e)) / (2 * step)
    return out


def q_value(counts, scatter, sigma) -> float:
    """-1/2 sum_k [n_k log|S_k| + tr(W_k S_k^-1)]."""
    _, logdet = np.linalg.slogdet(sigma)
    traces = np.einsum("kij,kji->k", scatter, np.linalg.inv(sigma))
    return float(-0.5 * (counts * logdet + traces).sum())


def _stats(K=3, D=3, seed=0):
    X = make_blobs(dim=D, seed=seed)
    resp = np.random.default_rng(seed).dirichlet(np.ones(K), size=len(X))
    model = GaussianMixtureModel("full", reg_covar=0.0)
    stats = model.statistics_about(X, resp, np.tile(X.mean(0), (K, 1)))
    means = stats.centers + stats.first / stats.counts[:, None]
    diff = X[:, None, :] - means[None]
    scatter = np.einsum("nk,nki,nkj->kij", resp, diff, diff)
    return X, resp, stats.counts, scatter


def _m_step(name, X, resp, previous=None, reg_covar=0.0):
    model = GaussianMixtureModel(name, reg_covar=reg_covar)
    K = resp.shape[1]
    centers = np.tile(X.mean(0), (K, 1))
    structure_stats = model.statistics_about(X, resp, centers)
    params = model.maximize(structure_stats)
    if previous is not None:
        counts = structure_stats.counts
        means = structure_stats.centers + structure_stats.first / counts[:, None]
        covariances = model.structure.estimate(
            counts, structure_stats.first, structure_stats.second, reg_covar, previous
        )
        return means, covariances
    return params.means, params.covariances


ALL_MODELS = list(MCLUST_MODELS)


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("D", [2, 3, 4])
def test_parameter_count_matches_the_constraint_set(name, D):
    K = 3
    structure = get_structure(name)
    sigma = np.stack([np.eye(D) * (k + 1) for k in range(K)])
    assert Perturbation(name, sigma).size == structure.n_parameters(K, D)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("seed", [0, 1])
def test_m_step_maximises_q_over_the_model(name, seed):
    X, resp, counts, scatter = _stats(seed=seed)
    K, D = resp.shape[1], X.shape[1]
    structure = get_structure(name)
    _, covariances = _m_step(name, X, resp)
    sigma = _full(structure, covariances, K, D)
    chart = Perturbation(name, sigma)
    np.testing.assert_allclose(chart.sigma(np.zeros(chart.size)), sigma, rtol=1e-9,
                               atol=1e-12 * np.abs(sigma).max())

    def loss(theta):
        return -q_value(counts, scatter, chart.sigma(theta))

    best = loss(np.zeros(chart.size))
    found = optimize.minimize(loss, np.zeros(chart.size), method="BFGS",
                              options={"gtol": 1e-10})
    assert found.fun >= best - 1e-9 * abs(best)
    gradient = central_gradient(loss, np.zeros(chart.size))
    assert np.abs(gradient).max() <= 1e-5 * np.abs(counts).sum()


@pytest.mark.parametrize("name", ITERATIVE)
@pytest.mark.parametrize("rounds", [1, 200])
def test_warm_started_inner_iteration_never_lowers_q(name, rounds, monkeypatch):
    """From any point of the model set, the M-step does not lower Q (one round suffices)."""
    monkeypatch.setattr(decomposed, "INNER_MAX_ITER", rounds)
    X, resp, counts, scatter = _stats(seed=3)
    K, D = resp.shape[1], X.shape[1]
    structure = get_structure(name)
    _, optimum = _m_step(name, X, resp)
    chart = Perturbation(name, _full(structure, optimum, K, D))
    rng = np.random.default_rng(0)
    for _ in range(5):
        start = chart.sigma(rng.normal(scale=0.7, size=chart.size))
        previous = start if optimum.ndim == 3 else np.diagonal(start, axis1=1, axis2=2)
        _, covariances = _m_step(name, X, resp, previous=previous)
        new = q_value(counts, scatter, _full(structure, covariances, K, D))
        old = q_value(counts, scatter, start)
        assert new >= old - 1e-10 * abs(old)


def _assert_structure(name, covariances, K, D, rtol=1e-7):
    sigma = _full(get_structure(name), covariances, K, D)
    volumes, shapes, vectors = decompose(name, sigma)
    volume, shape, _orientation = _letters(name)
    rebuilt = np.einsum("kij,kj,klj->kil", vectors, volumes[:, None] * shapes, vectors)
    np.testing.assert_allclose(rebuilt, sigma, rtol=rtol, atol=rtol * np.abs(sigma).max())
    if volume == "E":
        np.testing.assert_allclose(volumes, volumes[0], rtol=rtol)
    if shape == "E":
        np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=rtol)
    if shape == "I":
        np.testing.assert_allclose(shapes, 1.0, rtol=rtol)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("reg_covar", [0.0, 0.05])
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_fitted_covariances_have_the_model_structure(name, reg_covar, accelerate):
    X = load_faithful()
    gm = GaussianMixture(3, covariance_type=name, reg_covar=reg_covar, random_state=0,
                         tol=1e-8, max_iter=500, accelerate=accelerate).fit(X)
    _assert_structure(name, gm.covariances_, 3, 2)
    if reg_covar == 0.0:  # with reg_covar only the GEM inequality holds (engine-checked)
        assert np.all(np.diff(gm.lower_bounds_) >= -1e-12 * np.abs(gm.lower_bounds_[1:]))


def _full_chart(gm, X):
    """Total log-likelihood as a function of (logits, means, covariance chart)."""
    K, D = gm.means_.shape
    name = gm.covariance_type
    chart = Perturbation(name, _full(get_structure(name), gm.covariances_, K, D))
    logits0 = np.log(gm.weights_)

    def loglik(theta):
        logits = logits0 + np.concatenate([[0.0], theta[: K - 1]])
        means = gm.means_ + theta[K - 1 : K - 1 + K * D].reshape(K, D)
        sigma = chart.sigma(theta[K - 1 + K * D :])
        log_weights = logits - logsumexp(logits)
        columns = []
        for k in range(K):
            lower = np.linalg.cholesky(sigma[k])
            z = linalg.solve_triangular(lower, (X - means[k]).T, lower=True)
            columns.append(log_weights[k] - 0.5 * (z * z).sum(0)
                           - np.log(np.diag(lower)).sum() - 0.5 * D * np.log(2 * np.pi))
        return float(logsumexp(np.stack(columns, 1), axis=1).sum())

    return loglik, K - 1 + K * D + chart.size


@pytest.mark.parametrize("name", [*ITERATIVE, "EVV", "EEV", "EVI"])
def test_em_fit_is_a_stationary_point_of_the_likelihood(name):
    """The converged fit has zero gradient (mclust's VVE does not, see the parity tests)."""
    X = load_faithful()
    gm = GaussianMixture(3, covariance_type=name, reg_covar=0.0, random_state=1,
                         tol=1e-14, max_iter=20_000).fit(X)
    loglik, size = _full_chart(gm, X)
    assert size == gm.n_parameters()
    zero = np.zeros(size)
    assert loglik(zero) == pytest.approx(gm.score(X) * len(X), rel=1e-12)
    gradient = central_gradient(loglik, zero)
    # EM converges linearly: at tol 1e-14 the gradient is still ~1e-4 (EEV: 1.4e-4,
    # 2.7e-6 after 40,000 iterations); a non-stationary point shows O(1) entries
    assert np.abs(gradient).max() < 1e-3
    found = optimize.minimize(lambda t: -loglik(t), zero, method="BFGS")
    assert -found.fun <= loglik(zero) + 1e-7 * abs(loglik(zero))


def test_univariate_models_need_one_column():
    X = load_faithful()
    with pytest.raises(ValueError, match=r"one-dimensional data.*2 columns"):
        GaussianMixture(2, covariance_type="E").fit(X)


@pytest.mark.parametrize(("univariate", "multivariate"), [("E", "EII"), ("V", "VII")])
def test_univariate_models_equal_their_multivariate_forms(univariate, multivariate):
    x = load_faithful()[:, 1:]
    fits = [GaussianMixture(3, covariance_type=name, reg_covar=0.0, random_state=0,
                            tol=1e-10, max_iter=1000).fit(x)
            for name in (univariate, multivariate)]
    np.testing.assert_allclose(fits[0].covariances_, fits[1].covariances_, rtol=1e-10)
    assert fits[0].n_parameters() == fits[1].n_parameters()


@pytest.mark.parametrize(("alias", "name"), sorted(SKLEARN_ALIASES.items()))
def test_sklearn_names_are_aliases(alias, name):
    X = load_faithful()
    a, b = (GaussianMixture(3, covariance_type=c, random_state=0).fit(X) for c in (alias, name))
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    assert a.bic(X) == b.bic(X)


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"covariance_type must be one of.*VEV.*got 'XYZ'"):
        GaussianMixture(2, covariance_type="XYZ").fit(load_faithful())


@pytest.mark.parametrize("name", ALL_MODELS)
def test_sampling_follows_the_fitted_model(name):
    X = load_faithful()
    gm = GaussianMixture(2, covariance_type=name, random_state=0).fit(X)
    draws, labels = gm.sample(20_000, random_state=1)
    k = int(np.argmax(gm.weights_))
    cov = get_structure(name).component_covariance(gm.covariances_, k, 2)
    np.testing.assert_allclose(np.cov(draws[labels == k].T), cov, rtol=0.08, atol=0.02 * cov.max())


def test_strict_monotone_mode_on_iris_all_models():
    from sklearn.datasets import load_iris

    X = load_iris().data
    with emkit.config_context(monotonic="raise"):
        for name in ALL_MODELS:
            gm = GaussianMixture(4, covariance_type=name, reg_covar=0.0, random_state=0,
                                 tol=1e-10, max_iter=300).fit(X)
            _assert_structure(name, gm.covariances_, 4, 4, rtol=1e-6)


def test_vee_inner_iteration_stops_once_the_common_shape_is_singular(monkeypatch):
    """All components on one line: the pooled shape is singular, the result all NaN
    (reported by the caller as degenerate) after one round, not INNER_MAX_ITER rounds
    of NaN arithmetic (they cost 28 ms per M-step in select_model on iris)."""
    rounds = []
    real = decomposed._full_objective

    def counting(*args):
        rounds.append(1)
        return real(*args)

    monkeypatch.setattr(decomposed, "_full_objective", counting)
    t = np.linspace(-1.0, 1.0, 40)
    X = np.column_stack([t, 2.0 * t])  # rank 1
    resp = np.zeros((40, 2))
    resp[:20, 0] = resp[20:, 1] = 1.0
    counts = resp.sum(axis=0)
    first = resp.T @ X
    second = np.einsum("ik,ia,ib->kab", resp, X, X)
    with np.errstate(all="ignore"):
        out = get_structure("VEE").estimate(counts, first, second, 0.0)
    assert np.isnan(out).all()
    assert len(rounds) == 0
