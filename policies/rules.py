"""Rules map findings to actions; a policy is an ordered list of rules.

For each finding the first matching rule gives its action (no match: the
policy's ``default``). A segment's verdict is the most severe of its findings'
actions. Detector failures (findings labelled ``error``/``timeout``) never
reach the rules: under ``fail_open`` they warn, under ``fail_closed`` they take
``error_action`` (``cut`` unless set), so a broken detector never passes text
silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from detectors.base import Finding
from policies.actions import Action, Allow, Block, Correct, Cut, Regenerate, Warn, severity

__all__ = ["Match", "Policy", "Rule", "Verdict", "When"]

OnError = Literal["fail_open", "fail_closed"]


@dataclass(frozen=True, slots=True)
class When:
    """Which findings a rule applies to. Empty fields match anything.

    ``more_than`` makes the rule a threshold: it fires only on a matching finding
    that brings the count of matches above ``more_than``, counted within the
    sentence (``scope="sentence"``) or across the whole response so far
    (``scope="response"``). Until then, matching findings fall through to the
    next rules.
    """

    detector: str | None = None
    labels: frozenset[str] = frozenset()
    min_score: float = 0.0
    max_score: float = 1.0
    scope: Literal["sentence", "response"] = "sentence"
    more_than: int = 0

    def __post_init__(self) -> None:
        if self.scope not in ("sentence", "response"):
            raise ValueError(f"scope must be 'sentence' or 'response', got {self.scope!r}")
        if self.more_than < 0:
            raise ValueError(f"more_than must be >= 0, got {self.more_than}")
        if not 0.0 <= self.min_score <= self.max_score <= 1.0:
            raise ValueError(
                f"score range must satisfy 0 <= min_score <= max_score <= 1, "
                f"got {self.min_score}..{self.max_score}"
            )

    def matches(self, finding: Finding) -> bool:
        return (
            (self.detector is None or finding.detector == self.detector)
            and (not self.labels or finding.label in self.labels)
            and self.min_score <= finding.score <= self.max_score
        )


@dataclass(frozen=True, slots=True)
class Rule:
    when: When
    action: Action
    message: str = ""
    name: str = ""

    @property
    def title(self) -> str:
        """How the rule is named in events and logs."""
        if self.name:
            return self.name
        what = self.when.detector or "*"
        if self.when.labels:
            what += ":" + ",".join(sorted(self.when.labels))
        return f"{what}->{self.action.kind}"


@dataclass(frozen=True, slots=True)
class Match:
    """One finding, the rule it matched (``None``: default or error handling), its action."""

    finding: Finding
    rule: Rule | None
    action: Action


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one segment: the winning action and every finding's match."""

    action: Action
    matches: tuple[Match, ...] = ()

    @property
    def deciding(self) -> tuple[Match, ...]:
        """The matches whose action is the verdict's action (for a redact: all redact spans)."""
        kind = self.action.kind
        if isinstance(self.action, Correct) and self.action.strategy == "redact":
            return tuple(m for m in self.matches if m.action == self.action)
        return tuple(m for m in self.matches if m.action.kind == kind)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    default: Action = field(default_factory=Warn)
    on_error: OnError = "fail_open"
    error_action: Action = field(default_factory=Cut)

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        *,
        default: Action | None = None,
        on_error: OnError = "fail_open",
        error_action: Action | None = None,
    ) -> None:
        if on_error not in ("fail_open", "fail_closed"):
            raise ValueError(f"on_error must be 'fail_open' or 'fail_closed', got {on_error!r}")
        object.__setattr__(self, "rules", tuple(rules))
        object.__setattr__(self, "default", default if default is not None else Warn())
        object.__setattr__(self, "on_error", on_error)
        object.__setattr__(self, "error_action", error_action or Cut())

    def _actions(self) -> list[Action]:
        actions = [r.action for r in self.rules] + [self.default, self.error_action]
        return actions + [
            a.otherwise for a in actions if isinstance(a, (Regenerate, Correct)) and a.otherwise
        ]

    @property
    def needs_feedback(self) -> bool:
        """True if some rule may call the LLM again (regenerate or rewrite)."""
        return any(
            isinstance(a, Regenerate) or (isinstance(a, Correct) and a.strategy == "rewrite")
            for a in self._actions()
        )

    @property
    def can_block(self) -> bool:
        """True if some path ends in ``block``: hold mode then holds the whole output."""
        return any(isinstance(a, Block) for a in self._actions())

    @property
    def llm_names(self) -> frozenset[str]:
        """Fallback LLMs the rules name; the guard must have them registered."""
        return frozenset(
            n for a in self._actions() if isinstance(a, Regenerate) for n in a.fallbacks
        )

    def match(
        self, finding: Finding, counts: tuple[dict[int, int], dict[int, int]] | None = None
    ) -> Match:
        """The first rule that takes ``finding``.

        ``counts`` is (per sentence, per response) for threshold rules, keyed by
        rule index; matching findings are counted in place.
        """
        if finding.is_error:
            action = Warn() if self.on_error == "fail_open" else self.error_action
            return Match(finding, None, action)
        for i, rule in enumerate(self.rules):
            if not rule.when.matches(finding):
                continue
            if rule.when.more_than:
                per_sentence, per_response = counts or ({}, {})
                bucket = per_response if rule.when.scope == "response" else per_sentence
                bucket[i] = bucket.get(i, 0) + 1
                if bucket[i] <= rule.when.more_than:
                    continue  # below the threshold: the next rules decide
            return Match(finding, rule, rule.action)
        return Match(finding, None, Allow() if finding.info else self.default)

    def decide(self, findings: Sequence[Finding], tally: dict[int, int] | None = None) -> Verdict:
        """The verdict for one segment given all its findings.

        ``tally`` carries the counts of ``scope: response`` threshold rules from one
        segment to the next: keep one dict per response (it is updated in place).
        """
        counts: tuple[dict[int, int], dict[int, int]] = ({}, tally if tally is not None else {})
        matches = tuple(self.match(f, counts) for f in findings)
        if not matches:
            return Verdict(Allow(), ())
        top = max(matches, key=lambda m: severity(m.action))
        return Verdict(top.action, matches)
