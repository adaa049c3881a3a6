"""Test helpers: a scripted fake LLM and the accounting-invariant check.

``FakeLLM`` stands in for a model in tests and benchmarks: it streams scripted
deltas with an optional delay, can fail after N deltas, and answers a
``feedback`` keyword by moving on to its next script (as a regenerating model
would). ``check_accounting`` verifies that every upstream character of a
guarded call was either released or named in an action event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from guardrails._result import Feedback, GuardResult
from guardrails.events import ActionEvent, Done, Event, Retraction, TextDelta

__all__ = ["FakeLLM", "FakeLLMError", "check_accounting", "chunked", "released_text"]


class FakeLLMError(RuntimeError):
    """What a FakeLLM raises when told to fail."""


def chunked(text: str, size: int) -> list[str]:
    """``text`` cut into deltas of ``size`` characters."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeLLM:
    """A scripted LLM.

    ``scripts[0]`` answers the first call; each call with a ``feedback`` moves to
    the next script (the last one repeats). A script is a string, cut into
    ``chunk``-character deltas, or an explicit list of deltas. ``delay_s`` sleeps
    before each delta; ``fail_after=N`` raises :class:`FakeLLMError` after N
    deltas of the first call. ``calls`` records the feedback of every call and
    ``closed`` counts streams that were closed before their end.
    """

    def __init__(
        self,
        *scripts: str | Sequence[str],
        chunk: int = 4,
        delay_s: float = 0.0,
        fail_after: int | None = None,
    ) -> None:
        if not scripts:
            raise ValueError("FakeLLM needs at least one script")
        self.scripts = [chunked(s, chunk) if isinstance(s, str) else list(s) for s in scripts]
        self.delay_s = delay_s
        self.fail_after = fail_after
        self.calls: list[Feedback | None] = []
        self.closed = 0
        self.finished = 0

    def _script(self, feedback: Feedback | None) -> tuple[list[str], bool]:
        self.calls.append(feedback)
        turn = sum(1 for f in self.calls if f is not None)
        may_fail = len(self.calls) == 1 and self.fail_after is not None
        return self.scripts[min(turn, len(self.scripts) - 1)], may_fail

    def stream(self, feedback: Feedback | None = None) -> Iterator[str]:
        deltas, may_fail = self._script(feedback)
        ended = False
        try:
            for i, delta in enumerate(deltas):
                if may_fail and i == self.fail_after:
                    raise FakeLLMError(f"scripted failure after {i} deltas")
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield delta
            ended = True
        finally:
            self.finished += ended
            self.closed += not ended

    async def astream(self, feedback: Feedback | None = None) -> AsyncIterator[str]:
        deltas, may_fail = self._script(feedback)
        ended = False
        try:
            for i, delta in enumerate(deltas):
                if may_fail and i == self.fail_after:
                    raise FakeLLMError(f"scripted failure after {i} deltas")
                await asyncio.sleep(self.delay_s)
                yield delta
            ended = True
        finally:
            self.finished += ended
            self.closed += not ended

    def __call__(self, feedback: Feedback | None = None) -> str:
        return "".join(self.stream(feedback))

    async def acall(self, feedback: Feedback | None = None) -> str:
        return "".join([d async for d in self.astream(feedback)])


@dataclass(slots=True)
class _Shown:
    text: str
    source: tuple[int, int] | None


def released_text(events: Sequence[Event]) -> str:
    """What a consumer that honours retractions shows after these events."""
    return "".join(p.text for p in _replay(events))


def _replay(events: Sequence[Event]) -> list[_Shown]:
    shown: list[_Shown] = []
    length = 0
    for event in events:
        if isinstance(event, TextDelta):
            shown.append(_Shown(event.text, event.source))
            length += len(event.text)
        elif isinstance(event, Retraction):
            assert event.end == length, (
                f"retraction {event.start}..{event.end} is not the tail ({length})"
            )
            while length > event.start:
                last = shown.pop()
                length -= len(last.text)
                if length < event.start:  # split a verbatim piece
                    keep = event.start - length
                    assert last.source is not None, "retraction splits a replacement"
                    shown.append(_Shown(last.text[:keep], (last.source[0], last.source[0] + keep)))
                    length += keep
    return shown


def check_accounting(events: Sequence[Event]) -> GuardResult:
    """Assert the accounting invariant over one call's events; return its result.

    Every upstream character is covered exactly once by the visible verbatim text
    or by an edit of an action event; verbatim text equals the upstream it names;
    every other visible text is some edit's replacement; and the visible text
    equals ``result.text``.
    """
    done = [e for e in events if isinstance(e, Done)]
    assert len(done) == 1 and events[-1] is done[0], "exactly one Done, and last"
    result = done[0].result
    upstream = result.upstream
    shown = _replay(events)
    assert "".join(p.text for p in shown) == result.text, "visible text != result.text"
    cover: list[tuple[int, int, str]] = []
    replacements: list[str] = []
    for p in shown:
        if p.source is not None:
            assert upstream[p.source[0] : p.source[1]] == p.text, f"verbatim mismatch at {p.source}"
            cover.append((*p.source, "released"))
    for event in events:
        if isinstance(event, ActionEvent):
            for edit in event.edits:
                assert upstream[edit.start : edit.end] == edit.original, f"edit mismatch {edit}"
                cover.append((edit.start, edit.end, event.action))
                replacements.append(edit.replacement)
    for p in shown:
        if p.source is None:
            assert p.text in replacements, f"visible text {p.text!r} comes from nowhere"
    pos = 0
    for start, end, what in sorted(c for c in cover if c[1] > c[0]):
        assert start == pos, f"upstream {pos}..{start} unaccounted (next: {what} {start}..{end})"
        pos = end
    assert pos == len(upstream), f"upstream {pos}..{len(upstream)} unaccounted"
    return result
