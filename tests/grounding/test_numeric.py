"""Quantities and NumericCheck: extraction, equivalences, mismatches, replacements, spans."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import detectors.numeric as numeric
from detectors.base import CheckContext, Finding, Passage, Segment
from detectors.numeric import NumericCheck, extract_quantities
from guardrails import segmenter
from guardrails.errors import ConfigError

PAD = "An earlier sentence of the answer. "
TOWER = (
    "The Eiffel Tower is 330 metres tall. It was completed on March 31, 1889 at a cost of "
    "$1.5 million. About 7 million people visit it each year, 75 percent of them foreigners. "
    "The tower is 312 metres tall, or 330 metres with its antennas."
)


def quantities(text: str) -> list[tuple[str, float, str, str]]:
    found = extract_quantities(text)
    for q in found:
        assert text[q.start : q.end] == q.text
    return [(q.kind, q.value, q.unit, q.text) for q in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It has 42 rooms.", [("number", 42, "", "42")]),
        (
            "About 1,200,000 people and 3.75 more.",
            [
                ("number", 1_200_000, "", "1,200,000"),
                ("number", 3.75, "", "3.75"),
            ],
        ),
        (
            "1.2 million users, 3bn trees, 5k runners",
            [
                ("number", 1_200_000, "", "1.2 million"),
                ("number", 3e9, "", "3bn"),
                ("number", 5000, "", "5k"),
            ],
        ),
        (
            "Twelve cats, twenty-five dogs and one hundred and two birds.",
            [
                ("number", 12, "", "Twelve"),
                ("number", 25, "", "twenty-five"),
                ("number", 102, "", "one hundred and two"),
            ],
        ),
        ("One of them, no one else, two million fans", [("number", 2e6, "", "two million")]),
        (
            "It grew 12% then 12 percent, or 3.5 percentage points.",
            [
                ("percent", 12, "%", "12%"),
                ("percent", 12, "%", "12 percent"),
                ("percent", 3.5, "%", "3.5 percentage points"),
            ],
        ),
        (
            "It cost $20, €1.5m, £3 billion, USD 20 and 20 dollars.",
            [
                ("money", 20, "USD", "$20"),
                ("money", 1.5e6, "EUR", "€1.5m"),
                ("money", 3e9, "GBP", "£3 billion"),
                ("money", 20, "USD", "USD 20"),
                ("money", 20, "USD", "20 dollars"),
            ],
        ),
        (
            "Built in 1889, opened by 1890; 1500 workers.",
            [
                ("year", 1889, "", "1889"),
                ("year", 1890, "", "1890"),
                ("number", 1500, "", "1500"),
            ],
        ),
        ("In the 1990s.", [("year", 1990, "s", "1990s")]),
        (
            "On March 3, 2021, 3 March 2021 and 2021-03-03.",
            [
                ("date", 20210303, "ymd", "March 3, 2021"),
                ("date", 20210303, "ymd", "3 March 2021"),
                ("date", 20210303, "ymd", "2021-03-03"),
            ],
        ),
        (
            "By March 3rd, the 4th of July, or in May 2020.",
            [
                ("date", 303, "md", "March 3rd"),
                ("date", 704, "md", "4th of July"),
                ("date", 20200500, "ym", "May 2020"),
            ],
        ),
        (
            "It is 5 km, 3.5 kg, 10 minutes, 90 km/h and 2 GB.",
            [
                ("unit", 5, "km", "5 km"),
                ("unit", 3.5, "kg", "3.5 kg"),
                ("unit", 10, "min", "10 minutes"),
                ("unit", 90, "km/h", "90 km/h"),
                ("unit", 2, "GB", "2 GB"),
            ],
        ),
        (
            "A 100m sprint at 20 °C, three hours long.",
            [
                ("unit", 100, "m", "100m"),
                ("unit", 20, "°C", "20 °C"),
                ("unit", 3, "h", "three hours"),
            ],
        ),
        # not quantities
        ("1. First item\n2) Second item\n- 3. Third", []),
        ("Version v2.1.0, release 3.5.2 and host 10.0.0.1.", []),
        ("Call 555-123-4567 or +44 20 7946 0958 at 10:30 am.", []),
        ("Order #12345, account 0012345678, ref 12345678901.", []),
        ("COVID-19, 3D films, 5G, x86 and the 21st floor.", []),
        (
            "Bad dates: 30 Feb 2021, 2021-13-01, 03/04/2021.",
            [  # only "Feb 2021" is valid
                ("number", 30, "", "30"),
                ("date", 20210200, "ym", "Feb 2021"),
            ],
        ),
    ],
)
def test_extract_quantities(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert quantities(text) == expected


def run(claim: str, context: str | list[str], tolerance: float = 0.0) -> tuple[str, list[Finding]]:
    passages = [context] if isinstance(context, str) else context
    upstream = PAD + claim
    segment = Segment(claim, len(PAD), len(upstream), index=1)
    ctx = CheckContext([Passage(text, i) for i, text in enumerate(passages)], prefix=PAD)
    return upstream, NumericCheck(tolerance=tolerance).check(segment, ctx)


@pytest.mark.parametrize(
    ("claim", "context"),
    [
        ("It has twelve rooms.", "It has 12 rooms."),
        ("It has 12 rooms.", "It has twelve rooms."),
        ("It has twenty-five rooms.", "It has 25 rooms."),
        ("It has one hundred rooms.", "It has 100 rooms."),
        ("It has 1.2 million fans.", "It has 1,200,000 fans."),
        ("Revenue was 3bn.", "Revenue was 3 billion."),
        ("It costs $20.", "It costs 20 dollars."),
        ("It costs USD 20.", "It costs $20."),
        ("It costs €1.5m.", "It costs 1.5 million euros."),
        ("Turnout was 12%.", "Turnout was 12 percent."),
        ("It opened on March 3, 2021.", "It opened on 2021-03-03."),
        ("It opened on 3 March 2021.", "It opened on March 3, 2021."),
        ("It opens every March 3.", "It opened on March 3, 2021."),  # no year: month/day
        ("It opened in 2021.", "It opened on March 3, 2021."),
        ("The trail is 5 km long.", "The trail is 5,000 metres long."),
        ("The trail is 5 long.", "The trail is 5 km long."),  # a bare number: any stated value
        ("The trail is 5 km long.", ["Nothing here.", "Elsewhere: a 5 km trail."]),
        ("1. It has 12 rooms.", "It has 12 rooms."),  # the list marker is not a number
        ("Install version 2.1.0 now.", "Install the latest version."),
        ("Call 555-123-4567 today.", "Call us today."),
        ("It costs nothing.", "It costs $20."),
    ],
)
def test_supported_quantities_give_no_finding(claim: str, context: str | list[str]) -> None:
    assert run(claim, context)[1] == []


@pytest.mark.parametrize(
    ("claim", "context", "missing"),
    [
        ("It costs $20.", "It costs €20.", "$20"),
        ("Turnout was 12%.", "Turnout was 12 of them.", "12%"),
        ("It opened on March 4, 2021.", "It opened on March 3, 2021.", "March 4, 2021"),
        ("It opened in 2020.", "It opened on March 3, 2021.", "2020"),
        ("The trail is 5 kg.", "The trail is 5 km long.", "5 kg"),
        ("It has 13 rooms.", "It has twelve rooms.", "13"),
    ],
)
def test_mismatches(claim: str, context: str, missing: str) -> None:
    upstream, findings = run(claim, context)
    assert [upstream[f.span[0] : f.span[1]] for f in findings] == [missing]
    assert findings[0].label == "number_mismatch"
    assert findings[0].score == 1.0


@pytest.mark.parametrize(("tolerance", "flagged"), [(0.0, True), (0.03, True), (0.05, False)])
def test_relative_tolerance(tolerance: float, flagged: bool) -> None:
    findings = run("It has 1.25 million fans.", "It has 1.2 million fans.", tolerance=tolerance)[1]
    assert bool(findings) is flagged


@pytest.mark.parametrize(
    ("claim", "missing", "replacement", "says"),
    [
        ("The Eiffel Tower is 300 metres high.", "300 metres", "330 metres", "330 metres"),
        ("The Eiffel Tower is 0.3 km high.", "0.3 km", "0.33 km", "330 metres"),
        ("The Eiffel Tower is 3,000 metres tall!", "3,000 metres", "330 metres", "330 metres"),
        ("The completion cost was $1.2 million.", "$1.2 million", "$1.5 million", "$1.5 million"),
        ("Some 80% of visitors are foreigners.", "80%", "75%", "75 percent"),
        (
            "It was completed on March 30, 1889.",
            "March 30, 1889",
            "March 31, 1889",
            "March 31, 1889",
        ),
        ("About nine million people visit it each year.", "nine million", "7 million", "7 million"),
    ],
)
def test_mismatch_with_unique_aligned_value(
    claim: str, missing: str, replacement: str, says: str
) -> None:
    upstream, findings = run(claim, TOWER)
    (finding,) = findings
    assert upstream[finding.span[0] : finding.span[1]] == missing
    assert finding.replacement == replacement
    assert finding.message == f"{missing} is not in the context (it says {says})"
    (evidence,) = finding.evidence
    assert TOWER[evidence.start : evidence.end] == evidence.text
    assert says in evidence.text
    assert evidence.passage == 0
    assert finding.data["context_values"] == [extract_quantities(says)[0].value]


def test_mismatch_without_unique_value_has_no_replacement() -> None:
    upstream, findings = run("The tower with its antennas is 300 metres.", TOWER)
    (finding,) = findings
    assert upstream[finding.span[0] : finding.span[1]] == "300 metres"
    assert finding.replacement is None  # 312 and 330 metres in the aligned sentence
    assert finding.message == "300 metres is not in the context (it says 312 metres or 330 metres)"
    assert (
        finding.evidence[0].text == "The tower is 312 metres tall, or 330 metres with its antennas."
    )
    assert finding.data == {
        "claim_value": 300.0,
        "context_values": [312.0, 330.0],
        "kind": "unit",
        "unit": "m",
    }


def test_mismatch_without_any_aligned_value() -> None:
    context = ["The tower was built by many workers.", "It has 1,665 steps."]
    _, findings = run("The tower was built by 300 workers.", context)
    (finding,) = findings
    assert finding.replacement is None
    assert finding.message == "300 is not in the context"
    assert finding.evidence[0].text == context[0]
    assert finding.data["context_values"] == []


def test_several_quantities_exact_global_spans() -> None:
    claim = "In 1889, it was 300 metres tall and cost $1.5 million; 2 GB of photos exist."
    upstream, findings = run(claim, TOWER)
    assert [upstream[f.span[0] : f.span[1]] for f in findings] == ["300 metres", "2 GB"]
    assert all(f.span[0] >= len(PAD) for f in findings)


def test_no_passages_no_quantities_code_blank_and_non_claims() -> None:
    detector = NumericCheck()
    segment = Segment("It is 300 metres tall.", 10, 32)
    assert detector.check(segment, CheckContext()) == []
    ctx = CheckContext([Passage(TOWER, 0)])
    assert detector.check(Segment("It is tall.", 0, 11), ctx) == []
    assert detector.check(Segment("x = 300", 0, 7, kind="code"), ctx) == []
    assert detector.check(Segment("  ", 0, 2, kind="blank"), ctx) == []
    assert detector.check(Segment("Is it 300 metres tall?", 0, 22), ctx) == []  # not a claim


def test_context_is_read_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real: Callable[[str], list[Segment]] = segmenter.split

    def counting(text: str) -> list[Segment]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(numeric, "split", counting)
    ctx = CheckContext([Passage(TOWER, 0), Passage("It has 12 rooms.", 1)])
    detector = NumericCheck(name="nums")
    first = detector.check(Segment("It is 300 metres tall.", 5, 27), ctx)
    second = detector.check(Segment("It has 13 rooms.", 40, 56), ctx)
    assert first and second
    assert len(calls) == 2  # one split per passage, for both checks
    assert "nums:sentences" in ctx.memo


@pytest.mark.parametrize("tolerance", [-0.1, 1.0, 2, True, "5%"])
def test_bad_tolerance(tolerance: object) -> None:
    with pytest.raises(ConfigError, match="tolerance"):
        NumericCheck(tolerance=tolerance)  # type: ignore[arg-type]
