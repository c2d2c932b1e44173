"""Process-wide switches (currently: what to do when EM's objective decreases)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_VALID_MONOTONIC = ("warn", "raise", "ignore")
_config = {"monotonic": "warn"}


def get_config() -> dict[str, str]:
    """Return a copy of the current emkit configuration."""
    return dict(_config)


def set_config(*, monotonic: str | None = None) -> None:
    """Set process-wide options.

    Parameters
    ----------
    monotonic : {"warn", "raise", "ignore"}, optional
        What EM does when its objective (log-likelihood) decreases between two
        iterations by more than floating-point noise: emit a
        :class:`~emkit.exceptions.MonotonicityWarning` (default), raise
        :class:`~emkit.exceptions.MonotonicityError` (the test-suite's strict
        mode), or do nothing.
    """
    if monotonic is not None:
        if monotonic not in _VALID_MONOTONIC:
            raise ValueError(
                f"monotonic must be one of {_VALID_MONOTONIC}, got {monotonic!r}"
            )
        _config["monotonic"] = monotonic


@contextlib.contextmanager
def config_context(*, monotonic: str | None = None) -> Iterator[None]:
    """Temporarily change options inside a ``with`` block."""
    saved = get_config()
    set_config(monotonic=monotonic)
    try:
        yield
    finally:
        _config.update(saved)
