"""Banned phrases: exact (case- and whitespace-insensitive) and fuzzy matches.

::

    BannedPhrases(phrases=["guaranteed returns", "free money"], threshold=90)

Exact matching ignores case and treats any run of whitespace as one space, so
``"free  money"`` matches ``"FREE money"`` and ``"free\\nmoney"``; a match must
start and end on a word boundary. With ``fuzzy=True`` near misses are reported
too (``"guarantede returns"``): the phrase is compared with
:func:`rapidfuzz.fuzz.ratio` against every window of words of the segment with
as many words as the phrase, one fewer or one more (so a split or merged word
still lines up), and windows scoring at least ``threshold`` are findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from detectors.base import CheckContext, Finding, Segment
from guardrails.errors import ConfigError

__all__ = ["BannedPhrases"]

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str  # as configured, for messages
    exact: re.Pattern[str]
    normal: str  # casefolded words joined by single spaces ("" when it has no words)
    words: int


def _compile_phrase(phrase: str) -> _Phrase:
    parts = phrase.split()
    body = r"\s+".join(re.escape(part) for part in parts)
    head = r"(?<!\w)" if re.match(r"\w", parts[0]) else ""
    tail = r"(?!\w)" if re.search(r"\w$", parts[-1]) else ""
    words = _WORD.findall(phrase.casefold())
    return _Phrase(
        text=phrase,
        exact=re.compile(head + body + tail, re.IGNORECASE),
        normal=" ".join(words),
        words=len(words),
    )


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


class BannedPhrases:
    """Report banned phrases, exactly or (with ``fuzzy``) approximately matched.

    Findings are labelled ``"banned_phrase"`` with ``score`` 1.0 for an exact
    match and the similarity (0..1) for a fuzzy one, ``data["phrase"]`` the
    configured phrase and the replacement ``"[REDACTED]"``. A phrase is reported
    at most once for any stretch of text (no overlapping duplicates of the same
    phrase; different phrases may overlap). Code segments are scanned too.
    """

    cpu_bound: bool = False

    def __init__(
        self,
        *,
        name: str = "banned",
        phrases: list[str],
        fuzzy: bool = True,
        threshold: float = 90.0,
    ) -> None:
        if not phrases:
            raise ConfigError(f"banned detector {name!r}: option 'phrases' must not be empty")
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip():
                raise ConfigError(
                    f"banned detector {name!r}: option 'phrases' has a blank or "
                    f"non-string entry {phrase!r}"
                )
        if isinstance(threshold, bool) or not 0.0 < threshold <= 100.0:
            raise ConfigError(
                f"banned detector {name!r}: option 'threshold' must be in (0, 100], "
                f"got {threshold!r}"
            )
        self.name = name
        self.fuzzy = fuzzy
        self.threshold = float(threshold)
        distinct: dict[str, str] = {}
        for phrase in phrases:
            distinct.setdefault(" ".join(phrase.split()).casefold(), phrase)
        self._phrases: tuple[_Phrase, ...] = tuple(map(_compile_phrase, distinct.values()))

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return the banned phrases found in ``segment`` (global spans)."""
        text = segment.text
        if segment.kind == "blank" or not text.strip():
            return []
        words = [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]
        windows: dict[int, list[str]] = {}
        findings: list[Finding] = []
        for phrase in self._phrases:
            taken: list[tuple[int, int]] = []
            for match in phrase.exact.finditer(text):
                taken.append(match.span())
                findings.append(self._finding(segment, phrase, match.span(), 1.0))
            if not self.fuzzy or phrase.words == 0:
                continue
            candidates: list[tuple[float, int, int]] = []
            for size in (phrase.words - 1, phrase.words, phrase.words + 1):
                if size < 1 or size > len(words):
                    continue
                if size not in windows:
                    windows[size] = [
                        " ".join(w[2] for w in words[i : i + size])
                        for i in range(len(words) - size + 1)
                    ]
                for _, score, i in process.extract(
                    phrase.normal,
                    windows[size],
                    scorer=fuzz.ratio,
                    score_cutoff=self.threshold,
                    limit=None,
                ):
                    candidates.append((score, words[i][0], words[i + size - 1][1]))
            # best first; among equals the earliest, then the shortest
            candidates.sort(key=lambda c: (-c[0], c[1], c[2] - c[1]))
            for score, start, end in candidates:
                if _overlaps((start, end), taken):
                    continue
                taken.append((start, end))
                findings.append(self._finding(segment, phrase, (start, end), score / 100.0))
        findings.sort(key=lambda f: (f.span, f.message))
        return findings

    def _finding(
        self, segment: Segment, phrase: _Phrase, span: tuple[int, int], score: float
    ) -> Finding:
        matched = segment.text[span[0] : span[1]]
        if score >= 1.0:
            message = f"banned phrase {phrase.text!r}"
        else:
            message = f"near match ({score:.0%}) of banned phrase {phrase.text!r}: {matched!r}"
        return Finding(
            detector=self.name,
            label="banned_phrase",
            span=(segment.start + span[0], segment.start + span[1]),
            score=min(score, 1.0),
            message=message,
            replacement="[REDACTED]",
            data={"phrase": phrase.text, "matched": matched},
        )
