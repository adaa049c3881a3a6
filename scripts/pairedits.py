"""Sentence-level edits for the synthetic NLI pairs of :mod:`scripts.pairgen` (pure Python).

Each edit takes a sentence (and a seeded ``random.Random``) and returns the edited
sentence, or None when it does not apply. Meaning-preserving ones (entailment):
:func:`subspan`, :func:`paraphrase`. Meaning-breaking ones (contradiction):
:func:`change_number`, :func:`change_date`, :func:`replace_entity`,
:func:`negation_insert`, :func:`negation_remove`, :func:`swap_subject_object`.
Adding an unsupported clause (neutral): :func:`added_detail`.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _seq(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_STOP = _words(
    "a an the of to in on at by for with from and or but is are was were be been being it its "
    "he she they we i you his her their our this that these those as has have had not no do "
    "does did will would can could should may might must than then so if also which who whom "
    "whose what when where there here into about after before over under s"
)
_STARTERS = _words(
    "The A An In On At By For From With But And Or However After Before When While During "
    "He She It They We I You His Her Its Their Our This That These Those There Here As If So "
    "Yes No Since Although Though Then Also According Mr Mrs Ms Dr Last Next Both Each Many "
    "Some Other Most Such Despite"
)
MONTHS = _seq(
    "January February March April May June July August September October November December"
)
DAYS = _seq("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
_WORDNUM = _seq("zero one two three four five six seven eight nine ten")
_WORD = re.compile(r"[a-z0-9]+")
_NAME = "[A-Z][\\w'\u2019\\-]*"
_ENTITY = re.compile(
    rf"\b{_NAME}(?:\s+(?:(?:of|the|de|da|del|von|van|der|la|le|du|bin|al)\s+)*{_NAME})*"
)
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w]|,\d|\.\d)")
_YEAR = re.compile(r"(?<![\w.,])(1[5-9]\d\d|20\d\d)(?![\w]|,\d|\.\d)")


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def coverage(hypothesis: str, premise: str) -> float:
    """Share of the hypothesis's content words that occur in the premise."""
    words = content_words(hypothesis)
    return len(words & content_words(premise)) / len(words) if words else 1.0


def entity_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of capitalised name sequences (leading sentence starters dropped)."""
    spans: list[tuple[int, int]] = []
    for m in _ENTITY.finditer(text):
        words = list(re.finditer(r"\S+", m.group(0)))
        while words and words[0].group(0) in _STARTERS:
            words = words[1:]
        if not words:
            continue
        start = m.start() + words[0].start()
        name = text[start : m.end()]
        if name not in MONTHS and name not in DAYS and len(name) >= 3:
            spans.append((start, m.end()))
    return spans


def entities(text: str) -> list[str]:
    return list(dict.fromkeys(text[s:e] for s, e in entity_spans(text)))


def n_words(text: str) -> int:
    return len(text.split())


def _finish(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,;:-")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?\"'\u201d" else text + "."


# ----------------------------------------------------------------------------- entailment

_PAREN = re.compile(r"\s*\([^()]*\)")
_LEAD = re.compile(
    r"^(?:In|On|At|By|During|After|Before|Since|Following|Earlier|Later)\b[^,]{2,40},\s+"
)
_TAIL = re.compile(r",\s+(?:which|who|whose|where|including|making|while|although|though)\b.*$")
_CLAUSE = re.compile(r",\s+(?:and|but)\s+|;\s+")
_SYNONYMS = {
    "about": "approximately",
    "approximately": "about",
    "bought": "purchased",
    "purchased": "bought",
    "began": "started",
    "started": "began",
    "big": "large",
    "large": "big",
    "said": "stated",
    "stated": "said",
    "children": "kids",
    "received": "got",
    "died": "passed away",
    "movie": "film",
    "film": "movie",
    "famous": "well-known",
}
_CONTRACT = {
    "is not": "isn't",
    "was not": "wasn't",
    "are not": "aren't",
    "were not": "weren't",
    "did not": "didn't",
    "does not": "doesn't",
    "do not": "don't",
    "cannot": "can't",
    "will not": "won't",
    "has not": "hasn't",
    "have not": "haven't",
}
_EXPAND = {v: k for k, v in _CONTRACT.items()}


def subspan(sentence: str, rng: random.Random) -> str | None:
    """A clause, or the sentence without a parenthesis, leading adverbial or trailing
    relative clause: less information, all of it stated."""
    options: list[str] = []
    for pattern in (_PAREN, _LEAD, _TAIL):
        cut = pattern.sub("", sentence, count=1)
        if cut != sentence:
            options.append(cut)
    parts = _CLAUSE.split(sentence)
    if len(parts) > 1:
        options.extend(parts)
    whole = _finish(sentence)
    kept = [o for o in map(_finish, options) if n_words(o) >= 4 and o != whole]
    return rng.choice(kept) if kept else None


def _one_of(table: dict[str, str], text: str, rng: random.Random) -> str:
    """``text`` with one randomly chosen occurrence of a ``table`` key replaced."""
    found = list(re.finditer(r"\b(" + "|".join(map(re.escape, table)) + r")\b", text))
    if not found:
        return text
    m = rng.choice(found)
    return text[: m.start()] + table[m.group(1)] + text[m.end() :]


def paraphrase(sentence: str, rng: random.Random) -> str | None:
    """Meaning-preserving rewrites: contractions (one direction per sentence), one
    synonym, one small number as a word, ``March 3, 2004`` as ``3 March 2004``."""
    text = _one_of(_EXPAND, sentence, rng)
    if text == sentence:
        text = _one_of(_CONTRACT, sentence, rng)
    text = _one_of(_SYNONYMS, text, rng)
    text = re.sub(
        r"(?<![\w.,$-])([1-9]|10)(?![\w%.,:/-])", lambda m: _WORDNUM[int(m[1])], text, count=1
    )
    date = rf"\b({'|'.join(MONTHS)}) (\d{{1,2}}), (\d{{4}})\b"
    text = re.sub(date, r"\2 \1 \3", text, count=1)
    return text if text != sentence else None


# ----------------------------------------------------------------------------- contradiction


def _new_int(value: int, rng: random.Random) -> int:
    if value <= 12:
        return rng.choice([v for v in range(1, 16) if v != value])
    delta = rng.randint(max(1, value // 20), max(2, value // 3))
    return value + delta if rng.random() < 0.6 or value - delta <= 0 else value - delta


def change_number(sentence: str, rng: random.Random) -> str | None:
    """A number (not a year) changed, its format kept; or a number word swapped."""
    matches = [m for m in _NUMBER.finditer(sentence) if not _YEAR.fullmatch(m[0])]
    words = list(re.finditer(rf"\b({'|'.join(_WORDNUM[2:])})\b", sentence))
    if not matches and not words:
        return None
    if matches and (not words or rng.random() < 0.75):
        m = rng.choice(matches)
        whole, frac, sep = m[1].replace(",", ""), m[2], "," if "," in m[1] else ""
        if frac:
            scale = rng.choice([rng.uniform(0.3, 0.8), rng.uniform(1.2, 1.9)])
            new = f"{float(f'{whole}.{frac}') * scale:{sep}.{len(frac)}f}"
        else:
            new = f"{_new_int(int(whole), rng):{sep}}"
        return None if new == m[0] else sentence[: m.start()] + new + sentence[m.end() :]
    m = rng.choice(words)
    new = rng.choice([w for w in _WORDNUM[2:] if w != m[1]])
    return sentence[: m.start()] + new + sentence[m.end() :]


def change_date(sentence: str, rng: random.Random) -> str | None:
    """A year moved by 1-12, or a month or weekday name replaced."""
    options = [
        (m.start(), m.end(), str(int(m[1]) + rng.choice([-1, 1]) * rng.randint(1, 12)))
        for m in _YEAR.finditer(sentence)
    ]
    for names in (MONTHS, DAYS):
        options.extend(
            (m.start(), m.end(), rng.choice([n for n in names if n != m[1]]))
            for m in re.finditer(rf"\b({'|'.join(names)})\b", sentence)
        )
    if not options:
        return None
    start, end, new = rng.choice(options)
    return sentence[:start] + new + sentence[end:]


_AUX = r"is|are|was|were|will|would|could|should|must|might|does|do|did"
_NOT_PAST = _words(
    "a an the is was were are be been being has have had to of and very most more well his her "
    "their its my our your this that"
)


def negation_insert(sentence: str, rng: random.Random) -> str | None:
    """``not`` after the first auxiliary, else ``never`` before a past-tense verb."""
    m = re.search(rf"(?<=\w )({_AUX}|can)\s+(?!not\b|never\b|only\b)(?=[a-z0-9])", sentence)
    if m:
        word = "cannot " if m[1] == "can" else f"{m[1]} not "
        return sentence[: m.start()] + word + sentence[m.end() :]
    m = re.search(r"(?<=\w )(has|have|had)\s+(?=been\b|[a-z]+(?:ed|en)\b)", sentence)
    if m:
        return sentence[: m.end(1)] + " not" + sentence[m.end(1) :]
    for prev, word in itertools.pairwise(re.finditer(r"[A-Za-z]+", sentence)):
        w = word[0]
        adjacent = sentence[prev.end() : word.start()] == " "
        past = w.islower() and w.endswith("ed") and len(w) > 4
        if adjacent and past and prev[0].lower() not in _NOT_PAST:
            return sentence[: word.start()] + "never " + sentence[word.start() :]
    return None


_NT = {"won't": "will", "can't": "can", "shan't": "shall"}
_REMOVALS: list[tuple[str, Callable[[re.Match[str]], str]]] = [
    (r"\bcannot\b", lambda m: "can"),
    (r"\b(\w+)n't\b", lambda m: _NT.get(m[0].lower(), m[1])),
    (rf"\b({_AUX}|has|have|had|can|may) not\b", lambda m: m[1]),
    (r"\b(?:never|no longer)\s+", lambda m: ""),
]


def negation_remove(sentence: str, rng: random.Random) -> str | None:
    """The first ``not`` / ``n't`` / ``never`` / ``no longer`` taken out."""
    if re.search(r"\bnot only\b", sentence):
        return None
    for pattern, repl in _REMOVALS:
        new, n = re.subn(pattern, repl, sentence, count=1)
        if n:
            return new
    return None


def replace_entity(sentence: str, pool: Sequence[str], rng: random.Random) -> str | None:
    """A named entity replaced by another from ``pool`` (same word count preferred)."""
    spans = entity_spans(sentence)
    if not spans or not pool:
        return None
    start, end = rng.choice(spans)
    old = sentence[start:end].lower()
    candidates = [e for e in pool if e.lower() not in old and old not in e.lower()]
    same_len = [e for e in candidates if n_words(e) == n_words(old)]
    choice = same_len or candidates
    return sentence[:start] + rng.choice(choice) + sentence[end:] if choice else None


_SYMMETRIC = re.compile(r",|\b(?:and|or|with|between|vs|versus|against|both|nor)\b")
_AFTER_OBJECT = re.compile(
    r"\s*(?:[.,;:!?)]|$|(?:in|on|at|for|during|after|before|by|to|from|and|with|since|until|as|"
    r"when|while|last|this|that|who|which)\b)"
)


def swap_subject_object(sentence: str, rng: random.Random) -> str | None:
    """Two entities joined by lower-case words only (``X defeated Y``) trade places;
    not across commas or symmetric words (``and``, ``with``, ``between``, ``against``),
    and not when the second is a modifier (``an American football game``)."""
    for (s1, e1), (s2, e2) in itertools.pairwise(entity_spans(sentence)):
        a, b, between = sentence[s1:e1], sentence[s2:e2], sentence[e1:s2]
        if a.lower() == b.lower() or _SYMMETRIC.search(between) or n_words(between) > 8:
            continue
        if _AFTER_OBJECT.match(sentence, e2) is None:
            continue
        if re.fullmatch(r" (?:[a-z][a-z'-]* )+", between) and re.search(r"[a-z]{3}", between):
            return sentence[:s1] + b + between + a + sentence[e2:]
    return None


# ----------------------------------------------------------------------------- neutral

_REASONS = (
    "rising costs",
    "a dispute with the organisers",
    "bad weather",
    "a lack of funding",
    "public pressure",
    "security concerns",
    "a scheduling conflict",
)
_OCCASIONS = (
    "for the second time",
    "for the third time",
    "in front of a large crowd",
    "despite strong opposition",
    "after months of delays",
    "during a private ceremony",
)


def added_detail(sentence: str, window: str, foreign: Sequence[str], rng: random.Random) -> str:
    """The sentence plus a clause the window does not support: a reason, an occasion,
    an attribution to an entity the window does not name, or a year (when the window
    has none, so that it cannot conflict)."""
    body = sentence.rstrip().rstrip(".!?")
    people = [e for e in foreign if e.lower() not in window.lower()]
    options = [f" because of {rng.choice(_REASONS)}", f" {rng.choice(_OCCASIONS)}"]
    if people:
        options.append(f", according to {rng.choice(people)}")
        options.append(f", with the support of {rng.choice(people)}")
    if not _YEAR.search(window):
        options.append(f" in {rng.randint(1950, 2020)}")
    return body + rng.choice(options) + "."
