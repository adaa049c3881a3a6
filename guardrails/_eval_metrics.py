"""Binary classification metrics, exact, in numpy.

Conventions: ``labels`` are 0/1 (or booleans) with 1 the positive class
(hallucinated); ``scores`` are higher for "more likely positive"; ``pred``
are 0/1 predictions. Inputs must be one-dimensional and of equal length, and
scores finite, else ``ValueError``.

Undefined values are ``nan``, never an exception: :func:`roc_auc` when one class
is missing, :func:`pr_auc` when there is no positive, :func:`balanced_accuracy`
of no rows. :func:`balanced_accuracy` averages the recall of the classes that
occur (with one class it is that class's recall). Precision, recall and F1 are
0.0 where their denominator is 0.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "Confusion",
    "Target",
    "balanced_accuracy",
    "best_threshold",
    "confusion",
    "pr_auc",
    "precision_recall_f1",
    "roc_auc",
]

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Target = Literal["balanced", "f1", "accuracy"]


class Confusion(NamedTuple):
    """Counts of a binary confusion matrix (positive = 1)."""

    tp: int
    fp: int
    tn: int
    fn: int


def _labels(labels: npt.ArrayLike, what: str = "labels") -> Bools:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {y.shape}")
    if y.dtype != np.bool_:
        if y.size and not np.isin(y, (0, 1)).all():
            raise ValueError(f"{what} must be 0/1, got values {sorted(set(y.tolist()))[:5]}")
        y = y.astype(bool)
    return y


def _scored(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[F64, Bools]:
    s = np.asarray(scores, dtype=np.float64)
    y = _labels(labels)
    if s.ndim != 1 or len(s) != len(y):
        raise ValueError(f"scores (shape {s.shape}) and labels (length {len(y)}) do not match")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (no nan or inf)")
    return s, y


def _paired(pred: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Bools, Bools]:
    p, y = _labels(pred, "pred"), _labels(labels)
    if len(p) != len(y):
        raise ValueError(f"pred (length {len(p)}) and labels (length {len(y)}) do not match")
    return p, y


def _average_ranks(x: F64) -> F64:
    """Ranks 1..n of ``x``; tied values share the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(xs)]  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a
    random negative, ties counting one half (Mann-Whitney U with average ranks).
    ``nan`` when either class is missing."""
    s, y = _scored(scores, labels)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _cuts(s: F64, y: Bools) -> tuple[F64, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct scores, descending, with the true and false positives at or above each."""
    order = np.argsort(-s, kind="mergesort")
    ss, yy = s[order], y[order]
    last = np.r_[ss[1:] != ss[:-1], True]  # last index of each tie group
    tp = np.cumsum(yy)[last]
    fp = np.cumsum(~yy)[last]
    return ss[last], tp.astype(np.int64), fp.astype(np.int64)


def pr_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Average precision: ``sum_k (R_k - R_(k-1)) * P_k`` over the distinct score
    thresholds, highest first (tied scores enter together). ``nan`` without positives."""
    s, y = _scored(scores, labels)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    _, tp, fp = _cuts(s, y)
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def confusion(pred: npt.ArrayLike, labels: npt.ArrayLike) -> Confusion:
    """True/false positives and negatives of 0/1 predictions."""
    p, y = _paired(pred, labels)
    return Confusion(
        tp=int((p & y).sum()),
        fp=int((p & ~y).sum()),
        tn=int((~p & ~y).sum()),
        fn=int((~p & y).sum()),
    )


def balanced_accuracy(pred: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean recall of the classes present (``(TPR + TNR) / 2`` when both are); ``nan``
    for no rows."""
    c = confusion(pred, labels)
    recalls = [c.tp / (c.tp + c.fn)] if c.tp + c.fn else []
    if c.tn + c.fp:
        recalls.append(c.tn / (c.tn + c.fp))
    return float(np.mean(recalls)) if recalls else float("nan")


def precision_recall_f1(pred: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class (0.0 where undefined)."""
    c = confusion(pred, labels)
    precision = c.tp / (c.tp + c.fp) if c.tp + c.fp else 0.0
    recall = c.tp / (c.tp + c.fn) if c.tp + c.fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_threshold(
    scores: npt.ArrayLike, labels: npt.ArrayLike, target: Target = "balanced"
) -> tuple[float, float]:
    """``(threshold, value)``: the threshold for ``pred = scores >= threshold`` that
    maximises ``target`` (``"balanced"`` accuracy, ``"f1"`` or ``"accuracy"``) on these
    rows, and the value reached.

    Candidates are the lowest score (everything positive), the midpoints between
    consecutive distinct scores, and the next float above the highest score
    (nothing positive). Among equally good thresholds the highest wins.
    Raises ``ValueError`` for no rows.
    """
    s, y = _scored(scores, labels)
    if not len(s):
        raise ValueError("best_threshold needs at least one row")
    values, tp, fp = _cuts(s, y)  # predicting positive the top k groups, k = 1..G
    tp = np.r_[0, tp]
    fp = np.r_[0, fp]
    thresholds = np.r_[np.nextafter(values[0], np.inf), (values[:-1] + values[1:]) / 2, values[-1]]
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    fn, tn = n_pos - tp, n_neg - fp
    if target == "balanced":
        parts = [tp / n_pos] if n_pos else []
        if n_neg:
            parts.append(tn / n_neg)
        value: F64 = np.mean(parts, axis=0)
    elif target == "f1":
        denom = 2 * tp + fp + fn
        value = np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    elif target == "accuracy":
        value = (tp + tn) / len(y)
    else:
        raise ValueError(f"target must be 'balanced', 'f1' or 'accuracy', got {target!r}")
    best = int(np.argmax(value))
    return float(thresholds[best]), float(value[best])
