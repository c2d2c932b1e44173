"""Watching long fits: per-iteration callbacks, verbose lines, a progress bar, checkpoints.

Every EM runner (:func:`~emkit.em.engine.run_em`, the accelerated runners of
:mod:`emkit.em.accelerate`, and the online schedules of :mod:`emkit.em.online`)
takes an optional *monitor*: after every iteration it calls
``monitor.iteration(state)`` with a :class:`~emkit.em.checkpoint.RunState`
and stops when that returns True; it calls ``monitor.end(result, state)``
once when the run is over.  :class:`Monitor` is the one the estimators build
from their ``verbose``, ``verbose_interval``, ``callback``, ``checkpoint`` and
``checkpoint_interval`` parameters.

Callbacks
---------
A callback is any callable taking an :class:`IterationInfo`; it is called once
per iteration and stops the fit by returning True.  An object may also have
``start(info)`` (called when a run starts, with ``info.iteration`` the
iterations already done, 0 unless resumed) and ``finish(info)`` (called when
it ends; ``info.status`` says why).  :class:`ProgressBar` is such an object.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .checkpoint import RunState, write_checkpoint


@dataclasses.dataclass
class IterationInfo:
    """What a callback sees after each iteration.

    Attributes
    ----------
    iteration : int
        Iterations done in this run (1 after the first; a resumed run goes on
        counting from its checkpoint).
    objective : float
        Mean objective per unit of row weight of the parameters that *entered*
        this iteration (the last entry of ``lower_bounds_``): the
        log-likelihood, the log posterior with a prior, incremental EM's free
        energy, stepwise EM's running estimate (see the runner).
    change : float
        ``objective`` minus the previous iteration's (NaN at the first).
    elapsed : float
        Seconds since this run started (in this process).
    params : object
        The current parameters in the engine's form (for example
        :class:`~emkit.families.gaussian.GaussianParams`): the next iteration
        starts from them, and a run stopped now returns them (the accelerated
        runners return one EM step further).
    init, n_init : int
        Index of this run among the ``n_init`` restarts (from 0).
    max_iter : int
    schedule : str
        The runner: "em", "squarem", "overrelax", "incremental", "stepwise".
    status : str
        "running"; in ``finish``: "converged", "max_iter" or "stopped".
    """

    iteration: int
    objective: float
    change: float
    elapsed: float
    params: Any
    init: int = 0
    n_init: int = 1
    max_iter: int = 0
    schedule: str = "em"
    status: str = "running"
    view: Callable[[Any], Any] | None = dataclasses.field(default=None, repr=False)

    def estimator_view(self):
        """A copy of the estimator holding the current parameters.

        It predicts and scores like a fitted estimator (``converged_`` is
        False and ``n_iter_`` is :attr:`iteration`), for example to follow a
        held-out log-likelihood.  Raises TypeError when the run was not
        started by an estimator.
        """
        if self.view is None:
            raise TypeError("this run has no estimator to view")
        return self.view(self.params, self)


def check_callback(value: Any, name: str = "callback") -> list:
    """``callback``: None, a callable, or a list/tuple of callables -> list of callables."""
    if value is None:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not callable(item):
            raise ValueError(f"{name} must be a callable or a list of callables, "
                             f"got {type(item).__name__}")
    return items


class ProgressBar:
    """A tqdm progress bar over the iterations of a fit (a callback object).

    Shows the iterations done out of ``max_iter``, the objective and its last
    change; one bar per run (``init i/n`` when there are restarts).

    Parameters
    ----------
    file : file object, optional
        Where to draw (default ``sys.stderr``).
    disable : bool or None, default=None
        None draws only when ``file`` is a terminal (tqdm's rule), so a bar
        never ends up in a log file or a pipe; True never draws.
    leave : bool, default=True
        Keep the finished bar on screen.
    desc : str, default="EM"

    Raises
    ------
    ImportError
        When tqdm is not installed (``pip install emkit[progress]``).
    """

    def __init__(self, *, file=None, disable: bool | None = None, leave: bool = True,
                 desc: str = "EM"):
        try:
            import tqdm  # noqa: F401
        except ImportError:
            raise ImportError(
                "ProgressBar needs tqdm: pip install tqdm (or emkit[progress])"
            ) from None
        self.file = file
        self.disable = disable
        self.leave = leave
        self.desc = desc
        self._bar = None

    def start(self, info: IterationInfo) -> None:
        from tqdm.auto import tqdm

        desc = self.desc if info.n_init == 1 else f"{self.desc} {info.init + 1}/{info.n_init}"
        self._bar = tqdm(total=info.max_iter or None, initial=info.iteration, desc=desc,
                         file=self.file if self.file is not None else sys.stderr,
                         disable=self.disable, leave=self.leave, unit="it",
                         dynamic_ncols=True)

    def __call__(self, info: IterationInfo) -> bool:
        if self._bar is None:
            self.start(info)
        self._bar.update(info.iteration - self._bar.n)
        change = "" if math.isnan(info.change) else f"{info.change:.2e}"
        self._bar.set_postfix_str(f"objective {info.objective:.8g} change {change}",
                                  refresh=False)
        return False

    def finish(self, info: IterationInfo) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"objective {info.objective:.8g} {info.status}",
                                      refresh=False)
            self._bar.close()
            self._bar = None


class Checkpointer:
    """Writes a run's state to ``path`` every ``interval`` iterations and at its end.

    ``data`` (a fingerprint of the data, :func:`~emkit.em.checkpoint.data_fingerprint`)
    may be a function, called once at the first write.
    """

    def __init__(self, path, interval: int, *, estimator: str, params: dict,
                 data: dict | Callable[[], dict], schedule: str):
        self.path = path
        self.interval = int(interval)
        self.estimator = estimator
        self.params = params
        self._data = data
        self.schedule = schedule
        self.saved_iteration: int | None = None

    @property
    def data(self) -> dict:
        if callable(self._data):
            self._data = self._data()
        return self._data

    def save(self, state: RunState) -> None:
        write_checkpoint(self.path, estimator=self.estimator, params=self.params,
                         data=self.data, schedule=self.schedule, state=state)
        self.saved_iteration = state.iteration


class Monitor:
    """What the estimators pass to the runners: verbose lines, callbacks, checkpoints.

    Parameters
    ----------
    callbacks : sequence of callables
        See the module docstring.
    verbose : int
        > 0: print a line every ``verbose_interval`` iterations (iteration,
        objective, change, seconds) and one when a run ends.
    verbose_interval : int
    checkpoint : Checkpointer or None
    view : callable or None
        ``view(params, info) -> estimator`` for :meth:`IterationInfo.estimator_view`.
    max_iter, n_init : int
    schedule : str
    out : file object
        Where verbose lines go (default ``sys.stdout``, as scikit-learn).
    """

    def __init__(self, *, callbacks: Sequence[Callable] = (), verbose: int = 0,
                 verbose_interval: int = 1, checkpoint: Checkpointer | None = None,
                 view: Callable | None = None, max_iter: int = 0, n_init: int = 1,
                 schedule: str = "em", out=None):
        self.callbacks = list(callbacks)
        self.verbose = int(verbose)
        self.verbose_interval = max(1, int(verbose_interval))
        self.checkpoint = checkpoint
        self.view = view
        self.max_iter = max_iter
        self.n_init = n_init
        self.schedule = schedule
        self.out = out
        self.init = 0
        self._start = time.perf_counter()
        self._last: IterationInfo | None = None

    def _print(self, text: str) -> None:
        print(text, file=self.out if self.out is not None else sys.stdout, flush=True)

    def _info(self, state: RunState, status: str = "running") -> IterationInfo:
        history = state.history
        objective = float(history[-1]) if len(history) else math.nan
        change = float(history[-1] - history[-2]) if len(history) > 1 else math.nan
        return IterationInfo(state.iteration, objective, change,
                             time.perf_counter() - self._start, state.params, self.init,
                             self.n_init, self.max_iter, self.schedule, status, self.view)

    def begin(self, init: int = 0, state: RunState | None = None) -> None:
        """A run starts (``state``: where a resumed run stands)."""
        self.init = init
        self._start = time.perf_counter()
        info = self._info(state) if state is not None else IterationInfo(
            0, math.nan, math.nan, 0.0, None, init, self.n_init, self.max_iter,
            self.schedule, "running", self.view)
        self._last = None
        if self.verbose:
            resumed = f", resumed at iteration {info.iteration}" if info.iteration else ""
            self._print(f"Initialization {init + 1}/{self.n_init} ({self.schedule}{resumed})")
        for callback in self.callbacks:
            start = getattr(callback, "start", None)
            if start is not None:
                start(info)

    def iteration(self, state: RunState) -> bool:
        """After an iteration: print, checkpoint, call the callbacks; True stops the run."""
        info = self._info(state)
        self._last = info
        if self.verbose and (state.iteration % self.verbose_interval == 0):
            change = "" if math.isnan(info.change) else f"{info.change: .3e}"
            self._print(f"  iteration {info.iteration:5d}  objective {info.objective: .10g}  "
                        f"change {change:>10s}  time {info.elapsed:8.2f} s")
        if self.checkpoint is not None and state.iteration % self.checkpoint.interval == 0:
            self.checkpoint.save(state)
        stop = False
        for callback in self.callbacks:
            if callback(info):
                stop = True
        return stop

    def end(self, result: Any, state: RunState | None) -> None:
        """A run is over: the final checkpoint, a summary line, the callbacks' ``finish``."""
        if getattr(result, "converged", False):
            status = "converged"
        elif getattr(result, "stopped", False):
            status = "stopped"
        else:
            status = "max_iter"
        if self.checkpoint is not None and state is not None:
            self.checkpoint.save(state)  # the final state (and whether it converged)
        info = self._info(state, status) if state is not None else (
            self._last or IterationInfo(0, math.nan, math.nan, 0.0, None, self.init,
                                        self.n_init, self.max_iter, self.schedule, status,
                                        self.view))
        info.status = status
        if self.verbose:
            self._print(f"Initialization {self.init + 1}: {status} after {info.iteration} "
                        f"iterations, objective {info.objective:.10g} "
                        f"({info.elapsed:.2f} s)")
        for callback in self.callbacks:
            finish = getattr(callback, "finish", None)
            if finish is not None:
                finish(info)


def estimator_view(estimator: Any, set_params: Callable[[Any, Any], None]):
    """A ``view`` function for :class:`Monitor`: a shallow copy of ``estimator`` with
    ``set_params(copy, params)`` applied and ``n_iter_``/``converged_`` set."""

    def view(params: Any, info: IterationInfo):
        clone = copy.copy(estimator)
        set_params(clone, params)
        clone.n_iter_ = info.iteration
        clone.converged_ = False
        return clone

    return view
