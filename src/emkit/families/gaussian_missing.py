"""Missing values in :class:`~emkit.families.gaussian.GaussianMixtureModel`: dispatch and caches.

Chunks with NaN take one of two paths that give the same numbers (up to
float rounding):

* the compiled pattern kernel (:mod:`emkit.families.missing_patterns`) when
  :func:`emkit._kernels.use_numba` says so for the fit's work: rows sorted by
  missingness pattern once per chunk, one partial Cholesky per pattern and
  component per E-step, one pass for log-densities, responsibilities and
  expected statistics;
* the NumPy path (:mod:`emkit.families.missing`) otherwise (numba not
  installed, ``kernels="numpy"``, small fits, more than
  :data:`PATTERN_MAX_FEATURES` features).

Per-chunk layouts are cached for the fit: in-memory chunks by their data
pointer and shape (sources yield views), chunks read anew each pass by the
array object itself (the entries go when the array does).
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import _kernels
from ._numeric import check_rows_evaluable
from .missing import (
    MissingLayout,
    complete_rows,
    incomplete_values,
    missing_layout,
    missing_log_prob,
    missing_moments,
)
from .missing_patterns import PatternLayout, PatternTable, compiled, run_chunk

_NO_MISSING = "no missing value"
#: The compiled pattern kernel serves chunks of up to this many features; beyond,
#: most rows have a missingness pattern of their own, the kernel would factorise
#: an observed block per row, and the NumPy path (which inverts only the missing
#: block of each pattern's precision) is faster.  Measured on the 2-core machine
#: (``docs/missing-values.md``).
PATTERN_MAX_FEATURES = 16


class MissingValuesMixin:
    """The missing-value half of the Gaussian engine model (needs ``structure``,
    ``kernel_work``, ``persistent_chunks``, ``centers`` and ``_global_center``)."""

    def _init_missing(self) -> None:
        self._layout_cache: dict = {}
        self._completion_cache: dict = {}
        self._pattern_cache: dict = {}
        self._patterns = PatternTable()
        self._diagonal_moments: bool | None = None

    def clear_chunk_caches(self) -> None:
        """Forget every per-chunk layout (X may be any array outside a fit)."""
        self._layout_cache.clear()
        self._completion_cache.clear()
        self._pattern_cache.clear()
        self._patterns.forget_factors()

    # --- which path ---------------------------------------------------------
    def _pattern_layout(self, X: np.ndarray, n_components: int) -> PatternLayout | None:
        """The chunk's pattern layout if the compiled path serves it, else None.

        None also when the chunk has no missing value.
        """
        if X.shape[1] > PATTERN_MAX_FEATURES:
            return None
        work = self.kernel_work
        if work is None:  # outside a fit (predict, score): the call's own work
            work = X.shape[0] * n_components
        if not _kernels.use_numba(work):
            return None
        cache = self._pattern_cache
        key = self._chunk_key(X)
        if key not in cache:
            cache[key] = self._patterns.layout(X) if self._has_missing(X) else _NO_MISSING
        layout = cache[key]
        return None if layout is _NO_MISSING else layout

    def _has_missing(self, X: np.ndarray) -> bool:
        """Whether the chunk holds a NaN (cached with the chunk's layouts)."""
        key = self._chunk_key(X)
        known = self._pattern_cache.get(key)
        if known is not None:
            return known is not _NO_MISSING
        if key in self._layout_cache:
            return self._layout_cache[key] is not None
        if np.isnan(X).any():
            return True
        self._pattern_cache[key] = _NO_MISSING
        self._layout_cache[key] = None
        return False

    def _diagonal(self) -> bool:
        """Whether the structure reads only the diagonal of the second moments."""
        if self._diagonal_moments is None:
            self._diagonal_moments = self.structure.reduce_second(np.zeros((1, 2, 2))).shape \
                == (1, 2)
        return self._diagonal_moments

    def _full_covariances(self, params) -> np.ndarray:
        K, D = params.means.shape
        return np.ascontiguousarray(
            [self.structure.component_covariance(params.covariances, k, D) for k in range(K)],
            dtype=np.float64)

    def _run_patterns(self, params, X, layout: PatternLayout, mode: int, **kw):
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        centers = self.centers(params.weights, params.means)
        out = run_chunk(self._patterns, layout, X, params, self._covariances_of(params),
                        log_weights, self._global_center(params), centers, mode,
                        diagonal=self._diagonal(), **kw)
        return out, centers

    def _covariances_of(self, params) -> np.ndarray:
        cached = self.__dict__.get("_covariance_cache")
        if cached is not None and cached[0] is params:
            return cached[1]
        full = self._full_covariances(params)
        self.__dict__["_covariance_cache"] = (params, full)
        return full

    # --- engine hooks -------------------------------------------------------
    def _missing_log_joint(self, params, X: np.ndarray) -> np.ndarray | None:
        """log pi_k + log p(x_O | k) of a chunk with NaN (None: no NaN in the chunk)."""
        if not self._has_missing(X):
            return None
        patterns = self._pattern_layout(X, params.weights.shape[0])
        if patterns is not None:
            out, _ = self._run_patterns(params, X, patterns, compiled().MODE_LOG_JOINT)
            return check_rows_evaluable(out, X)
        layout = self._layout(X)
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        out = np.empty((X.shape[0], params.weights.shape[0]))
        if layout.complete_rows.size:
            out[layout.complete_rows] = self.structure.log_prob(
                X[layout.complete_rows], params.means, params.precisions_cholesky,
                self._global_center(params), log_weights,
            )
        K, D = params.means.shape
        log_det = 2.0 * self.structure.log_det_cholesky(params.precisions_cholesky, K, D)
        completions = self._completions(params, X, layout)
        out[layout.incomplete_rows] = missing_log_prob(completions, log_det, layout) + log_weights
        return check_rows_evaluable(out, X)

    def _missing_soft_e_step(self, params, X: np.ndarray, weights: np.ndarray):
        """Fused soft E-step of a chunk with NaN by the compiled kernel, or None."""
        if not self._has_missing(X):
            return None
        patterns = self._pattern_layout(X, params.weights.shape[0])
        if patterns is None:
            return None
        (row_objective, counts, first, second), centers = self._run_patterns(
            params, X, patterns, compiled().MODE_FUSED, weights=weights)
        if not np.isfinite(row_objective).all():  # rare: re-evaluate to name the row
            check_rows_evaluable(self.log_joint(params, X), X)
        return row_objective, (counts, first, self.structure.reduce_second(second), centers)

    def _missing_statistics(self, params, X: np.ndarray, resp: np.ndarray):
        """(counts, first, second, centers) of a chunk with NaN, or None (no NaN)."""
        if not self._has_missing(X):
            return None
        patterns = self._pattern_layout(X, params.weights.shape[0])
        if patterns is not None:
            (_, counts, first, second), centers = self._run_patterns(
                params, X, patterns, compiled().MODE_STATISTICS, resp=resp)
            return counts, first, self.structure.reduce_second(second), centers
        layout = self._layout(X)
        centers = self.centers(params.weights, params.means)
        completions = self._completions(params, X, layout)
        self._completion_cache.pop(self._chunk_key(X), None)
        counts, first, second_full = missing_moments(
            completions, layout, resp[layout.incomplete_rows], params.means, centers
        )
        second = self.structure.reduce_second(second_full)
        if layout.complete_rows.size:
            rows = layout.complete_rows
            part = self.statistics_about(X[rows], resp[rows], centers)
            counts, first, second = part.counts + counts, part.first + first, part.second + second
        return counts, first, second, centers

    # --- per-chunk caches -----------------------------------------------------
    def _chunk_key(self, X: np.ndarray) -> tuple:
        if self.persistent_chunks:
            return (X.__array_interface__["data"][0], X.shape, X.strides)
        key = ("object", id(X))
        if key not in self._chunk_refs:
            owner_ref = weakref.ref(self)

            def forget(_, key=key, refs=self._chunk_refs, model=owner_ref):
                refs.pop(key, None)
                owner = model()
                if owner is not None:
                    for cache in (owner._layout_cache, owner._completion_cache,
                                  owner._pattern_cache):
                        cache.pop(key, None)
            self._chunk_refs[key] = weakref.ref(X, forget)
        return key

    @property
    def _chunk_refs(self) -> dict:
        refs = self.__dict__.get("_refs")
        if refs is None:
            refs = self.__dict__["_refs"] = {}
        return refs

    def _missing_state(self, state: dict) -> dict:
        # caches stay where they were made (a copy sent to a Dask worker starts empty)
        state.update(_layout_cache={}, _completion_cache={}, _pattern_cache={},
                     _patterns=PatternTable())
        state.pop("_refs", None)
        state.pop("_covariance_cache", None)
        return state

    def _layout(self, X: np.ndarray) -> MissingLayout | None:
        cache = self._layout_cache
        key = self._chunk_key(X)
        if key not in cache:
            cache[key] = missing_layout(X)
        return cache[key]

    def _completions(self, params, X: np.ndarray, layout: MissingLayout):
        cache = self._completion_cache
        key = self._chunk_key(X)
        hit = cache.get(key)
        if hit is not None and hit[0] is params:
            return hit[1]
        K, D = params.means.shape
        precisions = self.structure.full_precisions(params.precisions_cholesky, K, D)
        values = incomplete_values(X, layout)
        completions = [complete_rows(values, layout, params.means[k], precisions[k])
                       for k in range(K)]
        cache[key] = (params, completions)
        return completions
