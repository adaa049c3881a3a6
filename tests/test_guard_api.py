"""The public Guard API: validate, stream, events, wrap, context, settings, hooks."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from conftest import Slow
from pydantic import BaseModel

import guardrails as gr
from detectors.banned import BannedPhrases
from detectors.base import CheckContext, Evidence, Finding, Passage, Segment
from detectors.json_schema import JsonSchemaDetector
from detectors.pii import PIIDetector
from guardrails.events import ActionEvent, Done, FindingEvent, TextDelta
from guardrails.testing import FakeLLM, check_accounting
from policies import Block, Correct, Cut, Policy, Regenerate, Rule, When

REDACT = Policy([Rule(When("pii"), Correct("redact"))])


def pii_guard(**kwargs: object) -> gr.Guard:
    return gr.Guard([PIIDetector()], REDACT, **kwargs)  # type: ignore[arg-type]


def regen_guard() -> gr.Guard:
    policy = Policy([Rule(When("banned"), Regenerate(1, Cut()))])
    return gr.Guard([BannedPhrases(phrases=["as an ai"])], policy)


def test_validate_and_avalidate_agree() -> None:
    text = "Contact jo@example.org. Or call +1 415 555 0100 tomorrow."
    guard = pii_guard()
    sync = guard.validate(text)
    async_ = asyncio.run(guard.avalidate(text))
    assert sync.text == async_.text == "Contact [EMAIL]. Or call [PHONE] tomorrow."
    assert [f.label for f in sync.findings] == ["email", "phone"]
    assert sync.passed and sync.support == 1.0
    assert [s.text for s in sync.segments] == [
        "Contact jo@example.org.",
        " Or call +1 415 555 0100 tomorrow.",
    ]
    assert [s.fate for s in sync.segments] == ["redacted", "redacted"]
    span = sync.findings[0].span
    assert text[span[0] : span[1]] == "jo@example.org"


def test_stream_and_astream_yield_guarded_text() -> None:
    guard = pii_guard()
    llm = FakeLLM("Hi there. Mail me at ann@corp.io please. Bye.", chunk=3)
    out = list(guard.stream(llm.stream()))
    assert "".join(out) == "Hi there. Mail me at [EMAIL] please. Bye."
    assert len(out) > 2  # released sentence by sentence, not at the end

    async def collect() -> list[str]:
        return [
            d
            async for d in guard.astream(
                FakeLLM("Hi there. Mail me at ann@corp.io please. Bye.").astream()
            )
        ]

    assert "".join(asyncio.run(collect())) == "Hi there. Mail me at [EMAIL] please. Bye."


def test_stream_accepts_a_plain_string_and_skips_none_chunks() -> None:
    guard = pii_guard()
    assert "".join(guard.stream("Just one sentence.")) == "Just one sentence."
    assert "".join(guard.stream(iter(["A ", None, "", "b."]))) == "A b."


def test_non_text_chunk_is_an_upstream_error_naming_the_type() -> None:
    guard = pii_guard()
    with pytest.raises(gr.UpstreamError, match="yielded a int") as info:
        list(guard.stream(iter(["Fine so far. ", 42, "never"])))
    assert info.value.partial is not None
    assert info.value.partial.text == "Fine so far. "


def test_pass_mode_stream_is_refused_with_a_pointer_to_events() -> None:
    guard = pii_guard(settings=gr.StreamSettings(mode="pass"))
    with pytest.raises(gr.ConfigError, match="events"):
        list(guard.stream(["x."]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "both"}, "mode"),
        ({"max_hold_chars": 0}, "max_hold_chars"),
        ({"deadline_ms": -1}, "deadline_ms"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(gr.ConfigError, match=match):
        gr.StreamSettings(**kwargs)  # type: ignore[arg-type]


def test_rule_naming_an_unknown_detector_is_a_config_error() -> None:
    with pytest.raises(gr.ConfigError, match="'pi'"):
        gr.Guard([PIIDetector()], Policy([Rule(When("pi"), Cut())]))


def test_duplicate_detector_names_are_a_config_error() -> None:
    with pytest.raises(gr.ConfigError, match="unique"):
        gr.Guard([PIIDetector(), PIIDetector()])


# ---------------------------------------------------------------- context


@dataclass
class Doc:
    page_content: str
    metadata: dict[str, str]


class Seen:
    name = "seen"
    cpu_bound = False

    def __init__(self) -> None:
        self.passages: list[tuple[Passage, ...]] = []

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        self.passages.append(ctx.passages)
        return []


@pytest.mark.parametrize(
    ("context", "texts"),
    [
        (None, []),
        ("one passage", ["one passage"]),
        (["a", "b"], ["a", "b"]),
        ([Doc("doc text", {"src": "x"})], ["doc text"]),
        (Doc("single doc", {}), ["single doc"]),
    ],
)
def test_context_shapes_are_normalised(context: object, texts: list[str]) -> None:
    seen = Seen()
    gr.Guard([seen]).validate("A. B.", context)
    assert seen.passages and all(p == seen.passages[0] for p in seen.passages)
    assert [p.text for p in seen.passages[0]] == texts
    if isinstance(context, list) and context and isinstance(context[0], Doc):
        assert seen.passages[0][0].metadata == {"src": "x"}


def test_bad_context_item_names_its_index_and_type() -> None:
    with pytest.raises(TypeError, match="context item 1 is a int"):
        gr.Guard([Seen()]).validate("A.", ["fine", 3])


# ----------------------------------------------------------------- hooks


def test_on_event_sees_every_event_with_monotonic_timestamps() -> None:
    seen: list[gr.Event] = []
    guard = pii_guard(on_event=seen.append)
    per_call: list[gr.Event] = []
    events = list(guard.events(["Mail ", "x@y.com now. Bye."], on_event=per_call.append))
    assert seen == events == per_call
    stamps = [e.t for e in events]
    assert stamps == sorted(stamps)
    assert {type(e) for e in events} == {TextDelta, FindingEvent, ActionEvent, Done}


def test_findings_and_actions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="guardrails"):
        pii_guard().validate("Mail x@y.com now.")
    messages = [r.getMessage() for r in caplog.records]
    assert any("finding pii/email" in m for m in messages)
    assert any("action redact" in m for m in messages)


# ------------------------------------------------------------------ hold


def test_max_hold_chars_releases_a_long_unterminated_segment() -> None:
    guard = pii_guard(settings=gr.StreamSettings(max_hold_chars=10))
    sg = guard.stream_guard()
    released = []
    for delta in ["a" * 6, "b" * 6, "c" * 3]:
        released += [e.text for e in sg.feed(delta) if isinstance(e, TextDelta)]
    assert released == ["a" * 6 + "b" * 6]  # forced out once past 10 chars, before the end
    events = sg.finish()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["ccc"]


def test_max_hold_ms_releases_a_stalled_segment_with_an_injected_clock() -> None:
    now = [0.0]
    guard = pii_guard(settings=gr.StreamSettings(max_hold_ms=50))
    sg = guard.stream_guard()
    sg.clock = lambda: now[0]
    assert sg.feed("no end in sight") == []
    assert sg.next_deadline() == pytest.approx(0.05)
    now[0] = 0.049
    assert sg.tick() == []
    now[0] = 0.05
    assert [e.text for e in sg.tick() if isinstance(e, TextDelta)] == ["no end in sight"]


def test_max_hold_ms_through_the_sync_driver() -> None:
    def slow_upstream() -> Iterator[str]:
        yield "waiting for the rest"
        time.sleep(0.3)
        yield " of it."

    guard = pii_guard(settings=gr.StreamSettings(max_hold_ms=30))
    start = time.monotonic()
    first_at = None
    for event in guard.events(slow_upstream()):
        if isinstance(event, TextDelta) and first_at is None:
            first_at = time.monotonic() - start
    assert first_at is not None and first_at < 0.25


def test_stall_timeout_ends_a_hung_upstream(driver: str) -> None:
    guard = pii_guard(settings=gr.StreamSettings(stall_timeout_s=0.1))

    def hung() -> Iterator[str]:
        yield "Said this. "
        time.sleep(1.0)
        yield "never"

    async def ahung() -> AsyncIterator[str]:
        yield "Said this. "
        await asyncio.sleep(1.0)
        yield "never"

    if driver == "sync":
        with pytest.raises(gr.UpstreamError, match="stalled") as info:
            list(guard.stream(hung()))
    else:

        async def main() -> None:
            async for _ in guard.astream(ahung()):
                pass

        with pytest.raises(gr.UpstreamError, match="stalled") as info:
            asyncio.run(main())
    assert info.value.partial is not None and info.value.partial.text == "Said this. "


# --------------------------------------------------------------- overlap


class Gated:
    """CPU-bound detector whose check of the first sentence waits until the upstream
    has produced a later delta: it can only finish if generation runs meanwhile."""

    name = "gated"
    cpu_bound = True

    def __init__(self) -> None:
        self.upstream_moved = threading.Event()
        self.overlapped: list[bool] = []

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if segment.index == 0:
            self.overlapped.append(self.upstream_moved.wait(timeout=2.0))
        return []


def test_hold_mode_checks_a_sentence_while_the_next_is_generated(driver: str) -> None:
    gated = Gated()
    guard = gr.Guard([gated])

    def upstream() -> Iterator[str]:
        yield "First sentence."
        yield " Second"  # completes the first sentence: its check starts now
        yield " sentence"
        gated.upstream_moved.set()  # only reached if pulling continued during the check
        yield " goes on."

    async def aupstream() -> AsyncIterator[str]:
        for delta in upstream():
            yield delta
            await asyncio.sleep(0)

    if driver == "sync":
        text = "".join(guard.stream(upstream()))
    else:

        async def main() -> str:
            return "".join([d async for d in guard.astream(aupstream())])

        text = asyncio.run(main())
    assert text == "First sentence. Second sentence goes on."
    assert gated.overlapped == [True]


# ------------------------------------------------------------------ wrap


def test_wrap_keeps_the_four_shapes_and_signatures() -> None:
    guard = pii_guard()

    @guard.wrap(context="docs")
    def plain(q: str, docs: list[str]) -> str:
        return f"Answer to {q}: write to a@b.com."

    @guard.wrap(context="docs")
    async def coro(q: str, docs: list[str]) -> str:
        return f"Answer to {q}: write to a@b.com."

    @guard.wrap(context="docs")
    def gen(q: str, docs: list[str]) -> Iterator[str]:
        yield from ["Answer to ", q, ": write to a@b", ".com."]

    @guard.wrap(context="docs")
    async def agen(q: str, docs: list[str]) -> AsyncIterator[str]:
        for d in ["Answer to ", q, ": write to a@b", ".com."]:
            yield d

    expected = "Answer to x: write to [EMAIL]."
    assert plain("x", ["ctx"]) == expected
    assert asyncio.run(coro("x", docs=["ctx"])) == expected
    assert "".join(gen("x", ["ctx"])) == expected

    async def drain() -> str:
        return "".join([d async for d in agen("x", ["ctx"])])

    assert asyncio.run(drain()) == expected
    assert inspect.iscoroutinefunction(coro) and inspect.isasyncgenfunction(agen)
    assert inspect.isgeneratorfunction(gen) and not inspect.iscoroutinefunction(plain)
    for fn in (plain, coro, gen, agen):
        assert list(inspect.signature(fn).parameters) == ["q", "docs"]
        assert fn.__name__ in ("plain", "coro", "gen", "agen")


def test_wrap_passes_the_context_and_returns_the_result_on_request() -> None:
    seen = Seen()
    guard = gr.Guard([seen])

    @guard.wrap(context=lambda args, kwargs: kwargs["sources"], return_result=True)
    def answer(q: str, *, sources: list[str]) -> str:
        return "Yes."

    result = answer("q", sources=["s1", "s2"])
    assert isinstance(result, gr.GuardResult) and result.text == "Yes."
    assert [p.text for p in seen.passages[0]] == ["s1", "s2"]


def test_wrap_regenerates_through_the_feedback_keyword() -> None:
    guard = regen_guard()
    got: list[gr.Feedback | None] = []

    @guard.wrap()
    def answer(q: str, feedback: gr.Feedback | None = None) -> str:
        got.append(feedback)
        return "Paris is the capital." if feedback else "As an AI, I think Paris."

    assert answer("capital?") == "Paris is the capital."
    assert got[0] is None and got[1] is not None and got[1].released == ""


def test_wrap_refuses_regenerate_without_a_feedback_parameter() -> None:
    guard = regen_guard()
    with pytest.raises(gr.ConfigError, match="feedback"):

        @guard.wrap()
        def answer(q: str) -> str:
            return q


def test_wrap_with_an_unknown_context_parameter_is_a_config_error() -> None:
    with pytest.raises(gr.ConfigError, match="no parameter 'docs'"):

        @pii_guard().wrap(context="docs")
        def answer(q: str) -> str:
            return q


def test_raise_rule_raises_blocked_from_validate() -> None:
    guard = gr.Guard([PIIDetector()], Policy([Rule(When("pii"), gr_raise())]))
    with pytest.raises(gr.Blocked) as info:
        guard.validate("Mail a@b.com.")
    assert info.value.result.passed is False


def gr_raise() -> object:
    from policies import Raise

    return Raise("pii found")


def test_block_in_hold_mode_releases_nothing_before_the_verdict() -> None:
    guard = gr.Guard([PIIDetector()], Policy([Rule(When("pii"), Block("Blocked."))]))
    events = list(guard.events(FakeLLM("Fine. Also fine. Mail a@b.com.").stream()))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Blocked."]
    check_accounting(events)
    clean = list(guard.stream(FakeLLM("Fine. Also fine.").stream()))
    assert "".join(clean) == "Fine. Also fine."


def test_standalone_stream_guard_runs_inline() -> None:
    sg = pii_guard().stream_guard()
    events = sg.feed("Write to q@w.io. ")
    events += sg.feed("Done.")
    events += sg.finish()
    result = check_accounting(events)
    assert result.text == "Write to [EMAIL]. Done."
    assert sg.feed("late text") and sg.result is result  # accounted as discarded, not lost


def test_guard_close_is_idempotent_and_guard_still_works() -> None:
    guard = gr.Guard([Slow(0.0)])
    assert guard.validate("A. B.").text == "A. B."
    guard.close()
    guard.close()
    assert guard.validate("C.").text == "C."
    with guard:
        pass


class Reply(BaseModel):
    answer: str
    confidence: float


def test_json_guard_cuts_a_clearly_invalid_prefix_before_the_end() -> None:
    guard = gr.Guard([JsonSchemaDetector(model=Reply)], Policy([Rule(When("json"), Cut())]))
    seen_upstream: list[str] = []

    def upstream() -> Iterator[str]:
        for delta in ["Sure! ", "Here is the JSON. ", '{"answer": "yes", ', '"confidence": 0.9}']:
            seen_upstream.append(delta)
            yield delta

    events = list(guard.events(upstream()))
    result = check_accounting(events)
    assert result.text == ""
    assert not result.passed
    assert len(seen_upstream) < 4  # caught mid-stream, the rest was never pulled
    assert result.findings[0].label == "invalid_json"


def test_json_guard_passes_valid_json_and_flags_a_schema_mismatch() -> None:
    guard = gr.Guard([JsonSchemaDetector(model=Reply)], Policy([Rule(When("json"), Cut())]))
    ok = guard.validate('{"answer": "It ships today.", "confidence": 0.8}')
    assert ok.passed
    assert ok.text == '{"answer": "It ships today.", "confidence": 0.8}'
    bad = guard.validate('{"answer": "It ships today."}')
    assert not bad.passed
    assert [f.label for f in bad.findings] == ["schema_mismatch"]
    assert "confidence" in bad.findings[0].message


def test_error_tree() -> None:
    for cls in (gr.ConfigError, gr.Blocked, gr.UpstreamError, gr.DetectorError, gr.ModelError):
        assert issubclass(cls, gr.GuardrailError)
    assert not issubclass(gr.Blocked, gr.ConfigError)
    err = gr.ConfigError("bad value 3", where="pack.yaml: rules.0")
    assert str(err) == "pack.yaml: rules.0: bad value 3"
    assert err.detail == "bad value 3"


class Grader:
    """Grades sentences by a keyword, like a grounding detector would."""

    name = "grader"
    cpu_bound = False

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        if segment.kind != "text":
            return []
        span = (segment.start, segment.end)
        evidence = (Evidence(0, 0, 5, "Paris", {"nli": 0.9}),)
        if "Paris" in segment.text:
            return [
                Finding("grader", "supported", span, 0.9, info=True, support=0.9, evidence=evidence)
            ]
        return [Finding("grader", "unsupported", span, 0.8, "not in the context", support=0.2)]


def test_support_findings_become_segment_labels_and_result_support() -> None:
    guard = gr.Guard(
        [Grader()], Policy([Rule(When("grader", labels=frozenset({"unsupported"})), gr.Warn())])
    )
    result = guard.validate("It is Paris. It has 9 moons.\n```\ncode\n```")
    labels = [(s.label, s.support) for s in result.segments]
    assert labels == [("supported", 0.9), ("unsupported", 0.2), ("not_a_claim", None)]
    assert result.segments[0].evidence[0].text == "Paris"
    assert result.support == 0.2
    # the info finding took no action; the unsupported one warned
    assert [a.action for a in result.actions] == ["warn"]


def test_deadline_counts_from_when_a_worker_starts_the_check(driver: str) -> None:
    # 8 sentences at 60 ms each on 2 workers: the last ones wait ~180 ms in the queue,
    # more than the 120 ms deadline, yet none of them ran late.
    slow = Slow(0.06, trigger="Sentence")
    guard = gr.Guard([slow], settings=gr.StreamSettings(deadline_ms=120), max_workers=2)
    text = " ".join(f"Sentence {i}." for i in range(8))
    result = guard.validate(text) if driver == "sync" else asyncio.run(guard.avalidate(text))
    assert not [f for f in result.findings if f.label == "timeout"]
    assert result.text == text
