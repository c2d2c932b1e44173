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

#: Headroom below the largest float for sums and cross terms of squares.
OVERFLOW_MARGIN = 64.0
#: The largest weight must be at least this (float64; float32: 1e-30): below it,
#: weighted sums run in subnormal numbers.
MIN_LARGEST_WEIGHT = 1e-290


def _limits(X: np.ndarray) -> tuple[float, float, float]:
    """(largest safe sum, smallest normal number, smallest useful weight) for X's dtype."""
    if X.dtype == np.float32:
        info = np.finfo(np.float32)
        return float(info.max) / OVERFLOW_MARGIN, float(info.tiny), 1e-30
    info = np.finfo(np.float64)
    return float(info.max) / OVERFLOW_MARGIN, float(info.tiny), MIN_LARGEST_WEIGHT


def check_squared_scale(X: np.ndarray, sample_weight: np.ndarray | None = None,
                        what: str = "X", beta: float = 1.0) -> None:
    """Raise a ValueError when X's weighted sums or squared spreads leave the float range.

    With W the sum of the weights (the row count without weights), checks that

    * the largest weight is not tiny (sums would run in subnormal numbers);
    * ``W * max|x|`` (weighted sums of rows: means, first moments) and
      ``beta * W * sum_j (span_j^2 + (eps max|x_j|)^2)`` (weighted sums of squared
      distances between rows and points in their bounding box, including
      rounding-level differences of values as large as X's: ``beta`` is soft
      k-means' stiffness) are finite with :data:`OVERFLOW_MARGIN` to spare;
    * no column's nonzero span has a square below the smallest normal number.

    The limits are those of X's dtype (float32 for the single-precision
    E-step).  NaN entries (missing values) are ignored; constant columns are
    allowed (the degeneracy rule handles them).
    """
    if X.size == 0:
        return
    limit, tiny, min_weight = _limits(X)
    eps = float(np.finfo(X.dtype if X.dtype == np.float32 else np.float64).eps)
    with np.errstate(invalid="ignore", over="ignore"):
        high, low = np.nanmax(X, axis=0), np.nanmin(X, axis=0)
        span = np.where(np.isnan(high), 0.0, high.astype(float) - low)
        size = np.where(np.isnan(high), 0.0, np.maximum(np.abs(high), np.abs(low)))
        magnitude = float(size.max())
    if sample_weight is not None and bool(np.all(sample_weight == 1.0)):
        sample_weight = None  # unit weights: say nothing about weights
    if sample_weight is None:
        total, largest = float(X.shape[0]), 1.0
    else:
        total, largest = float(np.sum(sample_weight)), float(np.max(sample_weight))
    if 0.0 < largest < min_weight:
        raise ValueError(
            f"sample_weight is at most {largest:.3g}: weighted sums would run in the "
            "subnormal range of floating point and lose their precision; rescale "
            "sample_weight (only the ratios of the weights matter to a mixture)"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        linear = total * magnitude
        per_column = span * span + (eps * size) ** 2
        quadratic = beta * total * float(np.sum(per_column))
    if not (linear < limit and quadratic < limit):
        if beta != 1.0 and total * float(np.sum(per_column)) < limit:
            raise ValueError(
                f"beta={beta:g} times the squared spread of {what} "
                f"({float(np.sum(per_column)):.3g}) overflows {X.dtype}, so every "
                "responsibility would be 0/0; use a smaller beta or rescale X"
            )
        by_span = span.max() >= eps * magnitude and linear < limit
        column = int(np.argmax(span if by_span else size))
        value = float(span[column] if by_span else size[column])
        weights = "" if sample_weight is None else f" (sample weights sum to {total:.3g})"
        raise ValueError(
            f"{what} is too large for {X.dtype} arithmetic: column {column} "
            f"{'spans' if by_span else 'reaches'} {value:.3g}, so "
            f"{'' if sample_weight is None else 'weighted '}sums "
            f"{'of squared distances ' if linear < limit else ''}overflow{weights}; "
            f"rescale {what}" + ("" if sample_weight is None else " or sample_weight")
            + f", e.g. divide {what} by {_power_of_ten(value)}"
        )
    small = (span > 0) & (span * span < tiny)
    if small.any():
        column = int(np.argmax(small))
        raise ValueError(
            f"{what} column {column} varies by only {span[column]:.3g}: its squared spread is "
            f"below the smallest normal {X.dtype} number ({tiny:.1e}) and would lose its "
            f"precision; rescale {what}, e.g. multiply that column by "
            f"{_power_of_ten(1.0 / span[column])}"
        )


#: Soft k-means: largest ``beta * (eps max|x|)^2`` accepted (see check_resolution).
RESOLUTION_LIMIT = 1e-12


def check_resolution(X: np.ndarray, beta: float) -> None:
    """Soft k-means' fixed variance ``1/beta`` must be resolvable at X's magnitude.

    Centres are weighted means of the rows, known to about ``eps max|x|``; that
    error moves every log-density by ``beta (eps max|x|)^2`` at second order.
    Above :data:`RESOLUTION_LIMIT` EM runs on rounding noise (the objective can
    decrease), so refuse: a smaller ``beta``, or X centred near 0, fixes it.
    """
    with np.errstate(invalid="ignore"):
        magnitude = float(np.nanmax(np.abs(X))) if X.size else 0.0
    resolution = float(np.finfo(np.float64).eps) * magnitude
    if beta * resolution**2 > RESOLUTION_LIMIT:
        raise ValueError(
            f"beta={beta:g} is too stiff for X's float64 resolution: at values of magnitude "
            f"{magnitude:.3g} the centres are known to about {resolution:.2g}, which moves "
            f"log-densities by beta * {resolution:.2g}^2 = {beta * resolution**2:.2g}; use "
            f"beta <= {RESOLUTION_LIMIT / resolution**2:.3g}, or centre X (subtract its mean)"
        )


def check_points_in_range(X: np.ndarray, points: np.ndarray, sample_weight, what: str,
                          beta: float = 1.0) -> None:
    """Given starting points (e.g. k-means ``init`` centres) must be within float range of X.

    ``beta * W * sum_j span_j^2`` over the bounding box of the rows and the
    points must be finite (W: the sum of the weights), or squared distances
    between them overflow.
    """
    both = np.vstack([np.asarray(X, dtype=float), np.asarray(points, dtype=float)])
    total = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
    with np.errstate(over="ignore", invalid="ignore"):
        span = np.nanmax(both, axis=0) - np.nanmin(both, axis=0)
        squared = float(np.sum(span * span))
        bound = beta * total * squared
    if not bound < _limits(both)[0]:
        factors = []
        if beta != 1.0:
            factors.append(f"beta={beta:g}")
        if sample_weight is not None and not bool(np.all(sample_weight == 1.0)):
            factors.append(f"sample weights summing to {total:.3g}")
        times = f" (times {' and '.join(factors)})" if factors else ""
        raise ValueError(
            f"{what} is too far from the rows of X for float64: squared distances between "
            f"them{times} overflow (the two together span {float(np.max(span)):.3g}); give "
            f"{what} within the range of X, or rescale"
        )


def _power_of_ten(value: float) -> str:
    if not np.isfinite(value) or value <= 1.0:
        return "a large power of ten"
    return f"1e{int(np.floor(np.log10(value)))}"


def check_rows_evaluable(log_joint: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``log_joint`` unchanged, or a ValueError when some row is -inf/NaN under every component.

    With finite rows that only happens when squared distances overflow float64
    (a row ~1e154 standard deviations from every component): its log-density
    is below -1.8e308 and its component probabilities are 0/0.  Refuse
    instead of returning NaN.
    """
    if log_joint.size == 0 or np.isfinite(log_joint.min()):
        return log_joint  # the usual case, one pass
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
