"""LengthLimit: character and sentence limits."""

from __future__ import annotations

import re

import pytest

from detectors.base import CheckContext, Finding, Segment, SegmentKind
from detectors.length import LengthLimit
from guardrails.errors import ConfigError

PAD = "(retried) "


def run(
    detector: LengthLimit, prefix: str, text: str, *, index: int = 0, kind: SegmentKind = "text"
) -> tuple[str, list[Finding]]:
    upstream = PAD + prefix + text
    segment = Segment(text, len(upstream) - len(text), len(upstream), index=index, kind=kind)
    return upstream, detector.check(segment, CheckContext(prefix=prefix))


@pytest.mark.parametrize(
    ("prefix", "text", "excess"),
    [
        ("", "short.", None),
        ("12345678", "90", None),  # exactly at the limit
        ("12345678", "90abc.", "abc."),
        ("", "0123456789 too long.", " too long."),
        ("0123456789012", " More.", " More."),  # limit passed before this segment
    ],
)
def test_max_chars(prefix: str, text: str, excess: str | None) -> None:
    upstream, findings = run(LengthLimit(max_chars=10), prefix, text)
    if excess is None:
        assert findings == []
        return
    (finding,) = findings
    assert finding.label == "too_long"
    assert upstream[slice(*finding.span)] == excess
    assert finding.span[1] == len(upstream)
    assert finding.replacement == ""
    assert finding.data == {"limit": 10, "length": len(prefix) + len(text)}
    assert "10" in finding.message


@pytest.mark.parametrize(("index", "flagged"), [(0, False), (2, False), (3, True), (9, True)])
def test_max_sentences(index: int, flagged: bool) -> None:
    upstream, findings = run(LengthLimit(max_sentences=3), "Earlier. ", "This one.", index=index)
    if not flagged:
        assert findings == []
        return
    (finding,) = findings
    assert finding.label == "too_many_sentences"
    assert upstream[slice(*finding.span)] == "This one."
    assert finding.data == {"limit": 3, "count": index + 1}


def test_blank_segments_are_not_reported() -> None:
    detector = LengthLimit(max_chars=3, max_sentences=1)
    assert run(detector, "abcdef", "   ", index=7, kind="blank")[1] == []
    assert run(detector, "abcdef", "\n\n", index=7)[1] == []


def test_both_limits() -> None:
    detector = LengthLimit(name="budget", max_chars=5, max_sentences=1)
    _, findings = run(detector, "One. ", "Two.", index=1)
    assert [f.label for f in findings] == ["too_long", "too_many_sentences"]
    assert {f.detector for f in findings} == {"budget"}
    assert detector.cpu_bound is False


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "at least one"),
        ({"max_chars": 0}, "'max_chars'"),
        ({"max_chars": -5}, "-5"),
        ({"max_sentences": 0}, "'max_sentences'"),
        ({"max_chars": True}, "True"),
        ({"max_chars": "100"}, "'100'"),
        ({"max_chars": 10, "max_sentences": 2.5}, "2.5"),
    ],
)
def test_config_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        LengthLimit(**kwargs)  # type: ignore[arg-type]
