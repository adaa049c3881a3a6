"""Evaluating grounding on labelled data: data loading, metrics, per-sentence signals,
hallucination scorers and fusion fitting (the library side of ``scripts/evaluate.py``).

::

    fmt, rows = load_rows("dev/qags.jsonl")
    ev = Evaluator(Grounding(model="path/to/nli"), VectorScorer(ModelDir("path/to/embed")))
    scored = [ev.score_row(r) for r in rows]                 # the models run here, once
    roc_auc([s.score("cascade") for s in scored], [r.label for r in rows])

A response's **hallucination score** (higher = more likely hallucinated) is the
maximum over its claim sentences of the sentence's score, 0.0 when it has no
claim sentence. Per sentence, for each method in :data:`METHODS`:

* ``cascade``: ``1 - support``, the grounding detector's fused support (1.0 for a
  sentence found verbatim in the context);
* ``nli``: ``1 - max P(entailment)`` over the detector's top-k windows (its
  ``entailment`` signal; a verbatim sentence counts as entailed);
* ``lexical``: ``1 - token_set_ratio / 100`` (rapidfuzz, normalized texts) of
  the sentence and its best-matching context sentence;
* ``embedding``: ``1 -`` the highest cosine similarity of the sentence to a
  context window (the embedding detector's windows), when an embedder is given.

Sentences are ``split(response)``, each checked by ``Grounding.check`` with a
:class:`~detectors.base.CheckContext` holding the context as one passage (or one
per blank-line-separated paragraph), as the guard does. The expensive signals
are computed once per distinct sentence of a row and shared by every method and
by fusion fitting (:meth:`RowScores.with_fusion` re-fuses without the models).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from rapidfuzz import fuzz, process

from detectors._shared import NLIScorer, VectorScorer
from detectors.base import CheckContext, Passage, Segment
from detectors.grounding import Fusion, Grounding
from detectors.passages import normalize, windows_for
from guardrails._eval_data import NLI_LABELS, DataError, Format, Row, detect_format, load_rows
from guardrails._eval_fusion import FUSION_SIGNALS, feature_matrix, fit_fusion, logistic_regression
from guardrails._eval_metrics import (
    Confusion,
    Target,
    balanced_accuracy,
    best_threshold,
    confusion,
    pr_auc,
    precision_recall_f1,
    roc_auc,
)
from guardrails.segmenter import split

__all__ = [
    "FUSION_SIGNALS",
    "ISSUE_LABELS",
    "METHODS",
    "NLI_LABELS",
    "Confusion",
    "DataError",
    "Evaluator",
    "Format",
    "Method",
    "Row",
    "RowScores",
    "SentenceScores",
    "SentenceSignals",
    "Target",
    "balanced_accuracy",
    "best_threshold",
    "confusion",
    "detect_format",
    "feature_matrix",
    "fit_fusion",
    "fusion_examples",
    "ground_sentences",
    "load_rows",
    "logistic_regression",
    "make_passages",
    "nan_safe",
    "nli_predictions",
    "pr_auc",
    "precision_recall_f1",
    "refuse",
    "roc_auc",
]

Method = Literal["cascade", "nli", "lexical", "embedding"]
METHODS: tuple[Method, ...] = ("cascade", "nli", "lexical", "embedding")
ISSUE_LABELS = frozenset({"unsupported", "contradicted", "number_mismatch", "no_context"})
"""Sentence labels the guard treats as problems (``no_context``: a claim with no context)."""

_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")


@dataclass(frozen=True, slots=True)
class SentenceSignals:
    """What the grounding detector said about one sentence.

    ``label``: the finding label (``supported``, ``unsupported``,
    ``contradicted``, ``number_mismatch``, ``not_a_claim``) or ``no_context``
    for a claim checked against an empty context. ``support``: the fused support
    (1.0 for a verbatim match and for non-claims, 0.0 without context).
    ``signals``: the finding's ``data`` (``entailment, contradiction, lexical,
    number_mismatch, unknown_entities, cosine``; only ``verbatim`` for a
    verbatim match). ``reason``: the finding's message.
    """

    text: str
    span: tuple[int, int]
    claim: bool
    label: str
    support: float
    signals: Mapping[str, float]
    verbatim: bool = False
    reason: str = ""

    @property
    def issue(self) -> bool:
        """True when the guard would report this sentence."""
        return self.claim and self.label in ISSUE_LABELS


def make_passages(context: str, mode: Literal["one", "paragraphs"] = "one") -> tuple[Passage, ...]:
    """The context as one passage, or one per blank-line-separated paragraph (empty
    context: no passage)."""
    if not context.strip():
        return ()
    if mode == "one":
        return (Passage(context, 0),)
    parts = [p for p in _PARAGRAPH.split(context) if p.strip()]
    return tuple(Passage(p, i) for i, p in enumerate(parts))


def _signals_of(seg: Segment, findings: Sequence[Any], has_context: bool) -> SentenceSignals:
    claim = seg.text.strip()
    lead = len(seg.text) - len(seg.text.lstrip())
    span = (seg.start + lead, seg.start + lead + len(claim))
    if not findings:
        if has_context:  # the detector skips nothing else silently
            raise RuntimeError(f"grounding returned no finding for claim {claim!r}")
        return SentenceSignals(claim, span, True, "no_context", 0.0, {}, reason="no context")
    first = findings[0]
    if first.label == "not_a_claim":
        return SentenceSignals(claim, span, False, "not_a_claim", 1.0, {}, reason=first.message)
    data = {k: float(v) for k, v in first.data.items()}
    support = 1.0 if first.support is None else float(first.support)
    return SentenceSignals(
        claim, span, True, first.label, support, data, "verbatim" in data, first.message
    )


def ground_sentences(
    grounding: Grounding,
    context: str,
    response: str,
    *,
    segments: Sequence[Segment] | None = None,
    passages: Literal["one", "paragraphs"] = "one",
    memo: dict[str, Any] | None = None,
    cache: dict[tuple[str, str], SentenceSignals] | None = None,
) -> list[SentenceSignals]:
    """Run ``grounding.check`` on each non-blank segment of ``response`` (default
    ``split(response)``) against ``context``; one :class:`SentenceSignals` each.

    ``memo`` (the per-call ``CheckContext.memo``) and ``cache`` (results by
    sentence text and kind) may be shared by calls on the same context so that
    windows are cut once and a sentence is judged once.
    """
    found = make_passages(context, passages)
    memo = {} if memo is None else memo
    cache = {} if cache is None else cache
    out: list[SentenceSignals] = []
    for seg in split(response) if segments is None else segments:
        claim = seg.text.strip()
        if not claim:
            continue
        key = (claim, seg.kind)
        known = cache.get(key)
        if known is None:
            ctx = CheckContext(found, prefix=response[: seg.start], memo=memo)
            known = cache[key] = _signals_of(seg, grounding.check(seg, ctx), bool(found))
        lead = len(seg.text) - len(seg.text.lstrip())
        out.append(replace(known, span=(seg.start + lead, seg.start + lead + len(claim))))
    return out


def refuse(s: SentenceSignals, fusion: Fusion) -> SentenceSignals:
    """The sentence as the cascade would label it with another fusion (no model call):
    verbatim matches, non-claims and number mismatches keep their label."""
    if not s.claim or s.verbatim or s.label == "no_context":
        return s
    support = fusion.support(dict(s.signals))
    label = s.label
    if label != "number_mismatch":
        contra, entail = s.signals.get("contradiction", 0.0), s.signals.get("entailment", 0.0)
        if contra >= fusion.contradiction_threshold and contra > entail:
            label = "contradicted"
        elif support < fusion.support_threshold:
            label = "unsupported"
        else:
            label = "supported"
    return replace(s, support=support, label=label)


@dataclass(frozen=True, slots=True)
class SentenceScores:
    """One sentence's grounding signals plus the two baseline similarities
    (``lexical`` 0-1; ``cosine`` -1..1, ``nan`` without an embedder) and, for a
    labelled sentence, its ``gold`` label (1 = hallucinated)."""

    grounding: SentenceSignals
    lexical: float
    cosine: float
    gold: int | None = None

    @property
    def claim(self) -> bool:
        return self.grounding.claim

    def hallucination(self, method: Method) -> float:
        """This sentence's hallucination score by ``method`` (see the module doc);
        0.0 for a sentence that is not a claim (the guard never flags one)."""
        g = self.grounding
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
        if not g.claim:
            return 0.0
        if method == "cascade":
            return 1.0 - g.support
        if method == "nli":
            return 0.0 if g.verbatim else 1.0 - g.signals.get("entailment", 0.0)
        if method == "lexical":
            return 1.0 - self.lexical
        return 1.0 - self.cosine


def _response_score(sentences: Sequence[SentenceScores], method: Method) -> float:
    return max((s.hallucination(method) for s in sentences if s.claim), default=0.0)


@dataclass(frozen=True, slots=True)
class RowScores:
    """A scored A/B row: ``sentences`` from ``split(response)``, ``labelled`` the
    row's labelled sentences (format B) with their gold labels."""

    row: Row
    sentences: tuple[SentenceScores, ...]
    labelled: tuple[SentenceScores, ...] = ()

    def score(self, method: Method) -> float:
        """The response's hallucination score: max over claim sentences, 0.0 if none."""
        return _response_score(self.sentences, method)

    @property
    def claims(self) -> tuple[SentenceScores, ...]:
        return tuple(s for s in self.sentences if s.claim)

    @property
    def flagged(self) -> int:
        """1 when the guard reports any sentence of the response (its own labels and
        thresholds), else 0."""
        return int(any(s.grounding.issue for s in self.sentences))

    def with_fusion(self, fusion: Fusion) -> RowScores:
        """The same row re-fused with ``fusion`` (see :func:`refuse`)."""

        def again(items: tuple[SentenceScores, ...]) -> tuple[SentenceScores, ...]:
            return tuple(replace(s, grounding=refuse(s.grounding, fusion)) for s in items)

        return replace(self, sentences=again(self.sentences), labelled=again(self.labelled))


class Evaluator:
    """Scores rows with one grounding detector and, optionally, an embedder.

    ``passages``: the context as ``"one"`` passage or one per ``"paragraphs"``.
    ``window_tokens``: the embedding baseline's window size (the embedding
    detector's default).
    """

    def __init__(
        self,
        grounding: Grounding,
        vectors: VectorScorer | None = None,
        *,
        passages: Literal["one", "paragraphs"] = "one",
        window_tokens: int = 128,
    ) -> None:
        self.grounding = grounding
        self.vectors = vectors
        self.passages: Literal["one", "paragraphs"] = passages
        self.window_tokens = window_tokens

    @property
    def nli(self) -> NLIScorer:
        return self.grounding.nli

    def score_row(self, row: Row) -> RowScores:
        """All signals of an A/B row's sentences (and labelled sentences), computed once."""
        if row.format == "C":
            raise ValueError(f"{row.id}: format C rows are scored with nli_predictions")
        memo: dict[str, Any] = {}
        cache: dict[tuple[str, str], SentenceSignals] = {}
        kw: dict[str, Any] = {"passages": self.passages, "memo": memo, "cache": cache}
        main = ground_sentences(self.grounding, row.context, row.response, **kw)
        labelled_segments = [
            Segment(text, a, b, i)
            for i, ((text, _), (a, b)) in enumerate(zip(row.sentences, row.spans, strict=True))
        ]
        labelled = (
            ground_sentences(
                self.grounding, row.context, row.response, segments=labelled_segments, **kw
            )
            if labelled_segments
            else []
        )
        texts = list(dict.fromkeys(s.text for s in (*main, *labelled) if s.claim))
        lexical = self._lexical(row.context, texts)
        cosine = self._cosine(row.context, texts, memo)

        def scores(
            items: list[SentenceSignals], gold: Sequence[int | None]
        ) -> tuple[SentenceScores, ...]:
            return tuple(
                SentenceScores(s, lexical.get(s.text, 1.0), cosine.get(s.text, 1.0), g)
                for s, g in zip(items, gold, strict=True)
            )

        return RowScores(
            row,
            scores(main, [None] * len(main)),
            scores(labelled, [lab for _, lab in row.sentences]),
        )

    def _lexical(self, context: str, texts: Sequence[str]) -> dict[str, float]:
        sentences = [normalize(s.text) for s in split(context)]
        sentences = [s for s in sentences if s]
        if not texts:
            return {}
        if not sentences:
            return dict.fromkeys(texts, 0.0)
        sims = process.cdist(
            [normalize(t) for t in texts], sentences, scorer=fuzz.token_set_ratio, workers=1
        )
        return {t: float(row.max()) / 100.0 for t, row in zip(texts, sims, strict=True)}

    def _cosine(self, context: str, texts: Sequence[str], memo: dict[str, Any]) -> dict[str, float]:
        if not texts:
            return {}
        if self.vectors is None:
            return dict.fromkeys(texts, math.nan)
        ctx = CheckContext(make_passages(context, self.passages), memo=memo)
        windows = windows_for(ctx, max_tokens=self.window_tokens)
        if not windows:
            return dict.fromkeys(texts, 0.0)
        matrix = self.vectors.embed([w.text for w in windows])
        sims = self.vectors.embed(list(texts)) @ matrix.T
        return {t: float(row.max()) for t, row in zip(texts, sims, strict=True)}


def nli_predictions(
    nli: NLIScorer, rows: Sequence[Row], *, batch: int = 16
) -> list[dict[str, float]]:
    """The NLI model's probabilities for each format C row's (premise, hypothesis)."""
    out: list[dict[str, float]] = []
    for i in range(0, len(rows), batch):
        out += nli.score([(r.premise, r.hypothesis) for r in rows[i : i + batch]])
    return out


def fusion_examples(
    scored: Sequence[RowScores],
) -> list[tuple[RowScores, Mapping[str, float], int]]:
    """Sentence-level examples to fit a fusion on, as ``(row, signals, label)``:

    * every labelled claim sentence of a format B row, with its own label;
    * a format A row whose response is exactly one sentence and a claim, with the
      row's label.

    Sentences found verbatim are left out: the fusion never sees them.
    """
    out: list[tuple[RowScores, Mapping[str, float], int]] = []
    for rs in scored:
        if rs.row.format == "B":
            out += [
                (rs, s.grounding.signals, s.gold)
                for s in rs.labelled
                if s.claim and not s.grounding.verbatim and s.gold is not None
            ]
        elif len(rs.sentences) == 1 and rs.sentences[0].claim:
            g = rs.sentences[0].grounding
            if not g.verbatim and g.label != "no_context":
                out.append((rs, g.signals, int(rs.row.label)))
    return out


def nan_safe(value: float) -> float | None:
    """``value`` rounded to 4 places, or ``None`` for nan (for JSON)."""
    return None if math.isnan(value) else round(value, 4)
