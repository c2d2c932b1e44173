"""Pieces every estimator shares: input checks, the chunked source and restarts."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import check_finite, check_sample_weight
from .._warnings import external_stacklevel
from ..em.accelerate import check_accelerate, get_runner
from ..em.engine import EMResult, run_em
from ..em.online import run_incremental, run_stepwise
from ..exceptions import ConvergenceWarning
from ..sources import ArraySource, default_chunk_size


class ReadableReprMixin:
    """``repr`` with long array parameters abbreviated: ``array([0, 1, 2, ..., 1, 0, 2])``.

    scikit-learn prints every parameter that differs from its default, so an
    estimator built with a partition or initial means of a large data set (as
    each cell of :func:`~emkit.select_model` is) would print thousands of
    numbers.  Put this mixin before ``BaseEstimator`` in the bases.
    """

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        with np.printoptions(threshold=6, edgeitems=3):
            return super().__repr__(N_CHAR_MAX)  # type: ignore[misc]


def validate_X(
    estimator,
    X,
    *,
    reset: bool,
    min_samples: int = 1,
    allow_nan: bool = False,
    dtype: type = np.float64,
) -> np.ndarray:
    """2-D float array with named errors for NaN/inf; records n_features_in_ on reset.

    With ``allow_nan`` NaN marks a missing value (inf is still an error).
    ``dtype`` is float64, or float32 for estimators with the opt-in
    single-precision E-step.
    """
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=dtype,
        ensure_all_finite=False,
        ensure_min_samples=min_samples,
    )
    check_finite(X, "X", allow_nan=allow_nan)
    return X


def make_source(X, sample_weight, chunk_size, row_width: int) -> ArraySource:
    """Chunked source over X; ``row_width`` floats of work per row set the default chunk."""
    if chunk_size is None:
        chunk_size = default_chunk_size(X.shape[0], row_width)
    w = check_sample_weight(sample_weight, X.shape[0])
    return ArraySource(X, w, chunk_size)


def fit_with_restarts(
    model,
    initial_params,
    source,
    *,
    n_init: int,
    tol: float,
    max_iter: int,
    assignment: str = "soft",
    verbose: int = 0,
    final_objective=None,
    accelerate: str | None = None,
    schedule: str = "batch",
    schedule_options: dict | None = None,
    monitor=None,
    resume=None,
) -> EMResult:
    """Run EM from ``n_init`` starts (``initial_params()`` gives each) and keep the best.

    "Best" is the highest final objective, or the highest ``final_objective(result)``
    when given (k-means ranks restarts by the inertia of the final centres).
    A :class:`ConvergenceWarning` is emitted when the kept run hit ``max_iter``.
    ``accelerate`` chooses the runner: None for plain EM (:func:`run_em`),
    ``"squarem"`` or ``"overrelax"`` for :mod:`emkit.em.accelerate` (soft
    assignments only; ``max_iter`` then bounds the EM-map evaluations).
    ``schedule`` "incremental" or "stepwise" runs :mod:`emkit.em.online`'s
    runners instead (``schedule_options``: their ``batch_size``, ``decay``,
    ``seed``).  ``monitor`` (:class:`emkit.em.progress.Monitor`) watches every
    run; ``resume`` (a :class:`~emkit.em.checkpoint.RunState`, with
    ``n_init=1``) continues a checkpointed run.  A run stopped by the monitor
    ends the restarts, and no ConvergenceWarning is issued for it.
    """
    accelerate = check_accelerate(accelerate)
    options = dict(schedule_options or {})
    if schedule == "incremental":
        def run(params, resume):
            return run_incremental(model, params, source, tol=tol, max_iter=max_iter,
                                   monitor=monitor, resume=resume, **options)
    elif schedule == "stepwise":
        def run(params, resume):
            result, state = run_stepwise(model, params, source, tol=tol, max_iter=max_iter,
                                         assignment=assignment, monitor=monitor,
                                         resume=resume, **options)
            result.stepwise_state = state
            return result
    elif accelerate is None:
        def run(params, resume):
            return run_em(
                model, params, source, tol=tol, max_iter=max_iter,
                assignment=assignment, verbose=verbose, monitor=monitor, resume=resume,
            )
    else:
        if assignment != "soft":
            raise ValueError(
                f"accelerate={accelerate!r} needs soft assignments; hard-assignment EM "
                "(k-means) is not accelerated"
            )
        runner = get_runner(accelerate)

        def run(params, resume):
            return runner(model, params, source, tol=tol, max_iter=max_iter,
                          verbose=max(0, verbose - 1) if monitor is not None else verbose,
                          monitor=monitor, resume=resume)
    best = None
    best_score = -np.inf
    stopped = False
    for init in range(n_init):
        if resume is not None and init == 0:
            params = resume.params
        else:
            params = initial_params()
        if monitor is not None:
            monitor.begin(init, resume if init == 0 else None)
        elif verbose:
            print(f"initialisation {init + 1}/{n_init}")
        result = run(params, resume if init == 0 else None)
        score = result.objective if final_objective is None else final_objective(result)
        if best is None or score > best_score:
            best, best_score = result, score
        if result.stopped:
            stopped = True
            break
    if max_iter > 0 and not best.converged and not stopped and not getattr(best, "warned", False):
        warnings.warn(
            f"Best performing initialization did not converge in max_iter={max_iter} "
            "iterations. Try a larger max_iter, a larger tol, or check the data.",
            ConvergenceWarning,
            stacklevel=external_stacklevel(),
        )
    return best
