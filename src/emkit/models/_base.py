"""Pieces every estimator shares: input checks, the chunked source and restarts."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import check_finite, check_sample_weight
from .._warnings import external_stacklevel
from ..em.accelerate import check_accelerate, get_runner
from ..em.engine import EMResult, run_em
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
) -> EMResult:
    """Run EM from ``n_init`` starts (``initial_params()`` gives each) and keep the best.

    "Best" is the highest final objective, or the highest ``final_objective(result)``
    when given (k-means ranks restarts by the inertia of the final centres).
    A :class:`ConvergenceWarning` is emitted when the kept run hit ``max_iter``.
    ``accelerate`` chooses the runner: None for plain EM (:func:`run_em`),
    ``"squarem"`` or ``"overrelax"`` for :mod:`emkit.em.accelerate` (soft
    assignments only; ``max_iter`` then bounds the EM-map evaluations).
    """
    accelerate = check_accelerate(accelerate)
    if accelerate is None:
        def run(params):
            return run_em(
                model, params, source, tol=tol, max_iter=max_iter,
                assignment=assignment, verbose=verbose,
            )
    else:
        if assignment != "soft":
            raise ValueError(
                f"accelerate={accelerate!r} needs soft assignments; hard-assignment EM "
                "(k-means) is not accelerated"
            )
        runner = get_runner(accelerate)

        def run(params):
            return runner(model, params, source, tol=tol, max_iter=max_iter, verbose=verbose)
    best = None
    best_score = -np.inf
    for init in range(n_init):
        params = initial_params()
        if verbose:
            print(f"initialisation {init + 1}/{n_init}")
        result = run(params)
        score = result.objective if final_objective is None else final_objective(result)
        if best is None or score > best_score:
            best, best_score = result, score
    if max_iter > 0 and not best.converged:
        warnings.warn(
            f"Best performing initialization did not converge in max_iter={max_iter} "
            "iterations. Try a larger max_iter, a larger tol, or check the data.",
            ConvergenceWarning,
            stacklevel=external_stacklevel(),
        )
    return best
