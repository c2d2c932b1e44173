"""Parity with R's mclust: the same EM fits from the same starting partitions.

The reference is tests/references/mclust_fits.json, made by
tests/references/mclust_fits.R (R is not needed here).  For every data set, mclust
covariance model and G = 1..9 it holds the partition mclustBIC starts EM from
(hierarchical clustering for d > 1, quantiles for d = 1) and mclust's fit from it
with a tight tolerance.  emkit is started from the same partition
(``labels_init``) without regularisation and run to a tight tolerance; then

* the total log-likelihood equals mclust's to 1e-6 relative.  mclust's VVE fits
  are not stationary points of the likelihood (its VVE M-step is wrong, see
  tests/references/mclust_notes.md): there the target is the fit of a corrected VVE
  EM from the same partition (stored beside mclust's); a non-stationary cell
  without such a target only needs emkit's log-likelihood >= mclust's;
* ``n_parameters()`` equals mclust's parameter count and ``-bic(X)`` is mclust's
  BIC (``2 log L - p log n``);
* the fitted weights, means and covariances agree (components keep the order of
  the partition's labels);
* the best (model, G) by BIC agrees per data set;
* with ``prior="default"`` (mclust's ``priorControl()``), for faithful and iris,
  G = 1..4 and the 10 models mclust has a prior for, the MAP-EM fit's
  log-likelihood, BIC and parameters agree with mclust's (ids ``map-...``).

Test ids read ``dataset-model-G``.  A model emkit does not accept as
``covariance_type`` yet is skipped.  Until ``labels_init`` exists, the four models
emkit already has under other names (VVV = "full", EEE = "tied", VVI = "diag",
VII = "spherical"; in 1-D V = "full", E = "tied") are started from the M-step of
the partition through ``weights_init`` / ``means_init`` / ``precisions_init``
(the same start); the other models are skipped.  Cells where mclust itself
failed (returnCode != 0, e.g. a singular covariance) are left out.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from emkit import GaussianMixture
from emkit.exceptions import DegenerateComponentError

REFERENCE = Path(__file__).parent / "references" / "mclust_fits.json"
DATA = json.loads(REFERENCE.read_text())["datasets"]

LOGLIK_RTOL = 1e-6
TOL = 1e-13
MAX_ITER = 20_000

# emkit's names for the mclust models it had before the mclust names
ALIASES = {
    False: {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"},
    True: {"V": "full", "E": "tied"},
}


# ---------------------------------------------------------------- reference
def _X(dataset: str) -> np.ndarray:
    return np.asarray(DATA[dataset]["X"], dtype=float)


def _cell(dataset: str, model: str, G: int) -> dict:
    return DATA[dataset]["fits"][model][str(G)]


def _ok(cell: dict) -> bool:
    return cell["returnCode"] == 0 and cell["loglik"] is not None


def _stationary(cell: dict) -> bool:
    st = cell.get("stationarity")
    return st is None or st["stationary"]


def _target(cell: dict) -> dict | None:
    """The fit emkit must reproduce: mclust's, or for VVE the corrected EM's.

    None where mclust's fit is not stationary and there is no corrected fit (then
    emkit's log-likelihood must only be at least mclust's).
    """
    if "loglik" in cell.get("exact_em", {}):
        return cell["exact_em"]
    return cell if _stationary(cell) else None


def _corrected_em_degenerates(cell: dict) -> bool:
    """The corrected VVE EM hits a singular covariance from this partition."""
    return "failed" in cell.get("exact_em", {})


def _cells() -> list:
    params = []
    for ds, entry in DATA.items():
        for model in entry["models"]:
            for G_str, cell in entry["fits"][model].items():
                if _ok(cell):
                    G = int(G_str)
                    params.append(pytest.param(ds, model, G, id=f"{ds}-{model}-{G}"))
    return params


CELLS = _cells()


#: Models whose MAP step in mclust is not the posterior mode of its stated prior
#: (references/mclust_notes.md: EII drops the prior scale, EEI/EVI/EEV/VEV/VEI use
#: model-specific denominators, and for EEI, EVI, EEV mclust's own mstep() and me()
#: disagree).  emkit uses the exact posterior mode for every model (test_priors.py
#: checks it against BFGS), so these cells differ by design; strict xfail flags the
#: day they agree.
MCLUST_MAP_DIFFERS = ("EII", "EEI", "VEI", "EVI", "EEV", "VEV")


def _map_cells() -> list:
    params = []
    for ds, entry in DATA.items():
        for model, by_G in entry["prior"].get("fits", {}).items():
            for G_str, cell in by_G.items():
                if _ok(cell["tight"]):
                    G = int(G_str)
                    marks = ()
                    if model in MCLUST_MAP_DIFFERS and G > 1:
                        marks = pytest.mark.xfail(
                            strict=True,
                            reason=f"mclust's MAP step for {model} is not the posterior mode "
                            "of its prior; emkit's is (docs/covariance-models.md)",
                        )
                    params.append(pytest.param(ds, model, G, id=f"map-{ds}-{model}-{G}",
                                               marks=marks))
    return params


MAP_CELLS = _map_cells()


# ------------------------------------------------------------------ emkit side
def _labels_init_supported() -> bool:
    return "labels_init" in GaussianMixture().get_params()


@functools.cache
def _accepted(name: str, d: int) -> bool:
    """Whether GaussianMixture(covariance_type=name) fits d-dimensional data."""
    X = np.random.default_rng(0).normal(size=(30, d))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(n_components=1, covariance_type=name, max_iter=1).fit(X)
    except ValueError as exc:
        if "covariance_type" in str(exc):
            return False
        raise
    return True


def _covariance_type(model: str, d: int) -> str | None:
    if _accepted(model, d):
        return model
    alias = ALIASES[d == 1].get(model)
    if alias is not None and _accepted(alias, d):
        return alias
    return None


def _start_from_partition(X, labels, G, covariance_type) -> dict:
    """weights/means/precisions_init: the M-step of the hard partition (no labels_init)."""
    n, d = X.shape
    R = np.zeros((n, G))
    R[np.arange(n), labels] = 1.0
    nk = R.sum(axis=0)
    means = (R.T @ X) / nk[:, None]
    scatter = np.stack([(R[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(G)])
    if covariance_type == "full":
        precisions = np.linalg.inv(scatter / nk[:, None, None])
    elif covariance_type == "tied":
        precisions = np.linalg.inv(scatter.sum(axis=0) / n)
    elif covariance_type == "diag":
        precisions = nk[:, None] / np.einsum("kii->ki", scatter)
    else:  # spherical
        precisions = nk * d / np.einsum("kii->k", scatter)
    return {"weights_init": nk / n, "means_init": means, "precisions_init": precisions}


def _fit(dataset: str, model: str, G: int) -> GaussianMixture:
    """emkit's fit of one cell from mclust's partition (skips what emkit lacks).

    Fitted once per cell; a failure is remembered and raised again for the cell's
    other tests.  Where the corrected VVE EM degenerates too, emkit's degenerate
    component is the expected outcome: the cell's tests other than test_loglik skip.
    """
    outcome = _fit_once(dataset, model, G)
    if isinstance(outcome, DegenerateComponentError) and _corrected_em_degenerates(
            _cell(dataset, model, G)):
        pytest.skip("a component degenerates, as in the corrected VVE EM from this partition")
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@functools.cache
def _fit_once(dataset: str, model: str, G: int):
    try:
        return _fit_cell(dataset, model, G)
    except (Exception, pytest.skip.Exception) as exc:
        return exc


def _fit_cell(dataset: str, model: str, G: int) -> GaussianMixture:
    X = _X(dataset)
    d = X.shape[1]
    covariance_type = _covariance_type(model, d)
    if covariance_type is None:
        pytest.skip(f"emkit has no covariance_type {model!r} yet")
    labels = np.asarray(DATA[dataset]["partitions"][str(G)], dtype=int) - 1
    if np.unique(labels).size != G:
        pytest.skip("mclust's partition has empty groups (mclustBIC smooths z there)")
    if _labels_init_supported():
        start = {"labels_init": labels}
    elif covariance_type in ("full", "tied", "diag", "spherical"):
        start = _start_from_partition(X, labels, G, covariance_type)
    else:
        pytest.skip("GaussianMixture has no labels_init yet")
    gm = GaussianMixture(n_components=G, covariance_type=covariance_type, reg_covar=0.0,
                         tol=TOL, max_iter=MAX_ITER, **start)
    return gm.fit(X)


def _loglik(gm: GaussianMixture, X: np.ndarray) -> float:
    return gm.score(X) * X.shape[0]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# ----------------------------------------------------------------------- tests
def test_reference_is_consistent():
    """The fixture's own invariants (no emkit involved)."""
    for ds, entry in DATA.items():
        n, d = entry["n"], entry["d"]
        assert np.asarray(entry["X"]).shape == (n, d)
        for model in entry["models"]:
            for G_str, cell in entry["fits"][model].items():
                G = int(G_str)
                labels = entry["partitions"][G_str]
                assert len(labels) == n and set(labels) == set(range(1, G + 1)), (ds, G)
                if not _ok(cell):
                    assert cell["warning"], (ds, model, G)
                    continue
                assert cell["bic"] == pytest.approx(
                    2 * cell["loglik"] - cell["nparams"] * math.log(n), rel=1e-12)
                # the default-tolerance fit is what mclustBIC tabulates
                table = entry["mclustBIC"]["bic"][model][G - 1]
                if cell["default"]["bic"] is not None and table is not None:
                    assert cell["default"]["bic"] == pytest.approx(table, rel=1e-12)


@pytest.mark.parametrize(("dataset", "model", "G"), CELLS)
def test_loglik(dataset, model, G):
    cell = _cell(dataset, model, G)
    if _corrected_em_degenerates(cell) and isinstance(_fit_once(dataset, model, G),
                                                      DegenerateComponentError):
        return  # mclust's VVE only survives here because its M-step is wrong
    loglik = _loglik(_fit(dataset, model, G), _X(dataset))
    target = _target(cell)
    if target is not None:
        assert _rel(loglik, target["loglik"]) < LOGLIK_RTOL, (loglik, target["loglik"])
    else:
        # mclust stopped at a point that is not stationary: emkit may only do better
        assert loglik >= cell["loglik"] - LOGLIK_RTOL * abs(cell["loglik"]), (
            loglik, cell["loglik"])


@pytest.mark.parametrize(("dataset", "model", "G"), CELLS)
def test_n_parameters(dataset, model, G):
    assert _fit(dataset, model, G).n_parameters() == _cell(dataset, model, G)["nparams"]


@pytest.mark.parametrize(("dataset", "model", "G"), CELLS)
def test_bic_convention(dataset, model, G):
    cell = _cell(dataset, model, G)
    X = _X(dataset)
    gm = _fit(dataset, model, G)
    n = X.shape[0]
    mclust_bic = -gm.bic(X)
    assert mclust_bic == pytest.approx(2 * _loglik(gm, X) - cell["nparams"] * math.log(n),
                                       rel=1e-12)
    target = _target(cell)
    if target is not None:
        assert _rel(mclust_bic, target["bic"]) < 2 * LOGLIK_RTOL, (mclust_bic, target["bic"])


DIAGONAL_MODELS = ("EEI", "VEI", "EVI", "VVI", "diag")


def _full_covariances(gm: GaussianMixture, G: int, d: int) -> np.ndarray:
    """covariances_ as (G, d, d) whatever the model stores."""
    cov = np.asarray(gm.covariances_, dtype=float)
    if cov.ndim == 3:  # (G, d, d)
        return cov
    if cov.ndim == 1:  # spherical and 1-D: one variance per component
        return cov[:, None, None] * np.eye(d)
    if gm.covariance_type in DIAGONAL_MODELS:  # (G, d) diagonals
        return np.stack([np.diag(c) for c in cov])
    return np.broadcast_to(cov, (G, d, d))  # tied: (d, d)


def _parameter_tol(target: dict) -> float:
    """Parameters are only as precise as mclust's stopping point.

    Both fits agree on the log-likelihood to ~1e-10, but along flat directions
    (e.g. two components with nearly the same mean) parameters still move by up to
    a few 1e-3 where EM crawls (mclust needed 1000s of iterations).
    """
    return 1e-3 if (target.get("iterations") or 0) < 1000 else 1e-2


def _assert_parameters(gm: GaussianMixture, target: dict, X: np.ndarray, tol: float):
    """Weights (absolute), means (in column standard deviations), covariances
    (relative Frobenius norm), components in the order of the partition's labels."""
    G, d = len(target["pro"]), X.shape[1]
    scale = X.std(axis=0)
    np.testing.assert_allclose(gm.weights_, target["pro"], rtol=0, atol=tol)
    np.testing.assert_allclose(gm.means_ / scale, np.asarray(target["mean"]) / scale,
                               rtol=0, atol=tol)
    cov = _full_covariances(gm, G, d)
    ref = np.asarray(target["sigma"])
    errors = [np.linalg.norm(cov[k] - ref[k]) / np.linalg.norm(ref[k]) for k in range(G)]
    assert max(errors) < tol, errors


@pytest.mark.parametrize(("dataset", "model", "G"), CELLS)
def test_parameters(dataset, model, G):
    target = _target(_cell(dataset, model, G))
    if target is None:
        pytest.skip("mclust's fit is not a stationary point (see mclust_notes.md)")
    X = _X(dataset)
    _assert_parameters(_fit(dataset, model, G), target, X, _parameter_tol(target))


def _best(table: dict) -> tuple:
    return max(table, key=table.get)


@pytest.mark.parametrize("dataset", list(DATA))
def test_best_model_agrees(dataset):
    """Argmax of BIC over the cells emkit can fit equals mclust's over the same cells."""
    entry = DATA[dataset]
    d = entry["d"]
    X = _X(dataset)
    supported = [m for m in entry["models"] if _covariance_type(m, d) is not None]
    if not _labels_init_supported():
        supported = [m for m in supported
                     if _covariance_type(m, d) in ("full", "tied", "diag", "spherical")]
    if not supported:
        pytest.skip("emkit fits none of these models yet")
    ours, theirs = {}, {}
    for model in supported:
        for G_str, cell in entry["fits"][model].items():
            if not _ok(cell):
                continue
            G = int(G_str)
            fitted = _fit_once(dataset, model, G)
            if _corrected_em_degenerates(cell) and isinstance(fitted,
                                                              DegenerateComponentError):
                continue
            theirs[model, G] = (_target(cell) or cell)["bic"]
            ours[model, G] = -_fit(dataset, model, G).bic(X)
    assert _best(ours) == _best(theirs), (_best(ours), _best(theirs), sorted(supported))


# ------------------------------------------------- MAP-EM with mclust's default prior
@functools.cache
def _map_fit_once(dataset: str, model: str, G: int):
    try:
        if "prior" not in GaussianMixture().get_params() or not _labels_init_supported():
            pytest.skip("GaussianMixture has no prior / labels_init yet")
        X = _X(dataset)
        covariance_type = _covariance_type(model, X.shape[1])
        if covariance_type is None:
            pytest.skip(f"emkit has no covariance_type {model!r} yet")
        labels = np.asarray(DATA[dataset]["partitions"][str(G)], dtype=int) - 1
        gm = GaussianMixture(n_components=G, covariance_type=covariance_type, reg_covar=0.0,
                             tol=TOL, max_iter=MAX_ITER, labels_init=labels, prior="default")
        return gm.fit(X)
    except (Exception, pytest.skip.Exception) as exc:
        return exc


def _map_fit(dataset: str, model: str, G: int) -> GaussianMixture:
    outcome = _map_fit_once(dataset, model, G)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.parametrize(("dataset", "model", "G"), MAP_CELLS)
def test_map_loglik(dataset, model, G):
    """MAP-EM from mclust's partition: mclust's me(prior = priorControl()) at tol 1e-12.

    mclust reports (and puts in its BIC) the log-likelihood of the MAP estimate, not
    the log posterior; its M-step formulas are in references/mclust_notes.md.
    """
    target = DATA[dataset]["prior"]["fits"][model][str(G)]["tight"]
    X = _X(dataset)
    gm = _map_fit(dataset, model, G)
    loglik = _loglik(gm, X)
    assert _rel(loglik, target["loglik"]) < LOGLIK_RTOL, (loglik, target["loglik"])
    assert _rel(-gm.bic(X), target["bic"]) < 2 * LOGLIK_RTOL, (-gm.bic(X), target["bic"])


@pytest.mark.parametrize(("dataset", "model", "G"), MAP_CELLS)
def test_map_parameters(dataset, model, G):
    target = DATA[dataset]["prior"]["fits"][model][str(G)]["tight"]
    _assert_parameters(_map_fit(dataset, model, G), target, _X(dataset),
                       _parameter_tol(target))
