"""Metric reports for ``guardrails eval`` and ``scripts/evaluate.py``: one place that
turns scored rows into the numbers both print.

Every report is a plain dict, ready for JSON: floats rounded to 4 places and
``None`` where a metric is undefined (ROC AUC with one class, PR AUC without
positives). The positive class is always "hallucinated" (for NLI data: "not
entailment").

* :func:`binary_report`: ``n``, ``positives``, ``balanced_accuracy``,
  ``precision``, ``recall``, ``f1`` at the given 0/1 predictions, ``roc_auc`` and
  ``pr_auc`` of the scores, and the ``confusion`` counts.
* :func:`response_level` / :func:`sentence_level`: the scores, gold labels and
  predictions of scored rows at the response level (score = the cascade's
  response score, prediction = the guard reports some sentence) or the labelled
  sentences of format B rows (score and prediction of each labelled sentence).
* :func:`nli_report`: three-way accuracy of an NLI model plus the binary
  report of "not entailment" with score ``1 - P(entailment)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from guardrails._eval_data import NLI_LABELS, DataError, Row
from guardrails.evaluation import (
    RowScores,
    balanced_accuracy,
    confusion,
    nan_safe,
    pr_auc,
    precision_recall_f1,
    roc_auc,
)

__all__ = [
    "DECISION_KEYS",
    "SCORE_KEYS",
    "Level",
    "binary_report",
    "data_files",
    "decision_metrics",
    "fmt_metric",
    "mean_report",
    "nli_level",
    "nli_report",
    "response_level",
    "sample_rows",
    "score_metrics",
    "sentence_level",
]

DECISION_KEYS = ("balanced_accuracy", "precision", "recall", "f1")
"""Metrics of the 0/1 predictions."""
SCORE_KEYS = ("roc_auc", "pr_auc")
"""Metrics of the scores (threshold free)."""


class Level(NamedTuple):
    """What a metric report is computed from: one entry per example."""

    scores: list[float]
    labels: list[int]
    pred: list[int]

    @classmethod
    def join(cls, parts: Iterable[Level]) -> Level:
        """The examples of several levels pooled together, in order."""
        scores: list[float] = []
        labels: list[int] = []
        pred: list[int] = []
        for part in parts:
            scores += part.scores
            labels += part.labels
            pred += part.pred
        return cls(scores, labels, pred)


def _round(value: float) -> float | None:
    return nan_safe(float(value))


def score_metrics(scores: Sequence[float], labels: Sequence[int]) -> dict[str, Any]:
    """``n``, ``positives``, ``roc_auc`` and ``pr_auc`` (``None`` where undefined or
    when a score is not finite)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    if not len(y) or not np.isfinite(s).all():
        return {**out, "roc_auc": None, "pr_auc": None}
    return {**out, "roc_auc": _round(roc_auc(s, y)), "pr_auc": _round(pr_auc(s, y))}


def decision_metrics(pred: Sequence[int], labels: Sequence[int]) -> dict[str, Any]:
    """Balanced accuracy, precision, recall, F1 and confusion counts of predictions."""
    c = confusion(pred, labels)
    precision, recall, f1 = precision_recall_f1(pred, labels)
    return {
        "balanced_accuracy": _round(balanced_accuracy(pred, labels)),
        "precision": _round(precision),
        "recall": _round(recall),
        "f1": _round(f1),
        "confusion": {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn},
    }


def binary_report(level: Level) -> dict[str, Any]:
    """Every binary metric of one set of examples (see the module doc)."""
    return {
        **score_metrics(level.scores, level.labels),
        **decision_metrics(level.pred, level.labels),
    }


def response_level(scored: Sequence[RowScores]) -> Level:
    """Response-level examples: the cascade's response score, the gold label, and
    whether the guard reports any sentence of the response."""
    return Level(
        [rs.score("cascade") for rs in scored],
        [rs.row.hallucinated for rs in scored],
        [rs.flagged for rs in scored],
    )


def sentence_level(scored: Sequence[RowScores]) -> Level:
    """Sentence-level examples: every labelled sentence of format B rows, its cascade
    score, its gold label, and whether the guard reports it."""
    items = [s for rs in scored for s in rs.labelled if s.gold is not None]
    return Level(
        [s.hallucination("cascade") for s in items],
        [int(s.gold or 0) for s in items],
        [int(s.grounding.issue) for s in items],
    )


def nli_level(probs: Sequence[Mapping[str, float]], gold: Sequence[str]) -> Level:
    """NLI pairs as binary examples: positive = not entailment, score ``1 - P(entailment)``,
    predicted positive when entailment is not the most probable label."""
    return Level(
        [1.0 - float(p["entailment"]) for p in probs],
        [int(g != "entailment") for g in gold],
        [int(max(p, key=p.__getitem__) != "entailment") for p in probs],
    )


def nli_report(probs: Sequence[Mapping[str, float]], gold: Sequence[str]) -> dict[str, Any]:
    """Three-way ``accuracy`` (the model's most probable label against the gold one) plus
    the binary report of "not entailment" (see :func:`nli_level`)."""
    if len(probs) != len(gold):
        raise ValueError(f"{len(probs)} predictions but {len(gold)} gold labels")
    for g in gold:
        if g not in NLI_LABELS:
            raise ValueError(f"NLI gold label {g!r} is not one of {', '.join(NLI_LABELS)}")
    hits = [max(p, key=p.__getitem__) == g for p, g in zip(probs, gold, strict=True)]
    accuracy = _round(float(np.mean(hits))) if hits else None
    return {"accuracy": accuracy, **binary_report(nli_level(probs, gold))}


def mean_report(reports: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """The mean of each of ``keys`` over ``reports`` (skipping ``None``; ``None`` when
    no report has it), and ``datasets``: how many reports were averaged."""
    out: dict[str, Any] = {"datasets": len(reports)}
    for key in keys:
        values = [r[key] for r in reports if r.get(key) is not None]
        out[key] = _round(float(np.mean(values))) if values else None
    return out


def sample_rows(rows: Sequence[Row], limit: int | None, seed: int = 0) -> list[Row]:
    """At most ``limit`` rows: a fixed random sample (by ``seed``) kept in file order;
    all rows when ``limit`` is ``None`` or not below their number."""
    if limit is None or len(rows) <= limit:
        return list(rows)
    keep = np.random.default_rng(seed).choice(len(rows), limit, replace=False)
    return [rows[i] for i in sorted(keep.tolist())]


def data_files(paths: Sequence[Path]) -> list[Path]:
    """The JSON Lines files named by ``paths``: a file as given, a folder as its
    ``*.jsonl`` files (sorted). Raises :class:`DataError` for a path that does not
    exist or a folder without such files."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise DataError(f"{path}: a folder without *.jsonl files")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    return out


def fmt_metric(value: float | None, width: int = 6) -> str:
    """A metric for a text table: 3 decimals, or ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'n/a':>{width}}"
    return f"{value:>{width}.3f}"
