"""Input checks whose errors name the offending row, column or parameter."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np


def check_finite(X: np.ndarray, name: str = "X", allow_nan: bool = False) -> None:
    """Raise a ValueError naming the first row and column holding NaN or inf.

    With ``allow_nan`` only infinities are errors (NaN marks missing values).
    """
    if X.size == 0 or np.isfinite(X).all():
        return
    if allow_nan:
        bad = np.isinf(X)
        if not bad.any():
            return
    else:
        bad = ~np.isfinite(X)
    row, col = np.argwhere(bad)[0]
    value = X[row, col]
    what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    count = int(bad.sum())
    raise ValueError(
        f"{name} contains {what} at row {row}, column {col} ({count} non-finite "
        f"value{'s' if count > 1 else ''} in total; "
        + ("inf is not allowed; NaN marks a missing value). " if allow_nan else
           "NaN and inf are not allowed). Remove or impute those entries first.")
    )


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Return sample weights as a float64 vector, checking shape, sign and finiteness."""
    if sample_weight is None:
        return np.ones(n_samples)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X, got {w.shape}"
        )
    if not np.isfinite(w).all():
        raise ValueError(
            f"sample_weight contains a non-finite value at index {int(np.argmin(np.isfinite(w)))}"
        )
    if (w < 0).any():
        raise ValueError(
            f"sample_weight must be non-negative; index {int(np.argmax(w < 0))} is {w[w < 0][0]}"
        )
    if w.sum() <= 0:
        raise ValueError("sample_weight sums to zero: at least one row needs a positive weight")
    return w


def check_int(value, name: str, minimum: int = 1) -> int:
    """Check an integer parameter ``value >= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(value, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """Check a real parameter ``value >= minimum`` (``>`` when strict)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        rel = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {rel} {minimum}, got {value!r}")
    return float(value)


def check_option(value, name: str, options) -> str:
    """Check a string parameter against its allowed values."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def check_enough_samples(n_samples: int, n_components: int, what: str = "n_components") -> None:
    """A mixture of K components needs at least K rows."""
    if n_samples < n_components:
        raise ValueError(
            f"X has {n_samples} row{'s' if n_samples != 1 else ''} but {what}={n_components}: "
            f"need at least as many rows as components"
        )


def check_observed_columns(X: np.ndarray, name: str = "X") -> None:
    """Fitting needs at least one observed value in every column."""
    observed = (~np.isnan(X)).any(axis=0)
    if not observed.all():
        col = int(np.argmin(observed))
        raise ValueError(
            f"{name} column {col} has no observed value (every entry is NaN); drop the column"
        )


def check_partial_labels(y, n_samples: int, n_components: int) -> np.ndarray | None:
    """Partial labels for semi-supervised EM: component index per row, -1 = unknown.

    Returns None when no row is labelled.
    """
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(
            f"y must have shape ({n_samples},) to match X (a component index per row, "
            f"-1 for unknown), got {labels.shape}"
        )
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            row = int(np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))[0])
            raise ValueError(f"y must hold integer component labels; row {row} is {labels[row]}")
        labels = labels.astype(np.intp)
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer component labels (-1 = unknown), got dtype "
                         f"{labels.dtype}")
    labels = labels.astype(np.intp)
    bad = (labels < -1) | (labels >= n_components)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"y has label {labels[row]} at row {row} but n_components={n_components}: labels "
            f"must be in 0..{n_components - 1}, or -1 for an unlabelled row"
        )
    return labels if (labels >= 0).any() else None
