"""How a local source's chunks are computed: an ordered thread map and a read-ahead thread.

The E-step of every chunk is independent, so chunks are handed to a pool of
``emkit.get_config()["n_threads"]`` threads (BLAS single-threaded inside each);
results come back in chunk order, so whatever adds them up does so in a fixed
order and the result does not depend on the number of threads.  Sources that
read from files run their reader (parsing, conversion, validation) in one more
thread, a few chunks ahead, so that I/O overlaps the computation.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def thread_pool(n_threads: int) -> ThreadPoolExecutor:
    """A long-lived pool per thread count (creating one per E-step costs more than it saves)."""
    with _POOL_LOCK:
        if n_threads not in _POOLS:
            _POOLS[n_threads] = ThreadPoolExecutor(max_workers=n_threads,
                                                   thread_name_prefix="emkit-estep")
        return _POOLS[n_threads]


def ordered_map(function: Callable, items: Iterable, n_threads: int,
                ahead: int | None = None) -> Iterator:
    """``map(function, items)`` on a thread pool, in order, at most ``ahead`` items
    submitted (default 2 x n_threads).

    A single chunk (small data) runs inline, without the pool.
    """
    ahead = 2 * n_threads if ahead is None else max(ahead, n_threads)
    items = iter(items)
    first = next(items, None)
    second = next(items, None) if first is not None else None
    if first is None:
        return
    if n_threads <= 1 or second is None:
        yield function(first)
        if second is not None:
            yield function(second)
            yield from map(function, items)
        return
    pool = thread_pool(n_threads)
    pending: deque = deque([pool.submit(function, first), pool.submit(function, second)])
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # an error (or an abandoned generator): do not leave work queued
        for future in pending:
            future.cancel()


_CONTROLLER: list[ThreadpoolController] = []


def blas_controller() -> ThreadpoolController:
    """One cached threadpoolctl controller.

    ``threadpool_limits(...)`` rescans the process's loaded libraries on every
    call (a few ms, more than a whole E-step on small data); the controller scans
    once, on the first E-step, when numpy's and scipy's BLAS are loaded.
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def read_ahead(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    The producer's exceptions are re-raised in the consumer, at the position
    where they happened.  When the consumer stops early (an error in the
    E-step, a generator closed), the producer is told to stop and joined.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # forwarded to the consumer
            put(_Failure(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="emkit-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def _blas_libraries() -> list:
    """The BLAS libraries of the cached controller (threadpoolctl's LibController objects)."""
    if not _BLAS:
        _BLAS.append([lib for lib in blas_controller().lib_controllers
                      if lib.user_api == "blas"])
    return _BLAS[0]


_BLAS: list[list] = []


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS limited to one thread inside the block, as
    ``blas_controller().limit(limits=1, user_api="blas")`` does, at a fraction of its cost.

    threadpoolctl's limiter collects a description of every library on entry
    (about 0.1 ms, a tenth of a whole EM iteration on small data); this only
    reads and sets the thread counts, and touches nothing already at one.
    """
    changed = []
    for lib in _blas_libraries():
        threads = lib.get_num_threads()
        if threads is not None and threads != 1:
            lib.set_num_threads(1)
            changed.append((lib, threads))
    try:
        yield
    finally:
        for lib, threads in changed:
            lib.set_num_threads(threads)
