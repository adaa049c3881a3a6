"""``guardrails calibrate``: fit a pack's grounding fusion and support threshold on
labelled data and write a pack that extends the original with the fitted values.

Steps: split the rows by a hash of their id (``--holdout`` of them held out);
score every row once with the pack's grounding detector; on the fitting rows,
fit the fusion (:func:`guardrails.evaluation.fit_fusion` on sentence examples,
unless ``--keep-fusion``), then the support threshold for ``--target`` (see
:mod:`guardrails._calibrate`) at the sentence level when every row is format
B, else at the response level; re-fuse the held-out rows without a second
model pass and print their metrics before and after, and the threshold curve.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails._calibrate import (
    CalibrationTarget,
    Example,
    Point,
    Unreachable,
    choose,
    curve,
    response_examples,
    sentence_examples,
    split_rows,
)
from guardrails._eval_cmd import (
    Dataset,
    LoadedPack,
    fail,
    load_pack_grounding,
    pack_ref,
    read_datasets,
    score_rows,
)
from guardrails._eval_data import DataError, Row
from guardrails._eval_report import (
    DECISION_KEYS,
    binary_report,
    fmt_metric,
    response_level,
    sentence_level,
)
from guardrails._progress import Progress

if TYPE_CHECKING:
    from detectors.grounding import Fusion
    from guardrails.evaluation import RowScores

__all__ = [
    "Calibration",
    "calibrate",
    "calibrate_command",
    "extends_ref",
    "pack_yaml",
    "write_pack",
]

CURVE_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""The thresholds of the printed curve (the chosen one is added)."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """What was fitted: the new ``fusion`` (with its support threshold), the point
    chosen on the fitting rows, and how the fusion came about (``fusion_note``)."""

    fusion: Fusion
    point: Point
    refit: bool
    examples: int
    fusion_note: str


def _examples(scored: Sequence[RowScores], level: str) -> list[Example]:
    return sentence_examples(scored) if level == "sentence" else response_examples(scored)


def _fit_fusion(fit: Sequence[RowScores], original: Fusion) -> tuple[Fusion, bool, int, str]:
    """The fusion fitted on the sentence examples of ``fit`` (weights rounded to 4
    places, so what is written is what is measured), or ``original`` with the reason."""
    from detectors.grounding import Fusion
    from guardrails.evaluation import fit_fusion, fusion_examples

    examples = fusion_examples(fit)
    try:
        fitted = fit_fusion(
            [signals for _, signals, _ in examples],
            [label for *_, label in examples],
            contradiction_threshold=original.contradiction_threshold,
        )
    except ValueError as exc:
        return original, False, len(examples), f"kept the pack's fusion: {exc}"
    rounded = Fusion(
        weights={k: round(v, 4) for k, v in fitted.weights.items()},
        bias=round(fitted.bias, 4),
        support_threshold=original.support_threshold,
        contradiction_threshold=original.contradiction_threshold,
    )
    return rounded, True, len(examples), f"fitted on {len(examples)} sentence examples"


def calibrate(
    fit: Sequence[RowScores],
    level: str,
    original: Fusion,
    target: CalibrationTarget,
    *,
    min_precision: float | None = None,
    keep_fusion: bool = False,
) -> Calibration:
    """Fit on the scored rows ``fit``; raises :class:`Unreachable` (``min_precision``)."""
    if keep_fusion:
        fusion, refit, n, note = original, False, 0, "kept the pack's fusion (--keep-fusion)"
    else:
        fusion, refit, n, note = _fit_fusion(fit, original)
    fused = [rs.with_fusion(fusion) for rs in fit] if refit else list(fit)
    point = choose(_examples(fused, level), target, min_precision=min_precision)
    return Calibration(replace(fusion, support_threshold=point.threshold), point, refit, n, note)


# ------------------------------------------------------------------ writing


def extends_ref(loaded: LoadedPack, output: Path) -> str:
    """How the new pack names the original: the built-in name, or the file's path
    relative to the new pack's folder (absolute when no relative path exists)."""
    if not loaded.is_file:
        return loaded.ref
    target = Path(loaded.ref).resolve()
    try:
        rel = Path(os.path.relpath(target, output.resolve().parent)).as_posix()
    except ValueError:  # another drive
        return str(target)
    if "/" not in rel and not rel.endswith((".yaml", ".yml")):
        rel = "./" + rel  # a bare name would be read as a built-in pack
    return rel


def pack_yaml(
    loaded: LoadedPack, output: Path, cal: Calibration, header: Sequence[str]
) -> dict[str, Any]:
    """The new pack as data: it extends the original and redefines its grounding
    detector entry (``extends`` replaces a detector entry whole, so every option
    the original set is kept) with the fitted values."""
    name = loaded.grounding.name
    entry = loaded.spec.detectors[name]
    options: dict[str, Any] = entry.model_dump(
        mode="json", include=set(entry.model_fields_set) | {"type"}
    )
    options["type"] = entry.type
    if cal.refit:
        options["fusion_weights"] = dict(cal.fusion.weights)
        options["fusion_bias"] = cal.fusion.bias
    options["support_threshold"] = cal.point.threshold
    ordered = {"type": options.pop("type"), **options}
    return {
        "name": f"{loaded.spec.name}-calibrated",
        "description": " ".join(header),
        "extends": extends_ref(loaded, output),
        "detectors": {name: ordered},
    }


def write_pack(data: dict[str, Any], output: Path, comments: Sequence[str]) -> None:
    """Check that ``data`` loads as a pack from ``output``'s folder, then write it."""
    import yaml

    from policies.loader import parse_pack

    output.parent.mkdir(parents=True, exist_ok=True)  # relative extends resolve from there
    parse_pack(data, str(output), base_dir=output.resolve().parent)
    text = "".join(f"# {line}\n" for line in comments)
    text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    output.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------- printing


_METRICS_HEAD = "   BAcc   prec    rec     F1  ROC AUC"


def _metrics_row(label: str, r: dict[str, Any]) -> str:
    cells = "".join(f" {fmt_metric(r[k])}" for k in DECISION_KEYS)
    return f"{label:<24}{cells}  {fmt_metric(r['roc_auc'], 7)}"


def curve_lines(points: Sequence[Point], marks: dict[float, str]) -> list[str]:
    """The threshold curve as a text table, one line per threshold."""
    lines = [f"{'threshold':>10} {'flagged':>8}   prec    rec     F1   BAcc"]
    for p in points:
        mark = f"  <- {marks[p.threshold]}" if p.threshold in marks else ""
        lines.append(
            f"{p.threshold:>10.4g} {p.tp + p.fp:>8} {fmt_metric(p.precision)} "
            f"{fmt_metric(p.recall)} {fmt_metric(p.f1)} {fmt_metric(p.balanced_accuracy)}{mark}"
        )
    return lines


def plot_curve(points: Sequence[Point], chosen: float, path: Path, title: str) -> str | None:
    """Draw the curve into a PNG; the reason when it cannot (matplotlib missing)."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib); the curve is text only"
    matplotlib.use("Agg")  # files only: never open a window
    plt = importlib.import_module("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p.threshold for p in points]
    for metric, label in (
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "F1"),
        ("balanced", "balanced accuracy"),
    ):
        ax.plot(xs, [p.value(metric) for p in points], label=label)  # type: ignore[arg-type]
    ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen {chosen:g}")
    ax.set_xlabel("support threshold (unsupported when support < threshold)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


# ---------------------------------------------------------------- the command


def _split(
    datasets: Sequence[Dataset], holdout: float, seed: int
) -> tuple[list[Row], list[Row], str]:
    for d in datasets:
        if d.format == "C":
            raise DataError(
                f"{d.path}: format C (NLI pairs) cannot be calibrated on; "
                "give format A or B data (context, response, label)"
            )
    rows = [r for d in datasets for r in d.rows]
    level = "sentence" if all(r.format == "B" for r in rows) else "response"
    fit, held = split_rows(rows, holdout, seed)
    if not fit:
        raise DataError(f"no rows left to fit on ({len(rows)} rows, --holdout {holdout})")
    return fit, held, level


def _score(loaded: LoadedPack, datasets: Sequence[Dataset]) -> dict[tuple[str, str], RowScores]:
    from guardrails.evaluation import Evaluator

    ev = Evaluator(loaded.grounding)
    progress = Progress(sum(len(d.rows) for d in datasets))
    return {(rs.row.dataset, rs.row.id): rs for d in datasets for rs in score_rows(ev, d, progress)}


def calibrate_command(args: argparse.Namespace) -> int:
    """``guardrails calibrate``: exit 0 after writing the pack, 1 when ``--min-precision``
    cannot be reached (nothing written), 2 on bad input."""
    try:
        datasets = read_datasets(args.data, args.limit, args.seed)
        fit_rows, held_rows, level = _split(datasets, args.holdout, args.seed)
    except DataError as exc:
        return fail(exc)
    ref, is_file = pack_ref(args)
    if is_file and args.output.resolve() == Path(ref).resolve():
        return fail(ValueError(f"-o {args.output}: would overwrite the pack it extends"))
    loaded = load_pack_grounding(args)
    try:
        scored = _score(loaded, datasets)
    finally:
        loaded.guard.close()
    fit = [scored[(r.dataset, r.id)] for r in fit_rows]
    held = [scored[(r.dataset, r.id)] for r in held_rows]
    original = loaded.grounding.fusion
    try:
        cal = calibrate(
            fit,
            level,
            original,
            args.target,
            min_precision=args.min_precision,
            keep_fusion=args.keep_fusion,
        )
    except Unreachable as exc:
        print(f"guardrails: {exc} on the {len(fit)} fitting rows; no pack written", file=sys.stderr)
        return 1
    measured = held or fit
    where = (
        f"the {len(held)} held-out rows" if held else f"the {len(fit)} fitting rows (none held out)"
    )
    after_rows = [rs.with_fusion(cal.fusion) for rs in measured]
    level_of = sentence_level if level == "sentence" else response_level
    before, after = binary_report(level_of(measured)), binary_report(level_of(after_rows))
    lines = _summary(args, loaded, cal, len(fit), len(held), level, original)
    unit = f" ({before['n']} labelled sentences)" if level == "sentence" else ""
    lines += ["", f"metrics on {where}{unit}, {level} level:", f"{'':<24}{_METRICS_HEAD}"]
    lines += [
        _metrics_row("before (pack as is)", before),
        _metrics_row("after (calibrated)", after),
    ]
    lines += ["", f"threshold curve on {where}, with the calibrated fusion:"]
    lines += _curve_text(_examples(after_rows, level), cal, original)
    comments = [
        f"Written by guardrails calibrate: target {args.target}, {level} level, {len(fit)} "
        f"fitting rows from {', '.join(d.path.name for d in datasets)}.",
        f"On {where}: balanced accuracy {_short(before['balanced_accuracy'])} -> "
        f"{_short(after['balanced_accuracy'])}, F1 {_short(before['f1'])} -> {_short(after['f1'])}.",
    ]
    header = [f"{loaded.spec.name} with its grounding detector calibrated on labelled data."]
    write_pack(pack_yaml(loaded, args.output, cal, header), args.output, comments)
    lines += ["", f"wrote {args.output} (extends {extends_ref(loaded, args.output)})"]
    print("\n".join(lines))
    if args.plot is not None:
        fine = curve(_examples(after_rows, level), [k / 200 for k in range(201)])
        why = plot_curve(fine, cal.point.threshold, args.plot, f"{where}, {level} level")
        if why is None:
            print(f"wrote {args.plot}")
        else:
            print(f"guardrails: no plot: {why}", file=sys.stderr)
    return 0


def _curve_text(examples: Sequence[Example], cal: Calibration, original: Fusion) -> list[str]:
    """The curve over :data:`CURVE_THRESHOLDS` plus the chosen threshold (and, when the
    fusion was kept, the pack's own, which is then a point of the same curve)."""
    marks = {cal.point.threshold: "chosen"}
    if not cal.refit:
        marks.setdefault(original.support_threshold, "the pack's")
    return curve_lines(curve(examples, sorted({*CURVE_THRESHOLDS, *marks})), marks)


def _short(value: float | None) -> str:
    return fmt_metric(value, 0)


def _summary(
    args: argparse.Namespace,
    loaded: LoadedPack,
    cal: Calibration,
    n_fit: int,
    n_held: int,
    level: str,
    original: Fusion,
) -> list[str]:
    how = (
        "sentence (format B data: each labelled sentence is judged)"
        if level == "sentence"
        else "response (a response is reported when any of its claim sentences is)"
    )
    lines = [
        f"calibrate {loaded.label}, detector {loaded.grounding.name}: {n_fit} rows to fit on, "
        f"{n_held} held out (--holdout {args.holdout:g}, seed {args.seed})",
        f"level: {how}",
        f"fusion: {cal.fusion_note}",
    ]
    if cal.refit:
        weights = ", ".join(f"{k} {v:+.4g}" for k, v in cal.fusion.weights.items())
        lines.append(f"  bias {cal.fusion.bias:+.4g}, weights: {weights}")
    p = cal.point
    goal = f"target {args.target}" + (
        f" with precision >= {args.min_precision:g}" if args.min_precision is not None else ""
    )
    lines.append(
        f"support threshold: {original.support_threshold:g} -> {p.threshold:g} ({goal}; on the "
        f"fitting rows: precision {p.precision:.3f}, recall {p.recall:.3f}, F1 {p.f1:.3f}, "
        f"balanced accuracy {p.balanced_accuracy:.3f})"
    )
    return lines
