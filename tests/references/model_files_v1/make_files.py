"""Write the model files of tests/references/model_files_v1 (format_version 1).

Run once with emkit at commit bee60eb (before the schema-based persist), so that
tests/test_persist_compat.py checks that files written by that emkit still load
and predict exactly as the estimators that wrote them:

    PYTHONPATH=src python tests/references/model_files_v1/make_files.py
"""

import json
from pathlib import Path

import numpy as np

from emkit import (
    GaussianMixture,
    GaussianMixtureImputer,
    GaussianPrior,
    KMeans,
    MixtureOutlierDetector,
    SoftKMeans,
)
from emkit.datasets import load_faithful
from emkit.persist import save_model

HERE = Path(__file__).parent


def main() -> None:
    X = load_faithful()
    holes = X.copy()
    holes[::7, 0] = np.nan  # the imputer is fitted to and transforms these
    means = np.array([[2.0, 55.0], [4.3, 80.0]])
    models = {
        "gaussian_full_names": GaussianMixture(2, random_state=0),
        "gaussian_eve_prior": GaussianMixture(
            3, covariance_type="EVE", prior=GaussianPrior(shrinkage=0.05, dof=5.0,
                                                         scale=np.diag([0.5, 30.0])),
            random_state=1),
        "gaussian_fixed_weights": GaussianMixture(
            2, covariance_type="diag", weights_init=[0.4, 0.6], means_init=means,
            fixed=("weights",), random_state=np.random.RandomState(0)),
        "gaussian_no_iterations": GaussianMixture(2, covariance_type="tied", max_iter=0,
                                                  random_state=0),
        "kmeans_array_init": KMeans(2, init=means, n_init=1),
        "softkmeans": SoftKMeans(3, beta=0.5, random_state=0),
        "detector": MixtureOutlierDetector(2, contamination=0.05, random_state=0),
        "imputer": GaussianMixtureImputer(2, covariance_type="spherical", random_state=0),
    }
    expected = {}
    for name, model in models.items():
        data = holes if name == "imputer" else X
        model.fit(data)
        out = expected[name] = {}
        if hasattr(model, "predict"):
            out["predict"] = model.predict(X[:50]).tolist()
        for method in ("score_samples", "predict_proba", "decision_function", "transform"):
            if hasattr(model, method):
                out[method] = getattr(model, method)(data[:50]).tolist()
        if name == "gaussian_full_names":
            model.feature_names_in_ = np.asarray(["eruptions", "waiting"], dtype=object)
        save_model(model, HERE / f"{name}.json")
    # what each model computed on the data when it was saved (floats as repr: exact)
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
