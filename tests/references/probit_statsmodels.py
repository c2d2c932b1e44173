"""Makes tests/references/probit_statsmodels.json: statsmodels' Newton fits of probit
regression, the reference for emkit's ProbitRegression (fitted by EM).

Run from the repository root:  python tests/references/probit_statsmodels.py
(statsmodels 0.15; CI only reads the JSON.)
"""

import json
from pathlib import Path

import numpy as np
import statsmodels
import statsmodels.api as sm

rng = np.random.default_rng(2026)
n = 1500
X = rng.normal(size=(n, 3))
X[:, 2] = 0.5 * X[:, 0] + rng.normal(size=n)  # correlated inputs
y = (X @ [0.8, -1.2, 0.4] + 0.3 + rng.normal(size=n) > 0).astype(int)
weights = rng.integers(1, 4, size=n).astype(float)

plain = sm.Probit(y, sm.add_constant(X)).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
weighted = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(
    link=sm.families.links.Probit()), freq_weights=weights).fit(tol=1e-14, maxiter=100)
out = {
    "source": f"statsmodels {statsmodels.__version__}: Probit (Newton) and GLM Binomial "
              "probit link with freq_weights",
    "X": X.tolist(), "y": y.tolist(), "weights": weights.tolist(),
    "plain": {"params": plain.params.tolist(), "loglik": float(plain.llf)},
    "weighted": {"params": weighted.params.tolist(), "loglik": float(weighted.llf)},
}
Path("tests/references/probit_statsmodels.json").write_text(json.dumps(out))
