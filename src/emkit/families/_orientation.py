"""Orientation updates of the common-orientation models (EVE, VVE): plane rotations.

The M-step of EVE and VVE alternates the optimal diagonals given the common
orientation D with sweeps of Jacobi plane rotations of D (see
:mod:`emkit.families.decomposed`).  A sweep visits every column pair once, in
the rounds of the circle ordering: the pairs of one round share no column, so
their rotations commute and one round is one matrix product in NumPy
(:func:`jacobi_round`).  With numba the whole inner iteration can run compiled
(:func:`compiled_orientation`, :mod:`emkit._numba_orientation`).
"""

from __future__ import annotations

import importlib

import numpy as np

from .. import _kernels
from .._config import get_config

#: With ``kernels="auto"``, the inner iteration runs compiled (numba, when installed)
#: from this many features: loading numba takes about half a second, a NumPy sweep at
#: D = 8 about half a millisecond (a compiled one a few microseconds).
ORIENTATION_NUMBA_MIN_FEATURES = 8


def round_robin_pairs(n_features: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Rounds of disjoint index pairs covering every pair (i < j) once (circle method).

    ``n_features - 1`` rounds (``n_features`` when it is odd), each a pair of
    index arrays ``(I, J)`` with ``I < J`` elementwise and no index repeated.
    """
    if n_features not in _PAIRS:
        m = n_features + n_features % 2  # odd: a dummy index that pairs with nothing
        ring = list(range(1, m))
        rounds = []
        for _ in range(m - 1):
            members = [0, *ring]
            pairs = [(min(a, b), max(a, b)) for a, b in
                     zip(members[: m // 2], members[::-1][: m // 2], strict=True)]
            pairs = [(a, b) for a, b in pairs if b < n_features]
            rounds.append((np.array([a for a, _ in pairs], dtype=np.intp),
                           np.array([b for _, b in pairs], dtype=np.intp)))
            ring = ring[-1:] + ring[:-1]
        _PAIRS[n_features] = tuple(rounds)
    return _PAIRS[n_features]


_PAIRS: dict[int, tuple[tuple[np.ndarray, np.ndarray], ...]] = {}


def compiled_orientation(n_features: int):
    """The compiled EVE/VVE inner iteration (:mod:`emkit._numba_orientation`), or None.

    ``kernels="numpy"``: None; ``"numba"``: compiled (ImportError without numba);
    ``"auto"``: compiled when numba is installed and ``n_features`` is at least
    :data:`ORIENTATION_NUMBA_MIN_FEATURES`.
    """
    mode = get_config()["kernels"]
    if mode == "numpy" or (mode == "auto" and n_features < ORIENTATION_NUMBA_MIN_FEATURES):
        return None
    if not _kernels.use_numba(None):
        return None
    return importlib.import_module("emkit._numba_orientation")


def flat_pairs(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of :func:`round_robin_pairs`, round after round, as two index arrays."""
    rounds = round_robin_pairs(n_features)
    return (np.concatenate([first for first, _ in rounds]),
            np.concatenate([second for _, second in rounds]))


def _identity(n: int) -> np.ndarray:
    out = np.zeros((n, n))
    out.flat[:: n + 1] = 1.0
    return out


def jacobi_round(rotated: np.ndarray, inverse_shapes: np.ndarray, orientation: np.ndarray,
                 pairs: tuple[np.ndarray, np.ndarray], scale: float):
    """Plane rotations of disjoint column pairs lowering ``sum_k sum_j M_kj (D' W_k D)_jj``.

    ``rotated`` holds B_k = D' W_k D (K, D, D) and ``orientation`` D; the
    updated pair is returned.  ``inverse_shapes`` M (K, D) is fixed.  Rotating
    columns i, j by angle t changes the objective by ``P cos 2t + R sin 2t`` +
    const, so each rotation is that minimiser; the pairs of one round share no
    column, so each rotation leaves the others' ``B_ii, B_jj, B_ij`` unchanged and
    the round equals applying them one after another (it is one matrix product).
    """
    first, second = pairs
    delta = inverse_shapes[:, first] - inverse_shapes[:, second]
    p = 0.5 * (delta * (rotated[:, first, first] - rotated[:, second, second])).sum(axis=0)
    r = (delta * rotated[:, first, second]).sum(axis=0)
    angle = 0.5 * np.arctan2(-r, -p)
    angle[np.hypot(p, r) <= 1e-15 * scale] = 0.0
    c, s = np.cos(angle), np.sin(angle)
    rotation = _identity(orientation.shape[0])
    rotation[first, first] = c
    rotation[second, second] = c
    rotation[second, first] = s
    rotation[first, second] = -s
    rotated = rotation.T @ rotated @ rotation
    return rotated, orientation @ rotation
