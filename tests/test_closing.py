"""Closing the consumer early closes the upstream and leaves no thread or task behind."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator

from detectors.pii import PIIDetector
from guardrails import Guard
from guardrails.testing import FakeLLM

TEXT = "One sentence here. Another sentence. A third one. And a fourth. Fifth."


def upstream_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "guardrails-upstream"}


def test_break_closes_the_upstream_and_joins_its_thread() -> None:
    guard = Guard([PIIDetector()])
    llm = FakeLLM(TEXT, chunk=3, delay_s=0.002)
    before = upstream_threads()  # other tests may leave a hung upstream behind
    for _ in guard.stream(llm.stream()):
        break
    assert llm.closed == 1
    assert not upstream_threads() - before


def test_generator_close_without_iterating_further() -> None:
    guard = Guard([PIIDetector()])
    llm = FakeLLM(TEXT, chunk=3)
    before = upstream_threads()
    stream = guard.stream(llm.stream())
    assert next(stream) == "One sentence here."
    stream.close()
    assert llm.closed == 1
    assert not upstream_threads() - before


def test_task_cancellation_closes_the_upstream_and_leaves_no_task() -> None:
    guard = Guard([PIIDetector()])
    llm = FakeLLM(TEXT, chunk=3, delay_s=0.01)
    received: list[str] = []

    async def consume() -> None:
        async for delta in guard.astream(llm.astream()):
            received.append(delta)  # noqa: PERF401 (read while the task runs)

    async def main() -> int:
        task = asyncio.create_task(consume())
        while not received:
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return len(asyncio.all_tasks()) - 1  # minus main itself

    assert asyncio.run(main()) == 0
    assert received
    assert llm.closed == 1


def test_aclose_closes_the_upstream() -> None:
    guard = Guard([PIIDetector()])
    llm = FakeLLM(TEXT, chunk=3)

    async def main() -> str:
        stream = guard.astream(llm.astream())
        assert isinstance(stream, AsyncIterator)
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        return first

    assert asyncio.run(main()) == "One sentence here."
    assert llm.closed == 1


def test_the_upstream_sees_the_callers_context_variables() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
    seen: list[str] = []

    def upstream() -> Iterator[str]:
        seen.append(request_id.get())
        yield "Hello."

    request_id.set("req-42")
    assert "".join(Guard([PIIDetector()]).stream(upstream())) == "Hello."
    assert seen == ["req-42"]
