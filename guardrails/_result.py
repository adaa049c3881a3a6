"""The result of one guarded call, and the feedback handed to a regeneration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

from detectors.base import Evidence, Finding, Segment

if TYPE_CHECKING:
    from guardrails.events import ActionEvent

__all__ = ["Fate", "Feedback", "GuardResult", "Label", "SegmentResult"]

Label = Literal["supported", "unsupported", "contradicted", "not_a_claim"]
_LABELS = frozenset(("supported", "unsupported", "contradicted", "not_a_claim"))
Fate = Literal[
    "released",
    "redacted",
    "corrected",
    "rewritten",
    "dropped",
    "cut",
    "blocked",
    "regenerated",
    "raised",
]


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """One checked segment: its text, offsets, grounding label and what happened to it.

    ``label``/``support`` stay ``None`` when no grounding detector judged the segment.
    """

    segment: Segment
    fate: Fate
    findings: tuple[Finding, ...] = ()
    label: Label | None = None
    support: float | None = None
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def of(cls, segment: Segment, fate: Fate, findings: tuple[Finding, ...]) -> SegmentResult:
        """Grounding label, support and evidence from the findings that carry a support.

        The least supported of them speaks for the segment; code and blank segments,
        and segments a detector marked ``not_a_claim``, are ``not_a_claim``.
        """
        graded = [f for f in findings if f.support is not None]
        if graded:
            worst = min(graded, key=lambda f: f.support or 0.0)
            # a number that differs from the evidence contradicts it
            name = "contradicted" if worst.label == "number_mismatch" else worst.label
            label = cast(Label, name) if name in _LABELS else None
            return cls(segment, fate, findings, label, worst.support, worst.evidence)
        if segment.kind != "text" or any(f.label == "not_a_claim" for f in findings):
            return cls(segment, fate, findings, "not_a_claim")
        return cls(segment, fate, findings)

    @property
    def text(self) -> str:
        return self.segment.text

    @property
    def start(self) -> int:
        return self.segment.start

    @property
    def end(self) -> int:
        return self.segment.end


@dataclass(frozen=True, slots=True)
class GuardResult:
    """What the guard did with one output.

    ``passed`` is False when a cut, block or raise fired (corrections and a
    successful regeneration keep it True; see ``actions``). ``text`` is the
    output after actions. ``upstream`` is every character received, across
    attempts; segment and finding offsets index into it.
    """

    passed: bool
    text: str
    segments: tuple[SegmentResult, ...]
    findings: tuple[Finding, ...]
    actions: tuple[ActionEvent, ...]
    upstream: str
    attempts: int = 1
    error: str | None = None

    @property
    def support(self) -> float:
        """Lowest support probability over the claim segments (1.0 if none was scored)."""
        scores = [s.support for s in self.segments if s.support is not None]
        return min(scores, default=1.0)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Handed to the guarded call when the policy asks it for new text.

    ``kind == "regenerate"``: answer with the continuation after ``released``
    (the text the user has already seen); an answer that repeats ``released``
    first is accepted too, and the repeated prefix is dropped.
    ``kind == "rewrite"``: answer with a replacement for ``sentence`` only.
    ``instruction`` is ready to add to a prompt (``template`` shapes it).
    """

    released: str
    sentence: str
    findings: tuple[Finding, ...]
    attempt: int
    evidence: tuple[Evidence, ...] = field(default=())
    kind: Literal["regenerate", "rewrite"] = "regenerate"
    template: str | None = None

    @property
    def reasons(self) -> str:
        return (
            "; ".join(f.message or f"{f.detector}: {f.label}" for f in self.findings)
            or "it failed validation"
        )

    @property
    def instruction(self) -> str:
        """A ready-made instruction to add to the prompt."""
        evidence = " | ".join(e.text for e in self.evidence)
        if self.template is not None:
            return self.template.format(
                sentence=self.sentence.strip(),
                reasons=self.reasons,
                released=self.released,
                evidence=evidence,
                attempt=self.attempt,
            )
        if self.kind == "rewrite":
            lines = [
                f"Rewrite only this sentence so that the sources support it: "
                f"{self.sentence.strip()!r} (rejected: {self.reasons}).",
                "Answer with the rewritten sentence alone.",
            ]
        else:
            lines = [
                f"The sentence {self.sentence.strip()!r} was rejected: {self.reasons}.",
                "Continue the answer from where the accepted text ends, without repeating it"
                " and without that sentence.",
            ]
        if evidence:
            lines.append("Relevant evidence: " + evidence)
        return " ".join(lines)
