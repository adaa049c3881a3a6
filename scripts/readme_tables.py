"""Regenerate the README's Quality and Speed tables from ``guardrails eval`` and
``guardrails bench``.

::

    python scripts/readme_tables.py                   # run both, rewrite README.md
    python scripts/readme_tables.py --only quality    # just the eval runs
    python scripts/readme_tables.py --from-json DIR   # re-render saved reports, run nothing

It runs, with the installed ``guardrails`` command next to this Python:

* ``guardrails eval DATA --baselines --json DIR/eval-response.json`` and the same
  with ``--level sentence`` (the dev sets, ``../shared/data/dev`` by default);
* ``guardrails bench --json DIR/bench.json``;

keeps the reports in ``DIR`` (``build/readme``) and replaces what stands between
the ``<!-- quality:begin -->`` / ``<!-- quality:end -->`` and ``<!-- speed:begin
-->`` / ``<!-- speed:end -->`` markers of ``README.md``. Nothing else in the README
changes. ``--check`` renders and exits 1 when the README differs (nothing written).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: make `guardrails` importable
    sys.path.insert(0, str(ROOT))

from guardrails._eval_baselines import BASELINES  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "dev"
SECTIONS = ("quality", "speed")


class TableError(ValueError):
    """A report lacks what a table needs, or the README lacks a section's markers."""


def _num(value: object, places: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{places}f}"  # type: ignore[arg-type]


def _pair(d: dict[str, Any] | None) -> str:
    if d is None:
        return "-"
    return f"{_num(d.get('roc_auc'))} / {_num(d.get('balanced_accuracy'))}"


def _level_rows(report: dict[str, Any], suffix: str) -> list[str]:
    base = report.get("baselines") or {}
    names = [n for n, e in report["datasets"].items() if e["level"] != "nli"]
    rows = []
    for name in names:
        entry = report["datasets"][name]
        cells = [_pair(entry)] + [
            _pair(base.get(m, {}).get("datasets", {}).get(name)) for m in BASELINES
        ]
        rows.append(f"| {name}{suffix} ({entry['n']}) | " + " | ".join(cells) + " |")
    if len(names) > 1:
        mean = report["overall"]["mean"]
        cells = [f"**{_pair(mean)}**"] + [_pair(base.get(m, {}).get("mean")) for m in BASELINES]
        rows.append(f"| **mean{suffix}** | " + " | ".join(cells) + " |")
    return rows


def quality_table(response: dict[str, Any], sentence: dict[str, Any] | None = None) -> str:
    """The Quality section's body from ``guardrails eval --baselines`` reports."""
    if "baselines" not in response:
        raise TableError("the response-level eval report has no 'baselines' (run with --baselines)")
    lines = [
        f"`guardrails eval --baselines` with the `{response['pack']}` pack (support threshold "
        f"{response['fusion']['support_threshold']:g}); ROC AUC of the hallucination score / "
        "balanced accuracy. The pack is judged at its own decisions; each baseline at its "
        "one best threshold chosen on these rows (which flatters the baselines).",
        "",
        "| dataset (rows) | pack: AUC / BAcc | NLI alone | lexical | embedding |",
        "|---|---|---|---|---|",
        *_level_rows(response, ""),
    ]
    if sentence is not None:
        lines += _level_rows(sentence, " sentences")
    nli = [(n, e) for n, e in response["datasets"].items() if e["level"] == "nli"]
    if nli:
        lines.append("")
        lines += [
            f"NLI pairs `{n}` ({e['n']}): three-way accuracy {_num(e['accuracy'])}, "
            f"ROC AUC of not-entailment {_num(e['roc_auc'])}."
            for n, e in nli
        ]
    return "\n".join(lines)


def speed_table(bench: dict[str, Any]) -> str:
    """The Speed section's body from a ``guardrails bench`` report."""
    from guardrails.bench.report import markdown

    return markdown(bench)


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with what stands between ``name``'s markers replaced by ``body``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise TableError(f"README.md needs exactly one {begin} ... {end} pair")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def _run(args: Sequence[str]) -> None:
    command = [str(Path(sys.executable).with_name("guardrails")), *args]
    print("+", " ".join(command[1:]), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: cannot read the report: {exc}") from None
    return data


def bodies(out: Path, sections: Sequence[str], data: Path, run: bool) -> dict[str, str]:
    """Each section's new body, from the reports in ``out`` (made first when ``run``)."""
    makers: dict[str, Callable[[], str]] = {}
    if "quality" in sections:
        if run:
            _run(["eval", str(data), "--baselines", "--json", str(out / "eval-response.json")])
            _run(["eval", str(data), "--level", "sentence", "--baselines", "--json",
                  str(out / "eval-sentence.json")])  # fmt: skip
        response, sentence = out / "eval-response.json", out / "eval-sentence.json"
        makers["quality"] = lambda: quality_table(
            _read(response), _read(sentence) if sentence.exists() else None
        )
    if "speed" in sections:
        if run:
            _run(["bench", "--json", str(out / "bench.json")])
        makers["speed"] = lambda: speed_table(_read(out / "bench.json"))
    return {name: make() for name, make in makers.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled dev data (folder)")
    p.add_argument("--only", choices=SECTIONS, action="append", help="one section (repeatable)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "readme", help="report folder")
    p.add_argument("--from-json", type=Path, metavar="DIR", help="render saved reports only")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    p.add_argument("--check", action="store_true", help="exit 1 if the README is not current")
    args = p.parse_args(argv)
    sections = args.only or list(SECTIONS)
    out = args.from_json or args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        new = bodies(out, sections, args.data, run=args.from_json is None)
        old = args.readme.read_text(encoding="utf-8")
        text = old
        for name, body in new.items():
            text = replace_section(text, name, body)
    except (TableError, subprocess.CalledProcessError) as exc:
        print(f"readme_tables: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if text != old:
            print(f"readme_tables: {args.readme} is not current", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(text, encoding="utf-8")
    print(f"rewrote {', '.join(new)} in {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
