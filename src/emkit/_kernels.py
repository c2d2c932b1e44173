"""Which E-step kernels run: compiled (numba, optional) or pure NumPy.

numba is an optional dependency (``pip install emkit[fast]``).  It is imported
lazily, on the first E-step that uses a compiled kernel, so ``import emkit``
and small fits never pay for it.  The choice follows
``emkit.get_config()["kernels"]``:

``"numpy"``
    never compile (the reference path).
``"numba"``
    always use the compiled kernels where one applies (raises ImportError
    when numba is missing); the tests use this to compare both paths.
``"auto"`` (default)
    compiled kernels when numba is installed and the fit is large enough
    (``rows x components >= AUTO_MIN_WORK``) to repay loading them: the
    machine code is cached on disk, so only the first large fit on a
    machine compiles (a few seconds); later processes load it in well under
    a second.  Small complete-data Gaussian fits run their whole EM loop
    compiled (:mod:`emkit.families.gaussian_compiled`; the NumPy path's cost
    there is Python's, about half a millisecond per iteration) in
    ``select_model`` and in fits with ``max_iter >= 2000``.

Wrappers here allocate the outputs and call the kernels of
:mod:`emkit._numba_kernels` on C-contiguous float64 arrays.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import warnings
from types import ModuleType

import numpy as np

from ._config import get_config

#: "auto" uses compiled kernels from this many rows x components of work per fit.
AUTO_MIN_WORK = 500_000

#: Bytes of the (K, rows) score block of the k-means kernel (stays in L2).
KMEANS_BLOCK_BYTES = 256 * 1024


def kmeans_block(n_clusters: int) -> int:
    """Rows per BLAS call inside the k-means kernel: a score block of ~256 KB."""
    rows = KMEANS_BLOCK_BYTES // (8 * max(n_clusters, 1))
    return int(min(4096, max(256, rows // 8 * 8)))

_STATE: dict[str, object] = {}


def numba_available() -> bool:
    """Whether numba can be imported (checked once, without importing it)."""
    if "available" not in _STATE:
        _STATE["available"] = importlib.util.find_spec("numba") is not None
    return bool(_STATE["available"])


def use_numba(work: int | None = None) -> bool:
    """Whether an E-step of ``work`` rows x components should use compiled kernels.

    ``work=None`` means "large" (only the configuration decides).  With "auto",
    a numba that is installed but fails to import (e.g. built for another
    NumPy) is reported once with a warning and the NumPy path is used.

    Raises
    ------
    ImportError
        When ``kernels="numba"`` is configured but numba is not installed or
        cannot be imported.
    """
    mode = get_config()["kernels"]
    if mode == "numpy":
        return False
    if mode == "numba":
        if not numba_available():
            raise ImportError(
                'kernels="numba" needs the optional dependency numba: '
                "pip install 'emkit[fast]' (or set kernels='auto')"
            )
        compiled()
        return True
    if not numba_available() or (work is not None and work < AUTO_MIN_WORK):
        return False
    try:
        compiled()
    except Exception as exc:  # a broken numba install must not break fitting
        _STATE["available"] = False
        warnings.warn(
            f"emkit's compiled kernels are disabled: importing numba failed ({exc}); "
            "using the NumPy path",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def compiled() -> ModuleType:
    """The module of compiled kernels (imports numba on first use)."""
    module = _STATE.get("module")
    if module is None:
        module = importlib.import_module(f"{__package__}._numba_kernels")
        _STATE["module"] = module
    return module  # type: ignore[return-value]


def _float_rows(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float64)


# ----------------------------------------------------------------- k-means
def kmeans_assign(X: np.ndarray, weights: np.ndarray, centers: np.ndarray):
    """Hard E-step of one chunk in one compiled pass.

    Returns
    -------
    inertia : float
        Weighted sum of the squared distances of the rows to their nearest centre.
    counts : ndarray (K,)
        Weight assigned to every centre.
    sums : ndarray (K, D)
        Weighted sums of the rows assigned to every centre.
    far : ndarray of row indices
        Up to K rows of positive weight farthest from their centre, with
    far_distances, far_labels : ndarray
        their squared distances and nearest centres.
    """
    X = _float_rows(X)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    D = X.shape[1]
    K = centers.shape[0]
    anchor = centers.mean(axis=0)  # near the data: no cancellation for offset rows
    counts = np.zeros(K)
    sums = np.zeros((K, D))
    far = np.full(K, -1, dtype=np.intp)
    far_distances = np.full(K, -1.0)
    far_labels = np.zeros(K, dtype=np.intp)
    unweighted = bool(weights.size) and bool((weights == 1.0).all())
    inertia = compiled().kmeans_chunk(
        X, weights, unweighted, anchor, np.ascontiguousarray(centers - anchor),
        kmeans_block(K), counts, sums, far, far_distances, far_labels,
    )
    kept = far >= 0
    return inertia, counts, sums, far[kept], far_distances[kept], far_labels[kept]


# --------------------------------------------------------- Gaussian mixtures
@dataclasses.dataclass(frozen=True)
class FusedGaussian:
    """Everything the fused Gaussian E-step kernels need, computed once per E-step.

    Attributes
    ----------
    kind : {"full", "diag"}
        Which kernel: precision factors (K, D, D) or diagonal precisions (K, D).
    center : ndarray (D,)
        Shift applied to rows and means before the log-densities.
    means_c : ndarray (K, D)
        Means minus ``center``.
    factors : ndarray
        (K, D, D) precision Cholesky factors P_k (``Sigma_k^-1 = P_k P_k'``)
        for "full"; (K, D) diagonal precisions for "diag".
    constant : ndarray (K,)
        ``log pi_k + log det P_k - D/2 log(2 pi)``.
    stat_centers : ndarray (K, D)
        Centres of the moments (the statistics' ``centers``).
    pooled : bool
        Second moments pooled over components ((D, D), tied storage).
    """

    kind: str
    center: np.ndarray
    means_c: np.ndarray
    factors: np.ndarray
    constant: np.ndarray
    stat_centers: np.ndarray
    pooled: bool = False


def gaussian_e_step(form: FusedGaussian, X: np.ndarray, weights: np.ndarray):
    """Fused soft E-step of one chunk: (row log-likelihoods, counts, first, second).

    ``second`` has shape (K, D, D) (full), (D, D) (pooled) or (K, D) (diag).
    """
    X = _float_rows(X)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    n, D = X.shape
    K = form.means_c.shape[0]
    row_objective = np.empty(n)
    counts = np.zeros(K)
    first = np.zeros((K, D))
    kernels = compiled()
    if form.kind == "diag":
        second = np.zeros((K, D))
        kernels.gmm_diag_chunk(
            X, weights, form.center, form.means_c, form.factors, form.constant,
            form.stat_centers[0], row_objective, counts, first, second,
        )
        return row_objective, counts, first, second
    second = np.zeros((1 if form.pooled else K, D, D))
    kernels.gmm_full_chunk(
        X, weights, form.center, form.means_c, form.factors, form.constant,
        form.stat_centers, form.pooled, row_objective, counts, first, second,
    )
    return row_objective, counts, first, second[0] if form.pooled else second


def compiled_sparse() -> ModuleType:
    """The compiled sparse-EM kernels for precision factors (:mod:`emkit._numba_sparse`)."""
    module = _STATE.get("sparse")
    if module is None:
        module = importlib.import_module(f"{__package__}._numba_sparse")
        _STATE["sparse"] = module
    return module  # type: ignore[return-value]


def _second_shape(form: FusedGaussian, K: int, D: int) -> tuple[int, ...]:
    return (K, D) if form.kind == "diag" else (1 if form.pooled else K, D, D)


def _second_result(form: FusedGaussian, second: np.ndarray) -> np.ndarray:
    return second[0] if form.kind != "diag" and form.pooled else second


def gaussian_active_e_step(form: FusedGaussian, X: np.ndarray, weights: np.ndarray,
                           active: np.ndarray, mass: np.ndarray):
    """Sparse EM's partial E-step of one chunk: (row objectives, counts, first, second);
    see :func:`emkit._numba_kernels.gmm_diag_active_chunk` ("diag" forms) and
    :func:`emkit._numba_sparse.gmm_full_active_chunk` ("full" forms, pooled or not)."""
    X = _float_rows(X)
    n, D = X.shape
    K = form.means_c.shape[0]
    row_objective = np.empty(n)
    counts = np.zeros(K)
    first = np.zeros((K, D))
    second = np.zeros(_second_shape(form, K, D))
    args = (X, np.ascontiguousarray(weights, dtype=np.float64),
            np.ascontiguousarray(mass, dtype=np.float64),
            np.ascontiguousarray(active, dtype=np.int64), form.center, form.means_c,
            form.factors, form.constant)
    if form.kind == "diag":
        compiled().gmm_diag_active_chunk(*args, form.stat_centers[0], row_objective,
                                         counts, first, second)
    else:
        compiled_sparse().gmm_full_active_chunk(*args, form.stat_centers, form.pooled,
                                                row_objective, counts, first, second)
    return row_objective, counts, first, _second_result(form, second)


def gaussian_select_e_step(form: FusedGaussian, X: np.ndarray, weights: np.ndarray,
                           n_active: int):
    """Sparse EM's full E-step of one chunk: (row log-likelihoods, active lists (n, m),
    active masses (n,), (counts, first, second) of every component, the same of the
    active pairs); see :func:`emkit._numba_kernels.gmm_diag_select_chunk` ("diag"
    forms) and :func:`emkit._numba_sparse.gmm_full_select_chunk` ("full" forms)."""
    X = _float_rows(X)
    n, D = X.shape
    K = form.means_c.shape[0]
    row_objective = np.empty(n)
    active = np.empty((n, n_active), dtype=np.int64)
    mass = np.empty(n)
    shape = _second_shape(form, K, D)
    full = (np.zeros(K), np.zeros((K, D)), np.zeros(shape))
    part = (np.zeros(K), np.zeros((K, D)), np.zeros(shape))
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if form.kind == "diag":
        compiled().gmm_diag_select_chunk(
            X, weights, form.center, form.means_c, form.factors, form.constant,
            form.stat_centers[0], int(n_active), row_objective, *full, active, mass, *part)
    else:
        compiled_sparse().gmm_full_select_chunk(
            X, weights, form.center, form.means_c, form.factors, form.constant,
            form.stat_centers, form.pooled, int(n_active), row_objective, *full, active,
            mass, *part)
    full = (*full[:2], _second_result(form, full[2]))
    part = (*part[:2], _second_result(form, part[2]))
    return row_objective, active, mass, full, part
