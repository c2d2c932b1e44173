"""Categorical components: independent categorical variables (latent class analysis).

``p(x | k) = prod_j P_j[k, x_j]``: column j takes one of ``L_j`` levels and
``P_j`` (K x L_j) holds each component's level probabilities.

The family works on integer *codes*: column j holds ``0 .. L_j - 1``, and a
missing entry is NaN (float codes) or a negative code (integer codes).
:class:`emkit.CategoricalMixture` turns strings, pandas categoricals or any
other labels into codes (``categories_``, as scikit-learn's OneHotEncoder).

The E-step gathers: every level of every column has a row in one table of
log-probabilities (``sum_j L_j`` rows, K columns; a final row of zeros stands
for a missing entry), and a row's log-density is the sum of the rows its
codes select.  In the NumPy path that is a sparse indicator matrix (one
stored 1 per entry) times the table, and the statistics are its transpose
times the responsibilities: O(n D K) work, with no dense one-hot matrix.  A
level of probability exactly 0 (maximum likelihood, ``alpha=0``) has log
``-inf`` in the table; sums with ``-inf`` stay ``-inf`` (no ``0 * inf``
products arise), so such rows get log-density ``-inf`` exactly.

Prior: each component's level probabilities of column j have a symmetric
Dirichlet(1 + alpha) prior, so ``alpha`` is a pseudo-count added to every
level: ``P_j[k, l] = (n_kjl + alpha) / (n_kj + L_j alpha)``; ``alpha = 0`` is
maximum likelihood.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .._validation import check_real
from ..em.statistics import SufficientStatistics
from ._columns import ChunkCache, column_label, first_cell
from .base import ComponentFamily
from .mixture import empty_components

#: Largest |sum - 1| of a level distribution that from_vector renormalises.
SIMPLEX_ATOL = 1e-12
#: init_view gives the one-hot rows up to this many levels in all; beyond, a
#: random projection of them to this many columns.
INIT_VIEW_WIDTH = 64


@dataclasses.dataclass(frozen=True)
class CategoricalParams:
    """Level probabilities: a list with one (K, L_j) array per column (rows sum to 1)."""

    probabilities: list


@dataclasses.dataclass(frozen=True)
class CategoricalStatistics(SufficientStatistics):
    """Responsibility-weighted level counts, shape (K, sum_j L_j).

    Column block j (``offsets[j]:offsets[j + 1]``) holds
    ``sum_i r_ik [x_ij = l]`` over rows where x_ij is observed; the block's
    row sums are the observed weight of column j.
    """

    counts: np.ndarray


class CategoricalFamily(ComponentFamily):
    """Independent categorical variables.

    Parameters
    ----------
    n_levels : sequence of int
        ``L_j``, the number of levels of every column.
    alpha : float, default=0.0
        Pseudo-count of the symmetric Dirichlet(1 + alpha) prior on every
        component's level probabilities (0: maximum likelihood).
    """

    name = "categorical"
    params_type = CategoricalParams
    #: Columns are labels that the estimator encodes to codes (categories_).
    start_smoothing = 0.1
    encodes_categories = True

    def __init__(self, n_levels: Sequence[int], alpha: float = 0.0):
        levels = np.asarray(n_levels, dtype=np.intp).reshape(-1)
        if levels.size == 0 or (levels < 1).any():
            raise ValueError(f"n_levels must be positive level counts, got {list(n_levels)}")
        self.n_levels = tuple(int(n) for n in levels)
        self.alpha = check_real(alpha, "alpha", 0.0)
        self.offsets = np.concatenate([[0], np.cumsum(levels)]).astype(np.intp)
        self.width = int(self.offsets[-1])
        self._indicators = ChunkCache()
        #: Rows of the data being fitted (set by prepare; None outside a fit).
        self.n_rows: int | None = None

    @property
    def has_prior(self) -> bool:
        return self.alpha > 0.0

    def n_components(self, params: CategoricalParams) -> int:
        return int(params.probabilities[0].shape[0])

    def params_from_fields(self, probabilities) -> CategoricalParams:
        return CategoricalParams([np.asarray(p, dtype=float) for p in probabilities])

    # --- data ---------------------------------------------------------------
    def check_data(self, X: np.ndarray, what: str = "X",
                   names: Sequence[str] | None = None) -> np.ndarray:
        """X must hold codes 0 .. L_j - 1 per column (NaN or a negative code: missing)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.n_levels):
            raise ValueError(f"{what} must have {len(self.n_levels)} columns of codes, "
                             f"got shape {X.shape}")
        if X.dtype.kind not in "fiub":
            raise ValueError(f"{what} must hold integer codes, got dtype {X.dtype}")
        levels = np.asarray(self.n_levels)
        with np.errstate(invalid="ignore"):
            if X.dtype.kind == "f":
                bad = ~np.isnan(X) & ((X != np.floor(X)) | (X < 0) | (X >= levels))
            else:
                bad = X >= levels
        if bad.any():
            row, col = first_cell(bad)
            raise ValueError(
                f"{what} has code {X[row, col].item()!r} at row {row}, "
                f"{column_label(col, names)}, which has {levels[col]} levels (codes 0 to "
                f"{levels[col] - 1}; NaN or a negative code marks a missing value)"
            )
        return X

    def prepare(self, X: np.ndarray, sample_weight: np.ndarray, *,
                cache_chunks: bool = True) -> None:
        """During the fit: cache every chunk's indicator matrix (NumPy path) and size
        the fit for the compiled kernel."""
        self._indicators.enable(cache_chunks)
        self.n_rows = int(X.shape[0])

    def table_indices(self, X: np.ndarray) -> np.ndarray:
        """Row of the log-probability table each entry selects, (n, D) int32.

        ``offsets[j] + code``; a missing entry selects row ``width`` (zeros).
        """
        if X.dtype.kind == "f":
            missing = np.isnan(X)
            codes = np.where(missing, -1, X).astype(np.int32)
        else:
            codes = X.astype(np.int32, copy=False)
            missing = codes < 0
        out = codes + self.offsets[:-1].astype(np.int32)
        out[missing] = self.width
        return out

    def indicator(self, X: np.ndarray) -> sp.csr_matrix:
        """Sparse (n, width + 1) indicator of the selected table rows (one 1 per entry);
        during a fit, built once per chunk."""
        return self._indicators.get(X, self._indicator)

    def _indicator(self, X: np.ndarray) -> sp.csr_matrix:
        index = self.table_indices(X)
        n, D = index.shape
        return sp.csr_matrix(
            (np.ones(n * D), index.reshape(-1), np.arange(0, n * D + 1, D, dtype=np.int32)),
            shape=(n, self.width + 1),
        )

    def one_hot(self, X: np.ndarray) -> np.ndarray:
        """Dense (n, width) one-hot rows; a missing entry's block holds the level
        frequencies of its column in X (uniform when the column is all missing)."""
        index = self.table_indices(X)
        n = index.shape[0]
        dense = np.zeros((n, self.width + 1))
        np.put_along_axis(dense, index.astype(np.intp), 1.0, axis=1)
        dense = dense[:, : self.width]
        missing = index == self.width
        if missing.any():
            frequencies = dense.sum(axis=0)
            for j in np.flatnonzero(missing.any(axis=0)):
                block = slice(self.offsets[j], self.offsets[j + 1])
                total = frequencies[block].sum()
                fill = frequencies[block] / total if total > 0 else 1.0 / self.n_levels[j]
                dense[missing[:, j], block] = fill
        return dense

    def init_view(self, X: np.ndarray) -> np.ndarray:
        """One-hot rows (missing: the column's level frequencies) for k-means; with
        more than 64 levels in all, a random Gaussian projection of them to 64
        columns (distances approximately kept)."""
        if self.width <= INIT_VIEW_WIDTH:
            return self.one_hot(X)
        rng = np.random.default_rng(0)
        projection = rng.standard_normal((self.width, INIT_VIEW_WIDTH)) / np.sqrt(
            INIT_VIEW_WIDTH)
        out = np.empty((X.shape[0], INIT_VIEW_WIDTH))
        step = 65536
        for start in range(0, X.shape[0], step):
            out[start:start + step] = self.one_hot(X[start:start + step]) @ projection
        return out

    # --- E-step -------------------------------------------------------------
    def log_table(self, params: CategoricalParams) -> np.ndarray:
        """(width + 1, K) log-probabilities of every level, then a row of zeros."""
        K = self.n_components(params)
        table = np.zeros((self.width + 1, K))
        with np.errstate(divide="ignore"):
            for j, p in enumerate(params.probabilities):
                table[self.offsets[j]:self.offsets[j + 1]] = np.log(p).T
        return table

    def soft_e_step(self, params: CategoricalParams, log_weights: np.ndarray, X: np.ndarray,
                    weights: np.ndarray):
        """Fused soft E-step of a chunk with the compiled kernel, or None.

        Returns ``(weighted objective sum, class counts (K,), statistics)``;
        None (the generic path) outside a fit, when numba is not used
        (:func:`emkit._kernels.use_numba`: off, missing, or a fit too small to
        repay it), or for a chunk that is neither int32 nor float64 codes.
        """
        from .. import _kernels

        K = self.n_components(params)
        if self.n_rows is None or X.dtype not in (np.int32, np.float64) or X.ndim != 2:
            return None
        if not _kernels.use_numba(self.n_rows * K):
            return None
        from ._categorical_kernel import categorical_chunk

        table = self.log_table(params)
        counts = np.zeros((self.width + 1, K))
        row_objective = np.empty(X.shape[0])
        total = categorical_chunk(
            np.ascontiguousarray(X), self.offsets[:-1].astype(np.int64), self.width, table,
            np.ascontiguousarray(log_weights, dtype=np.float64),
            np.ascontiguousarray(weights, dtype=np.float64), counts, row_objective)
        class_counts = counts.sum(axis=0) / len(self.n_levels)
        stats = CategoricalStatistics(np.ascontiguousarray(counts[: self.width].T))
        return total, class_counts, stats

    def log_prob(self, params: CategoricalParams, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.indicator(X) @ self.log_table(params))

    def statistics(self, params, X: np.ndarray, resp: np.ndarray) -> CategoricalStatistics:
        counts = np.asarray(self.indicator(X).T @ resp)
        return CategoricalStatistics(np.ascontiguousarray(counts[: self.width].T))

    # --- M-step -------------------------------------------------------------
    def maximize(self, stats: CategoricalStatistics, params: CategoricalParams | None = None
                 ) -> CategoricalParams:
        """MAP (ML when alpha = 0) level probabilities; a component-column pair without
        observations keeps its previous probabilities (uniform at initialisation)."""
        a = self.alpha
        K = stats.counts.shape[0]
        out = []
        seen_weight = np.zeros(K)
        for j, L in enumerate(self.n_levels):
            counts = stats.counts[:, self.offsets[j]:self.offsets[j + 1]] + a
            total = counts.sum(axis=1)
            seen_weight = np.maximum(seen_weight, total - L * a)
            with np.errstate(invalid="ignore", divide="ignore"):
                p = counts / total[:, None]
            np.clip(p, 0.0, 1.0, out=p)
            unseen = ~(total > 0)
            if params is not None:
                p[unseen] = params.probabilities[j][unseen]
            else:
                p[unseen] = 1.0 / L
            out.append(p)
        empty = empty_components(seen_weight) if seen_weight.sum() > 0 else np.ones(K, bool)
        if params is not None and empty.any():
            for j in range(len(out)):
                out[j][empty] = params.probabilities[j][empty]
        return CategoricalParams(out)

    def expected_log_prob(self, params: CategoricalParams, stats: CategoricalStatistics
                          ) -> float:
        """``sum_i sum_k r_ik log p(x_i | k)`` from the level counts alone.

        ``sum_k sum_(j, l) n_kjl log P_j[k, l]``, missing entries contributing
        nothing (as to the log-density); ``0 log 0`` is 0 and a positive count
        at a level of probability 0 gives ``-inf``.  Incremental EM's free
        energy is built on it (:mod:`emkit.em.online`).
        """
        table = self.log_table(params)[: self.width].T  # (K, width)
        counts = stats.counts
        impossible = (counts > 0) & ~np.isfinite(table)
        if impossible.any():
            return -np.inf
        return float(np.where(counts > 0, counts * table, 0.0).sum())

    def log_prior(self, params: CategoricalParams) -> float:
        if self.alpha == 0.0:
            return 0.0
        with np.errstate(divide="ignore"):
            return self.alpha * float(sum(np.log(p).sum() for p in params.probabilities))

    # --- the rest -----------------------------------------------------------
    def n_parameters(self, params: CategoricalParams) -> int:
        K = self.n_components(params)
        return int(K * sum(L - 1 for L in self.n_levels))

    def sample(self, params: CategoricalParams, labels: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        """Codes (float), one row per label."""
        out = np.empty((labels.shape[0], len(self.n_levels)))
        for j, p in enumerate(params.probabilities):
            cumulative = np.cumsum(p, axis=1)[labels]
            u = rng.random(labels.shape[0]) * cumulative[:, -1]
            out[:, j] = np.minimum((cumulative <= u[:, None]).sum(axis=1), p.shape[1] - 1)
        return out

    def to_vector(self, params: CategoricalParams) -> np.ndarray:
        return np.concatenate([np.ravel(p) for p in params.probabilities]).astype(float)

    def from_vector(self, vector: np.ndarray, like: CategoricalParams
                    ) -> CategoricalParams | None:
        vector = np.asarray(vector, dtype=float)
        if not np.isfinite(vector).all() or (vector < 0).any():
            return None
        out, start = [], 0
        for p in like.probabilities:
            block = vector[start:start + p.size].reshape(p.shape).copy()
            start += p.size
            total = block.sum(axis=1)
            if np.any(np.abs(total - 1.0) > SIMPLEX_ATOL):
                return None
            out.append(block / total[:, None])
        return CategoricalParams(out)

    def vector_size(self, like: CategoricalParams) -> int:
        return int(sum(p.size for p in like.probabilities))
