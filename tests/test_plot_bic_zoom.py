"""``plot_bic(..., ylim=...)``: the zoom on the competitive models."""

import numpy as np
import pytest

from emkit import select_model
from emkit.datasets import load_faithful
from emkit.plotting import ZOOM_MIN_CELLS, bic_png, plot_bic

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure


@pytest.fixture(scope="module")
def result():
    return select_model(load_faithful(), range(1, 7), ("EII", "VII", "EEE", "VVV", "EEI"))


def test_default_shows_every_value(result):
    ax = plot_bic(result, Figure().add_subplot())
    low, high = ax.get_ylim()
    values = result.bic()
    assert low <= np.nanmin(values) and high >= np.nanmax(values)


@pytest.mark.parametrize("convention", ["mclust", "sklearn"])
def test_top_keeps_the_better_half_in_view_and_cuts_the_worst(result, convention):
    values = result.bic(convention)
    finite = values[np.isfinite(values)]
    ax = plot_bic(result, Figure().add_subplot(), convention, ylim="top")
    low, high = ax.get_ylim()
    better = -np.sort(-finite) if convention == "mclust" else np.sort(finite)
    kept = better[: max(ZOOM_MIN_CELLS, int(np.ceil(finite.size / 2)))]
    assert low < kept.min() and kept.max() < high  # the competitive cells are all visible
    span = kept.max() - kept.min()
    assert low >= kept.min() - 0.051 * span and high <= kept.max() + 0.051 * span
    # ... and the worst ones (G = 1, spherical models here) are out of view
    assert ((finite < low) | (finite > high)).sum() >= finite.size // 3
    assert "zoom" in ax.get_title()
    # the lines still carry every value (only the view changes)
    line = next(li for li in ax.get_lines() if li.get_gid() == "model-EII")
    np.testing.assert_array_equal(line.get_ydata(), values[:, 0])


def test_explicit_limits_and_bad_values(result):
    ax = plot_bic(result, Figure().add_subplot(), ylim=(-2400, -2300))
    assert ax.get_ylim() == (-2400.0, -2300.0)
    for bad in ["bottom", (1.0,), (3.0, 1.0), (0.0, np.inf), 5]:
        with pytest.raises(ValueError, match="ylim must be None, 'top' or"):
            plot_bic(result, Figure().add_subplot(), ylim=bad)


def test_png_with_zoom(result):
    assert bic_png(result, ylim="top").startswith(b"\x89PNG\r\n\x1a\n")
