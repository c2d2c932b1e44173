"""Sparse EM on Dask: every block keeps its rows' active lists where it runs.

Sparse EM (:mod:`emkit.em.sparse`) holds, per row, the active components and
their mass, refreshed at every full E-step and read by the partial ones.  On
a :class:`~emkit.sources.DaskSource` these lists never come to the client:

Full iteration
    One task per block, ``(block, parameters) -> (chunk results, active lists
    of the block's chunks)``.  The chunk results (objective, weight, active and
    frozen statistics, frozen objective) are added by the source's fixed tree
    over the blocks (:meth:`DaskSource.tree`) and only the root comes to the
    client; the lists are *persisted*: with a ``distributed.Client`` they stay
    in the memory of the worker that computed them (the client holds futures),
    with Dask's local schedulers in this process (where those schedulers
    compute).
Partial iteration
    One task per block, ``(block, its persisted lists, parameters) -> chunk
    results``, reduced by the same tree.  The scheduler runs it where the
    lists are (its largest input), so they do not move.

The frozen part (statistics and entropy of the pairs off the lists) is a sum
over rows, reduced like the statistics; the client keeps those sums
(:meth:`~emkit.em.sparse.SparseAssignment.finish`, unchanged).  The lists of a
full iteration are released when the next full iteration replaces them and
when the sparse phase ends.  Since they depend only on the block and the
parameters of their full iteration (a graph the scheduler keeps while the
lists are held), a worker lost in the sparse phase has its lists recomputed
by Dask like any lost block.  Within a block the chunks are those of the
in-memory fit with ``chunk_size`` rows, so the fit equals the in-memory sparse
fit whose chunks are the blocks, up to the order of the additions.
"""

from __future__ import annotations

import dataclasses
import operator
import uuid
from typing import Any

from ..sources._base import add_results
from ..sources.dask import DaskSource, _map_block, _Payload
from .sparse import SparseStep, _State, sparse_chunk_step


@dataclasses.dataclass
class _SparsePayload:
    """What travels to the workers once per iteration: the model, its parameters, the
    list length and the block layout (as :class:`emkit.sources.dask._Payload`)."""

    model: Any
    params: Any
    n_active: int
    layout: Any


def _block_step(payload: _SparsePayload, full: bool, held: dict | None, part: tuple):
    state = _State(payload.n_active)
    if held is not None:
        state.chunks = held
    step = sparse_chunk_step(payload.model, payload.params, state, full)
    result = _map_block(_Payload(step, add_results, payload.layout), True, *part)
    return result, state.chunks


def _full_block(payload: _SparsePayload, *part):
    """A full E-step of one block: (chunk results combined, the block's active lists)."""
    return _block_step(payload, True, None, part)


def _partial_block(payload: _SparsePayload, held: dict, *part):
    """A partial E-step of one block from its held active lists: the chunk results."""
    return _block_step(payload, False, held, part)[0]


def _identity(value):
    return value


class DaskSparseSource:
    """A :class:`~emkit.sources.DaskSource` as the sparse phase sees it.

    :meth:`map_reduce` of a sparse chunk step (:class:`~emkit.em.sparse.SparseStep`)
    runs it per block with the block's active lists held on the workers (see the
    module docstring); any other function, and every other attribute, is the
    source's.
    """

    def __init__(self, source: DaskSource):
        self.source = source
        #: Per block, the persisted active lists of the last full iteration.
        self.held: list | None = None

    def __getattr__(self, name: str):
        return getattr(self.source, name)

    def _persist(self, *collections) -> list:
        import dask

        client = self.source.client()
        if client is not None:
            return list(client.persist(list(collections)))
        return list(dask.persist(*collections))

    def map_reduce(self, function, combine=add_results, chunk_size: int | None = None):
        if not isinstance(function, SparseStep):
            return self.source.map_reduce(function, combine, chunk_size)
        import dask

        source = self.source
        payload = dask.delayed(_identity, pure=False)(
            _SparsePayload(function.model, function.params, function.state.n_active,
                           source._layout(chunk_size)),
            dask_key_name=f"emkit-sparse-parameters-{uuid.uuid4().hex}")
        parts = source._block_parts()
        if function.full:
            run = dask.delayed(_full_block, pure=False)
            blocks = [run(payload, *part) for part in parts]
            pick = dask.delayed(operator.getitem, pure=True)
            results = [pick(block, 0) for block in blocks]
            lists = [pick(block, 1) for block in blocks]
            root = source.tree(results, combine)
            if root is None:
                return None
            self.held = None  # the previous lists are released with their futures
            root, *self.held = self._persist(root, *lists)
        else:
            if self.held is None or len(self.held) != len(parts):
                raise RuntimeError("sparse EM on Dask: a partial E-step without the active "
                                   "lists of a full one")
            run = dask.delayed(_partial_block, pure=False)
            root = source.tree([run(payload, held, *part)
                                for held, part in zip(self.held, parts, strict=True)],
                               combine)
            if root is None:
                return None
        return source._compute(root)[0]

    def release(self) -> None:
        """Forget the held active lists (the workers free them)."""
        self.held = None
