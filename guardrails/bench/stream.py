"""Stream overhead: how much later a guarded stream shows each sentence, and its first text.

A :class:`~guardrails.testing.FakeLLM` streams each answer in ``delta_chars``
deltas, pausing ``delta_ms`` before each; a :class:`Recorder` stamps the moment
every delta leaves it. The consumer stamps the moment it receives each piece of
text. Per sentence (the last one of an answer excluded: the end of the stream
closes it, not a delta), with ``e`` the offset of its last character:

* **release delay** (last-character clock): from the delta that holds ``e`` to the
  first released text that covers it. Unguarded, this is the consumer's own
  loop; in hold mode it includes the wait for one more delta (a boundary needs
  the next character: "3." may be "3.14"), which no sentence-level check avoids;
* **added delay**: the guarded release delay minus the unguarded one, sentence
  by sentence;
* **check delay** (hold mode; decided clock): from the delta that lets the
  segmenter close the sentence to its release: the guard's own cost.

Time to first text: from the start of the call to the first non-empty text.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guardrails.bench._common import (
    FAILED,
    PACK,
    BenchSettings,
    build_guard,
    close_guard,
    start_models,
    summarize,
)
from guardrails.bench.corpus import CONTEXT, WARM_UP, stream_answers
from guardrails.testing import FakeLLM

if TYPE_CHECKING:
    from guardrails.events import Event
    from guardrails.guard import Guard

__all__ = [
    "Recorder",
    "SentenceDelay",
    "StreamRun",
    "measure_stream",
    "released_pieces",
    "sentence_delays",
]


class Recorder:
    """Stamps when each upstream delta leaves and where it ends in the text."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, float]] = []  # (end offset, perf_counter)

    def wrap(self, deltas: Iterable[str]) -> Iterator[str]:
        pos = 0
        for delta in deltas:
            pos += len(delta)
            self.sent.append((pos, time.perf_counter()))
            yield delta

    async def awrap(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        pos = 0
        async for delta in deltas:
            pos += len(delta)
            self.sent.append((pos, time.perf_counter()))
            yield delta

    @property
    def length(self) -> int:
        """Characters sent so far."""
        return self.sent[-1][0] if self.sent else 0

    def when(self, offset: int, *, after: bool) -> float:
        """When the delta holding character ``offset - 1`` left (after=True: the first
        delta past ``offset``, the one that lets a boundary at ``offset`` be decided)."""
        for end, t in self.sent:
            if (end > offset) if after else (end >= offset):
                return t
        return self.sent[-1][1]


@dataclass(frozen=True)
class SentenceDelay:
    """One released sentence: its end offset and its two clocks, in seconds."""

    end: int
    last_char: float
    decided: float


@dataclass
class StreamRun:
    """One streamed answer as the consumer saw it."""

    recorder: Recorder
    start: float
    released: list[tuple[int, int, float]] = field(default_factory=list)  # verbatim pieces
    first_text: float | None = None
    actions: list[str] = field(default_factory=list)
    check_failures: int = 0

    @property
    def ttft(self) -> float | None:
        return None if self.first_text is None else self.first_text - self.start


def released_pieces(events: Iterable[tuple[Event, float]]) -> list[tuple[int, int, float]]:
    """(upstream start, end, receive time) of every verbatim piece of released text."""
    from guardrails.events import TextDelta

    return [
        (e.source[0], e.source[1], t)
        for e, t in events
        if isinstance(e, TextDelta) and e.source is not None and e.text
    ]


def sentence_delays(
    released: Sequence[tuple[int, int, float]], recorder: Recorder, ends: Iterable[int]
) -> list[SentenceDelay]:
    """Both clocks for every sentence ending at one of ``ends`` whose last character was
    released; the final sentence (closed by the end of the stream) is left out."""
    out = []
    for end in sorted(ends):
        if end >= recorder.length:
            continue
        got = next((t for start, stop, t in released if start < end <= stop), None)
        if got is None:
            continue  # dropped or cut: never shown
        last_char = got - recorder.when(end, after=False)
        out.append(SentenceDelay(end, last_char, got - recorder.when(end, after=True)))
    return out


def _upstream(answer: str, settings: BenchSettings, recorder: Recorder) -> Iterator[str]:
    llm = FakeLLM(answer, chunk=settings.delta_chars, delay_s=settings.delta_ms / 1000)
    return recorder.wrap(llm.stream())


def run_unguarded(answer: str, settings: BenchSettings) -> StreamRun:
    """The same stream with no guard: every delta is shown as it arrives."""
    run = StreamRun(Recorder(), time.perf_counter())
    pos = 0
    for delta in _upstream(answer, settings, run.recorder):
        now = time.perf_counter()
        run.released.append((pos, pos + len(delta), now))
        pos += len(delta)
        if run.first_text is None and delta:
            run.first_text = now
    return run


def run_guarded(guard: Guard, answer: str, settings: BenchSettings) -> StreamRun:
    """One answer through ``guard.events`` (the sync driver), every event stamped."""
    from guardrails.events import ActionEvent, FindingEvent, TextDelta

    run = StreamRun(Recorder(), time.perf_counter())
    stamped: list[tuple[Event, float]] = []
    for event in guard.events(_upstream(answer, settings, run.recorder), CONTEXT):
        now = time.perf_counter()
        stamped.append((event, now))
        if run.first_text is None and isinstance(event, TextDelta) and event.text:
            run.first_text = now
        if isinstance(event, ActionEvent):
            run.actions.append(event.action)
        if isinstance(event, FindingEvent) and event.finding.label in FAILED:
            run.check_failures += 1
    run.released = released_pieces(stamped)
    return run


def _mode_stats(
    mode: str,
    runs: Sequence[StreamRun],
    ends: Sequence[list[int]],
    base: Sequence[StreamRun] | None,
) -> dict[str, Any]:
    delays = [sentence_delays(r.released, r.recorder, e) for r, e in zip(runs, ends, strict=True)]
    stats: dict[str, Any] = {
        "sentences": sum(len(e) for e in ends) - len(ends),
        "released": sum(len(d) for d in delays),
        "ttft_ms": summarize([r.ttft for r in runs if r.ttft is not None]),
        "release_ms": summarize([d.last_char for ds in delays for d in ds]),
    }
    if base is None:
        return stats
    added: list[float] = []
    for mine, run, e in zip(delays, base, ends, strict=True):
        theirs = {d.end: d.last_char for d in sentence_delays(run.released, run.recorder, e)}
        added += [d.last_char - theirs[d.end] for d in mine if d.end in theirs]
    stats["added_ms"] = summarize(added)
    stats["added_ttft_ms"] = summarize(
        [
            r.ttft - b.ttft
            for r, b in zip(runs, base, strict=True)
            if r.ttft is not None and b.ttft is not None
        ]
    )
    if mode == "hold":  # pass mode shows text before its boundary is known
        stats["check_ms"] = summarize([d.decided for ds in delays for d in ds])
    stats["actions"] = dict(Counter(a for r in runs for a in r.actions))
    stats["check_failures"] = sum(r.check_failures for r in runs)
    return stats


def measure_stream(settings: BenchSettings, device: str) -> dict[str, Any]:
    """The ``stream`` section: unguarded, pass and hold mode over the same answers."""
    from guardrails.segmenter import split

    answers = stream_answers(settings.streams, settings.sentences)
    ends = [[seg.end for seg in split(a)] for a in answers]
    base = [run_unguarded(a, settings) for a in answers]
    modes: dict[str, Any] = {"unguarded": _mode_stats("unguarded", base, ends, None)}
    provider = ""
    for mode in ("pass", "hold"):
        guard = build_guard(device, mode, settings.nli_model, settings.embed_model)
        try:
            provider = start_models(guard)
            guard.validate(WARM_UP, CONTEXT)  # first calls allocate: not part of any stream
            runs = [run_guarded(guard, a, settings) for a in answers]
        finally:
            close_guard(guard)
        modes[mode] = _mode_stats(mode, runs, ends, base)
    return {
        "pack": PACK,
        "provider": provider,
        "driver": "sync",
        "delta_chars": settings.delta_chars,
        "delta_ms": settings.delta_ms,
        "streams": len(answers),
        "answer_chars": [len(a) for a in answers],
        "context_passages": len(CONTEXT),
        "modes": modes,
    }
