"""Starting values of an HMM fit: a state partition, the chain counted along it, the
emission family's M-step from it, and whatever the user gave in their place."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..init import kmeans_plusplus, nearest_partition, one_hot, random_rows
from .sources import SequenceSource

#: Starting partitions (``init_params``).
INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "segments")


def segments(lengths: np.ndarray, n_states: int) -> np.ndarray:
    """State labels cutting every sequence into ``n_states`` consecutive, equal parts.

    The usual start of a left-right model: state k covers the k-th fraction
    of every sequence.
    """
    labels = np.empty(int(lengths.sum()), dtype=np.intp)
    start = 0
    for T in lengths:
        labels[start:start + T] = np.arange(T) * n_states // T
        start += T
    return labels


def state_responsibilities(init_params: str, view: np.ndarray, source: SequenceSource,
                           n_states: int, rng: np.random.RandomState) -> np.ndarray:
    """Starting responsibilities (n, K) of the rows of ``source``.

    ``view`` is the data as initialisers see them (numeric, no missing
    values: the family's ``init_view``).
    """
    K = n_states
    w = source.sample_weight
    if init_params == "random":
        resp = rng.uniform(size=(source.n_samples, K))
        return resp / resp.sum(axis=1, keepdims=True)
    if init_params == "segments":
        return one_hot(segments(source.lengths, K), K)
    if init_params == "kmeans":
        from ..models.kmeans import KMeans

        labels = KMeans(n_clusters=K, n_init=1, random_state=rng,
                        chunk_size=source.chunk_size).fit(view, sample_weight=w).labels_
        return one_hot(labels, K)
    seeder = kmeans_plusplus if init_params == "k-means++" else random_rows
    seeds, _ = seeder(view, K, sample_weight=w, random_state=rng)
    return one_hot(nearest_partition(view, seeds, source.chunk_size)[0], K)


def chain_start(resp: np.ndarray, source: SequenceSource, start_allowed: np.ndarray,
                trans_allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start probabilities and transitions counted along the starting partition.

    Expected first states and transitions of ``resp`` (weighted by the
    sequences), plus one pseudo-count on every allowed entry (so that no
    allowed entry starts at an exact 0, which EM would never leave).
    """
    offsets = source.offsets
    first = offsets[:-1]
    start = source.sequence_weight @ resp[first]
    w = source.sample_weight
    inside = np.ones(max(source.n_samples - 1, 0), dtype=bool)
    inside[offsets[1:-1] - 1] = False  # pairs across sequence boundaries
    trans = (resp[:-1][inside] * w[:-1][inside, None]).T @ resp[1:][inside]
    startprob = np.where(start_allowed, start + 1.0, 0.0)
    transmat = np.where(trans_allowed, trans + 1.0, 0.0)
    return startprob / startprob.sum(), transmat / transmat.sum(axis=1, keepdims=True)


def merge_values(family, start: Any, given: dict) -> Any:
    """``start`` (family parameters) with the fields the user gave replaced.

    A dict value replaces fields of a nested family's parameters (the
    mixture family's ``components``).
    """
    values = {f.name: getattr(start, f.name) for f in dataclasses.fields(start)}
    for name, value in given.items():
        if isinstance(value, dict):
            values[name] = merge_values(family.family, values[name], value)
        else:
            values[name] = value
    return family.params_from_fields(**values)


def complete(family, given: dict) -> bool:
    """Whether ``given`` holds every field of the family's parameters (no start needed)."""
    for field in dataclasses.fields(family.params_type):
        value = given.get(field.name)
        if value is None:
            return False
        if isinstance(value, dict) and not complete(family.family, value):
            return False
    return True


def from_fields(family, given: dict) -> Any:
    """Family parameters entirely from user-given fields."""
    values = {}
    for name, value in given.items():
        values[name] = from_fields(family.family, value) if isinstance(value, dict) else value
    return family.params_from_fields(**values)
