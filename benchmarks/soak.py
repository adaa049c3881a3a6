"""Soak: thousands of guarded streams through one guard; does memory stay flat?

One guard (grounding on an NLI model, PII redaction, banned phrases with
regeneration) serves a deterministic mix of calls, each with its own context:
sync and async streams, consumers that stop early, upstreams that fail, answers
that get regenerated or cut. Resident memory (RSS) is measured after a warm-up
and at the end, after a garbage collection each time; the growth between the
two is the figure to watch (caches are bounded, so it should be near zero).
Threads left running and asyncio tasks are counted too.

Run: python benchmarks/soak.py [--streams 2000] [--warmup 200] [--model DIR] [--json out.json]

Without ``--model`` a tiny cross-encoder is built in a temporary directory (no
network, seconds); pass a model directory to soak the real one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from detectors.banned import BannedPhrases
from detectors.grounding import Grounding
from detectors.pii import PIIDetector
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails import Guard, StreamSettings, UpstreamError
from guardrails.testing import FakeLLM, check_accounting
from policies import Correct, Cut, Policy, Regenerate, Rule, When

NAMES = ["ann", "bob", "cleo", "dan", "eve", "fay", "gus", "hal"]


def rss_mib() -> float:
    """Resident memory now (Linux ``/proc``), else the peak the OS reports."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case(i: int) -> tuple[list[str], list[str]]:
    """LLM scripts (first answer, then regenerations) and the context of call ``i``."""
    name, crates, year = NAMES[i % len(NAMES)], 100 + i % 997, 1800 + i % 200
    context = [
        f"Depot {i} stores {crates} crates. It opened in {year}.",
        f"The depot manager is {name}; write to {name}@depot.example for visits.",
    ]
    said = crates if i % 3 else crates + 1
    answer = (
        f"Depot {i} stores {said} crates. It opened in {year}. "
        f"Write to {name}{i}@depot.example today."
    )
    if i % 5 == 0:
        answer += " Returns are guaranteed forever."
    return [answer, f" The manager is {name}."], context


def make_guard(model: Path) -> Guard:
    return Guard(
        [
            Grounding(model=str(model), max_wait_ms=2.0),
            PIIDetector(),
            BannedPhrases(phrases=["returns are guaranteed"]),
        ],
        Policy(
            [
                Rule(When("banned"), Regenerate(1, Cut())),
                Rule(When("grounding", frozenset({"number_mismatch"})), Correct("fix_numbers")),
                Rule(When("grounding", frozenset({"contradicted"})), Correct("drop")),
                Rule(When("grounding", frozenset({"unsupported"})), Correct("annotate")),
                Rule(When("pii"), Correct("redact")),
            ],
            on_error="fail_closed",
        ),
        settings=StreamSettings(deadline_ms=30_000),
    )


def run_sync(guard: Guard, i: int) -> str:
    scripts, context = case(i)
    llm = FakeLLM(*scripts, chunk=7, fail_after=9 if i % 11 == 0 else None)
    events = []
    try:
        for event in guard.events(llm.stream(), context, regenerate=llm.stream):
            events.append(event)
            if i % 13 == 0 and len(events) == 3:  # a consumer that stops early
                return "closed"
    except UpstreamError:
        pass
    check_accounting(events)
    return "ok"


async def run_async(guard: Guard, i: int) -> str:
    scripts, context = case(i)
    llm = FakeLLM(*scripts, chunk=7, fail_after=9 if i % 11 == 0 else None)
    events = []
    stream = guard.aevents(llm.astream(), context, regenerate=llm.astream)
    try:
        async for event in stream:
            events.append(event)
            if i % 13 == 0 and len(events) == 3:
                return "closed"
    except UpstreamError:
        pass
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    check_accounting(events)
    return "ok"


def batch(guard: Guard, start: int, size: int) -> None:
    """Half the calls one after another (sync), half concurrently (async)."""
    for i in range(start, start + size, 2):
        run_sync(guard, i)

    async def concurrent() -> None:
        await asyncio.gather(*(run_async(guard, i) for i in range(start + 1, start + size, 2)))

    asyncio.run(concurrent())


def soak(model: Path, streams: int, warmup: int, step: int = 20) -> dict[str, object]:
    threads_before = threading.active_count()
    guard = make_guard(model)
    done = 0
    began = time.perf_counter()
    while done < warmup:
        batch(guard, done, step)
        done += step
    gc.collect()
    after_warmup = rss_mib()
    samples = [(done, after_warmup)]
    measured = time.perf_counter()
    while done < streams:
        batch(guard, done, step)
        done += step
        if done % 500 == 0:
            gc.collect()
            samples.append((done, rss_mib()))
    gc.collect()
    end = rss_mib()
    elapsed = time.perf_counter() - measured
    guard.close()
    for detector in guard.detectors:  # the NLI micro-batcher's worker thread
        close = getattr(getattr(detector, "nli", None), "close", None)
        if callable(close):
            close()
    return {
        "streams": done,
        "warmup_streams": warmup,
        "rss_after_warmup_mib": round(after_warmup, 1),
        "rss_end_mib": round(end, 1),
        "rss_growth_mib": round(end - after_warmup, 1),
        "rss_growth_kib_per_1000_streams": round(
            (end - after_warmup) * 1024 / max(1, done - warmup) * 1000, 1
        ),
        "rss_samples_mib": [(n, round(r, 1)) for n, r in samples],
        "streams_per_s": round((done - warmup) / elapsed, 1),
        "total_s": round(time.perf_counter() - began, 1),
        "threads_before": threads_before,
        "threads_after_close": threading.active_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--model", type=Path, help="an NLI model directory (default: tiny)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_tiny_cross_encoder(Path(tmp) / "nli")
        report = soak(model, args.streams, args.warmup)
    for key, value in report.items():
        print(f"{key:34} {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
