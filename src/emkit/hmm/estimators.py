"""The HMM estimators: ``HMM(emission=...)`` and the named ``GaussianHMM``,
``CategoricalHMM``, ``PoissonHMM``, ``BernoulliHMM`` and ``GMMHMM``.

They differ only in their emission parameters; everything else (the chain's
structure and priors, fitting, decoding, scoring, sampling, criteria) is
:class:`~emkit.hmm._estimator.BaseHMM`'s.
"""

from __future__ import annotations

import numpy as np

from ._estimator import BaseHMM
from .emissions import (
    BernoulliEmission,
    CategoricalEmission,
    Emission,
    GaussianEmission,
    GMMEmission,
    PoissonEmission,
    StudentTEmission,
    make_emission,
)

_CHAIN_DOC = """
    startprob_prior : float or array-like of shape (n_components,), default=1.0
        Dirichlet concentrations of the start probabilities (>= 1; 1 is flat,
        i.e. maximum likelihood; larger values are pseudo-counts + 1).
    transmat_prior : float or array-like of shape (n_components, n_components), default=1.0
        Dirichlet concentrations of every row of the transition matrix (>= 1).
        The M-step is then MAP: ``A_ij = (n_ij + a_ij - 1) / sum_j (...)``.
    sticky : float, default=0.0
        Added to the diagonal of ``transmat_prior``: a "sticky" prior that
        favours staying in a state (the sticky HMM's self-transition bias).
    transmat_mask : {{None, "full", "left-right", "bakis"}} or array-like of bool, default=None
        Which transitions exist: "left-right" allows i -> j for j >= i,
        "bakis" i -> i and i -> i + 1, an array gives them (True: allowed).
        Forbidden transitions are structural zeros: they stay exactly 0 and
        are not counted as parameters.  Zeros of ``transmat_init`` and
        ``startprob_init`` are structural zeros too.
    startprob_init : array-like of shape (n_components,), optional
        Starting start probabilities (summing to 1).
    transmat_init : array-like of shape (n_components, n_components), optional
        Starting transition matrix (every row summing to 1).  Without them
        the chain starts from the counts along the starting partition (plus
        one pseudo-count per allowed entry).
    fixed : tuple of str, default=()
        Parameter groups held at their starting values: "startprob",
        "transmat", "emission" (all emission parameters){extra_fixed}.  Each
        needs its starting value.  The other groups get their conditional
        maximisers, so EM stays monotone.
    tol : float, default=1e-6
        EM stops when the log-likelihood per observation (the log posterior
        with priors) changes by less than this.  (hmmlearn's ``tol`` is on the
        total log-likelihood.)
    max_iter : int, default=100
        Maximum EM iterations per initialisation (hmmlearn's ``n_iter``).
    n_init : int, default=1
        Initialisations; the one with the highest final objective is kept.
    init_params : {{"kmeans", "k-means++", "random", "random_from_data", "segments"}}, \
default="kmeans"
        Starting state partition: k-means on the rows (as the emission
        family sees them: one-hot levels, square-root counts, ...), the
        nearest-seed partition of k-means++ seeds or random rows, random
        responsibilities, or "segments": every sequence cut into
        ``n_components`` equal consecutive parts (the usual start of a
        left-right model).  The emission parameters start with an M-step
        from it (discrete families from a smoothed partition).
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Start the next ``fit`` from the current parameters.
    verbose : int, default=0
        Print the objective every iteration.
    chunk_size : int or None, default=None
        Target rows per E-step chunk; chunks hold whole sequences (a longer
        sequence is a chunk of its own) and run on the E-step threads.
    accelerate : {{None, "squarem", "overrelax"}}, default=None
        EM acceleration (:mod:`emkit.em.accelerate`): SQUAREM around
        Baum-Welch typically needs several times fewer passes.
    semi_supervised : bool, default=False
        Read ``y`` in :meth:`fit` as known states (-1 = unknown): known rows
        can only be in their state, and the objective is the joint
        log-likelihood of X and the known states.
    algorithm : {{"viterbi", "map"}}, default="viterbi"
        Decoder of :meth:`predict`: the Viterbi path, or the most probable
        state of every row."""

_ATTRIBUTES_DOC = """
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
        ``transmat_[i, j] = p(z_t+1 = j | z_t = i)``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Log-likelihood per observation (log posterior with priors) of the
        parameters entering the last iteration.
    lower_bounds_ : ndarray of shape (``n_iter_``,)
        Its value at every iteration; never decreases.
    n_features_in_ : int"""

_NOTES_DOC = """
    Notes
    -----
    Every E-step is forward-backward over whole sequences (scaled, with a
    log-space fallback for sequences that would underflow; compiled with the
    optional numba), with the emission log-densities computed in bulk by the
    family; the sequences are spread over the E-step threads in chunks.
    Memory beyond the data is O(longest chunk x n_components).  ``score``
    returns the *total* log-likelihood of X, as hmmlearn does."""


def _doc(summary: str, emission: str, attributes: str, extra_fixed: str = "",
         examples: str = "") -> str:
    return (f"{summary}\n\n    Parameters\n    ----------\n    n_components : int, default=1\n"
            f"        Number of hidden states K.{emission}"
            f"{_CHAIN_DOC.format(extra_fixed=extra_fixed)}\n\n"
            f"    Attributes\n    ----------{_ATTRIBUTES_DOC}{attributes}\n{_NOTES_DOC}\n"
            f"{examples}")


class _Common:
    """Stores the chain and fitting parameters every HMM estimator takes."""

    def _set_common(self, values: dict) -> None:
        for name in ("startprob_prior", "transmat_prior", "sticky", "transmat_mask",
                     "startprob_init", "transmat_init", "fixed", "tol", "max_iter", "n_init",
                     "init_params", "random_state", "warm_start", "verbose", "chunk_size",
                     "accelerate", "semi_supervised", "algorithm"):
            setattr(self, name, values[name])


class HMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, emission="gaussian", emission_options=None,
                 startprob_prior=1.0, transmat_prior=1.0, sticky: float = 0.0,
                 transmat_mask=None, startprob_init=None, transmat_init=None, fixed=(),
                 tol: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", random_state=None, warm_start: bool = False,
                 verbose: int = 0, chunk_size: int | None = None, accelerate: str | None = None,
                 semi_supervised: bool = False, algorithm: str = "viterbi"):
        self.n_components = n_components
        self.emission = emission
        self.emission_options = emission_options
        self._set_common(locals())

    def _emission(self) -> Emission:
        return make_emission(self.emission, self.emission_options)


HMM.__doc__ = _doc(
    "Hidden Markov model with emissions from any component family, fitted by EM "
    "(Baum-Welch).",
    """
    emission : str or ComponentFamily, default="gaussian"
        The emission family: "gaussian", "categorical", "poisson",
        "bernoulli", "gmm" (a Gaussian mixture per state), any name of
        :data:`emkit.families.registry.FAMILIES`, or a configured family object.
    emission_options : dict, optional
        Its settings: the named estimators' emission parameters
        (``{"covariance_type": "diag", "means_init": ...}`` for "gaussian", as
        :class:`GaussianHMM`; ``{"n_mix": 3}`` for "gmm", ...), or for other
        registry families the family's constructor keywords plus ``"init"``:
        a dict of the family's parameter fields to start from.""",
    """
    <field>_ : ndarray
        The emission parameters, one attribute per field of the family's
        parameters (``means_``, ``covariances_``, ``rates_``, ...).""",
    examples="""
    Examples
    --------
    >>> import numpy as np
    >>> from emkit.hmm import HMM
    >>> rng = np.random.default_rng(0)
    >>> states = np.repeat([0, 1, 0, 1], 250)
    >>> X = rng.poisson(np.where(states == 0, 2.0, 9.0))[:, None]
    >>> hmm = HMM(2, emission="poisson", random_state=0).fit(X)
    >>> np.round(np.sort(hmm.rates_[:, 0]), 0)
    array([2., 9.])
""")


class GaussianHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 reg_covar: float = 1e-6, means_init=None, precisions_init=None,
                 covariances_init=None, startprob_prior=1.0, transmat_prior=1.0,
                 sticky: float = 0.0, transmat_mask=None, startprob_init=None,
                 transmat_init=None, fixed=(), tol: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans", random_state=None,
                 warm_start: bool = False, verbose: int = 0, chunk_size: int | None = None,
                 accelerate: str | None = None, semi_supervised: bool = False,
                 algorithm: str = "viterbi"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.covariances_init = covariances_init
        self._set_common(locals())

    def _emission(self) -> Emission:
        return GaussianEmission(self.covariance_type, self.reg_covar, self.means_init,
                                self.precisions_init, self.covariances_init)


GaussianHMM.__doc__ = _doc(
    "Hidden Markov model with Gaussian emissions (any of mclust's 14 covariance models).",
    """
    covariance_type : str, default="full"
        Structure of the state covariances: mclust's "EII" ... "VVV" or
        scikit-learn's "spherical", "diag", "tied", "full"
        (:mod:`emkit.families.structures`).  (hmmlearn's default is "diag".)
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance in the M-step (0: maximum
        likelihood, as hmmlearn with ``covars_prior=0``).
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init, covariances_init : array-like, optional
        Starting precisions or covariances (one of them), shaped as the
        fitted ``precisions_`` / ``covariances_``.""",
    """
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes as :class:`emkit.GaussianMixture`'s for ``covariance_type``
        ("diag": (n_components, n_features), "full": (n_components,
        n_features, n_features), ...).""",
    extra_fixed=',\n        "means", "covariances"')


class CategoricalHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, alpha: float = 0.0, categories="auto",
                 handle_unknown: str = "error", probabilities_init=None, startprob_prior=1.0,
                 transmat_prior=1.0, sticky: float = 0.0, transmat_mask=None,
                 startprob_init=None, transmat_init=None, fixed=(), tol: float = 1e-6,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 random_state=None, warm_start: bool = False, verbose: int = 0,
                 chunk_size: int | None = None, accelerate: str | None = None,
                 semi_supervised: bool = False, algorithm: str = "viterbi"):
        self.n_components = n_components
        self.alpha = alpha
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.probabilities_init = probabilities_init
        self._set_common(locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    def _emission(self) -> Emission:
        return CategoricalEmission(self.alpha, self.categories, self.handle_unknown,
                                   self.probabilities_init)

    @property
    def emissionprob_(self) -> np.ndarray:
        """hmmlearn's name for the level probabilities of a single column (K, n_levels)."""
        if len(self.probabilities_) != 1:
            raise AttributeError("emissionprob_ is defined for one column; use probabilities_")
        return self.probabilities_[0]


CategoricalHMM.__doc__ = _doc(
    "Hidden Markov model with categorical emissions (symbols; several independent columns "
    "allowed).",
    """
    alpha : float, default=0.0
        Pseudo-count of a symmetric Dirichlet(1 + alpha) prior on every
        state's level probabilities (0: maximum likelihood).
    categories : "auto" or list of array-like, default="auto"
        The levels of every column, as :class:`emkit.CategoricalMixture`
        (strings, numbers, pandas categoricals).
    handle_unknown : {"error", "missing"}, default="error"
        A level not in ``categories_`` when scoring or decoding.
    probabilities_init : list of array-like, optional
        One (n_components, n_levels_j) array per column, rows summing to 1.""",
    """
    categories_ : list of ndarray
    probabilities_ : list of ndarray
        One (n_components, n_levels_j) array per column;
        ``emissionprob_`` is the single column's (hmmlearn's name).""")


class PoissonHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, alpha: float = 0.0, rates_init=None,
                 startprob_prior=1.0, transmat_prior=1.0, sticky: float = 0.0,
                 transmat_mask=None, startprob_init=None, transmat_init=None, fixed=(),
                 tol: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", random_state=None, warm_start: bool = False,
                 verbose: int = 0, chunk_size: int | None = None, accelerate: str | None = None,
                 semi_supervised: bool = False, algorithm: str = "viterbi"):
        self.n_components = n_components
        self.alpha = alpha
        self.rates_init = rates_init
        self._set_common(locals())

    def _emission(self) -> Emission:
        return PoissonEmission(self.alpha, self.rates_init)

    @property
    def lambdas_(self) -> np.ndarray:
        """hmmlearn's name for ``rates_``."""
        return self.rates_


PoissonHMM.__doc__ = _doc(
    "Hidden Markov model with independent Poisson count emissions.",
    """
    alpha : float, default=0.0
        Pseudo-rows of a Gamma prior on every rate, centred on the column
        means (:mod:`emkit.families.poisson`); 0 is maximum likelihood.
    rates_init : array-like of shape (n_components, n_features), optional""",
    """
    rates_ : ndarray of shape (n_components, n_features)
        Expected counts per state (hmmlearn's ``lambdas_``).""")


class BernoulliHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, alpha: float = 0.0, probabilities_init=None,
                 startprob_prior=1.0, transmat_prior=1.0, sticky: float = 0.0,
                 transmat_mask=None, startprob_init=None, transmat_init=None, fixed=(),
                 tol: float = 1e-6, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", random_state=None, warm_start: bool = False,
                 verbose: int = 0, chunk_size: int | None = None, accelerate: str | None = None,
                 semi_supervised: bool = False, algorithm: str = "viterbi"):
        self.n_components = n_components
        self.alpha = alpha
        self.probabilities_init = probabilities_init
        self._set_common(locals())

    def _emission(self) -> Emission:
        return BernoulliEmission(self.alpha, self.probabilities_init)


BernoulliHMM.__doc__ = _doc(
    "Hidden Markov model with independent binary emissions.",
    """
    alpha : float, default=0.0
        Pseudo-count of a Beta(1 + alpha, 1 + alpha) prior on every
        probability (0: maximum likelihood).
    probabilities_init : array-like of shape (n_components, n_features), optional""",
    """
    probabilities_ : ndarray of shape (n_components, n_features)""")


class GMMHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, n_mix: int = 1, *, covariance_type: str = "full",
                 reg_covar: float = 1e-6, weight_concentration: float = 1.0, weights_init=None,
                 means_init=None, precisions_init=None, startprob_prior=1.0,
                 transmat_prior=1.0, sticky: float = 0.0, transmat_mask=None,
                 startprob_init=None, transmat_init=None, fixed=(), tol: float = 1e-6,
                 max_iter: int = 100, n_init: int = 1, init_params: str = "kmeans",
                 random_state=None, warm_start: bool = False, verbose: int = 0,
                 chunk_size: int | None = None, accelerate: str | None = None,
                 semi_supervised: bool = False, algorithm: str = "viterbi"):
        self.n_components = n_components
        self.n_mix = n_mix
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.weight_concentration = weight_concentration
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self._set_common(locals())

    def _emission(self) -> Emission:
        return GMMEmission(self.n_mix, self.covariance_type, self.reg_covar,
                           self.weight_concentration, self.weights_init, self.means_init,
                           self.precisions_init)


GMMHMM.__doc__ = _doc(
    "Hidden Markov model whose states emit Gaussian mixtures (GMM-HMM).",
    """
    n_mix : int, default=1
        Gaussians per state (M).
    covariance_type : str, default="full"
        Structure of the K x M Gaussians' covariances, as
        :class:`GaussianHMM` ("tied" ties all K x M of them).
    reg_covar : float, default=1e-6
    weight_concentration : float, default=1.0
        Symmetric Dirichlet prior on every state's mixture weights (>= 1).
    weights_init : array-like of shape (n_components, n_mix), optional
    means_init : array-like of shape (n_components, n_mix, n_features), optional
    precisions_init : array-like, optional
        Shaped as the precisions of ``n_components * n_mix`` Gaussians
        (Gaussian ``k * n_mix + m`` is state k's m-th).""",
    """
    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covariances_, precisions_cholesky_ : ndarray
        Of the ``n_components * n_mix`` Gaussians (Gaussian ``k * n_mix + m``
        is state k's m-th), shaped as :class:`GaussianHMM`'s.

    The Gaussian mixture per state is the generic
    :class:`~emkit.families.mixture_family.MixtureFamily` over the Gaussian
    family, so the states' mixtures share the covariance machinery (all
    covariance models, missing values).""")


class StudentTHMM(_Common, BaseHMM):
    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 dof="estimate", dof_init=4.0, dof_bounds=(0.1, 200.0),
                 reg_covar: float = 1e-6, means_init=None, precisions_init=None,
                 covariances_init=None, startprob_prior=1.0, transmat_prior=1.0,
                 sticky: float = 0.0, transmat_mask=None, startprob_init=None,
                 transmat_init=None, fixed=(), tol: float = 1e-6, max_iter: int = 100,
                 n_init: int = 1, init_params: str = "kmeans", random_state=None,
                 warm_start: bool = False, verbose: int = 0, chunk_size: int | None = None,
                 accelerate: str | None = None, semi_supervised: bool = False,
                 algorithm: str = "viterbi"):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.dof = dof
        self.dof_init = dof_init
        self.dof_bounds = dof_bounds
        self.reg_covar = reg_covar
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.covariances_init = covariances_init
        self._set_common(locals())

    def _emission(self) -> Emission:
        return StudentTEmission(self.covariance_type, self.dof, self.dof_init,
                                self.dof_bounds, self.reg_covar, self.means_init,
                                self.precisions_init, self.covariances_init)


StudentTHMM.__doc__ = _doc(
    "Hidden Markov model with multivariate t emissions (robust to outlying rows).",
    """
    covariance_type : str, default="full"
        Structure of the state scale matrices, as :class:`GaussianHMM`.
    dof : "estimate", "shared", float or array-like of shape (n_components,), \
default="estimate"
        Degrees of freedom estimated per state, shared by all states, or fixed
        (as :class:`emkit.StudentTMixture`).
    dof_init : float or array-like, default=4.0
    dof_bounds : (float, float), default=(0.1, 200.0)
    reg_covar : float, default=1e-6
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init, covariances_init : array-like, optional
        Starting scale precisions or scale matrices (one of them).""",
    """
    means_ : ndarray of shape (n_components, n_features)
    covariances_, precisions_cholesky_ : ndarray
        Scale matrices (shapes as :class:`GaussianHMM`'s covariances).
    degrees_of_freedom_ : ndarray of shape (n_components,)""")
