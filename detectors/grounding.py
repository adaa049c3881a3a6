"""The grounding cascade: is each claim supported by the context, contradicted, or neither?

Per sentence, cheapest first, with early exits:

1. ``not_a_claim`` (greetings, questions, hedges, formatting, code): skipped.
2. The claim's wording found verbatim in a context window: supported, no model call.
3. Cheap signals: lexical support (rapidfuzz), numbers and named entities that
   the context does not contain.
4. Evidence retrieval: the top-k context windows by a lexical ranking, or with
   ``retrieval: hybrid`` by the mean of the lexical score and the cosine
   similarity from the embedding model (window vectors computed once per call).
5. NLI (an ONNX cross-encoder) on (window, claim) pairs, batched across
   sentences and streams, cached.
6. Fusion: a logistic combination of the signals into one support probability,
   and a label: ``contradicted`` (the best evidence contradicts the claim, or a
   number differs from the aligned evidence), ``unsupported`` (support below
   the threshold), else ``supported``.

One finding per claim sentence: ``supported`` is an *info* finding (no action
unless a rule asks), ``unsupported`` and ``contradicted`` are issues — except
when numbers differ from the aligned evidence and it has the right values:
then one ``number_mismatch`` finding per number, on the number's span, with
the evidence value as ``replacement`` (what ``fix_numbers`` puts in place). Each has
``support``, evidence records (passage, character span in that passage, text,
every score) and every signal in ``data``. Fusion weights and thresholds come
from the NLI model's card (``"fusion"``) when it has them, else the defaults
below, and can be set per detector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from detectors._shared import DEFAULT_EMBEDDING, DEFAULT_NLI, NLIScorer, VectorScorer, model_dir
from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import non_claim_reason, presupposed
from detectors.entities import EntityCheck
from detectors.lexical import lexical_support, rank_windows
from detectors.numeric import NumericCheck
from detectors.passages import Window, normalize, verbatim_window, windows_for
from detectors.runtime import Device

__all__ = ["Fusion", "Grounding"]


@dataclass(frozen=True, slots=True)
class Fusion:
    """support = sigmoid(bias + sum(weight * signal)); signals are in ``data``."""

    weights: dict[str, float] = field(
        default_factory=lambda: {
            "entailment": 4.0,
            "contradiction": -2.0,
            "lexical": 2.0,
            "number_mismatch": -2.5,
            "unknown_entities": -1.5,
        }
    )
    bias: float = -2.5
    support_threshold: float = 0.5
    contradiction_threshold: float = 0.5

    def support(self, signals: dict[str, float]) -> float:
        z = self.bias + sum(w * signals.get(k, 0.0) for k, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))


class Grounding:
    """Grounding of each claim sentence against the call's context (type ``grounding``)."""

    cpu_bound = True

    def __init__(
        self,
        *,
        name: str = "grounding",
        model: str | None = None,
        device: Device = "auto",
        threads: int | None = None,
        top_k: int = 3,
        window_tokens: int = 128,
        support_threshold: float | None = None,
        contradiction_threshold: float | None = None,
        fusion_weights: dict[str, float] | None = None,
        fusion_bias: float | None = None,
        max_wait_ms: float = 3.0,
        retrieval: Literal["lexical", "hybrid"] = "lexical",
        embedder: str | None = None,
    ) -> None:
        if top_k < 1 or window_tokens < 16:
            raise ValueError(
                f"top_k must be >= 1 and window_tokens >= 16, got {top_k}, {window_tokens}"
            )
        self.name = name
        md = model_dir(model, DEFAULT_NLI, name)
        self.nli = NLIScorer(md, device=device, threads=threads, max_wait_ms=max_wait_ms)
        card = md.card.get("fusion") or {}
        defaults = Fusion()
        if fusion_weights is not None:
            unknown = sorted(set(fusion_weights) - set(defaults.weights))
            if unknown:
                raise ValueError(
                    f"fusion_weights: unknown signal(s) {', '.join(unknown)}; "
                    f"expected some of {', '.join(defaults.weights)}"
                )
        self.fusion = Fusion(
            weights=dict(fusion_weights or card.get("weights") or defaults.weights),
            bias=fusion_bias if fusion_bias is not None else float(card.get("bias", defaults.bias)),
            support_threshold=support_threshold
            if support_threshold is not None
            else float(card.get("support_threshold", defaults.support_threshold)),
            contradiction_threshold=contradiction_threshold
            if contradiction_threshold is not None
            else float(card.get("contradiction_threshold", defaults.contradiction_threshold)),
        )
        self.top_k = top_k
        self.window_tokens = window_tokens
        self.retrieval = retrieval
        self.vectors = (
            VectorScorer(
                model_dir(embedder, DEFAULT_EMBEDDING, name), device=device, threads=threads
            )
            if retrieval == "hybrid"
            else None
        )
        self._numbers = NumericCheck(name=f"{name}.numbers")
        self._entities = EntityCheck(name=f"{name}.entities")

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        text = segment.text
        claim = text.strip()
        if not claim:
            return []
        lead = len(text) - len(text.lstrip())
        span = (segment.start + lead, segment.start + lead + len(claim))
        reason = non_claim_reason(claim, segment.kind)
        if reason is not None:
            return [Finding(self.name, "not_a_claim", span, 1.0, reason, info=True)]
        if not ctx.passages:
            return []  # nothing to ground against
        claim = presupposed(claim) or claim  # "Did you know that X?" claims X
        windows = windows_for(
            ctx, max_tokens=self.window_tokens, count_tokens=self.nli.count_tokens
        )
        normalized = ctx.memo.get(f"{self.name}.normalized")
        if normalized is None:
            normalized = ctx.memo[f"{self.name}.normalized"] = [normalize(w.text) for w in windows]
        exact = verbatim_window(claim, windows, normalized=normalized)
        if exact is not None:
            evidence = (_evidence(exact, {"verbatim": 1.0}),)
            return [
                Finding(
                    self.name,
                    "supported",
                    span,
                    1.0,
                    "found verbatim in the context",
                    evidence,
                    info=True,
                    support=1.0,
                    data={"verbatim": 1.0},
                )
            ]
        return self._judge(segment, ctx, claim, span, windows)

    def _judge(
        self,
        segment: Segment,
        ctx: CheckContext,
        claim: str,
        span: tuple[int, int],
        windows: Sequence[Window],
    ) -> list[Finding]:
        normalized: list[str] = ctx.memo[f"{self.name}.normalized"]
        if len(windows) > _SHORTLIST:  # a long context: only windows sharing rare words
            index = ctx.memo.get(f"{self.name}.index")
            if index is None:
                index = ctx.memo[f"{self.name}.index"] = WordIndex(normalized)
            keep = index.shortlist(normalize(claim), _SHORTLIST)
            windows = [windows[i] for i in keep]
            normalized = [normalized[i] for i in keep]
        lexical, _ = lexical_support(claim, windows, normalized=normalized)
        numbers = self._numbers.check(segment, ctx)
        entities = self._entities.check(segment, ctx)
        top = self._retrieve(claim, windows, normalized, ctx)
        probs = self.nli.score([(windows[i].text, claim) for i, _ in top])
        best = max(range(len(probs)), key=lambda j: probs[j]["entailment"], default=-1)
        entail = probs[best]["entailment"] if best >= 0 else 0.0
        contra = max((p["contradiction"] for p in probs), default=0.0)
        signals = {
            "entailment": entail,
            "contradiction": contra,
            "lexical": lexical,
            "number_mismatch": 1.0 if numbers else 0.0,
            "unknown_entities": min(1.0, len(entities) / 2),
            "cosine": max((score.get("cosine", 0.0) for _, score in top), default=0.0),
        }
        support = self.fusion.support(signals)
        evidence = tuple(
            _evidence(windows[i], {**score, **probs[j]}) for j, (i, score) in enumerate(top)
        )
        if best > 0:  # the best-entailing window first
            evidence = (evidence[best], *evidence[:best], *evidence[best + 1 :])
        fixable = [f for f in numbers if f.replacement is not None]
        if fixable:
            # A number that differs from the aligned evidence explains the sentence's
            # trouble; report each with the value to put in place (fix_numbers uses it).
            return [
                Finding(
                    self.name,
                    "number_mismatch",
                    f.span,
                    1.0,
                    f.message,
                    f.evidence or evidence,
                    f.replacement,
                    signals,
                    support=support,
                )
                for f in fixable
            ]
        if contra >= self.fusion.contradiction_threshold and contra > entail:
            label, score = "contradicted", contra
            why = f"the context contradicts it (p={contra:.2f})"
        elif support < self.fusion.support_threshold:
            label, score = "unsupported", 1.0 - support
            why = f"the context does not support it (support {support:.2f})"
        else:
            return [
                Finding(
                    self.name,
                    "supported",
                    span,
                    support,
                    "",
                    evidence,
                    info=True,
                    support=support,
                    data=signals,
                )
            ]
        return [
            Finding(self.name, label, span, score, why, evidence, support=support, data=signals)
        ]

    def _retrieve(
        self, claim: str, windows: Sequence[Window], normalized: Sequence[str], ctx: CheckContext
    ) -> list[tuple[int, dict[str, float]]]:
        """The top-k windows: by wording, or (hybrid) by wording and meaning together."""
        if self.vectors is None:
            return [
                (i, {"lexical_rank": s})
                for i, s in rank_windows(claim, windows, self.top_k, normalized=normalized)
            ]
        lexical = dict(rank_windows(claim, windows, len(windows), normalized=normalized))
        cache: dict[Window, npt.NDArray[np.float32]] = ctx.memo.setdefault(
            f"{self.name}.vectors", {}
        )
        missing = [w for w in windows if w not in cache]
        if missing:
            cache.update(zip(missing, self.vectors.embed([w.text for w in missing]), strict=True))
        claim_vector = self.vectors.embed([claim])[0]
        scored = [
            (i, {"lexical_rank": lexical.get(i, 0.0), "cosine": float(cache[w] @ claim_vector)})
            for i, w in enumerate(windows)
        ]
        scored.sort(key=lambda t: -(t[1]["lexical_rank"] + t[1]["cosine"]) / 2)
        return scored[: self.top_k]


_SHORTLIST = 48


class WordIndex:
    """Which windows hold which words, to shortlist windows for a claim in time that
    depends on the claim's words, not on the length of the context."""

    def __init__(self, normalized: Sequence[str]) -> None:
        postings: dict[str, list[int]] = {}
        for i, text in enumerate(normalized):
            for word in set(text.split(" ")):
                if len(word) > 2:
                    postings.setdefault(word, []).append(i)
        n = max(1, len(normalized))
        # words in more than a fifth of the windows say little about which one matters
        self._postings = {w: p for w, p in postings.items() if len(p) <= max(4, n // 5)}
        self._idf = {w: math.log(n / len(p)) + 1.0 for w, p in self._postings.items()}

    def shortlist(self, claim: str, k: int) -> list[int]:
        """Up to ``k`` window indices sharing the most idf-weighted words with ``claim``,
        in window order (falls back to the first ``k`` when nothing is shared)."""
        scores: dict[int, float] = {}
        for word in set(claim.split(" ")):
            for i in self._postings.get(word, ()):
                scores[i] = scores.get(i, 0.0) + self._idf[word]
        if not scores:
            return list(range(k))
        best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        return sorted(best)


def _evidence(window: Window, scores: dict[str, float]) -> Evidence:
    return Evidence(window.passage, window.start, window.end, window.text, scores)
