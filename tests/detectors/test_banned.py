"""BannedPhrases: exact (case/whitespace-insensitive) and fuzzy matching."""

from __future__ import annotations

import re

import pytest

from detectors.banned import BannedPhrases
from detectors.base import CheckContext, Finding, Segment, SegmentKind
from guardrails.errors import ConfigError

PAD = "Earlier sentence. "
PHRASES = ["guaranteed returns", "free  money", "scam"]


def run(
    detector: BannedPhrases, text: str, kind: SegmentKind = "text"
) -> tuple[str, list[Finding]]:
    upstream = PAD + text
    segment = Segment(text, len(PAD), len(upstream), kind=kind)
    return upstream, detector.check(segment, CheckContext(prefix=PAD))


def matched(detector: BannedPhrases, text: str) -> list[tuple[str, float]]:
    upstream, findings = run(detector, text)
    return [(upstream[slice(*f.span)], round(f.score, 2)) for f in findings]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We promise GUARANTEED returns.", [("GUARANTEED returns", 1.0)]),
        ("Get FREE money now", [("FREE money", 1.0)]),
        ("free\nmoney, free \t money", [("free\nmoney", 1.0), ("free \t money", 1.0)]),
        ("It is a Scam!", [("Scam", 1.0)]),
        ("a scammer, a scams", []),  # word boundaries
        ("guaranteedreturns", []),
        ("Nothing to see here.", []),
    ],
)
def test_exact(text: str, expected: list[tuple[str, float]]) -> None:
    assert matched(BannedPhrases(phrases=PHRASES, fuzzy=False), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We offer guarantede returns!", [("guarantede returns", 0.94)]),
        ("Guaranteed returnz here", [("Guaranteed returnz", 0.94)]),
        ("guaran-teed returns", [("guaran-teed returns", 0.97)]),  # a split word
        ("freemoney for all", [("freemoney", 0.95)]),  # a merged one
        ("guaranteed retirement plans", []),
        ("a scan", []),  # one letter off a four-letter word is far below 90
        ("GUARANTEED returns", [("GUARANTEED returns", 1.0)]),
    ],
)
def test_fuzzy(text: str, expected: list[tuple[str, float]]) -> None:
    assert matched(BannedPhrases(phrases=PHRASES), text) == expected


def test_fuzzy_off_and_threshold() -> None:
    text = "We offer guarantede returns!"
    assert matched(BannedPhrases(phrases=PHRASES, fuzzy=False), text) == []
    assert matched(BannedPhrases(phrases=PHRASES, threshold=95), text) == []
    assert matched(BannedPhrases(phrases=PHRASES, threshold=94), text) == [
        ("guarantede returns", 0.94)
    ]
    loose = BannedPhrases(phrases=["guaranteed returns"], threshold=70)
    assert matched(loose, "guaranteed gains") == [("guaranteed gains", 0.76)]
    assert matched(BannedPhrases(phrases=["guaranteed returns"]), "guaranteed gains") == []


def test_no_overlapping_duplicates() -> None:
    detector = BannedPhrases(phrases=["free money", "money"], threshold=80)
    upstream, findings = run(detector, "free money and free money")
    by_phrase = [(f.data["phrase"], upstream[slice(*f.span)]) for f in findings]
    assert by_phrase == [
        ("free money", "free money"),
        ("money", "money"),
        ("free money", "free money"),
        ("money", "money"),
    ]
    # windows around an exact hit (one more, one fewer word) are not reported again
    assert all(f.score == 1.0 for f in findings)
    # one near miss is reported once even though several windows score above threshold
    assert matched(
        BannedPhrases(phrases=["guaranteed returns"], threshold=70), "guarantede returns x"
    ) == [("guarantede returns", 0.94)]


def test_finding_fields_and_global_span() -> None:
    detector = BannedPhrases(name="promo", phrases=["free money"])
    upstream, (exact, fuzzy) = run(detector, "free money, fre money")
    assert exact.span == (len(PAD), len(PAD) + 10)
    assert upstream[slice(*exact.span)] == "free money"
    assert upstream[slice(*fuzzy.span)] == "fre money"
    for finding in (exact, fuzzy):
        assert finding.detector == "promo"
        assert finding.label == "banned_phrase"
        assert "'free money'" in finding.message
        assert finding.replacement == "[REDACTED]"
        assert finding.data["phrase"] == "free money"
    assert 0.9 <= fuzzy.score < 1.0
    assert detector.cpu_bound is False


def test_segment_kinds() -> None:
    detector = BannedPhrases(phrases=PHRASES)
    assert len(run(detector, "```\nscam()\n```", kind="code")[1]) == 1
    assert run(detector, "  \n", kind="blank")[1] == []


def test_punctuation_phrases_and_duplicates() -> None:
    detector = BannedPhrases(phrases=["$$$", "Scam", "scam", "act now!"], fuzzy=False)
    assert matched(detector, "win $$$ fast, ACT NOW! scam") == [
        ("$$$", 1.0),
        ("ACT NOW!", 1.0),
        ("scam", 1.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"phrases": []}, "'phrases'"),
        ({"phrases": ["ok", "  "]}, "'phrases'"),
        ({"phrases": ["ok"], "threshold": 0}, "'threshold'"),
        ({"phrases": ["ok"], "threshold": 100.5}, "100.5"),
        ({"phrases": ["ok"], "threshold": -3.0}, "-3.0"),
    ],
)
def test_config_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        BannedPhrases(**kwargs)  # type: ignore[arg-type]
