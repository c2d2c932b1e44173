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
    """The ``kernels`` option set by the environment variable ``EMKIT_KERNELS``.

    Raises
    ------
    ValueError
        The variable holds something else than auto, numba or numpy (naming them).
    """
    raw = os.environ.get(KERNELS_ENV, "auto")
    value = raw.strip().lower() or "auto"
    if value not in _VALID_KERNELS:
        raise ValueError(f"environment variable {KERNELS_ENV}={raw[:40]!r} is not one of "
                         f"{', '.join(_VALID_KERNELS)} (or unset it)")
    return value


# "kernels": None until first read, then from EMKIT_KERNELS (read lazily, so that an
# invalid value is a clear error where emkit is used, not an import failure).
_config: dict[str, Any] = {"monotonic": "warn", "n_threads": None, "kernels": None}


def get_config() -> dict[str, Any]:
    """Return a copy of the current emkit configuration.

    Raises
    ------
    ValueError
        The environment variable ``EMKIT_KERNELS`` is invalid (and ``kernels``
        was not set by :func:`set_config`).
    """
    if _config["kernels"] is None:
        _config["kernels"] = _initial_kernels()
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
        ``EMKIT_KERNELS`` sets the initial value (another value than these
        three is an error when emkit first reads its configuration).
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
    saved = dict(_config)
    set_config(monotonic=monotonic, n_threads=n_threads, kernels=kernels)
    try:
        yield
    finally:
        _config.update(saved)
