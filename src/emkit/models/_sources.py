"""Fitting from a source that is not in memory: the pass before EM, shared by estimators.

``fit(X)`` with X a :class:`~emkit.sources.Source` (a file, a memory map, a
dask collection) takes one pass over the data before EM
(:meth:`~emkit.sources.Source.scan`): it checks every chunk, counts rows and
weight, finds columns without any observed value, computes the weighted moments
and keeps a uniform sample of at most :func:`~emkit.sources.sample_rows` rows.
Initialisation (k-means, k-means++, hierarchical, labels) works on that sample
exactly as it works on X in memory; when the data have no more rows than the
sample holds, the sample *is* the data and the random generator is left as it
was, so the fit equals the in-memory fit.
"""

from __future__ import annotations

import numpy as np

from ..sources import ArraySource, ChunkCheck, Source, as_source, default_chunk_size, sample_rows

#: Default chunks of a source read from files hold at most this many bytes of float64
#: rows (several chunks are in flight while the E-step threads work): memory stays a
#: few MB per chunk even where the E-step kernels would take larger chunks in memory.
STREAM_CHUNK_BYTES = 2 * 2**20


def source_chunk_size(chunk_size: int | None, source: Source, row_width: int) -> int:
    """``chunk_size``, or the default for a source: the in-memory default, at most
    :data:`STREAM_CHUNK_BYTES` of rows."""
    if chunk_size is not None:
        return int(chunk_size)
    n = source.n_samples
    rows = STREAM_CHUNK_BYTES // (8 * max(source.n_features, 1))
    return min(default_chunk_size(n, row_width), max(4096, rows))


def record_features(estimator, source: Source, reset: bool) -> None:
    """``n_features_in_`` (and ``feature_names_in_`` for named columns), or check them."""
    D = source.n_features
    names = source.feature_names
    if reset:
        estimator.n_features_in_ = D
        if names is not None:
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    expected = getattr(estimator, "n_features_in_", D)
    if D != expected:
        raise ValueError(f"{source.label} has {D} features, but {type(estimator).__name__} "
                         f"is expecting {expected} features as input")


def open_source(estimator, X, sample_weight, labels, *, check: ChunkCheck, reset: bool,
                rng: np.random.RandomState, moments: bool = True
                ) -> tuple[Source, ArraySource]:
    """Configure X as a source, scan it once, and return it with the initialisation sample.

    Parameters
    ----------
    X : Source, numpy.memmap, dask array or data frame
    sample_weight, labels : None, column name or array
        Row weights and partial labels (semi-supervised EM).
    check : ChunkCheck
        The estimator's per-chunk checks.
    reset : bool
        Record ``n_features_in_`` (False: check it, for a warm start).
    rng : numpy.random.RandomState
        Seeds the sample; left untouched when the sample is all the rows.

    Returns
    -------
    source : Source
        Configured (checks, weights, labels; labels dropped when no row is
        labelled) and scanned (``source.summary``).
    sample : ArraySource
        The sample in memory, with ``rows`` (indices of its rows in the data,
        None when it holds them all) and ``n_total`` (rows of the data).
    """
    source = as_source(X).configured(check=check, sample_weight=sample_weight, labels=labels)
    if not reset:
        record_features(estimator, source, reset)
    state = rng.get_state()
    seed = int(rng.randint(np.iinfo(np.int32).max))
    summary = source.scan(sample_rows(source.n_features), seed, moments=moments)
    if not summary.subsampled:
        rng.set_state(state)
    if summary.weight <= 0:
        raise ValueError(f"{source.label}: the sample weights sum to zero: at least one row "
                         "needs a positive weight")
    unobserved = np.flatnonzero(summary.observed == 0)
    if unobserved.size:
        names = source.feature_names
        column = repr(names[unobserved[0]]) if names else str(unobserved[0])
        raise ValueError(f"{source.label}: column {column} has no observed value (every "
                         "entry is missing); drop the column")
    if reset:  # only now that every chunk passed its checks
        record_features(estimator, source, reset)
    has_labels = labels is not None and summary.labelled > 0
    if labels is not None and not has_labels:
        source = source.configured(labels=None)
    sample = ArraySource(summary.X, summary.weights, max(1, summary.X.shape[0]),
                         labels=summary.labels if has_labels else None)
    sample.rows = summary.rows if summary.subsampled else None
    sample.n_total = source.n_samples
    return source, sample


def rows_of_sample(values: np.ndarray, source) -> np.ndarray:
    """Per-row ``values`` of all the data, restricted to the rows of an initialisation sample."""
    rows = getattr(source, "rows", None)
    return values if rows is None else values[rows]


def total_rows(source) -> int:
    """Rows of the data an initialisation sample (or the data themselves) stands for."""
    total = getattr(source, "n_total", None)
    return source.n_samples if total is None else total
