"""Compiled fused E-step of a categorical mixture (numba).  Import through
:meth:`emkit.families.categorical.CategoricalFamily.soft_e_step` only.

One pass over a chunk of codes: the log joint of every row and class (gathers
from the table of log-probabilities), log-sum-exp, weighted responsibilities
and the level counts, with no (rows x K) or one-hot arrays.  Conventions as
:mod:`emkit._numba_kernels` (blocks of rows with the row index innermost, the
vectorisable ``exp_nonpositive``, ``nogil`` so the engine's chunk threads run
in parallel, machine code cached on disk).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numba_kernels import _JIT, exp_nonpositive

#: Rows per block: the (K, block) work array stays in L1.
BLOCK = 128


@njit(**_JIT)
def categorical_chunk(codes, offsets, missing_row, table_t, log_weights, weights, counts,
                      row_objective):
    """Fused soft E-step of one chunk of codes.

    ``codes`` (n, D) int32 (negative: missing) or float64 (NaN: missing);
    ``table_t`` (K, W + 1) log-probabilities of the W levels and a final 0
    column for missing entries (``missing_row`` = W); ``counts`` (W + 1, K)
    receives the weighted responsibilities of every level (row W: missing
    entries, discarded by the caller); ``row_objective`` (n,) receives
    ``log p(x)``, or ``-inf`` for a row impossible under every class.  Rows of
    weight 0 are skipped (their objective is 0).  Returns the weighted sum
    of the row objectives.
    """
    n, D = codes.shape
    K = table_t.shape[0]
    B = BLOCK
    index = np.empty((D, B), dtype=np.int64)
    L = np.empty((K, B))
    top = np.empty(B)
    total_sum = 0.0
    for start in range(0, n, B):
        rows = min(B, n - start)
        for j in range(D):
            offset = offsets[j]
            for i in range(rows):
                value = codes[start + i, j]
                if value >= 0:  # False for NaN and negative codes
                    index[j, i] = offset + np.int64(value)
                else:
                    index[j, i] = missing_row
        for k in range(K):
            base = log_weights[k]
            for i in range(rows):
                L[k, i] = base
            for j in range(D):
                for i in range(rows):
                    L[k, i] += table_t[k, index[j, i]]
        for i in range(rows):
            top[i] = L[0, i]
        for k in range(1, K):
            for i in range(rows):
                value = L[k, i]
                top[i] = value if value > top[i] else top[i]
        for i in range(rows):
            row = start + i
            w = weights[row]
            if w == 0.0 or not top[i] > -np.inf:
                row_objective[row] = 0.0 if w == 0.0 else -np.inf
                total_sum += row_objective[row] * (w != 0.0)
                for k in range(K):
                    L[k, i] = 0.0
                continue
            s = 0.0
            for k in range(K):
                e = exp_nonpositive(L[k, i] - top[i])
                L[k, i] = e
                s += e
            row_objective[row] = math.log(s) + top[i]
            total_sum += w * row_objective[row]
            scale = w / s
            for k in range(K):
                L[k, i] *= scale
        for i in range(rows):
            for j in range(D):
                c = index[j, i]
                for k in range(K):
                    counts[c, k] += L[k, i]
    return total_sum
