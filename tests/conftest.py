"""Test-suite wide settings: EM runs in strict mode (a decreasing objective raises)."""

import numpy as np
import pytest

import emkit


@pytest.fixture(autouse=True)
def strict_monotonic():
    with emkit.config_context(monotonic="raise"):
        yield


def make_blobs(n_per=(150, 100, 120), dim=3, seed=0, spread=3.0):
    """Overlapping anisotropic Gaussian blobs (deterministic)."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(n_per):
        A = rng.normal(size=(dim, dim)) * 0.6 + np.eye(dim) * (0.5 + 0.3 * k)
        center = rng.normal(size=dim) * spread
        parts.append(center + rng.normal(size=(n, dim)) @ A.T)
    return np.vstack(parts)


@pytest.fixture
def blobs():
    return make_blobs()
