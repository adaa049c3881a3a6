"""Which sentences assert something checkable, and which are just talk.

::

    ClaimFilter()          # YAML type "claims"

Greetings, thanks and sign-offs ("Sure!", "Hope this helps!"), questions,
hedges and meta talk ("I'm not sure.", "Here is what I found:"), bare
transitions ("However,", "In summary,"), formatting (headings, short bullets,
separators), code and one-word fillers ("Yes.") assert nothing that a context
could support or contradict. Grounding detectors skip them through
:func:`is_claim` and check :func:`claim_statement` of the rest; :class:`ClaimFilter`
reports them so a policy can, say, let them through unchecked. The rules are
conservative: a sentence they do not recognise is a claim. A question that
presupposes a statement ("Did you know that the tower opened in 1925?") is one:
the statement to check is what it takes for granted ("the tower opened in 1925",
:func:`presupposed`).
"""

from __future__ import annotations

import re

from detectors.base import CheckContext, Finding, Segment
from detectors.passages import normalize

__all__ = ["ClaimFilter", "claim_statement", "is_claim", "non_claim_reason", "presupposed"]

_SEPARATOR = re.compile(r"[-*_=~+|:#.\s]+")
_HEADING = re.compile(r"#{1,6}(?:\s|$)")
_BULLET = re.compile(r"(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)])\s+")
_QUOTE_MARK = re.compile(r">\s*")
_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)[*_]|[*_](?!\w)")
_INLINE_CODE = re.compile(r"`[^`]+`")
_DIGIT = re.compile(r"\d")
_ALNUM = re.compile(r"[^\W_]")

# Each pattern must match the whole normalized sentence (see passages.normalize).
_GREETING = re.compile(
    r"(?:(?:oh |well )?(?:sure|sure thing|certainly|of course|absolutely|definitely|okay|ok"
    r"|great|perfect|excellent|awesome|no problem|no worries|got it|understood|alright"
    r"|hello|hi|hey|hi there|hello there|greetings|good (?:morning|afternoon|evening)"
    r"|(?:great|good|excellent|interesting) question|what a (?:great|good) question"
    r"|thanks|thank you|thanks a lot|thank you (?:so|very) much|many thanks|cheers"
    r"|you're welcome|my pleasure|glad to help|happy to help|i'd be (?:happy|glad) to help"
    r"|here you go|here it is|good luck|best regards|kind regards|best of luck|take care"
    r"|have a (?:great|good|nice) (?:day|one|time)|enjoy)(?: [a-z]+)?"
    r"|(?:thanks|thank you)(?: so much| very much)? for .*"
    r"|(?:i )?hope (?:this|that|it) (?:helps|answers|clarifies|is helpful).*"
    r"|(?:please )?(?:let me know(?: (?:if|when|whether|what|how|in|should|anytime)\b.*)?"
    r"|feel free to .*|(?:don't|do not) hesitate to .*)"
    r"|if you have (?:any )?(?:other |more |further |additional )?questions.*"
    r"|(?:i'm|i am|i'd be|i would be) (?:happy|glad) to (?:help|assist|explain).*"
    r"|is there anything else.*|anything else i can help with)"
)
_HEDGE = re.compile(
    r"(?:i'm not (?:sure|certain)|i am not (?:sure|certain)|not sure|i don't know"
    r"|i do not know|i'm not aware|it depends|that depends|hard to say|it's hard to say"
    r"|i can't (?:say|be sure)|i cannot (?:say|be sure)|i could be wrong|i might be wrong"
    r"|let me (?:explain|check|think|see|look|break (?:it|this) down|summarize|clarify)"
    r"|let's (?:break (?:it|this) down|see|take a look|dive in|look at (?:it|this))"
    r"|here(?:'s| is| are) (?:what i found|the answer|the details|the steps|a summary|an overview"
    r"|an example|a breakdown|how|what|why|some|more)(?: [a-z']+){0,6}"
    r"|(?:below|the following) (?:is|are) (?:[a-z']+ ?){0,6}"
    r"|as an ai(?: language model| assistant| model)?(?: [a-z']+){0,12}"
    r"|i (?:can't|cannot|do not|don't) have (?:access|real-time|browsing)(?: [a-z'-]+){0,10})"
)
_TRANSITION = re.compile(
    r"(?:however|additionally|furthermore|moreover|also|besides|first|firstly|second|secondly"
    r"|third|thirdly|next|then|finally|lastly|overall|so|therefore|thus|hence|meanwhile"
    r"|in addition|on the other hand|that said|having said that|for example|for instance"
    r"|in summary|in conclusion|to summarize|to sum up|in short|in brief|in other words"
    r"|to conclude|all in all|in general|generally speaking|for context|as a result"
    r"|with that in mind|in that case|that being said|by the way|anyway|now|well)"
)
# "did you know (that) X?", "have you heard that X?", "are you aware that X?", after
# fillers such as "yeah,"; not "do you know when/if X?" or "did you know about X?".
_PRESUPPOSING = re.compile(
    r"(?:(?:hey|so|well|yes|yeah|oh|wow|ok|okay|haha|lol)\W*\s+)*"
    r"(?:(?:did|do|does) you (?:know|realize|realise)(?: that)?"
    r"|(?:have|did) you (?:hear|heard|read|seen) that|(?:are|were) you aware that)\s+"
    r"(?!(?:what|when|where|who|whom|whose|why|how|which|if|whether|about|of|anything|much"
    r"|any|more)\b)(?P<statement>\w.*?)[\s?]*",
    re.IGNORECASE,
)
_FILLER_WORDS = """yes no not quite exactly ok okay right well indeed correct hmm alright yeah
    yep nope oh ah wow really sure true false maybe perhaps certainly absolutely"""
_FILLERS = frozenset(_FILLER_WORDS.split())


def _strip_markup(text: str) -> tuple[str, str | None]:
    """``(body, marker)``: the line without Markdown prefixes, and which prefix it had."""
    marker: str | None = None
    body = text.strip()
    if m := _QUOTE_MARK.match(body):
        body = body[m.end() :]
    if _HEADING.match(body):
        marker, body = "heading", body.lstrip("#").strip()
    elif m := _BULLET.match(body):
        marker, body = "bullet", body[m.end() :]
    return _EMPHASIS.sub("", body).strip(), marker


def non_claim_reason(text: str, kind: str = "text") -> str | None:
    """Why ``text`` asserts nothing checkable, or ``None`` when it may be a claim.

    Reasons: ``"code"``, ``"formatting"``, ``"question"``, ``"greeting"``,
    ``"hedge"``, ``"transition"``, ``"too short"``. Blank text is
    ``"formatting"``. ``kind`` is the segment kind (``"code"`` is always code).
    """
    if kind == "code" or text.lstrip().startswith(("```", "~~~")):
        return "code"
    raw = text.strip()
    if not raw or _SEPARATOR.fullmatch(raw):
        return "formatting"
    body, marker = _strip_markup(raw)
    if _INLINE_CODE.fullmatch(body.rstrip(".")):
        return "code"
    if not _ALNUM.search(body):
        return "formatting"
    words = body.split()
    digits = _DIGIT.search(body) is not None
    if marker == "heading" and (not digits or body.endswith(":")) and len(words) <= 8:
        return "formatting"
    if marker == "bullet" and len(words) < 3:
        return "formatting"
    if body.rstrip("\"')]*_ ").endswith("?") and presupposed(body) is None:
        return "question"
    norm = normalize(body)
    if _GREETING.fullmatch(norm):
        return "greeting"
    if _HEDGE.fullmatch(norm):
        return "hedge"
    if _TRANSITION.fullmatch(norm):
        return "transition"
    if body.endswith(":") and len(words) < 3 and not digits:
        return "formatting"  # a label such as "Ingredients:"
    if len(words) <= 3 and all(w in _FILLERS for w in norm.split()):
        return "too short"
    return None


def presupposed(text: str) -> str | None:
    """The statement a question such as "Did you know that X?" takes for granted
    (``"X"``), or ``None`` for any other text."""
    m = _PRESUPPOSING.fullmatch(text.strip())
    return m.group("statement") if m else None


def claim_statement(text: str, kind: str = "text") -> str | None:
    """What to check ``text`` for: the statement a presupposing question takes for
    granted, else the text itself (stripped); ``None`` when it is no claim."""
    if non_claim_reason(text, kind) is not None:
        return None
    return presupposed(text) or text.strip()


def is_claim(text: str, kind: str = "text") -> bool:
    """True when ``text`` may assert something a context can support or contradict.

    Conservative: anything :func:`non_claim_reason` does not recognise is a claim.
    """
    return non_claim_reason(text, kind) is None


class ClaimFilter:
    """Report sentences that assert nothing checkable.

    Label ``"not_a_claim"`` (score 1.0) over the segment without its surrounding
    whitespace; the message and ``data["reason"]`` say why (greeting, question,
    hedge, formatting, transition, too short, code). Blank segments get no
    finding. It needs no context.
    """

    cpu_bound: bool = False

    def __init__(self, *, name: str = "claims") -> None:
        self.name = name

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Return one ``not_a_claim`` finding when the segment is not a claim."""
        text = segment.text
        if segment.kind == "blank" or not text.strip():
            return []
        reason = non_claim_reason(text, segment.kind)
        if reason is None:
            return []
        lead = len(text) - len(text.lstrip())
        end = len(text.rstrip())
        return [
            Finding(
                detector=self.name,
                label="not_a_claim",
                span=(segment.start + lead, segment.start + end),
                score=1.0,
                message=f"not a claim ({reason}): nothing to check against the context",
                data={"reason": reason},
            )
        ]
