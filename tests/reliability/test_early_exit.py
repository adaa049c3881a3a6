"""The consumer stops, or its task is cancelled, at every point of the stream.

Whatever the point (after event 1, 2, ... n, Done included), the upstream
generator is closed (or had ended), no ``guardrails-upstream`` thread is left
running and no asyncio task is left behind. The guard has a check on its thread
pool, so jobs are in flight at some of those points.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from conftest import Slow
from reliability_helpers import new_upstream_threads, upstream_threads

from detectors.pii import PIIDetector
from guardrails.events import Event
from guardrails.guard import Guard, StreamSettings
from guardrails.testing import FakeLLM
from policies import Correct, Policy, Rule, When

TEXT = "One here. Mail ann@example.com now. Three is here. Call 555-123-4567 today. Five. Six"


def make_guard(mode: str) -> Guard:
    return Guard(
        [PIIDetector(), Slow(0.0, name="pooled")],  # Slow is cpu-bound: it runs on the pool
        Policy([Rule(When("pii"), Correct("redact"))]),
        settings=StreamSettings(mode=mode),  # type: ignore[arg-type]
    )


def _count(mode: str) -> int:
    with make_guard(mode) as guard:
        return len(list(guard.events(FakeLLM(TEXT, chunk=4).stream())))


COUNTS = {mode: _count(mode) for mode in ("hold", "pass")}
POINTS = [(mode, n) for mode, count in COUNTS.items() for n in range(1, count + 1)]
TEXT_DELTAS = 7  # more than stream() yields for TEXT: the last points run it to the end


def _closed(llm: FakeLLM) -> bool:
    """The upstream generator's ``finally`` ran: closed early, or ran to its end."""
    return llm.closed + llm.finished == 1


@pytest.mark.parametrize(("mode", "stop_at"), POINTS)
def test_sync_consumer_breaks_after_each_event(mode: str, stop_at: int) -> None:
    guard = make_guard(mode)
    llm = FakeLLM(TEXT, chunk=4, delay_s=0.001)
    before = upstream_threads()
    seen = 0
    for _ in guard.events(llm.stream()):
        seen += 1
        if seen == stop_at:
            break
    assert seen == stop_at
    assert _closed(llm)
    assert not new_upstream_threads(before)


@pytest.mark.parametrize("stop_at", range(1, TEXT_DELTAS + 1))
def test_sync_text_stream_closed_after_each_delta(stop_at: int) -> None:
    guard = make_guard("hold")
    llm = FakeLLM(TEXT, chunk=4, delay_s=0.001)
    before = upstream_threads()
    stream = guard.stream(llm.stream())
    for seen, _ in enumerate(stream, 1):
        if seen == stop_at:
            break
    stream.close()
    assert _closed(llm)
    assert not new_upstream_threads(before)


async def _settle() -> int:
    """Let finalizers run; the number of tasks left besides the caller."""
    for _ in range(5):
        await asyncio.sleep(0)
    return len(asyncio.all_tasks()) - 1


@pytest.mark.parametrize(("mode", "stop_at"), POINTS)
def test_async_consumer_acloses_after_each_event(mode: str, stop_at: int) -> None:
    guard = make_guard(mode)
    llm = FakeLLM(TEXT, chunk=4)

    async def main() -> int:
        events = guard.aevents(llm.astream())
        seen = 0
        async for _ in events:
            seen += 1
            if seen == stop_at:
                break
        await events.aclose()  # type: ignore[attr-defined]
        assert seen == stop_at
        return await _settle()

    assert asyncio.run(main()) == 0
    assert _closed(llm)


@pytest.mark.parametrize("where", ["in the consumer", "in the guard"])
@pytest.mark.parametrize(("mode", "stop_at"), POINTS)
def test_task_cancelled_after_each_event(mode: str, stop_at: int, where: str) -> None:
    """Cancelled while the consumer awaits something of its own, or while the guard waits."""
    guard = make_guard(mode)
    llm = FakeLLM(TEXT, chunk=4)
    got: list[Event] = []

    async def consume() -> None:
        async for event in guard.aevents(llm.astream()):
            got.append(event)
            if len(got) == stop_at:
                if where == "in the consumer":
                    await asyncio.Event().wait()
                else:  # delivered at the next await, wherever the stream is then
                    task = asyncio.current_task()
                    assert task is not None
                    task.cancel()

    async def main() -> int:
        task = asyncio.create_task(consume())
        while len(got) < stop_at and not task.done():
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return await _settle()

    assert asyncio.run(main()) == 0
    assert len(got) >= stop_at
    assert _closed(llm)


@pytest.mark.parametrize("stop_at", range(1, TEXT_DELTAS + 1))
def test_astream_cancelled_after_each_delta(stop_at: int) -> None:
    guard = make_guard("hold")
    llm = FakeLLM(TEXT, chunk=4)

    async def consume(stream: AsyncIterator[str]) -> None:
        seen = 0
        async for _ in stream:
            seen += 1
            if seen == stop_at:
                await asyncio.Event().wait()

    async def main() -> int:
        task = asyncio.create_task(consume(guard.astream(llm.astream())))
        for _ in range(200):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return await _settle()

    assert asyncio.run(main()) == 0
    assert _closed(llm)
