"""The ``guardrails bench`` subcommand: its arguments and what it runs.

Kept apart from the measurements so that building the command-line parser
imports nothing but argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guardrails.bench import SECTIONS

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` to the ``guardrails`` subcommands."""
    bench = sub.add_parser(
        "bench",
        help="measure stream overhead, throughput, runtime and memory on this machine",
        description="Speed of the default pack on this machine: a table, and JSON with --json.",
    )
    bench.add_argument("--quick", action="store_true", help="shrink every section (smoke run)")
    bench.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the models run (cuda needs onnxruntime-gpu; default: auto)",
    )
    bench.add_argument("--json", type=Path, metavar="OUT", help="also write the report here")
    bench.add_argument(
        "--only", nargs="+", choices=SECTIONS, metavar="SECTION", help="run only these sections"
    )
    bench.add_argument("--nli-model", type=Path, metavar="DIR", help="NLI model directory")
    bench.add_argument("--embed-model", type=Path, metavar="DIR", help="embedding model directory")
    bench.add_argument(
        "--delta-chars", type=int, default=4, help="characters per fake LLM delta (default: 4)"
    )
    bench.add_argument(
        "--delta-ms", type=float, default=20.0, help="pause before each delta, ms (default: 20)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the bench as ``args`` say; print the table; write the JSON report if asked."""
    from guardrails.bench._common import BenchError, BenchSettings, quick_settings
    from guardrails.bench.report import render, run_bench

    options = {
        "device": args.device,
        "sections": tuple(args.only or SECTIONS),
        "nli_model": args.nli_model,
        "embed_model": args.embed_model,
        "delta_chars": args.delta_chars,
        "delta_ms": args.delta_ms,
    }
    settings = quick_settings(**options) if args.quick else BenchSettings(**options)
    report = run_bench(settings, progress=lambda name: print(f"bench: {name} ...", file=sys.stderr))
    print(render(report))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"{args.json}: cannot write the report: {exc}") from exc
    return 0
