"""plot_mixture draws the right ellipses, colours and labels."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from emkit import GaussianMixture, KMeans, SoftKMeans  # noqa: E402
from emkit.datasets import load_faithful  # noqa: E402
from emkit.families.structures import get_structure  # noqa: E402
from emkit.plotting import (  # noqa: E402
    ellipse_geometry,
    mixture_png,
    plot_mixture,
    save_mixture_plot,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rotation(degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def gaussian_mixture(means, covariances, covariance_type: str) -> GaussianMixture:
    """A GaussianMixture with exactly these parameters (fitted first, then overwritten)."""
    means = np.asarray(means, dtype=float)
    K, D = means.shape
    rng = np.random.default_rng(0)
    gm = GaussianMixture(K, covariance_type=covariance_type, random_state=0)
    gm.fit(rng.normal(size=(10 * K + 5, D)) + 5 * np.arange(D))
    structure = get_structure(covariance_type)
    covariances = np.asarray(covariances, dtype=float)
    gm.weights_ = np.full(K, 1.0 / K)
    gm.means_ = means
    gm.covariances_ = covariances
    gm.precisions_cholesky_ = structure.precisions_cholesky(covariances)
    gm.precisions_ = structure.precisions(gm.precisions_cholesky_)
    return gm


def new_axes():
    return Figure().add_subplot()


def ellipses(ax) -> dict[str, Ellipse]:
    return {p.get_gid(): p for p in ax.patches if isinstance(p, Ellipse)}


def boundary(ellipse: Ellipse, n: int = 32) -> np.ndarray:
    """Points on the drawn ellipse, in data coordinates."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return ellipse.get_patch_transform().transform(np.column_stack([np.cos(t), np.sin(t)]))


def mahalanobis(points, mean, cov) -> np.ndarray:
    d = points - mean
    return np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d))


def test_ellipse_geometry_of_known_covariances():
    assert ellipse_geometry(np.diag([4.0, 1.0])) == pytest.approx((4.0, 2.0, 0.0))
    assert ellipse_geometry(np.diag([1.0, 9.0]), 2) == pytest.approx((12.0, 4.0, 90.0))
    cov = rotation(30) @ np.diag([9.0, 1.0]) @ rotation(30).T
    assert ellipse_geometry(cov) == pytest.approx((6.0, 2.0, 30.0))
    cov = rotation(-45) @ np.diag([4.0, 0.25]) @ rotation(-45).T
    assert ellipse_geometry(cov, 2) == pytest.approx((8.0, 2.0, 135.0))


def test_full_covariance_ellipses(tmp_path):
    covs = np.stack([rotation(30) @ np.diag([9.0, 1.0]) @ rotation(30).T,
                     rotation(120) @ np.diag([4.0, 0.25]) @ rotation(120).T])
    means = np.array([[0.0, 0.0], [10.0, 5.0]])
    gm = gaussian_mixture(means, covs, "full")
    X = np.vstack([np.random.default_rng(1).multivariate_normal(m, c, 50)
                   for m, c in zip(means, covs, strict=True)])
    ax = plot_mixture(gm, X, new_axes())
    drawn = ellipses(ax)
    assert sorted(drawn) == ["component0-1sigma", "component0-2sigma",
                             "component1-1sigma", "component1-2sigma"]
    e = drawn["component0-1sigma"]
    assert e.center == pytest.approx((0.0, 0.0))
    assert (e.width, e.height, e.angle) == pytest.approx((6.0, 2.0, 30.0))
    e = drawn["component1-2sigma"]
    assert e.center == pytest.approx((10.0, 5.0))
    assert (e.width, e.height, e.angle) == pytest.approx((8.0, 2.0, 120.0))
    # Every drawn boundary point lies at Mahalanobis distance 1 (or 2) of its component.
    for k in range(2):
        for s in (1, 2):
            points = boundary(drawn[f"component{k}-{s}sigma"])
            np.testing.assert_allclose(mahalanobis(points, means[k], covs[k]), s, rtol=1e-9)
    # The 1-sigma ellipse is solid and thicker, the 2-sigma one dashed.
    assert drawn["component0-1sigma"].get_linestyle() == "-"
    assert drawn["component0-2sigma"].get_linestyle() == "--"


@pytest.mark.parametrize(
    ("covariance_type", "covariances", "expected"),
    [
        ("diag", [[4.0, 1.0], [1.0, 16.0]], [(4.0, 2.0, 0.0), (8.0, 2.0, 90.0)]),
        ("spherical", [4.0, 0.25], [(4.0, 4.0, None), (1.0, 1.0, None)]),
        ("tied", np.diag([1.0, 4.0]), [(4.0, 2.0, 90.0), (4.0, 2.0, 90.0)]),
    ],
)
def test_other_covariance_types(covariance_type, covariances, expected):
    means = np.array([[0.0, 0.0], [20.0, 20.0]])
    gm = gaussian_mixture(means, covariances, covariance_type)
    X = means.repeat(5, axis=0) + np.random.default_rng(0).normal(size=(10, 2))
    drawn = ellipses(plot_mixture(gm, X, new_axes()))
    for k, (width, height, angle) in enumerate(expected):
        e = drawn[f"component{k}-1sigma"]
        assert (e.width, e.height) == pytest.approx((width, height))
        if angle is not None:
            assert e.angle == pytest.approx(angle)
        assert drawn[f"component{k}-2sigma"].width == pytest.approx(2 * width)


def test_more_than_two_features_uses_marginals():
    cov = np.array([[4.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 9.0]])
    gm = gaussian_mixture([[0.0, 1.0, 2.0]], cov[None], "full")
    X = np.random.default_rng(0).multivariate_normal([0, 1, 2], cov, 40)
    drawn = ellipses(plot_mixture(gm, X, new_axes()))
    assert (drawn["component0-1sigma"].width, drawn["component0-1sigma"].height) == \
        pytest.approx((4.0, 2.0))
    ax = plot_mixture(gm, X, new_axes(), features=(0, 2))
    e = ellipses(ax)["component0-1sigma"]
    sub = cov[np.ix_([0, 2], [0, 2])]
    assert e.center == pytest.approx((0.0, 2.0))
    np.testing.assert_allclose(mahalanobis(boundary(e), [0.0, 2.0], sub), 1.0, rtol=1e-9)
    assert ax.get_xlabel() == "feature 0" and ax.get_ylabel() == "feature 2"


def test_points_coloured_by_predicted_cluster_and_labels():
    X = load_faithful()
    gm = GaussianMixture(2, random_state=0).fit(X)
    ax = plot_mixture(gm, X, new_axes(), feature_names=["eruptions", "waiting"])
    labels = gm.predict(X)
    scatters = ax.collections[:2]
    for k, scatter in enumerate(scatters):
        np.testing.assert_array_equal(scatter.get_offsets(), X[labels == k])
        edge = ellipses(ax)[f"component{k}-1sigma"].get_edgecolor()
        np.testing.assert_allclose(scatter.get_facecolor()[0][:3], edge[:3])
    means = ax.collections[2]
    np.testing.assert_allclose(means.get_offsets(), gm.means_)
    assert ax.get_xlabel() == "eruptions" and ax.get_ylabel() == "waiting"
    assert "K=2" in ax.get_title() and "full" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("component 0: weight") and "mean" in legend
    assert "1σ ellipse" in legend and "2σ ellipse" in legend
    # The whole of every ellipse is inside the view.
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for e in ellipses(ax).values():
        points = boundary(e, 360)
        assert (x0 <= points[:, 0]).all() and (points[:, 0] <= x1).all()
        assert (y0 <= points[:, 1]).all() and (points[:, 1] <= y1).all()


def test_feature_names_from_estimator_and_errors():
    pd = pytest.importorskip("pandas")
    frame = load_faithful(as_frame=True)
    gm = GaussianMixture(2, random_state=0).fit(frame)
    ax = plot_mixture(gm, frame, new_axes(), title="custom")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("eruptions", "waiting",
                                                                  "custom")
    with pytest.raises(ValueError, match="feature_names has 3 names"):
        plot_mixture(gm, frame, new_axes(), feature_names=["a", "b", "c"])
    one = GaussianMixture(2, random_state=0).fit(frame[["waiting"]].to_numpy())
    with pytest.raises(ValueError, match="two distinct feature"):
        plot_mixture(one, frame[["waiting"]].to_numpy(), new_axes())
    assert pd is not None


def test_kmeans_and_soft_kmeans():
    X = load_faithful()
    ax = plot_mixture(KMeans(3, random_state=0).fit(X), X, new_axes())
    assert ellipses(ax) == {}
    assert "covariance" not in ax.get_title()
    soft = SoftKMeans(2, beta=0.25, random_state=0).fit(X)
    drawn = ellipses(plot_mixture(soft, X, new_axes()))
    assert drawn["component0-1sigma"].width == pytest.approx(4.0)  # 2 / sqrt(beta)
    assert drawn["component0-1sigma"].height == pytest.approx(4.0)


def test_new_figure_from_pyplot():
    import matplotlib.pyplot as plt

    X = load_faithful()
    ax = plot_mixture(GaussianMixture(2, random_state=0).fit(X), X)
    try:
        assert ax.figure is plt.gcf()
        assert len(ellipses(ax)) == 4
    finally:
        plt.close(ax.figure)


def test_png_output(tmp_path):
    X = load_faithful()
    gm = GaussianMixture(2, random_state=0).fit(X)
    png = mixture_png(gm, X, dpi=50)
    assert png.startswith(PNG_MAGIC)
    path = tmp_path / "plot.png"
    save_mixture_plot(gm, X, path, dpi=50, title="t")
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[:2] == (round(5.5 * 50), round(7.5 * 50))
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_missing_matplotlib_message(monkeypatch):
    X = load_faithful()
    gm = GaussianMixture(1).fit(X)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    message = "plotting needs matplotlib: pip install 'emkit[plot]'"
    with pytest.raises(ImportError, match=re.escape(message)):
        plot_mixture(gm, X)
