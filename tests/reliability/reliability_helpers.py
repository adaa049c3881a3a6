"""Shared by the reliability tests: one driver call, fault-injecting pieces, audits.

Not a conftest: the tests import it by name (``tests/reliability`` is on the path
while they run, as every test directory is).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from detectors.base import CheckContext, Finding, Segment
from detectors.pii import PIIDetector
from guardrails.events import Event, TextDelta
from guardrails.guard import Guard, StreamSettings
from policies import Correct, Policy, Rule, When

UPSTREAM_THREAD = "guardrails-upstream"


def upstream_threads() -> set[threading.Thread]:
    """Live threads that pull an upstream for a sync stream."""
    return {t for t in threading.enumerate() if t.name == UPSTREAM_THREAD and t.is_alive()}


def new_upstream_threads(
    before: set[threading.Thread], wait_s: float = 2.0
) -> set[threading.Thread]:
    """Upstream threads started since ``before`` that are still alive after ``wait_s`` at most."""
    deadline = time.monotonic() + wait_s
    while (left := upstream_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


class Recorder:
    """A detector that notes every span it has finished checking (thread-safe)."""

    name = "recorder"
    cpu_bound = False

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []  # sorted
        self._lock = threading.Lock()

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        with self._lock:
            bisect.insort(self.spans, (segment.start, segment.end))
        return []

    def covers(self, start: int, end: int) -> bool:
        """Whether checked spans cover ``start..end`` without a gap."""
        pos = start
        with self._lock:
            while pos < end:
                i = bisect.bisect_right(self.spans, (pos, math.inf)) - 1
                if i < 0 or self.spans[i][1] <= pos:
                    return False
                pos = self.spans[i][1]
        return True


class ReleaseAudit:
    """An ``on_event`` hook: each released upstream range was checked before its release."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.unchecked: list[tuple[int, int]] = []

    def __call__(self, event: Event) -> None:
        source = event.source if isinstance(event, TextDelta) else None
        if source is not None and not self.recorder.covers(*source):
            self.unchecked.append(source)


def pii_guard(
    mode: str = "hold",
    on_error: str = "fail_open",
    *extra: Any,
    stall_timeout_s: float | None = None,
    deadline_ms: float = 150.0,
) -> tuple[Guard, Recorder]:
    """PII redaction plus ``extra`` detectors, and a recorder for :class:`ReleaseAudit`."""
    recorder = Recorder()
    guard = Guard(
        [PIIDetector(), recorder, *extra],
        Policy([Rule(When("pii"), Correct("redact"))], on_error=on_error),  # type: ignore[arg-type]
        settings=StreamSettings(
            mode=mode,  # type: ignore[arg-type]
            deadline_ms=deadline_ms,
            stall_timeout_s=stall_timeout_s,
        ),
    )
    return guard, recorder


def drive(
    guard: Guard,
    upstream: Any,
    driver: str,
    *,
    context: Any = None,
    on_event: Any = None,
) -> tuple[list[Event], BaseException | None]:
    """All events of one call through ``driver`` and the exception it ended with."""
    events: list[Event] = []
    if driver == "sync":
        try:
            events.extend(guard.events(upstream, context, on_event=on_event))
        except Exception as exc:
            return events, exc
        return events, None

    async def main() -> BaseException | None:
        try:
            async for event in guard.aevents(upstream, context, on_event=on_event):
                events.append(event)  # noqa: PERF401 (kept when the stream raises)
        except Exception as exc:
            return exc
        return None

    return events, asyncio.run(main())


class Upstream:
    """A scripted upstream that can fail, hang or yield anything, and says if it was closed.

    ``items`` are yielded in order; an ``Exception`` instance is raised instead of
    yielded; the marker :data:`HANG` blocks until :meth:`release` (sync) or for
    ever (async, until cancelled).
    """

    def __init__(self, items: Sequence[object]) -> None:
        self.items = list(items)
        self.closed = False
        self.ended = False
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    def sync(self) -> Iterator[object]:
        try:
            for item in self.items:
                if item is HANG:
                    self._release.wait(10.0)
                    continue
                if isinstance(item, Exception):
                    raise item
                yield item
            self.ended = True
        finally:
            self.closed = True

    async def aio(self) -> AsyncIterator[object]:
        try:
            for item in self.items:
                if item is HANG:
                    await asyncio.Event().wait()
                if isinstance(item, Exception):
                    raise item
                await asyncio.sleep(0)
                yield item
            self.ended = True
        finally:
            self.closed = True

    def of(self, driver: str) -> Any:
        return self.sync() if driver == "sync" else self.aio()


HANG = object()
"""An :class:`Upstream` item: stop sending, without ending."""
