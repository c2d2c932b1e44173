"""BaseMixture: what every mixture estimator shares (fit, inference, criteria, sampling).

A concrete estimator lists its parameters in ``__init__`` (scikit-learn's
rule), names its family's fitted attributes and implements a few hooks:

``_family()``
    the :class:`~emkit.families.base.ComponentFamily` configured from the
    estimator's parameters (and, after fitting, its fitted encodings);
``_validate_data(X, reset)``
    X in the form the family uses, with named errors (the default: a float
    array where NaN marks a missing value, then the family's support check);
``_user_initial_values(n_features)``
    starting values the user gave (``weights_init`` and the family's own).

:class:`~emkit.GaussianMixture` overrides more (its engine model has fused
kernels, priors and the hierarchical start) but shares the rest.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._validation import (
    check_enough_samples,
    check_int,
    check_observed_columns,
    check_option,
    check_partial_labels,
    check_real,
)
from ..em.accelerate import check_accelerate
from ..em.engine import soft_assignment
from ..em.online import (
    DEFAULT_BATCH_SIZE,
    check_learning_decay,
    check_schedule,
    stepwise_update,
)
from ..families.mixture import MixtureModel, MixtureParams, check_weight_concentration
from ..init import kmeans_plusplus, nearest_partition, one_hot, random_rows
from ..sources import ChunkCheck, is_source
from ._base import ReadableReprMixin, fit_with_restarts, make_source, validate_X
from ._long_fits import LongFitMixin
from ._sources import open_source, rows_of_sample, source_chunk_size, total_rows
from ._variants import VariantMixin

#: Starting partitions every mixture estimator offers.
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def clone_with(estimator, **params):
    """An unfitted copy of ``estimator`` with some parameters changed."""
    from sklearn.base import clone

    return clone(estimator).set_params(**params)


def labelled_start(X, weights, labels, resp, n_components, chunk_size) -> np.ndarray:
    """Starting responsibilities honouring known labels.

    When every component has labelled rows, unlabelled rows start in the
    partition of the nearest labelled-class mean; labelled rows are one-hot.
    """
    known = labels >= 0
    present = np.unique(labels[known])
    if present.shape[0] == n_components:
        class_means = np.stack([
            np.average(X[known & (labels == k)], axis=0,
                       weights=weights[known & (labels == k)] + 1e-300)
            for k in range(n_components)
        ])
        resp = one_hot(nearest_partition(X, class_means, chunk_size)[0], n_components)
    resp = resp.copy()
    resp[known] = one_hot(labels[known], n_components)
    return resp


def check_labels_init(labels_init, n_samples: int, n_components: int) -> np.ndarray:
    """``labels_init`` (labels or responsibilities) as starting responsibilities (n, K)."""
    K = n_components
    z = np.asarray(labels_init)
    if z.ndim == 1:
        if z.shape[0] != n_samples:
            raise ValueError(
                f"labels_init must have one label per row of X ({n_samples}), got {z.shape[0]}"
            )
        if not np.issubdtype(z.dtype, np.number) or not np.isfinite(z).all() or (
            z != np.round(z)
        ).any():
            raise ValueError("labels_init must hold integer component indices")
        bad = np.flatnonzero((z < 0) | (z >= K))
        if bad.size:
            raise ValueError(
                f"labels_init[{bad[0]}] = {z[bad[0]]} is not a component index 0..{K - 1}"
            )
        return one_hot(z.astype(np.intp), K)
    if z.shape != (n_samples, K):
        raise ValueError(
            f"labels_init must have shape ({n_samples},) or ({n_samples}, {K}), got {z.shape}"
        )
    if not np.issubdtype(z.dtype, np.number):
        raise ValueError("labels_init responsibilities must be numbers")
    z = z.astype(float)
    if not np.isfinite(z).all() or (z < 0).any():
        raise ValueError("labels_init responsibilities must be finite and non-negative")
    sums = z.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        raise ValueError(
            f"labels_init responsibilities must sum to 1 in every row; row {bad[0]} "
            f"sums to {sums[bad[0]]:.6g}"
        )
    return z / sums[:, None]


def check_weights_init(weights_init, n_components: int) -> np.ndarray:
    """``weights_init``: K finite non-negative numbers summing to 1."""
    w = np.asarray(weights_init, dtype=float)
    if w.shape != (n_components,):
        raise ValueError(f"weights_init must have shape ({n_components},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights_init must be finite and non-negative")
    if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"weights_init must sum to 1, got sum {w.sum():.6g}")
    return w / w.sum()


def random_generator(random_state) -> np.random.Generator:
    """A numpy Generator from an int, None, RandomState or Generator.

    A RandomState is advanced (a seed is drawn from it), so repeated calls with
    the same instance give different streams.
    """
    if isinstance(random_state, np.random.RandomState):
        random_state = random_state.randint(np.iinfo(np.int32).max)
    return np.random.default_rng(random_state)


class BaseMixture(ReadableReprMixin, LongFitMixin, VariantMixin, DensityMixin, BaseEstimator):
    """Shared behaviour of the mixture estimators (not used directly).

    Subclasses define ``__init__`` with at least ``n_components``, ``tol``,
    ``max_iter``, ``n_init``, ``init_params``, ``weights_init``,
    ``labels_init``, ``random_state``, ``warm_start``, ``verbose``,
    ``chunk_size``, ``accelerate`` and ``semi_supervised``; and, to expose
    online EM and long-fit controls, ``schedule``, ``batch_size``,
    ``learning_decay``, ``verbose_interval``, ``callback``, ``checkpoint``
    and ``checkpoint_interval``; and, for the EM variants
    (:mod:`emkit.models._variants`), ``assignment``, ``annealing`` and
    ``stochastic_iter`` (see
    :class:`~emkit.GaussianMixture`; an estimator without them gets their
    defaults).
    """

    #: ``init_params`` values this estimator accepts.
    _init_methods: ClassVar[tuple[str, ...]] = INIT_METHODS
    #: Family parameter field -> fitted attribute (besides ``weights_``).
    _component_attributes: ClassVar[dict[str, str]] = {}
    #: Smallest number of rows ``fit`` accepts.
    _min_samples: ClassVar[int] = 2

    # ------------------------------------------------------------ hooks
    def _family(self):
        raise NotImplementedError

    def _engine_model(self):
        """What the EM engine drives: the weights and the family's components."""
        concentration = getattr(self, "weight_concentration", 1.0)
        return MixtureModel(self._family(), weight_concentration=concentration)

    def _engine_model_for(self, X):
        """The engine model for fitting X (data-dependent settings such as kernels)."""
        return self._engine_model()

    def _init_view(self, model, source) -> np.ndarray:
        """The data as initialisers see them (numeric, without missing values)."""
        return model.family.init_view(source.X)

    def _validate_data(self, X, *, reset: bool):
        """X as the family uses it (float, NaN = missing), checked against its support."""
        X = validate_X(self, X, reset=reset, min_samples=self._min_samples if reset else 1,
                       allow_nan=True)
        return self._family().check_data(X, "X")

    def _user_initial_values(self, n_features: int) -> dict:
        """Starting values given by the user: "weights" and the family's fields."""
        values = {}
        if getattr(self, "weights_init", None) is not None:
            values["weights"] = check_weights_init(self.weights_init, self.n_components)
        return values

    def _row_width(self, model, X) -> int:
        """Floats of E-step work per row (sets the default chunk size)."""
        return self.n_components + int(X.shape[1])

    def _prepare(self, model, X, source, sample=None) -> None:
        """Data-dependent set-up of the engine model before EM (priors, ...).

        ``sample``: the initialisation sample when ``source`` is a file or Dask
        source (X is then ``sample.X``); None when X is the data in memory.

        The default lets the family prepare itself
        (:meth:`~emkit.families.base.ComponentFamily.prepare`); engine models
        without a family (the variational Gaussian model) need nothing.
        """
        family = getattr(model, "family", None)
        if family is None:
            return
        if sample is None:  # X is the data, in memory
            family.prepare(X, source.sample_weight)
        else:  # a file or Dask source: X is its initialisation sample, in memory
            family.prepare(X, sample.sample_weight, cache_chunks=False)

    def _check_family_parameters(self) -> None:
        """Checks of the estimator's own parameters (beyond the shared ones)."""

    # ------------------------------------------------------------ checks
    def _check_parameters(self) -> None:
        check_int(self.n_components, "n_components", 1)
        check_real(self.tol, "tol", 0.0)
        check_int(self.max_iter, "max_iter", 0)
        check_int(self.n_init, "n_init", 1)
        check_option(self.init_params, "init_params", self._init_methods)
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", 1)
        check_accelerate(self.accelerate)
        if hasattr(self, "weight_concentration"):
            check_weight_concentration(self.weight_concentration)
        if self.labels_init is not None and self.n_init != 1:
            raise ValueError(
                f"labels_init gives one starting partition, so n_init must be 1, got {self.n_init}"
            )
        schedule = check_schedule(self._option("schedule"))
        if schedule != "batch" and self.accelerate is not None:
            raise ValueError(f"accelerate={self.accelerate!r} applies to schedule='batch' "
                             f"only, not to schedule={schedule!r}")
        self._check_long_fit_parameters()
        self._check_variant_parameters()
        self._check_family_parameters()

    def _fitted_matches(self) -> str | None:
        """Why the fitted parameters cannot start a warm fit (None when they can)."""
        fitted = getattr(self, "weights_", None)
        if fitted is not None and fitted.shape[0] != self.n_components:
            return (f"the fitted model has {fitted.shape[0]} components but "
                    f"n_components={self.n_components}")
        return None

    def _warm(self) -> bool:
        """Whether this fit continues from the fitted parameters (``warm_start``)."""
        if not (self.warm_start and hasattr(self, "converged_")):
            return False
        reason = self._fitted_matches()
        if reason is not None:
            warnings.warn(f"warm_start ignored: {reason}; fitting from a new start",
                          UserWarning, stacklevel=4)
            return False
        return True

    # ------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a source
            NaN entries are missing values (marginalised in the E-step).  A
            :class:`~emkit.sources.Source` (``emkit.sources.from_file(path)``),
            a ``numpy.memmap`` or a dask array / data frame is read chunk by
            chunk, each chunk checked as it is read; the result is that of
            the same rows in memory (:mod:`emkit.sources`).
        y : array-like of shape (n_samples,), optional
            Ignored unless ``semi_supervised=True``; then partially labelled data
            (semi-supervised EM): the known component of each row, -1 where
            unknown.  Labelled rows keep one-hot responsibilities and contribute
            their joint log-density log pi_y + log p(x | y) to the objective;
            unlabelled rows contribute their marginal log p(x).  With a source,
            also the name of a label column (empty cells: unknown).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights with count semantics (weight 2 = the row
            twice, weight 0 = the row absent).  With a source, also the name of
            a weight column.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight, y)
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the most probable component of every row of X."""
        if is_source(X):
            raise TypeError("fit_predict needs X in memory; with a source, fit(source) and "
                            "then predict() rows in memory")
        return self._fit(X, sample_weight, y).predict(X)

    def _validate_batch(self, X, y, *, reset: bool):
        """(data the engine sees, partial labels or None) from what fit was given.

        Conditional mixtures override it: their y is the response, joined to X.
        """
        X = self._validate_data(X, reset=reset)
        labels = None
        if getattr(self, "semi_supervised", False):
            if y is None:
                raise ValueError("semi_supervised=True needs y: a component index per row, "
                                 "-1 for unlabelled rows")
            labels = check_partial_labels(y, _num_samples(X), self.n_components)
        return X, labels

    def _fit(self, X, sample_weight, y=None, online_start: bool = False):
        self._check_parameters()
        warm = self._warm()
        if not warm:
            self._stepwise = None
        if is_source(X):
            rng = check_random_state(self.random_state)
            model, source, init_source = self._open_source(X, sample_weight, y, warm, rng)
            return self._run(model, source, init_source, rng, warm, online_start)
        X, labels = self._validate_batch(X, y, reset=not warm)
        return self._fit_validated(X, sample_weight, labels, warm, online_start)

    def _fit_validated(self, X, sample_weight, labels, warm: bool, online_start: bool = False):
        """EM on validated data (``labels``: partial component labels or None)."""
        check_enough_samples(_num_samples(X), self.n_components)
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            check_observed_columns(X)
        model = self._engine_model_for(X)
        source = make_source(X, sample_weight, self.chunk_size, self._row_width(model, X))
        self._prepare(model, X, source)
        source.labels = labels
        rng = check_random_state(self.random_state)
        return self._run(model, source, source, rng, warm, online_start)

    def _run(self, model, source, init_source, rng, warm: bool, online_start: bool):
        """EM (restarts, schedule, monitor, checkpoints) from a prepared model and source."""
        self._prepared = self._export_prepared(model)
        schedule = "batch" if online_start else self._option("schedule")
        runner = self._runner_name(schedule)
        resume = None
        if warm:
            current = self._params()
            starts, n_init = (lambda: current), 1
            if runner == "em" and getattr(self, "_last_runner", "em") == "em" and \
                    np.isfinite(getattr(self, "lower_bound_", -np.inf)):
                # as scikit-learn: the convergence test continues from lower_bound_
                # (when that is the log-likelihood of a batch EM fit)
                from ..em.checkpoint import RunState

                resume = RunState(0, current, [float(self.lower_bound_)], np.inf)
        else:
            user = self._user_initial_values(source.n_features)

            def starts():
                return self._initial_params(model, init_source, rng, user)
            n_init = self.n_init
            if not online_start:
                resume = self._read_checkpoint(source, runner)
        monitor = None if online_start else self._monitor(source, runner, n_init, model)
        assignment, accelerate = "soft", self.accelerate
        if not online_start and self._uses_variant():
            assignment, accelerate = self._variant_run(rng)
            resume = None  # a warm start's lower_bound_ is another objective's
        options = {}
        if schedule != "batch":
            options["batch_size"] = self._option("batch_size") or DEFAULT_BATCH_SIZE
        if schedule == "stepwise":
            options["decay"] = check_learning_decay(self._option("learning_decay"))
            options["seed"] = int(rng.randint(np.iinfo(np.int32).max))
        result = fit_with_restarts(
            model, starts, source, n_init=n_init, tol=self.tol, max_iter=self.max_iter,
            assignment=assignment, verbose=self.verbose, accelerate=accelerate,
            schedule=schedule,
            schedule_options=options, monitor=monitor, resume=resume,
        )
        self._set_params(result.params, model)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bounds_ = result.objective_history
        self.lower_bound_ = result.objective
        self._last_runner = runner
        if result.phases is not None:
            self.phases_ = [phase.as_dict() for phase in result.phases]
        elif hasattr(self, "phases_"):
            del self.phases_
        if schedule == "stepwise":
            self._stepwise = getattr(result, "stepwise_state", None)
            self.n_steps_ = self._stepwise.n_steps if self._stepwise is not None else 0
        return self

    # ------------------------------------------------------------ online EM
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch of rows (stepwise EM).

        The first call (on an unfitted estimator) fits the batch with batch EM
        (``init_params``, ``n_init``, ``max_iter``, ...); every call then folds
        the batch into running statistics per unit of row weight,
        ``s <- (1 - eta) s + eta s_batch`` with ``eta = (t + 2) ** -learning_decay``
        (Cappé & Moulines 2009; ``t`` counts the updates from 0), and takes the
        M-step.  A fitted estimator (``fit``, a loaded model) continues from
        its parameters; its running statistics restart from the next batch.
        One call is one update whatever the batch size: batches of a few
        thousand rows are a good size (Liang & Klein 2009).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch; NaN entries are missing values.  Later batches must
            have the features of the first.
        y : array-like of shape (n_samples,), optional
            Partial labels of the batch when ``semi_supervised=True`` (else ignored).
        sample_weight : array-like of shape (n_samples,), optional
            Row weights of the batch (count semantics within the batch; every
            batch gets the step ``eta`` whatever its total weight).

        Returns
        -------
        self

        Notes
        -----
        After a call, ``n_steps_`` counts the batches folded in so far,
        ``lower_bound_`` is the batch's mean log-likelihood at the parameters
        *before* the update (the batch was unseen: an honest estimate of the
        fit, with no prior term), ``n_iter_`` is 1 and ``converged_`` False.
        ``callback`` is called once per call (``info.iteration`` =
        ``n_steps_``); ``checkpoint`` is not used (save the model with
        :func:`emkit.persist.save_model` between batches).
        """
        self._check_parameters()
        if self._uses_variant():
            raise ValueError("partial_fit runs stepwise EM with soft assignments; "
                             "assignment and annealing apply to fit only")
        decay = check_learning_decay(self._option("learning_decay"))
        first = not hasattr(self, "converged_")
        X, labels = self._validate_batch(X, y, reset=first)
        if first:
            self._stepwise = None
            self._fit_validated(X, sample_weight, labels, False, online_start=True)
            self._stepwise = None
            self._stream_rows = 0
        n_samples = _num_samples(X)
        model = self._engine_model_for(X)
        self._stream_rows = getattr(self, "_stream_rows", 0) + n_samples
        if getattr(model, "kernel_work", None) is not None:
            # compiled kernels pay off over the stream, not over one batch
            model.kernel_work = self._stream_rows * self.n_components
        source = make_source(X, sample_weight, self.chunk_size, self._row_width(model, X))
        prepared = getattr(self, "_prepared", None)
        if prepared is None:
            self._prepare(model, X, source)
            self._prepared = self._export_prepared(model)
        else:
            for name, value in prepared.items():
                setattr(model, name, value)
        source.labels = labels
        params, state, objective = stepwise_update(
            model, self._params(), getattr(self, "_stepwise", None), source, decay)
        self._set_params(params, model)
        self._stepwise = state
        self.n_steps_ = state.n_steps
        self.n_iter_ = 1
        self.converged_ = False
        self.lower_bound_ = objective
        self.lower_bounds_ = np.array([objective])
        self._last_runner = "partial_fit"
        self._online_callbacks(state.n_steps, objective, params, model)
        return self

    def _export_prepared(self, model) -> dict:
        """Data-dependent settings of a prepared engine model that later batches reuse
        (a prior resolved from the first batch)."""
        return {"prior": model.prior} if getattr(model, "prior", None) is not None else {}

    def _in_memory_source(self, X, sample_weight, y, warm: bool):
        """Validate an in-memory X; the engine model and the source over X."""
        X = self._validate_data(X, reset=not warm)
        n_samples = _num_samples(X)
        check_enough_samples(n_samples, self.n_components)
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            check_observed_columns(X)
        model = self._engine_model_for(X)
        source = make_source(X, sample_weight, self.chunk_size, self._row_width(model, X))
        self._prepare(model, X, source)
        if self.semi_supervised:
            self._require_labels(y)
            source.labels = check_partial_labels(y, n_samples, self.n_components)
        return model, source

    def _require_labels(self, y) -> None:
        if y is None:
            raise ValueError("semi_supervised=True needs y: a component index per row, "
                             "-1 for unlabelled rows")

    def _chunk_check(self) -> ChunkCheck:
        """What every chunk read from a source must satisfy (the family's support)."""
        family = self._family()
        return ChunkCheck(np.float64, allow_nan=family.allows_missing, check=family.check_data,
                          n_components=self.n_components)

    def _open_source(self, X, sample_weight, y, warm: bool, rng):
        """X is a source: one pass for checks, moments and the initialisation sample.

        Returns the engine model, the configured source and the sample that
        initialisation works on (:mod:`emkit.models._sources`).
        """
        if self.semi_supervised:
            self._require_labels(y)
        source, sample = open_source(self, X, sample_weight,
                                     y if self.semi_supervised else None,
                                     check=self._chunk_check(), reset=not warm, rng=rng)
        check_enough_samples(source.n_samples, self.n_components)
        model = self._engine_model_for(sample.X)
        if hasattr(model, "kernel_work"):
            model.kernel_work = source.n_samples * self.n_components
        if hasattr(model, "persistent_chunks"):
            model.persistent_chunks = False
        chunk = source_chunk_size(self.chunk_size, source, self._row_width(model, sample.X))
        source = source.configured(chunk_size=chunk)
        sample.chunk_size = chunk
        self._prepare(model, sample.X, source, sample)
        return model, source, sample

    # ------------------------------------------------------------ starting values
    def _initial_responsibilities(self, model, source, rng) -> np.ndarray:
        """Starting responsibilities (n, K) from ``labels_init`` or ``init_params``."""
        K = self.n_components
        w = source.sample_weight
        if self.labels_init is not None:
            return rows_of_sample(check_labels_init(self.labels_init, total_rows(source), K),
                                  source)
        if self.init_params == "random":
            resp = rng.uniform(size=(source.n_samples, K))
            return resp / resp.sum(axis=1, keepdims=True)
        view = self._init_view(model, source)
        if self.init_params == "kmeans":
            from .kmeans import KMeans

            labels = KMeans(n_clusters=K, n_init=1, random_state=rng,
                            chunk_size=source.chunk_size).fit(view, sample_weight=w).labels_
            return one_hot(labels, K)
        seeder = kmeans_plusplus if self.init_params == "k-means++" else random_rows
        seeds, _ = seeder(view, K, sample_weight=w, random_state=rng)
        return one_hot(nearest_partition(view, seeds, source.chunk_size)[0], K)

    def _initial_params(self, model, source, rng, user: dict) -> MixtureParams:
        """Parameters EM starts from: an M-step from the starting responsibilities,
        with any value the user gave in its place."""
        family = model.family
        fields = {f.name for f in dataclasses.fields(family.params_type)}
        given = {name: user[name] for name in fields & user.keys()}
        if fields <= user.keys() and "weights" in user:
            return MixtureParams(user["weights"], family.params_from_fields(**given))
        resp = self._initial_responsibilities(model, source, rng)
        if source.labels is not None:
            resp = labelled_start(self._init_view(model, source), source.sample_weight,
                                  source.labels, resp, self.n_components, source.chunk_size)
        smoothing = float(getattr(family, "start_smoothing", 0.0))
        if smoothing and self.labels_init is None:
            # a hard partition would give a discrete family's first M-step exact zeros
            # (a level absent from a cluster), which maximum-likelihood EM never leaves
            free = slice(None) if source.labels is None else source.labels < 0
            resp[free] = (1.0 - smoothing) * resp[free] + smoothing / self.n_components
        start = model.params_from_responsibilities(source.X, source.sample_weight, resp,
                                                   source.chunk_size)
        components = start.components
        if given:
            values = {f.name: getattr(components, f.name)
                      for f in dataclasses.fields(family.params_type)}
            values.update(given)
            components = family.params_from_fields(**values)
        return MixtureParams(user.get("weights", start.weights), components)

    # ------------------------------------------------------------ fitted state
    def _params(self):
        """The fitted parameters in the engine model's form."""
        family = self._family()
        values = {field: getattr(self, attr) for field, attr in self._component_attributes.items()}
        return MixtureParams(self.weights_, family.params_from_fields(**values))

    def _set_params(self, params, model) -> None:
        """Store fitted parameters as attributes (``weights_`` and the family's)."""
        self.weights_ = params.weights
        for field, attr in self._component_attributes.items():
            setattr(self, attr, getattr(params.components, field))

    # ------------------------------------------------------------ inference
    def _log_joint(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = self._validate_data(X, reset=False)
        return self._engine_model().log_joint(self._params(), X)

    def score_samples(self, X) -> np.ndarray:
        """Log-density log p(x) of every row, shape (n_samples,)."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None) -> float:
        """Mean log-density per row of X."""
        return float(self.score_samples(X).mean())

    def _posterior(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(log joint, responsibilities) of X; refuses rows impossible under every component."""
        log_joint = self._log_joint(X)
        impossible = ~np.isfinite(log_joint.max(axis=1))
        if impossible.any():
            row = int(np.flatnonzero(impossible)[0])
            raise ValueError(
                f"row {row} of X has probability 0 under every component (a value no "
                "component can produce: with maximum likelihood, discrete families can "
                "give a value probability exactly 0); refit with a prior (alpha > 0) "
                f"({int(impossible.sum())} such row(s))"
            )
        return log_joint, soft_assignment(log_joint.copy())[1]

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities p(z = k | x), shape (n_samples, n_components); rows sum to 1.

        Raises
        ------
        ValueError
            A row has probability 0 under every component (possible only for
            discrete families fitted without a prior); the message names it.
        """
        return self._posterior(X)[1]

    def predict(self, X) -> np.ndarray:
        """Most probable component of every row (raises as :meth:`predict_proba`)."""
        return np.argmax(self._posterior(X)[0], axis=1)

    def sample(self, n_samples: int = 1, random_state=None) -> tuple[Any, np.ndarray]:
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, Generator, RandomState or None
            Source of randomness; None uses the estimator's ``random_state``
            (so repeated calls repeat the draws, as in scikit-learn).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Component of each row (rows are grouped by component).
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", 1)
        rng = random_generator(self.random_state if random_state is None else random_state)
        return self._engine_model().sample(self._params(), n_samples, rng)

    # ------------------------------------------------------------ criteria
    def _n_parameters(self) -> int:
        return self._engine_model().n_parameters(self._params())

    def n_parameters(self) -> int:
        """Number of free parameters of the fitted model."""
        check_is_fitted(self)
        return self._n_parameters()

    def _total_log_likelihood(self, X) -> tuple[float, int]:
        scores = self.score_samples(X)
        return float(scores.sum()), int(scores.shape[0])

    def bic(self, X) -> float:
        """Bayesian information criterion on X: ``-2 log L + p log n`` (smaller is better)."""
        loglik, n = self._total_log_likelihood(X)
        return -2.0 * loglik + self._n_parameters() * np.log(n)

    def aic(self, X) -> float:
        """Akaike information criterion on X: ``-2 log L + 2 p`` (smaller is better)."""
        loglik = self._total_log_likelihood(X)[0]
        return -2.0 * loglik + 2.0 * self._n_parameters()

    def icl(self, X) -> float:
        """Integrated completed likelihood: ``BIC - 2 sum_i log z_i,map`` (smaller is better).

        ``z`` are the responsibilities of X and ``map`` each row's most probable
        component (Biernacki et al. 2000, mclust's ``icl``); the entropy term
        penalises overlapping components.
        """
        log_joint = self._log_joint(X)
        log_norm, resp = soft_assignment(log_joint)
        with np.errstate(divide="ignore"):
            map_log_z = float(np.log(resp.max(axis=1)).sum())
        n = log_joint.shape[0]
        return -2.0 * float(log_norm.sum()) + self._n_parameters() * np.log(n) - 2.0 * map_log_z
