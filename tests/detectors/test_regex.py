"""RegexDetector: named patterns, flags, global spans, option errors."""

from __future__ import annotations

import re

import pytest

from detectors.base import CheckContext, Finding, Segment, SegmentKind
from detectors.regex import RegexDetector
from guardrails.errors import ConfigError

PAD = "<earlier text>\n"


def run(
    detector: RegexDetector, text: str, kind: SegmentKind = "text"
) -> tuple[str, list[Finding]]:
    upstream = PAD + text
    segment = Segment(text, len(PAD), len(upstream), kind=kind)
    return upstream, detector.check(segment, CheckContext(prefix=PAD))


@pytest.mark.parametrize(
    ("patterns", "flags", "text", "expected"),
    [
        (
            {"ticket": r"JIRA-\d+"},
            None,
            "see JIRA-12 and JIRA-345.",
            [("ticket", "JIRA-12"), ("ticket", "JIRA-345")],
        ),
        ({"ticket": r"JIRA-\d+"}, None, "see jira-12", []),
        ({"ticket": r"JIRA-\d+"}, ["IGNORECASE"], "see jira-12", [("ticket", "jira-12")]),
        ({"line": r"^total$"}, None, "a\ntotal\nb", []),
        ({"line": r"^total$"}, ["MULTILINE"], "a\ntotal\nb", [("line", "total")]),
        ({"span": r"<a>.*</a>"}, None, "<a>x\ny</a>", []),
        (
            {"span": r"<a>.*</a>"},
            ["DOTALL", "IGNORECASE"],
            "<A>x\ny</A>",
            [("span", "<A>x\ny</A>")],
        ),
        (
            {"word": r"\bfoo\b", "num": r"\d{3}"},
            [],
            "foo 123 food",
            [("word", "foo"), ("num", "123")],
        ),
        ({"stars": r"x*"}, None, "abc", []),  # zero-width matches are not findings
        ({"stars": r"x*"}, None, "axxb", [("stars", "xx")]),
    ],
)
def test_matches(
    patterns: dict[str, str], flags: list[str] | None, text: str, expected: list[tuple[str, str]]
) -> None:
    detector = RegexDetector(patterns=patterns, flags=flags)  # type: ignore[arg-type]
    upstream, findings = run(detector, text)
    assert [(f.label, upstream[slice(*f.span)]) for f in findings] == expected
    for finding in findings:
        assert finding.detector == "regex"
        assert finding.replacement == f"[{finding.label.upper()}]"
        assert finding.label in finding.message


def test_spans_are_global_and_name_is_used() -> None:
    detector = RegexDetector(name="tickets", patterns={"ticket": r"T-\d"})
    upstream, findings = run(detector, "xx T-1 yy")
    (finding,) = findings
    assert finding.span == (len(PAD) + 3, len(PAD) + 6)
    assert upstream[slice(*finding.span)] == "T-1"
    assert finding.detector == "tickets"
    assert detector.cpu_bound is False


def test_code_is_scanned_blank_is_not() -> None:
    detector = RegexDetector(patterns={"ws": r"\s+", "key": r"sk-\w+"})
    _, code = run(detector, "```\nsk-abc\n```", kind="code")
    assert [f.label for f in code if f.label == "key"] == ["key"]
    assert run(detector, "   \n  ", kind="blank")[1] == []
    assert run(detector, "  \n ", kind="text")[1] == []


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"patterns": {}}, "patterns"),
        ({"patterns": {"bad": "(unclosed"}}, "'bad'"),
        ({"patterns": {"ok": "a", "broken": "[z-a]"}}, "'broken'"),
        ({"patterns": {"": "a"}}, "pattern name"),
        ({"patterns": {"x": 3}}, "'x'"),
        ({"patterns": {"x": "a"}, "flags": ["VERBOSE"]}, "'VERBOSE'"),
    ],
)
def test_config_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        RegexDetector(**kwargs)  # type: ignore[arg-type]
