"""lexical_support, rank_windows and LexicalSupport: scores, ranking, findings, caching."""

from __future__ import annotations

import pytest

import detectors.passages as passages
from detectors.base import CheckContext, Finding, Passage, Segment
from detectors.lexical import LexicalSupport, lexical_support, rank_windows
from detectors.passages import Window, make_windows, normalize
from guardrails.errors import ConfigError

PAD = "Earlier text. "
WINDOWS = (
    Window(0, 0, 36, "The Eiffel Tower is 330 metres tall."),
    Window(0, 37, 62, "It was completed in 1889."),
    Window(1, 0, 44, "Gustave Eiffel's company designed the tower."),
)


@pytest.mark.parametrize(
    ("claim", "score", "index"),
    [
        ("The Eiffel Tower is 330 metres tall.", 1.0, 0),
        ("the eiffel tower is 330 METRES tall", 1.0, 0),
        ("It was completed in 1889", 1.0, 1),
        ("Eiffel's company designed it.", None, 2),
        ("Bananas are rich in potassium.", None, None),
    ],
)
def test_lexical_support(claim: str, score: float | None, index: int | None) -> None:
    got, at = lexical_support(claim, WINDOWS)
    if score is not None:
        assert got == pytest.approx(score)
    else:
        assert 0.0 <= got < 1.0
    if index is not None:
        assert at == index
    normalized = [normalize(w.text) for w in WINDOWS]
    assert lexical_support(claim, WINDOWS, normalized=normalized) == (got, at)


def test_lexical_support_edges() -> None:
    assert lexical_support("Anything at all.", ()) == (0.0, -1)
    low, at = lexical_support("Bananas are rich in potassium.", WINDOWS)
    assert low < 0.5 and at >= 0
    with pytest.raises(ValueError, match="normalized"):
        lexical_support("x", WINDOWS, normalized=["one"])


@pytest.mark.parametrize(
    ("claim", "k", "order"),
    [
        ("Eiffel's company designed the tower", 3, [2, 0, 1]),
        ("The tower was completed in 1889.", 1, [1]),
        ("The Eiffel Tower is tall.", 2, [0, 2]),
        ("anything", 0, []),
        ("anything", -1, []),
    ],
)
def test_rank_windows(claim: str, k: int, order: list[int]) -> None:
    ranked = rank_windows(claim, WINDOWS, k)
    assert [i for i, _ in ranked] == order
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_rank_windows_ties_keep_window_order() -> None:
    same = (Window(0, 0, 5, "a b c"), Window(1, 0, 5, "a b c"), Window(2, 0, 5, "x y z"))
    assert [i for i, _ in rank_windows("a b c", same, 3)] == [0, 1, 2]


CONTEXT = [
    "Unrelated passage about cooking pasta in salted water.",
    "The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's Fair.",
]


def run(claim: str, detector: LexicalSupport | None = None) -> tuple[str, list[Finding]]:
    upstream = PAD + claim
    segment = Segment(claim, len(PAD), len(upstream), index=1)
    ctx = CheckContext([Passage(t, i) for i, t in enumerate(CONTEXT)], prefix=PAD)
    return upstream, (detector or LexicalSupport()).check(segment, ctx)


@pytest.mark.parametrize(
    ("claim", "flagged"),
    [
        (" The Eiffel Tower is 330 metres tall.", False),
        (" It was completed in 1889.", False),
        (" Bananas grow on giant herbaceous plants in Ecuador.", True),
        (" Hope this helps!", False),  # not a claim: not checked
        (" What is pasta?", False),
        ("\n## Steps", False),
    ],
)
def test_detector_flags_only_unsupported_claims(claim: str, flagged: bool) -> None:
    assert bool(run(claim)[1]) is flagged


def test_finding_fields() -> None:
    claim = "  Bananas grow on giant herbaceous plants in Ecuador. "
    upstream, findings = run(claim)
    (finding,) = findings
    assert finding.detector == "lexical"
    assert finding.label == "low_lexical_support"
    assert upstream[finding.span[0] : finding.span[1]] == claim.strip()
    assert finding.span == (len(PAD) + 2, len(PAD) + len(claim) - 1)
    support = finding.data["support"]
    assert finding.score == pytest.approx(1 - support)
    (evidence,) = finding.evidence
    assert CONTEXT[evidence.passage][evidence.start : evidence.end] == evidence.text
    assert evidence.scores == {"lexical": support}


@pytest.mark.parametrize(("threshold", "flagged"), [(0.3, False), (0.99, True)])
def test_threshold(threshold: float, flagged: bool) -> None:
    claim = "The Eiffel Tower was finished for the fair."
    assert bool(run(claim, LexicalSupport(threshold=threshold))[1]) is flagged


def test_no_passages() -> None:
    segment = Segment("Bananas are yellow.", 0, 19)
    assert LexicalSupport().check(segment, CheckContext()) == []


def test_windows_computed_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = passages.make_windows

    def counting(*args: object, **kwargs: object) -> tuple[Window, ...]:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passages, "make_windows", counting)
    ctx = CheckContext([Passage(t, i) for i, t in enumerate(CONTEXT)])
    detector = LexicalSupport(name="words")
    detector.check(Segment("Bananas are yellow and sweet.", 0, 29), ctx)
    detector.check(Segment("Cherries are red and sour.", 29, 55), ctx)
    LexicalSupport(name="other").check(Segment("Plums are purple.", 55, 72), ctx)
    assert calls == 1  # shared by every check and detector of the call
    assert ctx.memo["words:normalized"] == tuple(
        normalize(w.text) for w in make_windows(ctx.passages)
    )


@pytest.mark.parametrize("threshold", [0.0, 1.5, -0.2, True, "0.5"])
def test_bad_threshold(threshold: object) -> None:
    with pytest.raises(ConfigError, match="threshold"):
        LexicalSupport(threshold=threshold)  # type: ignore[arg-type]
