"""ProbitRegression by EM against statsmodels' Newton fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emkit import ProbitRegression


@pytest.fixture(scope="module")
def ref():
    return json.loads((Path(__file__).parent / "references" / "probit_statsmodels.json")
                      .read_text())


def test_reaches_statsmodels_maximum_likelihood(ref):
    X, y = np.array(ref["X"]), np.array(ref["y"])
    probit = ProbitRegression(tol=1e-14).fit(X, y)
    params = ref["plain"]["params"]
    assert probit.log_likelihood(X, y) == pytest.approx(ref["plain"]["loglik"], rel=1e-12)
    # EM stops on the change of the objective, which is quadratic in the distance to
    # the optimum: coefficients then agree to ~sqrt(float eps), 1e-7 here
    assert probit.intercept_[0] == pytest.approx(params[0], abs=1e-6)
    np.testing.assert_allclose(probit.coef_[0], params[1:], atol=1e-6)
    assert probit.lower_bound_ * len(y) == pytest.approx(ref["plain"]["loglik"], rel=1e-12)


def test_sample_weights_match_statsmodels_frequency_weights_and_repetition(ref):
    X, y, w = np.array(ref["X"]), np.array(ref["y"]), np.array(ref["weights"])
    weighted = ProbitRegression(tol=1e-14).fit(X, y, sample_weight=w)
    params = ref["weighted"]["params"]
    np.testing.assert_allclose(np.r_[weighted.intercept_, weighted.coef_[0]], params,
                               atol=1e-6)
    repeated = ProbitRegression(tol=1e-14).fit(np.repeat(X, w.astype(int), axis=0),
                                               np.repeat(y, w.astype(int)))
    np.testing.assert_allclose(repeated.coef_, weighted.coef_, atol=1e-6)


def test_plain_em_is_monotone_and_squarem_needs_far_fewer_iterations(ref):
    X, y = np.array(ref["X"]), np.array(ref["y"])
    plain = ProbitRegression(accelerate=None, tol=1e-12, max_iter=20000).fit(X, y)
    fast = ProbitRegression(accelerate="squarem", tol=1e-12).fit(X, y)
    assert np.all(np.diff(plain.lower_bounds_) >= -1e-15)
    assert fast.n_iter_ * 3 < plain.n_iter_
    np.testing.assert_allclose(plain.coef_, fast.coef_, atol=1e-5)


def test_classifier_surface_and_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    labels = np.where(X @ [1.0, -1.0] + rng.normal(size=400) > 0, "yes", "no")
    probit = ProbitRegression().fit(X, labels)
    assert list(probit.classes_) == ["no", "yes"]
    proba = probit.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probit.predict(X), np.where(proba[:, 1] > 0.5, "yes", "no"))
    np.testing.assert_allclose(np.exp(probit.predict_log_proba(X)), proba, rtol=1e-12)
    assert probit.score(X, labels) > 0.7


def test_separable_classes_warn_and_bad_labels_are_named():
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    with pytest.warns(UserWarning, match="perfectly separated"):
        ProbitRegression(max_iter=50).fit(X, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="Only binary classification"):
        ProbitRegression().fit(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="X contains NaN at row 1"):
        ProbitRegression().fit([[0.0], [np.nan], [1.0]], [0, 1, 1])
