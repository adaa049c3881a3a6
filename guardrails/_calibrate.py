"""Fitting a grounding detector's support threshold (and fusion) to labelled data.

The guard calls a claim sentence ``unsupported`` when its fused support is
below ``support_threshold``; a sentence is also reported, whatever the
threshold, when it is ``contradicted``, has a ``number_mismatch`` or has no
context to check against; a sentence found verbatim in the context and a
sentence that is not a claim never are. So for every example (a response, or
one labelled sentence) the guard's decision at threshold ``t`` is::

    reported(t) = fixed or support < t

where ``fixed`` says a threshold-free label reports it and ``support`` is the
lowest support of its threshold-dependent claim sentences (``inf`` when it has
none). :func:`sweep` evaluates every distinct decision at once, and
:func:`choose` picks the threshold for a target. :func:`choose_mean` picks it
for the mean of a target over several data sets (each counts the same, however
many rows it has), and :func:`fit_decision` picks the support and the
contradiction thresholds together that way.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from detectors.grounding import Fusion
from guardrails._eval_data import Row
from guardrails.evaluation import RowScores, SentenceScores

__all__ = [
    "CONTRADICTION_GRID",
    "TARGETS",
    "CalibrationTarget",
    "Example",
    "Point",
    "Unreachable",
    "choose",
    "choose_mean",
    "curve",
    "fit_decision",
    "nice_threshold",
    "response_examples",
    "sentence_examples",
    "split_rows",
    "sweep",
]

CalibrationTarget = Literal["precision", "recall", "f1", "balanced"]
TARGETS: tuple[CalibrationTarget, ...] = ("precision", "recall", "f1", "balanced")
_FIXED_LABELS = frozenset({"contradicted", "number_mismatch", "no_context"})


class Unreachable(ValueError):
    """No threshold meets the constraint (``--min-precision``)."""


@dataclass(frozen=True, slots=True)
class Example:
    """One decision the threshold acts on: a response or a labelled sentence."""

    fixed: bool
    support: float
    label: int


def _sentence_part(s: SentenceScores) -> tuple[bool, float]:
    g = s.grounding
    if not g.claim or g.verbatim:
        return False, math.inf
    if g.label in _FIXED_LABELS:
        return True, math.inf
    return False, g.support


def response_examples(scored: Sequence[RowScores]) -> list[Example]:
    """One example per row: reported when any of its sentences is."""
    out: list[Example] = []
    for rs in scored:
        parts = [_sentence_part(s) for s in rs.sentences]
        fixed = any(f for f, _ in parts)
        support = min((v for _, v in parts), default=math.inf)
        out.append(Example(fixed, support, rs.row.hallucinated))
    return out


def sentence_examples(scored: Sequence[RowScores]) -> list[Example]:
    """One example per labelled sentence of format B rows."""
    out: list[Example] = []
    for rs in scored:
        for s in rs.labelled:
            if s.gold is not None:
                fixed, support = _sentence_part(s)
                out.append(Example(fixed, support, int(s.gold)))
    return out


@dataclass(frozen=True, slots=True)
class Point:
    """The confusion counts at one threshold, and the metrics they give."""

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall of the classes present (``nan`` with no examples)."""
        parts = [self.tp / (self.tp + self.fn)] if self.tp + self.fn else []
        if self.tn + self.fp:
            parts.append(self.tn / (self.tn + self.fp))
        return sum(parts) / len(parts) if parts else math.nan

    def value(self, metric: CalibrationTarget) -> float:
        """The metric a target names (``balanced`` = balanced accuracy)."""
        if metric == "balanced":
            return self.balanced_accuracy
        return float(getattr(self, metric))


def nice_threshold(low: float, high: float) -> float:
    """A short decimal ``t`` with ``low < t <= high`` (every such ``t`` makes the same
    decisions), nearest the middle of the gap; ``high`` if none has 12 places or fewer."""
    middle = (low + high) / 2
    for places in range(1, 13):
        scale = 10.0**places
        first, last = math.floor(low * scale) + 1, math.floor(high * scale)
        if first > last:
            continue
        k = min(max(round(middle * scale), first), last)
        t = round(k / scale, places)
        if low < t <= high:
            return t
    return high


def _arrays(
    examples: Sequence[Example],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    fixed = np.array([e.fixed for e in examples], dtype=bool)
    support = np.array([e.support for e in examples], dtype=np.float64)
    label = np.array([e.label == 1 for e in examples], dtype=bool)
    return fixed, support, label


def curve(examples: Sequence[Example], thresholds: Sequence[float]) -> list[Point]:
    """The confusion counts at each threshold."""
    fixed, support, label = _arrays(examples)
    t = np.asarray(thresholds, dtype=np.float64)
    loose = ~fixed

    def below(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        values = np.sort(support[mask])
        return np.searchsorted(values, t, side="left").astype(np.int64)  # support < t

    tp = int((fixed & label).sum()) + below(loose & label)
    fp = int((fixed & ~label).sum()) + below(loose & ~label)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    return [
        Point(float(th), int(a), int(b), n_pos - int(a), n_neg - int(b))
        for th, a, b in zip(t, tp, fp, strict=True)
    ]


def _thresholds(examples: Sequence[Example]) -> set[float]:
    """One threshold per distinct decision on ``examples`` (see :func:`sweep`)."""
    _, support, _ = _arrays(examples)
    values = np.unique(support[np.isfinite(support)])
    thresholds = [0.0]
    thresholds += [nice_threshold(float(a), float(b)) for a, b in itertools.pairwise(values)]
    if len(values):
        top = float(values[-1])
        thresholds.append(nice_threshold(top, max(1.0, math.nextafter(top, math.inf))))
    return set(thresholds)


def sweep(examples: Sequence[Example]) -> list[Point]:
    """Every distinct decision the threshold can make on ``examples``, lowest
    threshold first: ``0.0`` (only threshold-free reports), one short decimal
    between each two consecutive supports, and one above the highest (every
    threshold-dependent example reported)."""
    return curve(examples, sorted(_thresholds(examples)))


_SECOND: dict[CalibrationTarget, CalibrationTarget] = {
    "precision": "recall",
    "recall": "precision",
    "f1": "balanced",
    "balanced": "f1",
}


def choose(
    examples: Sequence[Example],
    target: CalibrationTarget,
    *,
    min_precision: float | None = None,
) -> Point:
    """The threshold that maximises ``target`` on ``examples``.

    Ties go to the best second metric (recall for precision, precision for
    recall, balanced accuracy for F1, F1 for balanced accuracy), then to the
    lowest threshold (the fewest reports). With ``min_precision`` only
    thresholds whose precision reaches it compete; raises :class:`Unreachable`
    when none does, and ``ValueError`` without examples.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not examples:
        raise ValueError("calibration needs at least one example")
    points = sweep(examples)
    if min_precision is not None:
        allowed = [p for p in points if p.precision >= min_precision and p.tp + p.fp]
        if not allowed:
            best = max(points, key=lambda p: p.precision)
            raise Unreachable(
                f"no support threshold reaches precision {min_precision:g}: the best is "
                f"{best.precision:.3f} (threshold {best.threshold:g}, recall {best.recall:.3f})"
            )
        points = allowed
    second = _SECOND[target]

    def key(p: Point) -> tuple[float, float, float]:
        first, then = p.value(target), p.value(second)
        return (
            -math.inf if math.isnan(first) else first,
            -math.inf if math.isnan(then) else then,
            -p.threshold,
        )

    return max(points, key=key)


def choose_mean(
    groups: Sequence[Sequence[Example]], target: CalibrationTarget = "balanced"
) -> tuple[float, float]:
    """``(threshold, mean)``: the threshold that maximises the mean of ``target``
    over ``groups`` (one per data set), among every threshold that changes a
    decision in any group; ties go to the lowest threshold. A group whose metric
    is undefined (``nan``: a balanced accuracy without examples) is left out of
    the mean. Raises ``ValueError`` without examples."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    groups = [g for g in groups if g]
    if not groups:
        raise ValueError("calibration needs at least one example")
    thresholds = sorted(set().union(*(_thresholds(g) for g in groups)))
    values = np.array([[p.value(target) for p in curve(g, thresholds)] for g in groups])
    counted = ~np.isnan(values)
    means = np.where(counted, values, 0.0).sum(axis=0) / np.maximum(counted.sum(axis=0), 1)
    best = int(np.argmax(means))  # the first maximum: the lowest threshold
    return thresholds[best], float(means[best])


CONTRADICTION_GRID = (0.5, 0.6, 0.7, 0.8, 0.9)
"""Contradiction thresholds :func:`fit_decision` tries: the rule stays on (a
sentence the model calls contradicted at 0.9 or more is always reported)."""


def fit_decision(
    datasets: Mapping[str, Sequence[RowScores]],
    fusion: Fusion,
    *,
    target: CalibrationTarget = "balanced",
    contradiction_grid: Sequence[float] = CONTRADICTION_GRID,
) -> tuple[Fusion, float]:
    """``(fusion, mean)``: ``fusion`` with the support and contradiction thresholds
    that maximise the mean of ``target`` over ``datasets`` at the response level
    (the guard's own decisions; the weights and bias are kept). Ties go to the
    lowest contradiction threshold, then the lowest support threshold."""
    best: tuple[float, float, float] | None = None
    for ct in sorted(contradiction_grid):
        trial = replace(fusion, contradiction_threshold=ct)
        groups = [
            response_examples([rs.with_fusion(trial) for rs in rows]) for rows in datasets.values()
        ]
        threshold, mean = choose_mean(groups, target)
        if best is None or mean > best[0]:
            best = (mean, ct, threshold)
    if best is None:
        raise ValueError("fit_decision needs at least one contradiction threshold")
    mean, ct, threshold = best
    return replace(fusion, support_threshold=threshold, contradiction_threshold=ct), mean


def holdout_key(row: Row, seed: int) -> float:
    """A number in [0, 1) fixed by the row's dataset, id and ``seed``."""
    digest = hashlib.sha256(f"{seed}\0{row.dataset}\0{row.id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_rows(rows: Sequence[Row], holdout: float, seed: int) -> tuple[list[Row], list[Row]]:
    """``(fit, held_out)``: a row is held out when its :func:`holdout_key` is below
    ``holdout``, so the split depends on the row alone, not on its neighbours or order."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    fit: list[Row] = []
    held: list[Row] = []
    for row in rows:
        (held if holdout_key(row, seed) < holdout else fit).append(row)
    return fit, held
