"""Process-wide switches: the monotonicity check and the number of E-step threads."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from numbers import Integral
from typing import Any

_VALID_MONOTONIC = ("warn", "raise", "ignore")


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_config: dict[str, Any] = {"monotonic": "warn", "n_threads": None}


def get_config() -> dict[str, Any]:
    """Return a copy of the current emkit configuration."""
    return dict(_config)


def effective_threads() -> int:
    """Threads the E-step uses: ``n_threads`` or, when None, the CPUs available."""
    return _config["n_threads"] or _available_cpus()


def set_config(*, monotonic: str | None = None, n_threads: int | str | None = "keep") -> None:
    """Set process-wide options.

    Parameters
    ----------
    monotonic : {"warn", "raise", "ignore"}, optional
        What EM does when its objective (log-likelihood) decreases between two
        iterations by more than floating-point noise: emit a
        :class:`~emkit.exceptions.MonotonicityWarning` (default), raise
        :class:`~emkit.exceptions.MonotonicityError` (the test-suite's strict
        mode), or do nothing.
    n_threads : int or None, optional
        Threads that process row chunks of the E-step in parallel (BLAS runs
        single-threaded inside each).  None (default) uses every available
        CPU.  Results do not depend on it: chunk statistics are always added
        in chunk order.
    """
    if monotonic is not None:
        if monotonic not in _VALID_MONOTONIC:
            raise ValueError(
                f"monotonic must be one of {_VALID_MONOTONIC}, got {monotonic!r}"
            )
        _config["monotonic"] = monotonic
    if n_threads != "keep":
        if n_threads is not None and (
            isinstance(n_threads, bool) or not isinstance(n_threads, Integral) or n_threads < 1
        ):
            raise ValueError(f"n_threads must be None or an integer >= 1, got {n_threads!r}")
        _config["n_threads"] = n_threads


@contextlib.contextmanager
def config_context(
    *, monotonic: str | None = None, n_threads: int | str | None = "keep"
) -> Iterator[None]:
    """Temporarily change options inside a ``with`` block."""
    saved = get_config()
    set_config(monotonic=monotonic, n_threads=n_threads)
    try:
        yield
    finally:
        _config.update(saved)
