"""Context windows: packing, overlap, long sentences, coverage, caching; normalize and verbatim."""

from __future__ import annotations

import pytest

from detectors.base import CheckContext, Passage
from detectors.passages import (
    Window,
    estimate_tokens,
    make_windows,
    normalize,
    verbatim_window,
    windows_for,
)

TOWER = (
    "The Eiffel Tower is 330 metres tall. It was completed in 1889. "
    "It is the most visited paid monument. Gustave Eiffel's company built it."
)


def count_words(text: str) -> int:
    """A count_tokens that counts whitespace-separated words (easy to reason about)."""
    return len(text.split())


def covered(text: str, windows: tuple[Window, ...], passage: int) -> set[int]:
    return {i for w in windows if w.passage == passage for i in range(w.start, w.end)}


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("word", 2),  # 1 * 1.3 -> 2
        ("Hello, world!", 6),  # 4 marks -> 5.2 -> 6
        ("one two three four five six seven eight nine ten", 13),
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_window_text_matches_its_passage_and_starts_without_whitespace() -> None:
    passages = [Passage(TOWER, 0), Passage("  \n Leading space. Second one.\n", 1)]
    windows = make_windows(passages, max_tokens=12, count_tokens=count_words)
    assert windows
    for w in windows:
        assert w.text == passages[w.passage].text[w.start : w.end]
        assert w.text == w.text.strip()
    assert [w.text for w in windows if w.passage == 1] == ["Leading space. Second one."]


@pytest.mark.parametrize(
    ("lengths", "max_tokens", "overlap", "expected"),
    [
        ([7, 5, 7, 5], 100, 1, ["0-3"]),
        ([7, 5, 7, 5], 12, 0, ["0-1", "2-3"]),
        ([7, 5, 7, 5], 12, 1, ["0-1", "1-2", "2-3"]),
        ([7, 5, 7, 5], 17, 1, ["0-1", "1-3"]),
        ([3, 3, 3, 3, 3], 9, 2, ["0-2", "1-3", "2-4"]),  # two shared sentences
        ([7, 5, 7, 5], 7, 1, ["0-0", "1-1", "2-2", "3-3"]),  # no room to share
        ([5, 7, 7], 12, 1, ["0-1", "2-2"]),  # sharing "1" would leave no room for "2"
        ([5, 7, 7], 12, 3, ["0-1", "2-2"]),
    ],
)
def test_packing_and_overlap(
    lengths: list[int], max_tokens: int, overlap: int, expected: list[str]
) -> None:
    sentences = [" ".join(["w"] * n) + "." for n in lengths]
    text = " ".join(sentences)
    starts = [sum(len(s) + 1 for s in sentences[:i]) for i in range(len(sentences))]
    ends = [start + len(s) for start, s in zip(starts, sentences, strict=True)]
    windows = make_windows(
        [Passage(text, 0)], max_tokens=max_tokens, overlap=overlap, count_tokens=count_words
    )
    assert [f"{starts.index(w.start)}-{ends.index(w.end)}" for w in windows] == expected
    assert all(count_words(w.text) <= max_tokens for w in windows)


def test_long_sentence_is_split_at_word_boundaries_never_dropped() -> None:
    long = " ".join(f"w{i}" for i in range(25)) + "."
    text = f"Short one. {long} Tail end."
    windows = make_windows([Passage(text, 0)], max_tokens=10, overlap=1, count_tokens=count_words)
    assert all(count_words(w.text) <= 10 for w in windows)
    non_space = {i for i, c in enumerate(text) if not c.isspace()}
    assert non_space <= covered(text, windows, 0)
    for w in windows:  # cuts fall between words
        assert w.start == 0 or text[w.start - 1] == " "
        assert w.end == len(text) or text[w.end] == " "


def test_overlong_word_is_cut_by_characters() -> None:
    blob = "x" * 50
    text = f"See {blob} now."
    windows = make_windows([Passage(text, 0)], max_tokens=3, count_tokens=len_tokens)
    assert all(len_tokens(w.text) <= 3 for w in windows)
    assert {i for i, c in enumerate(text) if c != " "} <= covered(text, windows, 0)


def len_tokens(text: str) -> int:
    return -(-len(text) // 20)  # one token per 20 characters


def test_default_counter_and_every_character_covered() -> None:
    text = TOWER * 20
    windows = make_windows([Passage(text, 0), Passage("", 1), Passage(" \n ", 2)], max_tokens=40)
    assert all(estimate_tokens(w.text) <= 40 for w in windows)
    assert {w.passage for w in windows} == {0}
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered(text, windows, 0)
    assert len({(w.start, w.end) for w in windows}) == len(windows)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 1), (-3, 0), (10, -1)])
def test_bad_options(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        make_windows([Passage(TOWER, 0)], max_tokens=max_tokens, overlap=overlap)


def test_windows_for_caches_in_memo() -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return count_words(text)

    ctx = CheckContext([Passage(TOWER, 0)])
    first = windows_for(ctx, max_tokens=12, count_tokens=counting)
    made = calls
    assert made > 0
    assert windows_for(ctx, max_tokens=12, count_tokens=counting) is first
    assert calls == made  # computed once per call context
    assert windows_for(ctx, max_tokens=30, count_tokens=counting) != first  # other options
    assert all(key.startswith("passages:") for key in ctx.memo)
    assert windows_for(CheckContext()) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  “Hello,”  World—again! ", "hello world-again"),
        ("It’s (20%) of U.S. sales...", "it's 20% of u.s sales"),  # noqa: RUF001
        ("Straße\tand\n\nＦｕｌｌ", "strasse and full"),  # noqa: RUF001 - NFKC folds these
        ("-- * --", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("claim", "found"),
    [
        ("The Eiffel Tower is 330 metres tall.", 0),
        ("the eiffel tower is 330 METRES tall", 0),
        ("It was completed in 1889, and it is the most visited", 1),  # spans a window boundary
        ("Eiffel Tower is 330", 0),
        ("It was completed", None),  # fewer than 4 words
        ("The Eiffel Tower is 300 metres tall.", None),
        ("Tower is 330 metres tall and old", None),
        ("iffel Tower is 330", None),  # whole words only
    ],
)
def test_verbatim_window(claim: str, found: int | None) -> None:
    text = TOWER.replace("1889. It", "1889, and it")
    windows = make_windows([Passage(text, 0)], max_tokens=14, count_tokens=count_words)
    window = verbatim_window(claim, windows)
    assert (None if window is None else windows.index(window)) == found
    normalized = [normalize(w.text) for w in windows]
    assert verbatim_window(claim, windows, normalized=normalized) == window
