"""MicroBatcher: batching across threads and asyncio tasks, caching, errors, shutdown."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Sequence

import pytest

from detectors.batcher import BatcherStats, MicroBatcher, default_size, pair_key


class Recorder:
    """A fake model: result of ``x`` is ``x.upper()``; records every batch it gets."""

    def __init__(
        self,
        delay_s: float = 0.0,
        fail_on: str | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.batches: list[list[str]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, items: list[str]) -> list[str]:
        with self.lock:
            self.batches.append(list(items))
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"cannot score {self.fail_on!r}")
        return [item.upper() for item in items]

    @property
    def scored(self) -> list[str]:
        return [item for batch in self.batches for item in batch]


def run_threads(n: int, target: object) -> list[object]:
    """Run ``target(i)`` in n threads released together; their results by index."""
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)  # type: ignore[operator]
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_threads_get_their_own_results_in_order() -> None:
    model = Recorder(delay_s=0.002)
    with MicroBatcher(model, max_batch=16, max_wait_ms=20) as batcher:
        results = run_threads(24, lambda i: batcher.submit([f"t{i}-{j}" for j in range(4, -1, -1)]))
        for i, got in enumerate(results):
            assert got == [f"T{i}-{j}" for j in range(4, -1, -1)]
        assert sorted(model.scored) == sorted(f"t{i}-{j}" for i in range(24) for j in range(5))
        assert len(model.batches) < 24 * 5 / 2
        stats = batcher.stats
        assert (stats.items, stats.misses, stats.hits) == (120, 120, 0)
        assert stats.batches == len(model.batches) and stats.largest_batch <= 16


def test_asyncio_tasks_get_their_own_results_without_blocking_the_loop() -> None:
    model = Recorder(delay_s=0.02)
    batcher: MicroBatcher[str, str] = MicroBatcher(model, max_batch=64, max_wait_ms=5)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.002)

    async def main() -> list[list[str]]:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        out = await asyncio.gather(*(batcher.asubmit([f"a{i}", f"b{i}"]) for i in range(40)))
        stop.set()
        await tick
        return out

    results = asyncio.run(main())
    assert results == [[f"A{i}", f"B{i}"] for i in range(40)]
    assert len(model.batches) < 20
    assert ticks >= 3  # the loop kept running while the batch was scored
    batcher.close()


def test_threads_and_event_loops_share_batches() -> None:
    model = Recorder(delay_s=0.005)
    with MicroBatcher(model, max_batch=32, max_wait_ms=50) as batcher:

        def caller(i: int) -> list[str]:
            if i % 2:
                return batcher.submit([f"s{i}"])

            async def many() -> list[list[str]]:
                return await asyncio.gather(*(batcher.asubmit([f"c{i}-{k}"]) for k in range(3)))

            return [row[0] for row in asyncio.run(many())]

        results = run_threads(8, caller)
    for i, got in enumerate(results):
        assert got == ([f"S{i}"] if i % 2 else [f"C{i}-{k}" for k in range(3)])
    assert len(model.batches) < 16


def test_lone_request_waits_about_max_wait() -> None:
    with MicroBatcher(Recorder(), max_wait_ms=5) as batcher:
        start = time.monotonic()
        assert batcher.submit(["x"]) == ["X"]
        assert time.monotonic() - start < 0.5

        async def one() -> list[str]:
            return await batcher.asubmit(["y"])

        start = time.monotonic()
        assert asyncio.run(one()) == ["Y"]
        assert time.monotonic() - start < 0.5


def test_full_batch_runs_without_waiting() -> None:
    with MicroBatcher(Recorder(), max_batch=4, max_wait_ms=60_000) as batcher:
        start = time.monotonic()
        assert batcher.submit(["a", "b", "c", "d"]) == ["A", "B", "C", "D"]
        assert time.monotonic() - start < 0.5


def test_max_batch_respected_and_batches_sorted_by_size() -> None:
    model = Recorder()
    items = ["x" * (1 + (i * 7) % 13) + str(i) for i in range(50)]
    with MicroBatcher(model, max_batch=8, max_wait_ms=1) as batcher:
        assert batcher.submit(items) == [item.upper() for item in items]
        assert batcher.stats.largest_batch == 8
    assert all(len(batch) <= 8 for batch in model.batches)
    assert sorted(model.scored) == sorted(items)
    for batch in model.batches:
        assert [len(x) for x in batch] == sorted(len(x) for x in batch)


def test_cache_hits_and_duplicates_scored_once() -> None:
    model = Recorder()
    with MicroBatcher(model, max_wait_ms=1, cache_size=3) as batcher:
        assert batcher.submit(["a", "b", "a", "a"]) == ["A", "B", "A", "A"]
        assert sorted(model.scored) == ["a", "b"]
        assert batcher.submit(["b", "c", "a"]) == ["B", "C", "A"]
        assert sorted(model.scored) == ["a", "b", "c"]
        assert batcher.stats == BatcherStats(
            hits=2, misses=5, deduplicated=2, batches=2, items=3, largest_batch=2
        )
        batcher.submit(["d"])  # evicts the least recently used: b
        batcher.submit(["b", "a"])
        assert model.scored.count("b") == 2 and model.scored.count("a") == 1


def test_concurrent_duplicates_are_scored_once() -> None:
    gate = threading.Event()
    model = Recorder(gate=gate)
    with MicroBatcher(model, max_wait_ms=1, cache_size=0) as batcher:

        def release_when_all_queued() -> None:
            deadline = time.monotonic() + 10
            while batcher.stats.misses < 20 and time.monotonic() < deadline:
                time.sleep(0.001)
            gate.set()

        releaser = threading.Thread(target=release_when_all_queued)
        releaser.start()
        results = run_threads(10, lambda i: batcher.submit(["same", f"own{i}"]))
        releaser.join()
        assert all(r == ["SAME", f"OWN{i}"] for i, r in enumerate(results))
        assert model.scored.count("same") == 1
        assert batcher.stats.hits == 0  # no cache: sharing, not caching


def test_custom_key_and_size() -> None:
    model = Recorder()
    with MicroBatcher(model, max_wait_ms=1, key=str.lower, size_of=lambda s: -len(s)) as batcher:
        assert batcher.submit(["Ab", "aB", "abc"]) == ["AB", "AB", "ABC"]
    assert model.batches == [["abc", "Ab"]]


def test_exception_reaches_every_caller_and_worker_survives() -> None:
    model = Recorder(fail_on="bad")
    with MicroBatcher(model, max_batch=4, max_wait_ms=60_000, cache_size=0) as batcher:
        items = ["good", "bad", "fine", "ok"]
        results = run_threads(4, lambda i: batcher.submit([items[i]]))
        assert len(model.batches) == 1
        assert all(isinstance(r, ValueError) and "cannot score 'bad'" in str(r) for r in results)
        assert batcher.submit(["w", "x", "y", "z"]) == ["W", "X", "Y", "Z"]

        async def failing() -> list[str]:
            return await batcher.asubmit(["bad", "p", "q", "r"])

        with pytest.raises(ValueError, match="cannot score"):
            asyncio.run(failing())
        assert batcher.submit(["p", "q", "r", "s"]) == ["P", "Q", "R", "S"]


def test_wrong_result_count_is_an_error() -> None:
    batcher: MicroBatcher[str, str] = MicroBatcher(lambda items: items[:-1], max_wait_ms=1)
    with batcher, pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        batcher.submit(["a", "b"])


def worker_of(batcher: MicroBatcher[str, str]) -> threading.Thread | None:
    return batcher._core.thread


def test_close_is_idempotent_and_final() -> None:
    batcher: MicroBatcher[str, str] = MicroBatcher(Recorder(), max_wait_ms=1)
    assert worker_of(batcher) is None  # started lazily
    assert batcher.submit([]) == []
    assert worker_of(batcher) is None
    assert batcher.submit(["a"]) == ["A"]
    thread = worker_of(batcher)
    assert thread is not None and thread.daemon and thread.is_alive()
    batcher.close()
    batcher.close()
    assert batcher.closed and not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(["a"])
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(batcher.asubmit(["a"]))


def test_each_batcher_owns_its_thread_and_dropping_it_stops_the_thread() -> None:
    first: MicroBatcher[str, str] = MicroBatcher(Recorder(), max_wait_ms=1)
    second: MicroBatcher[str, str] = MicroBatcher(Recorder(), max_wait_ms=1)
    first.submit(["a"])
    second.submit(["a"])
    thread = worker_of(first)
    assert thread is not None and thread is not worker_of(second)
    del first
    gc.collect()
    thread.join(2)
    assert not thread.is_alive()
    second.close()


def test_submit_from_inside_run_is_refused() -> None:
    holder: list[MicroBatcher[str, str]] = []

    def reentrant(items: list[str]) -> Sequence[str]:
        return holder[0].submit(items)

    with MicroBatcher(reentrant, max_wait_ms=1) as batcher:
        holder.append(batcher)
        with pytest.raises(RuntimeError, match="deadlock"):
            batcher.submit(["a"])


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(Recorder(), max_wait_ms=-1)
    with pytest.raises(ValueError, match="cache_size"):
        MicroBatcher(Recorder(), cache_size=-5)


def test_pair_key_and_default_size() -> None:
    key = pair_key("nli", "ab", "c")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == pair_key("nli", "ab", "c")
    assert key != pair_key("nli", "a", "bc")
    assert key != pair_key("nl", "iab", "c")
    assert key != pair_key("other", "ab", "c")
    assert default_size(("premise", "hyp")) == 10
    assert default_size("abc") == 3
    assert default_size(42) == 0
