"""Helpers shared by families of independent columns: missing entries, named errors,
and a per-chunk cache of data-only quantities."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def column_label(column: int, names: Sequence[str] | None = None) -> str:
    """``column 3`` or ``column 'height'`` for error messages."""
    if names is not None:
        return f"column {names[column]!r}"
    return f"column {column}"


def first_cell(bad: np.ndarray) -> tuple[int, int]:
    """(row, column) of the first True entry of a 2-D mask (row-major order)."""
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)


def check_no_infinity(X: np.ndarray, what: str, names: Sequence[str] | None = None) -> None:
    """Infinities are errors naming their row and column (NaN marks a missing value)."""
    if X.dtype.kind != "f":
        return
    bad = np.isinf(X)
    if bad.any():
        row, col = first_cell(bad)
        raise ValueError(
            f"{what} has value {float(X[row, col])!r} at row {row}, "
            f"{column_label(col, names)} (infinities are not allowed; NaN marks a missing value)"
        )


def split_missing(X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(X with missing entries as 0, float indicator of the missing entries or None)."""
    if X.dtype.kind != "f":
        return X, None
    missing = np.isnan(X)
    if not missing.any():
        return X, None
    return np.where(missing, 0.0, X), missing.astype(np.float64)


class ChunkCache:
    """Per-chunk values computed from the data alone, kept for the length of a fit.

    Chunks are identified by their data pointer, shape and strides (sources
    yield views of one array, so a chunk has the same identity every
    iteration).  Each entry holds a reference to its chunk, so that the memory
    cannot be reused by another array while the entry exists.  The cache is
    off until :meth:`enable` (a family's ``prepare``): a family used outside a
    fit computes everything afresh.  Safe for the engine's chunk threads.
    """

    def __init__(self) -> None:
        self.enabled = False
        self._entries: dict[tuple, tuple[np.ndarray, Any]] = {}
        self._lock = threading.Lock()

    def enable(self) -> None:
        self.enabled = True
        self._entries.clear()

    @staticmethod
    def _key(X: np.ndarray) -> tuple:
        return (X.__array_interface__["data"][0], X.shape, X.strides, X.dtype.str)

    def get(self, X: np.ndarray, compute: Callable[[np.ndarray], Any]) -> Any:
        """``compute(X)``, cached when enabled."""
        if not self.enabled:
            return compute(X)
        key = self._key(X)
        hit = self._entries.get(key)
        if hit is not None:
            return hit[1]
        value = compute(X)
        with self._lock:
            self._entries[key] = (X, value)
        return value

    def __getstate__(self) -> dict:  # pickling a family drops the cache
        return {"enabled": False}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
