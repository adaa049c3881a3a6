"""extract_entities and EntityCheck: names, acronyms, quotes, fuzzy lookup, evidence, spans."""

from __future__ import annotations

import pytest

from detectors.base import CheckContext, Finding, Passage, Segment
from detectors.entities import EntityCheck, extract_entities
from guardrails.errors import ConfigError

PAD = "Answer so far. "
CONTEXT = (
    "John Smith visited paris in 1999 with NASA engineers. The comparison of results was clear. "
    "Barack H. Obama spoke at the University of Oxford about “The Great Gatsby”."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower is in Paris.", ["Eiffel Tower", "Paris"]),
        ("However, NASA and the U.S. Army met Mr. Smith.", ["NASA", "U.S. Army", "Mr. Smith"]),
        (
            "Paris is nice. The city of London hosts Bank of America.",
            ["Paris", "London", "Bank of America"],
        ),
        (
            "Procter & Gamble and Apple's CEO Tim Cook met.",
            ["Procter & Gamble", "Apple", "CEO Tim Cook"],
        ),
        ('He read "The Great Gatsby" in May.', ["The Great Gatsby"]),
        ("She met John F. Kennedy.", ["John F. Kennedy"]),
        ("She said “hello there” twice.", ["hello there"]),
        ("The cat sat. However it ran. This is fine. In March, I left.", []),
        ("1. Scientists at MIT agree.", ["Scientists", "MIT"]),  # only common words are dropped
        ("- However, Rome was not built in a day.", ["Rome"]),
        ("## Key Steps To Follow", []),  # headings are title case, not names
        ("it is sunny in Paris today", ["Paris"]),
        ("Hope you enjoy Paris!", ["Paris"]),
    ],
)
def test_extract_entities(text: str, expected: list[str]) -> None:
    found = extract_entities(text)
    assert [t for _, _, t in found] == expected
    for start, end, name in found:
        assert text[start:end] == name


def run(claim: str, context: str = CONTEXT, threshold: float = 85.0) -> tuple[str, list[Finding]]:
    upstream = PAD + claim
    segment = Segment(claim, len(PAD), len(upstream), index=1)
    ctx = CheckContext([Passage("Unrelated first passage.", 0), Passage(context, 1)], prefix=PAD)
    return upstream, EntityCheck(threshold=threshold).check(segment, ctx)


@pytest.mark.parametrize(
    "claim",
    [
        "Paris is lovely.",  # context says "paris": case is ignored
        "Mr. Smith went there.",  # the honorific is dropped: "Smith" is in "John Smith"
        "Barack Obama spoke.",  # "Barack H. Obama"
        "NASA sent engineers.",
        "He studied at the University of Oxford.",
        'She liked "The Great Gatsby".',
        "The engineers spoke.",
    ],
)
def test_known_entities(claim: str) -> None:
    assert run(claim)[1] == []


@pytest.mark.parametrize(
    ("claim", "unknown"),
    [
        ("He met Angela Merkel in Rome.", ["Angela Merkel", "Rome"]),
        ("Comparis published it.", []),  # 89 % like "comparison": above the threshold
        ("Pari is lovely.", []),
        ("Then ESA took over.", ["ESA"]),
        ("He studied at the University of Cambridge.", ["University of Cambridge"]),
    ],
)
def test_unknown_entities(claim: str, unknown: list[str]) -> None:
    upstream, findings = run(claim)
    assert [upstream[f.span[0] : f.span[1]] for f in findings] == unknown
    for finding in findings:
        assert finding.label == "unknown_entity"
        assert 0.0 < finding.score <= 1.0


def test_word_boundaries_matter() -> None:
    # "paris" occurs inside "comparison" only: no match
    _, findings = run("Paris is lovely.", context="The comparison was clear.")
    (finding,) = findings
    assert finding.score > 0.15


def test_finding_fields_and_evidence() -> None:
    upstream, findings = run("He studied at the University of Cambridge.")
    (finding,) = findings
    assert finding.detector == "entities"
    assert finding.span == (len(PAD) + 18, len(PAD) + 41)
    assert upstream[finding.span[0] : finding.span[1]] == "University of Cambridge"
    similarity = finding.data["similarity"]
    assert finding.score == pytest.approx(1 - similarity)
    (evidence,) = finding.evidence
    assert evidence.passage == 1
    assert CONTEXT[evidence.start : evidence.end] == evidence.text
    assert evidence.text == "University of Oxford"
    assert evidence.scores["similarity"] == similarity
    assert "'University of Cambridge'" in finding.message


def test_threshold() -> None:
    assert run("Pari is lovely.", threshold=95.0)[1] != []
    assert run("Pari is lovely.", threshold=85.0)[1] == []


def test_no_context_code_blank_and_non_claims() -> None:
    detector = EntityCheck()
    assert detector.check(Segment("Angela Merkel spoke.", 3, 23), CheckContext()) == []
    ctx = CheckContext([Passage(CONTEXT, 0)])
    assert detector.check(Segment("x = Foo()", 0, 9, kind="code"), ctx) == []
    assert detector.check(Segment(" ", 0, 1, kind="blank"), ctx) == []
    assert detector.check(Segment("Did Angela Merkel say so?", 0, 25), ctx) == []


def test_context_normalized_once_per_call() -> None:
    ctx = CheckContext([Passage(CONTEXT, 0)])
    detector = EntityCheck(name="names")
    detector.check(Segment("Angela Merkel spoke.", 0, 20), ctx)
    cached = ctx.memo["names:normalized"]
    detector.check(Segment("Rome is old.", 20, 32), ctx)
    assert ctx.memo["names:normalized"] is cached
    assert list(ctx.memo) == ["names:normalized"]


@pytest.mark.parametrize("threshold", [0, -1, 101, True, "high"])
def test_bad_threshold(threshold: object) -> None:
    with pytest.raises(ConfigError, match="threshold"):
        EntityCheck(threshold=threshold)  # type: ignore[arg-type]
