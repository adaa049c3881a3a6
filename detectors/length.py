"""Length limits: characters and sentences.

::

    LengthLimit(max_chars=2000, max_sentences=20)

``max_chars`` counts every character of the answer, whitespace included (the
answer so far is ``ctx.prefix_len`` characters before the segment).
``max_sentences`` uses the segmenter's numbering: a non-blank segment is
sentence number ``segment.index + 1`` (``Segment.index`` is the segment's
0-based ordinal in the answer; the segmenter attaches whitespace to the segment
after it, so blank segments only occur at the very end and do not push later
sentences up). Blank segments are never reported themselves: whitespace that
crosses ``max_chars`` is reported with the next non-blank segment.
"""

from __future__ import annotations

from detectors.base import CheckContext, Finding, Segment
from guardrails.errors import ConfigError

__all__ = ["LengthLimit"]


def _limit(value: int | None, option: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"length detector {name!r}: option {option!r} must be a positive integer, got {value!r}"
        )
    return value


class LengthLimit:
    """Flag an answer that grows beyond ``max_chars`` characters or ``max_sentences``.

    Labels: ``"too_long"``, spanning from the first character beyond the limit
    (or the segment's start, when the limit was already passed before it) to the
    segment's end; ``"too_many_sentences"``, spanning the whole segment. Both
    suggest the replacement ``""`` (cut the excess). ``data`` holds the limit and
    the count reached.
    """

    cpu_bound: bool = False

    def __init__(
        self,
        *,
        name: str = "length",
        max_chars: int | None = None,
        max_sentences: int | None = None,
    ) -> None:
        if max_chars is None and max_sentences is None:
            raise ConfigError(
                f"length detector {name!r}: set at least one of the options "
                "'max_chars' and 'max_sentences' (both are None)"
            )
        self.name = name
        self.max_chars = _limit(max_chars, "max_chars", name)
        self.max_sentences = _limit(max_sentences, "max_sentences", name)

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Report the part of ``segment`` that lies beyond a limit."""
        if segment.kind == "blank" or not segment.text.strip():
            return []
        findings: list[Finding] = []
        if self.max_chars is not None:
            total = ctx.prefix_len + len(segment.text)
            if total > self.max_chars:
                beyond = max(0, self.max_chars - ctx.prefix_len)
                findings.append(
                    Finding(
                        detector=self.name,
                        label="too_long",
                        span=(segment.start + beyond, segment.end),
                        message=f"answer is {total} characters long, over the limit of {self.max_chars}",
                        replacement="",
                        data={"limit": self.max_chars, "length": total},
                    )
                )
        if self.max_sentences is not None:
            number = segment.index + 1
            if number > self.max_sentences:
                findings.append(
                    Finding(
                        detector=self.name,
                        label="too_many_sentences",
                        span=(segment.start, segment.end),
                        message=f"sentence {number} is over the limit of {self.max_sentences}",
                        replacement="",
                        data={"limit": self.max_sentences, "count": number},
                    )
                )
        return findings
