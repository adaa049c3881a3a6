"""JsonSchemaDetector: viable-prefix checks while streaming, parse + validate at the end."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from detectors.base import CheckContext, Finding, Segment, SegmentKind
from detectors.json_schema import JsonSchemaDetector, first_invalid_offset
from guardrails.errors import ConfigError

PAD = "[earlier attempt]"


class Answer(BaseModel):
    name: str
    score: float
    tags: list[str] = []


class Wide(BaseModel):
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int
    g: int


DOC = (
    '{"name": "Ann \\u00e9 \\"q\\" \\\\ \\n", "score": -1.5e+3, "tags": ["a", "b c"],'
    ' "ok": true, "no": false, "n": null, "x": [], "y": {}, "z": [0, 12.25E-2, [{}]]}'
)
FENCED = f"\n```json\n{DOC}\n```\n"


def run(
    detector: JsonSchemaDetector,
    prefix: str,
    text: str,
    *,
    final: bool = False,
    kind: SegmentKind = "text",
) -> tuple[str, list[Finding]]:
    """Check ``text`` after ``prefix``; the upstream has unrelated text before both."""
    upstream = PAD + prefix + text
    segment = Segment(text, len(upstream) - len(text), len(upstream), kind=kind)
    return upstream, detector.check(segment, CheckContext(prefix=prefix, final=final))


@pytest.mark.parametrize(
    "document", [DOC, FENCED, "  42 ", '"just a string"', "[]", "```\n[1]\n```"]
)
def test_every_prefix_of_a_valid_document_is_viable(document: str) -> None:
    detector = JsonSchemaDetector(model=Answer)
    for cut in range(len(document) + 1):
        assert first_invalid_offset(document[:cut]) is None, document[:cut]
        half = cut // 2
        assert run(detector, document[:half], document[half:cut])[1] == [], document[:cut]


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("Sure! Here is the JSON:", 0),
        ('  \n{"a": 1,,', 11),
        ('{"a": 1}}', 8),
        ('{"a": 1} and more', 9),
        ("[1, 2]]", 6),
        ("]", 0),
        ('{"a" 1', 5),
        ("{a: 1}", 1),
        ('{"a": 1,}', 8),
        ("[1,]", 3),
        ("[1 2]", 3),
        ('{"a": tru', None),
        ('{"a": trux', 9),
        ('{"a": nul}', 9),
        ("[01]", 2),
        ("[1.]", 3),
        ("[-]", 2),
        ("[1e5e]", 4),
        ("[NaN]", 1),
        ('["tab\there"]', 5),
        ('["bad \\x escape"]', 7),
        ('["\\u12G4"]', 6),
        ("'single'", 0),
        ("```python\n{}", 3),
        ("```json\n{}\n``` trailing", 15),
        ("```json\n{}\n````", 14),
        ("```json\n{} x", 11),
    ],
)
def test_invalid_prefixes(text: str, offset: int | None) -> None:
    assert first_invalid_offset(text) == offset


def test_fences_can_be_disallowed() -> None:
    assert first_invalid_offset("```json\n{}\n```", allow_fences=False) == 0
    assert first_invalid_offset("```json\n{}\n```") is None
    assert first_invalid_offset('{"a": 1}\n```') == 9  # closing fence without an opening one


def test_streaming_finding_points_at_the_offending_character() -> None:
    detector = JsonSchemaDetector(name="structured", model=Answer)
    upstream, (finding,) = run(detector, '{"name": "x",', ' "score": 1,, "tags": []}')
    assert finding.label == "invalid_json"
    assert finding.detector == "structured"
    assert upstream[slice(*finding.span)] == ","
    assert upstream[: finding.span[0]].endswith('"score": 1,')
    assert finding.data["offset"] == len('{"name": "x", "score": 1,')
    # the offence may lie in the prefix: it is still located exactly
    upstream, (finding,) = run(detector, "Sure! ", '{"name": "x"}')
    assert finding.span == (len(PAD), len(PAD) + 1)
    assert upstream[slice(*finding.span)] == "S"


def test_blank_segments_are_skipped_until_final() -> None:
    detector = JsonSchemaDetector(model=Answer)
    assert run(detector, "Oops", "\n\n", kind="blank")[1] == []
    _, findings = run(detector, '{"name": "x", "score": 2}', "\n", kind="blank", final=True)
    assert findings == []


def test_final_valid_answers() -> None:
    detector = JsonSchemaDetector(model=Answer)
    assert run(detector, "", '{"name": "x", "score": 2}', final=True)[1] == []
    assert (
        run(detector, "```JSON\n", '{"name": "x", "score": 2.5, "tags": ["t"]}\n```', final=True)[1]
        == []
    )
    assert (
        run(detector, "", '{"name": "x", "score": 2, "extra": 1}', final=True, kind="code")[1] == []
    )


@pytest.mark.parametrize(
    ("prefix", "text", "needle"),
    [
        ("", "", "empty answer"),
        ("", "   \n", "empty answer"),
        ('{"name": "x", ', '"score": 2', "Expecting"),
        ("```json\n", "", "Expecting value"),
        ("", '{"name": "x", "score": NaN}', "unexpected 'N'"),
    ],
)
def test_final_invalid_json(prefix: str, text: str, needle: str) -> None:
    detector = JsonSchemaDetector(model=Answer)
    _, (finding,) = run(detector, prefix, text, final=True)
    assert finding.label == "invalid_json"
    assert needle in finding.message


def test_final_incomplete_json_spans_the_whole_answer() -> None:
    detector = JsonSchemaDetector(model=Answer)
    upstream, (finding,) = run(detector, '{"name": "x", ', '"score": 2', final=True)
    assert upstream[slice(*finding.span)] == '{"name": "x", "score": 2'


def test_schema_mismatch() -> None:
    detector = JsonSchemaDetector(model=Answer)
    answer = '{"name": 5, "score": "high", "tags": ["a", 3]}'
    upstream, (finding,) = run(detector, answer[:20], answer[20:], final=True)
    assert finding.label == "schema_mismatch"
    assert upstream[slice(*finding.span)] == answer
    assert finding.message.startswith("JSON does not match Answer: ")
    assert "name: Input should be a valid string" in finding.message
    assert "score: Input should be a valid number" in finding.message
    assert "tags.1: Input should be a valid string" in finding.message
    assert [e["loc"] for e in finding.data["errors"]] == ["name", "score", "tags.1"]
    _, (missing,) = run(detector, "", "[]", final=True)
    assert missing.label == "schema_mismatch"
    assert "<root>: Input should be" in missing.message


def test_schema_mismatch_message_is_compact() -> None:
    detector = JsonSchemaDetector(model=Wide)
    _, (finding,) = run(detector, "", "{}", final=True)
    assert finding.message.count("Field required") == 5
    assert finding.message.endswith("(+2 more)")
    assert len(finding.data["errors"]) == 7


def test_model_import_path() -> None:
    detector = JsonSchemaDetector(model=f"{__name__}:Answer")
    assert detector.model is Answer
    assert detector.cpu_bound is False
    assert detector.name == "json"


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ("no_colon_here", "'no_colon_here'"),
        ("no_such_package_xyz.models:Answer", "cannot be imported"),
        (f"{__name__}:Missing", "cannot be imported"),
        ("json:loads", "not a pydantic BaseModel subclass"),
        (int, "not a pydantic BaseModel subclass"),
    ],
)
def test_model_errors(model: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        JsonSchemaDetector(model=model)  # type: ignore[arg-type]
    assert "'model'" in str(info.value)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(value=JSON_VALUES, indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans())
def test_dumped_json_is_viable_at_every_cut(
    value: object, indent: int | None, ascii_only: bool
) -> None:
    document = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    for cut in range(len(document) + 1):
        assert first_invalid_offset(document[:cut]) is None


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet='{}[]:,"\\ \n0123456789.-+eEtrufalsn`xj', max_size=30))
def test_offsets_are_consistent_with_the_parser(text: str) -> None:
    offset = first_invalid_offset(text, allow_fences=False)
    try:
        json.loads(text)
    except ValueError:
        parses = False
    else:
        parses = True
    if parses:
        assert offset is None
    if offset is not None:
        # everything before the offending character is still a viable prefix
        assert first_invalid_offset(text[:offset], allow_fences=False) is None
        assert first_invalid_offset(text[: offset + 1], allow_fences=False) == offset


def test_without_a_model_only_the_syntax_is_checked() -> None:
    detector = JsonSchemaDetector()
    text = '{"anything": [1, 2]}'
    assert detector.check(Segment(text, 0, len(text)), CheckContext(final=True)) == []
    bad = '{"a": }'
    (finding,) = detector.check(Segment(bad, 0, len(bad)), CheckContext(final=True))
    assert finding.label == "invalid_json"
