"""Evaluate the grounding cascade and its baselines on labelled data (the dev sets).

::

    python scripts/evaluate.py                          # every *.jsonl in ../shared/data/dev
    python scripts/evaluate.py --limit 60 --threads 1   # a fixed sample of 60 rows per file
    python scripts/evaluate.py --fit-fusion --card detectors/models/nli-minilm-l6

Per response-level file (formats A and B): ROC AUC and balanced accuracy of the
hallucination scores of ``cascade`` (the grounding detector), ``nli`` (its NLI
signal alone), ``lexical`` and ``embedding`` (baselines); see
:mod:`guardrails.evaluation`. The cascade's balanced accuracy uses the
shipped thresholds (a response is flagged when the guard reports any of its
sentences); the other methods' uses the single best threshold **chosen on the
same dev rows** (optimistic; ``BAcc@dev`` gives it for every method). Format B
files also get sentence-level metrics; format C files the NLI model's 3-way
accuracy and its entailment-vs-not ROC AUC.

``--fit-fusion`` fits the fusion: logistic regression over the sentence
signals on sentence-level examples, then the support and contradiction
thresholds with the best mean balanced accuracy over the files at the response
level. It is 2-fold cross-fitted by row (fold = CRC32 of the row id) and
reports ``cascade+fit``, where each row is scored with the fusion fitted on
the other fold; the fusion fitted on all rows is printed and, with ``--card DIR``, written to ``DIR/card.json`` (``"fusion"``).
``--card`` also writes the metrics table there (``"dev_metrics"``). card.json
is not checksummed, so no ``sha256`` entry changes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: make `guardrails`, `detectors` importable
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from detectors._shared import DEFAULT_EMBEDDING, DEFAULT_NLI, VectorScorer, model_dir  # noqa: E402
from detectors.grounding import Fusion, Grounding  # noqa: E402
from guardrails._calibrate import fit_decision  # noqa: E402
from guardrails._eval_cmd import fusion_dict  # noqa: E402
from guardrails._eval_report import (  # noqa: E402
    decision_metrics,
    nli_report,
    sample_rows,
    score_metrics,
)
from guardrails._progress import Progress  # noqa: E402
from guardrails.errors import ModelError  # noqa: E402
from guardrails.evaluation import (  # noqa: E402
    METHODS,
    DataError,
    Evaluator,
    Format,
    Row,
    RowScores,
    SentenceScores,
    best_threshold,
    fit_fusion,
    fusion_examples,
    load_rows,
    nan_safe,
    nli_predictions,
)

DEFAULT_DATA = Path("..") / "shared" / "data" / "dev"  # relative to the repository root
FIT = "cascade+fit"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help=f"folder of *.jsonl ({DEFAULT_DATA})")
    p.add_argument("--model", help="NLI model directory (default: the shipped one)")
    p.add_argument("--embedder", help="embedding model directory (default: the shipped one)")
    p.add_argument("--no-embedding", action="store_true", help="skip the embedding baseline")
    p.add_argument("--limit", type=int, help="rows per file: a fixed random sample")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (0)")
    p.add_argument("--threads", type=int, help="onnxruntime threads per model")
    p.add_argument("--passages", choices=("one", "paragraphs"), default="one")
    p.add_argument("--fit-fusion", action="store_true", help="fit the fusion (2-fold cross-fit)")
    p.add_argument("--json", type=Path, help="write the full report here")
    p.add_argument("--card", type=Path, help="model directory whose card.json gets the results")
    p.add_argument("--misses", type=int, default=10, help="misses listed per file (10)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.card is not None and not (args.card / "card.json").is_file():
        p.error(f"--card {args.card}: no card.json there")
    return args


def load_data(folder: Path, limit: int | None, seed: int) -> list[tuple[str, Format, list[Row]]]:
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise DataError(f"{folder}: no *.jsonl files")
    out = []
    for path in files:
        fmt, rows = load_rows(path)
        out.append((path.stem, fmt, sample_rows(rows, limit, seed)))
    return out


def fold_of(row: Row) -> int:
    return zlib.crc32(row.id.encode("utf-8")) % 2


def fit(datasets: Mapping[str, Sequence[RowScores]], keep: Callable[[Row], bool]) -> Fusion:
    """The fusion fitted on the rows ``keep`` accepts: weights and bias on their
    sentence examples (:func:`fit_fusion`), then the support and contradiction
    thresholds for the best mean balanced accuracy over the data sets at the
    response level (:func:`fit_decision`). Raises ``ValueError`` (no examples,
    one class)."""
    chosen = {name: [rs for rs in rows if keep(rs.row)] for name, rows in datasets.items()}
    examples = fusion_examples([rs for rows in chosen.values() for rs in rows])
    weights = fit_fusion([sig for _, sig, _ in examples], [lab for *_, lab in examples])
    fusion, _ = fit_decision({name: rows for name, rows in chosen.items() if rows}, weights)
    return fusion


def cross_fit(
    datasets: Mapping[str, Sequence[RowScores]], shipped: Fusion
) -> tuple[dict[str, Any], dict[str, list[RowScores]], dict[int, Fusion]]:
    """Fusions fitted per fold and on everything (see :func:`fit`); each fold's rows
    re-fused by the fusion fitted on the other fold (returned too)."""
    everything = [rs for rows in datasets.values() for rs in rows]
    info: dict[str, Any] = {"examples": len(fusion_examples(everything)), "folds": []}
    by_fold = {}
    for k in (0, 1):
        train = sum(fold_of(rs.row) != k for rs in everything)

        def other(row: Row, k: int = k) -> bool:
            return fold_of(row) != k

        try:
            by_fold[k] = fit(datasets, other)
            info["folds"].append({"train_rows": train, **fusion_dict(by_fold[k])})
        except ValueError as exc:
            print(f"fold {k}: {exc}; its rows keep the shipped fusion", file=sys.stderr)
            by_fold[k] = shipped
            info["folds"].append({"train_rows": train, "error": str(exc)})
    try:
        info["fusion"] = fusion_dict(fit(datasets, lambda row: True))
    except ValueError as exc:
        info["error"] = str(exc)
    used = {k: by_fold[1 - k] for k in (0, 1)}
    refit = {
        name: [rs.with_fusion(used[fold_of(rs.row)]) for rs in rows]
        for name, rows in datasets.items()
    }
    return info, refit, used


def binary_metrics(
    scores: Sequence[float], labels: Sequence[int], pred: Sequence[int] | None
) -> dict[str, Any]:
    """ROC AUC, AP, balanced accuracy at ``pred`` (else at the best dev threshold)."""
    out = score_metrics(scores, labels)  # n, positives, roc_auc, pr_auc
    s = np.asarray(scores, dtype=np.float64)
    if not len(s) or not np.isfinite(s).all():
        return {**out, "balanced_accuracy": None}
    t, dev_bacc = best_threshold(s, labels, "balanced")
    out["threshold_dev"] = round(t, 4)
    out["balanced_accuracy_dev"] = nan_safe(dev_bacc)
    if pred is None:
        out["balanced_accuracy"], out["threshold_from"] = out["balanced_accuracy_dev"], "dev"
    else:
        out["balanced_accuracy"] = decision_metrics(pred, labels)["balanced_accuracy"]
        out["threshold_from"] = "shipped"
    return out


def method_table(
    variants: Mapping[str, Sequence[Any]], labels: Sequence[int], sentence_level: bool
) -> dict[str, Any]:
    """Metrics of every method on rows (RowScores) or labelled sentences (SentenceScores)."""
    out: dict[str, Any] = {}
    for name, items in variants.items():
        method = "cascade" if name == FIT else name
        if sentence_level:
            scores = [s.hallucination(method) for s in items]
            flags = [int(s.grounding.issue) for s in items]
        else:
            scores = [rs.score(method) for rs in items]
            flags = [rs.flagged for rs in items]
        out[name] = binary_metrics(scores, labels, flags if method == "cascade" else None)
    return out


def cause(rs: RowScores) -> tuple[str, SentenceScores | None]:
    """Why the cascade got this row wrong, judged from its deciding sentence."""
    claims = rs.claims
    if not claims:
        return "no claim found", None
    issues = [s for s in claims if s.grounding.issue]
    pool = issues or list(claims)
    s = max(pool, key=lambda c: c.hallucination("cascade"))
    g = s.grounding
    if g.verbatim:
        return "verbatim", s
    if g.label == "number_mismatch" or g.signals.get("number_mismatch", 0.0) >= 1.0:
        return "number mismatch", s
    if g.label == "contradicted":
        return "contradiction", s
    low = g.signals.get("entailment", 0.0) < 0.5
    if low == bool(issues):  # flagged with low NLI, or passed with high NLI
        return ("low NLI" if low else "high NLI"), s
    return "other signals", s  # the fusion's other signals outweighed the NLI


def misses(rows: Sequence[RowScores], k: int, threshold: Callable[[Row], float]) -> dict[str, Any]:
    """The cascade's misses (flagged or not against the gold label), most confident
    first: by how far the response score lies on the wrong side of ``1 -
    support_threshold`` (``threshold(row)``: the support threshold used for it)."""
    wrong = [rs for rs in rows if rs.flagged != rs.row.hallucinated]

    def confidence(rs: RowScores) -> float:
        margin = rs.score("cascade") - (1.0 - threshold(rs.row))
        return -margin if rs.row.hallucinated else margin

    wrong.sort(key=lambda rs: -confidence(rs))
    top = []
    for rs in wrong[:k]:
        why, s = cause(rs)
        text = (s.grounding.text if s is not None else rs.row.response).replace("\n", " ")
        top.append(
            {
                "id": rs.row.id,
                "gold": rs.row.label,
                "score": round(rs.score("cascade"), 4),
                "cause": why,
                "text": text[:100] + ("..." if len(text) > 100 else ""),
            }
        )
    counts = Counter(cause(rs)[0] for rs in wrong)
    return {"misses": len(wrong), "by_cause": dict(counts.most_common()), "top": top}


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    nli_dir = model_dir(args.model, DEFAULT_NLI, "grounding")
    grounding = Grounding(model=str(nli_dir.path), threads=args.threads)
    vectors, embedder = None, None
    if not args.no_embedding:
        md = model_dir(args.embedder, DEFAULT_EMBEDDING, "embedding")
        vectors, embedder = VectorScorer(md, threads=args.threads), md.card.get("name")
    ev = Evaluator(grounding, vectors, passages=args.passages)
    folder = args.data if args.data is not None else ROOT / DEFAULT_DATA
    data = load_data(folder, args.limit, args.seed)
    progress = Progress(sum(len(rows) for *_, rows in data))
    scored: dict[str, list[RowScores]] = {}
    report: dict[str, Any] = {
        "model": nli_dir.card.get("name"),
        "embedder": embedder,
        "fusion_shipped": fusion_dict(grounding.fusion),
        "limit": args.limit,
        "seed": args.seed,
        "thresholds": "cascade: shipped; other methods: the best single threshold chosen on "
        "these dev rows (optimistic)",
        "datasets": {},
        "nli": {},
    }
    for name, fmt, rows in data:
        if fmt == "C":
            probs = []
            for i in range(0, len(rows), 16):
                probs += nli_predictions(ev.nli, rows[i : i + 16])
                progress.step(name, len(rows[i : i + 16]))
            nli = nli_report(probs, [str(r.label) for r in rows])
            # AUC of 1 - P(entailment) for "not entailment" = AUC of P(entailment) for entailment
            report["nli"][name] = {
                "n": len(rows),
                "accuracy": nli["accuracy"],
                "entailment_roc_auc": nli["roc_auc"],
            }
            continue
        scored[name] = []
        for row in rows:
            scored[name].append(ev.score_row(row))
            progress.step(name)
    fitted: dict[str, list[RowScores]] = {}
    if args.fit_fusion:
        report["fusion_fit"], fitted, used = cross_fit(scored, grounding.fusion)
    methods = [m for m in METHODS if vectors is not None or m != "embedding"]
    for name, items in scored.items():
        variants: dict[str, Sequence[Any]] = dict.fromkeys(methods, items)
        if fitted:
            variants[FIT] = fitted[name]
        entry: dict[str, Any] = {"format": items[0].row.format if items else None}
        entry["response"] = method_table(variants, [rs.row.hallucinated for rs in items], False)
        if items and items[0].row.format == "B":
            sentences = {m: [s for rs in v for s in rs.labelled] for m, v in variants.items()}
            sentence_gold = [int(s.gold or 0) for s in sentences[methods[0]]]
            entry["sentence"] = method_table(sentences, sentence_gold, True)
        if fitted:
            entry["errors"] = misses(
                fitted[name], args.misses, lambda r: used[fold_of(r)].support_threshold
            )
        else:
            entry["errors"] = misses(
                items, args.misses, lambda r: grounding.fusion.support_threshold
            )
        report["datasets"][name] = entry
    names = [*methods, FIT] if fitted else methods
    report["mean"] = {
        m: {
            key: mean_of(report, m, key)
            for key in ("roc_auc", "balanced_accuracy", "balanced_accuracy_dev")
        }
        for m in names
    }
    return report


def mean_of(report: dict[str, Any], method: str, key: str) -> float | None:
    values = [d["response"][method][key] for d in report["datasets"].values()]
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def fmt(v: float | None) -> str:
    return "  n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def render(report: dict[str, Any]) -> str:
    lines = []
    methods = list(report["mean"])
    head = "".join(f" | {m:^23}" for m in methods)
    sub = "".join(" |  AUC   BAcc  BAcc@dev" for _ in methods)
    lines += [f"{'dataset':<16} {'n':>5}{head}", f"{'':<16} {'':>5}{sub}"]

    def row(label: str, n: object, table: dict[str, Any]) -> str:
        cells = "".join(
            f" | {fmt(table[m]['roc_auc'])} {fmt(table[m]['balanced_accuracy'])}   "
            f"{fmt(table[m]['balanced_accuracy_dev'])}"
            for m in methods
        )
        return f"{label:<16} {n!s:>5}{cells}"

    for name, d in report["datasets"].items():
        lines.append(row(name, d["response"][methods[0]]["n"], d["response"]))
    lines.append(row("mean", "", report["mean"]))
    for name, d in report["datasets"].items():
        if "sentence" in d:
            lines.append(row(f"{name}[sent]", d["sentence"][methods[0]]["n"], d["sentence"]))
    lines.append(f"BAcc: {report['thresholds']}; BAcc@dev: every method at its best dev threshold.")
    for name, d in report["nli"].items():
        lines.append(
            f"{name}: NLI 3-way accuracy {fmt(d['accuracy'])}, entailment-vs-not ROC AUC "
            f"{fmt(d['entailment_roc_auc'])} (n={d['n']})"
        )
    fit = report.get("fusion_fit")
    if fit:
        lines.append(f"\nfusion fitted on {fit['examples']} sentence examples:")
        for k, f in enumerate(fit["folds"]):
            lines.append(f"  fold {k} ({f['train_rows']} rows): {describe(f)}")
        lines.append(f"  all: {describe(fit['fusion']) if 'fusion' in fit else fit.get('error')}")
    lines.append("\nerror analysis (cascade" + (", cross-fitted fusion)" if fit else ")"))
    for name, d in report["datasets"].items():
        e = d["errors"]
        causes = ", ".join(f"{c} {n}" for c, n in e["by_cause"].items()) or "-"
        lines.append(f"{name}: {e['misses']} misses ({causes})")
        lines += [
            f"  {t['id']:<20} gold={t['gold']} score={t['score']:.3f} [{t['cause']}] {t['text']}"
            for t in e["top"]
        ]
    return "\n".join(lines)


def describe(f: dict[str, Any]) -> str:
    if "error" in f:
        return str(f["error"])
    weights = ", ".join(f"{k}={v:+.3f}" for k, v in f["weights"].items())
    return (
        f"bias={f['bias']:+.3f}, {weights}, support_threshold={f['support_threshold']:.3f}, "
        f"contradiction_threshold={f['contradiction_threshold']:.2f}"
    )


def write_card(card_dir: Path, report: dict[str, Any]) -> None:
    path = card_dir / "card.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    fit = report.get("fusion_fit")
    if fit and "fusion" in fit:
        card["fusion"] = fit["fusion"]
    card["dev_metrics"] = {
        k: report[k]
        for k in ("limit", "seed", "thresholds", "fusion_shipped", "mean", "nli")
        if k in report
    }
    card["dev_metrics"]["datasets"] = {
        name: {key: d[key] for key in ("format", "response", "sentence") if key in d}
        for name, d in report["datasets"].items()
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args)
    except (DataError, ModelError, FileNotFoundError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.card is not None:
        write_card(args.card, report)
        print(f"wrote fusion and dev_metrics to {args.card / 'card.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
