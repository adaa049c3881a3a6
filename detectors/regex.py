"""Named regular expressions: every match is a finding labelled with the pattern's name.

::

    RegexDetector(patterns={"ticket": r"\\bJIRA-\\d+\\b"}, flags=["IGNORECASE"])

Patterns are compiled once, in the constructor; an invalid one is a
:class:`~guardrails.errors.ConfigError` naming it, and so is one that can
backtrack catastrophically (``(a+)+$`` takes exponential time on a run of
``a``s and would stall every stream of the guard; see :mod:`detectors._redos`).
Zero-width matches (a pattern such as ``x*`` matching nothing) are ignored: a
finding always covers text.
"""

from __future__ import annotations

import re
from typing import Literal

from detectors._redos import catastrophic
from detectors.base import CheckContext, Finding, Segment
from guardrails.errors import ConfigError

__all__ = ["RegexDetector", "RegexFlag"]

RegexFlag = Literal["IGNORECASE", "MULTILINE", "DOTALL"]
"""The :mod:`re` flags a pattern set may be compiled with."""

_FLAGS: dict[str, re.RegexFlag] = {
    "IGNORECASE": re.IGNORECASE,
    "MULTILINE": re.MULTILINE,
    "DOTALL": re.DOTALL,
}


class RegexDetector:
    """Report every match of a set of named regular expressions.

    Each non-empty match of pattern ``name`` gives a finding with
    ``label=name``, the exact (global) span of the match and the replacement
    ``"[NAME]"``. All segment kinds but blank ones are scanned, code included.
    """

    cpu_bound: bool = False

    def __init__(
        self,
        *,
        name: str = "regex",
        patterns: dict[str, str],
        flags: list[RegexFlag] | None = None,
    ) -> None:
        if not patterns:
            raise ConfigError(f"regex detector {name!r}: option 'patterns' must not be empty")
        combined = re.RegexFlag(0)
        for flag in flags or ():
            if flag not in _FLAGS:
                raise ConfigError(
                    f"regex detector {name!r}: option 'flags' has unknown flag {flag!r}; "
                    f"expected one of {sorted(_FLAGS)}"
                )
            combined |= _FLAGS[flag]
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for label, pattern in patterns.items():
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(
                    f"regex detector {name!r}: option 'patterns' has an empty pattern name"
                )
            if not isinstance(pattern, str):
                raise ConfigError(
                    f"regex detector {name!r}: pattern {label!r} must be a string, got {pattern!r}"
                )
            try:
                compiled.append((label, re.compile(pattern, combined)))
            except re.error as exc:
                raise ConfigError(
                    f"regex detector {name!r}: pattern {label!r} is not a valid "
                    f"regular expression ({exc}): {pattern!r}"
                ) from exc
            if why := catastrophic(pattern, combined):
                raise ConfigError(
                    f"regex detector {name!r}: pattern {label!r} can take exponential time "
                    f"(catastrophic backtracking: {why}): {pattern!r}; rewrite it so that "
                    "repeated parts cannot match the same text in several ways, or make the "
                    "repetition possessive (*+, ++) or atomic ((?>...), Python 3.11+)"
                )
        self.name = name
        self._patterns: tuple[tuple[str, re.Pattern[str]], ...] = tuple(compiled)

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return one finding per non-empty match of each pattern in ``segment``."""
        if segment.kind == "blank" or not segment.text.strip():
            return []
        findings: list[Finding] = []
        for label, pattern in self._patterns:
            for match in pattern.finditer(segment.text):
                start, end = match.span()
                if start == end:
                    continue
                findings.append(
                    Finding(
                        detector=self.name,
                        label=label,
                        span=(segment.start + start, segment.start + end),
                        message=f"text matches pattern {label!r}",
                        replacement=f"[{label.upper()}]",
                    )
                )
        return findings
