"""MixedMixture: one latent class variable over a table of mixed columns."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_option
from ..families.mixture import MixtureParams
from ..families.product import ProductFamily, ProductParams
from ._encoding import (
    HANDLE_UNKNOWN,
    MISSING,
    Table,
    decode_codes,
    encode_column,
    learn_categories,
    numeric_column,
)
from ._groups import REMAINDER, Group, parse_spec, resolve_groups
from ._mixture import BaseMixture


class MixedMixture(BaseMixture):
    """Latent class model over mixed columns: each column group has its own family.

    One latent class variable z; given z, the column groups are independent
    (*local independence*), and each group follows its family: Gaussian
    (any of mclust's 14 covariance models: dependence *within* the group),
    categorical (latent class analysis), Poisson counts, Bernoulli.  This is
    StepMix's and flexmix's (``FLXMCmvcombi``) mixed measurement model, with
    every feature of the other emkit mixtures (missing values, weights,
    semi-supervised fits, acceleration, criteria).

    Parameters
    ----------
    n_components : int, default=1
        Number of latent classes K.
    families : list of tuples, optional
        The column groups, in the style of scikit-learn's ``ColumnTransformer``:
        ``(name, family, columns)`` or ``(name, family, columns, options)``.
        ``family`` is a name of :data:`emkit.families.registry.FAMILIES`
        ("gaussian", "categorical", "poisson", "bernoulli"); ``columns`` a
        column or a list of columns, by name (pandas DataFrame) or position;
        ``options`` a dict of the family's settings: ``covariance_type`` and
        ``reg_covar`` for "gaussian" (default "full", 1e-6), ``alpha`` for the
        discrete families (their pseudo-count priors, default 0).  Example::

            [("size", "gaussian", ["height", "weight"], {"covariance_type": "VVV"}),
             ("answers", "categorical", ["q1", "q2"], {"alpha": 1.0}),
             ("visits", "poisson", ["n"])]

        None (default): numeric columns form one Gaussian group "gaussian" and
        the others (strings, bool, pandas categoricals) one categorical group
        "categorical".  A group name used twice, an unknown family or option,
        an empty group, a column in two groups, or a column that does not
        exist is a ValueError naming the group and column.
    remainder : {"drop", "error"}, default="drop"
        Columns in no group: "drop" leaves them out of the model (as
        ``ColumnTransformer``; their values are never read and
        :meth:`sample` returns them missing); "error" refuses them.
    handle_unknown : {"error", "missing"}, default="error"
        A level of a categorical column not seen in ``fit``, when predicting or
        scoring: an error naming it, or a missing value.
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on the class weights (>= 1; 1 is flat).
    tol : float, default=1e-6
        EM stops when the mean objective (log-likelihood, or log posterior
        with a prior, per unit row weight) changes by less than this.
    max_iter : int, default=200
        Maximum EM iterations per initialisation.
    n_init : int, default=1
        Initialisations; the one with the highest final objective is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting partition, found on the groups' views side by side, every
        column scaled to unit variance (Gaussian columns as they are,
        categorical columns one-hot, counts as square roots).
    weights_init : array-like of shape (n_components,), optional
    labels_init : array-like, optional
        A starting partition: a class index per row, or responsibilities
        (n_samples, n_components); EM starts with an M-step from it.
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters (same families).
    verbose : int, default=0
    chunk_size : int or None, default=None
        Rows per E-step chunk (None: a few MB of work arrays).
    accelerate : {None, "squarem", "overrelax"}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`).
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as partial class labels (-1 = unknown).
    schedule, batch_size, learning_decay
        How :meth:`fit` runs EM ("batch", "incremental", "stepwise") and the
        online schedules' block size and step decay, as
        :class:`~emkit.GaussianMixture`; :meth:`partial_fit` is stepwise EM.
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.
    assignment, annealing, stochastic_iter, monte_carlo, sparse
        EM variants (classification EM "hard", stochastic EM "stochastic",
        Monte Carlo EM "monte-carlo", deterministic annealing, sparse EM), as
        :class:`~emkit.GaussianMixture` (sparse EM evaluates every component
        of this family: correct, not faster).

    Attributes
    ----------
    groups_ : list of tuple
        The groups as fitted: ``(name, family, columns, options)`` with the
        columns by name (DataFrame input) or position.
    weights_ : ndarray of shape (n_components,)
    parameters_ : dict
        Group name -> the group's fitted parameters as a dict: ``means``,
        ``covariances``, ``precisions_cholesky`` (Gaussian, shapes as
        :class:`~emkit.GaussianMixture`'s attributes), ``probabilities`` (a
        list of (K, L_j) arrays, categorical; (K, D) for Bernoulli), ``rates``
        (Poisson, (K, D)).
    categories_ : dict
        Categorical group name -> the levels of each of its columns.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean objective of the parameters entering the last iteration.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        The mean objective at every iteration; never decreases.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Notes
    -----
    Missing values (NaN, None, pandas NA) are marginalised in every group:
    independent columns drop their term, Gaussian groups use the marginal
    density of the observed coordinates (and conditional moments in the
    statistics).  The number of free parameters is ``K - 1`` plus the sum of
    the groups' counts, so :meth:`bic`, :meth:`aic` and :meth:`icl` compare
    models with different groupings or covariance models.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from emkit import MixedMixture
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(2, size=400)
    >>> X = pd.DataFrame({
    ...     "height": rng.normal(np.array([160.0, 180.0])[z], 6.0),
    ...     "smoker": np.where(rng.random(400) < np.array([0.2, 0.7])[z], "yes", "no"),
    ...     "visits": rng.poisson(np.array([1.0, 5.0])[z])})
    >>> mm = MixedMixture(2, families=[("size", "gaussian", ["height"]),
    ...                                ("habits", "categorical", ["smoker"]),
    ...                                ("care", "poisson", ["visits"])],
    ...                   random_state=0).fit(X)
    >>> order = np.argsort(mm.parameters_["size"]["means"][:, 0])
    >>> np.round(mm.parameters_["size"]["means"][order, 0])
    array([159., 180.])
    >>> np.round(mm.parameters_["care"]["rates"][order, 0])
    array([1., 5.])
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        families=None,
        remainder: str = "drop",
        handle_unknown: str = "error",
        weight_concentration: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 200,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init=None,
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
        semi_supervised: bool = False,
        schedule: str = "batch",
        batch_size: int | None = None,
        learning_decay: float = 0.7,
        verbose_interval: int = 1,
        callback=None,
        checkpoint=None,
        checkpoint_interval: int = 10,
        assignment: str = "soft",
        annealing=None,
        stochastic_iter: int = 100,
        monte_carlo=None,
        sparse=None,
    ):
        self.n_components = n_components
        self.families = families
        self.remainder = remainder
        self.handle_unknown = handle_unknown
        self.weight_concentration = weight_concentration
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.accelerate = accelerate
        self.semi_supervised = semi_supervised
        self.schedule = schedule
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.verbose_interval = verbose_interval
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.assignment = assignment
        self.annealing = annealing
        self.stochastic_iter = stochastic_iter
        self.monte_carlo = monte_carlo
        self.sparse = sparse

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # ------------------------------------------------------------------ checks
    def _check_family_parameters(self) -> None:
        check_option(self.remainder, "remainder", REMAINDER)
        check_option(self.handle_unknown, "handle_unknown", HANDLE_UNKNOWN)
        if self.families is not None:
            parse_spec(self.families)

    def _spec_key(self) -> str:
        return repr(self.families)

    def _fitted_matches(self) -> str | None:
        reason = super()._fitted_matches()
        if reason is None and getattr(self, "_fitted_spec", None) != self._spec_key():
            reason = "the families changed since the model was fitted"
        return reason

    # ------------------------------------------------------------------ family
    def _groups(self) -> list[Group]:
        check_is_fitted(self, "_groups_fitted")
        return self._groups_fitted

    def _layout(self) -> list[slice]:
        """Each group's columns in the encoded matrix (groups side by side)."""
        out, start = [], 0
        for group in self._groups():
            out.append(slice(start, start + len(group.positions)))
            start += len(group.positions)
        return out

    def _family(self) -> ProductFamily:
        parts = []
        for group, columns in zip(self._groups(), self._layout(), strict=True):
            options = dict(group.options)
            if group.categorical:
                options["n_levels"] = [len(c) for c in self.categories_[group.name]]
            try:
                family = group.family_class(**options)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"group {group.name!r} ({group.family}): {exc}") from None
            parts.append((group.name, family, columns))
        return ProductFamily(parts)

    # ------------------------------------------------------------------ data
    def _validate_data(self, X, *, reset: bool):
        """X as one float matrix, the groups' columns side by side (categorical
        columns as codes, NaN for every missing entry)."""
        table = Table(X, min_samples=self._min_samples if reset else 1)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if reset:
            groups = resolve_groups(self.families, table, self.remainder)
            categories = {
                g.name: [learn_categories(table.column(j),
                                          f"{table.label(j)} (group {g.name!r})")
                         for j in g.positions]
                for g in groups if g.categorical
            }
        else:
            groups, categories = self._groups(), self.categories_
        handle_unknown = "error" if reset else self.handle_unknown
        blocks, labels = [], []
        for group in groups:
            for i, j in enumerate(group.positions):
                column, label = table.column(j), f"{table.label(j)} (group {group.name!r})"
                if group.categorical:
                    codes = encode_column(column, categories[group.name][i], label,
                                          handle_unknown).astype(np.float64)
                    codes[codes == MISSING] = np.nan
                    blocks.append(codes)
                else:
                    blocks.append(numeric_column(column, label))
                labels.append(j if table.names is None else table.names[j])
        encoded = np.ascontiguousarray(np.column_stack(blocks))
        if reset:
            observed = ~np.isnan(encoded).all(axis=0)
            if not observed.all():
                column = labels[int(np.argmin(observed))]
                raise ValueError(f"column {column!r} has no observed value (every entry is "
                                 "missing); drop the column")
            self._groups_fitted = groups
            self.categories_ = categories
            self.groups_ = [
                (g.name, g.family,
                 [p if table.names is None else table.names[p] for p in g.positions],
                 dict(g.options))
                for g in groups]
        self._family().check_data(encoded, "X", names=labels)
        return encoded

    # ------------------------------------------------------------------ fitted state
    def _set_params(self, params: MixtureParams, model) -> None:
        self._fitted_spec = self._spec_key()
        self.weights_ = params.weights
        self.parameters_ = {}
        for group, theta in zip(self._groups(), params.components.parts, strict=True):
            values = {}
            for field in dataclasses.fields(theta):
                value = getattr(theta, field.name)
                values[field.name] = list(value) if isinstance(value, list) else value
            self.parameters_[group.name] = values

    def _params(self) -> MixtureParams:
        family = self._family()
        parts = tuple(part.family.params_from_fields(**self.parameters_[part.name])
                      for part in family.parts)
        return MixtureParams(self.weights_, ProductParams(parts))

    def _row_width(self, model, X) -> int:
        return 3 * self.n_components + int(X.shape[1])

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples: int = 1, random_state=None):
        """Draw rows from the fitted mixture, in the columns of the fitted X.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            A DataFrame when the model was fitted on one (categorical columns
            hold their levels); otherwise a float array, or an object array
            when some categorical levels are not numbers.  Columns in no
            group are missing (NaN / None).
        y : ndarray of shape (n_samples,)
            Class of each row (rows are grouped by class).
        """
        encoded, labels = super().sample(n_samples, random_state)
        columns: dict[int, np.ndarray] = {}
        for group, block in zip(self._groups(), self._layout(), strict=True):
            values = encoded[:, block]
            if group.categorical:
                values = decode_codes(values, self.categories_[group.name])
            for i, j in enumerate(group.positions):
                columns[j] = values[:, i]
        numeric = all(v.dtype.kind == "f" for v in columns.values())
        n_features = self.n_features_in_
        if hasattr(self, "feature_names_in_"):
            import pandas as pd

            frame = {name: columns.get(j, np.full(n_samples, np.nan))
                     for j, name in enumerate(self.feature_names_in_)}
            return pd.DataFrame(frame), labels
        out = np.full((n_samples, n_features), np.nan if numeric else None,
                      dtype=np.float64 if numeric else object)
        for j, values in columns.items():
            out[:, j] = values
        return out, labels
