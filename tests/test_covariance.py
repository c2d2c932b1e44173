"""Covariance structures: the regularisation deficit is exactly the Q shortfall."""

import numpy as np
import pytest

from emkit.families.gaussian import GaussianMixtureModel
from emkit.families.structures import get_structure

from .conftest import make_blobs


def _expected_complete_loglik(stats, covariances, structure, n_features):
    """sum_k N_k * (-1/2)(log|S_k| + tr(S_k^-1 C_k)) with C_k the exact ML covariance."""
    counts = stats.counts
    exact = GaussianMixtureModel(structure.name, reg_covar=0.0).maximize(stats)
    total = 0.0
    for k in range(counts.shape[0]):
        C = structure.component_covariance(exact.covariances, k, n_features)
        S = structure.component_covariance(covariances, k, n_features)
        _, logdet = np.linalg.slogdet(S)
        total += -0.5 * counts[k] * (logdet + np.trace(np.linalg.solve(S, C)))
    return total


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("reg_covar", [0.0, 1e-3, 0.5])
def test_regularization_deficit_is_the_q_shortfall(covariance_type, reg_covar):
    X = make_blobs(dim=3)
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(3), size=len(X))
    model = GaussianMixtureModel(covariance_type, reg_covar=reg_covar)
    stats = model.statistics_about(X, resp, np.tile(X.mean(0), (3, 1)))
    exact = GaussianMixtureModel(covariance_type, reg_covar=0.0).maximize(stats)
    regularised = model.maximize(stats)
    structure = get_structure(covariance_type)
    q_exact = _expected_complete_loglik(stats, exact.covariances, structure, 3)
    q_reg = _expected_complete_loglik(stats, regularised.covariances, structure, 3)
    deficit = structure.regularization_deficit(stats.counts, regularised.covariances,
                                               reg_covar, 3)
    assert deficit >= 0
    assert q_exact - q_reg == pytest.approx(deficit, rel=1e-6, abs=1e-9)
    if reg_covar > 0:
        assert deficit > 0
