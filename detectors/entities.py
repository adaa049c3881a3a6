"""Names the answer uses that the context never mentions.

::

    EntityCheck(threshold=85.0)          # YAML type "entities"

:func:`extract_entities` finds the name-like spans of a text: runs of
capitalised words ("Eiffel Tower", "Bank of America", "Mr. Smith"),
acronyms ("NASA", "U.S."), and quoted strings. A capitalised common word that
only starts a sentence ("The", "However") is not a name. :class:`EntityCheck`
looks each one up in the context, ignoring case and punctuation, with
rapidfuzz's ``partial_ratio``, so "Paris" matches "paris" and "Mr. Smith"
matches "John Smith".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from detectors.base import CheckContext, Evidence, Finding, Passage, Segment
from detectors.claims import is_claim
from guardrails.errors import ConfigError

__all__ = ["EntityCheck", "extract_entities"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _words(
    """a an the this that these those it its it's there here they them their we our you your
    he she his her i i'm i've i'll i'd my me us and but or nor so yet for if then than when
    while where what which who whom whose why how however although though because since as
    at by from in into of on onto to with without within about above after against along
    among around before behind below beneath beside between beyond during except inside near
    over through throughout toward towards under until upon also additionally furthermore
    moreover finally first second third next last lastly overall thus therefore hence still
    instead meanwhile otherwise indeed besides nevertheless nonetheless yes no not none all
    any each every both either neither some many most more much few several such other
    another one only just even now today tomorrow yesterday currently recently generally
    typically usually often sometimes always never perhaps maybe unfortunately fortunately
    please note let let's sure great well okay ok hello hi thanks according based despite
    given unlike like including regarding whether once do does did is are was were be been
    being have has had can could will would shall should may might must there's here's
    what's that's imagine consider remember hope thank welcome enjoy check make try use keep
    see ask start"""
)
_CALENDAR = _words(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday"""
)
_ALWAYS_LOWER_WORDS = frozenset(["i", "i'm", "i've", "i'll", "i'd", "a", "ok"])
_CONNECTORS = frozenset(["of", "de", "del", "della", "der", "den", "van", "von", "da", "di", "du"])
_HONORIFICS = frozenset(["mr", "mrs", "ms", "dr", "prof", "sir", "st", "gen", "sen", "rep"])
_TOKEN = re.compile(r"(?:[^\W\d_]\.){2,}|[^\W\d_][\w&'’-]*")  # noqa: RUF001
_QUOTED = re.compile(r"\"([^\"\n]{2,80})\"|“([^”\n]{2,80})”|‘([^’\n]{2,80})’")  # noqa: RUF001
_SENTENCE_START = re.compile(r"(?:\A|[.!?:;]\s+|\n)[\s\"'“‘(*_#>•+\-]*(?:\d{1,3}[.)]\s+)?\Z")  # noqa: RUF001
_HEADING_LINE = re.compile(r"(?m)^[ \t]*#.*$")
_MAX_QUOTED_WORDS = 12
_EVIDENCE_FLOOR = 50.0


def _is_name_word(token: str) -> bool:
    return token[0].isupper() and token.casefold() not in _ALWAYS_LOWER_WORDS


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """Word tokens without trailing possessives, hyphens or apostrophes."""
    out = []
    for m in _TOKEN.finditer(text):
        word = re.sub(r"(?:['’][sS])?['’-]*\Z", "", m.group())  # noqa: RUF001
        if word:
            out.append((m.start(), m.start() + len(word), word))
    return out


def _runs(text: str) -> list[tuple[int, int]]:
    """Spans of capitalised-word runs, sentence-initial common words dropped."""
    tokens = _tokens(text)
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        if not _is_name_word(tokens[i][2]):
            i += 1
            continue
        first, last, j = i, i, i + 1
        while j < len(tokens):
            gap = text[tokens[j - 1][1] : tokens[j][0]]
            prev = tokens[j - 1][2].casefold().rstrip(".")
            word_j = tokens[j][2]
            dotted = gap == ". " and (prev in _HONORIFICS or len(prev) == 1)
            if gap not in (" ", " & ") and not (dotted and word_j.casefold() not in _STOPWORDS):
                break
            if _is_name_word(word_j):
                last, j = j, j + 1
            elif word_j in _CONNECTORS and j + 1 < len(tokens) and _is_name_word(tokens[j + 1][2]):
                j += 1
            else:
                break
        # a common word that only starts the sentence is not part of the name
        initial = _SENTENCE_START.search(text, 0, tokens[first][0]) is not None
        if initial and tokens[first][2].casefold() in _STOPWORDS:
            first += 1
        words = [t[2].casefold().rstrip(".") for t in tokens[first : last + 1]]
        if first <= last and not all(w in _CALENDAR or w in _HONORIFICS for w in words):
            runs.append((tokens[first][0], tokens[last][1]))
        i = last + 1
    return runs


def extract_entities(text: str) -> list[tuple[int, int, str]]:
    """Name-like spans of ``text`` as ``(start, end, text)``, in order, never overlapping.

    Quoted strings (their inside, up to 12 words) win over capitalised runs they
    overlap. Markdown heading lines are skipped (headings are title case).
    """
    headings = [m.span() for m in _HEADING_LINE.finditer(text)]
    quoted: list[tuple[int, int]] = []
    for m in _QUOTED.finditer(text):
        group = next(g for g in (1, 2, 3) if m.group(g) is not None)
        inner = m.group(group)
        if inner == inner.strip() and len(inner.split()) <= _MAX_QUOTED_WORDS:
            quoted.append(m.span(group))
    kept: list[tuple[int, int]] = []
    for s, e in quoted + _runs(text):  # quoted strings first: they win overlaps
        if not any(s < ke and ks < e for ks, ke in kept) and not any(
            hs <= s < he for hs, he in headings
        ):
            kept.append((s, e))
    return [(s, e, text[s:e]) for s, e in sorted(kept)]


def _normalized(text: str) -> tuple[str, list[int]]:
    """Casefolded alphanumerics, other runs as one space; and each char's source index."""
    chars: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if char.isalnum():
            for folded in char.casefold():
                chars.append(folded)
                where.append(i)
        elif char in "'’":  # noqa: RUF001 - "O'Brien" == "OBrien"
            continue
        elif chars and chars[-1] != " ":
            chars.append(" ")
            where.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        where.pop()
    return "".join(chars), where


def _key(entity: str) -> str:
    """What to look up: the normalized entity without leading honorifics."""
    words = _normalized(entity)[0].split(" ")
    while len(words) > 1 and words[0] in _HONORIFICS:
        words.pop(0)
    return " ".join(words)


def _find(key: str, hay: str) -> tuple[float, int, int]:
    """Best similarity of ``key`` in ``hay`` (0-100) and the matched span of ``hay``."""
    pos = f" {hay} ".find(f" {key} ")
    if pos >= 0:
        return 100.0, pos, pos + len(key)
    found = fuzz.partial_ratio_alignment(key, hay)
    if found is None or found.score <= 0:
        return 0.0, 0, 0
    start, end = found.dest_start, found.dest_end
    while start > 0 and hay[start - 1] != " ":  # widen to whole words: "paris" is no
        start -= 1  # match inside "comparison"
    while end < len(hay) and hay[end] != " ":
        end += 1
    best = fuzz.ratio(key, hay[start:end])
    while True:  # drop an edge word while that makes the match closer
        first, last = hay.find(" ", start, end), hay.rfind(" ", start, end)
        if first < 0:
            break
        options = [(fuzz.ratio(key, hay[first + 1 : end]), first + 1, end)]
        options.append((fuzz.ratio(key, hay[start:last]), start, last))
        score, s, e = max(options)
        if score <= best:
            break
        best, start, end = score, s, e
    return float(best), start, end


class EntityCheck:
    """Report names in a sentence that the context does not mention.

    Label ``"unknown_entity"`` over the exact name, score ``1 - similarity/100``
    of the best match in the context (case and punctuation ignored, leading
    honorifics dropped), below ``threshold`` (0-100). ``evidence`` is the best
    matching context span when it is at least 50 % similar. Segments that are no
    claims (:func:`~detectors.claims.is_claim`) and calls without passages are
    not checked.
    """

    cpu_bound: bool = False

    def __init__(self, *, name: str = "entities", threshold: float = 85.0) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConfigError(f"entities detector {name!r}: option 'threshold' must be a number")
        if not 0.0 < threshold <= 100.0:
            raise ConfigError(
                f"entities detector {name!r}: option 'threshold' must be in (0, 100], "
                f"got {threshold}"
            )
        self.name = name
        self.threshold = float(threshold)

    def _haystacks(self, ctx: CheckContext) -> Sequence[tuple[Passage, str, list[int]]]:
        key = f"{self.name}:normalized"
        cached: Sequence[tuple[Passage, str, list[int]]] | None = ctx.memo.get(key)
        if cached is None:
            cached = ctx.memo[key] = tuple((p, *_normalized(p.text)) for p in ctx.passages)
        return cached

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return one finding per entity of ``segment`` not found in the context."""
        if not ctx.passages or not is_claim(segment.text, segment.kind):
            return []
        haystacks = self._haystacks(ctx)
        findings: list[Finding] = []
        for start, end, text in extract_entities(segment.text):
            key = _key(text)
            if not key:
                continue
            best = (0.0, -1, 0, 0)
            for position, (_, hay, _) in enumerate(haystacks):
                score, s, e = _find(key, hay)
                if score > best[0]:
                    best = (score, position, s, e)
                if score >= 100.0:
                    break
            score, position, s, e = best
            if score >= self.threshold:
                continue
            evidence: tuple[Evidence, ...] = ()
            if position >= 0 and score >= _EVIDENCE_FLOOR:
                passage, _, where = haystacks[position]
                ps, pe = where[s], where[e - 1] + 1
                scores = {"similarity": score / 100}
                evidence = (Evidence(passage.index, ps, pe, passage.text[ps:pe], scores),)
            findings.append(
                Finding(
                    detector=self.name,
                    label="unknown_entity",
                    span=(segment.start + start, segment.start + end),
                    score=1.0 - score / 100,
                    message=f"{text!r} is not mentioned in the context",
                    evidence=evidence,
                    data={"similarity": score / 100},
                )
            )
        return findings
