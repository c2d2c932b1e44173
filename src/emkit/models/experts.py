"""MixtureOfExperts: regressions whose regime probabilities depend on the inputs (softmax gate)."""

from __future__ import annotations

import numpy as np

from .._validation import check_real
from ..em.generalized import check_m_step_iterations
from ..families.experts import GatedMixtureModel, GatedParams, gate_probabilities
from ..families.regression import Design
from ._conditional import ConditionalMixture
from ._mixture import random_generator


class MixtureOfExperts(ConditionalMixture):
    """Mixture of experts fitted by EM: ``p(y | x) = sum_k pi_k(x) p(y | x, beta_k)``.

    The gate ``pi(x) = softmax(V g(x))`` is a multinomial logistic regression
    on the gate's inputs (the last regime is the baseline, its gate
    coefficients 0); the experts are linear-Gaussian, logistic or Poisson
    regressions on theirs (Jordan & Jacobs 1994; flexmix's ``FLXPmultinom``
    concomitant model).  The gate's M-step is exact: Newton's method with
    step halving on its expected log-likelihood, so EM is monotone.

    Parameters
    ----------
    n_components : int, default=2
    family : {"gaussian", "binomial", "poisson"}, default="gaussian"
        The experts' regression (see :class:`~emkit.RegressionMixture`).
    gate_features, expert_features : list of int or str, optional
        Columns of X the gate and the experts use (indices, or names when X is
        a DataFrame); None (default) uses every column.
    fit_intercept : bool, default=True
        Intercepts in the experts and the gate.
    noise : {"component", "common"}, default="component"
    ridge : float, default=0.0
        Ridge penalty on the experts' coefficients (MAP).
    gate_ridge : float, default=0.0
        Ridge penalty on the gate's coefficients (MAP); a small value keeps the
        gate finite when the regimes are separable in the gate's inputs.
    variance_floor : float, default=0.0
    tol : float, default=1e-8
    max_iter : int, default=1000
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    labels_init : array-like, optional
        A starting partition (EM starts with an exact M-step from it).
    random_state, warm_start, verbose, chunk_size, accelerate
        As :class:`~emkit.GaussianMixture`.
    verbose_interval, callback, checkpoint, checkpoint_interval
        Progress lines, per-iteration callbacks (which may stop the fit) and
        resumable checkpoints, as :class:`~emkit.GaussianMixture`.
    assignment, annealing, stochastic_iter
        EM variants (classification EM "hard", stochastic EM "stochastic",
        deterministic annealing of the regime posterior), as
        :class:`~emkit.GaussianMixture`.
    m_step_iterations : int or None, default=None
        Generalized EM for the gate (:mod:`emkit.em.generalized`): None runs
        its Newton iterations to convergence in every M-step (exact
        EM); an integer k >= 1 takes at most k Newton steps from the current
        gate, each halved until it does not decrease EM's ``Q``, so EM stays
        monotone and has the same fixed points, with fewer passes over the
        data per M-step.  Binomial and Poisson experts (Newton's method too)
        take the same number of steps; linear-Gaussian experts' M-step is in
        closed form.

    Attributes
    ----------
    gate_coef_ : ndarray of shape (n_components, n_gate_features)
    gate_intercept_ : ndarray of shape (n_components,)
        The gate; the last row is 0 (baseline regime).
    coef_, intercept_, noise_variance_
        The experts, as :class:`~emkit.RegressionMixture`'s.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from emkit import MixtureOfExperts
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-3, 3, 600)
    >>> left = rng.random(600) < 1 / (1 + np.exp(3 * x))
    >>> y = np.where(left, 2 - x, 1 + 2 * x) + rng.normal(0, 0.3, 600)
    >>> moe = MixtureOfExperts(2, random_state=0, n_init=3).fit(x[:, None], y)
    >>> np.sort(moe.coef_.ravel()).round(1)
    array([-1.,  2.])
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        family: str = "gaussian",
        gate_features=None,
        expert_features=None,
        fit_intercept: bool = True,
        noise: str = "component",
        ridge: float = 0.0,
        gate_ridge: float = 0.0,
        variance_floor: float = 0.0,
        tol: float = 1e-8,
        max_iter: int = 1000,
        n_init: int = 1,
        init_params: str = "kmeans",
        labels_init=None,
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        chunk_size: int | None = None,
        accelerate: str | None = None,
        verbose_interval: int = 1,
        callback=None,
        checkpoint=None,
        checkpoint_interval: int = 10,
        assignment: str = "soft",
        annealing=None,
        stochastic_iter: int = 100,
        m_step_iterations: int | None = None,
    ):
        self.n_components = n_components
        self.family = family
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.fit_intercept = fit_intercept
        self.noise = noise
        self.ridge = ridge
        self.gate_ridge = gate_ridge
        self.variance_floor = variance_floor
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.labels_init = labels_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.chunk_size = chunk_size
        self.accelerate = accelerate
        self.verbose_interval = verbose_interval
        self.callback = callback
        self.checkpoint = checkpoint
        self.checkpoint_interval = checkpoint_interval
        self.assignment = assignment
        self.annealing = annealing
        self.stochastic_iter = stochastic_iter
        self.m_step_iterations = m_step_iterations

    # ------------------------------------------------------------------ checks
    def _online_capable(self) -> bool:
        return False  # the gate's M-step needs the data

    def _check_family_parameters(self) -> None:
        super()._check_family_parameters()
        check_real(self.gate_ridge, "gate_ridge", 0.0)
        check_m_step_iterations(self.m_step_iterations)

    def _columns(self, features, name: str) -> tuple[int, ...]:
        """Column indices of X named by ``features`` (None: all)."""
        D = self.n_features_in_
        if features is None:
            return tuple(range(D))
        names = getattr(self, "feature_names_in_", None)
        out = []
        for item in np.atleast_1d(np.asarray(features, dtype=object)):
            if isinstance(item, str):
                if names is None or item not in list(names):
                    raise ValueError(f"{name} names column {item!r}, which X does not have"
                                     + ("" if names is None else f" (columns: {list(names)})"))
                out.append(int(list(names).index(item)))
            elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) \
                    and 0 <= int(item) < D:
                out.append(int(item))
            else:
                raise ValueError(f"{name} must hold column indices 0..{D - 1} or column "
                                 f"names, got {item!r}")
        if not out or len(set(out)) != len(out):
            raise ValueError(f"{name} must name at least one column, each once; got {features!r}")
        return tuple(out)

    # ------------------------------------------------------------------ model
    def _expert_design(self) -> Design:
        D, m = self.n_features_in_, self._n_targets
        return Design(self._columns(self.expert_features, "expert_features"),
                      tuple(range(D, D + m)), bool(self.fit_intercept))

    def _gate_design(self) -> Design:
        return Design(self._columns(self.gate_features, "gate_features"), (),
                      bool(self.fit_intercept))

    def _engine_model(self) -> GatedMixtureModel:
        return GatedMixtureModel(self._family(), self._gate_design(), self.gate_ridge,
                                 check_m_step_iterations(getattr(self, "m_step_iterations",
                                                                 None)))

    def _row_width(self, model, Z) -> int:
        return self.n_components * (self.n_components + self._n_targets + 4) + Z.shape[1]

    def _initial_params(self, model, source, rng, user: dict) -> GatedParams:
        resp = self._initial_responsibilities(model, source, rng)
        return model.params_from_responsibilities(source.X, source.sample_weight, resp,
                                                  source.chunk_size)

    def _fitted_matches(self) -> str | None:
        fitted = getattr(self, "gate_coef_", None)
        if fitted is not None and fitted.shape[0] != self.n_components:
            return (f"the fitted model has {fitted.shape[0]} components but "
                    f"n_components={self.n_components}")
        return self._fitted_family_reason()

    # ------------------------------------------------------------------ state
    def _set_params(self, params: GatedParams, model) -> None:
        gate = params.gate
        start = int(bool(self.fit_intercept))
        self.gate_intercept_ = gate[:, 0] if start else np.zeros(gate.shape[0])
        self.gate_coef_ = gate[:, start:]
        self._store_regressions(params.components)

    def _params(self) -> GatedParams:
        gate = self.gate_coef_
        if self.fit_intercept:
            gate = np.hstack([self.gate_intercept_[:, None], gate])
        return GatedParams(gate, self._regressions())

    def _n_parameters(self) -> int:
        return self._engine_model().n_parameters(self._params())

    # ------------------------------------------------------------------ prediction
    def _padded(self, X) -> np.ndarray:
        X = self._validate_inputs(X)
        return np.hstack([X, np.zeros((X.shape[0], self._n_targets))])

    def predict_proba_gate(self, X) -> np.ndarray:
        """The gate pi_k(x): regime probabilities before seeing y, shape (n, K)."""
        Z = self._padded(X)
        return gate_probabilities(self._params().gate, self._gate_design().matrix(Z))

    def _prior_regimes(self, X) -> np.ndarray:
        return self.predict_proba_gate(X)

    def predict_components(self, X) -> np.ndarray:
        """Every expert's prediction E[y | x, k]: shape (n, K), or (n, K, n_targets)."""
        A = self._expert_design().matrix(self._padded(X))
        out = self._family().mean_response(self._regressions(), A)
        return out[:, :, 0] if self._y_was_1d else out

    def predict(self, X) -> np.ndarray:
        """The mixture mean ``sum_k pi_k(x) E[y | x, k]``."""
        gate = self.predict_proba_gate(X)
        components = self.predict_components(X)
        if self._y_was_1d:
            return (gate * components).sum(axis=1)
        return np.einsum("nk,nkm->nm", gate, components)

    def sample_y(self, X, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw one response per row of X (regime from the gate, then the expert)."""
        gate = self.predict_proba_gate(X)
        Z = self._padded(X)
        rng = random_generator(self.random_state if random_state is None else random_state)
        cumulative = np.cumsum(gate, axis=1)
        regimes = np.minimum((cumulative < rng.random((gate.shape[0], 1))).sum(axis=1),
                             gate.shape[1] - 1)
        draws = self._family().sample_response(self._params().components,
                                               self._expert_design().matrix(Z), regimes, rng)
        return (draws[:, 0] if self._y_was_1d else draws), regimes
