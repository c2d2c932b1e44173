"""Warnings and errors raised by emkit."""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "DegenerateComponentError",
    "ModelFileError",
    "MonotonicityError",
    "MonotonicityWarning",
]


class MonotonicityWarning(RuntimeWarning):
    """EM's objective decreased between two iterations by more than float noise."""


class MonotonicityError(RuntimeError):
    """Raised instead of :class:`MonotonicityWarning` in strict mode."""


class DegenerateComponentError(ValueError):
    """A component's covariance became singular (collapsed onto too few points)."""


class ModelFileError(ValueError):
    """A saved model file is missing, corrupted or not an emkit model."""
