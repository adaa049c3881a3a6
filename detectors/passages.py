"""Context windows: passages cut into sentence-aligned pieces of bounded size.

::

    windows = make_windows(ctx.passages, max_tokens=128, overlap=1)
    windows = windows_for(ctx)          # the same, computed once per call

A :class:`Window` is a run of consecutive sentences of one passage, at most
``max_tokens`` tokens long, with ``overlap`` sentences shared between
neighbours so that a claim spanning a sentence boundary still finds both
sentences in one window. A sentence longer than ``max_tokens`` is cut at word
boundaries (a single word longer than that, at character boundaries): nothing
is dropped or truncated, every non-whitespace character of every passage lies in
at least one window.

:func:`normalize` is the text form the lexical signals compare, and
:func:`verbatim_window` is the cheap early exit: a claim whose normalized
wording occurs as is in a window needs no model to be called supported.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detectors.base import CheckContext, Passage
from guardrails.segmenter import split

__all__ = [
    "MIN_VERBATIM_WORDS",
    "Window",
    "estimate_tokens",
    "make_windows",
    "normalize",
    "verbatim_window",
    "windows_for",
]

MIN_VERBATIM_WORDS = 4
"""A claim needs at least this many normalized words for a verbatim match to count."""

_MEMO_KEY = "passages:windows"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")
_SPACE = re.compile(r"\s+")
# Curly and typographic quotes are the point here, not look-alike typos.
_QUOTES = str.maketrans(
    dict.fromkeys("‘’‚‛′`´", "'") | dict.fromkeys("“”„‟″«»", '"')  # noqa: RUF001
)
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))  # noqa: RUF001
_KEEP_AT_EDGES = frozenset("%")  # "20%" is not "20"


@dataclass(frozen=True, slots=True)
class Window:
    """A slice of one passage: ``text == passages[passage].text[start:end]``.

    ``passage`` is the position of the passage in the sequence the windows were
    made from (for ``ctx.passages`` that is also ``Passage.index``).
    """

    passage: int
    start: int
    end: int
    text: str


def estimate_tokens(text: str) -> int:
    """A cheap token count: words and punctuation marks, times 1.3, rounded up."""
    return math.ceil(len(_TOKEN.findall(text)) * 1.3)


def _longest_prefix(start: int, end: int, fits: Callable[[int, int], bool]) -> int:
    """The largest ``cut`` in ``start+1..end`` with ``fits(start, cut)`` (at least ``start+1``)."""
    lo, hi = start + 1, end
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(start, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pieces(
    text: str, start: int, end: int, fits: Callable[[int, int], bool]
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` (one sentence) into spans that each fit, at word boundaries."""
    if fits(start, end):
        return [(start, end)]
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        ws, we = words[i]
        if not fits(ws, we):  # one word alone is too long: cut it by characters
            pos = ws
            while pos < we:
                cut = _longest_prefix(pos, we, fits)
                out.append((pos, cut))
                pos = cut
            i += 1
            continue
        j = i + 1
        while j < len(words) and fits(ws, words[j][1]):
            j += 1
        out.append((ws, words[j - 1][1]))
        i = j
    return out


def _units(text: str, fits: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` without surrounding whitespace, long ones cut to fit."""
    units: list[tuple[int, int]] = []
    for seg in split(text):
        body = seg.text.strip()
        if not body:
            continue
        start = seg.start + len(seg.text) - len(seg.text.lstrip())
        units.extend(_pieces(text, start, start + len(body), fits))
    return units


def make_windows(
    passages: Sequence[Passage],
    *,
    max_tokens: int = 128,
    overlap: int = 1,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[Window, ...]:
    """Split each passage into windows of at most ``max_tokens`` tokens.

    Consecutive sentences are packed greedily; the next window starts
    ``overlap`` sentences before the end of the previous one (fewer when that
    would leave no room for a new sentence). ``count_tokens`` defaults to
    :func:`estimate_tokens`. Windows come in passage order, then text order.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f"overlap must be a non-negative integer, got {overlap!r}")
    count = count_tokens or estimate_tokens
    out: list[Window] = []
    for position, passage in enumerate(passages):
        text = passage.text

        def fits(start: int, end: int, text: str = text) -> bool:
            return count(text[start:end]) <= max_tokens

        units = _units(text, fits)
        first = 0
        while first < len(units):
            last = first
            while last + 1 < len(units) and fits(units[first][0], units[last + 1][1]):
                last += 1
            start, end = units[first][0], units[last][1]
            out.append(Window(position, start, end, text[start:end]))
            if last + 1 >= len(units):
                break
            # share up to `overlap` sentences, but only as many as leave room for a new one
            nxt = max(first + 1, last + 1 - overlap)
            while nxt <= last and not fits(units[nxt][0], units[last + 1][1]):
                nxt += 1
            first = nxt
    return tuple(out)


def windows_for(
    ctx: CheckContext,
    *,
    max_tokens: int = 128,
    overlap: int = 1,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[Window, ...]:
    """:func:`make_windows` of ``ctx.passages``, cached in ``ctx.memo`` for the call.

    Every detector asking with the same options shares one result.
    """
    cache: dict[object, tuple[Window, ...]] = ctx.memo.setdefault(_MEMO_KEY, {})
    key = (max_tokens, overlap, count_tokens)
    found = cache.get(key)
    if found is None:
        found = make_windows(
            ctx.passages, max_tokens=max_tokens, overlap=overlap, count_tokens=count_tokens
        )
        cache[key] = found
    return found


def _is_edge_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P") and char not in _KEEP_AT_EDGES


def _strip_word(word: str) -> str:
    start, end = 0, len(word)
    while start < end and _is_edge_punct(word[start]):
        start += 1
    while end > start and _is_edge_punct(word[end - 1]):
        end -= 1
    return word[start:end]


def normalize(text: str) -> str:
    """Comparable form of ``text``: NFKC, casefolded, quotes and dashes unified,
    punctuation stripped at word edges, whitespace collapsed to single spaces.

    ``normalize('  “Hello,”  World—again! ') == 'hello world-again'``.
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES).translate(_DASHES)
    words = (_strip_word(w) for w in _SPACE.split(text))
    return " ".join(w for w in words if w)


def verbatim_window(
    claim: str, windows: Sequence[Window], *, normalized: Sequence[str] | None = None
) -> Window | None:
    """The first window that contains the claim's normalized wording verbatim.

    The claim must have at least :data:`MIN_VERBATIM_WORDS` normalized words
    (a short phrase occurs anywhere); matches are whole words. ``normalized``
    may hold the windows' :func:`normalize` forms, computed once by the caller.
    """
    needle = normalize(claim)
    if len(needle.split(" ")) < MIN_VERBATIM_WORDS:
        return None
    needle = f" {needle} "
    for i, window in enumerate(windows):
        hay = normalized[i] if normalized is not None else normalize(window.text)
        if needle in f" {hay} ":
            return window
    return None
