"""Embedding similarity of a claim to its closest context window (type ``embedding``).

Windows and claims are embedded by an ONNX sentence-embedding model (mean
pooled, unit length) — the shipped one by default, any directory in the model
layout via ``model`` — or, with ``backend: sentence-transformers``, by a
sentence-transformers model you bring (imported only then). A claim whose best
cosine similarity is below ``threshold`` gives ``low_similarity``; the best
window is its evidence. Window vectors are computed once per call.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from detectors._shared import DEFAULT_EMBEDDING, VectorScorer, model_dir
from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import claim_statement
from detectors.passages import Window, windows_for
from detectors.runtime import Device

__all__ = ["EmbeddingSimilarity", "best_windows"]


class EmbeddingSimilarity:
    """Cosine similarity of each claim to its closest context window (type ``embedding``)."""

    cpu_bound = True

    def __init__(
        self,
        *,
        name: str = "embedding",
        model: str | None = None,
        backend: Literal["onnx", "sentence-transformers"] = "onnx",
        device: Device = "auto",
        threads: int | None = None,
        threshold: float = 0.5,
        window_tokens: int = 128,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [-1, 1], got {threshold}")
        self.name = name
        md = model_dir(model, DEFAULT_EMBEDDING, name) if backend == "onnx" else None
        self.vectors = VectorScorer(md, device=device, threads=threads, st_model=model)
        self.threshold = threshold
        self.window_tokens = window_tokens

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        claim = segment.text.strip()
        statement = claim_statement(claim, segment.kind) if ctx.passages else None
        if statement is None:
            return []
        windows = windows_for(ctx, max_tokens=self.window_tokens)
        ranked = best_windows(self.vectors, statement, windows, ctx, self.name, k=1)
        if not ranked or ranked[0][1] >= self.threshold:
            return []
        i, cosine = ranked[0]
        w = windows[i]
        lead = len(segment.text) - len(segment.text.lstrip())
        span = (segment.start + lead, segment.start + lead + len(claim))
        evidence = (Evidence(w.passage, w.start, w.end, w.text, {"cosine": cosine}),)
        message = f"no context passage is close in meaning (best cosine {cosine:.2f})"
        return [
            Finding(self.name, "low_similarity", span, 1.0 - max(cosine, 0.0), message, evidence)
        ]


def best_windows(
    vectors: VectorScorer,
    claim: str,
    windows: tuple[Window, ...],
    ctx: CheckContext,
    key: str,
    k: int,
) -> list[tuple[int, float]]:
    """The ``k`` windows closest to ``claim`` by cosine, best first (vectors cached per call)."""
    if not windows:
        return []
    cache = ctx.memo.setdefault(f"{key}.vectors", {})
    matrix = cache.get(windows)
    if matrix is None:
        matrix = cache[windows] = vectors.embed([w.text for w in windows])
    sims = matrix @ vectors.embed([claim])[0]
    order = np.argsort(-sims)[:k]
    return [(int(i), float(sims[i])) for i in order]
