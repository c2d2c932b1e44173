"""Tables of labelled columns: levels learned as OneHotEncoder's ``categories_``, codes,
missing entries (NaN, None, pandas NA) and named errors.

Used by :class:`~emkit.CategoricalMixture` and :class:`~emkit.MixedMixture`.
A *table* is X split into 1-D columns: a pandas DataFrame keeps each column's
dtype (pandas categoricals keep their declared categories); any other 2-D
array-like is one numpy array (strings, objects or numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.utils import check_array

#: Code of a missing entry.
MISSING = -1
#: Code of a level not in the categories (before ``handle_unknown`` is applied).
UNKNOWN = -2
HANDLE_UNKNOWN = ("error", "missing")


def is_dataframe(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns") and hasattr(X, "dtypes")


def _pandas():
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is optional
        return None
    return pandas


class Table:
    """X as a list of 1-D columns with their labels for messages.

    Parameters
    ----------
    X : DataFrame or 2-D array-like
    min_samples : int
        Fewer rows is an error (as scikit-learn's ``ensure_min_samples``).
    """

    def __init__(self, X: Any, min_samples: int = 1):
        if is_dataframe(X):
            self.frame = X
            self.array = None
            self.names = [str(c) for c in X.columns]
            self.n_rows, self.n_columns = X.shape
            if self.n_rows < min_samples:
                raise ValueError(f"Found array with {self.n_rows} sample(s) (shape={X.shape}) "
                                 f"while a minimum of {min_samples} is required.")
        else:
            self.frame = None
            self.array = check_array(X, dtype=None, ensure_all_finite=False,
                                     ensure_min_samples=min_samples, ensure_min_features=1)
            self.names = None
            self.n_rows, self.n_columns = self.array.shape

    def column(self, j: int) -> Any:
        """Column j: a pandas Series (DataFrame input) or a 1-D numpy array."""
        if self.frame is not None:
            return self.frame.iloc[:, j]
        return self.array[:, j]

    def label(self, j: int) -> str:
        """``column 'q1'`` (DataFrame) or ``column 3`` for messages."""
        return f"column {self.names[j]!r}" if self.names is not None else f"column {j}"


# ----------------------------------------------------------------- missing values
def missing_mask(values: np.ndarray) -> np.ndarray:
    """Entries that are missing: NaN, None, pandas NA/NaT."""
    kind = values.dtype.kind
    if kind == "f":
        return np.isnan(values)
    if kind in "iubUS":
        return np.zeros(values.shape, dtype=bool)
    pandas = _pandas()
    if pandas is not None:
        return np.asarray(pandas.isna(values), dtype=bool)
    return np.array([v is None or (isinstance(v, float) and v != v) for v in values],
                    dtype=bool)


def column_values(column: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(values as a numpy array, missing mask, declared categories or None).

    Declared categories are a pandas categorical's ``categories``.
    """
    declared = None
    dtype = getattr(column, "dtype", None)
    if dtype is not None and getattr(dtype, "name", "") == "category":
        declared = np.asarray(column.cat.categories.to_numpy())
        codes = np.asarray(column.cat.codes.to_numpy())
        missing = codes < 0
        values = np.asarray(column.to_numpy(dtype=object))
        return values, missing, declared
    if hasattr(column, "to_numpy") and not isinstance(column, np.ndarray):
        # pandas extension dtypes (string, nullable integers): NA becomes None/NaN
        if getattr(dtype, "kind", "O") in "fiub" and not hasattr(dtype, "na_value"):
            values = column.to_numpy()
        else:
            values = column.to_numpy(dtype=object)
    else:
        values = np.asarray(column)
    missing = missing_mask(values)
    if values.dtype == object:
        values = _narrowed(values, missing)
    return values, missing, declared


def _is_number(kind: type) -> bool:
    return issubclass(kind, (int, float, np.integer, np.floating)) and not issubclass(
        kind, (bool, np.bool_))


def _narrowed(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """An object array whose observed entries are all strings (no missing entry) or
    all (non-bool) numbers as a typed array (float, NaN where missing)."""
    kinds = {type(v) for v in values[~missing]}
    if kinds and all(issubclass(t, str) for t in kinds) and not missing.any():
        return values.astype(str)
    if kinds and all(_is_number(t) for t in kinds):
        out = np.full(values.shape, np.nan)
        out[~missing] = values[~missing].astype(np.float64)
        return out
    return values


def is_numeric(column: Any) -> bool:
    """Whether a column holds numbers (not bool, not a pandas categorical)."""
    values, _, declared = column_values(column)
    return declared is None and values.dtype.kind in "fiu"


def numeric_column(column: Any, label: str) -> np.ndarray:
    """A column as float64, NaN for a missing entry; a non-number is an error naming
    its row."""
    values, missing, declared = column_values(column)
    if declared is not None or values.dtype.kind not in "fiub":
        for row in np.flatnonzero(~missing):
            value = values[row]
            if not (_is_number(type(value)) or isinstance(value, (bool, np.bool_))):
                raise ValueError(f"{label} has value {value!r} at row {row}, which is not a "
                                 "number (this column's family needs numbers)")
        out = np.full(values.shape, np.nan)
        out[~missing] = values[~missing].astype(np.float64)
        return out
    out = values.astype(np.float64)
    if missing.any():
        out[missing] = np.nan
    return out


# ----------------------------------------------------------------- levels
def learn_categories(column: Any, label: str) -> np.ndarray:
    """The levels of a column: a pandas categorical's categories, else the sorted
    distinct observed values (as OneHotEncoder).  Fewer than two is an error."""
    values, missing, declared = column_values(column)
    if declared is not None:
        categories = declared
    else:
        observed = values[~missing]
        if observed.size == 0:
            raise ValueError(f"{label} has no observed value (every entry is missing); "
                             "drop the column")
        try:
            categories = np.unique(observed)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in observed})
            raise ValueError(
                f"{label} mixes values of types {kinds} that cannot be ordered; give the "
                "column one type (e.g. all strings)"
            ) from None
    if categories.shape[0] < 2:
        only = categories[0].item() if categories.shape[0] else None
        raise ValueError(
            f"{label} has a single level ({only!r}): a categorical variable needs at "
            "least two levels; drop the column"
        )
    return categories


def check_categories(categories: Any, n_columns: int) -> list[np.ndarray]:
    """User-given ``categories``: one list of distinct levels per column."""
    if isinstance(categories, str) or not isinstance(categories, (Sequence, np.ndarray)):
        raise ValueError(f"categories must be 'auto' or a list of level lists, got "
                         f"{categories!r}")
    if len(categories) != n_columns:
        raise ValueError(f"categories must give the levels of all {n_columns} columns, got "
                         f"{len(categories)} lists")
    out = []
    for j, levels in enumerate(categories):
        levels = np.asarray(levels)
        if levels.ndim != 1 or levels.shape[0] < 2:
            raise ValueError(f"categories[{j}] must list at least two levels, got {levels!r}")
        if np.unique(levels).shape[0] != levels.shape[0]:
            raise ValueError(f"categories[{j}] lists a level twice: {levels.tolist()!r}")
        out.append(levels)
    return out


# ----------------------------------------------------------------- codes
def _lookup(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Position of every value in ``categories`` (UNKNOWN when absent)."""
    if values.dtype.kind in "fiuUS" and categories.dtype.kind in "fiuUS" and (
            (values.dtype.kind in "US") == (categories.dtype.kind in "US")):
        order = np.argsort(categories, kind="stable")
        ranked = categories[order]
        position = np.searchsorted(ranked, values)
        np.minimum(position, ranked.shape[0] - 1, out=position)
        found = ranked[position] == values
        return np.where(found, order[position], UNKNOWN)
    pandas = _pandas()
    if pandas is not None:
        codes = pandas.Index(categories.astype(object)).get_indexer(values.astype(object))
        return np.where(codes < 0, UNKNOWN, codes)
    index = {level: code for code, level in enumerate(categories.tolist())}
    return np.array([index.get(v, UNKNOWN) for v in values.tolist()], dtype=np.intp)


def encode_column(column: Any, categories: np.ndarray, label: str,
                  handle_unknown: str = "error") -> np.ndarray:
    """Codes (int32) of a column: position in ``categories``, MISSING for a missing entry.

    A level not in ``categories`` is an error naming the row, or (``handle_unknown=
    "missing"``) a missing entry.
    """
    values, missing, _ = column_values(column)
    codes = np.full(values.shape[0], MISSING, dtype=np.int32)
    seen = ~missing
    if seen.any():
        codes[seen] = _lookup(values[seen], categories)
    unknown = codes == UNKNOWN
    if unknown.any():
        if handle_unknown == "missing":
            codes[unknown] = MISSING
        else:
            row = int(np.flatnonzero(unknown)[0])
            value = values[row].item() if hasattr(values[row], "item") else values[row]
            levels = categories.tolist()
            shown = levels if len(levels) <= 10 else [*levels[:10], "..."]
            raise ValueError(
                f"{label} has level {value!r} at row {row}, which is not one of its "
                f"categories {shown} ({int(unknown.sum())} such entries); "
                "use handle_unknown='missing' to treat unseen levels as missing values"
            )
    return codes


def decode_codes(codes: np.ndarray, categories: Sequence[np.ndarray]) -> np.ndarray:
    """Labels from codes (NaN or negative: missing) column by column.

    A float array (NaN for missing) when every column's categories are numbers,
    else an object array (None for missing).
    """
    codes = np.asarray(codes)
    numeric = all(c.dtype.kind in "fiub" for c in categories)
    out = np.empty(codes.shape, dtype=np.float64 if numeric else object)
    for j, levels in enumerate(categories):
        column = codes[:, j]
        missing = np.isnan(column) if column.dtype.kind == "f" else column < 0
        index = np.where(missing, 0, column).astype(np.intp)
        values = levels[index]
        if numeric:
            out[:, j] = np.where(missing, np.nan, values.astype(np.float64))
        else:
            out[:, j] = [None if m else v for m, v in zip(missing, values.tolist(), strict=True)]
    return out
