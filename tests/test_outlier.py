"""MixtureOutlierDetector: contamination, the density threshold, planted outliers, NaN rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import NotFittedError

from emkit import GaussianMixture, MixtureOutlierDetector


def engines(seed: int = 0, n: int = 400) -> np.ndarray:
    """Two engine types (an L-shaped cloud of vibration and heat readings)."""
    rng = np.random.default_rng(seed)
    a = rng.multivariate_normal([2.0, 8.0], [[0.3, 0.0], [0.0, 4.0]], size=n // 2)
    b = rng.multivariate_normal([6.0, 2.0], [[4.0, 0.0], [0.0, 0.3]], size=n - n // 2)
    return np.vstack([a, b])


# Far from both clusters, though every coordinate is within its usual range.
PLANTED = np.array([[6.0, 8.0], [7.0, 9.0], [-3.0, -3.0], [12.0, 12.0], [2.0, -4.0],
                    [-4.0, 14.0], [10.0, 7.0], [5.0, 5.0]])


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.5])
@pytest.mark.parametrize("n", [150, 401])
def test_contamination_fraction_of_training_rows_is_flagged(contamination, n):
    X = engines(1, n)
    detector = MixtureOutlierDetector(2, contamination=contamination, random_state=0)
    flags = detector.fit_predict(X)
    assert set(np.unique(flags)) <= {-1, 1}
    assert flags.dtype.kind == "i"
    assert abs((flags == -1).sum() - contamination * n) <= 1
    np.testing.assert_array_equal(detector.predict(X), flags)
    # the flagged rows are exactly the lowest-density ones
    scores = detector.score_samples(X)
    assert scores[flags == -1].max() < scores[flags == 1].min()


def test_threshold_is_an_epsilon_on_the_density():
    rng = np.random.default_rng(2)
    X = rng.multivariate_normal([1.0, -1.0], [[2.0, 0.8], [0.8, 1.0]], size=300)
    epsilon = 1e-3
    detector = MixtureOutlierDetector(threshold=epsilon, contamination=0.3).fit(X)
    assert detector.offset_ == math.log(epsilon)
    gm = detector.mixture_
    density = multivariate_normal(gm.means_[0], gm.covariances_[0])
    grid = rng.uniform(-8, 8, size=(3000, 2))
    p = density.pdf(grid)
    # keep clear of the boundary, where the two computations may round differently
    clear = np.abs(np.log(p) - np.log(epsilon)) > 1e-9
    expected = np.where(p < epsilon, -1, 1)
    np.testing.assert_array_equal(detector.predict(grid)[clear], expected[clear])
    assert 100 < (expected == -1).sum() < 2900
    np.testing.assert_allclose(detector.score_samples(grid), density.logpdf(grid), rtol=1e-10)
    np.testing.assert_allclose(detector.decision_function(grid),
                               density.logpdf(grid) - np.log(epsilon), rtol=1e-9, atol=1e-9)
    # threshold has priority: the training fraction flagged is not the contamination
    assert (detector.predict(X) == -1).mean() < 0.1


def test_planted_outliers_are_found():
    X = np.vstack([engines(3, 400), PLANTED])
    planted = np.arange(400, 400 + len(PLANTED))
    detector = MixtureOutlierDetector(2, contamination=0.03, random_state=0)
    flags = detector.fit_predict(X)
    assert (flags[planted] == -1).all()  # recall 1.0
    false_positives = (flags[:400] == -1).sum()
    assert false_positives <= 5
    # A single Gaussian cannot model the L shape: it misses some of them.
    single = MixtureOutlierDetector(1, contamination=0.03).fit_predict(X)
    assert (single[planted] == 1).any()
    # New rows: the same threshold applies.
    new = np.array([[2.0, 8.0], [6.0, 2.0], [6.0, 8.0], [0.0, 0.0]])
    np.testing.assert_array_equal(detector.predict(new), [1, 1, -1, -1])


def test_rows_with_missing_values_are_scored_by_their_marginal_density():
    X = engines(4, 300)
    detector = MixtureOutlierDetector(2, random_state=0).fit(X)
    gm = detector.mixture_
    rows = np.array([[2.0, np.nan], [np.nan, 2.0], [30.0, np.nan], [np.nan, np.nan]])
    expected = []
    for row in rows:
        o = ~np.isnan(row)
        if not o.any():
            expected.append(0.0)  # the empty marginal: log 1
            continue
        expected.append(np.log(sum(
            w * multivariate_normal(mu[o], cov[np.ix_(o, o)]).pdf(row[o])
            for w, mu, cov in zip(gm.weights_, gm.means_, gm.covariances_, strict=True))))
    np.testing.assert_allclose(detector.score_samples(rows), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(detector.predict(rows[2:3]), [-1])  # far in x alone
    # one row at a time gives the same scores as the batch
    for i, row in enumerate(rows):
        assert detector.score_samples(row[None])[0] == pytest.approx(expected[i], rel=1e-10)


def test_training_with_missing_values():
    X = engines(5, 400)
    Xm = X.copy()
    Xm[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    Xm = np.vstack([Xm, PLANTED])
    detector = MixtureOutlierDetector(2, contamination=0.03, random_state=0).fit(Xm)
    assert (detector.predict(PLANTED) == -1).all()
    assert abs((detector.predict(Xm) == -1).sum() - 0.03 * len(Xm)) <= 1


def test_score_samples_is_the_mixture_log_density():
    X = engines(6, 300)
    detector = MixtureOutlierDetector(2, covariance_type="diag", random_state=0).fit(X)
    reference = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    np.testing.assert_array_equal(detector.score_samples(X), reference.score_samples(X))
    np.testing.assert_array_equal(detector.decision_function(X),
                                  detector.score_samples(X) - detector.offset_)


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 0.51, 1, np.nan, "auto", None, True])
def test_bad_contamination(value):
    with pytest.raises(ValueError, match=r"contamination must be in \(0, 0.5\]"):
        MixtureOutlierDetector(contamination=value).fit(engines(0, 50))


@pytest.mark.parametrize("value", [0, -1e-3, np.inf, np.nan, "1e-3", True])
def test_bad_threshold(value):
    with pytest.raises(ValueError, match="threshold must be None or a finite density > 0"):
        MixtureOutlierDetector(threshold=value).fit(engines(0, 50))


def test_bad_input_errors():
    X = engines(0, 100)
    detector = MixtureOutlierDetector()
    with pytest.raises(NotFittedError):
        detector.predict(X)
    detector.fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but MixtureOutlierDetector is "
                                         "expecting 2 features"):
        detector.score_samples(np.ones((4, 3)))
    bad = X.copy()
    bad[7, 1] = -np.inf
    for method in (MixtureOutlierDetector().fit, detector.predict):
        with pytest.raises(ValueError, match="X contains -inf at row 7, column 1"):
            method(bad)
