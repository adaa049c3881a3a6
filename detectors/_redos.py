"""A load-time check for regular expressions that can backtrack catastrophically.

Python's ``re`` backtracks, cannot be interrupted and holds the GIL while it
matches, so one pattern such as ``(a+)+$`` can stall a whole guard on a few
dozen characters. :func:`catastrophic` looks at the parsed pattern for the two
shapes that make matching time exponential:

* inside a repetition, a part of variable length whose characters can also
  start what follows it (the next part, or the next round of the repetition):
  ``(a+)+``, ``(\\w+\\s?)*``, ``(.*a){20}``, ``(a|aa)+``;
* inside a repetition, alternatives that can start with the same character
  (or that can both match nothing): ``(ab|abc?)+``, ``(a|a?)+``. (``re`` itself
  merges ``(ab|a[bc])`` into ``a[bc]``, which is fine.)

Only repetitions of :data:`_MANY` rounds or more count: fewer multiply a fixed
cost, they do not explode.

Delimited repetitions stay allowed: ``(?:[a-z]+\\.)+``, ``(\\w+\\s)+``,
``(?:\\d{3}-)+``. Possessive quantifiers and atomic groups never backtrack and
are exempt. Polynomial cases (``\\d+\\d+x``) are not looked for: segments are
bounded in length, so they stay bounded in time. Character sets are compared on
a sample of characters (ASCII and a few others), which is enough to see overlap.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["catastrophic"]

try:  # Python 3.11+: the parser is private to re; 3.10 still has the public modules
    _P: Any = importlib.import_module("re._parser")
    _C: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - Python 3.10
    _P = importlib.import_module("sre_parse")
    _C = importlib.import_module("sre_constants")

_SAMPLE = frozenset(chr(i) for i in range(128)) | frozenset("éßÅ中١\u00a0\u2028😀")
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
    "CATEGORY_LINEBREAK": r"\n",
    "CATEGORY_NOT_LINEBREAK": r"[^\n]",
}
_INF = float("inf")
_MANY = 10  # a repetition bounded below this multiplies a fixed cost, it does not explode
_Chars = frozenset[str]
_GROUPS = ("SUBPATTERN", "ATOMIC_GROUP", "POSSESSIVE_REPEAT", "ASSERT", "ASSERT_NOT")


def _inner(name: str, av: Any) -> list[Any]:
    """The sub-pattern of a group, repetition or assertion node."""
    if name == "ATOMIC_GROUP":
        return list(av)
    return list(av[2] if name.endswith("_REPEAT") else av[-1])


def catastrophic(pattern: str, flags: int = 0) -> str | None:
    """Why ``pattern`` can take exponential time, or ``None`` when it cannot (as far as seen)."""
    parsed = _P.parse(pattern, flags)
    return _Check(parsed.state.flags).walk(list(parsed), repeated=False)  # with inline flags


class _Check:
    def __init__(self, flags: int) -> None:
        self.ignore_case = bool(flags & re.IGNORECASE)
        self.ascii = re.ASCII if flags & re.ASCII else 0

    def walk(self, seq: list[Any], *, repeated: bool) -> str | None:
        """Look at every repetition in ``seq`` (``repeated``: ``seq`` is inside one)."""
        for op, av in seq:
            name = str(op)
            if name in ("MAX_REPEAT", "MIN_REPEAT"):
                hi, body = av[1], list(av[2])
                many = hi >= _MANY
                if many and (why := self.ambiguous(body, self.first(body)[0])):
                    return why
                if why := self.walk(body, repeated=repeated or many):
                    return why
            elif name == "BRANCH":
                alts = [list(alt) for alt in av[1]]
                if repeated and self.overlapping(alts):
                    return "alternatives inside a repetition can start with the same character"
                for alt in alts:
                    if why := self.walk(alt, repeated=repeated):
                        return why
            elif name in _GROUPS and (why := self.walk(_inner(name, av), repeated=repeated)):
                return why
        return None

    def ambiguous(self, seq: list[Any], after: _Chars) -> str | None:
        """A part of variable length whose characters can also start what follows it.

        ``after``: what can follow ``seq`` (for a repetition's body, its own start).
        """
        for k, item in enumerate(seq):
            follow, nullable = self.first(seq[k + 1 :])
            if nullable:
                follow |= after
            name = str(item[0])
            if name == "SUBPATTERN":  # a group: look at its parts, in this context
                if why := self.ambiguous(_inner(name, item[1]), follow):
                    return why
                continue
            low, high = self.width(item)
            if low != high and self.last_item(item)[0] & follow:
                return (
                    "a part of variable length inside a repetition can match the same text "
                    "in many ways"
                )
        return None

    def overlapping(self, alts: list[list[Any]]) -> bool:
        """Two alternatives can start alike (or both match nothing): a choice made twice."""
        seen: _Chars = frozenset()
        empty = 0
        for alt in alts:
            chars, nullable = self.first(alt)
            empty += nullable
            if chars & seen or empty > 1:
                return True
            seen |= chars
        return False

    # ------------------------------------------------------------- analysis

    def width(self, item: Any) -> tuple[float, float]:
        """Fewest and most characters ``item`` can match (equal: no choice of length)."""
        op, av = item
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT"):
            lo, hi, body = av
            blo, bhi = self.seq_width(list(body))
            return lo * blo, (_INF if hi == _C.MAXREPEAT else hi) * bhi
        if name == "SUBPATTERN":
            return self.seq_width(_inner(name, av))
        if name == "BRANCH":
            widths = [self.seq_width(list(alt)) for alt in av[1]]
            return min(w[0] for w in widths), max(w[1] for w in widths)
        if name in ("AT", "ASSERT", "ASSERT_NOT", "ATOMIC_GROUP", "POSSESSIVE_REPEAT"):
            return 0, 0  # no backtracking into these: no choice they can offer
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return 0, _INF
        return 1, 1

    def seq_width(self, seq: list[Any]) -> tuple[float, float]:
        widths = [self.width(item) for item in seq]
        return sum(w[0] for w in widths), sum(w[1] for w in widths)

    def first(self, seq: list[Any]) -> tuple[_Chars, bool]:
        """Characters that can start a match of ``seq``, and whether it can match nothing."""
        found: _Chars = frozenset()
        for item in seq:
            chars, nullable = self.first_item(item)
            found |= chars
            if not nullable:
                return found, False
        return found, True

    def last(self, seq: list[Any]) -> tuple[_Chars, bool]:
        """Characters that can end a match of ``seq``, and whether it can match nothing."""
        found: _Chars = frozenset()
        for item in reversed(seq):
            chars, nullable = self.last_item(item)
            found |= chars
            if not nullable:
                return found, False
        return found, True

    def first_item(self, item: Any, *, end: bool = False) -> tuple[_Chars, bool]:
        """Characters that can start (``end``: end) a match of ``item``; can it match nothing."""
        op, av = item
        name = str(op)
        edge = self.last if end else self.first
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            chars, nullable = edge(list(av[2]))
            return chars, nullable or av[0] == 0
        if name in ("SUBPATTERN", "ATOMIC_GROUP"):
            return edge(_inner(name, av))
        if name == "BRANCH":
            firsts = [edge(list(alt)) for alt in av[1]]
            return frozenset().union(*(f[0] for f in firsts)), any(f[1] for f in firsts)
        if name in ("AT", "ASSERT", "ASSERT_NOT"):
            return frozenset(), True
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return _SAMPLE, True
        return self.chars(item), False

    def last_item(self, item: Any) -> tuple[_Chars, bool]:
        return self.first_item(item, end=True)

    def chars(self, item: Any) -> _Chars:
        """Sample characters ``item`` can consume anywhere in its match."""
        op, av = item
        name = str(op)
        if name == "LITERAL":
            return self.cased(frozenset(chr(av)))
        if name == "NOT_LITERAL":
            return _SAMPLE - self.cased(frozenset(chr(av)))
        if name == "IN":
            return self.charset(av)
        if name == "CATEGORY":
            return self.category(av)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            return self.seq_chars(list(av[2]))
        if name in ("SUBPATTERN", "ATOMIC_GROUP"):
            return self.seq_chars(_inner(name, av))
        if name == "BRANCH":
            return frozenset().union(*(self.seq_chars(list(alt)) for alt in av[1]))
        if name in ("AT", "ASSERT", "ASSERT_NOT"):
            return frozenset()
        return _SAMPLE  # ANY, back-references: anything

    def seq_chars(self, seq: list[Any]) -> _Chars:
        return frozenset().union(*(self.chars(item) for item in seq))

    def charset(self, items: list[Any]) -> _Chars:
        negate = bool(items) and str(items[0][0]) == "NEGATE"
        found: _Chars = frozenset()
        for op, av in items[1:] if negate else items:
            name = str(op)
            if name == "RANGE":
                lo, hi = av
                found |= self.cased(frozenset(c for c in _SAMPLE if lo <= ord(c) <= hi))
            elif name == "CATEGORY":
                found |= self.category(av)
            else:
                found |= self.chars((op, av))
        return _SAMPLE - found if negate else found

    def category(self, code: Any) -> _Chars:
        probe = re.compile(_CATEGORIES.get(str(code), r"[\s\S]"), self.ascii)
        return frozenset(c for c in _SAMPLE if probe.fullmatch(c))

    def cased(self, chars: _Chars) -> _Chars:
        if not self.ignore_case:
            return chars
        return chars | {c.lower() for c in chars} | {c.upper() for c in chars}
