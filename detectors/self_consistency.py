"""Self-contradiction: a sentence that the same answer's earlier sentences contradict
(type ``self_consistency``).

Each claim sentence is paired with up to ``max_previous`` earlier claim
sentences of the answer (``ctx.prefix``); a contradiction probability at or
above ``threshold`` gives a ``self_contradiction`` finding. Its evidence points
into the answer itself: ``passage == -1`` and the offsets are upstream offsets.
"""

from __future__ import annotations

from detectors._shared import DEFAULT_NLI, NLIScorer, model_dir
from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import is_claim
from detectors.runtime import Device
from guardrails.segmenter import split

__all__ = ["SelfConsistency"]


class SelfConsistency:
    """A claim that earlier claims of the same answer contradict (type ``self_consistency``)."""

    cpu_bound = True

    def __init__(
        self,
        *,
        name: str = "self_consistency",
        model: str | None = None,
        device: Device = "auto",
        threads: int | None = None,
        threshold: float = 0.7,
        max_previous: int = 8,
    ) -> None:
        if not 0.0 < threshold <= 1.0 or max_previous < 1:
            raise ValueError(
                f"threshold must be in (0, 1] and max_previous >= 1, got {threshold}, {max_previous}"
            )
        self.name = name
        self.nli = NLIScorer(model_dir(model, DEFAULT_NLI, name), device=device, threads=threads)
        self.threshold = threshold
        self.max_previous = max_previous

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        claim = segment.text.strip()
        if not claim or not is_claim(claim, segment.kind) or not ctx.prefix_len:
            return []
        base = segment.start - ctx.prefix_len  # upstream offset of the answer's first character
        earlier = [
            s for s in split(ctx.prefix) if s.kind == "text" and is_claim(s.text.strip(), s.kind)
        ][-self.max_previous :]
        probs = self.nli.score([(s.text.strip(), claim) for s in earlier])
        hits = [(p["contradiction"], s) for p, s in zip(probs, earlier, strict=True)]
        if not hits:
            return []
        score, other = max(hits, key=lambda h: h[0])
        if score < self.threshold:
            return []
        lead = len(segment.text) - len(segment.text.lstrip())
        span = (segment.start + lead, segment.start + lead + len(claim))
        evidence = (
            Evidence(
                -1,
                base + other.start,
                base + other.end,
                other.text.strip(),
                {"contradiction": score},
            ),
        )
        message = f"contradicts an earlier sentence: {other.text.strip()!r} (p={score:.2f})"
        return [Finding(self.name, "self_contradiction", span, score, message, evidence)]
