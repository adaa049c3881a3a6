"""Baselines for ``guardrails eval --baselines``: is the guard better than a simple
similarity on this data?

For each method other than the pack's cascade (``nli``: the NLI model alone;
``lexical``: rapidfuzz similarity to the best context sentence; ``embedding``:
cosine to the best context window; see :mod:`guardrails.evaluation`) it reports
ROC AUC and PR AUC of the method's hallucination score per dataset, and the
balanced accuracy at **one** threshold for all datasets: the one with the best
mean balanced accuracy over them, chosen on the very rows it is measured on.
That flatters the baselines (the pack's threshold was not chosen on your data),
so a pack that beats them here beats them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrails._eval_report import mean_report, score_metrics
from guardrails.evaluation import Method, RowScores, nan_safe

__all__ = ["BASELINES", "baseline_report", "best_common_threshold", "method_scores"]

BASELINES: tuple[Method, ...] = ("nli", "lexical", "embedding")


def method_scores(
    scored: Sequence[RowScores], method: Method, level: str
) -> tuple[list[float], list[int]]:
    """Scores and gold labels of ``method`` at the response level or for the
    labelled sentences of format B rows."""
    if level == "sentence":
        items = [s for rs in scored for s in rs.labelled if s.gold is not None]
        return [s.hallucination(method) for s in items], [int(s.gold or 0) for s in items]
    return [rs.score(method) for rs in scored], [rs.row.hallucinated for rs in scored]


def _bacc_curve(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_], grid: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Balanced accuracy of ``score >= t`` for every ``t`` of ``grid`` (the mean of
    the recalls of the classes present)."""
    parts = []
    for cls, flagged in ((labels, True), (~labels, False)):
        values = np.sort(scores[cls])
        if not len(values):
            continue
        at_or_above = len(values) - np.searchsorted(values, grid, side="left")
        hits = at_or_above if flagged else len(values) - at_or_above
        parts.append(hits / len(values))
    if not parts:
        return np.full(len(grid), np.nan)
    return np.asarray(np.mean(parts, axis=0), dtype=np.float64)


def best_common_threshold(
    datasets: Sequence[tuple[Sequence[float], Sequence[int]]],
) -> tuple[float, list[float]]:
    """``(t, per-dataset balanced accuracy)`` for the threshold ``t`` (flag a score
    ``>= t``) with the best mean balanced accuracy over ``datasets``; ties go to
    the lowest ``t``. Candidates are the distinct scores and one above them all."""
    arrays = [
        (np.asarray(s, dtype=np.float64), np.asarray(y, dtype=np.int64) == 1)
        for s, y in datasets
        if len(s)
    ]
    if not arrays:
        raise ValueError("best_common_threshold needs at least one non-empty dataset")
    pooled = np.unique(np.concatenate([s for s, _ in arrays]))
    grid = np.append(pooled, np.nextafter(pooled[-1], np.inf))
    curves = np.array([_bacc_curve(s, y, grid) for s, y in arrays])
    best = int(np.argmax(np.nanmean(curves, axis=0)))
    return float(grid[best]), [float(c[best]) for c in curves]


def baseline_report(
    scored: Mapping[str, Sequence[RowScores]], level: str, methods: Sequence[Method] = BASELINES
) -> dict[str, Any]:
    """``{method: {"threshold", "mean": {...}, "datasets": {name: {...}}}}``: per
    dataset ``n``, ``positives``, ``roc_auc``, ``pr_auc`` and ``balanced_accuracy``
    at the method's common threshold; ``mean`` averages them over datasets
    (:func:`~guardrails._eval_report.mean_report`)."""
    out: dict[str, Any] = {}
    for method in methods:
        per = {name: method_scores(rows, method, level) for name, rows in scored.items()}
        per = {name: v for name, v in per.items() if v[0]}
        if not per:
            continue
        if not all(np.isfinite(v[0]).all() for v in per.values()):
            continue  # the embedding method without an embedder
        threshold, baccs = best_common_threshold(list(per.values()))
        datasets = {
            name: {**score_metrics(*v), "balanced_accuracy": nan_safe(b)}
            for (name, v), b in zip(per.items(), baccs, strict=True)
        }
        mean = mean_report(list(datasets.values()), ("roc_auc", "pr_auc", "balanced_accuracy"))
        out[method] = {"threshold": round(threshold, 6), "mean": mean, "datasets": datasets}
    return out
