"""Small fits of every saveable estimator, and the calls a loaded copy must repeat exactly.

Used by ``tests/test_persist_estimators.py`` (save, load, compare) and by
``tests/references/model_files_v1_more/make_files.py`` (files for backward
compatibility).  Every case is ``(estimator, fit arguments, calls)`` where a
call is ``(method, arguments)``; data are small so that the whole set fits in
a few seconds.
"""

from __future__ import annotations

import numpy as np

from emkit import (
    BayesianGaussianMixture,
    BernoulliMixture,
    CategoricalMixture,
    MiniBatchKMeans,
    MixedMixture,
    MixtureOfExperts,
    PoissonMixture,
    ProbitRegression,
    RegressionMixture,
    StudentTMixture,
)
from emkit.hmm import (
    GMMHMM,
    HMM,
    BernoulliHMM,
    CategoricalHMM,
    GaussianHMM,
    PoissonHMM,
    StudentTHMM,
)

MIXTURE_CALLS = ("predict", "predict_proba", "score_samples")
HMM_CALLS = ("score", "predict", "predict_proba", "score_samples")


def _two_groups(rng, n=120, d=2, gap=4.0):
    z = rng.integers(2, size=n)
    return rng.normal(0.0, 1.0, (n, d)) + gap * z[:, None], z


def datasets() -> dict:
    """The data of every case (deterministic)."""
    rng = np.random.default_rng(20261201)
    X, _ = _two_groups(rng)
    X_t = X.copy()
    X_t[:4] += rng.normal(0, 15.0, (4, 2))  # outliers for the t
    binary = (rng.random((150, 5)) < np.where(rng.integers(2, size=150)[:, None] == 1,
                                               0.85, 0.15)).astype(float)
    counts = rng.poisson(np.where(rng.integers(2, size=150)[:, None] == 1, 6.0, 1.0),
                         (150, 3)).astype(float)
    w = rng.integers(2, size=150)
    answers = np.where(rng.random((150, 3)) < 0.85, w[:, None], 1 - w[:, None])
    labels = np.array([["no", "yes"], ["low", "high"], ["a", "b"]], dtype=object)
    table = np.empty((150, 3), dtype=object)
    for j in range(3):
        table[:, j] = labels[j][answers[:, j]]
    table[:, 2] = answers[:, 2] * 10 + 3  # a column of integer levels (13 or 3)
    mixed = np.empty((150, 4), dtype=object)
    mixed[:, 0] = rng.normal(np.where(w == 1, 170.0, 160.0), 5.0)
    mixed[:, 1] = np.where(answers[:, 0] == 1, "yes", "no")
    mixed[:, 2] = rng.poisson(np.where(w == 1, 5.0, 1.0)).astype(float)
    mixed[:, 3] = (rng.random(150) < np.where(w == 1, 0.8, 0.2)).astype(float)
    regimes = rng.integers(2, size=160)
    Xr = rng.normal(0, 1, (160, 2))
    yr = np.where(regimes == 0, 1.0 + 2.0 * Xr[:, 0], -1.0 - 1.5 * Xr[:, 1])
    yr = yr + rng.normal(0, 0.3, 160)
    Y2 = np.column_stack([yr, 0.5 * yr + rng.normal(0, 0.3, 160)])
    yb = (rng.random(160) < np.where(regimes == 0, 0.9, 0.1) * (Xr[:, 0] > -2)).astype(float)
    yp = rng.poisson(np.exp(np.where(regimes == 0, 0.5 + 0.5 * Xr[:, 0], 1.5)))
    gate_x = np.column_stack([Xr, np.where(Xr[:, 0] > 0, 1.0, -1.0) + rng.normal(0, 0.2, 160)])
    ye = np.where(gate_x[:, 2] > 0, 2.0 * gate_x[:, 1], -gate_x[:, 1]) + rng.normal(0, 0.2, 160)
    classes = np.where(Xr @ [1.0, -0.5] + rng.normal(0, 0.7, 160) > 0, "spam", "ham")
    states = np.repeat([0, 1, 0, 1, 0, 1], 25)
    seq = rng.normal(np.where(states == 0, 0.0, 3.0)[:, None], 1.0, (150, 2))
    seq_counts = rng.poisson(np.where(states == 0, 1.0, 6.0)[:, None], (150, 2)).astype(float)
    seq_binary = (rng.random((150, 3)) < np.where(states == 0, 0.2, 0.8)[:, None]).astype(
        float)
    seq_levels = np.where(rng.random((150, 2)) < np.where(states == 0, 0.8, 0.2)[:, None],
                          "up", "down").astype(object)
    return dict(X=X, X_t=X_t, binary=binary, counts=counts, table=table, mixed=mixed,
                Xr=Xr, yr=yr, Y2=Y2, yb=yb, yp=yp.astype(float), gate_x=gate_x, ye=ye,
                classes=classes, seq=seq, seq_counts=seq_counts, seq_binary=seq_binary,
                seq_levels=seq_levels, lengths=np.array([50, 60, 40]))


def cases() -> dict:
    """name -> (unfitted estimator, fit arguments, [(method, arguments), ...])."""
    d = datasets()
    lengths = d["lengths"]

    def mixture(est, X):
        return est, (X,), [(m, (X,)) for m in MIXTURE_CALLS]

    def conditional(est, X, y):
        calls = [("predict", (X,)), ("score", (X, y)), ("score_samples", (X, y)),
                 ("predict_proba", (X, y)), ("predict_proba", (X,))]
        return est, (X, y), calls

    def hmm(est, X):
        return est, (X, lengths), [(m, (X, lengths)) for m in HMM_CALLS]

    families = [("height", "gaussian", [0]), ("smoker", "categorical", [1]),
                ("visits", "poisson", [2], {"alpha": 0.5}), ("flag", "bernoulli", [3])]
    return {
        "bernoulli": mixture(BernoulliMixture(2, alpha=0.5, random_state=0), d["binary"]),
        "categorical": mixture(CategoricalMixture(2, random_state=0), d["table"]),
        "poisson": mixture(PoissonMixture(2, random_state=0), d["counts"]),
        "mixed": mixture(MixedMixture(2, families=families, random_state=0), d["mixed"]),
        "student_t": mixture(StudentTMixture(2, random_state=0), d["X_t"]),
        "student_t_diag_shared": mixture(
            StudentTMixture(2, covariance_type="diag", dof="shared", random_state=0), d["X_t"]),
        "bayesian_dp": mixture(BayesianGaussianMixture(3, random_state=0), d["X"]),
        "bayesian_tied": mixture(BayesianGaussianMixture(
            3, covariance_type="tied", weight_concentration_prior_type="dirichlet_distribution",
            random_state=0), d["X"]),
        "bayesian_spherical": mixture(BayesianGaussianMixture(
            2, covariance_type="spherical", random_state=0), d["X"]),
        "regression": conditional(RegressionMixture(2, random_state=0), d["Xr"], d["yr"]),
        "regression_multi_common": conditional(
            RegressionMixture(2, noise="common", random_state=0), d["Xr"], d["Y2"]),
        "regression_binomial": conditional(
            RegressionMixture(2, family="binomial", random_state=0), d["Xr"], d["yb"]),
        "regression_poisson": conditional(
            RegressionMixture(2, family="poisson", fit_intercept=False, random_state=0),
            d["Xr"], d["yp"]),
        "experts": conditional(
            MixtureOfExperts(2, gate_features=[2], expert_features=[0, 1], random_state=0),
            d["gate_x"], d["ye"]),
        "probit": (ProbitRegression(), (d["Xr"], d["classes"]),
                   [(m, (d["Xr"],)) for m in ("predict", "predict_proba",
                                                "decision_function")]
                   + [("score", (d["Xr"], d["classes"]))]),
        "minibatch_kmeans": (MiniBatchKMeans(2, batch_size=32, random_state=0), (d["X"],),
                             [(m, (d["X"],)) for m in ("predict", "transform", "score")]),
        "gaussian_hmm": hmm(GaussianHMM(2, random_state=0), d["seq"]),
        "gaussian_hmm_left_right": hmm(GaussianHMM(
            2, covariance_type="diag", transmat_mask="left-right", init_params="segments",
            random_state=0), d["seq"]),
        "categorical_hmm": hmm(CategoricalHMM(2, alpha=0.1, random_state=0), d["seq_levels"]),
        "poisson_hmm": hmm(PoissonHMM(2, random_state=0), d["seq_counts"]),
        "bernoulli_hmm": hmm(BernoulliHMM(2, alpha=0.1, random_state=0), d["seq_binary"]),
        "gmm_hmm": hmm(GMMHMM(2, 2, covariance_type="diag", max_iter=20, random_state=0),
                       d["seq"]),
        "student_t_hmm": hmm(StudentTHMM(2, max_iter=20, random_state=0), d["seq"]),
        "hmm_poisson": hmm(HMM(2, emission="poisson", random_state=0), d["seq_counts"]),
        "hmm_gmm": hmm(HMM(2, emission="gmm", emission_options={"n_mix": 2,
                                                                "covariance_type": "spherical"},
                           max_iter=20, random_state=0), d["seq"]),
        "hmm_categorical": hmm(HMM(2, emission="categorical",
                                   emission_options={"alpha": 0.1}, random_state=0),
                               d["seq_levels"]),
    }


def fitted_cases() -> dict:
    """name -> (fitted estimator, calls)."""
    out = {}
    for name, (estimator, fit_args, calls) in cases().items():
        out[name] = (estimator.fit(*fit_args), calls)
    return out
