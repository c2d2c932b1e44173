"""Process-wide switches: the monotonicity check, E-step threads and compiled kernels."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from numbers import Integral
from typing import Any

_VALID_MONOTONIC = ("warn", "raise", "ignore")
_VALID_KERNELS = ("auto", "numba", "numpy")
#: Environment variable that sets the initial ``kernels`` option.
KERNELS_ENV = "EMKIT_KERNELS"


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _initial_kernels() -> str:
    value = os.environ.get(KERNELS_ENV, "auto").strip().lower() or "auto"
    return value if value in _VALID_KERNELS else "auto"


_config: dict[str, Any] = {"monotonic": "warn", "n_threads": None, "kernels": _initial_kernels()}


def get_config() -> dict[str, Any]:
    """Return a copy of the current emkit configuration."""
    return dict(_config)


def effective_threads() -> int:
    """Threads the E-step uses: ``n_threads`` or, when None, the CPUs available."""
    return _config["n_threads"] or _available_cpus()


def set_config(
    *,
    monotonic: str | None = None,
    n_threads: int | str | None = "keep",
    kernels: str | None = None,
) -> None:
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
    kernels : {"auto", "numba", "numpy"}, optional
        Which implementation of the E-step's inner loops runs: the compiled
        kernels of :mod:`emkit._kernels` (needs the optional ``numba``
        dependency, ``pip install emkit[fast]``), the pure-NumPy path, or
        "auto" (default): numba when it is installed and the data are large
        enough to repay the one-off compilation, NumPy otherwise.  Both give
        the same results up to float rounding.  The environment variable
        ``EMKIT_KERNELS`` sets the initial value.
    """
    if kernels is not None:
        if kernels not in _VALID_KERNELS:
            raise ValueError(f"kernels must be one of {_VALID_KERNELS}, got {kernels!r}")
        _config["kernels"] = kernels
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
    *,
    monotonic: str | None = None,
    n_threads: int | str | None = "keep",
    kernels: str | None = None,
) -> Iterator[None]:
    """Temporarily change options inside a ``with`` block."""
    saved = get_config()
    set_config(monotonic=monotonic, n_threads=n_threads, kernels=kernels)
    try:
        yield
    finally:
        _config.update(saved)
