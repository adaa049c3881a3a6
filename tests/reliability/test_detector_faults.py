"""A detector that raises, hangs past its deadline or returns garbage never crashes the
stream and never passes text silently.

The documented outcome (README, "Failures"): the failure becomes a finding
labelled ``error`` or ``timeout`` that names the detector; under ``fail_open``
the policy warns and the text passes; under ``fail_closed`` the stream is cut
before the unchecked sentence, and in hold mode nothing of it was ever shown.
Sync and async drivers, hold and pass mode, both ``on_error`` values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from conftest import Crashing, Slow
from reliability_helpers import ReleaseAudit, drive, pii_guard

from detectors.base import CheckContext, Finding, Segment
from guardrails.events import ActionEvent, FindingEvent, Retraction, TextDelta
from guardrails.testing import FakeLLM, check_accounting

BEFORE = "All good here. Mail ann@example.com today."
BAD = " This one goes boom now."
AFTER = " Still fine after."
ANSWER = BEFORE + BAD + AFTER


class Returning:
    """Returns ``make(segment)`` (anything at all) on segments with ``boom``."""

    cpu_bound = False

    def __init__(self, make: Callable[[Segment], object], name: str = "broken") -> None:
        self.name = name
        self.make = make

    def check(self, segment: Segment, ctx: CheckContext) -> object:
        return self.make(segment) if "boom" in segment.text else []


class AsyncHang:
    """``acheck`` waits for ever on ``boom`` (the async driver); ``check`` sleeps (the pool)."""

    name = "broken"
    cpu_bound = False

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if "boom" in segment.text:
            time.sleep(0.6)
        return []

    async def acheck(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if "boom" in segment.text:
            await asyncio.Event().wait()
        return []


def _finding(detector: str, span: object) -> Finding:
    return Finding(detector, "bad", span)  # type: ignore[arg-type]


FAULTS: dict[str, tuple[Callable[[], object], str, str]] = {
    # name: (detector factory, finding label, message fragment)
    "raises": (lambda: Crashing(name="broken"), "error", "RuntimeError: detector bug"),
    "hangs (pool)": (lambda: Slow(0.6, name="broken", trigger="boom"), "timeout", "no answer"),
    "hangs (acheck)": (AsyncHang, "timeout", "no answer"),
    "returns a dict": (lambda: Returning(lambda s: {"label": "x"}), "error", "returned dict"),
    "returns a string": (lambda: Returning(lambda s: "boom"), "error", "returned str"),
    "returns None": (lambda: Returning(lambda s: None), "error", "returned NoneType"),
    "returns a generator": (
        lambda: Returning(lambda s: (f for f in ())),
        "error",
        "returned generator",
    ),
    "returns a non-Finding": (
        lambda: Returning(lambda s: [("broken", "x", (s.start, s.end))]),
        "error",
        "returned a tuple among its findings",
    ),
    "span past the end": (
        lambda: Returning(lambda s: [_finding("broken", (s.start, s.end + 50))]),
        "error",
        "outside the text",
    ),
    "negative span": (
        lambda: Returning(lambda s: [_finding("broken", (-3, s.end))]),
        "error",
        "outside the text",
    ),
    "reversed span": (
        lambda: Returning(lambda s: [_finding("broken", (s.end, s.start))]),
        "error",
        "outside the text",
    ),
    "span is a list": (
        lambda: Returning(lambda s: [_finding("broken", [s.start, s.end])]),
        "error",
        "not a (start, end) pair of ints",
    ),
    "span of floats": (
        lambda: Returning(lambda s: [_finding("broken", (float(s.start), float(s.end)))]),
        "error",
        "not a (start, end) pair of ints",
    ),
    "span of strings": (
        lambda: Returning(lambda s: [_finding("broken", ("0", "5"))]),
        "error",
        "not a (start, end) pair of ints",
    ),
    "span of three": (
        lambda: Returning(lambda s: [_finding("broken", (s.start, s.start + 1, s.end))]),
        "error",
        "not a (start, end) pair of ints",
    ),
    "span of bools": (
        lambda: Returning(lambda s: [_finding("broken", (False, True))]),
        "error",
        "not a (start, end) pair of ints",
    ),
}


@pytest.mark.parametrize("on_error", ["fail_open", "fail_closed"])
@pytest.mark.parametrize("mode", ["hold", "pass"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_detector_fault(driver: str, mode: str, on_error: str, fault: str) -> None:
    make, label, fragment = FAULTS[fault]
    guard, recorder = pii_guard(mode, on_error, make(), deadline_ms=100)
    audit = ReleaseAudit(recorder)
    llm = FakeLLM(ANSWER, chunk=5)
    upstream = llm.stream() if driver == "sync" else llm.astream()
    start = time.monotonic()
    events, error = drive(guard, upstream, driver, on_event=audit)
    assert error is None, error
    assert time.monotonic() - start < 0.55, "the stream waited for the broken detector"
    result = check_accounting(events)

    failures = [
        e.finding for e in events if isinstance(e, FindingEvent) and e.finding.detector == "broken"
    ]
    assert len(failures) == 1, failures
    failure = failures[0]
    assert failure.label == label
    assert fragment in failure.message
    assert failure.span == (len(BEFORE), len(BEFORE) + len(BAD))  # the unchecked sentence
    actions = [e.action for e in events if isinstance(e, ActionEvent)]
    if on_error == "fail_open":  # warned, never silent; the text passes
        assert actions == ["redact", "warn"]
        assert result.text == "All good here. Mail [EMAIL] today." + BAD + AFTER
        assert result.passed
    else:  # cut before the unchecked sentence
        assert actions == ["redact", "cut"]
        assert result.text == "All good here. Mail [EMAIL] today."
        assert not result.passed
        assert llm.closed + llm.finished == 1  # the upstream is not left open
    if mode == "hold":
        assert audit.unchecked == []
        assert not any(isinstance(e, Retraction) for e in events)
        shown = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert shown == result.text
    elif on_error == "fail_closed":
        assert any("boom" in e.text for e in events if isinstance(e, Retraction))


@pytest.mark.parametrize("on_error", ["fail_open", "fail_closed"])
def test_a_detector_failing_on_every_sentence_is_reported_every_time(
    driver: str, on_error: str
) -> None:
    guard, _ = pii_guard("hold", on_error, Crashing(name="broken", trigger=""))
    events, error = drive(guard, iter(["One. Two. Three."]), driver)
    assert error is None
    result = check_accounting(events)
    errors = [f for f in result.findings if f.is_error]
    if on_error == "fail_open":
        assert len(errors) == 3 and result.text == "One. Two. Three."
        assert [a.action for a in result.actions] == ["warn"] * 3
    else:
        assert len(errors) == 1 and result.text == "" and not result.passed


def test_a_finding_that_is_not_a_finding_subclass_is_refused() -> None:
    class Lookalike:
        detector, label, span = "broken", "x", (0, 3)

    guard, _ = pii_guard("hold", "fail_closed", Returning(lambda s: [Lookalike()]))
    result = guard.validate("A boom here. Fine.")
    assert result.text == "" and not result.passed
    assert "returned a Lookalike among its findings" in result.findings[0].message
