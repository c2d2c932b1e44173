"""Where the rows come from: sources yield checked chunks to the EM engine.

The engine only maps a function over a source's chunks and reduces the
results (:meth:`Source.map_reduce`), so an in-memory array, a memory map, a
file read in chunks or a Dask collection are interchangeable, and every
estimator's ``fit`` accepts any of them in place of X:

>>> from emkit.sources import from_file                      # doctest: +SKIP
>>> GaussianMixture(20).fit(from_file("data/", columns=["a", "b"]),
...                         sample_weight="w")              # doctest: +SKIP

=====================  ===============================================
``ArraySource``        in-memory arrays (what ``fit(X)`` builds)
``SlicedArraySource``  ``numpy.memmap``, Zarr arrays, HDF5 datasets
``NpySource``          ``.npy`` files (plain reads, no memory map)
``CsvSource``          CSV/TSV streamed by pyarrow's parser
``ParquetSource``      Parquet files and folders (row groups, ``columns=``)
``DaskSource``         dask arrays and data frames (EM on the workers)
=====================  ===============================================

Fitting from a source that is not in memory takes one pass before EM (rows,
weights, moments, and a uniform sample of at most
:data:`INIT_SAMPLE_ROWS` rows that initialisation works on; with fewer rows
the sample is the data, and the fit equals the in-memory fit), then one pass
per EM iteration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Chunk, Source, add_results, default_chunk_size, is_dask_collection
from ._checks import ChunkCheck
from ._summary import INIT_SAMPLE_ROWS, sample_rows
from .array import ArraySource, NpySource, SlicedArraySource
from .files import CsvSource, ParquetSource, from_file

__all__ = [
    "INIT_SAMPLE_ROWS",
    "ArraySource",
    "Chunk",
    "ChunkCheck",
    "CsvSource",
    "DaskSource",
    "NpySource",
    "ParquetSource",
    "SlicedArraySource",
    "Source",
    "add_results",
    "as_source",
    "default_chunk_size",
    "from_file",
    "is_source",
    "sample_rows",
]


def __getattr__(name: str):
    if name == "DaskSource":  # imported on use: dask is optional
        from .dask import DaskSource

        return DaskSource
    raise AttributeError(f"module 'emkit.sources' has no attribute {name!r}")


def is_source(X: Any) -> bool:
    """Whether ``fit`` should read X as a source (not an in-memory array).

    True for a :class:`Source` other than an in-memory :class:`ArraySource`
    and for a dask array or data frame.  A ``numpy.memmap`` is an array (its
    pages are read as EM touches them, as scikit-learn does); to read it in
    chunk copies instead, wrap it: ``SlicedArraySource(memmap)``.
    """
    if isinstance(X, ArraySource):
        return False
    return isinstance(X, Source) or is_dask_collection(X)


def as_source(X: Any) -> Source:
    """X as a :class:`Source`: sources as they are, memory maps and dask collections wrapped."""
    if isinstance(X, Source):
        return X
    if isinstance(X, np.memmap):
        return SlicedArraySource(X, label=getattr(X, "filename", None) or "memmap")
    if is_dask_collection(X):
        from .dask import DaskSource

        return DaskSource(X)
    raise TypeError(f"cannot read {type(X).__name__} as a source")
