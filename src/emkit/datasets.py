"""Data sets bundled with emkit."""

from __future__ import annotations

from importlib import resources

import numpy as np

FAITHFUL_COLUMNS = ("eruptions", "waiting")


def load_faithful(*, as_frame: bool = False):
    """Old Faithful geyser eruptions (272 rows), as shipped with R's ``datasets``.

    Columns: ``eruptions`` (eruption duration, minutes) and ``waiting`` (waiting
    time to the next eruption, minutes).  Härdle (1991); Azzalini & Bowman (1990).

    Parameters
    ----------
    as_frame : bool, default=False
        Return a pandas DataFrame with named columns (requires pandas).

    Returns
    -------
    ndarray of shape (272, 2) or pandas.DataFrame
    """
    path = resources.files("emkit").joinpath("data/faithful.csv")
    with path.open("r", encoding="utf-8") as handle:
        data = np.loadtxt(handle, delimiter=",", skiprows=1)
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("load_faithful(as_frame=True) needs pandas: "
                              "pip install pandas") from exc
        return pd.DataFrame(data, columns=list(FAITHFUL_COLUMNS))
    return data
