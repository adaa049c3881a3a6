"""Shared test helpers: run one guarded call through the sync or the async driver."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from detectors.base import CheckContext, Finding, Segment
from guardrails.events import Event
from guardrails.guard import Guard
from guardrails.testing import FakeLLM

DRIVERS = ("sync", "async")


def run_events(
    guard: Guard,
    llm: FakeLLM,
    driver: str,
    context: Any = None,
    *,
    regenerate: bool = True,
    stop_after: int | None = None,
) -> tuple[list[Event], BaseException | None]:
    """All events of one call and the exception it ended with (if any).

    ``stop_after=N``: the consumer stops after N events (break / aclose).
    """
    events: list[Event] = []
    if driver == "sync":
        target = llm.stream if regenerate else None
        gen = guard.events(llm.stream(), context, regenerate=target)
        try:
            for event in gen:
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    gen.close()
                    break
        except Exception as exc:
            return events, exc
        return events, None

    async def main() -> BaseException | None:
        target = llm.astream if regenerate else None
        agen = guard.aevents(llm.astream(), context, regenerate=target)
        try:
            async for event in agen:
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    await agen.aclose()  # type: ignore[attr-defined]
                    break
        except Exception as exc:
            return exc
        return None

    return events, asyncio.run(main())


class Crashing:
    """A detector that raises on segments containing ``trigger``."""

    cpu_bound = False

    def __init__(self, name: str = "crashy", trigger: str = "boom") -> None:
        self.name = name
        self.trigger = trigger

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if self.trigger in segment.text:
            raise RuntimeError("detector bug")
        return []


class Slow:
    """A CPU-bound detector that takes ``seconds`` per segment (sleeps: releases the GIL)."""

    cpu_bound = True

    def __init__(self, seconds: float, name: str = "slow", trigger: str = "") -> None:
        self.name = name
        self.seconds = seconds
        self.trigger = trigger
        self.calls = 0
        self._lock = threading.Lock()

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        with self._lock:
            self.calls += 1
        if self.trigger in segment.text:
            time.sleep(self.seconds)
        return []


def kinds(events: Sequence[Event]) -> list[str]:
    from guardrails.events import ActionEvent

    return [e.action for e in events if isinstance(e, ActionEvent)]


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)
