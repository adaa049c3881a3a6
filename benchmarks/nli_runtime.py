"""Throughput of the NLI cross-encoder: direct batches and through the MicroBatcher.

Scores pairs of about 128 tokens (a ~100-token premise, a ~25-token
hypothesis) with ``CrossEncoder.predict`` at batch sizes 1, 8 and 32, then
through a :class:`~detectors.batcher.MicroBatcher` (cache off) fed one pair per
call by 1, 8 and 32 concurrent threads. Without ``--model`` a tiny random model
is built in a temporary directory: its timings show the runtime's own overhead
(tokenization, padding, batching), not a real model's cost.

Run: python benchmarks/nli_runtime.py [--model DIR] [--device auto] [--threads N]
                                      [--pairs 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.batcher import MicroBatcher
from detectors.runtime import CrossEncoder
from detectors.tiny_models import TINY_WORDS, build_tiny_cross_encoder

BATCHES = (1, 8, 32)
CALLERS = (1, 8, 32)


def make_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n distinct pairs: ~100-word premise, ~25-word hypothesis (about 128 tokens)."""
    rng = random.Random(seed)
    words = list(TINY_WORDS)
    pairs = []
    for i in range(n):
        premise = " ".join(rng.choice(words) for _ in range(96)) + f" {i}."
        hypothesis = " ".join(rng.choice(words) for _ in range(23)) + "."
        pairs.append((premise, hypothesis))
    return pairs


def direct(encoder: CrossEncoder, pairs: list[tuple[str, str]], batch: int) -> dict[str, Any]:
    """Call predict on consecutive chunks of ``batch`` pairs."""
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        encoder.predict(pairs[i : i + batch])
    elapsed = time.perf_counter() - start
    calls = -(-len(pairs) // batch)
    return {
        "mode": "direct",
        "setting": f"batch {batch}",
        "pairs_per_s": len(pairs) / elapsed,
        "ms_per_call": 1000 * elapsed / calls,
        "batches": calls,
        "mean_batch": len(pairs) / calls,
    }


def batched(
    encoder: CrossEncoder, pairs: list[tuple[str, str]], callers: int, max_wait_ms: float
) -> dict[str, Any]:
    """``callers`` threads, each submitting its share of the pairs one at a time."""

    def run(items: list[tuple[str, str]]) -> list[npt.NDArray[np.float32]]:
        return list(encoder.predict(items))

    batcher: MicroBatcher[tuple[str, str], npt.NDArray[np.float32]] = MicroBatcher(
        run, max_batch=32, max_wait_ms=max_wait_ms, cache_size=0
    )
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(callers + 1)

    def work(share: list[tuple[str, str]]) -> None:
        mine = []
        barrier.wait()
        for pair in share:
            t0 = time.perf_counter()
            batcher.submit([pair])
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(pairs[i::callers],)) for i in range(callers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    stats = batcher.stats
    batcher.close()
    latencies.sort()
    return {
        "mode": "micro-batcher",
        "setting": f"{callers} thread{'s' if callers > 1 else ''}",
        "pairs_per_s": len(pairs) / elapsed,
        "ms_per_call": 1000 * statistics.median(latencies),
        "p95_ms_per_call": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "batches": stats.batches,
        "mean_batch": stats.items / max(stats.batches, 1),
    }


def measure(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    encoder = CrossEncoder(model_dir, device=args.device, threads=args.threads)
    pairs = make_pairs(args.pairs)
    detail = encoder.predict_detailed(pairs)
    encoder.predict(make_pairs(32, seed=1))  # warm-up
    rows = [direct(encoder, pairs, b) for b in BATCHES]
    rows += [batched(encoder, pairs, c, args.max_wait_ms) for c in CALLERS]
    return {
        "model": encoder.name,
        "provider": encoder.provider,
        "intra_op_threads": args.threads,
        "pairs": len(pairs),
        "mean_tokens": float(detail.tokens.mean()),
        "truncated": int(detail.truncated.sum()),
        "max_wait_ms": args.max_wait_ms,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="cross-encoder model directory")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    parser.add_argument("--pairs", type=int, default=256, help="pairs per measurement")
    parser.add_argument("--max-wait-ms", type=float, default=3.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.model is None:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = build_tiny_cross_encoder(Path(tmp) / "nli", max_length=256)
            print("no --model given: using a tiny random model built in a temporary directory")
            print("(its figures measure the runtime's overhead, not a real model)")
            result = measure(args, model_dir)
        result["tiny_model"] = True
    else:
        result = measure(args, args.model)
        result["tiny_model"] = False
    print(
        f"model {result['model']} on {result['provider']}, intra-op threads "
        f"{result['intra_op_threads'] or 'default'}; {result['pairs']} pairs of "
        f"{result['mean_tokens']:.0f} tokens on average ({result['truncated']} truncated); "
        f"batcher max_batch 32, max_wait {result['max_wait_ms']:g} ms"
    )
    print(
        f"  {'mode':<14} {'setting':<10} {'pairs/s':>9} {'ms/call':>8} {'batches':>8} {'mean batch':>10}"
    )
    for row in result["rows"]:
        print(
            f"  {row['mode']:<14} {row['setting']:<10} {row['pairs_per_s']:>9.0f} "
            f"{row['ms_per_call']:>8.2f} {row['batches']:>8} {row['mean_batch']:>10.1f}"
        )
    print("  (ms/call: per predict call for direct rows, median per submit for batcher rows)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
