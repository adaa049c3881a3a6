"""is_claim / ClaimFilter: what asserts something checkable and what is just talk."""

from __future__ import annotations

import pytest

from detectors.base import CheckContext, Segment, SegmentKind
from detectors.claims import ClaimFilter, claim_statement, is_claim, non_claim_reason, presupposed

NOT_CLAIMS = [
    # greetings, thanks, sign-offs
    ("Sure!", "greeting"),
    ("Sure thing.", "greeting"),
    ("Certainly!", "greeting"),
    ("Of course.", "greeting"),
    ("Great question.", "greeting"),
    ("Hello!", "greeting"),
    ("Hi there,", "greeting"),
    ("Thanks!", "greeting"),
    ("Thank you for asking.", "greeting"),
    ("You’re welcome.", "greeting"),  # noqa: RUF001 - a curly apostrophe
    ("Hope this helps!", "greeting"),
    ("I hope this helps you.", "greeting"),
    ("Let me know if you have other questions.", "greeting"),
    ("Feel free to ask more.", "greeting"),
    ("If you have any other questions, just ask.", "greeting"),
    ("Happy to help!", "greeting"),
    ("Good luck!", "greeting"),
    ("Best regards,", "greeting"),
    ("> Hope this helps!", "greeting"),
    # questions
    ("What is the capital?", "question"),
    ("Would you like more details?", "question"),
    ("Is there anything else I can help with?", "question"),
    ('Did he say "yes?"', "question"),
    ("Do you know when the tower opened?", "question"),
    ("Did you hear about the new bridge?", "question"),
    ("Have you heard of Gustave Eiffel?", "question"),
    ("Did you know?", "question"),
    # hedges and meta talk
    ("I'm not sure.", "hedge"),
    ("I don't know.", "hedge"),
    ("It depends.", "hedge"),
    ("Here is what I found:", "hedge"),
    ("Here's a summary:", "hedge"),
    ("Let me explain.", "hedge"),
    ("As an AI language model, I cannot browse the web.", "hedge"),
    # transitions
    ("In summary,", "transition"),
    ("However,", "transition"),
    ("Finally,", "transition"),
    ("For example:", "transition"),
    # formatting
    ("## Steps", "formatting"),
    ("# Overview", "formatting"),
    ("- Apples", "formatting"),
    ("* Step one", "formatting"),
    ("---", "formatting"),
    ("***", "formatting"),
    ("| --- | --- |", "formatting"),
    ("Ingredients:", "formatting"),
    ("**Note:**", "formatting"),
    ("🙂", "formatting"),
    # fillers, code
    ("Yes.", "too short"),
    ("No.", "too short"),
    ("Not quite.", "too short"),
    ("`pip install groundrail`", "code"),
    ("```python\nprint(1)\n```", "code"),
]

CLAIMS = [
    "Paris is the capital of France.",
    "Sure, Paris is the capital of France.",
    "Paris.",  # a one-word answer can be wrong
    "Sydney.",
    "The tower is 330 m tall.",
    "- The tower opened in 1889.",
    "- Paris is big",
    "1. Preheat the oven to 200 °C.",
    "## Revenue grew 20% in 2021",
    "However, the bridge collapsed in 1998.",
    "In summary, the drug reduced symptoms by 40%.",
    "Here is why the bridge collapsed in 1998: corrosion.",
    "Thanks to its location, Paris attracts 30 million visitors.",
    "Hope Diamond weighs 45.52 carats.",
    "Sure enough, prices doubled in 2020.",
    "Great Britain left the EU in 2020.",
    "It depends on the temperature, which is 20 °C.",
    "Thank you notes were popular in 1900.",
    "Yes, the tower is 330 metres tall.",
    "The answer is yes.",
    "Water boils at 100 °C at sea level.",
    "Einstein was born in Ulm.",
    "Overall, sales rose 5%.",
    "Next, the engine was redesigned.",
    "The function uses `numpy.mean` to average values.",
    "No one knows who built it.",
    "Welcome to Paris, the city of light.",
    "Let me know is a phrase some people dislike in e-mails.",
    "Hi-C is a sequencing technique.",
    "The study had 120 participants:",
    "Note that the museum closes at 6 pm.",
    "I think the bridge opened in 1937.",
    "Did you know that the tower opened in 1889?",  # presupposes a statement
]

PRESUPPOSING = [
    ("Did you know that the tower opened in 1889?", "the tower opened in 1889"),
    ("yeah, did you know iowa painted the locker room pink ?", "iowa painted the locker room pink"),
    ("Have you heard that Jefferson wrote his own Bible?", "Jefferson wrote his own Bible"),
    ("Are you aware that the museum is closed?", "the museum is closed"),
    ("Do you know when the tower opened?", None),
    ("Did you hear about the new bridge?", None),
    ("The tower opened in 1889.", None),
]


@pytest.mark.parametrize(("text", "reason"), NOT_CLAIMS)
def test_not_claims(text: str, reason: str) -> None:
    assert non_claim_reason(text) == reason
    assert not is_claim(text)


@pytest.mark.parametrize(("text", "statement"), PRESUPPOSING)
def test_presupposed_statements(text: str, statement: str | None) -> None:
    assert presupposed(text) == statement


def test_claim_statement() -> None:
    assert claim_statement(" Did you know that it opened in 1889? ") == "it opened in 1889"
    assert claim_statement(" It opened in 1889. ") == "It opened in 1889."
    assert claim_statement("Do you know when it opened?") is None
    assert claim_statement("Thanks!") is None
    assert claim_statement("x = 1", "code") is None


@pytest.mark.parametrize("text", CLAIMS)
def test_claims(text: str) -> None:
    assert non_claim_reason(text) is None
    assert is_claim(text)


def test_tables_are_large_enough() -> None:
    assert len(NOT_CLAIMS) >= 30
    assert len(CLAIMS) >= 30


PAD = "Earlier answer text. "


def check(text: str, kind: SegmentKind = "text") -> list[tuple[str, str, str]]:
    upstream = PAD + text
    segment = Segment(text, len(PAD), len(upstream), index=1, kind=kind)
    findings = ClaimFilter(name="talk").check(segment, CheckContext())
    return [(f.label, upstream[f.span[0] : f.span[1]], f.data["reason"]) for f in findings]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (" Hope this helps!", "text", [("not_a_claim", "Hope this helps!", "greeting")]),
        ("\n\n## Steps", "text", [("not_a_claim", "## Steps", "formatting")]),
        ("\n- Apples  ", "text", [("not_a_claim", "- Apples", "formatting")]),
        (" Is it 330 m tall?", "text", [("not_a_claim", "Is it 330 m tall?", "question")]),
        ("\n```\nx = 1\n```", "code", [("not_a_claim", "```\nx = 1\n```", "code")]),
        (
            "\nx = 1  # no fence in this segment's text",
            "code",
            [
                ("not_a_claim", "x = 1  # no fence in this segment's text", "code"),
            ],
        ),
        (" Paris is the capital of France.", "text", []),
        ("   \n  ", "blank", []),
        ("   ", "text", []),
    ],
)
def test_claim_filter_findings(
    text: str, kind: SegmentKind, expected: list[tuple[str, str, str]]
) -> None:
    assert check(text, kind) == expected


def test_claim_filter_finding_fields() -> None:
    segment = Segment(" Sure!", 40, 46)
    (finding,) = ClaimFilter().check(segment, CheckContext())
    assert finding.detector == "claims"
    assert finding.span == (41, 46)
    assert finding.score == 1.0
    assert "greeting" in finding.message
    assert finding.replacement is None
