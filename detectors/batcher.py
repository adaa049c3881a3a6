"""Micro-batching: many concurrent callers, one model call.

A model scores a batch of 32 pairs in little more time than one pair, but a
guard checks one sentence at a time, from many streams at once.
:class:`MicroBatcher` sits between them::

    batcher = MicroBatcher(encoder.predict, max_batch=32, max_wait_ms=3.0,
                           key=lambda pair: pair_key(encoder.name, *pair))
    probs = batcher.submit([(premise, hypothesis), ...])        # from any thread
    probs = await batcher.asubmit([(premise, hypothesis), ...])  # from any event loop

Items submitted by concurrent callers (threads and asyncio tasks alike) are
gathered by one daemon worker thread, started on the first submit. It waits at
most ``max_wait_ms`` after the oldest pending item (less once ``max_batch``
items are pending), sorts the batch by ``size_of`` so that similar lengths are
padded together, calls ``run`` once and hands each caller its own results, in
the order it gave its items. Results are kept in an LRU cache keyed by
``key(item)``; an item equal (by key) to one already pending or running is
scored once and shared. An exception from ``run`` is raised to every caller of
that batch; the worker carries on with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence, Sized
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar, cast

__all__ = ["BatcherStats", "MicroBatcher", "default_size", "pair_key"]

K = TypeVar("K")
V = TypeVar("V")


def pair_key(model_name: str, premise: str, hypothesis: str) -> str:
    """Cache key of a cross-encoder pair: sha256 hex of the three, each length-prefixed.

    The prefixes keep ``("ab", "c")`` and ``("a", "bc")`` apart.
    """
    digest = hashlib.sha256()
    for part in (model_name, premise, hypothesis):
        data = part.encode("utf-8", "surrogatepass")  # a lone surrogate is text too
        digest.update(f"{len(data)}:".encode("ascii"))
        digest.update(data)
    return digest.hexdigest()


def default_size(item: object) -> int:
    """Length of a string, total length of a tuple/list of them (a pair), else ``len`` or 0."""
    if isinstance(item, (str, bytes)):
        return len(item)
    if isinstance(item, (tuple, list)):
        return sum(default_size(part) for part in item)
    if isinstance(item, Sized):
        return len(item)
    return 0


@dataclass(frozen=True)
class BatcherStats:
    """Counters since the batcher was made.

    ``hits``: items answered from the cache; ``misses``: items that were not
    (``deduplicated`` of them shared a pending or running item with the same
    key); ``batches``: calls to ``run``; ``items``: items passed to ``run``;
    ``largest_batch``: the most items in one call.
    """

    hits: int = 0
    misses: int = 0
    deduplicated: int = 0
    batches: int = 0
    items: int = 0
    largest_batch: int = 0


class _Job(Generic[V]):
    """One submit call: its result slots and how to wake its caller."""

    __slots__ = ("done", "error", "notify", "outstanding", "results")

    def __init__(self, n: int, notify: Callable[[], None]) -> None:
        self.results: list[Any] = [None] * n
        self.outstanding = 0
        self.error: BaseException | None = None
        self.done = False
        self.notify = notify

    def deliver(self, index: int, value: Any, error: BaseException | None) -> None:
        """Fill one slot (or fail the job); wake the caller when complete. Lock held."""
        if self.done:
            return
        if error is not None:
            self.error = error
        else:
            self.results[index] = value
            self.outstanding -= 1
        if error is not None or self.outstanding == 0:
            self.done = True
            self.notify()


class _Entry:
    """One distinct item (by key) waiting to be scored, and who waits for it."""

    __slots__ = ("item", "key", "since", "waiters")

    def __init__(self, item: Any, key: Hashable) -> None:
        self.item = item
        self.key = key
        self.since = time.monotonic()
        self.waiters: list[tuple[_Job[Any], int]] = []


class _Core(Generic[K, V]):
    """The batcher's state and worker; kept apart so a dropped batcher can be collected."""

    def __init__(
        self,
        run: Callable[[list[K]], Sequence[V]],
        max_batch: int,
        max_wait_s: float,
        cache_size: int,
        size_of: Callable[[K], int],
        key: Callable[[K], Hashable],
    ) -> None:
        self.run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.cache_size = cache_size
        self.size_of = size_of
        self.key = key
        self.cv = threading.Condition(threading.Lock())
        self.pending: dict[Hashable, _Entry] = {}
        self.running: dict[Hashable, _Entry] = {}
        self.cache: OrderedDict[Hashable, V] = OrderedDict()
        self.closed = False
        self.thread: threading.Thread | None = None
        self.stats = BatcherStats()

    def register(self, items: Sequence[K], job: _Job[V]) -> bool:
        """Queue a job's items; True when the cache answered all of them already."""
        if self.thread is not None and threading.current_thread() is self.thread:
            raise RuntimeError("MicroBatcher: submit() from inside run() would deadlock")
        keys = [self.key(item) for item in items]
        hits = misses = shared = 0
        with self.cv:
            if self.closed:
                raise RuntimeError("MicroBatcher is closed")
            wake = False
            for index, (item, k) in enumerate(zip(items, keys, strict=True)):
                if k in self.cache:
                    self.cache.move_to_end(k)
                    job.results[index] = self.cache[k]
                    hits += 1
                    continue
                misses += 1
                entry = self.pending.get(k) or self.running.get(k)
                if entry is None:
                    entry = self.pending[k] = _Entry(item, k)
                    # The worker sleeps until work arrives or the oldest item's deadline;
                    # it only needs waking for the first item or a full batch.
                    wake = wake or len(self.pending) in (1, self.max_batch)
                else:
                    shared += 1
                entry.waiters.append((job, index))
                job.outstanding += 1
            s = self.stats
            self.stats = BatcherStats(
                s.hits + hits,
                s.misses + misses,
                s.deduplicated + shared,
                s.batches,
                s.items,
                s.largest_batch,
            )
            if job.outstanding == 0:
                return True
            if self.thread is None:
                self.thread = threading.Thread(target=self.loop, name="MicroBatcher", daemon=True)
                self.thread.start()
            elif wake:
                self.cv.notify()
            return False

    def loop(self) -> None:
        """The worker: gather a batch, run it, deliver, repeat until closed and drained."""
        while True:
            with self.cv:
                while not self.pending and not self.closed:
                    self.cv.wait()
                if not self.pending:
                    return
                oldest = next(iter(self.pending.values())).since
                while len(self.pending) < self.max_batch and not self.closed:
                    remaining = oldest + self.max_wait_s - time.monotonic()
                    if remaining <= 0:
                        break
                    self.cv.wait(remaining)
                batch = [self.pending.pop(k) for k in list(islice(self.pending, self.max_batch))]
                for entry in batch:
                    self.running[entry.key] = entry
            self.process(batch)

    def process(self, batch: list[_Entry]) -> None:
        """Run one batch (outside the lock) and route results or the error to the waiters."""
        results: list[V] = []
        error: BaseException | None = None
        try:
            batch.sort(key=lambda entry: self.size_of(entry.item))
            results = list(self.run([entry.item for entry in batch]))
            if len(results) != len(batch):
                raise RuntimeError(
                    f"MicroBatcher: run() returned {len(results)} results for {len(batch)} items"
                )
        except BaseException as exc:  # every caller must hear of it, whatever it is
            error = exc
        with self.cv:
            s = self.stats
            self.stats = BatcherStats(
                s.hits,
                s.misses,
                s.deduplicated,
                s.batches + 1,
                s.items + len(batch),
                max(s.largest_batch, len(batch)),
            )
            for i, entry in enumerate(batch):
                self.running.pop(entry.key, None)
                value = None if error is not None else results[i]
                if error is None and self.cache_size > 0:
                    self.cache[entry.key] = cast(V, value)
                    if len(self.cache) > self.cache_size:
                        self.cache.popitem(last=False)
                for job, index in entry.waiters:
                    job.deliver(index, value, error)

    def close(self, join: bool = True) -> None:
        """Stop taking work; the worker finishes what is pending, then exits."""
        with self.cv:
            self.closed = True
            self.cv.notify_all()
            thread = self.thread
        if join and thread is not None and thread is not threading.current_thread():
            thread.join()


class MicroBatcher(Generic[K, V]):
    """Gather items from concurrent callers into batches for one ``run`` call.

    ``run(items) -> results`` gets up to ``max_batch`` distinct items, sorted by
    ``size_of`` (default: :func:`default_size`), and must return one result per
    item, in order. ``key(item)`` (default: the item itself) identifies an item
    for the LRU cache of ``cache_size`` results (0: no cache) and for sharing
    duplicates. Thread-safe; usable from any number of threads and event loops.
    Use as a context manager or call :meth:`close` when done.
    """

    def __init__(
        self,
        run: Callable[[list[K]], Sequence[V]],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 3.0,
        cache_size: int = 4096,
        size_of: Callable[[K], int] = default_size,
        key: Callable[[K], Hashable] | None = None,
    ) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
        if not max_wait_ms >= 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms!r}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an integer >= 0, got {cache_size!r}")
        self.max_batch = max_batch
        self.max_wait_ms = float(max_wait_ms)
        self.cache_size = cache_size
        self._core: _Core[K, V] = _Core(
            run,
            max_batch,
            max_wait_ms / 1000.0,
            cache_size,
            size_of,
            key if key is not None else _identity,
        )
        # A batcher dropped without close() still stops its worker (without waiting).
        self._finalizer = weakref.finalize(self, self._core.close, False)
        self._finalizer.atexit = False

    @property
    def stats(self) -> BatcherStats:
        """A snapshot of the counters."""
        return self._core.stats

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._core.closed

    def submit(self, items: Sequence[K]) -> list[V]:
        """Results for ``items``, in their order; blocks until their batches ran.

        Raises whatever ``run`` raised for a batch holding one of them, and
        RuntimeError after :meth:`close`.
        """
        items = list(items)
        event = threading.Event()
        job: _Job[V] = _Job(len(items), event.set)
        if not self._core.register(items, job):
            event.wait()
        if job.error is not None:
            raise job.error
        return cast("list[V]", job.results)

    async def asubmit(self, items: Sequence[K]) -> list[V]:
        """:meth:`submit` for coroutines: awaits the batch without blocking the loop."""
        items = list(items)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def notify() -> None:
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

        job: _Job[V] = _Job(len(items), notify)
        if not self._core.register(items, job):
            await future
        if job.error is not None:
            raise job.error
        return cast("list[V]", job.results)

    def close(self) -> None:
        """Stop the worker once pending items ran; later submits raise. Idempotent."""
        self._finalizer.detach()
        self._core.close()

    def __enter__(self) -> MicroBatcher[K, V]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _identity(item: Any) -> Hashable:
    return cast(Hashable, item)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
