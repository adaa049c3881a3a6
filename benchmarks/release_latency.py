"""Framework cost: how long after the upstream completes a sentence is it released?

A PII-only guard in hold mode; a fake upstream emits 4-character deltas every
20 ms (sync: a generator; async: an async generator). For every released
sentence we take two clocks:

* decided: from the moment the upstream yielded the delta that let the
  segmenter close the sentence (a boundary needs the next character: "3." may
  be "3.14") to the moment the consumer received the released text. This is
  the guard's own cost: segmenting, the PII check, the policy, the driver.
* last char: from the delta holding the sentence's last character. This adds
  the wait for one more delta (about 20 ms here), which no sentence-level
  guard can avoid.

Run: python benchmarks/release_latency.py [--sentences 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator

from detectors.pii import PIIDetector
from guardrails import Guard, TextDelta
from guardrails.segmenter import split
from guardrails.testing import chunked
from policies import Correct, Policy, Rule, When

SENTENCES = [
    "The warranty covers parts and labour for two years from the date of purchase.",
    "Contact support at help@example.com if the device does not turn on.",
    "Refunds are processed within 14 days of receiving the returned item.",
    "Our offices are open from 9 a.m. to 5 p.m. on weekdays.",
    "You can also call +1 415 555 0134 for urgent questions.",
    "Version 2.1.0 of the firmware fixed the charging issue.",
]


def answer(n: int) -> str:
    return " ".join(SENTENCES[i % len(SENTENCES)] for i in range(n))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50) * 1000,
        "p95_ms": percentile(values, 95) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "mean_ms": statistics.fmean(values) * 1000,
    }


class Recorder:
    """Remembers when each delta left the upstream and where it ends."""

    def __init__(self, text: str, delay_s: float) -> None:
        self.deltas = chunked(text, 4)
        self.delay_s = delay_s
        self.sent: list[tuple[int, float]] = []  # (end offset, time)

    def sync(self) -> Iterator[str]:
        pos = 0
        for delta in self.deltas:
            time.sleep(self.delay_s)
            pos += len(delta)
            self.sent.append((pos, time.perf_counter()))
            yield delta

    async def aio(self) -> AsyncIterator[str]:
        pos = 0
        for delta in self.deltas:
            await asyncio.sleep(self.delay_s)
            pos += len(delta)
            self.sent.append((pos, time.perf_counter()))
            yield delta

    def when(self, offset: int, after: bool) -> float:
        """Time of the delta holding ``offset`` (after=True: the first one past it)."""
        for end, t in self.sent:
            if (end > offset) if after else (end >= offset):
                return t
        return self.sent[-1][1]


def measure(
    events: list[tuple[TextDelta, float]], rec: Recorder
) -> tuple[list[float], list[float]]:
    ends = {seg.end for seg in split("".join(rec.deltas))}
    decided, last_char = [], []
    for event, got in events:
        if event.source is None or event.source[1] not in ends:
            continue  # a redacted sentence is released in pieces: time its last one
        end = event.source[1]
        if end >= rec.sent[-1][0]:
            continue  # the final sentence is closed by the end of the stream, not a delta
        decided.append(got - rec.when(end, after=True))
        last_char.append(got - rec.when(end, after=False))
    return decided, last_char


def run(n: int, delay_s: float) -> dict[str, dict[str, dict[str, float]]]:
    guard = Guard([PIIDetector()], Policy([Rule(When("pii"), Correct("redact"))]))
    text = answer(n)
    out: dict[str, dict[str, dict[str, float]]] = {}

    rec = Recorder(text, delay_s)
    got = [(e, time.perf_counter()) for e in guard.events(rec.sync())]
    d, lc = measure([(e, t) for e, t in got if isinstance(e, TextDelta)], rec)
    out["sync"] = {"decided": summarize(d), "last_char": summarize(lc)}

    async def amain() -> list[tuple[object, float]]:
        return [(e, time.perf_counter()) async for e in guard.aevents(arec.aio())]

    arec = Recorder(text, delay_s)
    agot = asyncio.run(amain())
    d, lc = measure([(e, t) for e, t in agot if isinstance(e, TextDelta)], arec)
    out["async"] = {"decided": summarize(d), "last_char": summarize(lc)}
    guard.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=60)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = run(args.sentences, args.delay_ms / 1000)
    print(f"release delay, PII guard, hold mode, 4-char deltas every {args.delay_ms:g} ms")
    print(f"{'driver':<7} {'clock':<10} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for driver, clocks in result.items():
        for clock, s in clocks.items():
            print(
                f"{driver:<7} {clock:<10} {s['n']:>4.0f} {s['p50_ms']:>8.3f} "
                f"{s['p95_ms']:>8.3f} {s['p99_ms']:>8.3f}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
