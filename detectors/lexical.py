"""Word overlap between a claim and the context: the cheapest grounding signal.

::

    LexicalSupport(threshold=0.5)        # YAML type "lexical"

:func:`lexical_support` scores how much of a claim's wording one context
window contains (rapidfuzz ``token_set_ratio`` of the :func:`normalize`-d
texts, 0-1). :func:`rank_windows` orders windows for evidence retrieval.
:class:`LexicalSupport` reports claims whose best window scores below the
threshold. Paraphrases score low, so treat its findings as "look closer", not
as proof.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from detectors.base import CheckContext, Evidence, Finding, Segment
from detectors.claims import claim_statement
from detectors.passages import Window, normalize, windows_for
from guardrails.errors import ConfigError

__all__ = ["LexicalSupport", "lexical_support", "rank_windows"]


def _texts(windows: Sequence[Window], normalized: Sequence[str] | None) -> Sequence[str]:
    if normalized is None:
        return [normalize(w.text) for w in windows]
    if len(normalized) != len(windows):
        raise ValueError(f"{len(normalized)} normalized texts for {len(windows)} windows")
    return normalized


def lexical_support(
    claim: str, windows: Sequence[Window], *, normalized: Sequence[str] | None = None
) -> tuple[float, int]:
    """``(score, index)`` of the window whose wording best covers ``claim``.

    The score is ``token_set_ratio / 100`` of the normalized texts: 1.0 when
    every word of the claim occurs in the window. The first window wins ties;
    ``(0.0, -1)`` when there are no windows. ``normalized`` may hold the
    windows' :func:`normalize` forms, computed once by the caller.
    """
    texts = _texts(windows, normalized)
    needle = normalize(claim)
    best, index = 0.0, -1
    for i, text in enumerate(texts):
        score = fuzz.token_set_ratio(needle, text) / 100
        if index < 0 or score > best:
            best, index = score, i
    return best, index


def rank_windows(
    claim: str, windows: Sequence[Window], k: int, *, normalized: Sequence[str] | None = None
) -> list[tuple[int, float]]:
    """The ``k`` windows most like ``claim`` as ``(index, score)``, best first.

    The score (0-1) is the mean of ``token_set_ratio`` (shared wording) and
    ``partial_ratio`` (the claim as one stretch of the window); ties keep window
    order. ``k <= 0`` gives an empty list.
    """
    if k <= 0:
        return []
    texts = _texts(windows, normalized)
    needle = normalize(claim)
    scored = [
        (i, (fuzz.token_set_ratio(needle, text) + fuzz.partial_ratio(needle, text)) / 200)
        for i, text in enumerate(texts)
    ]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


class LexicalSupport:
    """Report claims whose wording the context barely contains.

    Only claims are checked, for their :func:`~detectors.claims.claim_statement`. Label
    ``"low_lexical_support"`` over the segment without surrounding whitespace
    when the best window's :func:`lexical_support` is below ``threshold``
    (0-1); score ``1 - support``; ``evidence`` is that window. Windows (default
    :func:`~detectors.passages.windows_for` options) and their normalized texts
    are computed once per call.
    """

    cpu_bound: bool = False

    def __init__(self, *, name: str = "lexical", threshold: float = 0.5) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConfigError(f"lexical detector {name!r}: option 'threshold' must be a number")
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(
                f"lexical detector {name!r}: option 'threshold' must be in (0, 1], got {threshold}"
            )
        self.name = name
        self.threshold = float(threshold)

    def _normalized(self, ctx: CheckContext, windows: Sequence[Window]) -> Sequence[str]:
        key = f"{self.name}:normalized"
        cached: Sequence[str] | None = ctx.memo.get(key)
        if cached is None:
            cached = ctx.memo[key] = tuple(normalize(w.text) for w in windows)
        return cached

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return a ``low_lexical_support`` finding for a poorly supported claim."""
        statement = claim_statement(segment.text, segment.kind) if ctx.passages else None
        if statement is None:
            return []
        windows = windows_for(ctx)
        if not windows:
            return []
        support, index = lexical_support(
            statement, windows, normalized=self._normalized(ctx, windows)
        )
        if support >= self.threshold:
            return []
        window = windows[index]
        text = segment.text
        lead = len(text) - len(text.lstrip())
        evidence = Evidence(
            ctx.passages[window.passage].index,
            window.start,
            window.end,
            window.text,
            {"lexical": support},
        )
        return [
            Finding(
                detector=self.name,
                label="low_lexical_support",
                span=(segment.start + lead, segment.start + len(text.rstrip())),
                score=1.0 - support,
                message=f"only {support:.0%} of the sentence's wording is in the context",
                evidence=(evidence,),
                data={"support": support, "window": index},
            )
        ]
