"""Decisions a policy can return for a segment, as plain values.

They are ordered by severity; when several findings on one segment ask for
different actions, the most severe wins (``raise`` > ``block`` > ``cut`` >
``regenerate`` > ``correct`` > ``warn`` > ``allow``). Between two ``correct``
actions, ``drop`` beats ``redact``, which beats the other strategies: a
sentence with personal data in it is redacted even when another finding asks
to annotate it or fix a number (one correction applies per sentence; the other
findings are still reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

__all__ = [
    "Action",
    "Allow",
    "Block",
    "Correct",
    "Cut",
    "Raise",
    "Regenerate",
    "Warn",
    "check_template",
    "severity",
]


@dataclass(frozen=True, slots=True)
class Allow:
    """Let the segment through; the finding is still recorded."""

    kind: ClassVar[str] = "allow"


@dataclass(frozen=True, slots=True)
class Warn:
    """Let the segment through and report the finding as a warning."""

    kind: ClassVar[str] = "warn"


@dataclass(frozen=True, slots=True)
class Correct:
    """Change the segment in place.

    * ``drop`` removes the whole segment.
    * ``redact`` replaces the finding spans: ``mask="label"`` uses the detector's
      replacement (``[EMAIL]``) or the label in brackets, ``mask="char"`` repeats
      ``mask_char`` over the span's length, anything else is used literally.
    * ``annotate`` appends ``marker`` to the segment; ``{passage}`` in it becomes
      the 1-based number of the passage the first finding's evidence comes from.
    * ``fix_numbers`` replaces each finding span by the finding's ``replacement``
      (the value the aligned evidence has); if a finding has none, ``otherwise``
      applies instead.
    * ``rewrite`` asks the guarded call (through its feedback keyword) to rewrite
      only this sentence from the evidence; the rewrite is checked by the same
      detectors and must pass, else ``otherwise`` applies.

    ``otherwise`` defaults to ``drop``.
    """

    strategy: Literal["drop", "redact", "annotate", "fix_numbers", "rewrite"] = "drop"
    mask: str = "label"
    mask_char: str = "*"
    marker: str = " [unverified]"
    otherwise: Action | None = None
    kind: ClassVar[str] = "correct"

    def __post_init__(self) -> None:
        if self.strategy not in ("drop", "redact", "annotate", "fix_numbers", "rewrite"):
            raise ValueError(f"unknown correct strategy {self.strategy!r}")
        other = self.otherwise
        if isinstance(other, Regenerate) or (
            isinstance(other, Correct) and other.strategy == "rewrite"
        ):
            raise ValueError("a correct fallback cannot call the LLM again")


@dataclass(frozen=True, slots=True)
class Regenerate:
    """Ask the guarded call to continue from the last released text.

    The call gets ``max_attempts`` tries; then each LLM named in ``fallbacks``
    (registered on the guard with ``Guard(llms={...})``) gets as many, in order;
    then ``otherwise`` applies (default ``cut``). ``feedback`` is an optional
    template for the instruction, with ``{sentence}``, ``{reasons}``,
    ``{released}``, ``{evidence}`` and ``{attempt}`` placeholders.
    """

    max_attempts: int = 1
    otherwise: Action | None = None
    feedback: str | None = None
    fallbacks: tuple[str, ...] = ()
    kind: ClassVar[str] = "regenerate"

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0, got {self.max_attempts}")
        if isinstance(self.otherwise, Regenerate):
            raise ValueError("a regenerate fallback cannot itself be regenerate")
        if self.feedback is not None:
            check_template(self.feedback)


FEEDBACK_FIELDS = ("sentence", "reasons", "released", "evidence", "attempt")


def check_template(template: str) -> None:
    """Raise ValueError naming an unknown ``{placeholder}`` in a feedback template."""
    try:
        template.format(**dict.fromkeys(FEEDBACK_FIELDS, ""))
    except (KeyError, IndexError, ValueError) as exc:
        names = ", ".join("{" + f + "}" for f in FEEDBACK_FIELDS)
        raise ValueError(
            f"feedback template {template!r}: bad placeholder {exc}; use {names}"
        ) from None


@dataclass(frozen=True, slots=True)
class Cut:
    """End the output before the failing segment; nothing after it is released."""

    kind: ClassVar[str] = "cut"


@dataclass(frozen=True, slots=True)
class Block:
    """Replace the whole output with ``message``."""

    message: str = "Sorry, I can't provide that answer."
    kind: ClassVar[str] = "block"


@dataclass(frozen=True, slots=True)
class Raise:
    """Stop and raise :class:`guardrails.Blocked` carrying the result."""

    message: str = "output blocked by policy"
    kind: ClassVar[str] = "raise"


Action: TypeAlias = Allow | Warn | Correct | Regenerate | Cut | Block | Raise

_SEVERITY: dict[str, int] = {
    "allow": 0,
    "warn": 1,
    "correct": 2,
    "regenerate": 3,
    "cut": 4,
    "block": 5,
    "raise": 6,
}


def severity(action: Action) -> int:
    """Rank of an action; higher wins when findings disagree."""
    rank = _SEVERITY[action.kind] * 10
    if isinstance(action, Correct):
        # drop removes everything; a redact must never lose to a correction that
        # leaves the personal data in place (annotate, fix_numbers, rewrite)
        return rank + {"drop": 2, "redact": 1}.get(action.strategy, 0)
    return rank
