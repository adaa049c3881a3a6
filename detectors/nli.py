"""NLI contradiction check against any reference text (type ``nli``).

For each claim sentence, the ``top_k`` context windows that share the most
wording with it are scored by the cross-encoder; a contradiction probability at
or above ``threshold`` (and above the entailment probability) is a
``contradicted`` finding with the window as evidence. Unlike ``grounding`` it
says nothing about claims the reference does not mention: use it to keep an
answer from contradicting a policy text, a previous answer, a specification.
"""

from __future__ import annotations

from detectors._shared import DEFAULT_NLI, NLIScorer, model_dir
from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import claim_statement
from detectors.lexical import rank_windows
from detectors.passages import windows_for
from detectors.runtime import Device

__all__ = ["NLICheck"]


class NLICheck:
    """Contradiction of each claim by its best-matching reference windows (type ``nli``)."""

    cpu_bound = True

    def __init__(
        self,
        *,
        name: str = "nli",
        model: str | None = None,
        device: Device = "auto",
        threads: int | None = None,
        threshold: float = 0.5,
        top_k: int = 3,
        window_tokens: int = 128,
    ) -> None:
        if not 0.0 < threshold <= 1.0 or top_k < 1:
            raise ValueError(
                f"threshold must be in (0, 1] and top_k >= 1, got {threshold}, {top_k}"
            )
        self.name = name
        self.nli = NLIScorer(model_dir(model, DEFAULT_NLI, name), device=device, threads=threads)
        self.threshold = threshold
        self.top_k = top_k
        self.window_tokens = window_tokens

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        claim = segment.text.strip()
        statement = claim_statement(claim, segment.kind) if ctx.passages else None
        if statement is None:
            return []
        windows = windows_for(
            ctx, max_tokens=self.window_tokens, count_tokens=self.nli.count_tokens
        )
        top = rank_windows(statement, windows, self.top_k)
        probs = self.nli.score([(windows[i].text, statement) for i, _ in top])
        worst = max(range(len(probs)), key=lambda j: probs[j]["contradiction"], default=-1)
        if worst < 0:
            return []
        p = probs[worst]
        if p["contradiction"] < self.threshold or p["contradiction"] <= p["entailment"]:
            return []
        w = windows[top[worst][0]]
        lead = len(segment.text) - len(segment.text.lstrip())
        span = (segment.start + lead, segment.start + lead + len(claim))
        evidence = (Evidence(w.passage, w.start, w.end, w.text, p),)
        message = f"contradicts the reference (p={p['contradiction']:.2f})"
        return [Finding(self.name, "contradicted", span, p["contradiction"], message, evidence)]
