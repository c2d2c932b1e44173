"""Emission adapters: how an HMM estimator talks to its emission family.

An adapter turns the estimator's emission settings (``covariance_type``,
``means_init``, ``alpha``, ...) into a configured
:class:`~emkit.families.base.ComponentFamily`, checks X against it, reads the
user's starting values, and moves fitted parameters to and from the
estimator's attributes (``means_``, ``probabilities_``, ``rates_``, ...).
:class:`emkit.hmm.HMM` builds one from ``emission=`` (a family name with
options, or a family object); the named estimators (:class:`GaussianHMM`,
...) build theirs from their own parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import validate_data

from .._validation import check_int, check_observed_columns, check_option, check_real
from ..families.base import ComponentFamily
from ..families.bernoulli import BernoulliFamily
from ..families.categorical import CategoricalFamily
from ..families.gaussian_family import GaussianComponents, GaussianFamily
from ..families.mixture_family import MixtureFamily, MixtureFamilyParams
from ..families.poisson import PoissonFamily
from ..families.registry import get_family
from ..families.structures import get_structure
from ..families.student_t import StudentTFamily
from ..models._base import validate_X
from ..models._encoding import (
    HANDLE_UNKNOWN,
    Table,
    check_categories,
    decode_codes,
    encode_column,
    learn_categories,
)


def _finite_array(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf")
    return array


def _probability_rows(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    p = _finite_array(value, name, shape)
    if (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return p


class Emission:
    """Base adapter: a registry family with default data checks.

    Subclasses set :attr:`init_names` (family field -> the estimator
    parameter giving its starting value) and override what differs.
    """

    #: Family parameter field -> name of the ``*_init`` parameter that gives it.
    init_names: ClassVar[dict[str, str]] = {}
    #: Family-specific groups ``fixed`` may hold -> the ``*_init`` they need.
    fixed_groups: ClassVar[dict[str, str]] = {}
    #: Whether X is numeric (float, NaN = missing) for the family.
    numeric = True

    def family(self, estimator, n_features: int) -> ComponentFamily:
        raise NotImplementedError

    # --- data ---------------------------------------------------------------
    def validate(self, estimator, X, *, reset: bool):
        """X in the family's form (numbers, NaN = missing), support checked."""
        X = validate_X(estimator, X, reset=reset, min_samples=1, allow_nan=True)
        if reset:
            check_observed_columns(X)
        return self.family(estimator, X.shape[1]).check_data(X, "X")

    # --- starting values ------------------------------------------------------
    def initial_values(self, estimator, n_states: int, n_features: int) -> dict:
        """Family fields given by the user (validated), by field name."""
        return {}

    def given(self, group: str) -> bool:
        """Whether the starting value of family-specific group ``group`` is given."""
        return getattr(self, self.fixed_groups[group], None) is not None

    def configure_fixed(self, family: ComponentFamily, groups: frozenset) -> None:
        """Hold family-specific groups fixed (the default has none)."""

    def n_fixed_parameters(self, family, params, groups: frozenset) -> int:
        """Free parameters the fixed family-specific groups remove."""
        return 0

    def start(self, family: ComponentFamily, X, sample_weight: np.ndarray, resp: np.ndarray,
              rng: np.random.RandomState, chunk_size: int):
        """Emission parameters from starting state responsibilities (n, K): one M-step."""
        if hasattr(family, "start_from_partition"):
            return family.start_from_partition(X, sample_weight, resp, rng, chunk_size)
        weighted = resp * sample_weight[:, None]
        stats = None
        for start in range(0, X.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            part = family.statistics(None, X[rows], weighted[rows])
            stats = part if stats is None else stats + part
        counts = weighted.sum(axis=0)
        empty = counts <= 0
        if empty.any():
            raise ValueError(f"state(s) {np.flatnonzero(empty).tolist()} received no data at "
                             "initialisation; use fewer states or another init_params")
        return family.maximize(stats)

    # --- fitted attributes ----------------------------------------------------
    def fitted_mismatch(self, estimator, family, params) -> str | None:
        """Why fitted parameters do not suit the current settings (None: they do)."""
        return None

    def export(self, estimator, params) -> None:
        """Store fitted emission parameters as ``<field>_`` attributes."""
        for field in dataclasses.fields(params):
            setattr(estimator, f"{field.name}_", getattr(params, field.name))

    def restore(self, estimator, family: ComponentFamily):
        """The fitted emission parameters in the family's form."""
        values = {f.name: getattr(estimator, f"{f.name}_")
                  for f in dataclasses.fields(family.params_type)}
        return family.params_from_fields(**values)

    def decode(self, estimator, X):
        """Sampled emissions as the user sees them (the default: unchanged)."""
        return X


class FamilyEmission(Emission):
    """Any registered family (or a family object), configured by keywords.

    Parameters
    ----------
    family : str or ComponentFamily
        A name of :data:`emkit.families.registry.FAMILIES` or a configured
        family object (used as given).
    options : dict
        Keywords of the family's constructor; the key ``"init"`` (a dict of
        the family's parameter fields) gives starting values instead.
    """

    def __init__(self, family, options: dict | None = None):
        options = dict(options or {})
        self.init = options.pop("init", None) or {}
        if isinstance(family, ComponentFamily):
            if options:
                raise ValueError("emission_options must be empty when emission is a family "
                                 "object (configure the object itself), apart from 'init'")
            self._family = family
        else:
            self._family = get_family(family)(**options)

    def family(self, estimator, n_features: int) -> ComponentFamily:
        return self._family

    def initial_values(self, estimator, n_states, n_features) -> dict:
        fields = {f.name for f in dataclasses.fields(self._family.params_type)}
        unknown = set(self.init) - fields
        if unknown:
            raise ValueError(f"emission_options['init'] has unknown field(s) {sorted(unknown)}; "
                             f"the {self._family.name} family's fields are {sorted(fields)}")
        return dict(self.init)


class GaussianEmission(Emission):
    """Gaussian emissions with any of mclust's 14 covariance models."""

    init_names: ClassVar[dict[str, str]] = {"means": "means_init",
                                            "covariances": "precisions_init"}
    fixed_groups: ClassVar[dict[str, str]] = {
        "means": "means_init", "covariances": "precisions_init or covariances_init"}

    def __init__(self, covariance_type: str = "full", reg_covar: float = 1e-6,
                 means_init=None, precisions_init=None, covariances_init=None):
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.covariances_init = covariances_init

    def check(self) -> None:
        get_structure(self.covariance_type)
        check_real(self.reg_covar, "reg_covar", 0.0)
        if self.precisions_init is not None and self.covariances_init is not None:
            raise ValueError("give precisions_init or covariances_init, not both")

    def family(self, estimator, n_features: int) -> GaussianFamily:
        self.check()
        return GaussianFamily(self.covariance_type, float(self.reg_covar))

    def validate(self, estimator, X, *, reset: bool):
        X = super().validate(estimator, X, reset=reset)
        get_structure(self.covariance_type).check_n_features(X.shape[1])
        return X

    def initial_values(self, estimator, n_states, n_features) -> dict:
        K, D = n_states, n_features
        structure = get_structure(self.covariance_type)
        values = {}
        if self.means_init is not None:
            values["means"] = _finite_array(self.means_init, "means_init", (K, D))
        if self.precisions_init is not None:
            p = _finite_array(self.precisions_init, "precisions_init", structure.shape(K, D))
            values["covariances"], values["precisions_cholesky"] = structure.from_precisions(
                p, K, D)
        if self.covariances_init is not None:
            values["covariances"] = _finite_array(self.covariances_init, "covariances_init",
                                                  structure.shape(K, D))
            values["precisions_cholesky"] = structure.precisions_cholesky(
                values["covariances"], float(self.reg_covar))
        return values

    def given(self, group: str) -> bool:
        if group == "covariances":
            return self.precisions_init is not None or self.covariances_init is not None
        return super().given(group)

    def configure_fixed(self, family: GaussianFamily, groups: frozenset) -> None:
        family.model.fixed = frozenset(groups & {"means", "covariances"})

    def fitted_mismatch(self, estimator, family, params) -> str | None:
        components = getattr(params, "components", params)  # GMM: the inner Gaussians
        K, D = components.means.shape
        shape = family_structure(family).shape(K, D)
        if np.shape(components.covariances) != shape:
            return (f"the fitted covariances have shape {np.shape(components.covariances)}, "
                    f"not {shape} as covariance_type={self.covariance_type!r} needs")
        return None

    def n_fixed_parameters(self, family: GaussianFamily, params: GaussianComponents,
                           groups: frozenset) -> int:
        K, D = params.means.shape
        count = K * D if "means" in groups else 0
        if "covariances" in groups:
            count += family.structure.n_parameters(K, D)
        return count

    def export(self, estimator, params: GaussianComponents) -> None:
        super().export(estimator, params)
        estimator.precisions_ = get_structure(self.covariance_type).precisions(
            params.precisions_cholesky)


class PoissonEmission(Emission):
    """Independent Poisson counts."""

    init_names: ClassVar[dict[str, str]] = {"rates": "rates_init"}

    def __init__(self, alpha: float = 0.0, rates_init=None):
        self.alpha = alpha
        self.rates_init = rates_init

    def family(self, estimator, n_features: int) -> PoissonFamily:
        return PoissonFamily(check_real(self.alpha, "alpha", 0.0))

    def initial_values(self, estimator, n_states, n_features) -> dict:
        if self.rates_init is None:
            return {}
        rates = _finite_array(self.rates_init, "rates_init", (n_states, n_features))
        if (rates < 0).any():
            raise ValueError("rates_init must be non-negative")
        return {"rates": rates}


class BernoulliEmission(Emission):
    """Independent binary features."""

    init_names: ClassVar[dict[str, str]] = {"probabilities": "probabilities_init"}

    def __init__(self, alpha: float = 0.0, probabilities_init=None):
        self.alpha = alpha
        self.probabilities_init = probabilities_init

    def family(self, estimator, n_features: int) -> BernoulliFamily:
        return BernoulliFamily(check_real(self.alpha, "alpha", 0.0))

    def initial_values(self, estimator, n_states, n_features) -> dict:
        if self.probabilities_init is None:
            return {}
        return {"probabilities": _probability_rows(self.probabilities_init,
                                                   "probabilities_init",
                                                   (n_states, n_features))}


class CategoricalEmission(Emission):
    """Independent categorical columns; levels learned as OneHotEncoder's ``categories_``."""

    init_names: ClassVar[dict[str, str]] = {"probabilities": "probabilities_init"}
    numeric = False

    def __init__(self, alpha: float = 0.0, categories="auto", handle_unknown: str = "error",
                 probabilities_init=None):
        self.alpha = alpha
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.probabilities_init = probabilities_init

    def check(self) -> None:
        check_real(self.alpha, "alpha", 0.0)
        check_option(self.handle_unknown, "handle_unknown", HANDLE_UNKNOWN)
        if isinstance(self.categories, str) and self.categories != "auto":
            raise ValueError(f"categories must be 'auto' or a list of level lists, got "
                             f"{self.categories!r}")

    def family(self, estimator, n_features: int) -> CategoricalFamily:
        self.check()
        return CategoricalFamily([len(c) for c in estimator.categories_],
                                 alpha=float(self.alpha))

    def validate(self, estimator, X, *, reset: bool):
        """Integer codes (n, D), -1 for a missing entry; learns ``categories_`` on reset."""
        self.check()
        table = Table(X, min_samples=1)
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        if reset:
            if isinstance(self.categories, str):
                categories = [learn_categories(table.column(j), table.label(j))
                              for j in range(table.n_columns)]
            else:
                categories = check_categories(self.categories, table.n_columns)
            handle_unknown = "error"
        else:
            categories = estimator.categories_
            handle_unknown = self.handle_unknown
        codes = np.empty((table.n_rows, table.n_columns), dtype=np.int32)
        for j in range(table.n_columns):
            codes[:, j] = encode_column(table.column(j), categories[j], table.label(j),
                                        handle_unknown)
        if reset:
            observed = (codes >= 0).any(axis=0)
            if not observed.all():
                raise ValueError(f"{table.label(int(np.argmin(observed)))} has no observed "
                                 "value (every entry is missing); drop the column")
            estimator.categories_ = categories
        return codes

    def initial_values(self, estimator, n_states, n_features) -> dict:
        if self.probabilities_init is None:
            return {}
        given = self.probabilities_init
        levels = [len(c) for c in estimator.categories_]
        if len(given) != len(levels):
            raise ValueError(f"probabilities_init must have one (n_components, n_levels) array "
                             f"per column ({len(levels)}), got {len(given)}")
        out = []
        for j, (p, L) in enumerate(zip(given, levels, strict=True)):
            p = _probability_rows(p, f"probabilities_init[{j}]", (n_states, L))
            if not np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                raise ValueError(f"probabilities_init[{j}] rows must sum to 1")
            out.append(p / p.sum(axis=1, keepdims=True))
        return {"probabilities": out}

    def export(self, estimator, params) -> None:
        estimator.probabilities_ = list(params.probabilities)

    def decode(self, estimator, X):
        return decode_codes(X, estimator.categories_)


def family_structure(family):
    """The covariance structure of a Gaussian-like family (or of a mixture family's inner
    one)."""
    inner = getattr(family, "family", family)
    return inner.structure


class GMMEmission(Emission):
    """A Gaussian mixture per state (:class:`~emkit.families.mixture_family.MixtureFamily`
    over :class:`~emkit.families.gaussian_family.GaussianFamily`)."""

    init_names: ClassVar[dict[str, str]] = {"weights": "weights_init",
                                            "means": "means_init",
                                            "covariances": "precisions_init"}

    def __init__(self, n_mix: int = 1, covariance_type: str = "full", reg_covar: float = 1e-6,
                 weight_concentration: float = 1.0, weights_init=None, means_init=None,
                 precisions_init=None):
        self.n_mix = n_mix
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.weight_concentration = weight_concentration
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    def family(self, estimator, n_features: int) -> MixtureFamily:
        check_int(self.n_mix, "n_mix", 1)
        get_structure(self.covariance_type)
        inner = GaussianFamily(self.covariance_type,
                               check_real(self.reg_covar, "reg_covar", 0.0))
        return MixtureFamily(inner, self.n_mix,
                             check_real(self.weight_concentration, "weight_concentration", 1.0))

    def validate(self, estimator, X, *, reset: bool):
        X = super().validate(estimator, X, reset=reset)
        get_structure(self.covariance_type).check_n_features(X.shape[1])
        return X

    def initial_values(self, estimator, n_states, n_features) -> dict:
        K, M, D = n_states, int(self.n_mix), n_features
        values: dict[str, Any] = {}
        if self.weights_init is not None:
            w = _probability_rows(self.weights_init, "weights_init", (K, M))
            if not np.allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                raise ValueError("weights_init rows must sum to 1")
            values["weights"] = w / w.sum(axis=1, keepdims=True)
        inner: dict[str, Any] = {}
        if self.means_init is not None:
            inner["means"] = _finite_array(self.means_init, "means_init",
                                           (K, M, D)).reshape(K * M, D)
        if self.precisions_init is not None:
            structure = get_structure(self.covariance_type)
            p = _finite_array(self.precisions_init, "precisions_init",
                              structure.shape(K * M, D))
            inner["covariances"], inner["precisions_cholesky"] = structure.from_precisions(
                p, K * M, D)
        if inner:
            values["components"] = inner
        return values

    fitted_mismatch = GaussianEmission.fitted_mismatch

    def export(self, estimator, params: MixtureFamilyParams) -> None:
        K, M = params.weights.shape
        estimator.weights_ = params.weights
        estimator.means_ = params.components.means.reshape(K, M, -1)
        estimator.covariances_ = params.components.covariances
        estimator.precisions_cholesky_ = params.components.precisions_cholesky

    def restore(self, estimator, family: MixtureFamily) -> MixtureFamilyParams:
        K, M, D = estimator.means_.shape
        components = family.family.params_from_fields(
            estimator.means_.reshape(K * M, D), estimator.covariances_,
            estimator.precisions_cholesky_)
        return MixtureFamilyParams(estimator.weights_, components)


class StudentTEmission(GaussianEmission):
    """Multivariate t emissions (any covariance model; degrees of freedom estimated per
    state, shared, or fixed): robust to outlying rows."""

    def __init__(self, covariance_type: str = "full", dof="estimate", dof_init=4.0,
                 dof_bounds=(0.1, 200.0), reg_covar: float = 1e-6, means_init=None,
                 precisions_init=None, covariances_init=None):
        super().__init__(covariance_type, reg_covar, means_init, precisions_init,
                         covariances_init)
        self.dof = dof
        self.dof_init = dof_init
        self.dof_bounds = dof_bounds

    def family(self, estimator, n_features: int) -> StudentTFamily:
        self.check()
        return StudentTFamily(self.covariance_type, self.dof, self.dof_init, self.dof_bounds,
                              float(self.reg_covar))

    def configure_fixed(self, family, groups: frozenset) -> None:
        if groups & {"means", "covariances"}:
            raise ValueError("fixed 'means' / 'covariances' are not available for Student-t "
                             "emissions; fix 'emission' (all of them) instead")

    def n_fixed_parameters(self, family, params, groups: frozenset) -> int:
        return 0

    def start(self, family, X, sample_weight, resp, rng, chunk_size):
        """The starting M-step (unit precision weights) with missing entries filled by the
        weighted column means (as :class:`emkit.StudentTMixture`)."""
        missing = np.isnan(X)
        if missing.any():
            observed = np.where(missing, 0.0, X)
            means = (sample_weight @ observed) / (sample_weight @ ~missing)
            X = np.where(missing, means, X)
        return super().start(family, X, sample_weight, resp, rng, chunk_size)

    def export(self, estimator, params) -> None:
        estimator.means_ = params.means
        estimator.covariances_ = params.covariances
        estimator.precisions_cholesky_ = params.precisions_cholesky
        estimator.degrees_of_freedom_ = params.dof

    def restore(self, estimator, family: StudentTFamily):
        return family.params_from_fields(
            means=estimator.means_, covariances=estimator.covariances_,
            precisions_cholesky=estimator.precisions_cholesky_,
            dof=estimator.degrees_of_freedom_)


#: Emission names HMM(emission=...) accepts besides the family registry's.
EMISSIONS: dict[str, type[Emission]] = {
    "gaussian": GaussianEmission,
    "categorical": CategoricalEmission,
    "poisson": PoissonEmission,
    "bernoulli": BernoulliEmission,
    "gmm": GMMEmission,
    "student_t": StudentTEmission,
}


def make_emission(emission, options: dict | None) -> Emission:
    """The adapter for ``HMM(emission=..., emission_options=...)``."""
    options = dict(options or {})
    if isinstance(emission, str) and emission in EMISSIONS:
        try:
            return EMISSIONS[emission](**options)
        except TypeError as exc:
            raise ValueError(f"emission_options for emission={emission!r}: {exc}") from None
    if isinstance(emission, (str, ComponentFamily)):
        return FamilyEmission(emission, options)
    raise ValueError(f"emission must be a family name ({sorted(EMISSIONS)} or a registered "
                     f"family) or a ComponentFamily object, got {emission!r}")
