"""Many streams with different contexts through ONE guard: no cross-talk.

64 concurrent async streams and 16 threads of sync streams share a guard whose
grounding detector depends on each call's context (an NLI micro-batcher and LRU
cache shared by all of them) plus PII redaction. Every result must equal what
the same input gives alone, through a separate guard, one call at a time.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from detectors.grounding import Grounding
from detectors.pii import PIIDetector
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails.events import Event
from guardrails.guard import Guard, StreamSettings
from guardrails.testing import FakeLLM, check_accounting
from policies import Correct, Policy, Rule, When

N = 64
NAMES = ["ann", "bob", "cleo", "dan", "eve", "fay", "gus", "hal"]


def case(i: int) -> tuple[str, list[str]]:
    """Answer and context of stream ``i``: each its own numbers, names and address."""
    crates, year, name = 100 + 7 * i, 1900 + i, NAMES[i % len(NAMES)]
    context = [
        f"The depot stores {crates} crates. It opened in {year}.",
        f"The depot manager is {name} and the depot closes at {i % 12 + 1} pm.",
    ]
    said = crates if i % 2 else crates + 3  # every other answer changes a number
    answer = (
        f"The depot stores {said} crates. It opened in {year}. "
        f"Write to {name}{i}@depot.example for a visit. The manager is {name}."
    )
    return answer, context


def make_guard(nli: Path) -> Guard:
    return Guard(
        [Grounding(model=str(nli), max_wait_ms=2.0), PIIDetector()],
        Policy(
            [
                Rule(When("grounding", frozenset({"number_mismatch"})), Correct("fix_numbers")),
                Rule(When("grounding", frozenset({"contradicted"})), Correct("drop")),
                Rule(When("grounding", frozenset({"unsupported"})), Correct("annotate")),
                Rule(When("pii"), Correct("redact")),
            ],
            on_error="fail_closed",
        ),
        settings=StreamSettings(deadline_ms=20_000),  # a loaded CI box is slow, not broken
    )


def outcome(events: list[Event]) -> tuple[object, ...]:
    result = check_accounting(events)
    return (
        result.text,
        [(a.action, [(e.start, e.end, e.replacement) for e in a.edits]) for a in result.actions],
        [(f.detector, f.label, f.span, f.replacement) for f in result.findings],
        [None if s.support is None else round(s.support, 4) for s in result.segments],
    )


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "nli")


@pytest.fixture(scope="module")
def alone(nli: Path) -> list[tuple[object, ...]]:
    """Each case through its own fresh-cached guard, one at a time."""
    with make_guard(nli) as guard:
        out = []
        for i in range(N):
            answer, context = case(i)
            out.append(outcome(list(guard.events(FakeLLM(answer, chunk=9).stream(), context))))
    texts = {o[0] for o in out}
    assert len(texts) == N, "the cases must differ"
    assert any("[EMAIL]" in str(o[0]) for o in out)
    assert any(a == "fix_numbers" for o in out for a, _ in o[1])  # type: ignore[attr-defined]
    return out


def test_64_concurrent_async_streams(nli: Path, alone: list[tuple[object, ...]]) -> None:
    guard = make_guard(nli)

    async def one(i: int) -> tuple[object, ...]:
        answer, context = case(i)
        llm = FakeLLM(answer, chunk=9)
        return outcome([e async for e in guard.aevents(llm.astream(), context)])

    async def main() -> list[tuple[object, ...]]:
        return list(await asyncio.gather(*(one(i) for i in range(N))))

    try:
        results = asyncio.run(main())
    finally:
        guard.close()
    for i, (got, expected) in enumerate(zip(results, alone, strict=True)):
        assert got == expected, f"stream {i} differs from the same input alone"
    grounding = guard.detectors[0]
    assert isinstance(grounding, Grounding)
    stats = grounding.nli._batcher.stats
    assert stats.largest_batch > 1, "the streams did not share the NLI batcher"


def test_16_threads_of_sync_streams(nli: Path, alone: list[tuple[object, ...]]) -> None:
    guard = make_guard(nli)
    results: dict[int, tuple[object, ...]] = {}
    start = threading.Barrier(16)

    def worker(t: int) -> None:
        start.wait()
        for i in range(t, N, 16):
            answer, context = case(i)
            llm = FakeLLM(answer, chunk=9)
            results[i] = outcome(list(guard.events(llm.stream(), context)))

    try:
        with ThreadPoolExecutor(16) as pool:
            for future in [pool.submit(worker, t) for t in range(16)]:
                future.result()
    finally:
        guard.close()
    assert sorted(results) == list(range(N))
    for i in range(N):
        assert results[i] == alone[i], f"stream {i} differs from the same input alone"


def test_sync_and_async_streams_at_once(nli: Path, alone: list[tuple[object, ...]]) -> None:
    guard = make_guard(nli)
    results: dict[int, tuple[object, ...]] = {}

    def sync_half() -> None:
        for i in range(0, N, 2):
            answer, context = case(i)
            results[i] = outcome(list(guard.events(FakeLLM(answer, chunk=9).stream(), context)))

    async def async_half() -> None:
        async def one(i: int) -> None:
            answer, context = case(i)
            events = [e async for e in guard.aevents(FakeLLM(answer, chunk=9).astream(), context)]
            results[i] = outcome(events)

        await asyncio.gather(*(one(i) for i in range(1, N, 2)))

    thread = threading.Thread(target=sync_half)
    thread.start()
    try:
        asyncio.run(async_half())
        thread.join()
    finally:
        guard.close()
    for i in range(N):
        assert results[i] == alone[i], f"stream {i} differs from the same input alone"
