"""Running a pack's golden ``tests:`` cases (``guardrails packs test``).

Each case streams its ``input`` through a guard built from the pack, with a
:class:`~guardrails.testing.FakeLLM` that answers feedback calls (regenerate,
rewrite) with the case's ``responses`` in order, and compares what happened
with ``expect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guardrails.errors import Blocked, UpstreamError
from guardrails.events import ActionEvent, Done, Event
from guardrails.testing import FakeLLM, check_accounting

if TYPE_CHECKING:
    from guardrails._result import GuardResult
    from guardrails.guard import Guard

__all__ = ["CaseOutcome", "run_case", "run_cases"]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One golden case: whether it held, and what differed."""

    name: str
    problems: tuple[str, ...]
    output: str

    @property
    def passed(self) -> bool:
        return not self.problems


def run_case(guard: Guard, case: Any) -> CaseOutcome:
    """Run one case (a ``tests:`` entry of a pack) and compare it with its ``expect``."""
    scripts: list[Any] = [case.input, *case.responses]
    llm = FakeLLM(*scripts)
    events: list[Event] = []
    try:
        for event in guard.events(
            llm.stream(), case.context, regenerate=llm.stream if case.responses else None
        ):
            events.append(event)  # noqa: PERF402 (keep what came before an exception)
    except (Blocked, UpstreamError):
        pass  # the result is in the Done event; expect.passed says whether this was wanted
    result: GuardResult | None = next((e.result for e in events if isinstance(e, Done)), None)
    if result is None:
        return CaseOutcome(case.name, ("the stream ended without a result",), "")
    problems = _compare(case.expect, result, events)
    try:
        check_accounting(events)
    except AssertionError as exc:
        problems.append(f"accounting: {exc}")
    return CaseOutcome(case.name, tuple(problems), result.text)


def run_cases(guard: Guard, cases: Any) -> list[CaseOutcome]:
    return [run_case(guard, case) for case in cases]


def _compare(expect: Any, result: GuardResult, events: list[Event]) -> list[str]:
    problems: list[str] = []

    def differ(what: str, want: object, got: object) -> None:
        if want is not None and want != got:
            problems.append(f"{what}: expected {want!r}, got {got!r}")

    differ("output", expect.output, result.text)
    differ("passed", expect.passed, result.passed)
    differ("labels", expect.labels, [f.label for f in result.findings])
    differ("actions", expect.actions, [e.action for e in events if isinstance(e, ActionEvent)])
    problems += [f"output lacks {s!r}" for s in expect.contains or () if s not in result.text]
    problems += [f"output has {s!r}" for s in expect.not_contains or () if s in result.text]
    return problems
