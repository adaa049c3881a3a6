"""Framework cost: how long after the upstream completes a sentence is it released?

A PII-only guard in hold mode; a fake upstream emits 4-character deltas every
20 ms (sync: ``FakeLLM.stream``; async: ``FakeLLM.astream``). For every released
sentence there are two clocks (``guardrails.bench.stream`` computes both, the
same way ``guardrails bench`` does for the default pack):

* decided: from the moment the upstream yielded the delta that let the
  segmenter close the sentence (a boundary needs the next character: "3." may
  be "3.14") to the moment the consumer received the released text. This is
  the guard's own cost: segmenting, the PII check, the policy, the driver.
* last char: from the delta holding the sentence's last character. This adds
  the wait for one more delta (about 20 ms here), which no sentence-level
  guard can avoid.

Run: python benchmarks/release_latency.py [--sentences 60] [--delay-ms 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from detectors.pii import PIIDetector
from guardrails import Guard
from guardrails.bench import summarize
from guardrails.bench.stream import Recorder, released_pieces, sentence_delays
from guardrails.events import Event
from guardrails.segmenter import split
from guardrails.testing import FakeLLM
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


def clocks(stamped: list[tuple[Event, float]], rec: Recorder, text: str) -> dict[str, Any]:
    delays = sentence_delays(released_pieces(stamped), rec, [s.end for s in split(text)])
    return {
        "decided": summarize([d.decided for d in delays]),
        "last_char": summarize([d.last_char for d in delays]),
    }


def run(n: int, delay_s: float) -> dict[str, dict[str, Any]]:
    guard = Guard([PIIDetector()], Policy([Rule(When("pii"), Correct("redact"))]))
    text = answer(n)
    out: dict[str, dict[str, Any]] = {}

    rec = Recorder()
    upstream = rec.wrap(FakeLLM(text, chunk=4, delay_s=delay_s).stream())
    got = [(e, time.perf_counter()) for e in guard.events(upstream)]
    out["sync"] = clocks(got, rec, text)

    async def amain() -> list[tuple[Event, float]]:
        upstream = arec.awrap(FakeLLM(text, chunk=4, delay_s=delay_s).astream())
        return [(e, time.perf_counter()) async for e in guard.aevents(upstream)]

    arec = Recorder()
    out["async"] = clocks(asyncio.run(amain()), arec, text)
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
    for driver, both in result.items():
        for clock, s in both.items():
            print(
                f"{driver:<7} {clock:<10} {s['n']:>4.0f} {s['p50']:>8.3f} "
                f"{s['p95']:>8.3f} {s['p99']:>8.3f}"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
