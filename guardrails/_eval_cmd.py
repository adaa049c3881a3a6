"""The ``guardrails eval`` command, and what ``calibrate`` shares with it.

Both read labelled JSON Lines (formats A, B and C of :mod:`guardrails._eval_data`),
build the pack's grounding detector and score every row once with
:class:`guardrails.evaluation.Evaluator`. ``eval`` reports the metrics of the
pack's own decisions (see ``docs/evaluation.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails._eval_data import DataError, Format, Row, load_rows
from guardrails._eval_report import (
    DECISION_KEYS,
    SCORE_KEYS,
    Level,
    binary_report,
    data_files,
    fmt_metric,
    mean_report,
    nli_report,
    response_level,
    sample_rows,
    sentence_level,
)
from guardrails._progress import Progress
from guardrails.errors import ConfigError

if TYPE_CHECKING:
    from detectors.grounding import Fusion, Grounding
    from guardrails.evaluation import Evaluator, RowScores
    from guardrails.guard import Guard
    from policies.schema import PackSpec

__all__ = [
    "Dataset",
    "LoadedPack",
    "eval_command",
    "evaluate",
    "fail",
    "fusion_dict",
    "load_pack_grounding",
    "pack_ref",
    "read_datasets",
    "render",
    "score_rows",
]


# ------------------------------------------------------------ shared helpers


def fail(exc: Exception) -> int:
    """Report bad input the way the CLI does (``guardrails: error: ...``); exit status 2."""
    print(f"guardrails: error: {exc}", file=sys.stderr)
    return 2


@dataclass(frozen=True, slots=True)
class Dataset:
    """One data file: its report name, path, format and (sampled) rows."""

    name: str
    path: Path
    format: Format
    rows: list[Row]


def read_datasets(paths: Sequence[Path], limit: int | None, seed: int) -> list[Dataset]:
    """Every file named (folders: their ``*.jsonl``), loaded and sampled to ``limit``
    rows. Names are file stems, with the path where two stems collide."""
    files = data_files(paths)
    stems = [f.stem for f in files]
    out: list[Dataset] = []
    for path in files:
        try:
            fmt, rows = load_rows(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read: {exc}") from None
        name = path.stem if stems.count(path.stem) == 1 else str(path)
        out.append(Dataset(name, path, fmt, sample_rows(rows, limit, seed)))
    return out


@dataclass(frozen=True, slots=True)
class LoadedPack:
    """A pack, its guard, and the grounding detector ``eval``/``calibrate`` work with.

    ``ref`` is what the user named: a built-in pack name or a file path
    (``is_file``); ``label`` names it in messages.
    """

    spec: PackSpec
    guard: Guard
    grounding: Grounding
    ref: str
    label: str
    is_file: bool


def pack_ref(args: argparse.Namespace) -> tuple[str, bool]:
    """What ``--pack``/``--policy`` name: ``(built-in name or file path, is a file)``."""
    if args.policy is not None:
        return str(args.policy), True
    ref = str(args.pack or args.default_pack)
    path = Path(ref)
    return ref, path.suffix in (".yaml", ".yml") or path.exists()


def load_pack_grounding(args: argparse.Namespace) -> LoadedPack:
    """Load the pack the arguments name and pick its grounding detector.

    Raises :class:`ConfigError` when the pack has none, has several and
    ``--detector`` does not say which, or ``--detector`` names another kind.
    """
    from detectors.grounding import Grounding
    from guardrails.guard import Guard
    from policies.loader import load_file, load_pack

    ref, is_file = pack_ref(args)
    spec = load_file(Path(ref)) if is_file else load_pack(ref)
    label = ref if is_file else f"pack {ref!r}"
    guard = Guard._from_spec(spec, label)
    try:
        found = [d for d in guard.detectors if isinstance(d, Grounding)]
        names = ", ".join(d.name for d in guard.detectors) or "none"
        if args.detector is not None:
            found = [d for d in found if d.name == args.detector]
            if not found:
                raise ConfigError(
                    f"{label} has no grounding detector named {args.detector!r} "
                    f"(detectors: {names})"
                )
        if not found:
            raise ConfigError(
                f"{label} has no grounding detector (detectors: {names}); eval and "
                "calibrate need a detector of type 'grounding'"
            )
        if len(found) > 1:
            raise ConfigError(
                f"{label} has {len(found)} grounding detectors "
                f"({', '.join(d.name for d in found)}): choose one with --detector"
            )
    except ConfigError:
        guard.close()
        raise
    return LoadedPack(spec, guard, found[0], ref, label, is_file)


def score_rows(ev: Evaluator, data: Dataset, progress: Progress) -> list[RowScores]:
    """Every format A/B row of ``data`` scored once (the models run here)."""
    out: list[RowScores] = []
    for row in data.rows:
        out.append(ev.score_row(row))
        progress.step(data.name)
    return out


def fusion_dict(f: Fusion) -> dict[str, Any]:
    """A fusion, for reports and model cards (6 decimal places)."""
    return {
        "weights": {k: round(v, 6) for k, v in f.weights.items()},
        "bias": round(f.bias, 6),
        "support_threshold": round(f.support_threshold, 6),
        "contradiction_threshold": round(f.contradiction_threshold, 6),
    }


# ----------------------------------------------------------------------- eval


def _nli_probs(ev: Evaluator, data: Dataset, progress: Progress) -> list[dict[str, float]]:
    from guardrails.evaluation import nli_predictions

    out: list[dict[str, float]] = []
    for i in range(0, len(data.rows), 16):
        batch = data.rows[i : i + 16]
        out += nli_predictions(ev.nli, batch)
        progress.step(data.name, len(batch))
    return out


def _select(datasets: list[Dataset], level: str) -> tuple[list[Dataset], list[dict[str, str]]]:
    """The datasets a level can use; at the sentence level format A files are skipped
    (they have no sentence labels) and named in the report."""
    if level == "response":
        return datasets, []
    keep = [d for d in datasets if d.format != "A"]
    skipped = [
        {"file": str(d.path), "reason": "format A has no sentence labels"}
        for d in datasets
        if d.format == "A"
    ]
    if not any(d.format == "B" for d in keep) and not any(d.format == "C" for d in keep):
        raise DataError(
            "--level sentence needs format B data (rows with 'sentences'); "
            f"every file given is format A: {', '.join(s['file'] for s in skipped)}"
        )
    return keep, skipped


def evaluate(
    loaded: LoadedPack,
    datasets: Sequence[Dataset],
    level: str,
    progress: Progress,
    *,
    baselines: bool = False,
) -> dict[str, Any]:
    """The full ``eval`` report (see ``docs/evaluation.md`` for its keys); with
    ``baselines``, also the NLI-alone, lexical and embedding baselines (the
    embedding one with the shipped embedder)."""
    from guardrails._eval_baselines import baseline_report
    from guardrails.evaluation import Evaluator

    vectors = None
    if baselines:
        from detectors._shared import DEFAULT_EMBEDDING, VectorScorer, model_dir

        md = model_dir(None, DEFAULT_EMBEDDING, "embedding")
        vectors = VectorScorer(md)
    ev = Evaluator(loaded.grounding, vectors)
    by_name: dict[str, list[RowScores]] = {}
    report: dict[str, Any] = {
        "pack": loaded.ref,
        "detector": loaded.grounding.name,
        "level": level,
        "fusion": fusion_dict(loaded.grounding.fusion),
        "datasets": {},
    }
    grounding_levels: list[Level] = []
    nli_parts: tuple[list[dict[str, float]], list[str]] = ([], [])
    for data in datasets:
        entry: dict[str, Any] = {"file": str(data.path), "format": data.format}
        if data.format == "C":
            probs = _nli_probs(ev, data, progress)
            gold = [str(r.label) for r in data.rows]
            nli_parts[0].extend(probs)
            nli_parts[1].extend(gold)
            entry.update(level="nli", **nli_report(probs, gold))
        else:
            scored = by_name[data.name] = score_rows(ev, data, progress)
            examples = sentence_level(scored) if level == "sentence" else response_level(scored)
            grounding_levels.append(examples)
            entry.update(level=level, **binary_report(examples))
        report["datasets"][data.name] = entry
    keys = (*DECISION_KEYS, *SCORE_KEYS)
    entries = list(report["datasets"].values())
    if grounding_levels:
        report["overall"] = {
            "pooled": binary_report(Level.join(grounding_levels)),
            "mean": mean_report([e for e in entries if e["level"] != "nli"], keys),
        }
    if baselines and by_name:
        report["baselines"] = baseline_report(by_name, level)
    if nli_parts[0]:
        report["nli_overall"] = {
            "pooled": nli_report(*nli_parts),
            "mean": mean_report([e for e in entries if e["level"] == "nli"], ("accuracy", *keys)),
        }
    return report


_HEAD = f"{'n':>6} {'pos':>5}   BAcc   prec    rec     F1  ROC AUC  PR AUC"


def _metrics_cells(r: dict[str, Any]) -> str:
    return (
        "".join(f" {fmt_metric(r[k])}" for k in DECISION_KEYS)
        + f"  {fmt_metric(r['roc_auc'], 7)} {fmt_metric(r['pr_auc'], 7)}"
    )


def _table(
    rows: list[tuple[str, str, dict[str, Any]]], means: dict[str, Any] | None, nli: bool = False
) -> list[str]:
    """Metric table; ``nli`` adds the three-way accuracy column."""
    extra = "  3-way acc" if nli else ""
    lines = [f"{'dataset':<18} {'fmt':<3} {_HEAD}{extra}"]
    for name, fmt, r in rows:
        more = f"  {fmt_metric(r['accuracy'], 9)}" if nli else ""
        cells = _metrics_cells(r)
        lines.append(f"{name[:18]:<18} {fmt:<3} {r['n']:>6} {r['positives']:>5}{cells}{more}")
    if means is not None:
        label = f"mean of {means['datasets']}"
        more = f"  {fmt_metric(means['accuracy'], 9)}" if nli else ""
        lines.append(f"{label:<18} {'':<3} {'':>6} {'':>5}{_metrics_cells(means)}{more}")
    return lines


def _confusion_lines(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = [f"{'confusion':<18} {'TP':>6} {'FP':>6} {'FN':>6} {'TN':>6}"]
    for name, r in rows:
        c = r["confusion"]
        lines.append(f"{name[:18]:<18} {c['tp']:>6} {c['fp']:>6} {c['fn']:>6} {c['tn']:>6}")
    return lines


def _section(
    rows: list[tuple[str, str, dict[str, Any]]], overall: dict[str, Any], nli: bool
) -> list[str]:
    """One kind of data: metric table (with pooled and mean rows when there are
    several datasets), then the confusion counts."""
    several = len(rows) > 1
    table_rows = [*rows, ("pooled", "", overall["pooled"])] if several else rows
    lines = _table(table_rows, overall["mean"] if several else None, nli)
    return [*lines, "", *_confusion_lines([(n, e) for n, _, e in table_rows])]


def render(report: dict[str, Any]) -> str:
    """The report as text: a metric table per kind of data, then the confusion counts."""
    entries = report["datasets"]
    lines = [
        f"pack {report['pack']}, detector {report['detector']}, level {report['level']}, "
        f"support threshold {report['fusion']['support_threshold']:g}",
    ]
    grounding = [(n, e["format"], e) for n, e in entries.items() if e["level"] != "nli"]
    if grounding:
        lines += ["", f"{report['level']} level: positive = hallucinated, score = 1 - support"]
        lines += _section(grounding, report["overall"], nli=False)
    nli = [(n, e["format"], e) for n, e in entries.items() if e["level"] == "nli"]
    if nli:
        lines += ["", "NLI pairs: positive = not entailment, score = 1 - P(entailment)"]
        lines += _section(nli, report["nli_overall"], nli=True)
    if report.get("baselines"):
        lines += ["", *_baseline_lines(report)]
    lines += [f"skipped {s['file']}: {s['reason']}" for s in report.get("skipped", [])]
    return "\n".join(lines)


def _baseline_lines(report: dict[str, Any]) -> list[str]:
    """ROC AUC / balanced accuracy per dataset: the pack at its own decisions, each
    baseline at its one best threshold over these rows."""
    names = [n for n, e in report["datasets"].items() if e["level"] != "nli"]
    columns = [("pack", report["datasets"], report["overall"]["mean"])]
    columns += [(m, b["datasets"], b["mean"]) for m, b in report["baselines"].items()]
    head = "".join(f" {label:>15}" for label, *_ in columns)
    lines = [
        "baselines (ROC AUC / balanced accuracy; a baseline at its one best threshold "
        "chosen on these rows):",
        f"{'dataset':<18}{head}",
    ]

    def cell(d: dict[str, Any] | None) -> str:
        if d is None:
            return f" {'-':>15}"
        pair = f"{fmt_metric(d['roc_auc'], 5)} / {fmt_metric(d['balanced_accuracy'], 5)}"
        return f" {pair:>15}"

    lines += [
        f"{name[:18]:<18}" + "".join(cell(per.get(name)) for _, per, _ in columns) for name in names
    ]
    if len(names) > 1:
        lines.append(f"{'mean':<18}" + "".join(cell(mean) for *_, mean in columns))
    return lines


def eval_command(args: argparse.Namespace) -> int:
    """``guardrails eval``: exit 0 with the report, 2 on bad data or a pack without grounding."""
    try:
        datasets, skipped = _select(read_datasets(args.data, args.limit, 0), args.level)
    except DataError as exc:
        return fail(exc)
    for s in skipped:
        print(f"guardrails: skipping {s['file']}: {s['reason']}", file=sys.stderr)
    loaded = load_pack_grounding(args)
    try:
        progress = Progress(sum(len(d.rows) for d in datasets))
        report = evaluate(loaded, datasets, args.level, progress, baselines=args.baselines)
    finally:
        loaded.guard.close()
    report["limit"] = args.limit
    report["skipped"] = skipped
    print(render(report))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            return fail(OSError(f"{args.json}: cannot write the report: {exc.strerror}"))
    return 0
