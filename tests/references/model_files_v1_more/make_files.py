"""Write the model files of tests/references/model_files_v1_more (format_version 1).

One file per case of ``tests/_persist_cases.py`` (every estimator registered
after emkit 0.1.0: the discrete, Student-t, variational, conditional and HMM
estimators), and ``expected.json``: for every case the inputs (the first 30
rows of its data) and what the fitted estimator computed on them when it was
saved.  ``tests/test_persist_compat.py`` checks that these files still load
and compute exactly that.  Written once, by emkit at the commit that added
them; do not rerun unless the files must change on purpose:

    PYTHONPATH=src:. python tests/references/model_files_v1_more/make_files.py
"""

import json
import warnings
from pathlib import Path

import numpy as np
from tests._persist_cases import cases

from emkit.persist import save_model

HERE = Path(__file__).parent
ROWS = 30
LENGTHS = np.array([12, 18])


def encode(value):
    """An input or a result as JSON (the dtype kept so that the test can rebuild it)."""
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    arr = np.asarray(value)
    kind = "object" if arr.dtype == object else ("str" if arr.dtype.kind == "U"
                                                 else arr.dtype.name)
    return {"dtype": kind, "data": arr.tolist()}


def trimmed(args, is_hmm):
    out = []
    for arg in args:
        arr = np.asarray(arg)
        if is_hmm and arr.ndim == 1 and arr.dtype.kind in "iu":  # lengths
            out.append(LENGTHS)
        else:
            out.append(arr[:ROWS])
    return out


def main() -> None:
    expected = {}
    for name, (estimator, fit_args, calls) in cases().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(*fit_args)
        is_hmm = "hmm" in name
        records = []
        for method, args in calls:
            args = trimmed(args, is_hmm)
            result = getattr(estimator, method)(*args)
            records.append({"method": method, "args": [encode(a) for a in args],
                            "result": encode(result)})
        expected[name] = records
        save_model(estimator, HERE / f"{name}.json")
    (HERE / "expected.json").write_text(json.dumps(expected) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
