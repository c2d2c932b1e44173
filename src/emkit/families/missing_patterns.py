"""Gaussian E-step with missing values by missingness pattern, in compiled code.

The compiled counterpart of :mod:`emkit.families.missing` (which stays the
NumPy path, used without numba and by the Student-t family).  The rows of a
chunk that holds missing values are sorted by pattern once (the layout is
cached with the chunk); the patterns get ids in a table shared by the whole
fit, so that the factorisations of the observed blocks (one partial Cholesky
per pattern and component, :func:`emkit._numba_missing.pattern_factors`) are
computed once per E-step and shared by every chunk, not once per row or per
chunk.  When the table of factorisations would take more than
:data:`FACTOR_TABLE_BYTES` (many distinct patterns of many features), each
chunk factorises its own patterns instead.

The kernel (:func:`emkit._numba_missing.gmm_missing_chunk`) gives the
log-densities of the observed coordinates, the responsibilities and the
expected statistics (completed rows and conditional covariances) in one pass,
the same numbers as the NumPy path up to float rounding.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import threading
from types import ModuleType

import numpy as np

from .._config import effective_threads

#: Largest table of per-pattern factorisations (float64 bytes) kept per E-step.
FACTOR_TABLE_BYTES = 64 * 2**20
#: The shared table is factorised by several threads from this many patterns each.
PATTERNS_PER_THREAD = 256

_STATE: dict[str, ModuleType] = {}


def compiled() -> ModuleType:
    """The compiled kernels (imports numba on first use)."""
    module = _STATE.get("module")
    if module is None:
        module = _STATE["module"] = importlib.import_module("emkit._numba_missing")
    return module


@dataclasses.dataclass(frozen=True)
class PatternLayout:
    """The rows of a chunk that observe something, sorted by missingness pattern.

    Attributes
    ----------
    order : ndarray of intp
        Row indices (in the chunk), grouped by pattern.
    seg_start : ndarray (S + 1,)
        Segment s (one pattern) is ``order[seg_start[s]:seg_start[s + 1]]``.
    seg_perm : ndarray (S, D)
        Observed columns of the segment's pattern first, then the missing ones.
    seg_obs : ndarray (S,)
        Number of observed columns (>= 1).
    seg_pattern : ndarray (S,)
        Pattern ids in the fit's :class:`PatternTable`.
    empty : ndarray
        Rows (in the chunk) with nothing observed.
    """

    order: np.ndarray
    seg_start: np.ndarray
    seg_perm: np.ndarray
    seg_obs: np.ndarray
    seg_pattern: np.ndarray
    empty: np.ndarray


class PatternTable:
    """Missingness patterns met during a fit, with ids (thread safe), and the
    factorisations of the current parameters for all of them."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._perms: list[np.ndarray] = []
        self._observed: list[int] = []
        self._lock = threading.Lock()
        self._factors: tuple = (None,) * 6  # (params, center, stat centres, factors, ...)

    def __len__(self) -> int:
        return len(self._perms)

    def __getstate__(self) -> dict:
        # a copy sent to another process starts empty
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def layout(self, X: np.ndarray) -> PatternLayout:
        """Sort the rows of a chunk with missing values by pattern; register new patterns."""
        missing = np.isnan(X)
        D = missing.shape[1]
        packed = np.ascontiguousarray(np.packbits(missing, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        masks = missing[first]
        observed = D - masks.sum(axis=1)
        # patterns with nothing observed carry no information: left out of the segments
        live = observed > 0
        rank = np.cumsum(live) - 1
        row_live = live[inverse]
        order = np.flatnonzero(row_live)
        order = order[np.argsort(inverse[order], kind="stable")]
        sizes = np.bincount(rank[inverse[order]], minlength=int(live.sum()))
        seg_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        seg_perm = np.argsort(masks[live], axis=1, kind="stable").astype(np.intp)
        ids = np.empty(int(live.sum()), dtype=np.intp)
        with self._lock:
            for s, u in enumerate(np.flatnonzero(live)):
                key = unique[u].tobytes()
                pid = self._ids.get(key)
                if pid is None:
                    pid = self._ids[key] = len(self._perms)
                    self._perms.append(seg_perm[s])
                    self._observed.append(int(observed[u]))
                ids[s] = pid
        return PatternLayout(order.astype(np.intp), seg_start, np.ascontiguousarray(seg_perm),
                             observed[live].astype(np.intp), ids, np.flatnonzero(~row_live))

    def factors(self, covariances: np.ndarray, params, center: np.ndarray,
                stat_centers: np.ndarray, layout: PatternLayout):
        """(factors, offsets, log_det, index per segment) for ``layout``'s segments.

        Shared by all chunks of an E-step (computed for the patterns known so
        far, extended when a chunk brings new ones) while the table stays within
        :data:`FACTOR_TABLE_BYTES`; beyond, the chunk's own patterns only.
        """
        K, D = covariances.shape[:2]
        kernels = compiled()
        means = np.ascontiguousarray(params.means, dtype=np.float64)
        per_pattern = K * D * (D + 2) * 8
        if len(self) * per_pattern > FACTOR_TABLE_BYTES:
            S = layout.seg_obs.shape[0]
            factors = np.zeros((S, K, D, D))
            offsets = np.empty((S, K, D))
            log_det = np.empty((S, K))
            kernels.pattern_factors(covariances, means, center, stat_centers, layout.seg_perm,
                                    layout.seg_obs, factors, offsets, log_det)
            return factors, offsets, log_det, np.arange(S, dtype=np.intp)
        with self._lock:
            cached, cached_center, cached_stat, factors, offsets, log_det = self._factors
            same = (cached is params and np.array_equal(cached_center, center)
                    and np.array_equal(cached_stat, stat_centers))
            done = factors.shape[0] if same else 0
            total = len(self._perms)
            if done < total:
                new = (np.zeros((total, K, D, D)), np.empty((total, K, D)),
                       np.empty((total, K)))
                if done:
                    for old, fresh in zip((factors, offsets, log_det), new, strict=True):
                        fresh[:done] = old
                _factorise(kernels, covariances, means, center, stat_centers,
                           np.array(self._perms[done:], dtype=np.intp).reshape(-1, D),
                           np.array(self._observed[done:], dtype=np.intp),
                           new[0][done:], new[1][done:], new[2][done:])
                factors, offsets, log_det = new
                self._factors = (params, center.copy(), stat_centers.copy(), *new)
        return factors, offsets, log_det, layout.seg_pattern

    def forget_factors(self) -> None:
        """Drop the factorisations (they belong to one set of parameters)."""
        with self._lock:
            self._factors = (None,) * 6


def _factorise(kernels, covariances, means, center, stat_centers, perms, observed, factors,
               offsets, log_det) -> None:
    """:func:`~emkit._numba_missing.pattern_factors`, split over the E-step's threads.

    It runs once per E-step while the chunks wait for it, so many patterns are
    shared out (the kernel releases the GIL); each thread writes its own rows.
    """
    threads = min(effective_threads(), -(-perms.shape[0] // PATTERNS_PER_THREAD))
    bounds = np.linspace(0, perms.shape[0], max(threads, 1) + 1).astype(int)

    def part(lo: int, hi: int) -> None:
        kernels.pattern_factors(covariances, means, center, stat_centers, perms[lo:hi],
                                observed[lo:hi], factors[lo:hi], offsets[lo:hi],
                                log_det[lo:hi])

    helpers = [threading.Thread(target=part, args=(lo, hi))
               for lo, hi in itertools.pairwise(bounds[1:])]
    for helper in helpers:
        helper.start()
    part(bounds[0], bounds[1])
    for helper in helpers:
        helper.join()


def run_chunk(table: PatternTable, layout: PatternLayout, X: np.ndarray, params,
              covariances: np.ndarray, log_weights: np.ndarray, center: np.ndarray,
              stat_centers: np.ndarray, mode: int, *, weights: np.ndarray | None = None,
              resp: np.ndarray | None = None, diagonal: bool = False):
    """Run :func:`emkit._numba_missing.gmm_missing_chunk` on one chunk.

    Rows are shifted by ``center`` (D,) (near the data: no cancellation for
    offset data) and moments taken about ``stat_centers`` (K, D).  Returns
    ``log_joint`` (n, K) for ``MODE_LOG_JOINT`` (rows with nothing
    observed: ``log_weights``); else ``(row_objective, counts, first, second)``
    with (K, D, D) second moments (rows with nothing observed add nothing and
    have objective 0).
    """
    kernels = compiled()
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, D = X.shape
    K = log_weights.shape[0]
    log_weights = np.ascontiguousarray(log_weights, dtype=np.float64)
    counts = np.zeros(K)
    first = np.zeros((K, D))
    second = np.zeros((K, D, D))
    n_segments = layout.seg_obs.shape[0]
    if n_segments == 0:  # nothing observed in the whole chunk
        if mode == kernels.MODE_LOG_JOINT:
            return np.tile(log_weights, (n, 1))
        return np.zeros(n), counts, first, second
    center = np.ascontiguousarray(center, dtype=np.float64)
    stat_centers = np.ascontiguousarray(stat_centers, dtype=np.float64)
    factors, offsets, log_det, seg_factor = table.factors(covariances, params, center,
                                                          stat_centers, layout)
    scratch = np.empty((n_segments, K))
    dummy_rows = np.empty(0)
    dummy_matrix = np.empty((0, K))
    if mode == kernels.MODE_LOG_JOINT:
        log_joint = np.empty((n, K))
        log_joint[layout.empty] = log_weights
        kernels.gmm_missing_chunk(
            X, layout.order, layout.seg_start, layout.seg_perm, layout.seg_obs, seg_factor,
            factors, offsets, log_det, log_weights, center, stat_centers, dummy_rows,
            dummy_matrix, mode, diagonal, log_joint, dummy_rows, counts, first, second, scratch)
        return log_joint
    row_objective = np.zeros(n)
    if mode == kernels.MODE_FUSED:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        resp = dummy_matrix
    else:
        weights = dummy_rows
        resp = np.ascontiguousarray(resp, dtype=np.float64)
    kernels.gmm_missing_chunk(
        X, layout.order, layout.seg_start, layout.seg_perm, layout.seg_obs, seg_factor,
        factors, offsets, log_det, log_weights, center, stat_centers, weights, resp, mode,
        diagonal,
        dummy_matrix, row_objective, counts, first, second, scratch)
    return row_objective, counts, first, second
