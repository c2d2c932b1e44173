"""Makes tests/references/peers_discrete.json: the Python peers on the reference data.

Latent class analysis of HairEyeColor (the 32 cells with their counts as weights) and a
Poisson mixture of flexmix's dmft counts (Begin, End), each from the starting partition
of the R fixtures (lca_haireyecolor.json, flexmix_poisson.json):

* StepMix (categorical measurement model; it has no Poisson model): its EM starts from
  responsibilities, so it gets the one-hot partition itself (its class weights start
  uniform, as StepMix always does); and a mixed model of R's mtcars (mtcars.json): a
  full-covariance Gaussian group (mpg, hp, wt) and a categorical group (cyl, am, gear),
  K = 2, from a seeded partition that puts every level in both classes;
* pomegranate (GeneralMixtureModel of Categorical / Poisson distributions): its EM starts
  from parameters, so it gets the M-step of that partition (weighted level frequencies /
  means and the partition's weights), computed here with NumPy.  It runs a fixed 5000
  iterations (``tol=-inf``): its stopping rule compares the *unweighted* log-likelihood,
  which its weighted EM lowers, so with sample weights it would stop after one iteration,
  and its float32 accumulators make tiny improvements noise.

Each runs to a tight tolerance.  Their fitted parameters are scored here in float64 by a
direct NumPy log-likelihood, after renormalising the weights and every level
distribution to sum to 1 (pomegranate computes in float32, where they sum to 1 only to
~1e-7, which would inflate a log-likelihood by more than the differences compared); the
JSON holds both that and what the library itself reports.  tests/test_categorical.py and
tests/test_poisson.py check that emkit's converged log-likelihood is at least theirs.

Run from the repository root (needs ``pip install stepmix pomegranate``, which pulls in
torch; not test dependencies):

    python tests/references/peers_discrete.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from scipy.special import gammaln, logsumexp

HERE = Path(__file__).parent


# ------------------------------------------------------------------ direct log-likelihoods
def lca_loglik(X, w, weights, probabilities) -> float:
    weights = np.asarray(weights) / np.sum(weights)
    probabilities = [p / p.sum(axis=1, keepdims=True) for p in probabilities]
    log_joint = np.log(weights)[None, :] + sum(
        np.log(p.T[X[:, j]]) for j, p in enumerate(probabilities))
    return float(w @ logsumexp(log_joint, axis=1))


def poisson_loglik(X, weights, rates) -> float:
    weights = np.asarray(weights) / np.sum(weights)
    log_joint = (np.log(weights)[None, :] + X @ np.log(rates).T - rates.sum(axis=1)
                 - gammaln(X + 1).sum(axis=1)[:, None])
    return float(logsumexp(log_joint, axis=1).sum())


def partition_start_lca(X, w, labels, K, levels):
    resp = np.eye(K)[labels] * w[:, None]
    weights = resp.sum(axis=0) / resp.sum()
    probabilities = []
    for j, L in enumerate(levels):
        counts = resp.T @ np.eye(L)[X[:, j]]
        probabilities.append(counts / counts.sum(axis=1, keepdims=True))
    return weights, probabilities


# ------------------------------------------------------------------ StepMix
def stepmix_lca(X, w, labels, K):
    from stepmix.stepmix import StepMix

    model = StepMix(n_components=K, measurement="categorical", max_iter=5000, abs_tol=1e-14,
                    rel_tol=1e-15, verbose=0, progress_bar=0, random_state=0)

    def start(X_, random_state):  # the partition, in place of StepMix's own starts
        resp = np.eye(K)[labels]
        model.log_resp_ = np.log(np.clip(resp, 1e-15, 1 - 1e-15))
        model.weights_ = np.ones(K) / K
        model._initialize_parameters_measurement(X_, random_state)

    model._initialize_parameters = start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, sample_weight=w)
    params = model.get_parameters()
    pis = params["measurement"]["pis"]  # K x (D * max_levels)
    max_levels = pis.shape[1] // X.shape[1]
    levels = X.max(axis=0) + 1
    probabilities = [pis[:, j * max_levels: j * max_levels + levels[j]]
                     for j in range(X.shape[1])]
    weights = params["weights"]
    return {
        "reported_loglik": float(model.lower_bound_ * w.sum()),
        "loglik": lca_loglik(X, w, weights, probabilities),
        "n_iter": int(model.n_iter_),
        "weights": weights.tolist(),
        "probabilities": [p.tolist() for p in probabilities],
    }


# ------------------------------------------------------------------ pomegranate
def pomegranate_lca(X, w, weights, probabilities):
    import torch
    from pomegranate.distributions import Categorical
    from pomegranate.gmm import GeneralMixtureModel

    width = max(p.shape[1] for p in probabilities)
    dists = []
    for k in range(len(weights)):
        table = np.zeros((len(probabilities), width))
        for j, p in enumerate(probabilities):
            table[j, : p.shape[1]] = p[k]
        dists.append(Categorical(probs=torch.tensor(table)))
    model = GeneralMixtureModel(dists, priors=torch.tensor(weights), max_iter=5000,
                                tol=-np.inf)
    model.fit(torch.tensor(X), sample_weight=torch.tensor(w))
    fitted_weights = model.priors.detach().numpy().astype(float)
    fitted = [np.stack([d.probs.detach().numpy()[j, : p.shape[1]] for d in model.distributions])
              .astype(float) for j, p in enumerate(probabilities)]
    reported = float((model.log_probability(torch.tensor(X)).detach().numpy() * w).sum())
    return {
        "reported_loglik": reported,
        "loglik": lca_loglik(X, w, fitted_weights, fitted),
        "weights": fitted_weights.tolist(),
        "probabilities": [p.tolist() for p in fitted],
    }


def pomegranate_poisson(X, weights, rates):
    import torch
    from pomegranate.distributions import Poisson
    from pomegranate.gmm import GeneralMixtureModel

    dists = [Poisson(lambdas=torch.tensor(r)) for r in rates]
    model = GeneralMixtureModel(dists, priors=torch.tensor(weights), max_iter=5000,
                                tol=-np.inf)
    model.fit(torch.tensor(X))
    fitted_weights = model.priors.detach().numpy().astype(float)
    fitted = np.stack([d.lambdas.detach().numpy() for d in model.distributions]).astype(float)
    return {
        "reported_loglik": float(model.log_probability(torch.tensor(X)).sum()),
        "loglik": poisson_loglik(X, fitted_weights, fitted),
        "weights": fitted_weights.tolist(),
        "rates": fitted.tolist(),
    }


MTCARS_GAUSSIAN = ("mpg", "hp", "wt")
MTCARS_CATEGORICAL = ("cyl", "am", "gear")


def mtcars_table():
    cars = json.loads((HERE / "mtcars.json").read_text())["columns"]
    gaussian = np.column_stack([cars[c] for c in MTCARS_GAUSSIAN])
    codes = np.column_stack([np.unique(cars[c], return_inverse=True)[1]
                             for c in MTCARS_CATEGORICAL])
    return gaussian, codes


def mtcars_partition(codes, K=2):
    """The first seeded partition with every level of every column in every class."""
    for seed in range(100):
        labels = np.random.default_rng(seed).permutation(np.arange(codes.shape[0]) % K)
        if all(np.unique(codes[labels == k, j]).size == codes[:, j].max() + 1
               for k in range(K) for j in range(codes.shape[1])):
            return seed, labels
    raise RuntimeError("no partition found")


def mixed_loglik(gaussian, codes, weights, means, covariances, probabilities) -> float:
    from scipy.stats import multivariate_normal

    weights = np.asarray(weights) / np.sum(weights)
    probabilities = [p / p.sum(axis=1, keepdims=True) for p in probabilities]
    log_joint = np.log(weights)[None, :] + np.column_stack([
        multivariate_normal(means[k], covariances[k]).logpdf(gaussian)
        for k in range(len(weights))])
    log_joint += sum(np.log(p.T[codes[:, j]]) for j, p in enumerate(probabilities))
    return float(logsumexp(log_joint, axis=1).sum())


def stepmix_mixed(gaussian, codes, labels, K):
    from stepmix.stepmix import StepMix

    descriptor = {"engine": {"model": "gaussian_full", "n_columns": gaussian.shape[1]},
                  "design": {"model": "categorical", "n_columns": codes.shape[1]}}
    model = StepMix(n_components=K, measurement=descriptor, max_iter=5000, abs_tol=1e-14,
                    rel_tol=1e-15, verbose=0, progress_bar=0, random_state=0)

    def start(X_, random_state):
        model.log_resp_ = np.log(np.clip(np.eye(K)[labels], 1e-15, 1 - 1e-15))
        model.weights_ = np.ones(K) / K
        model._initialize_parameters_measurement(X_, random_state)

    model._initialize_parameters = start
    X = np.column_stack([gaussian, codes]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    params = model.get_parameters()
    engine, design = params["measurement"]["engine"], params["measurement"]["design"]
    pis = design["pis"]
    width = pis.shape[1] // codes.shape[1]
    probabilities = [pis[:, j * width: j * width + codes[:, j].max() + 1]
                     for j in range(codes.shape[1])]
    return {
        "reported_loglik": float(model.lower_bound_ * X.shape[0]),
        "loglik": mixed_loglik(gaussian, codes, params["weights"], engine["means"],
                               engine["covariances"], probabilities),
        "n_iter": int(model.n_iter_),
        "weights": params["weights"].tolist(),
        "means": engine["means"].tolist(),
    }


def main() -> None:
    import pomegranate
    import stepmix
    import torch

    out = {"source": f"stepmix {stepmix.__version__ if hasattr(stepmix, '__version__') else ''}"
                     f" pomegranate {pomegranate.__version__} torch {torch.__version__}",
           "lca_haireyecolor": {}, "poisson_dmft": {}}
    lca = json.loads((HERE / "lca_haireyecolor.json").read_text())
    X = np.array(lca["X"], dtype=np.int64)
    w = np.array(lca["freq"], dtype=float)
    levels = [len(v) for v in lca["levels"]]
    for k, fit in lca["fits"].items():
        labels = np.array(fit["partition"]) - 1
        weights, probabilities = partition_start_lca(X, w, labels, int(k), levels)
        out["lca_haireyecolor"][k] = {
            "stepmix": stepmix_lca(X, w, labels, int(k)),
            "pomegranate": pomegranate_lca(X, w, weights, probabilities),
        }
    pois = json.loads((HERE / "flexmix_poisson.json").read_text())
    X = np.array(pois["X"], dtype=float)
    for k, fit in pois["fits"].items():
        labels = np.array(fit["partition"]) - 1
        resp = np.eye(int(k))[labels]
        weights = resp.mean(axis=0)
        rates = (resp.T @ X) / resp.sum(axis=0)[:, None]
        out["poisson_dmft"][k] = {"pomegranate": pomegranate_poisson(X, weights, rates)}
    gaussian, codes = mtcars_table()
    seed, labels = mtcars_partition(codes)
    out["mixed_mtcars"] = {"gaussian": list(MTCARS_GAUSSIAN),
                           "categorical": list(MTCARS_CATEGORICAL), "seed": seed,
                           "partition": labels.tolist(),
                           "2": {"stepmix": stepmix_mixed(gaussian, codes, labels, 2)}}
    (HERE / "peers_discrete.json").write_text(json.dumps(out, indent=1))
    print("mixed_mtcars 2 stepmix", out["mixed_mtcars"]["2"]["stepmix"]["loglik"],
          out["mixed_mtcars"]["2"]["stepmix"]["reported_loglik"])
    for name in ("lca_haireyecolor", "poisson_dmft"):
        for k, peers in out[name].items():
            for peer, result in peers.items():
                print(name, k, peer, result["loglik"], result["reported_loglik"])


if __name__ == "__main__":
    main()
