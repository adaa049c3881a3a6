"""Personal data written to slip past a filter is still found, with exact spans, and
ordinary text does not raise false alarms.

Decided (see ``detectors.pii``): ``[at]``/``(at)``/``{at}``/``<at>`` and the same
for ``dot``, spaces around ``@`` or a standalone ``.``, a plain-word ``dot``
after a real or bracketed ``at``, letter-spaced addresses, and card numbers
whose groups are joined by spaces, dashes or dots, mixed, are personal data.
``ann at example dot com`` in plain words is not: it reads like prose.
"""

from __future__ import annotations

import re
import time

import pytest

from detectors import pii
from detectors._redos import catastrophic
from detectors.base import CheckContext, Finding, Segment
from detectors.pii import PIIDetector
from guardrails.guard import Guard
from guardrails.segmenter import split
from guardrails.testing import FakeLLM, check_accounting
from policies import Correct, Policy, Rule, When


def found(text: str) -> list[tuple[str, str]]:
    """(label, exact text) of every finding, the text segmented as a stream would be."""
    detector = PIIDetector()
    out = []
    for seg in split(text):
        for f in detector.check(seg, CheckContext()):
            assert seg.start <= f.span[0] < f.span[1] <= seg.end
            out.append((f.label, text[f.span[0] : f.span[1]]))
    return out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Write to ann [at] example [dot] com today.", "ann [at] example [dot] com"),
        ("Write to ann(at)example(dot)com today.", "ann(at)example(dot)com"),
        ("Write to ann {at} example {dot} co {dot} uk now.", "ann {at} example {dot} co {dot} uk"),
        ("Write to ANN [AT] EXAMPLE [DOT] COM.", "ANN [AT] EXAMPLE [DOT] COM"),
        ("Write to ann <at> example.com please.", "ann <at> example.com"),
        ("Write to ann @ example.com please.", "ann @ example.com"),
        ("Write to ann@ example . com please.", "ann@ example . com"),
        ("Write to ann@example dot com please.", "ann@example dot com"),
        ("Write to ann [at] example dot org please.", "ann [at] example dot org"),
        ("Write to a n n @ e x a m p l e . c o m today.", "a n n @ e x a m p l e . c o m"),
        (
            "Mail j o h n . s m i t h @ m a i l . e x a m p l e . o r g now.",
            "j o h n . s m i t h @ m a i l . e x a m p l e . o r g",
        ),
    ],
)
def test_obfuscated_emails(text: str, secret: str) -> None:
    assert found(text) == [("email", secret)]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Card 4111-1111 1111.1111 on file.", "4111-1111 1111.1111"),
        ("Card 4111.1111.1111.1111 on file.", "4111.1111.1111.1111"),
        ("Card 4111 - 1111 - 1111 - 1111 on file.", "4111 - 1111 - 1111 - 1111"),
        ("Card 4111 . 1111 . 1111 . 1111 on file.", "4111 . 1111 . 1111 . 1111"),
        ("Card 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 on file.", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
        ("Amex 3782.822463-10005 on file.", "3782.822463-10005"),
        ("Card 5555 5555-5555.4444, thanks.", "5555 5555-5555.4444"),
    ],
)
def test_obfuscated_card_numbers(text: str, secret: str) -> None:
    assert found(text) == [("credit_card", secret)]


@pytest.mark.parametrize(
    "text",
    [
        "I looked at example dot com yesterday.",
        "Write to ann at example dot com today.",  # decided: prose, not an address
        "Meet @ 5 pm at the office.",
        "Prices: 2 @ 3.50 each.",
        "Reply to bob @ home. Then call.",
        "Follow @ann on x.com for news.",
        "Steps: a . b . c done.",
        "Version 1.2.3 was released on 2024-01-15.",
        "The total was 1,234.56 dollars and pi is 3.14159265358979.",
        "Order 1234.5678.9012.3456 shipped.",  # card-shaped, fails Luhn
        "Card 4111-1111 1111.1112 on file.",  # one digit off
        "The score was 4 - 1 and then 2 - 2.",
        "ISBN 978-3-16-148410-0 is a book.",
        "Dates 2019.2020.2021.2022 were hard.",
        "See section 4.1.2 and clause 12.3.4.5.6 for the rules.",
        "We met at noon. Then we left at one.",
    ],
)
def test_no_false_alarms_on_ordinary_text(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_letter_spaced_email_is_redacted_mid_stream(chunk: int) -> None:
    guard = Guard([PIIDetector()], Policy([Rule(When("pii"), Correct("redact"))]))
    text = "Reach a n n @ e x a m p l e . c o m or 4111-1111 1111.1111. Bye."
    events = list(guard.events(FakeLLM(text, chunk=chunk).stream()))
    result = check_accounting(events)
    assert result.text == "Reach [EMAIL] or [CREDIT_CARD]. Bye."


def test_the_pii_patterns_cannot_backtrack_catastrophically() -> None:
    patterns = [v for v in vars(pii).values() if isinstance(v, re.Pattern)]
    assert len(patterns) >= 8
    for pattern in patterns:
        assert catastrophic(pattern.pattern, pattern.flags) is None, pattern.pattern


@pytest.mark.parametrize(
    "text",
    [
        "a " * 20_000 + "@",
        "a." * 20_000 + "@ x",
        "ann [at] " + "example [dot] " * 5_000,
        "4 " * 20_000 + "x",
        "4111." * 10_000,
        "a@" * 20_000,
        "1 - " * 10_000,
    ],
)
def test_adversarial_input_stays_fast(text: str) -> None:
    detector = PIIDetector()
    start = time.monotonic()
    detector.check(Segment(text, 0, len(text)), CheckContext())
    assert time.monotonic() - start < 2.0


class _Flags:
    """Flags every sentence with ``label``, as a grounding detector would."""

    cpu_bound = False

    def __init__(self, label: str, replacement: str | None = None) -> None:
        self.name = "claims"
        self.label = label
        self.replacement = replacement

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        text = segment.text
        if "3 days" not in text:
            return []
        at = segment.start + text.index("3")
        return [Finding(self.name, self.label, (at, at + 1), replacement=self.replacement)]


@pytest.mark.parametrize(
    ("label", "action", "replacement", "text"),
    [
        ("unsupported", Correct("annotate"), None, "Mail [EMAIL] within 3 days. [unverified]"),
        ("number_mismatch", Correct("fix_numbers"), "5", "Mail [EMAIL] within 5 days."),
    ],
)
def test_personal_data_is_redacted_whatever_else_the_sentence_has(
    label: str, action: Correct, replacement: str | None, text: str
) -> None:
    # the other correction comes first (detector and rule order): it used to win the
    # tie and release the e-mail address untouched; now both apply, redaction first
    guard = Guard(
        [_Flags(label, replacement), PIIDetector()],
        Policy([Rule(When("claims"), action), Rule(When("pii"), Correct("redact"))]),
    )
    result = check_accounting(list(guard.events(["Mail ann@example.com within 3 days."])))
    assert result.text == text
    assert [a.action for a in result.actions] == ["redact", action.strategy]
    assert {f.label for f in result.findings} == {label, "email"}
