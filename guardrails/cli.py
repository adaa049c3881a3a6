"""The ``guardrails`` command line.

``guardrails check ANSWER --context CTX [--context CTX2] [--pack NAME | --policy FILE] [--json]``
validates a text file and prints a report (or JSON). Exit status: 0 passed,
1 a cut/block/raise fired, 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guardrails import __version__
from guardrails.errors import Blocked, GuardrailError

__all__ = ["main"]

DEFAULT_PACK = "pii-redact"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guardrails", description="Validate LLM output against context and policies."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a text file and report what the guard did")
    check.add_argument("file", type=Path, help="the LLM output to check ('-' for stdin)")
    check.add_argument(
        "--context",
        type=Path,
        action="append",
        default=[],
        help="a context passage file (repeatable)",
    )
    source = check.add_mutually_exclusive_group()
    source.add_argument("--pack", help=f"built-in policy pack (default: {DEFAULT_PACK})")
    source.add_argument("--policy", type=Path, help="a YAML policy pack file")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GuardrailError(f"{path}: cannot read: {exc}") from None


def _result_json(result: Any) -> dict[str, Any]:
    def finding(f: Any) -> dict[str, Any]:
        return {
            "detector": f.detector,
            "label": f.label,
            "score": f.score,
            "span": list(f.span),
            "text": result.upstream[f.span[0] : f.span[1]],
            "message": f.message,
        }

    return {
        "passed": result.passed,
        "text": result.text,
        "support": result.support,
        "segments": [
            {
                "index": s.segment.index,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "fate": s.fate,
                "label": s.label,
                "findings": [finding(f) for f in s.findings],
            }
            for s in result.segments
        ],
        "actions": [
            {
                "action": a.action,
                "rule": a.rule,
                "message": a.message,
                "edits": [[e.start, e.end] for e in a.edits],
            }
            for a in result.actions
        ],
    }


def _report(result: Any, name: str) -> str:
    lines = [f"{name}: {'PASSED' if result.passed else 'FAILED'}"]
    for s in result.segments:
        if not s.findings and s.fate == "released":
            continue
        lines.append(f"  [{s.segment.index}] {s.fate:<11} {s.text.strip()[:90]!r}")
        lines += [
            f"        {f.detector}/{f.label} ({f.score:.2f}): {f.message}" for f in s.findings
        ]
    quiet = sum(1 for s in result.segments if not s.findings and s.fate == "released")
    lines.append(f"  {quiet} segment(s) without findings")
    lines += [f"  action {a.action} ({a.rule or 'default'}): {a.message}" for a in result.actions]
    lines.append("--- output ---")
    lines.append(result.text)
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    from guardrails.guard import Guard

    if args.policy is not None:
        guard = Guard.from_yaml(args.policy)
        name = str(args.policy)
    else:
        name = args.pack or DEFAULT_PACK
        guard = Guard.from_pack(name)
    text = _read(args.file)
    context = [_read(p) for p in args.context]
    try:
        result = guard.validate(text, context)
    except Blocked as exc:
        result = exc.result
    finally:
        guard.close()
    print(json.dumps(_result_json(result), indent=2) if args.json else _report(result, name))
    return 0 if result.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _check(args)
    except GuardrailError as exc:
        print(f"guardrails: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
