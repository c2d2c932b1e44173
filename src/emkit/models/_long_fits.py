"""What the estimators share to make long fits visible and resumable.

:class:`LongFitMixin` reads the estimator parameters ``verbose``,
``verbose_interval``, ``callback``, ``checkpoint`` and
``checkpoint_interval`` (and the online ones, ``schedule``, ``batch_size``,
``learning_decay``), builds the :class:`~emkit.em.progress.Monitor` a fit
passes to the EM runners, and finds the checkpoint a ``warm_start`` fit
resumes from.  An estimator whose ``__init__`` lacks one of these
parameters gets its default.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .._validation import check_int
from ..em.checkpoint import (
    CheckpointError,
    RunState,
    check_matches,
    data_fingerprint,
    params_fingerprint,
    read_checkpoint,
)
from ..em.progress import (
    Checkpointer,
    IterationInfo,
    Monitor,
    check_callback,
    estimator_view,
)

#: Defaults of the long-fit and online parameters (for estimators that lack them).
LONG_FIT_DEFAULTS = {
    "schedule": "batch",
    "batch_size": None,
    "learning_decay": 0.7,
    "verbose_interval": 1,
    "callback": None,
    "checkpoint": None,
    "checkpoint_interval": 10,
}
#: Parameters that only steer a run: a checkpoint written with other values still applies.
RUN_CONTROLS = ("max_iter", "tol", "verbose", "verbose_interval", "callback", "checkpoint",
                "checkpoint_interval", "warm_start", "n_init", "random_state")


class LongFitMixin:
    """Monitor, callbacks and checkpoints of a fit (see the module docstring)."""

    def _option(self, name: str) -> Any:
        return getattr(self, name, LONG_FIT_DEFAULTS[name])

    def _check_long_fit_parameters(self) -> None:
        check_int(self._option("verbose_interval"), "verbose_interval", 1)
        check_int(self._option("checkpoint_interval"), "checkpoint_interval", 1)
        if self._option("batch_size") is not None:
            check_int(self._option("batch_size"), "batch_size", 1)
        check_callback(self._option("callback"))
        path = self._option("checkpoint")
        if path is not None:
            if not isinstance(path, (str, os.PathLike)):
                raise ValueError(f"checkpoint must be a file path or None, got "
                                 f"{type(path).__name__}")
            folder = os.path.dirname(os.path.abspath(os.fspath(path)))
            if not os.path.isdir(folder):
                raise ValueError(f"checkpoint {os.fspath(path)}: folder {folder} does not exist")
            if os.path.isdir(path):
                raise ValueError(f"checkpoint {os.fspath(path)} is a folder, not a file path")

    def _runner_name(self, schedule: str) -> str:
        if schedule != "batch":
            return schedule
        accelerate = getattr(self, "accelerate", None)
        return accelerate if accelerate is not None else "em"

    def _checkpoint_params(self) -> dict:
        return params_fingerprint(self.get_params(deep=False), ignore=RUN_CONTROLS)

    def _monitor(self, source, runner: str, n_init: int, model) -> Monitor | None:
        """The fit's monitor, or None when nothing watches (no cost at all)."""
        callbacks = check_callback(self._option("callback"))
        path = self._option("checkpoint")
        verbose = int(self.verbose or 0)
        if not callbacks and not verbose and path is None:
            return None
        checkpointer = None
        if path is not None:
            if n_init != 1:
                raise ValueError(f"checkpoint needs n_init=1 (one run to resume), got "
                                 f"n_init={n_init}; run restarts as separate fits")
            data = getattr(self, "_checkpoint_data", None)
            checkpointer = Checkpointer(
                path, self._option("checkpoint_interval"), estimator=type(self).__name__,
                params=self._checkpoint_params(),
                data=data if data is not None else (lambda: data_fingerprint(source)),
                schedule=runner)
        return Monitor(
            callbacks=callbacks, verbose=verbose,
            verbose_interval=self._option("verbose_interval"), checkpoint=checkpointer,
            view=estimator_view(self, lambda est, params: est._set_params(params, model)),
            max_iter=self.max_iter, n_init=n_init, schedule=runner)

    def _read_checkpoint(self, source, runner: str) -> RunState | None:
        """The checkpointed state a ``warm_start`` fit of an unfitted estimator resumes.

        None without ``warm_start``, without ``checkpoint`` or when the file does
        not exist yet.

        Raises
        ------
        CheckpointError
            The file is not a checkpoint, or was written by another estimator,
            with other parameters or for other data (one line naming it).
        """
        self._checkpoint_data = None
        path = self._option("checkpoint")
        if not getattr(self, "warm_start", False) or path is None or not os.path.exists(path):
            return None
        meta, state = read_checkpoint(path)
        data = data_fingerprint(source)
        check_matches(meta, path, estimator=type(self).__name__,
                      params=self._checkpoint_params(), data=data, schedule=runner)
        self._checkpoint_data = data
        if self.n_init != 1 and not isinstance(self.n_init, str):
            raise CheckpointError(f"{os.fspath(path)}: resuming needs n_init=1")
        return state

    def _online_callbacks(self, step: int, objective: float, params, model) -> None:
        """partial_fit: the callbacks (their return value cannot stop anything) and a
        verbose line, once per call."""
        callbacks = check_callback(self._option("callback"))
        if not callbacks and not self.verbose:
            return
        previous = getattr(self, "_online_previous", math.nan)
        self._online_previous = objective
        info = IterationInfo(step, objective, objective - previous, 0.0, params,
                             schedule="partial_fit",
                             view=estimator_view(self, lambda est, p: est._set_params(p, model)))
        if self.verbose and step % self._option("verbose_interval") == 0:
            print(f"  partial_fit {step:6d}  batch objective {objective: .10g}", flush=True)
        for callback in callbacks:
            callback(info)
