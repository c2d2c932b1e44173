"""Sufficient statistics are values: they add over chunks, re-centre exactly and scale."""

import numpy as np
import pytest

import emkit
from emkit.families.centroids import CentroidModel
from emkit.families.gaussian import GaussianMixtureModel
from emkit.init import kmeans_plusplus

from .conftest import make_blobs

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _start(X, K, covariance_type):
    model = GaussianMixtureModel(covariance_type)
    rng = np.random.RandomState(0)
    resp = rng.uniform(size=(X.shape[0], K))
    resp /= resp.sum(1, keepdims=True)
    return model, model.params_from_responsibilities(X, np.ones(X.shape[0]), resp, 50)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_union_equal_sum_of_parts(covariance_type):
    X = make_blobs()
    model, params = _start(X, 3, covariance_type)
    resp = np.random.default_rng(1).dirichlet(np.ones(3), size=X.shape[0])
    whole = model.statistics(params, X, resp)
    a = model.statistics(params, X[:123], resp[:123])
    b = model.statistics(params, X[123:], resp[123:])
    assert (a + b).allclose(whole, rtol=1e-12, atol=1e-9)
    # and the sum is not trivially equal to one part
    assert not a.allclose(whole, rtol=1e-3)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_recentre_exactly(covariance_type):
    X = make_blobs()
    model, params = _start(X, 3, covariance_type)
    resp = np.random.default_rng(2).dirichlet(np.ones(3), size=X.shape[0])
    centers_a = model.centers(params.weights, params.means)
    centers_b = centers_a + np.random.default_rng(3).normal(size=centers_a.shape) * 5
    if not model.structure.per_component_centers:
        centers_b[:] = centers_b[0]
    about_a = model.statistics_about(X, resp, centers_a)
    about_b = model.statistics_about(X, resp, centers_b)
    converted = about_a.recentered(centers_b)
    np.testing.assert_allclose(converted.first, about_b.first, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(converted.second, about_b.second, rtol=1e-10, atol=1e-7)
    # adding statistics taken about different centres re-centres the right-hand side
    mixed = model.statistics_about(X[:100], resp[:100], centers_a) + model.statistics_about(
        X[100:], resp[100:], centers_b
    )
    assert mixed.allclose(about_a, rtol=1e-10, atol=1e-7)
    # the M-step does not depend on the centre the moments were taken about
    pa, pb = model.maximize(about_a, params), model.maximize(about_b, params)
    np.testing.assert_allclose(pa.means, pb.means, rtol=1e-10)
    np.testing.assert_allclose(pa.covariances, pb.covariances, rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_scale(covariance_type):
    X = make_blobs()
    model, params = _start(X, 3, covariance_type)
    resp = np.full((X.shape[0], 3), 1 / 3)
    s = model.statistics(params, X, resp)
    doubled = model.statistics(params, np.vstack([X, X]), np.vstack([resp, resp]))
    assert (2 * s).allclose(doubled, rtol=1e-12, atol=1e-9)
    assert (s * 0.5 + s * 0.5).allclose(s, rtol=1e-14)
    # scaling all statistics leaves the M-step unchanged (it is a ratio of sums)
    np.testing.assert_allclose(
        model.maximize(s * 3.0, params).covariances, model.maximize(s, params).covariances,
        rtol=1e-12,
    )


def test_centroid_statistics_add_and_keep_farthest_rows():
    X = make_blobs()
    centers, _ = kmeans_plusplus(X, 4, random_state=np.random.RandomState(0))
    model = CentroidModel(hard=True)
    resp = np.zeros((X.shape[0], 4))
    resp[np.arange(X.shape[0]), np.argmax(model.log_joint(centers, X), 1)] = 1
    whole = model.statistics(centers, X, resp)
    parts = model.statistics(centers, X[:50], resp[:50]) + model.statistics(
        centers, X[50:], resp[50:]
    )
    np.testing.assert_allclose(parts.counts, whole.counts)
    np.testing.assert_allclose(parts.sums, whole.sums, rtol=1e-12)
    np.testing.assert_allclose(np.sort(parts.far_distances), np.sort(whole.far_distances))
    d = ((X - centers[np.argmax(resp, 1)]) ** 2).sum(1)
    np.testing.assert_allclose(np.sort(whole.far_distances), np.sort(d)[-4:])


def test_adding_different_structures_is_an_error():
    X = make_blobs()
    m1, p1 = _start(X, 2, "diag")
    m2, p2 = _start(X, 2, "spherical")
    resp = np.full((X.shape[0], 2), 0.5)
    with pytest.raises(ValueError, match="cannot add"):
        m1.statistics(p1, X, resp) + m2.statistics(p2, X, resp)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_fast_hard_e_step_equals_generic_one_hot_path(kernels):
    if kernels == "numba":
        pytest.importorskip("numba")
    X = make_blobs()
    centers, _ = kmeans_plusplus(X, 5, random_state=np.random.RandomState(1))
    model = CentroidModel(hard=True)
    w = np.random.default_rng(2).integers(0, 3, size=X.shape[0]).astype(float)
    with emkit.config_context(kernels=kernels):
        objective, fast = model.hard_e_step(centers, X, w)
    log_joint = model.log_joint(centers, X)
    labels = np.argmax(log_joint, axis=1)
    resp = np.zeros_like(log_joint)
    resp[np.arange(len(X)), labels] = w
    generic = model.statistics(centers, X, resp)
    row_joint = log_joint[np.arange(len(X)), labels]
    if np.ndim(objective) == 0:  # the compiled kernel returns the weighted sum
        assert objective == pytest.approx(w @ row_joint, rel=1e-10)
    else:
        np.testing.assert_allclose(objective, row_joint, rtol=1e-10)
    np.testing.assert_allclose(fast.counts, generic.counts)
    np.testing.assert_allclose(fast.sums, generic.sums, rtol=1e-12)
    np.testing.assert_allclose(np.sort(fast.far_distances), np.sort(generic.far_distances),
                               rtol=1e-10)
