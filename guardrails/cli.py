"""The ``guardrails`` command line.

* ``check ANSWER --context CTX [--pack NAME | --policy FILE] [--json]``: validate a
  text file, print a report (or JSON). Exit 0 passed, 1 a cut/block/raise fired.
* ``packs list | show PACK | validate FILE... | schema | test PACK...``: policy packs;
  a PACK is a built-in name or a YAML file. Exit 1 when a pack is invalid or a
  golden case fails.
* ``models list [DIR...] | verify [DIR...] | export SOURCE DEST --kind K``: model
  directories (shipped ones by default); exit 1 when a checksum does not match.
* ``eval DATA... [--pack P | --policy FILE] [--level response|sentence] [--json OUT]``:
  metrics of the pack's grounding on labelled JSONL (docs/evaluation.md).
* ``calibrate DATA... --target T [--min-precision X] -o NEW.yaml``: fit the grounding
  fusion and support threshold, write a pack extending the original; exit 1 when
  ``--min-precision`` cannot be reached.
* ``bench [--quick] [--device auto|cpu|cuda] [--json OUT] [--only SECTION...]``: speed of
  the default pack on this machine, as a table (docs/benchmarks.md).

Exit status 2 means bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from guardrails import __version__
from guardrails._cli_eval import add_parsers as add_eval_parsers
from guardrails._cli_eval import run_calibrate, run_eval
from guardrails.bench.command import add_parser as add_bench_parser
from guardrails.bench.command import run as run_bench
from guardrails.errors import Blocked, ConfigError, GuardrailError

__all__ = ["main"]

DEFAULT_PACK = "rag-balanced"


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

    packs = sub.add_parser("packs", help="list, show, validate and test policy packs")
    verbs = packs.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="the built-in packs")
    show = verbs.add_parser("show", help="a pack with its extends merged, as YAML")
    show.add_argument("pack", help="built-in name or YAML file")
    validate = verbs.add_parser("validate", help="check pack files; exit 1 on errors")
    validate.add_argument("packs", nargs="+", help="built-in names or YAML files")
    verbs.add_parser("schema", help="the JSON Schema of a pack file, for editors")
    test = verbs.add_parser("test", help="run the golden tests: cases of packs")
    test.add_argument("packs", nargs="+", help="built-in names or YAML files")

    models = sub.add_parser("models", help="list, verify and export model directories")
    mverbs = models.add_subparsers(dest="verb", required=True)
    mlist = mverbs.add_parser("list", help="the shipped models (and any DIRs given)")
    mlist.add_argument("dirs", nargs="*", type=Path, help="more model directories")
    verify = mverbs.add_parser("verify", help="check checksums; exit 1 on a bad model")
    verify.add_argument("dirs", nargs="*", type=Path, help="model directories (default: shipped)")
    export = mverbs.add_parser("export", help="a transformers model -> an ONNX model directory")
    export.add_argument("source", help="a local transformers directory or a hub id (network)")
    export.add_argument("dest", type=Path, help="the new model directory")
    export.add_argument("--kind", choices=["cross-encoder", "embedding"], required=True)
    export.add_argument("--fp32", action="store_true", help="skip int8 quantization")
    export.add_argument("--max-length", type=int)
    add_eval_parsers(sub, DEFAULT_PACK)
    add_bench_parser(sub)
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
                "support": s.support,
                "evidence": [
                    {
                        "passage": e.passage,
                        "start": e.start,
                        "end": e.end,
                        "text": e.text,
                        "scores": dict(e.scores),
                    }
                    for e in s.evidence
                ],
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
        grade = f" {s.label} (support {s.support:.2f})" if s.support is not None else ""
        lines.append(f"  [{s.segment.index}] {s.fate:<11} {s.text.strip()[:90]!r}{grade}")
        lines += [
            f"        {f.detector}/{f.label} ({f.score:.2f}): {f.message}" for f in s.findings
        ]
        lines += [
            f"        evidence: passage {e.passage + 1} [{e.start}:{e.end}] {e.text.strip()[:90]!r}"
            for e in s.evidence[:1]
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


def _load(pack: str) -> tuple[Any, str]:
    """A built-in pack name or a file -> (resolved spec, how to name it)."""
    from policies.loader import load_file, load_pack

    path = Path(pack)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_file(path), str(path)
    return load_pack(pack), pack


def _packs(args: argparse.Namespace) -> int:
    import yaml

    from guardrails.golden import run_cases
    from guardrails.guard import Guard
    from policies.loader import builtin_packs, pack_json_schema

    if args.verb == "schema":
        print(json.dumps(pack_json_schema(), indent=2))
        return 0
    if args.verb == "list":
        for name in builtin_packs():
            try:
                spec, _ = _load(name)
                Guard.from_pack(name).close()
                state = ""
            except GuardrailError as exc:
                detail = exc.detail if isinstance(exc, ConfigError) else str(exc)
                state = f"  [unavailable: {detail.splitlines()[0]}]"
                spec = None
            about = " ".join((spec.description if spec else "").split())
            print(f"{name:<14} built-in  {about}{state}")
        return 0
    if args.verb == "show":
        spec, _ = _load(args.pack)
        data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        data.pop("extends", None)  # already merged in: the output stands on its own
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
        return 0
    failed = 0
    for pack in args.packs:
        try:
            spec, name = _load(pack)
            guard = Guard._from_spec(spec, name)
        except GuardrailError as exc:
            print(f"{pack}: INVALID: {exc}")
            failed += 1
            continue
        if args.verb == "validate":
            print(f"{name}: ok ({len(spec.detectors)} detectors, {len(spec.rules)} rules)")
            guard.close()
            continue
        outcomes = run_cases(guard, spec.tests)
        guard.close()
        if not outcomes:
            print(f"{name}: no tests")
        for outcome in outcomes:
            print(f"{name:<14} {'PASS' if outcome.passed else 'FAIL'}  {outcome.name}")
            for problem in outcome.problems:
                print(f"{'':<20}{problem}")
        failed += sum(not o.passed for o in outcomes)
    return 1 if failed else 0


def _models(args: argparse.Namespace) -> int:
    from detectors._shared import MODELS_DIR
    from detectors.runtime import ModelDir

    if args.verb == "export":
        from detectors.export import export_model

        card = export_model(
            args.source,
            args.dest,
            kind=args.kind,
            quantize=not args.fp32,
            max_length=args.max_length,
        )
        print(f"{args.dest}: {card['kind']} model, max_length {card['max_length']}")
        return 0
    dirs = list(args.dirs) or sorted(p for p in MODELS_DIR.glob("*") if p.is_dir())
    bad = 0
    for path in dirs:
        try:
            md = ModelDir(path)
            if args.verb == "verify":
                md.verify()
        except GuardrailError as exc:
            print(f"{path}: BAD: {exc}")
            bad += 1
            continue
        size = md.model_path.stat().st_size / 1e6
        state = "checksums ok" if args.verb == "verify" else f"{size:.1f} MB"
        labels = f" labels {list(md.labels)}" if md.kind == "cross-encoder" else ""
        print(f"{md.name:<20} {md.kind:<14} {state}{labels}  {path}")
    if not dirs:
        print(f"no models in {MODELS_DIR}")
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"packs": _packs, "models": _models, "check": _check}
    commands.update(eval=run_eval, calibrate=run_calibrate)
    commands.update(bench=run_bench)
    try:
        return commands[args.command](args)
    except GuardrailError as exc:
        print(f"guardrails: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
