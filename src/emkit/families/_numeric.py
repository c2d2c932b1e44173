"""Float64 range checks shared by the Gaussian and centroid families.

Both work with squared distances: k-means' ``|x - c|^2`` and the Gaussian's
variances and squared Mahalanobis distances.  Squares of numbers beyond about
1e154 overflow float64 and squares below about 1e-154 fall into its subnormal
range (few significant digits), so data whose spread is outside that range
cannot be fitted as given; these checks say so instead of letting NaN or
noise through.  Both algorithms are scale equivariant, so rescaling the data
(and the results back) loses nothing.
"""

from __future__ import annotations

import numpy as np

_MAX = float(np.finfo(np.float64).max)
_TINY = float(np.finfo(np.float64).tiny)  # smallest normal float64, ~2.2e-308
#: Headroom below float64's largest value for sums and cross terms of squares.
OVERFLOW_MARGIN = 64.0
#: The largest weight must be at least this: below it, weighted sums run in
#: subnormal numbers.
MIN_LARGEST_WEIGHT = 1e-290


def check_squared_scale(X: np.ndarray, sample_weight: np.ndarray | None = None,
                        what: str = "X") -> None:
    """Raise a ValueError when weighted squared spreads of X leave float64's range.

    Checks that ``sum(w) * sum_j span_j^2`` (an upper bound of every weighted
    sum of squared distances between rows and points inside their bounding box)
    is finite with :data:`OVERFLOW_MARGIN` to spare, that no column's nonzero
    span has a subnormal square, and that the largest weight is not tiny.
    NaN entries (missing values) are ignored; constant columns are allowed.
    """
    if X.size == 0:
        return
    with np.errstate(invalid="ignore", over="ignore"):
        span = np.nanmax(X, axis=0) - np.nanmin(X, axis=0)
    span = np.where(np.isnan(span), 0.0, span)
    if sample_weight is None:
        total, largest = float(X.shape[0]), 1.0
    else:
        total, largest = float(np.sum(sample_weight)), float(np.max(sample_weight))
    if 0.0 < largest < MIN_LARGEST_WEIGHT:
        raise ValueError(
            f"sample_weight is at most {largest:.3g}: weighted sums would run in float64's "
            "subnormal range and lose their precision; rescale sample_weight (only the "
            "ratios of the weights matter to a mixture)"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        bound = total * float(np.sum(span * span))
    if not bound < _MAX / OVERFLOW_MARGIN:
        column = int(np.argmax(span))
        raise ValueError(
            f"{what} is too spread out for float64: column {column} spans {span[column]:.3g}, "
            f"so (weighted) sums of squared distances overflow (sum of weights "
            f"{total:.3g}); rescale {what}, e.g. divide it by {_power_of_ten(span.max())}"
        )
    small = (span > 0) & (span * span < _TINY)
    if small.any():
        column = int(np.argmax(small))
        raise ValueError(
            f"{what} column {column} varies by only {span[column]:.3g}: its squared spread is "
            f"below float64's normal range (~{_TINY:.1e}) and would lose its precision; "
            f"rescale {what}, e.g. multiply that column by {_power_of_ten(1.0 / span[column])}"
        )


def _power_of_ten(value: float) -> str:
    if not np.isfinite(value) or value <= 0:
        return "a large power of ten"
    return f"1e{int(np.floor(np.log10(value)))}"


def check_rows_evaluable(log_joint: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``log_joint`` unchanged, or a ValueError when some row is -inf/NaN under every component.

    With finite rows that only happens when squared distances overflow float64
    (a row ~1e154 standard deviations from every component): its log-density
    is below -1.8e308 and its component probabilities are 0/0.  Refuse
    instead of returning NaN.
    """
    with np.errstate(invalid="ignore"):
        bad = ~(log_joint.max(axis=1) > -np.inf)
    if not bad.any():
        return log_joint
    row = int(np.argmax(bad))
    values = np.array2string(np.asarray(X[row], dtype=float), precision=3, threshold=6)
    raise ValueError(
        f"a row of X ({int(bad.sum())} in total; the first is {values}) is too far from "
        "every component to evaluate in float64: its squared distances overflow, so its "
        "log-density and component probabilities are undefined. Check that row, or "
        "rescale X so that rows and components are on comparable scales"
    )
