"""Hostile and odd text: the segmenter and the whole stream path never crash, never lose
or duplicate a character, and keep the accounting invariant.

The text mixes random Unicode with pieces chosen to hurt: combining marks,
right-to-left text and overrides, zero-width joiners, emoji sequences, NUL,
lone surrogates (what ``errors="surrogateescape"`` makes of bad bytes), CRLF,
very long words, deeply nested Markdown, and the things detectors look for.
"""

from __future__ import annotations

import asyncio
import itertools
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.banned import BannedPhrases
from detectors.base import Segment
from detectors.grounding import Grounding
from detectors.length import LengthLimit
from detectors.pii import PIIDetector
from detectors.regex import RegexDetector
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails.events import Event, Retraction
from guardrails.guard import Guard, StreamSettings
from guardrails.segmenter import Segmenter, split
from guardrails.testing import check_accounting
from policies import Correct, Cut, Policy, Rule, When

HOSTILE = [
    "e\u0301",
    "a\u0300\u0301\u0302\u0303\u0304\u0305",
    "\u0301",
    "שלום עולם.",
    "مرحبا بالعالم؟ ",
    "\u202eevil\u202c",
    "\u200f\u200e",
    "👩\u200d💻",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇫🇷",
    "😀",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\x00",
    "\udcff",
    "\ud800",
    "\udfff\ud800",
    "\r\n",
    "\r",
    "\n\n",
    "\u2028",
    "\u00a0",
    "\t",
    "x" * 3000,
    "supercalifragilistic" * 40,
    "> > > > > - [ ] **_`nested`_** ",
    "\n```python\nprint('x')\n```\n",
    "\n~~~\n",
    "```",
    "#" * 7 + " heading",
    "1. ",
    "- ",
    "  * ",
    "[link](http://example.com/a.b?c=d.e). ",
    "e.g. ",
    "U.S. ",
    "3.14 ",
    "... ",
    "…",
    "。",
    "！",  # noqa: RUF001 (the fullwidth form is the point)
    '."',
    "?!",
    " ",
    ". ",
    "Hello world. ",
    "ann@example.com",
    "ann [at] example [dot] com",
    "a n n @ e x a m p l e . c o m",
    "4111-1111 1111.1111",
    "4111 1111 1111 1111",
    "+1 415 555 0134",
    "guaranteed returns",
    "SECRET-42",
    "\\",
    "{}[]<>",
]

piece = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Mn", "Zs", "Cc"]), max_size=5),
)
hostile_text = st.lists(piece, max_size=25).map("".join)


@st.composite
def cut(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(hostile_text)
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *points, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


def tiles(segments: list[Segment], text: str) -> None:
    pos = 0
    for i, seg in enumerate(segments):
        assert seg.index == i
        assert seg.start == pos and seg.end == pos + len(seg.text)
        assert seg.text == text[seg.start : seg.end]
        assert seg.text, "no empty segment"
        pos = seg.end
    assert pos == len(text)


@settings(max_examples=300, deadline=None)
@given(cut())
def test_segmenter_tiles_hostile_text_whatever_the_cuts(case: tuple[str, list[str]]) -> None:
    text, deltas = case
    segmenter = Segmenter()
    segments: list[Segment] = []
    for delta in deltas:
        segments += segmenter.feed(delta)
    segments += segmenter.flush()
    tiles(segments, text)
    assert segments == split(text)


def test_segmenter_on_deeply_nested_markdown_and_a_huge_word() -> None:
    nested = "".join(f"{'  ' * i}- {'> ' * i}item {i}\n" for i in range(300))
    text = nested + "y" * 200_000 + ". Done."
    tiles(split(text), text)


# ------------------------------------------------------------------ the stream


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "nli")


def make_guard(mode: str, nli: Path) -> Guard:
    return Guard(
        [
            PIIDetector(),
            BannedPhrases(phrases=["guaranteed returns"]),
            RegexDetector(name="ticket", patterns={"ticket": r"SECRET-\d+"}),
            LengthLimit(max_chars=50_000),
            Grounding(model=str(nli), max_wait_ms=0.5),
        ],
        Policy(
            [
                Rule(When("pii"), Correct("redact")),
                Rule(When("ticket"), Correct("redact")),
                Rule(When("banned"), Correct("drop")),
                Rule(When("length"), Cut()),
                Rule(When("grounding", frozenset({"contradicted"})), Correct("drop")),
            ],
            on_error="fail_closed",  # a detector that breaks on odd text would cut: see below
        ),
        settings=StreamSettings(mode=mode, max_hold_chars=500),  # type: ignore[arg-type]
    )


def _checked(events: list[Event], mode: str) -> None:
    result = check_accounting(events)
    broken = [f for f in result.findings if f.is_error]
    assert not broken, f"a detector failed on odd text: {broken[0].message}"
    if mode == "hold":
        assert not any(isinstance(e, Retraction) for e in events)


CONTEXT = ["The tower is 330 metres tall. \udcff It opened in 1889 \u202e.", "ann@example.com"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cut(), mode=st.sampled_from(["hold", "pass"]))
def test_the_sync_stream_survives_hostile_text(
    nli: Path, case: tuple[str, list[str]], mode: str
) -> None:
    _, deltas = case
    with make_guard(mode, nli) as guard:
        events = list(guard.events(iter(deltas), CONTEXT))
    _checked(events, mode)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cut(), mode=st.sampled_from(["hold", "pass"]))
def test_the_async_stream_survives_hostile_text(
    nli: Path, case: tuple[str, list[str]], mode: str
) -> None:
    _, deltas = case

    async def main() -> list[Event]:
        with make_guard(mode, nli) as guard:
            return [event async for event in guard.aevents(deltas, CONTEXT)]

    _checked(asyncio.run(main()), mode)


@pytest.mark.parametrize(
    "text",
    [
        "\udcff" * 50 + ". The tower is 330 metres tall.",
        "".join(string.printable) * 30,
        "\x00. \x00\x00. " * 100,
        "\r\n".join(["Line one.", "- item", "```", "code", "```", "end"]),
        "[" * 2000 + "]" * 2000,
    ],
)
def test_odd_whole_texts(nli: Path, text: str) -> None:
    with make_guard("hold", nli) as guard:
        _checked(list(guard.events([text], CONTEXT)), "hold")
