"""Decisions a policy can return for a segment, as plain values.

They are ordered by severity; when several findings on one segment ask for
different actions, the most severe wins (``raise`` > ``block`` > ``cut`` >
``regenerate`` > ``correct`` > ``warn`` > ``allow``). Two ``correct`` actions
combine: ``drop`` beats ``redact``.
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

    ``drop`` removes the whole segment. ``redact`` replaces the finding spans:
    ``mask="label"`` uses the detector's replacement (``[EMAIL]``) or the label
    in brackets, ``mask="char"`` repeats ``mask_char`` over the span's length,
    anything else is used literally.
    """

    strategy: Literal["drop", "redact"] = "drop"
    mask: str = "label"
    mask_char: str = "*"
    kind: ClassVar[str] = "correct"


@dataclass(frozen=True, slots=True)
class Regenerate:
    """Ask the wrapped LLM call to continue from the last released text.

    After ``max_attempts`` regenerations in one call, ``fallback`` applies.
    """

    max_attempts: int = 1
    fallback: Action | None = None
    kind: ClassVar[str] = "regenerate"

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0, got {self.max_attempts}")
        if isinstance(self.fallback, Regenerate):
            raise ValueError("a regenerate fallback cannot itself be regenerate")


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
    rank = _SEVERITY[action.kind]
    if isinstance(action, Correct) and action.strategy == "drop":
        return rank * 10 + 1  # drop beats redact within "correct"
    return rank * 10
