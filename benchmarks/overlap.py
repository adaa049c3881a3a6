"""Hold mode overlaps validation with generation.

A fake upstream produces N sentences, each taking G ms to generate (spread over
its deltas); a CPU-bound detector takes V ms per sentence (it sleeps, as a model
call on ONNX Runtime releases the GIL). Without overlap a guarded stream would
take about N*(G+V); with it, about N*max(G, V) + min(G, V). Measured for the
sync and async drivers, next to the unguarded stream.

Run: python benchmarks/overlap.py [--sentences 20] [--gen-ms 60] [--check-ms 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from detectors.base import CheckContext, Finding, Segment
from guardrails import Guard
from guardrails.testing import FakeLLM


class FixedCost:
    """A detector that costs a fixed time per non-blank segment."""

    name = "fixed"
    cpu_bound = True

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if segment.kind != "blank":
            time.sleep(self.seconds)
        return []


def script(n: int) -> list[str]:
    """n sentences of 8 deltas each."""
    deltas: list[str] = []
    for i in range(n):
        words = f"{'' if i == 0 else ' '}This is sentence number {i} of the answer, ok.".split(" ")
        deltas += [w + " " for w in words[:-1]] + [words[-1]]
    return deltas


def run(n: int, gen_s: float, check_s: float) -> dict[str, float]:
    deltas = script(n)
    per_delta = gen_s * n / len(deltas)
    guard = Guard([FixedCost(check_s)])
    out: dict[str, float] = {}

    start = time.perf_counter()
    text = "".join(FakeLLM(deltas, delay_s=per_delta).stream())
    out["unguarded_s"] = time.perf_counter() - start

    start = time.perf_counter()
    assert "".join(guard.stream(FakeLLM(deltas, delay_s=per_delta).stream())) == text
    out["sync_s"] = time.perf_counter() - start

    async def amain() -> str:
        llm = FakeLLM(deltas, delay_s=per_delta)
        return "".join([d async for d in guard.astream(llm.astream())])

    start = time.perf_counter()
    assert asyncio.run(FakeLLM(deltas, delay_s=per_delta).acall()) == text
    out["unguarded_async_s"] = time.perf_counter() - start

    start = time.perf_counter()
    assert asyncio.run(amain()) == text
    out["async_s"] = time.perf_counter() - start
    guard.close()

    out["sum_s"] = n * (gen_s + check_s)
    out["max_s"] = n * max(gen_s, check_s) + min(gen_s, check_s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--gen-ms", type=float, default=60.0)
    parser.add_argument("--check-ms", type=float, default=50.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    r = run(args.sentences, args.gen_ms / 1000, args.check_ms / 1000)
    print(
        f"{args.sentences} sentences, generation {args.gen_ms:g} ms and check "
        f"{args.check_ms:g} ms per sentence"
    )
    print(f"  unguarded stream, sync  {r['unguarded_s']:.3f} s")
    print(f"  unguarded stream, async {r['unguarded_async_s']:.3f} s")
    print(f"  ideal overlap (max)     {r['max_s']:.3f} s")
    print(f"  no overlap (sum)        {r['sum_s']:.3f} s")
    for driver, base in (("sync", "unguarded_s"), ("async", "unguarded_async_s")):
        t = r[f"{driver}_s"]
        print(
            f"  guarded, {driver:<5} driver   {t:.3f} s  = {t / r[base]:.2f} x unguarded, "
            f"{t / r['max_s']:.2f} x max, {t / r['sum_s']:.2f} x sum"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(r, fh, indent=2)


if __name__ == "__main__":
    main()
