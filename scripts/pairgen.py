"""Synthetic sentence-level NLI pairs from grounding contexts (pure Python: no torch).

The premise of every pair is a runtime window: :func:`detectors.passages.make_windows`
of the document with ``max_tokens`` (128) and the model tokenizer's token count, so the
model trains on what the grounding detector feeds it. The hypothesis is one sentence
(or two) taken from the window, cut by the runtime's own segmenter, and edited by
:mod:`scripts.pairedits`:

* entailment: ``sentence`` (a window sentence as is), ``subspan`` (a clause, or the
  sentence without a parenthesis, leading adverbial or trailing relative clause),
  ``paraphrase`` (digits <-> number words, contractions, a few safe synonyms, date
  format), ``two_sentences`` (two window sentences together);
* contradiction: ``number`` / ``date`` (a changed number, year, month or weekday),
  ``entity_same_doc`` / ``entity_other_doc`` (a named entity replaced by another from
  the same or another document), ``negation_insert`` / ``negation_remove``,
  ``swap_subject_object`` (two entities of the sentence trade places);
* neutral: ``other_doc_sentence`` (the most word-overlapping of a few sentences of
  other documents), ``same_doc_outside_window`` (a sentence of the same document that
  the window does not hold, mostly new words), ``added_detail`` (a window sentence plus
  an unsupported clause: an attribution, a year, a reason, an occasion).

Per window one pair per label is tried, each with the kind used least so far that
applies, so labels and kinds stay balanced. Everything is seeded: the same documents
and seed give the same pairs.

:func:`summary_pairs` does the same with a sentence of the document's *reference
summary* in place of a window sentence: the premise is the window that holds most of
the summary sentence's content words. Window sentences are copies, so the edits
above teach the model what a changed copy looks like; summary sentences are
rewordings (and LLM answers are mostly rewordings too): entailed without being
copied, and edited the same ways for the other labels.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detectors.base import Passage
from detectors.passages import Window, make_windows
from guardrails.segmenter import split
from scripts import pairedits as ed

__all__ = [
    "KINDS",
    "LABELS",
    "Doc",
    "Pair",
    "clean_context",
    "make_pairs",
    "perturb",
    "summary_pairs",
]

LABELS = ("entailment", "neutral", "contradiction")
KINDS: dict[str, tuple[str, ...]] = {
    "entailment": ("sentence", "subspan", "paraphrase", "two_sentences"),
    "contradiction": (
        "number",
        "date",
        "entity_same_doc",
        "entity_other_doc",
        "negation_insert",
        "negation_remove",
        "swap_subject_object",
    ),
    "neutral": ("other_doc_sentence", "same_doc_outside_window", "added_detail"),
}


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    summary: str = ""  # a reference summary of ``text``, where the source has one


@dataclass(frozen=True)
class Pair:
    premise: str
    hypothesis: str
    label: str
    source: str
    kind: str
    doc: str


_GLUED = re.compile(r"(?<=[a-z0-9\"'\u201d])\.(?=[A-Z][a-z])|(?<=\))(?=[A-Z])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")
_DOUBLED_YEAR = re.compile(r"\b(\d{4})(\1)\b")


def clean_context(text: str, *, triples: bool = False) -> str:
    """Split sentences glued without a space (``century.First``, ``Film)Zodiac``).

    ``triples``: the text is knowledge triples concatenated with nothing between them
    (HaluEval dialogue: ``wrote EragonEragon was released 20022002 was``), so a
    lower-to-upper case change inside a word and a doubled year also end a sentence.
    """
    text = _GLUED.sub(". ", text)
    if triples:
        text = _DOUBLED_YEAR.sub(r"\1. \2", _CAMEL.sub(". ", text))
    return text


def claims(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of the claim-like sentences (4-60 words) of ``text``."""
    out = []
    for seg in split(text):
        body = seg.text.strip()
        if 4 <= ed.n_words(body) <= 60 and re.search(r"[A-Za-z]{3}", body):
            start = seg.start + seg.text.index(body)
            out.append((start, start + len(body), body))
    return out


@dataclass
class _Ctx:
    index: int
    doc: Doc
    window: Window
    sentences: list[str]  # claim-like sentences of the window, in order


class _Generator:
    def __init__(self, docs: Sequence[Doc], rng: random.Random, source: str) -> None:
        self.docs, self.rng, self.source = docs, rng, source
        self.used: Counter[str] = Counter()
        self.doc_sentences = [claims(d.text) for d in docs]
        self.doc_entities = [ed.entities(d.text) for d in docs]

    def _foreign_entities(self, index: int, k: int = 30) -> list[str]:
        out: list[str] = []
        for _ in range(k):
            j = self.rng.randrange(len(self.docs))
            if j != index and self.doc_entities[j]:
                out.append(self.rng.choice(self.doc_entities[j]))
        return out

    def _outside(self, ctx: _Ctx) -> str | None:
        w = ctx.window
        outside = [t for a, b, t in self.doc_sentences[ctx.index] if b <= w.start or a >= w.end]
        outside = [t for t in outside if ed.coverage(t, w.text) < 0.5]
        return self.rng.choice(outside) if outside else None

    def _other_doc(self, ctx: _Ctx) -> str | None:
        pool: list[str] = []
        for _ in range(12):
            j = self.rng.randrange(len(self.docs))
            if j != ctx.index and self.doc_sentences[j]:
                pool.append(self.rng.choice(self.doc_sentences[j])[2])
        pool = [t for t in pool if ed.coverage(t, ctx.window.text) < 0.5]
        return max(pool, key=lambda t: (ed.coverage(t, ctx.window.text), t)) if pool else None

    def _two(self, ctx: _Ctx) -> str | None:
        if len(ctx.sentences) < 2:
            return None
        j = self.rng.randrange(len(ctx.sentences) - 1)
        return f"{ctx.sentences[j]} {ctx.sentences[j + 1]}"

    def attempt(self, kind: str, ctx: _Ctx) -> str | None:
        rng, s = self.rng, self.rng.choice(ctx.sentences)
        edits: dict[str, Callable[[], str | None]] = {
            "sentence": lambda: s,
            "subspan": lambda: ed.subspan(s, rng),
            "paraphrase": lambda: ed.paraphrase(s, rng),
            "two_sentences": lambda: self._two(ctx),
            "number": lambda: ed.change_number(s, rng),
            "date": lambda: ed.change_date(s, rng),
            "entity_same_doc": lambda: ed.replace_entity(s, self.doc_entities[ctx.index], rng),
            "entity_other_doc": lambda: ed.replace_entity(
                s, self._foreign_entities(ctx.index), rng
            ),
            "negation_insert": lambda: ed.negation_insert(s, rng),
            "negation_remove": lambda: ed.negation_remove(s, rng),
            "swap_subject_object": lambda: ed.swap_subject_object(s, rng),
            "added_detail": lambda: ed.added_detail(
                s, ctx.window.text, self._foreign_entities(ctx.index), rng
            ),
            "same_doc_outside_window": lambda: self._outside(ctx),
            "other_doc_sentence": lambda: self._other_doc(ctx),
        }
        return edits[kind]()

    def pair(self, label: str, ctx: _Ctx) -> Pair | None:
        kinds = sorted(KINDS[label], key=lambda k: (self.used[k], self.rng.random()))
        window = " ".join(ctx.window.text.split()).lower()
        for kind in kinds:
            for _ in range(3):
                hyp = self.attempt(kind, ctx)
                if hyp is None:
                    continue
                hyp = " ".join(hyp.split())
                if label != "entailment" and hyp.lower() in window:
                    continue  # an edit that still reads verbatim in the window is no edit
                self.used[kind] += 1
                return Pair(ctx.window.text, hyp, label, self.source, kind, ctx.doc.id)
        return None

    def pairs(self, ctx: _Ctx) -> list[Pair]:
        """One pair per label for ``ctx``, where an edit applies."""
        made = (self.pair(label, ctx) for label in LABELS)
        return [p for p in made if p is not None]


def make_pairs(
    docs: Sequence[Doc],
    *,
    seed: int = 0,
    source: str = "synthetic",
    max_tokens: int = 128,
    count_tokens: Callable[[str], int] | None = None,
    windows_per_doc: int = 2,
) -> list[Pair]:
    """Pairs for up to ``windows_per_doc`` windows of each document, one per label each
    when an edit applies. ``count_tokens`` is the model tokenizer's count (special
    tokens excluded, as the runtime's); the default is the runtime's estimate."""
    rng = random.Random(seed)
    gen = _Generator(docs, rng, source)
    pairs: list[Pair] = []
    for i, doc in enumerate(docs):
        windows = make_windows(
            [Passage(doc.text, 0)], max_tokens=max_tokens, count_tokens=count_tokens
        )
        picked = rng.sample(list(windows), min(windows_per_doc, len(windows)))
        for window in sorted(picked, key=lambda w: w.start):
            sentences = [t for _, _, t in claims(window.text)]
            if not sentences:
                continue
            pairs += gen.pairs(_Ctx(i, doc, window, sentences))
    return pairs


def summary_pairs(
    docs: Sequence[Doc],
    *,
    seed: int = 0,
    source: str = "summary",
    max_tokens: int = 128,
    count_tokens: Callable[[str], int] | None = None,
    per_doc: int = 2,
    min_coverage: float = 0.65,
) -> list[Pair]:
    """Pairs from up to ``per_doc`` sentences of each document's ``summary``: premise = the
    document window holding the largest share of the sentence's content words (kept
    when that share is at least ``min_coverage``, so the window can support it), one
    pair per label with the edits of :func:`make_pairs` applied to the summary sentence
    (``sentence`` is then the summary sentence itself, entailed)."""
    rng = random.Random(seed)
    gen = _Generator(docs, rng, source)
    pairs: list[Pair] = []
    for i, doc in enumerate(docs):
        sentences = [t for _, _, t in claims(doc.summary)]
        if not sentences:
            continue
        windows = make_windows(
            [Passage(doc.text, 0)], max_tokens=max_tokens, count_tokens=count_tokens
        )
        covered = []
        for sentence in sentences:
            share, _, best = max((ed.coverage(sentence, w.text), -w.start, w) for w in windows)
            if share >= min_coverage:
                covered.append((sentence, best))
        for sentence, window in rng.sample(covered, min(per_doc, len(covered))):
            pairs += gen.pairs(_Ctx(i, doc, window, [sentence]))
    return pairs


def perturb(kind: str, sentence: str, *, seed: int = 0, pool: Sequence[str] = ()) -> str | None:
    """One sentence-level edit by name (for tests and inspection); None if it does not apply.

    ``entity`` draws the replacement from ``pool``; ``added_detail`` its attribution."""
    rng = random.Random(seed)
    edits: dict[str, Callable[[], str | None]] = {
        "subspan": lambda: ed.subspan(sentence, rng),
        "paraphrase": lambda: ed.paraphrase(sentence, rng),
        "number": lambda: ed.change_number(sentence, rng),
        "date": lambda: ed.change_date(sentence, rng),
        "negation_insert": lambda: ed.negation_insert(sentence, rng),
        "negation_remove": lambda: ed.negation_remove(sentence, rng),
        "swap_subject_object": lambda: ed.swap_subject_object(sentence, rng),
        "entity": lambda: ed.replace_entity(sentence, pool, rng),
        "added_detail": lambda: ed.added_detail(sentence, sentence, pool, rng),
    }
    if kind not in edits:
        raise ValueError(f"unknown kind {kind!r}; one of {sorted(edits)}")
    return edits[kind]()
