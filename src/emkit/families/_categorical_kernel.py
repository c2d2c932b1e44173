"""Compiled fused E-step of a categorical mixture (numba).  Import through
:meth:`emkit.families.categorical.CategoricalFamily.soft_e_step` only.

One pass over a chunk of codes: the log joint of every row and class (gathers
from the table of log-probabilities), log-sum-exp, weighted responsibilities
and the level counts, with no (rows x K) or one-hot arrays.  Conventions as
:mod:`emkit._numba_kernels` (the vectorisable ``exp_nonpositive``, ``nogil`` so
the engine's chunk threads run in parallel, machine code cached on disk).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._numba_kernels import _JIT, exp_nonpositive


@njit(**_JIT)
def categorical_chunk(codes, offsets, missing_row, table, log_weights, weights, counts,
                      row_objective):
    """Fused soft E-step of one chunk of codes, row by row (the class loops are contiguous
    and vectorise).

    ``codes`` (n, D) int32 (negative: missing) or float64 (NaN: missing);
    ``table`` (W + 1, K) log-probabilities of the W levels and a final row of
    zeros for missing entries (``missing_row`` = W); ``counts`` (W + 1, K)
    receives the weighted responsibilities of every level (row W: missing
    entries, discarded by the caller); ``row_objective`` (n,) receives
    ``log p(x)``, or ``-inf`` for a row impossible under every class.  Rows of
    weight 0 are skipped (their objective is 0).  Returns the weighted sum
    of the row objectives.
    """
    n, D = codes.shape
    K = table.shape[1]
    joint = np.empty(K)
    index = np.empty(D, dtype=np.int64)
    total = 0.0
    for i in range(n):
        for j in range(D):
            value = codes[i, j]
            # False for NaN and negative codes: a missing entry selects the zero row
            index[j] = offsets[j] + np.int64(value) if value >= 0 else missing_row
        for k in range(K):
            joint[k] = log_weights[k]
        for j in range(D):
            row = index[j]
            for k in range(K):
                joint[k] += table[row, k]
        top = joint[0]
        for k in range(1, K):
            top = joint[k] if joint[k] > top else top
        w = weights[i]
        if w == 0.0:
            row_objective[i] = 0.0
            continue
        if not top > -np.inf:  # impossible under every class
            row_objective[i] = -np.inf
            total = -np.inf
            continue
        s = 0.0
        for k in range(K):
            e = exp_nonpositive(joint[k] - top)
            joint[k] = e
            s += e
        row_objective[i] = math.log(s) + top
        total += w * row_objective[i]
        scale = w / s
        for k in range(K):
            joint[k] *= scale
        for j in range(D):
            row = index[j]
            for k in range(K):
                counts[row, k] += joint[k]
    return total
