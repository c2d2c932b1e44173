"""Small Gaussian fits with the whole EM loop compiled (numba, optional).

On small data the NumPy path's cost per EM iteration is Python's (the engine,
the source's map-reduce, the statistics objects, the covariance checks), about
half a millisecond whatever the rows.  :func:`compiled_run` runs the whole loop
of :func:`emkit.em.engine.run_em` in one compiled call
(:mod:`emkit.families._numba_gaussian_loop`: E-step, statistics, the M-step of
every mclust model from :mod:`emkit.families._compiled_mstep`, the engine's
stopping rule, monotonicity check and the covariance checks) for the plain
case only:

* soft EM, maximum likelihood (no prior), nothing fixed, float64, no missing
  values, no partial labels, rows in memory (an :class:`~emkit.sources.ArraySource`),
  at most :data:`SMALL_WORK` rows x components;
* ``kernels`` "numba", or "auto" with numba installed and enough work ahead
  to repay loading it (:func:`loop_kernels`); "numpy" never uses it.

Anything unusual inside the loop (an empty component, a non-finite value, a
covariance that is not positive definite or not clearly away from the
degeneracy limit, a decrease of the objective, a problem in an M-step kernel)
makes it return None: the caller (:func:`~emkit.em.engine.run_em`) then runs
the NumPy path from the same start, which reports the usual warning or error.
So the fast path only ever gives what the NumPy path would give, up to float
rounding (the statistics are computed in another order).
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

import numpy as np

from .. import _kernels
from .._config import get_config
from ..em.engine import EMResult, objective_rtol
from .covariance import DEGENERATE_RTOL, Diagonal, Spherical, Tied, reference_variances
from .decomposed import INNER_MAX_ITER, INNER_TOL
from .structures import SKLEARN_ALIASES

#: Largest rows x components served (the loop keeps the (rows, K) responsibilities
#: and runs on one thread; larger fits take the threaded E-step kernels).
SMALL_WORK = 2_000_000
#: With ``kernels="auto"``, a fit loads the compiled loop (once per process) from this
#: ``max_iter`` on; a ``select_model`` grid always does (:func:`loop_kernels`).
AUTO_MIN_ITERATIONS = 2000
#: Largest ``max_iter`` served (the loop keeps a history of that length).
MAX_ITER = 1_000_000
#: Work of one compiled call (:func:`iterations_per_call`): Python sees a pending
#: Ctrl-C (or any signal) only between calls.
CALL_WORK = 20_000_000
#: Largest number of features served (the M-step kernels work on D x D matrices).
MAX_FEATURES = 64
_UNIVARIATE = {"E": "EII", "V": "VII"}
_NO_LABELS = np.empty(0, dtype=np.intp)


def loop_kernels(expected_iterations: int | None = None) -> ModuleType | None:
    """The compiled loop module, or None when the configuration or install rules it out.

    ``kernels="numpy"``: None; ``"numba"``: the module (ImportError without
    numba); ``"auto"``: the module when numba is installed and the work ahead
    repays loading it: importing numba and loading the cached machine code
    takes about 0.8 s once per process, as much as 1,300 iterations of the
    NumPy path on small data, so ``"auto"`` uses it for ``expected_iterations``
    (a fit's ``max_iter``) of at least :data:`AUTO_MIN_ITERATIONS`, or None (a
    whole ``select_model`` grid), and keeps a small fit with a smaller
    ``max_iter`` on the NumPy path (whatever ran before in the process, so a
    call's result never depends on that).
    """
    mode = get_config()["kernels"]
    if mode == "numpy":
        return None
    if mode == "auto" and expected_iterations is not None and \
            expected_iterations < AUTO_MIN_ITERATIONS:
        return None
    module = _kernels._STATE.get("gaussian_loop")
    if module is not None:
        return module  # type: ignore[return-value]
    if not _kernels.use_numba(None):
        return None
    module = importlib.import_module(f"{__package__}._numba_gaussian_loop")
    _kernels._STATE["gaussian_loop"] = module
    return module


def model_code(structure_name: str, codes: tuple[str, ...]) -> int:
    """Index of a structure's mclust model in the loop's model codes."""
    name = SKLEARN_ALIASES.get(structure_name, structure_name)
    return codes.index(_UNIVARIATE.get(name, name))


def full_covariances(structure, covariances: np.ndarray, K: int, D: int) -> np.ndarray:
    """(K, D, D) covariance matrices from a structure's storage."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if isinstance(structure, Tied):
        return np.array(np.broadcast_to(covariances, (K, D, D)), order="C")
    if isinstance(structure, Spherical):
        return covariances[:, None, None] * np.eye(D)
    if covariances.ndim == 2:  # diagonal storage
        out = np.zeros((K, D, D))
        idx = np.arange(D)
        out[:, idx, idx] = covariances
        return out
    return np.array(covariances, dtype=np.float64, order="C")


def stored_covariances(structure, full: np.ndarray) -> np.ndarray:
    """A structure's storage from (K, D, D) matrices."""
    if isinstance(structure, Tied):
        return full[0].copy()
    if isinstance(structure, Spherical):
        return full[:, 0, 0].copy()
    if isinstance(structure, Diagonal):
        return np.diagonal(full, axis1=1, axis2=2).copy()
    return full


def _reference(model, X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The degeneracy rule's reference variances (the model's, else from the data)."""
    reference = getattr(model, "_reference", None)
    if reference is not None and reference.shape == (X.shape[1],):
        return reference
    total = w.sum()
    mean = (w @ X) / total
    variances = (w @ (X - mean) ** 2) / total
    return reference_variances(variances, mean, model.reg_covar)


def applies(model, source, max_iter: int) -> bool:
    """Whether the compiled loop serves this fit (see the module docstring)."""
    from ..sources.array import ArraySource
    from .gaussian import GaussianMixtureModel

    if type(model) is not GaussianMixtureModel or model.prior is not None or model.fixed:
        return False
    if not isinstance(source, ArraySource) or source.labels is not None or \
            not 1 <= max_iter <= MAX_ITER:
        return False
    X = source.X
    if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
        return False
    n, D = X.shape
    return D <= MAX_FEATURES and n <= SMALL_WORK and not np.isnan(X).any()


def applies_to_rows(X: np.ndarray, n_components: int) -> bool:
    """Whether rows X (complete, float64) are small enough for the loop."""
    return (X.dtype == np.float64 and X.ndim == 2 and X.shape[1] <= MAX_FEATURES
            and X.shape[0] * n_components <= SMALL_WORK)


def set_fitted(estimator, model, params, history: np.ndarray, converged: bool) -> None:
    """Give an unfitted GaussianMixture the fitted state ``fit`` would give it
    (rows validated by the caller: complete, float64, no column names)."""
    estimator._stepwise = None
    estimator._prepared = {}
    estimator.n_features_in_ = params.means.shape[1]
    estimator._set_params(params, model)
    estimator.converged_ = converged
    estimator.n_iter_ = int(history.shape[0])
    estimator.lower_bounds_ = history
    estimator.lower_bound_ = float(history[-1])
    estimator._last_runner = "em"
    estimator._checkpoint_data = None


@dataclasses.dataclass
class LoopResult:
    """What :func:`run_loop` gives back.

    ``status`` is the loop's (0: finished); otherwise the parameters are those
    entering iteration ``n_iter`` (where the loop stopped) and ``history`` the
    objectives of the iterations before it, so the NumPy path can continue
    from there (:meth:`resume_state`).  ``loglik`` and ``map_log_z``: sums over
    the rows (unit weights) at the final parameters.
    """

    status: int
    n_iter: int
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    history: np.ndarray
    converged: bool = False
    loglik: float = np.nan
    map_log_z: float = np.nan

    @property
    def ok(self) -> bool:
        return self.status == 0

    def resume_state(self, model, decrease_status: int):
        """A RunState from which ``run_em`` redoes the failed iteration (None when the
        run must restart: a decrease, whose message quotes the objectives, or a
        failure before the first iteration)."""
        from ..em.checkpoint import RunState

        if self.ok or self.status == decrease_status or self.n_iter < 1:
            return None
        try:
            params = make_params(model, self.weights, self.means, self.covariances)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None
        # allowance inf: the loop already checked this iteration's objective strictly
        return RunState(self.n_iter - 1, params, [float(v) for v in self.history],
                        allowance=np.inf)


def run_loop(kernels: ModuleType, model, X: np.ndarray, w: np.ndarray, *, params=None,
             labels: np.ndarray | None = None, n_components: int | None = None,
             tol: float, max_iter: int, reference: np.ndarray | None = None
             ) -> LoopResult | None:
    """The compiled loop from ``params`` or from the M-step of a partition ``labels``
    (None when the data are too large for it)."""
    D = X.shape[1]
    structure = model.structure
    if labels is None:
        K = params.means.shape[0]
        weights = np.array(params.weights, dtype=np.float64)
        means = np.array(params.means, dtype=np.float64, order="C")
        covariances = full_covariances(structure, params.covariances, K, D)
        labels = _NO_LABELS
    else:
        K = int(n_components)
        weights, means, covariances = np.empty(K), np.empty((K, D)), np.empty((K, D, D))
        labels = np.ascontiguousarray(labels, dtype=np.intp)
    if X.shape[0] * K > SMALL_WORK or not 1 <= max_iter <= MAX_ITER:
        return None
    if reference is None:
        reference = _reference(model, X, w)
    history = np.empty(max_iter)
    limit = model.m_step_iterations
    settings = (model_code(structure.name, kernels.MODEL_CODES), float(model.reg_covar),
                float(tol), int(max_iter), get_config()["monotonic"] != "ignore",
                objective_rtol(model), np.ascontiguousarray(reference, dtype=np.float64),
                DEGENERATE_RTOL, _empty_fraction(),
                INNER_MAX_ITER if limit is None else int(limit), INNER_MAX_ITER, INNER_TOL)
    per_call = iterations_per_call(*X.shape, K)
    n_iter, previous = 0, -np.inf
    while True:  # calls of at most per_call iterations: Ctrl-C is seen between them
        last = min(n_iter + per_call, max_iter)
        status, n_iter, converged, loglik, map_log_z = kernels.em_loop(
            X, w, labels, weights, means, covariances, *settings, history, n_iter, last,
            previous)
        if status != kernels.OK or converged or n_iter >= max_iter:
            break
        previous = float(history[n_iter - 1])
    done = n_iter if status == kernels.OK else max(n_iter - 1, 0)
    return LoopResult(int(status), int(n_iter), weights, means, covariances,
                      history[:done].copy(), bool(converged), float(loglik), float(map_log_z))


def iterations_per_call(n_rows: int, n_features: int, n_components: int) -> int:
    """Iterations of one compiled call: about :data:`CALL_WORK` row-feature
    products (some 50 ms), so that Ctrl-C stops a long fit promptly."""
    work = n_rows * n_components * (n_features + 1) ** 2
    return max(1, CALL_WORK // max(work, 1))


def _empty_fraction() -> float:
    from .gaussian import EMPTY_COMPONENT_FRACTION

    return EMPTY_COMPONENT_FRACTION


def make_params(model, weights, means, full):
    """GaussianParams in the structure's storage from the loop's arrays."""
    from .gaussian import GaussianParams

    structure = model.structure
    covariances = stored_covariances(structure, full)
    chol = structure.precisions_cholesky(covariances, model.reg_covar)
    return GaussianParams(weights, means, covariances, chol)


def compiled_run(model, params, source, *, tol: float, max_iter: int):
    """Plain EM from ``params`` in one compiled call.

    Returns an :class:`~emkit.em.engine.EMResult`, a
    :class:`~emkit.em.checkpoint.RunState` from which ``run_em`` continues when
    the loop stopped on something unusual (the NumPy path then redoes that
    iteration and reports it), or None (run the NumPy path from ``params``).
    """
    if not applies(model, source, max_iter):
        return None
    kernels = loop_kernels(max_iter)
    if kernels is None:
        return None
    X = np.ascontiguousarray(source.X)
    w = np.ascontiguousarray(source.sample_weight, dtype=np.float64)
    done = run_loop(kernels, model, X, w, params=params, tol=tol, max_iter=max_iter)
    if done is None:
        return None
    if not done.ok:
        return done.resume_state(model, kernels.DECREASE)
    return EMResult(make_params(model, done.weights, done.means, done.covariances),
                    done.history, done.converged, done.n_iter)
