"""One case table, run through the sync and the async driver, in hold and pass mode.

Every case also checks the accounting invariant: each upstream character is
either visible in the output or named in an action event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from conftest import Crashing, Slow, kinds, run_events

from detectors.banned import BannedPhrases
from detectors.pii import PIIDetector
from guardrails.errors import Blocked, UpstreamError
from guardrails.events import Retraction, TextDelta
from guardrails.guard import Guard, StreamSettings
from guardrails.testing import FakeLLM, FakeLLMError, check_accounting
from policies import Block, Correct, Cut, Policy, Raise, Regenerate, Rule, When

ANSWER = "Our plan costs $20. Write to help@example.com for help. Returns are guaranteed. Thanks!"
BANNED = ["returns are guaranteed"]


def pii_banned(
    ban: object, *, on_error: str = "fail_open", extra: tuple[object, ...] = ()
) -> Callable[[str], Guard]:
    def make(mode: str) -> Guard:
        rules = [Rule(When("pii"), Correct("redact")), Rule(When("banned"), ban)]  # type: ignore[arg-type]
        return Guard(
            [PIIDetector(), BannedPhrases(phrases=BANNED), *extra],  # type: ignore[list-item]
            Policy(rules, on_error=on_error),  # type: ignore[arg-type]
            settings=StreamSettings(mode=mode, deadline_ms=150),  # type: ignore[arg-type]
        )

    return make


@dataclass
class Case:
    name: str
    guard: Callable[[str], Guard]
    scripts: tuple[str, ...]
    text: str
    actions: list[str]
    passed: bool = True
    error: type[BaseException] | None = None
    calls: int = 1
    llm: dict[str, object] = field(default_factory=dict)


CASES = [
    Case(
        "redact email mid-stream",
        pii_banned(Cut()),
        ("Our plan costs $20. Write to help@example.com for help. Thanks!",),
        "Our plan costs $20. Write to [EMAIL] for help. Thanks!",
        ["redact"],
    ),
    Case(
        "cut on banned phrase",
        pii_banned(Cut()),
        (ANSWER,),
        "Our plan costs $20. Write to [EMAIL] for help.",
        ["redact", "cut"],
        passed=False,
    ),
    Case(
        "block replaces everything",
        pii_banned(Block("Let me connect you with a person.")),
        (ANSWER,),
        "Let me connect you with a person.",
        ["redact", "block"],
        passed=False,
    ),
    Case(
        "raise",
        pii_banned(Raise("no promises")),
        (ANSWER,),
        "Our plan costs $20. Write to [EMAIL] for help.",
        ["redact", "raise"],
        passed=False,
        error=Blocked,
    ),
    Case(
        "regenerate succeeds on the second attempt",
        pii_banned(Regenerate(2, Cut())),
        (ANSWER, " Returns are accepted within 30 days. Thanks!"),
        "Our plan costs $20. Write to [EMAIL] for help. Returns are accepted within 30 days. Thanks!",
        ["redact", "regenerate"],
        calls=2,
    ),
    Case(
        "regenerated answer repeating the released text is deduplicated",
        pii_banned(Regenerate(1, Cut())),
        (ANSWER, "Our plan costs $20. Write to help@example.com for help. Returns take 30 days."),
        "Our plan costs $20. Write to [EMAIL] for help. Returns take 30 days.",
        ["redact", "regenerate", "dedupe"],
        calls=2,
    ),
    Case(
        "regenerate exhausted falls back",
        pii_banned(Regenerate(1, Block("Please contact support."))),
        (ANSWER, " Returns are guaranteed, really."),
        "Please contact support.",
        ["redact", "regenerate", "block"],
        passed=False,
        calls=2,
    ),
    Case(
        "drop a failing sentence",
        pii_banned(Correct("drop")),
        (ANSWER,),
        "Our plan costs $20. Write to [EMAIL] for help. Thanks!",
        ["redact", "drop"],
    ),
    Case(
        "detector crash, fail_open: warned, text passes",
        pii_banned(Cut(), extra=(Crashing(),)),
        ("All good. This goes boom here. Still fine.",),
        "All good. This goes boom here. Still fine.",
        ["warn"],
    ),
    Case(
        "detector crash, fail_closed: cut before the unchecked sentence",
        pii_banned(Cut(), on_error="fail_closed", extra=(Crashing(),)),
        ("All good. This goes boom here. Still fine.",),
        "All good.",
        ["cut"],
        passed=False,
    ),
    Case(
        "deadline exceeded, fail_closed",
        pii_banned(Cut(), on_error="fail_closed", extra=(Slow(1.0, trigger="slow"),)),
        ("Quick one. A slow sentence. Never seen.",),
        "Quick one.",
        ["cut"],
        passed=False,
    ),
    Case(
        "deadline exceeded, fail_open",
        pii_banned(Cut(), extra=(Slow(1.0, trigger="slow"),)),
        ("Quick one. A slow sentence. Seen.",),
        "Quick one. A slow sentence. Seen.",
        ["warn"],
    ),
    Case(
        # the unterminated tail is validated too before it is released
        "upstream raises mid-stream: validated prefix released",
        pii_banned(Cut()),
        ("First sentence. Mail a@b.co now. Third sentence is long enough",),
        "First sentence. Mail [EMAIL] now. Thi",
        ["redact"],
        error=UpstreamError,
        llm={"fail_after": 9},
    ),
]


@pytest.mark.parametrize("mode", ["hold", "pass"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_table(case: Case, mode: str, driver: str) -> None:
    llm = FakeLLM(*case.scripts, **case.llm)  # type: ignore[arg-type]
    events, error = run_events(case.guard(mode), llm, driver)
    if case.error is None:
        assert error is None, error
    else:
        assert isinstance(error, case.error), error
    result = check_accounting(events)
    assert result.text == case.text
    assert kinds(events) == case.actions
    assert result.passed is case.passed
    assert len(llm.calls) == case.calls
    if isinstance(error, Blocked):
        assert error.result is result
    if isinstance(error, UpstreamError):
        assert error.partial is result
        assert isinstance(error.__cause__, FakeLLMError)
    if mode == "hold":
        # hold mode never takes text back: nothing unvalidated was ever shown
        assert not any(isinstance(e, Retraction) for e in events)
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == case.text


def test_cut_releases_nothing_after_the_banned_sentence(driver: str) -> None:
    llm = FakeLLM(ANSWER)
    events, _ = run_events(pii_banned(Cut())("hold"), llm, driver)
    released = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "guaranteed" not in released
    assert "Thanks" not in released
    assert llm.closed == 1  # the upstream was closed, not drained


def test_pass_mode_retracts_exactly_what_was_sent(driver: str) -> None:
    llm = FakeLLM(ANSWER)
    events, _ = run_events(pii_banned(Cut())("pass"), llm, driver)
    retractions = [e for e in events if isinstance(e, Retraction)]
    assert retractions, "pass mode must retract the failing text it already released"
    assert any("guaranteed" in r.text for r in retractions)
    result = check_accounting(events)
    assert result.text == "Our plan costs $20. Write to [EMAIL] for help."


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_consumer_closing_early_closes_the_upstream(driver: str, stop_after: int) -> None:
    llm = FakeLLM("One. Two. Three. Four. Five. Six.", chunk=2, delay_s=0.002)
    guard = Guard([PIIDetector()], Policy())
    events, error = run_events(guard, llm, driver, stop_after=stop_after)
    assert error is None
    assert len(events) == stop_after
    assert llm.closed == 1 and llm.finished == 0


def test_feedback_names_the_failed_sentence_and_released_text(driver: str) -> None:
    llm = FakeLLM(ANSWER, " Returns take 30 days.")
    run_events(pii_banned(Regenerate(1, Cut()))("hold"), llm, driver)
    feedback = llm.calls[1]
    assert feedback is not None
    assert feedback.released == "Our plan costs $20. Write to [EMAIL] for help."
    assert feedback.sentence.strip() == "Returns are guaranteed."
    assert feedback.attempt == 1
    assert "Returns are guaranteed." in feedback.instruction
    assert feedback.findings[0].detector == "banned"
