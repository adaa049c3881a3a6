"""Every action, through the whole-text, sync-stream and async-stream paths.

Each run asserts the accounting invariant (every upstream character is released
or named in an action event) and that validate() agrees with the streams.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import guardrails as gr
from detectors.banned import BannedPhrases
from detectors.base import CheckContext, Evidence, Finding, Segment
from guardrails.events import ActionEvent, Event
from guardrails.testing import FakeLLM, check_accounting
from policies import Action, Correct, Policy, Regenerate, Rule, When

PATHS = ("whole", "sync", "async")


class Numbers:
    """Flags numbers listed in ``wrong``; the value, if any, is what the evidence says."""

    name = "numbers"
    cpu_bound = False

    def __init__(self, wrong: dict[str, str | None]) -> None:
        self.wrong = wrong

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        found = []
        for m in re.finditer(r"\d+", segment.text):
            if m.group() in self.wrong:
                span = (segment.start + m.start(), segment.start + m.end())
                evidence = (Evidence(1, 0, 2, "20", {}),)
                found.append(
                    Finding(
                        "numbers",
                        "number_mismatch",
                        span,
                        0.9,
                        f"{m.group()} is not in the context",
                        evidence,
                        self.wrong[m.group()],
                    )
                )
        return found


def run(
    guard: gr.Guard, scripts: tuple[str, ...], path: str, **llms: FakeLLM
) -> tuple[list[Event], gr.GuardResult, FakeLLM]:
    llm = FakeLLM(*scripts)
    events: list[Event] = []
    if path == "whole":
        events = list(guard.events([scripts[0]], regenerate=llm.stream))
        llm.calls.insert(0, None)  # the whole text stood for the first call
    elif path == "sync":
        events = list(guard.events(llm.stream(), regenerate=llm.stream))
    else:

        async def main() -> list[Event]:
            return [e async for e in guard.aevents(llm.astream(), regenerate=llm.astream)]

        events = asyncio.run(main())
    result = check_accounting(events)
    return events, result, llm


def kinds(events: list[Event]) -> list[str]:
    return [e.action for e in events if isinstance(e, ActionEvent)]


def numbers_guard(action: Action, wrong: dict[str, str | None], mode: str = "hold") -> gr.Guard:
    return gr.Guard(
        [Numbers(wrong)],
        Policy([Rule(When("numbers"), action)]),
        settings=gr.StreamSettings(mode=mode),  # type: ignore[arg-type]
    )


ANSWER = "The plan costs 25 dollars. It renews every 12 months. Ask us anything."


@pytest.mark.parametrize("mode", ["hold", "pass"])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("action", "wrong", "text", "acts"),
    [
        (
            Correct("annotate"),
            {"25": "20"},
            "The plan costs 25 dollars. [unverified] It renews every 12 months. Ask us anything.",
            ["annotate"],
        ),
        (
            Correct("annotate", marker=" [see source {passage}]"),
            {"25": "20"},
            "The plan costs 25 dollars. [see source 2] It renews every 12 months. Ask us anything.",
            ["annotate"],
        ),
        (
            Correct("fix_numbers"),
            {"25": "20"},
            "The plan costs 20 dollars. It renews every 12 months. Ask us anything.",
            ["fix_numbers"],
        ),
        (
            Correct("fix_numbers"),
            {"25": "20", "12": "6"},
            "The plan costs 20 dollars. It renews every 6 months. Ask us anything.",
            ["fix_numbers", "fix_numbers"],
        ),
        (
            Correct("fix_numbers"),
            {"12": None},
            "The plan costs 25 dollars. Ask us anything.",
            ["drop"],
        ),
        (
            Correct("fix_numbers", otherwise=Correct("annotate")),
            {"12": None},
            "The plan costs 25 dollars. It renews every 12 months. [unverified] Ask us anything.",
            ["annotate"],
        ),
        (
            Correct("redact", mask="[N]"),
            {"25": "20"},
            "The plan costs [N] dollars. It renews every 12 months. Ask us anything.",
            ["redact"],
        ),
        (Correct("drop"), {"12": None}, "The plan costs 25 dollars. Ask us anything.", ["drop"]),
        (gr.Warn(), {"12": None}, ANSWER, ["warn"]),
        (gr.Allow(), {"12": None}, ANSWER, []),
        (gr.Cut(), {"12": None}, "The plan costs 25 dollars.", ["cut"]),
        (gr.Block("No."), {"12": None}, "No.", ["block"]),
    ],
)
def test_correcting_actions(
    action: Action, wrong: dict[str, str | None], text: str, acts: list[str], path: str, mode: str
) -> None:
    guard = numbers_guard(action, wrong, mode)
    events, result, _ = run(guard, (ANSWER,), path)
    assert result.text == text
    assert kinds(events) == acts
    assert guard.validate(ANSWER).text == text


@pytest.mark.parametrize("path", PATHS)
def test_raise(path: str) -> None:
    guard = numbers_guard(gr.Raise("numbers off"), {"12": None})
    with pytest.raises(gr.Blocked, match="numbers off") as info:
        run(guard, (ANSWER,), path)
    assert info.value.result.text == "The plan costs 25 dollars."


@pytest.mark.parametrize("path", PATHS)
def test_rewrite_replaces_only_that_sentence(path: str) -> None:
    guard = numbers_guard(Correct("rewrite"), {"25": None})
    events, result, llm = run(guard, (ANSWER, " The plan costs 20 dollars."), path)
    assert result.text == "The plan costs 20 dollars. It renews every 12 months. Ask us anything."
    assert kinds(events) == ["rewrite"]
    feedback = llm.calls[1]
    assert feedback is not None and feedback.kind == "rewrite"
    assert "Rewrite only this sentence" in feedback.instruction
    assert feedback.sentence == "The plan costs 25 dollars."


@pytest.mark.parametrize("path", PATHS)
def test_rewrite_that_fails_its_own_check_falls_back(path: str) -> None:
    guard = numbers_guard(Correct("rewrite", otherwise=Correct("annotate")), {"25": None})
    events, result, _ = run(guard, (ANSWER, "It costs 25 dollars, really."), path)
    assert (
        result.text
        == "The plan costs 25 dollars. [unverified] It renews every 12 months. Ask us anything."
    )
    assert kinds(events) == ["annotate"]
    assert (
        "rewrite failed its own check"
        in events[[type(e) for e in events].index(ActionEvent)].message
    )  # type: ignore[union-attr]


def test_rewrite_without_a_feedback_target_falls_back() -> None:
    guard = numbers_guard(Correct("rewrite"), {"25": None})
    result = guard.validate(ANSWER)
    assert result.text == " It renews every 12 months. Ask us anything."
    assert [a.action for a in result.actions] == ["drop"]


BANNED = "Returns are guaranteed."
PREFIX = "Our plan costs 20 dollars."


@pytest.mark.parametrize("path", PATHS)
def test_regenerate_routes_to_a_fallback_llm_when_the_first_keeps_failing(path: str) -> None:
    primary = (f"{PREFIX} {BANNED} Bye.", f" {BANNED} Honestly.")  # fails again on feedback
    backup = FakeLLM(f"{PREFIX} Returns take 30 days. Bye.")  # repeats the released prefix
    llms: dict[str, Any] = {"backup": backup.astream if path == "async" else backup.stream}
    guard = gr.Guard(
        [BannedPhrases(phrases=["returns are guaranteed"])],
        Policy([Rule(When("banned"), Regenerate(1, gr.Cut(), fallbacks=("backup",)))]),
        llms=llms,
    )
    events, result, llm = run(guard, primary, path)
    assert result.text == f"{PREFIX} Returns take 30 days. Bye."
    assert result.text.count(PREFIX) == 1  # the verified prefix is never repeated
    assert kinds(events) == ["regenerate", "regenerate", "dedupe"]
    assert len(llm.calls) == 2  # the primary: first answer, one retry
    assert len(backup.calls) == 1 and backup.calls[0] is not None
    assert backup.calls[0].released == PREFIX
    assert result.passed


@pytest.mark.parametrize("path", PATHS)
def test_every_target_failing_ends_in_the_else_action(path: str) -> None:
    backup = FakeLLM(f" {BANNED}")
    llms: dict[str, Any] = {"backup": backup.astream if path == "async" else backup.stream}
    guard = gr.Guard(
        [BannedPhrases(phrases=["returns are guaranteed"])],
        Policy([Rule(When("banned"), Regenerate(1, Correct("drop"), fallbacks=("backup",)))]),
        llms=llms,
    )
    events, result, _ = run(guard, (f"{PREFIX} {BANNED}", f" {BANNED}"), path)
    assert kinds(events) == ["regenerate", "regenerate", "drop"]
    assert result.text == PREFIX


def test_unregistered_fallback_llm_is_a_config_error() -> None:
    with pytest.raises(gr.ConfigError, match="backup"):
        gr.Guard(
            [BannedPhrases(phrases=["x"])],
            Policy([Rule(When("banned"), Regenerate(1, fallbacks=("backup",)))]),
        )


def test_feedback_template_shapes_the_instruction() -> None:
    guard = gr.Guard(
        [BannedPhrases(phrases=["returns are guaranteed"])],
        Policy(
            [
                Rule(
                    When("banned"),
                    Regenerate(1, feedback="Avoid: {sentence} ({reasons}); try {attempt}."),
                )
            ]
        ),
    )
    llm = FakeLLM(f"{PREFIX} {BANNED}", " Returns take 30 days.")
    list(guard.events(llm.stream(), regenerate=llm.stream))
    feedback = llm.calls[1]
    assert feedback is not None
    assert feedback.instruction == (
        "Avoid: Returns are guaranteed. (banned phrase 'returns are guaranteed'); try 1."
    )


def test_bad_feedback_template_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Regenerate(1, feedback="{nope}")


@pytest.mark.parametrize("path", PATHS)
def test_response_scope_threshold(path: str) -> None:
    # annotate the first two unverified numbers, cut at the third
    policy = Policy(
        [
            Rule(When("numbers", scope="response", more_than=2), gr.Cut()),
            Rule(When("numbers"), Correct("annotate")),
        ]
    )
    guard = gr.Guard([Numbers({"1": None, "2": None, "3": None})], policy)
    text = "One is 1. Two is 2. Three is 3. Four is 4."
    events, result, _ = run(guard, (text,), path)
    assert kinds(events) == ["annotate", "annotate", "cut"]
    assert result.text == "One is 1. [unverified] Two is 2. [unverified]"


def test_sentence_scope_threshold_counts_within_one_sentence() -> None:
    policy = Policy([Rule(When("numbers", more_than=1), gr.Correct("drop"))])
    guard = gr.Guard([Numbers({"1": None, "2": None})], policy)
    result = guard.validate("Only 1 here. Both 1 and 2 here. Fine.")
    assert result.text == "Only 1 here. Fine."


@pytest.mark.parametrize("mode", ["hold", "pass"])
@pytest.mark.parametrize("path", PATHS)
def test_in_place_corrections_on_one_sentence_apply_together(path: str, mode: str) -> None:
    from detectors.pii import PIIDetector

    policy = Policy(
        [
            Rule(When("numbers"), Correct("fix_numbers")),
            Rule(When("pii"), Correct("redact")),
            Rule(When("grader"), Correct("annotate", marker=" [check]")),
        ]
    )

    class Grader:
        name = "grader"
        cpu_bound = False

        def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
            if "Mail" not in segment.text:
                return []
            return [
                Finding(
                    "grader",
                    "unsupported",
                    (segment.start, segment.end),
                    message="not in the context",
                )
            ]

    guard = gr.Guard(
        [Numbers({"25": "20"}), PIIDetector(), Grader()],
        policy,
        settings=gr.StreamSettings(mode=mode),  # type: ignore[arg-type]
    )
    answer = "It costs 25 dollars. Mail ann@example.com about the 25 dollars. Bye."
    events, result, _ = run(guard, (answer,), path)
    assert result.text == "It costs 20 dollars. Mail [EMAIL] about the 20 dollars. [check] Bye."
    assert kinds(events) == ["fix_numbers", "redact", "fix_numbers", "annotate"]
    messages = {e.action: e.message for e in events if isinstance(e, ActionEvent)}
    assert messages == {
        "fix_numbers": "25 is not in the context",
        "redact": "e-mail address",
        "annotate": "not in the context",
    }
    assert [s.fate for s in result.segments] == ["corrected", "redacted", "released"]
