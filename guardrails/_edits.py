"""Small pure helpers for the edits the stream core makes."""

from __future__ import annotations

from collections.abc import Sequence

from detectors.base import Finding, Segment
from policies import Correct

__all__ = ["RepeatFilter", "annotation", "mask_for", "merge_spans"]


class RepeatFilter:
    """Holds back the start of a regenerated answer until it is known whether it
    repeats text already released (then that repeat is dropped)."""

    def __init__(self, candidates: Sequence[str]) -> None:
        self.candidates = sorted({c for c in candidates if c}, key=len, reverse=True)
        self.buf = ""

    def decide(self, final: bool) -> int | None:
        """Characters to drop from the front, or None while undecided."""
        for cand in self.candidates:  # longest first
            if self.buf.startswith(cand):
                return len(cand)
            if cand.startswith(self.buf) and not final:
                return None
        return 0


def merge_spans(findings: Sequence[Finding], seg: Segment) -> list[tuple[tuple[int, int], Finding]]:
    """Finding spans clipped to the segment, sorted, overlaps merged (first finding kept)."""
    spans: list[tuple[tuple[int, int], Finding]] = []
    for f in sorted(findings, key=lambda f: f.span):
        s, e = max(f.span[0], seg.start), min(f.span[1], seg.end)
        if s >= e:
            continue
        if spans and s <= spans[-1][0][1]:
            (ps, pe), pf = spans[-1]
            spans[-1] = ((ps, max(pe, e)), pf)
        else:
            spans.append(((s, e), f))
    return spans


def mask_for(action: Correct, finding: Finding, length: int) -> str:
    if action.mask == "label":
        return finding.replacement or f"[{finding.label.upper()}]"
    if action.mask == "char":
        return action.mask_char * length
    return action.mask


def annotation(marker: str, findings: Sequence[Finding]) -> str:
    """``marker`` with ``{passage}`` set to the 1-based passage of the first evidence."""
    if "{passage}" not in marker:
        return marker
    passage = next((str(e.passage + 1) for f in findings for e in f.evidence), "?")
    return marker.replace("{passage}", passage)
