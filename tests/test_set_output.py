"""``set_output`` on the transformers: KMeans (distances) and GaussianMixtureImputer."""

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emkit import GaussianMixtureImputer, KMeans
from emkit.persist import load_model, save_model


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 6.0])


def test_kmeans_pandas_output_matches_sklearn_names_and_values(X):
    km = KMeans(3, random_state=0).set_output(transform="pandas")
    out = km.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["kmeans0", "kmeans1", "kmeans2"]
    # same names as scikit-learn's KMeans, and the distances themselves
    sk = SkKMeans(3, n_init=1, random_state=0).set_output(transform="pandas").fit(X)
    assert list(sk.transform(X).columns) == list(out.columns)
    centers = km.cluster_centers_
    expected = np.sqrt(((X[:, None, :] - centers[None]) ** 2).sum(-1))
    # (the expansion |x|^2 - 2 x.c + |c|^2 loses ~1e-13 absolute near a centre)
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-12, atol=1e-10)
    # a DataFrame input keeps its index
    frame = pd.DataFrame(X, columns=["a", "b"], index=np.arange(100, 100 + len(X)))
    out = KMeans(2, random_state=0).set_output(transform="pandas").fit(frame).transform(frame)
    assert list(out.index) == list(frame.index)


def test_kmeans_default_output_is_an_array_and_names_need_a_fit(X):
    km = KMeans(2, random_state=0)
    with pytest.raises(Exception, match="not fitted"):
        km.get_feature_names_out()
    assert isinstance(km.fit(X).transform(X), np.ndarray)
    np.testing.assert_array_equal(km.get_feature_names_out(), ["kmeans0", "kmeans1"])


def test_kmeans_names_survive_a_saved_model(X, tmp_path):
    km = KMeans(4, random_state=0).fit(X)
    save_model(km, tmp_path / "km.json")
    loaded = load_model(tmp_path / "km.json").set_output(transform="pandas")
    assert list(loaded.transform(X).columns) == [f"kmeans{k}" for k in range(4)]


def test_pipeline_set_output_reaches_both_transformers(X):
    X = X.copy()
    X[::5, 0] = np.nan
    pipe = make_pipeline(GaussianMixtureImputer(2, random_state=0), StandardScaler(),
                         KMeans(2, random_state=0)).set_output(transform="pandas")
    out = pipe.fit_transform(pd.DataFrame(X, columns=["x", "y"]))
    assert list(out.columns) == ["kmeans0", "kmeans1"]
    filled = pipe[0].transform(pd.DataFrame(X, columns=["x", "y"]))
    assert list(filled.columns) == ["x", "y"] and not filled.isna().any().any()
