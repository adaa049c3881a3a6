"""Grounding cost: added release delay per sentence, and scaling with input size.

1. Hold mode, 3-passage context, an upstream of 4-character deltas every 20 ms:
   the delay from the delta that completes a sentence to its release (the
   grounding check, NLI included), timed by ``guardrails.bench.stream`` as in
   ``release_latency.py`` (``guardrails bench`` measures the whole default pack).
2. Long inputs: ``validate`` on a context of P pages and an answer of W words,
   at two sizes (the second twice the first): the time should double, not
   quadruple, and peak memory stay bounded.

Uses the shipped NLI model, or ``--model DIR``; with neither, a tiny random model
(built on the spot; it measures the machinery, not a real model's cost).

Run: python benchmarks/grounding.py [--model DIR] [--sentences 30] [--pages 25] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from detectors._shared import DEFAULT_NLI, MODELS_DIR
from detectors.grounding import Grounding
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails import Guard
from guardrails.bench import summarize
from guardrails.bench.stream import Recorder, released_pieces, sentence_delays
from guardrails.events import Event
from guardrails.segmenter import split
from guardrails.testing import FakeLLM

PASSAGES = [
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It is 330 metres tall and "
    "was the tallest man-made structure in the world until 1930. It opened in 1889.",
    "The tower was designed by the engineering company of Gustave Eiffel for the 1889 "
    "World's Fair. It has three levels for visitors, with restaurants on the first and second.",
    "About seven million people visit the tower every year. Tickets can be bought online; "
    "the lift to the top level runs from 9 a.m. to 11 p.m. in summer.",
]
CLAIMS = [
    "The Eiffel Tower is 330 metres tall.",
    "It opened in 1889 for the World's Fair.",
    "The tower has three levels for visitors.",
    "About seven million people visit every year.",
    "The lift runs until midnight in winter.",
    "Gustave Eiffel designed it alone in 1887.",
]


def model_path(option: str | None) -> tuple[str, str]:
    if option:
        return option, option
    shipped = MODELS_DIR / DEFAULT_NLI
    if shipped.is_dir():
        return str(shipped), f"shipped {DEFAULT_NLI}"
    tiny = build_tiny_cross_encoder(Path(tempfile.mkdtemp()) / "nli")
    return str(tiny), "tiny random model (no shipped model found)"


def warm_guard(model: str) -> Guard:
    """A guard whose model is loaded (the first check pays for the session)."""
    guard = Guard([Grounding(model=model)])
    guard.validate("Warm-up sentence about nothing in particular.", PASSAGES)
    return guard


def answer_of(n: int) -> str:
    """n claims, none repeated (repeats would come from the cache)."""
    return " ".join(
        CLAIMS[i % len(CLAIMS)]
        if i < len(CLAIMS)
        else f"{CLAIMS[i % len(CLAIMS)][:-1]}, as noted {i}."
        for i in range(n)
    )


def release_delay(model: str, n: int, delay_s: float) -> dict[str, dict[str, float]]:
    text = answer_of(n)
    ends = [seg.end for seg in split(text)]
    out = {}
    guard = warm_guard(model)
    rec = Recorder()
    upstream = rec.wrap(FakeLLM(text, chunk=4, delay_s=delay_s).stream())
    got = [(e, time.perf_counter()) for e in guard.events(upstream, PASSAGES)]
    out["sync"] = summarize([d.decided for d in sentence_delays(released_pieces(got), rec, ends)])
    guard.close()

    async def amain() -> list[tuple[Event, float]]:
        upstream = arec.awrap(FakeLLM(text, chunk=4, delay_s=delay_s).astream())
        return [(e, time.perf_counter()) async for e in guard.aevents(upstream, PASSAGES)]

    guard = warm_guard(model)  # a fresh cache for the async run
    arec = Recorder()
    agot = asyncio.run(amain())
    out["async"] = summarize(
        [d.decided for d in sentence_delays(released_pieces(agot), arec, ends)]
    )
    guard.close()
    return out


def corpus(data: Path | None, seed: int = 0) -> tuple[list[str], list[str]]:
    """Real text when the dev data is there (contexts for pages, responses for answers),
    else random sentences over the passages' words."""
    rows = []
    for path in sorted(data.glob("*.jsonl")) if data and data.is_dir() else []:
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh]
    docs = [r["context"] for r in rows if r.get("context") and r.get("response")]
    answers = [r["response"] for r in rows if r.get("context") and r.get("response")]
    if docs:
        random.Random(seed).shuffle(docs)
        return docs, answers
    rng = random.Random(seed)
    vocab = " ".join(PASSAGES).replace(".", "").split()

    def sentence() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 20))).capitalize() + "."

    return [" ".join(sentence() for _ in range(30)) for _ in range(400)], [
        sentence() for _ in range(4000)
    ]


def long_input(model: str, pages: int, words: int, data: Path | None = None) -> dict[str, float]:
    docs, answers = corpus(data)
    text = " ".join(docs).split()
    context = [" ".join(text[i * 450 : (i + 1) * 450]) for i in range(pages)]  # 450-word pages
    picked, count = [], 0
    for a in answers:
        if count >= words:
            break
        picked.append(a)
        count += len(a.split())
    answer = " ".join(picked)
    guard = warm_guard(model)
    start = time.perf_counter()
    result = guard.validate(answer, context)
    elapsed = time.perf_counter() - start
    guard.close()
    return {
        "pages": pages,
        "context_words": sum(len(p.split()) for p in context),
        "answer_words": count,
        "sentences": len(result.segments),
        "seconds": elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an NLI model directory (default: the shipped one)")
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--pages", type=int, default=25, help="pages of the smaller long input")
    parser.add_argument("--words", type=int, default=10_000, help="answer words of the smaller one")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data/dev"),
        help="JSONL files whose contexts/responses make the long inputs",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    model, about = model_path(args.model)
    print(f"model: {about}")
    delays = release_delay(model, args.sentences, 0.02)
    print("added release delay per sentence, hold mode, 3 passages, 4-char deltas every 20 ms")
    for driver, s in delays.items():
        print(
            f"  {driver:<6} n={s['n']:.0f}  p50 {s['p50']:.1f} ms  p95 {s['p95']:.1f} ms  p99 {s['p99']:.1f} ms"
        )
    sizes = [long_input(model, args.pages * k, args.words * k, args.data) for k in (1, 2)]
    print("long inputs (validate):")
    for r in sizes:
        print(
            f"  {r['pages']:>4} pages ({r['context_words']:.0f} words) x {r['answer_words']:.0f}-word answer"
            f" ({r['sentences']:.0f} segments): {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"  time ratio for 2x input: {sizes[1]['seconds'] / sizes[0]['seconds']:.2f} (linear = 2.0)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"model": about, "delay": delays, "long": sizes}, indent=2)
        )


if __name__ == "__main__":
    main()
