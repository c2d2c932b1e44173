"""GaussianMixture(fit_method="gradient") with mclust's constrained covariance models.

References: central finite differences of the log-likelihood (the analytic
gradient through volumes, zero-sum log-shapes and rotations), scipy's
``expm`` / ``expm_frechet`` (the exponential of skew matrices and the adjoint
of its derivative), EM from the same start (the optimum), and the models'
definitions (equal volumes, shapes, orientations).
"""

import numpy as np
import pytest
from scipy.linalg import expm, expm_frechet
from scipy.optimize import check_grad
from sklearn.datasets import load_iris

import emkit.families.gaussian_gradient_constrained as constrained
from emkit import GaussianMixture
from emkit.datasets import load_faithful
from emkit.em.engine import expectation
from emkit.families.decomposed import common_orientation
from emkit.families.gaussian import GaussianMixtureModel
from emkit.families.gaussian_gradient_constrained import (
    ConstrainedParametrisation,
    exp_adjoint,
    exp_skew,
    zero_sum_basis,
)
from emkit.models._base import make_source

MODELS = ("VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV")


def separated(n=60, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n, dim)) @ (np.eye(dim) + 0.3 * rng.normal(size=(dim, dim)))
                      + 5.0 * k for k in range(3)])


def test_exponential_of_skew_matrices_and_its_adjoint_derivative():
    rng = np.random.default_rng(0)
    for dim in (2, 3, 5):
        A = rng.normal(size=(4, dim, dim))
        S = A - A.transpose(0, 2, 1)
        S[0] = 0.0  # the identity rotation (all eigenvalues equal)
        S[1] *= 1e-9  # nearly equal eigenvalues
        R, decomposition = exp_skew(S)
        Z = rng.normal(size=(4, dim, dim))
        Y = exp_adjoint(decomposition, Z)
        for k in range(4):
            np.testing.assert_allclose(R[k], expm(S[k]), atol=1e-13)
            np.testing.assert_allclose(Y[k], expm_frechet(S[k].T, Z[k], compute_expm=False),
                                       atol=1e-12)
        np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(dim), R.shape),
                                   atol=1e-13)
    B = zero_sum_basis(4)
    np.testing.assert_allclose(B.T @ B, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(B.sum(axis=0), 0.0, atol=1e-15)


def _loglik_and_gradient(model, param, X, weights):
    source = make_source(X, weights, None, 10)

    def loglik(t):
        stats, mean = expectation(model, param.unpack(t), source)
        return mean * stats.counts.sum()

    def gradient(t):
        params = param.unpack(t)
        stats, _ = expectation(model, params, source)
        return param.gradient(t, params, stats)

    return loglik, gradient


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradient_equals_central_differences(name, reg):
    rng = np.random.default_rng(1)
    X = separated() * [1.0, 10.0, 0.5]  # features in different units
    weights = rng.uniform(0.2, 3.0, size=X.shape[0])
    start = GaussianMixture(3, covariance_type=name, reg_covar=reg, max_iter=2, tol=10.0,
                            random_state=0).fit(X)._params()
    model = GaussianMixtureModel(name, reg)
    param = ConstrainedParametrisation(model, 3, 3, start)
    theta = param.pack(start) + rng.normal(scale=0.3, size=param.size)
    loglik, gradient = _loglik_and_gradient(model, param, X, weights)
    analytic = gradient(theta)
    h = 1e-5
    numeric = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    assert np.abs(numeric - analytic).max() <= 1e-6 * np.abs(numeric).max()
    assert check_grad(loglik, gradient, theta) <= 1e-5 * np.linalg.norm(numeric)
    # parameters -> theta -> parameters is the identity (theta itself is one of several
    # equivalent ones for large rotations: columns of D permuted with the shapes')
    params = param.unpack(theta)
    again = param.unpack(param.pack(params))
    np.testing.assert_allclose(again.covariances, params.covariances,
                               atol=1e-12 * np.abs(params.covariances).max())
    np.testing.assert_allclose(again.means, params.means, atol=1e-12)
    # and theta -> parameters -> theta near the start
    near = param.pack(start) + rng.normal(scale=0.05, size=param.size)
    np.testing.assert_allclose(param.pack(param.unpack(near)), near, atol=1e-10)


@pytest.mark.parametrize("name", ["EVE", "VEV"])
def test_gradient_with_missing_values_equals_central_differences(name):
    """Fisher's identity holds for the observed part of every row."""
    rng = np.random.default_rng(2)
    X = separated()
    start = GaussianMixture(3, covariance_type=name, reg_covar=0.1, max_iter=2, tol=10.0,
                            random_state=0).fit(X)._params()
    X[rng.uniform(size=X.shape) < 0.15] = np.nan
    model = GaussianMixtureModel(name, 0.1)
    param = ConstrainedParametrisation(model, 3, 3, start)
    theta = param.pack(start) + rng.normal(scale=0.1, size=param.size)
    loglik, gradient = _loglik_and_gradient(model, param, X, None)
    h = 1e-5
    numeric = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                        for e in np.eye(theta.size)])
    assert np.abs(numeric - gradient(theta)).max() <= 1e-6 * np.abs(numeric).max()


def _matched(reference, other):
    """Component order of ``other`` matching ``reference``'s means."""
    order = [int(np.argmin(np.abs(other.means_ - mean).sum(axis=1)))
             for mean in reference.means_]
    assert sorted(order) == list(range(len(order)))
    return order


def check_constraints(name, covariances, reg=0.0, atol=1e-10):
    """The model's equalities for ``Sigma_k - reg I`` (relative to their scale)."""
    cov = np.asarray(covariances, dtype=float)
    D = cov.shape[-1]
    if cov.ndim == 2:  # diagonal storage (orientation I)
        free = cov - reg
        eigen = free
    else:
        free = cov - reg * np.eye(D)
        if name[2] == "E":
            orientation = common_orientation(free)
            rotated = orientation.T @ free @ orientation
            off = rotated - np.einsum("kii->ki", rotated)[:, :, None] * np.eye(D)
            assert np.abs(off).max() <= atol * np.abs(rotated).max()
            eigen = np.einsum("kii->ki", rotated)
        else:
            eigen = np.linalg.eigvalsh(free)  # increasing: an equal shape pairs them
    volumes = np.exp(np.log(eigen).mean(axis=1))
    shapes = eigen / volumes[:, None]
    assert (eigen > 0).all()
    if name[0] == "E":
        assert np.ptp(np.log(volumes)) <= atol
    if name[1] == "E":
        assert np.abs(shapes - shapes[0]).max() <= atol * shapes.max()
    return volumes, shapes


DATA = {"faithful": lambda: np.asarray(load_faithful(), dtype=float),
        "iris": lambda: load_iris().data}


@pytest.mark.parametrize("data", ["faithful", "iris"])
@pytest.mark.parametrize("name", MODELS)
def test_same_optimum_as_em(name, data):
    X = DATA[data]()
    common = dict(covariance_type=name, reg_covar=0.0, max_iter=5000, random_state=0)
    em = GaussianMixture(2, tol=1e-12, **common).fit(X)
    gradient = GaussianMixture(2, tol=1e-12, fit_method="gradient", **common).fit(X)
    assert gradient.converged_
    # the same optimum from the same start (EM's own tolerance, not the 1e-6 asked)
    assert gradient.score(X) >= em.score(X) - 1e-10
    assert gradient.score(X) == pytest.approx(em.score(X), abs=1e-9)
    order = _matched(em, gradient)
    np.testing.assert_allclose(gradient.means_[order], em.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gradient.covariances_[order], em.covariances_, rtol=1e-3,
                               atol=1e-4 * np.abs(em.covariances_).max())
    check_constraints(name, gradient.covariances_)
    assert np.all(np.diff(gradient.lower_bounds_) >= -1e-12)


@pytest.mark.parametrize("name", ["VEI", "EVE", "VEV"])
def test_reg_covar_is_a_floor_and_the_constraints_hold_beneath_it(name):
    X = separated()
    reg = 0.2
    gradient = GaussianMixture(3, covariance_type=name, reg_covar=reg, tol=1e-12,
                               max_iter=3000, random_state=0, fit_method="gradient").fit(X)
    cov = np.asarray(gradient.covariances_)
    smallest = cov.min() if cov.ndim == 2 else np.linalg.eigvalsh(cov).min()
    assert smallest >= reg * (1 - 1e-12)
    check_constraints(name, cov, reg=reg)


@pytest.mark.parametrize("name", ["EVE", "EEV"])
def test_recentred_rotations_reach_the_same_optimum(name, monkeypatch):
    """With a tiny re-centring threshold the base orientation moves many times (L-BFGS-B
    restarted each time); the fit still ends at EM's optimum."""
    X = np.asarray(load_faithful(), dtype=float)
    common = dict(covariance_type=name, reg_covar=0.0, max_iter=5000, random_state=0, tol=1e-12)
    em = GaussianMixture(2, **common).fit(X)
    moves = []
    original = ConstrainedParametrisation.recentre

    def counted(self, theta):
        moved = original(self, theta)
        if moved is not None:
            moves.append(1)
        return moved

    monkeypatch.setattr(constrained, "RECENTRE_ANGLE", 1e-3)
    monkeypatch.setattr(ConstrainedParametrisation, "recentre", counted)
    gradient = GaussianMixture(2, fit_method="gradient", **common).fit(X)
    assert len(moves) >= 3
    assert gradient.converged_
    assert gradient.score(X) == pytest.approx(em.score(X), abs=1e-9)
    check_constraints(name, gradient.covariances_)
