"""Throughput: validated sentences per second through one guard, against the raw model.

One guard (the default pack, hold mode) serves every level. At concurrency
``c``, ``c`` asyncio tasks on one event loop take answers from a shared queue
and ``await guard.avalidate(answer, context)`` until it is empty; the guard runs
the grounding checks on its worker pool and the NLI scorer micro-batches the
pairs of all in-flight sentences. Every claim is new (no NLI pair is answered
from the cache). A thin counter in front of the scorer records each pair it is
asked to score.

Each level has its baseline, measured right after it (so both see the same
load on a shared machine): the raw cross-encoder (the same loaded model) on
the first ``raw_pairs`` distinct pairs the level sent, in consecutive calls of
the micro-batcher's largest batch (32), no guard around it.
``fraction_of_raw`` is the level's pairs/s divided by its baseline's.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from guardrails.bench._common import (
    FAILED,
    PACK,
    BenchSettings,
    build_guard,
    close_guard,
    grounding_of,
    start_models,
    summarize,
)
from guardrails.bench.corpus import CONTEXT, WARM_UP, claims

if TYPE_CHECKING:
    from detectors._shared import NLIScorer
    from detectors.runtime import CrossEncoder
    from guardrails.guard import Guard

__all__ = ["RAW_BATCH", "measure_throughput", "raw_rate"]

RAW_BATCH = 32
"""The baseline's batch: the NLI micro-batcher's largest."""


class _Counting:
    """Stands in front of an NLI scorer and records the pairs it is asked to score."""

    def __init__(self, inner: NLIScorer) -> None:
        self.inner = inner
        self.pairs: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> CrossEncoder:
        return self.inner.model

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        with self._lock:
            self.pairs.extend(pairs)
        return self.inner.score(pairs)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def close(self) -> None:
        self.inner.close()


def _answers(settings: BenchSettings, count: int, supply: Iterator[str]) -> list[str]:
    return [" ".join(itertools.islice(supply, settings.claims_per_item)) for _ in range(count)]


async def _drive(guard: Guard, answers: list[str], concurrency: int) -> dict[str, Any]:
    queue = iter(answers)  # shared: next() runs on the loop's one thread
    latencies: list[float] = []
    sentences = timeouts = 0

    async def worker() -> None:
        nonlocal sentences, timeouts
        for answer in queue:
            t0 = time.perf_counter()
            result = await guard.avalidate(answer, CONTEXT)
            latencies.append(time.perf_counter() - t0)
            sentences += len(result.segments)
            timeouts += sum(f.label in FAILED for f in result.findings)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "sentences": sentences,
        "latency_ms": summarize(latencies),
        "check_failures": timeouts,
    }


def raw_rate(model: CrossEncoder, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Pairs per second of ``model.predict`` on ``pairs`` in calls of :data:`RAW_BATCH`."""
    model.predict(list(pairs[:RAW_BATCH]))  # warm: first calls allocate
    start = time.perf_counter()
    for i in range(0, len(pairs), RAW_BATCH):
        model.predict(list(pairs[i : i + RAW_BATCH]))
    seconds = time.perf_counter() - start
    return {
        "pairs": len(pairs),
        "batch": RAW_BATCH,
        "seconds": seconds,
        "pairs_per_s": len(pairs) / seconds,
    }


def _level(
    guard: Guard, counter: _Counting, answers: list[str], concurrency: int, raw_pairs: int
) -> dict[str, Any]:
    before = len(counter.pairs)
    run = asyncio.run(_drive(guard, answers, concurrency))
    sent = counter.pairs[before:]
    seconds = run["seconds"]
    level = {
        "concurrency": concurrency,
        "answers": len(answers),
        "pairs": len(sent),
        **run,
        "sentences_per_s": run["sentences"] / seconds,
        "pairs_per_s": len(sent) / seconds,
    }
    # right after the level, so both figures see the same load on the machine
    level["raw"] = raw_rate(counter.model, list(dict.fromkeys(sent))[:raw_pairs])
    level["fraction_of_raw"] = level["pairs_per_s"] / level["raw"]["pairs_per_s"]
    return level


def measure_throughput(settings: BenchSettings, device: str) -> dict[str, Any]:
    """The ``throughput`` section: each concurrency level with its raw baseline."""
    guard = build_guard(device, "hold", settings.nli_model, settings.embed_model)
    grounding = grounding_of(guard)
    counter = _Counting(grounding.nli)
    grounding.nli = cast("NLIScorer", counter)  # same interface; counts what passes
    supply = claims()
    levels = []
    try:
        provider = start_models(guard)
        guard.validate(WARM_UP, CONTEXT)
        for concurrency in settings.concurrency:
            answers = _answers(settings, max(settings.items, concurrency), supply)
            levels.append(_level(guard, counter, answers, concurrency, settings.raw_pairs))
    finally:
        grounding.nli = counter.inner
        close_guard(guard)
    return {
        "pack": PACK,
        "driver": "async (avalidate)",
        "claims_per_answer": settings.claims_per_item,
        "context_passages": len(CONTEXT),
        "worker_threads": _default_pool_size(),
        "provider": provider,
        "levels": levels,
    }


def _default_pool_size() -> int:
    """Threads of a guard's default worker pool (what ThreadPoolExecutor picks)."""
    return min(32, (os.cpu_count() or 1) + 4)
