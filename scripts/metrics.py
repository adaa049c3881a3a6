"""Evaluation numbers for the build stages (numpy only)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from scripts.pairgen import LABELS

F32 = npt.NDArray[np.float32]


def roc_auc(scores: Sequence[float] | F32, positive: Sequence[bool]) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def nli_metrics(probs: F32, gold: Sequence[str]) -> dict[str, Any]:
    """3-way accuracy, per-label recall, entailment-vs-rest accuracy and P(entailment) AUC."""
    gold_idx = np.array([LABELS.index(g) for g in gold], dtype=np.int64)
    pred = probs.argmax(axis=1)
    ent = LABELS.index("entailment")
    out: dict[str, Any] = {
        "n": len(gold),
        "accuracy": round(float((pred == gold_idx).mean()), 4) if len(gold) else None,
        "entailment_vs_rest_accuracy": round(float(((pred == ent) == (gold_idx == ent)).mean()), 4)
        if len(gold)
        else None,
    }
    auc = roc_auc(probs[:, ent], gold_idx == ent)
    out["entailment_auc"] = round(auc, 4) if auc is not None else None
    out["recall"] = {
        label: round(float((pred[gold_idx == i] == i).mean()), 4)
        for i, label in enumerate(LABELS)
        if (gold_idx == i).any()
    }
    return out


def grouped_accuracy(probs: F32, gold: Sequence[str], groups: Sequence[str]) -> dict[str, Any]:
    """Accuracy and count per group (a source, or a synthetic perturbation kind)."""
    pred = probs.argmax(axis=1)
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p, g, key in zip(pred, gold, groups, strict=True):
        hits[key][0] += int(LABELS[int(p)] == g)
        hits[key][1] += 1
    return {k: {"accuracy": round(h / n, 4), "n": n} for k, (h, n) in sorted(hits.items())}


def parity(reference: F32, other: F32) -> dict[str, Any]:
    """How closely ``other`` reproduces ``reference`` (probabilities, same rows)."""
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    return {
        "n": int(reference.shape[0]),
        "max_abs_diff": round(float(diff.max()), 6) if diff.size else 0.0,
        "mean_abs_diff": round(float(diff.mean()), 6) if diff.size else 0.0,
        "argmax_agreement": round(float((reference.argmax(1) == other.argmax(1)).mean()), 4)
        if diff.size
        else 1.0,
    }


def cosine_rows(a: F32, b: F32) -> npt.NDArray[np.float64]:
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    na = np.linalg.norm(a64, axis=1)
    nb = np.linalg.norm(b64, axis=1)
    return np.asarray((a64 * b64).sum(axis=1) / np.maximum(na * nb, 1e-12))
