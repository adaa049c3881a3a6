"""Tests for the incremental sentence segmenter."""

# Curly quotes and fullwidth CJK punctuation are test data here, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.base import Segment
from guardrails.segmenter import Segmenter, split

FENCE = "```"


def texts(text: str) -> list[str]:
    return [s.text for s in split(text)]


def feed_all(deltas: list[str], seg: Segmenter | None = None) -> list[Segment]:
    seg = seg or Segmenter()
    out: list[Segment] = []
    for delta in deltas:
        out += seg.feed(delta)
    return out + seg.flush()


def assert_tiles(segs: list[Segment], text: str, base: int = 0, first_index: int = 0) -> None:
    assert "".join(s.text for s in segs) == text
    pos = base
    for n, s in enumerate(segs):
        assert s.text, "no empty segments"
        assert s.start == pos
        assert s.end == s.start + len(s.text)
        assert s.index == first_index + n
        assert (s.kind == "blank") == s.text.isspace()
        pos = s.end
    assert pos == base + len(text)


CASES = [
    # plain sentences; whitespace starts the next segment
    ("Hello world. How are you?", ["Hello world.", " How are you?"]),
    ("Stop! Go? Yes.", ["Stop!", " Go?", " Yes."]),
    ("Really?! Yes.", ["Really?!", " Yes."]),
    ("One.  Two.", ["One.", "  Two."]),
    ("Hello.  ", ["Hello.", "  "]),
    ("no punctuation here", ["no punctuation here"]),
    # closing quotes and brackets stay with the sentence
    ('He said "hi." She left.', ['He said "hi."', " She left."]),
    ("(It works.) Next", ["(It works.)", " Next"]),
    ("She said ‘no.’ Then” left", ["She said ‘no.’", " Then” left"]),
    ("«Oui.» Non", ["«Oui.»", " Non"]),
    ("Done?] Next", ["Done?]", " Next"]),
    # decimals, versions, URLs, emails
    ("Pi is 3.14 today. Next", ["Pi is 3.14 today.", " Next"]),
    ("Use v2.1.0 now. Ok", ["Use v2.1.0 now.", " Ok"]),
    ("See https://example.com/a.b. Next", ["See https://example.com/a.b.", " Next"]),
    ("See https://example.com/a.b/c now", ["See https://example.com/a.b/c now"]),
    ("Mail bob@example.com. Thanks", ["Mail bob@example.com.", " Thanks"]),
    ("Mail bob@example.com today", ["Mail bob@example.com today"]),
    # titles and Latin forms never split
    ("Mr. Smith met Dr. Jones. Then", ["Mr. Smith met Dr. Jones.", " Then"]),
    ("Mrs. Ms. Prof. Sr. Jr. St. Louis", ["Mrs. Ms. Prof. Sr. Jr. St. Louis"]),
    ("Cats vs. Dogs e.g. Rex i.e. Fido cf. Felix", ["Cats vs. Dogs e.g. Rex i.e. Fido cf. Felix"]),
    ("See fig. 3 and approx. 40 more", ["See fig. 3 and approx. 40 more"]),
    ("Smith et al. Show it. Ok", ["Smith et al. Show it.", " Ok"]),
    ("(e.g.) Fine", ["(e.g.) Fine"]),
    ("No. 5 wins. No. It loses.", ["No. 5 wins.", " No.", " It loses."]),
    # initials
    ("J. R. R. Tolkien wrote it. Then", ["J. R. R. Tolkien wrote it.", " Then"]),
    # ambiguous: decided by the next non-space character
    ("Apples, pears etc. and more", ["Apples, pears etc. and more"]),
    ("Apples etc. 5 more", ["Apples etc. 5 more"]),
    ("Apples etc. Then pears", ["Apples etc.", " Then pears"]),
    ("Acme Inc. makes it. Acme Inc. Then", ["Acme Inc. makes it.", " Acme Inc.", " Then"]),
    ("Foo Ltd. is big", ["Foo Ltd. is big"]),
    ("the U.S. economy grew. The U.K. Army", ["the U.S. economy grew.", " The U.K.", " Army"]),
    ("At 5 p.m. we eat. At 6 a.m. Then", ["At 5 p.m. we eat.", " At 6 a.m.", " Then"]),
    ("at the end etc.", ["at the end etc."]),
    ("at the end etc.  ", ["at the end etc.", "  "]),
    # ellipses
    ("Wait... what? Wait... Why", ["Wait... what?", " Wait...", " Why"]),
    ("Wait… what. Wait… Why", ["Wait… what.", " Wait…", " Why"]),
    ("So...", ["So..."]),
    # newlines, bullets, numbered lists, headings, paragraphs
    ("Hello\nWorld", ["Hello", "\nWorld"]),
    ("Hello.\n", ["Hello.", "\n"]),
    ("Hello  \nWorld", ["Hello", "  \nWorld"]),
    ("List:\n- a\n* b\n+ c", ["List:", "\n- a", "\n* b", "\n+ c"]),
    ("1. one\n2. two\n12) three", ["1. one", "\n2. two", "\n12) three"]),
    ("Steps:\n  1. nested", ["Steps:", "\n  1. nested"]),
    ("In 2023. Then", ["In 2023.", " Then"]),
    (
        "# Title\n\nPara one. Two.\n\n\nPara three",
        ["# Title", "\n\nPara one.", " Two.", "\n\n\nPara three"],
    ),
    ("\n\nLeading", ["\n\nLeading"]),
    ("Mr.\nSmith", ["Mr.", "\nSmith"]),
    ("a\n \n b", ["a", "\n \n b"]),
    ("\n", ["\n"]),
    ("  \n  ", ["  \n  "]),
    # code fences
    (
        f"Code:\n{FENCE}py\nx = 1. y = 2\n\nz\n{FENCE}\nAfter. Done",
        ["Code:", f"\n{FENCE}py\nx = 1. y = 2\n\nz\n{FENCE}", "\nAfter.", " Done"],
    ),
    (f"{FENCE}\na\n{FENCE}", [f"{FENCE}\na\n{FENCE}"]),
    (f"Text\n\n{FENCE}\na\n{FENCE}  \nB", ["Text", f"\n\n{FENCE}\na\n{FENCE}  ", "\nB"]),
    ("x\n~~~\ncode\n```\nstill\n~~~~\ny", ["x", "\n~~~\ncode\n```\nstill\n~~~~", "\ny"]),
    (f"x\n````\n{FENCE}\nin\n````\ny", ["x", f"\n````\n{FENCE}\nin\n````", "\ny"]),
    (
        f"x\n{FENCE}\n{FENCE}py\nin\n   {FENCE}\ny",
        ["x", f"\n{FENCE}\n{FENCE}py\nin\n   {FENCE}", "\ny"],
    ),
    (f"x\n{FENCE}\n    {FENCE}\nin", ["x", f"\n{FENCE}\n    {FENCE}\nin"]),
    (f"x\n   {FENCE}\nc\n{FENCE}", ["x", f"\n   {FENCE}\nc\n{FENCE}"]),
    (f"x\n    {FENCE}\ny", ["x", f"\n    {FENCE}", "\ny"]),
    (f"Say {FENCE}hi{FENCE}. Ok", [f"Say {FENCE}hi{FENCE}.", " Ok"]),
    (f"Intro.\n{FENCE}\nunclosed. Foo\n", ["Intro.", f"\n{FENCE}\nunclosed. Foo\n"]),
    (f"x\n{FENCE}", ["x", f"\n{FENCE}"]),
    ("x\n``\ny", ["x", "\n``", "\ny"]),
    # CJK full stops end a sentence with no space
    ("你好。世界！好吗？", ["你好。", "世界！", "好吗？"]),
    ("他说「好。」然后走了．再见", ["他说「好。」", "然后走了．", "再见"]),
    ("真的？！是的。\n下一行", ["真的？！", "是的。", "\n下一行"]),
    ("好。 Next", ["好。", " Next"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_table(text: str, expected: list[str]) -> None:
    segs = split(text)
    assert [s.text for s in segs] == expected
    assert_tiles(segs, text)
    assert [s.text for s in feed_all(list(text))] == expected


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Hi.\n", ["text", "blank"]),
        (f"Hi\n{FENCE}\nx\n{FENCE}\nBye", ["text", "code", "text"]),
        (f"{FENCE}\nopen", ["code"]),
        ("   ", ["blank"]),
        ("a.  ", ["text", "blank"]),
    ],
)
def test_kinds(text: str, kinds: list[str]) -> None:
    assert [s.kind for s in split(text)] == kinds


def test_offsets_and_indices() -> None:
    segs = split("One. Two.\nThree")
    assert [(s.start, s.end, s.index) for s in segs] == [(0, 4, 0), (4, 9, 1), (9, 15, 2)]


def test_base_and_first_index() -> None:
    seg = Segmenter(base=100, first_index=7)
    assert seg.offset == 100
    out = seg.feed("One. Two") + seg.flush()
    assert [(s.text, s.start, s.end, s.index) for s in out] == [
        ("One.", 100, 104, 7),
        (" Two", 104, 108, 8),
    ]
    assert seg.offset == 108
    assert_tiles(out, "One. Two", base=100, first_index=7)


def test_emits_as_soon_as_the_end_is_certain() -> None:
    seg = Segmenter()
    assert seg.feed("end.") == []
    assert seg.pending_chars == 4
    assert [s.text for s in seg.feed(" Next")] == ["end."]
    assert seg.pending_chars == 5
    assert seg.feed(" etc. ") == []  # ambiguous: wait for the next word
    assert [s.text for s in seg.feed("Then")] == [" Next etc."]
    assert [s.text for s in seg.feed(" done\n")] == [" Then done"]
    assert [s.text for s in seg.flush()] == ["\n"]
    assert seg.pending_chars == 0


def test_fence_is_emitted_when_its_closing_line_ends() -> None:
    seg = Segmenter()
    assert [s.text for s in seg.feed("a\n``")] == ["a"]
    assert seg.feed("`\nx. Y\n``") == []
    assert seg.feed("`") == []  # "```x" would not close it: wait for the line end
    out = seg.feed("\nb")
    assert [(s.text, s.kind) for s in out] == [("\n```\nx. Y\n```", "code")]
    assert [s.text for s in seg.flush()] == ["\nb"]


def test_cjk_waits_for_closers() -> None:
    seg = Segmenter()
    assert seg.feed("好。") == []
    assert seg.feed("」") == []
    assert [s.text for s in seg.feed("x")] == ["好。」"]


def test_force_cuts_now_and_continues() -> None:
    seg = Segmenter(base=10)
    assert seg.feed("A long sentence with") == []
    forced = seg.force()
    assert [(s.text, s.start, s.end, s.index, s.kind) for s in forced] == [
        ("A long sentence with", 10, 30, 0, "text")
    ]
    assert seg.pending_chars == 0
    assert seg.force() == []
    out = seg.feed(" no end. Next one") + seg.flush()
    assert [s.text for s in out] == [" no end.", " Next one"]
    assert [s.index for s in out] == [1, 2]


def test_force_inside_fence_keeps_code_kind() -> None:
    seg = Segmenter()
    out = seg.feed(f"x\n{FENCE}\nline one\n")
    out += seg.force()
    out += seg.feed(f"line two\n{FENCE}\ny") + seg.flush()
    assert [(s.text, s.kind) for s in out] == [
        ("x", "text"),
        (f"\n{FENCE}\nline one\n", "code"),
        (f"line two\n{FENCE}", "code"),
        ("\ny", "text"),
    ]


def test_force_before_a_late_boundary() -> None:
    seg = Segmenter()
    out = seg.feed("Foo etc. ") + seg.force() + seg.feed("Bar.") + seg.flush()
    assert [s.text for s in out] == ["Foo etc. ", "Bar."]
    assert_tiles(out, "Foo etc. Bar.")


def test_flush_starts_a_new_text() -> None:
    seg = Segmenter()
    first = seg.feed("Hi") + seg.flush()
    second = seg.feed(f"{FENCE}\nx") + seg.flush()
    assert [(s.text, s.kind) for s in first + second] == [("Hi", "text"), (f"{FENCE}\nx", "code")]
    assert [s.start for s in second] == [2]
    assert seg.flush() == []
    assert seg.feed("") == []


def test_large_single_delta() -> None:
    text = "word " * 200_000  # 1 MB, no punctuation
    segs = split(text)
    assert len(segs) == 1
    assert segs[0].text == text
    sentences = "Hello world. " * 20_000
    segs = split(sentences)
    assert len(segs) == 20_001  # the last one is the trailing blank
    assert_tiles(segs, sentences)


def test_many_one_char_deltas() -> None:
    plain = "x" * 50_000
    assert [s.text for s in feed_all(list(plain))] == [plain]
    text = ("Dr. Who etc. went home. Then 3.14 is pi!\n- item\n" * 1_000)[:50_000]
    segs = feed_all(list(text))
    assert segs == split(text)
    assert_tiles(segs, text)


def test_long_runs_in_fences_and_spaces() -> None:
    # A long run of another fence character does not close the fence; a long
    # backtick run does (and the lone fence line after it opens a new one).
    body = "~" * 20_000 + "\n" + " " * 20_000
    text = f"a\n{FENCE}\n{body}\n{FENCE}\nz. " + " " * 20_000
    segs = feed_all(list(text))
    assert segs == split(text)
    assert [s.kind for s in segs] == ["text", "code", "text", "blank"]
    closed = f"a\n{FENCE}\nx\n" + "`" * 20_000 + f"\nb\n{FENCE}\nc"
    segs = feed_all(list(closed))
    assert segs == split(closed)
    assert [s.kind for s in segs] == ["text", "code", "text", "code"]


# ---------------------------------------------------------------------- properties

WORDS = [
    "Hello", "world", "the", "Mr", "Dr", "etc", "Inc", "U.S", "a.m", "e.g", "et", "al", "No",
    "J", "I", "3.14", "v2.1.0", "12", "1", "https://x.io/a.b", "bob@x.com", "你好", "世界",
]  # fmt: skip
PUNCT = [
    ".",
    "!",
    "?",
    "...",
    "…",
    "?!",
    ".)",
    '."',
    "’",
    "»",
    "]",
    "。",
    "！",
    "？",
    "．",
    "」",
    "』",
]
SPACES = [" ", " ", "  ", "\n", "\n\n", "\t", " \n ", "   "]
FENCES = ["```", "~~~", "````", "``", "```py", "\n```\n", "\n~~~\n", "- ", "1. ", "12) "]

sentenceish = st.lists(
    st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(PUNCT),
        st.sampled_from(SPACES),
        st.sampled_from(FENCES),
    ),
    max_size=40,
).map("".join)
small_alphabet = st.text(alphabet=st.sampled_from(list(" \n.!?…`~\"')A1a。」．\t")), max_size=60)
any_text = st.one_of(sentenceish, small_alphabet, st.text(max_size=60))


@st.composite
def cut_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(any_text)
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *points, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(cut_text())
def test_cuts_do_not_matter(case: tuple[str, list[str]]) -> None:
    text, deltas = case
    segs = feed_all(deltas)
    assert_tiles(segs, text)
    assert segs == split(text)


@settings(max_examples=150, deadline=None)
@given(any_text)
def test_one_char_deltas_match_split(text: str) -> None:
    assert feed_all(list(text)) == split(text)


@settings(max_examples=150, deadline=None)
@given(cut_text(), st.data())
def test_force_keeps_the_tiling(case: tuple[str, list[str]], data: st.DataObject) -> None:
    text, deltas = case
    seg = Segmenter(base=5, first_index=3)
    out: list[Segment] = []
    for delta in deltas:
        out += seg.feed(delta)
        assert seg.offset == 5 + sum(len(s.text) for s in out) + seg.pending_chars
        if data.draw(st.booleans()):
            out += seg.force()
            assert seg.pending_chars == 0
    out += seg.flush()
    assert_tiles(out, text, base=5, first_index=3)
