"""Events a guarded stream emits, in order, each with a monotonic timestamp ``t``.

* :class:`TextDelta`: text appended to the visible output. ``source`` is the
  upstream range it copies verbatim, or ``None`` for text the guard wrote
  (a redaction mask, a block message).
* :class:`FindingEvent`: a detector finding on a segment.
* :class:`ActionEvent`: the policy changed the output; ``edits`` name the exact
  upstream ranges removed or replaced.
* :class:`Retraction`: delete ``output[start:end]`` (always the tail of what was
  released); pass mode uses it to take back text that later failed.
* :class:`Done`: the last event, with the :class:`GuardResult`.

Accounting invariant: the upstream ranges of the visible verbatim text and of
all edits tile the upstream text exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from detectors.base import Finding, Segment

if TYPE_CHECKING:
    from guardrails._result import GuardResult

__all__ = ["ActionEvent", "Done", "Edit", "Event", "FindingEvent", "Retraction", "TextDelta"]


@dataclass(frozen=True, slots=True)
class Edit:
    """Upstream ``[start, end)`` (whose text was ``original``) became ``replacement``."""

    start: int
    end: int
    original: str
    replacement: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    source: tuple[int, int] | None
    t: float


@dataclass(frozen=True, slots=True)
class FindingEvent:
    finding: Finding
    segment: Segment
    t: float


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """What the policy did. ``action``: warn, drop, redact, cut, block, raise,
    regenerate, dedupe (a regenerated answer repeated released text) or discard
    (text fed after the stream ended)."""

    action: str
    rule: str
    edits: tuple[Edit, ...]
    message: str
    attempt: int
    t: float
    segment: Segment | None = None


@dataclass(frozen=True, slots=True)
class Retraction:
    start: int
    end: int
    text: str
    t: float


@dataclass(frozen=True, slots=True)
class Done:
    result: GuardResult
    t: float


Event: TypeAlias = TextDelta | FindingEvent | ActionEvent | Retraction | Done
