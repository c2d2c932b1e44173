"""``emkit fit --assignment / --annealing / --stochastic-iter`` (EM variants).

In-process (:func:`emkit.cli.main`); each fit is compared with the library
estimator given the same parameters.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from emkit import GaussianMixture, PoissonMixture, RegressionMixture
from emkit.em.sparse import check_sparse
from emkit.em.variants import Annealing
from emkit.persist import load_model

from .test_cli_families import loglik_of, write_csv
from .test_cli_long_fits import run_main

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture
def blobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(c, 1.0, size=(80, 2)) for c in ([0, 0], [4, 1], [1, 5])])
    write_csv(tmp_path / "x.csv", ["a", "b"], X.tolist())
    return X


@pytest.mark.parametrize("options, params", [
    (["--assignment", "hard"], {"assignment": "hard"}),
    (["--assignment", "stochastic", "--stochastic-iter", "7"],
     {"assignment": "stochastic", "stochastic_iter": 7}),
    (["--annealing"], {"annealing": True}),
    (["--annealing", "0.6,1.3,20"], {"annealing": {"beta0": 0.6, "growth": 1.3, "n_iter": 20}}),
    (["--assignment", "monte-carlo", "--stochastic-iter", "4"],
     {"assignment": "monte-carlo", "stochastic_iter": 4}),
    (["--sparse"], {"sparse": True}),
    (["--sparse", "2,3"], {"sparse": {"n_active": 2, "full_every": 3}}),
])
def test_variants_equal_the_library(blobs, tmp_path, capsys, options, params):
    code, out, err = run_main(capsys, "fit", "x.csv", "--k", "3", "--random-state", "0",
                              "--out", "m.json", *options)
    assert code == 0, err
    reference = GaussianMixture(3, random_state=0, **params).fit(blobs)
    model = load_model(tmp_path / "m.json")
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-12)
    assert model.assignment == reference.assignment
    expected = params.get("annealing")
    if isinstance(expected, dict):
        assert model.annealing == Annealing(**expected)
    else:
        assert model.annealing == expected
    if "sparse" in params:
        assert check_sparse(model.sparse) == check_sparse(params["sparse"])
    assert loglik_of(out) == pytest.approx(reference.score(blobs) * len(blobs), abs=1e-3)


def test_variants_reach_other_families(blobs, tmp_path, capsys):
    counts = np.round(np.abs(blobs)).astype(int)
    write_csv(tmp_path / "c.csv", ["a", "b"], counts.tolist())
    code, _, err = run_main(capsys, "fit", "c.csv", "--family", "poisson", "--k", "2",
                            "--random-state", "0", "--assignment", "hard", "--out", "p.json")
    assert code == 0, err
    reference = PoissonMixture(2, random_state=0, assignment="hard").fit(counts)
    np.testing.assert_allclose(load_model(tmp_path / "p.json").rates_, reference.rates_,
                               rtol=1e-12)
    y = blobs[:, 0] * 2 + blobs[:, 1]
    write_csv(tmp_path / "r.csv", ["x", "y"], np.column_stack([blobs[:, 0], y]).tolist())
    code, _, err = run_main(capsys, "fit", "r.csv", "--target", "y", "--k", "2",
                            "--random-state", "0", "--annealing", "0.5", "--out", "r.json")
    assert code == 0, err
    reference = RegressionMixture(2, random_state=0, annealing={"beta0": 0.5}).fit(
        blobs[:, :1], y)
    np.testing.assert_allclose(load_model(tmp_path / "r.json").coef_, reference.coef_,
                               rtol=1e-10)


@pytest.mark.parametrize("options, message", [
    (["--annealing", "1.5"], r"^emkit: error: --annealing: annealing\['beta0'\] must be a "
                             r"number in \(0, 1\), got 1.5$"),
    (["--annealing", "0.5,x"], r"argument --annealing: expected numbers BETA0"),
    (["--annealing", "0.5,1.2,3,4"], r"argument --annealing: expected BETA0\[,GROWTH"),
    (["--annealing", "--assignment", "hard"], r"^emkit: error: --annealing: annealing "
                                              r"tempers the soft E-step"),
    (["--assignment", "stochastic", "--stochastic-iter", "0"],
     r"^emkit: error: --stochastic-iter: stochastic_iter must be an integer >= 1"),
    (["--assignment", "fuzzy"], r"argument --assignment: invalid choice: 'fuzzy'"),
    (["--sparse", "0"], r"^emkit: error: --sparse: sparse\['n_active'\] must be an integer >= 1"),
    (["--sparse", "2,x"], r"argument --sparse: expected integers N_ACTIVE\[,FULL_EVERY\]"),
    (["--hmm", "--assignment", "hard"], r"--assignment does not apply to --hmm"),
    (["--contamination", "0.1", "--assignment", "hard"], r"--assignment does not apply to an "
                                                         r"outlier detector"),
])
def test_bad_variant_options_are_one_line(blobs, tmp_path, capsys, options, message):
    try:
        code, out, err = run_main(capsys, "fit", "x.csv", "--k", "3", "--out", "m.json",
                                  *options)
    except SystemExit as exc:  # argparse's usage errors
        code, (out, err) = exc.code, capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and re.search(message, err.rstrip("\n")), err
    assert not (tmp_path / "m.json").exists()
