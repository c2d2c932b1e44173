"""The bundled Old Faithful data."""

import numpy as np
import pytest

from emkit.datasets import load_faithful


def test_load_faithful_array():
    X = load_faithful()
    assert X.shape == (272, 2) and X.dtype == np.float64
    # first rows and column means of R's datasets::faithful
    np.testing.assert_allclose(X[:2], [[3.6, 79.0], [1.8, 54.0]])
    np.testing.assert_allclose(X.mean(0), [3.487783, 70.897059], rtol=1e-6)


def test_load_faithful_frame():
    pd = pytest.importorskip("pandas")
    df = load_faithful(as_frame=True)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(df.to_numpy(), load_faithful())
