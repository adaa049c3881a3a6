"""One detector run on one segment: the unit of work the stream drivers schedule."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from detectors.base import CheckContext, Detector, Finding, Segment

__all__ = ["Job", "Outcome"]


@dataclass(slots=True)
class Outcome:
    """Findings, or why there are none (``error`` set: the detector failed)."""

    findings: list[Finding]
    error: str | None = None
    timed_out: bool = False


@dataclass(eq=False, slots=True)
class Job:
    detector: Detector
    segment: Segment
    ctx: CheckContext
    deadline_s: float
    slot: int  # which segment slot of the StreamGuard
    index: int  # which detector of the guard, for a stable findings order
    started: float | None = None  # monotonic time the detector began; queue time is free

    @property
    def due(self) -> float | None:
        """When the deadline passes (None while the job waits for a worker)."""
        return None if self.started is None else self.started + self.deadline_s

    @property
    def cpu_bound(self) -> bool:
        return bool(getattr(self.detector, "cpu_bound", False))

    @property
    def is_async(self) -> bool:
        return callable(getattr(self.detector, "acheck", None))

    def run(self) -> Outcome:
        """Run the detector here and now; exceptions and lateness become an outcome."""
        self.started = start = time.monotonic()
        try:
            found = self.detector.check(self.segment, self.ctx)
        except Exception as exc:
            return Outcome([], f"{type(exc).__name__}: {exc}")
        if time.monotonic() - start > self.deadline_s:
            return self.timeout()
        return self.accept(found)

    async def arun(self) -> Outcome:
        self.started = time.monotonic()
        try:
            found = await self.detector.acheck(self.segment, self.ctx)  # type: ignore[attr-defined]
        except Exception as exc:
            return Outcome([], f"{type(exc).__name__}: {exc}")
        return self.accept(found)

    def timeout(self) -> Outcome:
        return Outcome([], f"no answer within {self.deadline_s * 1000:.0f} ms", timed_out=True)

    def accept(self, found: object) -> Outcome:
        """Check a detector's return value; garbage is an error, not a crash."""
        if not isinstance(found, Sequence) or isinstance(found, str):
            return Outcome([], f"returned {type(found).__name__}, expected a list of Finding")
        for item in found:
            if not isinstance(item, Finding):
                return Outcome([], f"returned a {type(item).__name__} among its findings")
            span = item.span
            if not (
                isinstance(span, tuple)
                and len(span) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
            ):
                return Outcome([], f"finding span {span!r} is not a (start, end) pair of ints")
            if not 0 <= span[0] <= span[1] <= self.segment.end:
                return Outcome(
                    [], f"finding span {span} is outside the text (0..{self.segment.end})"
                )
        return Outcome(list(found))
