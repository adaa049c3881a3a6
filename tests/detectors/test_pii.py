"""PIIDetector: each kind, checksums, boundaries, arbitration between kinds."""

from __future__ import annotations

import itertools
import re

import pytest

from detectors.base import CheckContext, Finding, Segment, SegmentKind
from detectors.pii import ALL_KINDS, PIIDetector
from guardrails.errors import ConfigError

PAD = "Some earlier text. "


def run(detector: PIIDetector, text: str, kind: SegmentKind = "text") -> tuple[str, list[Finding]]:
    upstream = PAD + text
    segment = Segment(text, len(PAD), len(upstream), kind=kind)
    return upstream, detector.check(segment, CheckContext(prefix=PAD))


def found(text: str, **kwargs: object) -> list[tuple[str, str]]:
    upstream, findings = run(PIIDetector(**kwargs), text)  # type: ignore[arg-type]
    return [(f.label, upstream[slice(*f.span)]) for f in findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # e-mail
        ("Write to bob@example.com.", [("email", "bob@example.com")]),
        ("first.last+tag@mail.example.co.uk, ok", [("email", "first.last+tag@mail.example.co.uk")]),
        ("<o'brien_99@sub-domain.example.org>", [("email", "o'brien_99@sub-domain.example.org")]),
        ("user@localhost and a@b.c and @handle", []),
        # credit cards (Luhn)
        ("card 4111 1111 1111 1111 exp 12/29", [("credit_card", "4111 1111 1111 1111")]),
        ("card 4111-1111-1111-1111.", [("credit_card", "4111-1111-1111-1111")]),
        ("card 5555555555554444", [("credit_card", "5555555555554444")]),
        ("amex 3782 822463 10005", [("credit_card", "3782 822463 10005")]),
        ("4111111111111111 2024", [("credit_card", "4111111111111111")]),
        ("card 4111 1111 1111 1112", []),  # Luhn fails: not a card (nor a phone)
        ("card 4111-1111-1111-1112", []),
        ("pi is 3.14159265358979323846", []),
        ("zeros 0000 0000 0000 0000", []),
        # IBAN (mod 97)
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("IBAN DE89370400440532013000.", [("iban", "DE89370400440532013000")]),
        ("GB82 WEST 1234 5698 7654 32", [("iban", "GB82 WEST 1234 5698 7654 32")]),
        ("NO9386011117947", [("iban", "NO9386011117947")]),
        ("FR14 2004 1010 0505 0001 3M02 606", [("iban", "FR14 2004 1010 0505 0001 3M02 606")]),
        ("IBAN DE89 3704 0044 0532 0130 01", []),  # one digit changed
        ("IBAN DE88 3704 0044 0532 0130 00", []),
        ("IBAN DE89370400440532013001", []),
        # IPv4
        ("ping 192.168.0.1.", [("ipv4", "192.168.0.1")]),
        ("dns 8.8.8.8 or 255.255.255.255", [("ipv4", "8.8.8.8"), ("ipv4", "255.255.255.255")]),
        ("bad 256.1.1.1 and 1.2.3", []),
        ("version 1.2.3.4.5 and v1.2.3.4 and 01.2.3.4", []),
        # US SSN
        ("SSN 123-45-6789.", [("us_ssn", "123-45-6789")]),
        ("000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", []),
        # phones
        ("call (555) 123-4567 today", [("phone", "(555) 123-4567")]),
        ("call 555-123-4567.", [("phone", "555-123-4567")]),
        ("call 555.123.4567", [("phone", "555.123.4567")]),
        ("call 555 123-4567", [("phone", "555 123-4567")]),
        ("call +44 20 7946 0958.", [("phone", "+44 20 7946 0958")]),
        ("call +1 (555) 123-4567", [("phone", "+1 (555) 123-4567")]),
        ("call +4915112345678", [("phone", "+4915112345678")]),
        ("call 1-800-555-1234", [("phone", "1-800-555-1234")]),
        ("call 020 7946 0958", [("phone", "020 7946 0958")]),
        ("call 555-1234", [("phone", "555-1234")]),
        ("call +33 1 23 45 67 89", [("phone", "+33 1 23 45 67 89")]),
        ("call 555 123 4567 2 times", [("phone", "555 123 4567")]),
        ("on 2024-01-15, 15.01.2024 or 01-15-2024", []),  # dates
        ("from 1999-2005, in 1999 2000 2001", []),  # years
        ("pi 3.14159265, 1234.5678", []),  # decimals
        ("costs 12 345 678 or 1.234.567 units", []),  # thousands separators
        ("code 12345 and 555 12", []),  # too few digits
        ("1 2 3 4 5 6 7 8", []),
    ],
)
def test_kinds(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize("text", ["123-45-67890", "1123-45-6789", "123-456-789", "123 45 6789"])
def test_not_ssn_shaped(text: str) -> None:
    assert found(text, kinds=["us_ssn"]) == []


def test_adjacent_numbers_do_not_hide_a_phone() -> None:
    assert found("ids 123-45-6789 555-123-4567", kinds=["phone"]) == [("phone", "555-123-4567")]
    assert found("years 2019 2020 555-123-4567") == [("phone", "555-123-4567")]


def test_mixed_and_global_spans() -> None:
    text = "Mail ann@x.io, card 4111 1111 1111 1111, ssn 123-45-6789, call 555-123-4567."
    upstream, findings = run(PIIDetector(name="privacy"), text)
    assert [(f.label, upstream[slice(*f.span)]) for f in findings] == [
        ("email", "ann@x.io"),
        ("credit_card", "4111 1111 1111 1111"),
        ("us_ssn", "123-45-6789"),
        ("phone", "555-123-4567"),
    ]
    assert findings[0].span == (len(PAD) + 5, len(PAD) + 13)
    assert [f.replacement for f in findings] == ["[EMAIL]", "[CREDIT_CARD]", "[US_SSN]", "[PHONE]"]
    assert {f.detector for f in findings} == {"privacy"}
    assert all(f.message for f in findings)


def test_replacements_for_every_kind() -> None:
    text = "a@b.io 4111111111111111 DE89370400440532013000 10.0.0.1 123-45-6789 555-123-4567"
    _, findings = run(PIIDetector(), text)
    assert {f.label: f.replacement for f in findings} == {
        kind: f"[{kind.upper()}]" for kind in ALL_KINDS
    }


def test_kinds_filter_keeps_arbitration() -> None:
    text = "card 4111 1111 1111 1111, ssn 123-45-6789, ip 10.1.2.3, call 555-123-4567"
    assert found(text, kinds=["phone"]) == [("phone", "555-123-4567")]
    assert found(text, kinds=["credit_card", "ipv4"]) == [
        ("credit_card", "4111 1111 1111 1111"),
        ("ipv4", "10.1.2.3"),
    ]
    assert found("mail a@b.io call 555-123-4567", kinds=["email"]) == [("email", "a@b.io")]


def test_no_overlaps_across_kinds() -> None:
    # the IBAN's digits are a Luhn-valid run; the SSN is phone-shaped
    text = "IBAN DE89 3704 0044 0532 0130 00 ssn 123-45-6789"
    _, findings = run(PIIDetector(), text)
    assert [f.label for f in findings] == ["iban", "us_ssn"]
    spans = sorted(f.span for f in findings)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_segment_kinds() -> None:
    detector = PIIDetector()
    _, code = run(detector, "```\nEMAIL = 'ops@corp.example'\n```", kind="code")
    assert [f.label for f in code] == ["email"]
    assert run(detector, "\n\n", kind="blank")[1] == []
    assert detector.cpu_bound is False


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"kinds": []}, "'kinds'"),
        ({"kinds": ["email", "passport"]}, "'passport'"),
    ],
)
def test_config_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        PIIDetector(**kwargs)  # type: ignore[arg-type]
