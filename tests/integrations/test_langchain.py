"""The LangChain integration: guarded runnables that stream, regenerate and report.

Fake chat models only (offline). Each behaviour runs through the sync and the
async LangChain entry points.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("langchain_core", reason="the [langchain] extra is not installed")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import (
    BaseChatModel,
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnableSequence
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

import guardrails as gr
from detectors.banned import BannedPhrases
from detectors.base import CheckContext, Finding, Passage, Segment
from detectors.pii import PIIDetector
from guardrails.integrations.langchain import GuardedRunnable, GuardTransform
from policies import Action, Correct, Cut, Policy, Raise, Regenerate, Rule, When

DRIVERS = ("sync", "async")
ANSWER = (
    "Refunds take 5 days. Write to ann@example.com for help. We promise guaranteed returns. Bye."
)


def make_guard(banned: Action, pii: Action | None = None, **kw: Any) -> gr.Guard:
    rules = [Rule(When("banned"), banned)]
    if pii is not None:
        rules.insert(0, Rule(When("pii"), pii))
    return gr.Guard(
        [PIIDetector(), BannedPhrases(phrases=["guaranteed returns"])], Policy(rules), **kw
    )


def chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(r, id="msg-1") for r in replies]))


def chain(*replies: str) -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from: {context}"), ("human", "{question}{feedback}")]
    ).partial(feedback="")
    return prompt | FakeListChatModel(responses=list(replies)) | StrOutputParser()


QUESTION = {"question": "How long do refunds take?", "context": "Refunds take 5 days."}


def stream(runnable: Runnable[Any, Any], value: Any, driver: str, **kw: Any) -> list[Any]:
    if driver == "sync":
        return list(runnable.stream(value, **kw))

    async def main() -> list[Any]:
        return [c async for c in runnable.astream(value, **kw)]

    return asyncio.run(main())


def invoke(runnable: Runnable[Any, Any], value: Any, driver: str, **kw: Any) -> Any:
    if driver == "sync":
        return runnable.invoke(value, **kw)
    return asyncio.run(runnable.ainvoke(value, **kw))


def text_of(chunks: Sequence[Any]) -> str:
    return "".join(c if isinstance(c, str) else str(c.content) for c in chunks)


class Recorder(BaseCallbackHandler):
    """Custom events, chat model prompts and the runs' ids as LangChain reports them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, UUID]] = []
        self.prompts: list[list[BaseMessage]] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kw: Any) -> None:
        self.events.append((name, data, run_id))

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.prompts.append(messages[0])

    def names(self) -> list[str]:
        return [name for name, _, _ in self.events]


class Runs(BaseTracer):
    """Keeps every finished run, for run metadata, tags and nesting."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        pass

    def _end_trace(self, run: Run) -> None:
        self.runs.append(run)
        super()._end_trace(run)

    def named(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def all_runs(self) -> list[Run]:
        out: list[Run] = []
        todo = list(self.runs)
        while todo:
            run = todo.pop()
            out.append(run)
            todo.extend(run.child_runs)
        return out


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("driver", DRIVERS)
def test_chat_model_streams_message_chunks_that_add_up_to_invoke(driver: str) -> None:
    guard = make_guard(Cut(), Correct("redact"))
    out = stream(guard.as_runnable(chat(ANSWER), context_key=None), "hi", driver)
    whole = invoke(guard.as_runnable(chat(ANSWER), context_key=None), "hi", driver)
    assert len(out) > 3 and all(type(c) is AIMessageChunk for c in out)
    assert {c.id for c in out} == {"msg-1"}  # the model's message id is kept
    assert text_of(out) == "Refunds take 5 days. Write to [EMAIL] for help."
    assert type(whole) is AIMessage and whole.content == text_of(out)
    assert whole.id == "msg-1"
    total = out[0]
    for c in out[1:]:
        total += c
    assert total.content == whole.content
    assert total.response_metadata["guardrails"] == whole.response_metadata["guardrails"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_str_chain_streams_str_chunks_in_order(driver: str) -> None:
    guard = make_guard(Cut(), Correct("redact"))
    out = stream(guard.as_runnable(chain(ANSWER)), QUESTION, driver)
    whole = invoke(guard.as_runnable(chain(ANSWER)), QUESTION, driver)
    assert len(out) > 3 and all(type(c) is str for c in out)
    assert "".join(out) == whole == "Refunds take 5 days. Write to [EMAIL] for help."
    assert out[0] == "Refunds take 5 days."  # released sentence by sentence


def test_types_and_schemas_are_the_wrapped_runnables() -> None:
    guard = make_guard(Cut())
    model, seq = chat(ANSWER), chain(ANSWER)
    g_model, g_seq = guard.as_runnable(model), guard.as_runnable(seq)
    assert isinstance(g_model, GuardedRunnable)
    assert g_model.InputType == model.InputType and g_model.OutputType == model.OutputType
    assert g_seq.InputType == seq.InputType and g_seq.OutputType is str
    assert g_seq.get_input_jsonschema() == seq.get_input_jsonschema()
    assert g_model.get_output_jsonschema() == model.get_output_jsonschema()


def test_chunks_are_released_while_the_model_streams() -> None:
    """The first sentence comes out before the model produced the last one."""
    produced: list[str] = []

    def model(_: Any) -> Iterator[str]:
        for piece in ("One. ", "Two. ", "Three. ", "Four."):
            produced.append(piece)
            yield piece

    guard = make_guard(Cut())
    stream_ = guard.as_runnable(RunnableLambda(model), context_key=None).stream("x")
    first = next(stream_)
    assert first == "One." and len(produced) < 4
    assert first + "".join(stream_) == "One. Two. Three. Four."


# ------------------------------------------------------------------ actions


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("pii", "banned", "text", "acts"),
    [
        (
            Correct("redact"),
            Cut(),
            "Refunds take 5 days. Write to [EMAIL] for help.",
            ["redact", "cut"],
        ),
        (Correct("drop"), Correct("drop"), "Refunds take 5 days. Bye.", ["drop", "drop"]),
        (
            Correct("redact", mask="[hidden]"),
            Correct("redact"),
            "Refunds take 5 days. Write to [hidden] for help. We promise [REDACTED]. Bye.",
            ["redact", "redact"],
        ),
    ],
)
def test_correcting_actions_through_the_runnable(
    driver: str, pii: Action, banned: Action, text: str, acts: list[str]
) -> None:
    guard = make_guard(banned, pii)
    message = invoke(guard.as_runnable(chat(ANSWER), context_key=None), "hi", driver)
    assert message.content == text
    report = message.response_metadata["guardrails"]
    assert [a["action"] for a in report["actions"]] == acts
    assert report["passed"] is (acts[-1] != "cut")
    assert "".join(stream(guard.as_runnable(chain(ANSWER)), QUESTION, driver)) == text


@pytest.mark.parametrize("driver", DRIVERS)
def test_regenerate_sends_feedback_as_a_message_and_streams_the_continuation(driver: str) -> None:
    guard = make_guard(Regenerate(max_attempts=1), Correct("redact"))
    rec = Recorder()
    guarded = guard.as_runnable(chat(ANSWER, " We offer refunds. Bye."), context_key=None)
    out = stream(guarded, "How long?", driver, config={"callbacks": [rec]})
    assert text_of(out) == "Refunds take 5 days. Write to [EMAIL] for help. We offer refunds. Bye."
    report = out[-1].response_metadata["guardrails"]
    assert report["attempts"] == 2 and report["passed"]
    assert [a["action"] for a in report["actions"]] == ["redact", "regenerate"]
    first, second = rec.prompts
    assert first == [HumanMessage("How long?")]
    assert [type(m) for m in second] == [HumanMessage, AIMessage, HumanMessage]
    assert second[1].content == "Refunds take 5 days. Write to [EMAIL] for help."
    assert "guaranteed returns" in str(second[2].content)
    assert "Continue the answer" in str(second[2].content)


@pytest.mark.parametrize("driver", DRIVERS)
def test_regenerate_sends_feedback_as_an_input_field_to_a_chain(driver: str) -> None:
    guard = make_guard(Regenerate(max_attempts=1), Correct("redact"))
    inputs: list[dict[str, Any]] = []

    def record(value: dict[str, Any]) -> dict[str, Any]:
        inputs.append(value)
        return value

    runnable = RunnableLambda(record) | chain(ANSWER, " We offer refunds. Bye.")
    out = stream(guard.as_runnable(runnable), QUESTION, driver)
    assert "".join(out) == "Refunds take 5 days. Write to [EMAIL] for help. We offer refunds. Bye."
    assert len(inputs) == 2 and "feedback" not in inputs[0]
    feedback = inputs[1]["feedback"]
    assert "guaranteed returns" in feedback and "Continue the answer" in feedback
    assert inputs[1]["question"] == QUESTION["question"]


@pytest.mark.parametrize("driver", DRIVERS)
def test_regenerate_as_a_system_message_into_a_custom_field(driver: str) -> None:
    guard = make_guard(Regenerate(max_attempts=1))
    rec = Recorder()
    guarded = guard.as_runnable(
        chat("We promise guaranteed returns.", "We promise nothing."),
        context_key=None,
        feedback_role="system",
    )
    message = invoke(guarded, [HumanMessage("Sell it")], driver, config={"callbacks": [rec]})
    assert message.content == "We promise nothing."
    assert [type(m) for m in rec.prompts[1]] == [HumanMessage, SystemMessage]  # nothing released


@pytest.mark.parametrize("driver", DRIVERS)
def test_regenerate_that_keeps_failing_falls_back(driver: str) -> None:
    guard = make_guard(Regenerate(max_attempts=1, otherwise=Cut()))
    guarded = guard.as_runnable(chat(ANSWER, "Still guaranteed returns."), context_key=None)
    message = invoke(guarded, "hi", driver)
    assert message.content == "Refunds take 5 days. Write to ann@example.com for help."
    assert message.response_metadata["guardrails"]["passed"] is False


@pytest.mark.parametrize("driver", DRIVERS)
def test_rewrite_replaces_the_sentence_through_the_runnable(driver: str) -> None:
    guard = make_guard(Correct("rewrite"))
    rec = Recorder()
    guarded = guard.as_runnable(chat(ANSWER, " We promise fair returns."), context_key=None)
    message = invoke(guarded, "hi", driver, config={"callbacks": [rec]})
    assert message.content == (
        "Refunds take 5 days. Write to ann@example.com for help. We promise fair returns. Bye."
    )
    assert "Rewrite only this sentence" in str(rec.prompts[1][-1].content)


def test_raise_propagates_blocked() -> None:
    guard = make_guard(Raise("no promises"))
    with pytest.raises(gr.Blocked, match="no promises"):
        guard.as_runnable(chat(ANSWER), context_key=None).invoke("hi")


# -------------------------------------------------------------------- batch


class Echo(BaseChatModel):
    """Streams the last message back, word by word."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *a: Any, **kw: Any) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(str(messages[-1].content)))]
        )

    def _stream(
        self, messages: list[BaseMessage], *a: Any, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for word in str(messages[-1].content).split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


BATCH = [
    "All fine here. Nothing to see.",
    "Mail ann@example.com today. Thanks.",
    "We promise guaranteed returns. Sorry.",
]


@pytest.mark.parametrize("driver", DRIVERS)
def test_batch_with_mixed_pass_and_fail(driver: str) -> None:
    guarded = make_guard(Cut(), Correct("redact")).as_runnable(Echo(), context_key=None)
    if driver == "sync":
        out = guarded.batch(BATCH, config={"max_concurrency": 2})
    else:
        out = asyncio.run(guarded.abatch(BATCH, config={"max_concurrency": 2}))
    assert [m.content for m in out] == [
        "All fine here. Nothing to see. ",
        "Mail [EMAIL] today. Thanks. ",
        "",
    ]
    assert [m.response_metadata["guardrails"]["passed"] for m in out] == [True, True, False]


@pytest.mark.parametrize("driver", DRIVERS)
def test_batch_returns_a_raise_as_an_exception(driver: str) -> None:
    guarded = make_guard(Raise("no")).as_runnable(Echo() | StrOutputParser(), context_key=None)
    if driver == "sync":
        out = guarded.batch(BATCH, return_exceptions=True)
    else:
        out = asyncio.run(guarded.abatch(BATCH, return_exceptions=True))
    assert out[:2] == ["All fine here. Nothing to see. ", "Mail ann@example.com today. Thanks. "]
    assert isinstance(out[2], gr.Blocked)


# ------------------------------------------------------- callbacks and runs


@pytest.mark.parametrize("driver", DRIVERS)
def test_callbacks_get_findings_actions_and_the_result(driver: str) -> None:
    rec, runs = Recorder(), Runs()
    results: list[gr.GuardResult] = []
    guard = make_guard(Cut(), Correct("redact"))
    guarded = guard.as_runnable(chat(ANSWER), context_key=None, on_result=results.append)
    config: Any = {"callbacks": [rec, runs], "tags": ["mine"], "metadata": {"user": "u1"}}
    out = stream(guarded, "hi", driver, config=config)
    assert rec.names() == [
        "guardrails.finding",
        "guardrails.action",
        "guardrails.finding",
        "guardrails.action",
        "guardrails.done",
    ]
    email = rec.events[0][1]
    assert email["detector"] == "pii" and email["label"] == "email"
    assert ANSWER[slice(*email["span"])] == "ann@example.com"
    assert rec.events[1][1]["action"] == "redact"
    assert "ann@example.com" not in repr(rec.events)  # removed text is not copied out
    done = rec.events[-1][1]
    assert done == out[-1].response_metadata["guardrails"]
    assert done["passed"] is False and [f["label"] for f in done["findings"]] == [
        "email",
        "banned_phrase",
    ]
    assert results[0].text == text_of(out)
    # run metadata, nesting and the caller's config
    guarded_run = runs.named("GuardedRunnable")
    assert guarded_run.extra["metadata"]["guardrails"] == done
    assert guarded_run.extra["metadata"]["user"] == "u1"
    assert {run_id for *_, run_id in rec.events} == {guarded_run.id}
    (model_run,) = guarded_run.child_runs
    assert model_run.name == "GenericFakeChatModel" and "mine" in (model_run.tags or [])
    assert model_run.extra["metadata"]["user"] == "u1"
    assert "guardrails" not in model_run.extra["metadata"]


def test_regeneration_runs_nest_under_the_guarded_run() -> None:
    runs = Runs()
    guard = make_guard(Regenerate(max_attempts=1))
    guarded = guard.as_runnable(chat(ANSWER, " Bye."), context_key=None)
    guarded.invoke("hi", {"callbacks": [runs]})
    children = runs.named("GuardedRunnable").child_runs
    assert [r.name for r in children] == ["GenericFakeChatModel", "GenericFakeChatModel"]
    assert "guardrails:regenerate" in (children[1].tags or [])


def test_astream_events_shows_chunks_and_the_guards_events() -> None:
    guard = make_guard(Cut(), Correct("redact"))
    guarded = guard.as_runnable(chat(ANSWER), context_key=None)

    async def main() -> list[dict[str, Any]]:
        return [e async for e in guarded.astream_events("hi", version="v2")]  # type: ignore[misc]

    events = asyncio.run(main())
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == [
        "guardrails.finding",
        "guardrails.action",
        "guardrails.finding",
        "guardrails.action",
        "guardrails.done",
    ]
    ours = [e for e in events if e["event"] == "on_chain_stream" and e["name"] == "GuardedRunnable"]
    assert len(ours) > 3
    assert any(e["event"] == "on_chat_model_stream" for e in events)  # the model's own chunks
    end = next(e for e in events if e["event"] == "on_chain_end" and e["name"] == "GuardedRunnable")
    output = end["data"]["output"]
    assert text_of([e["data"]["chunk"] for e in ours]) == output.content
    assert output.content == "Refunds take 5 days. Write to [EMAIL] for help."
    assert output.response_metadata["guardrails"] == custom[-1]["data"]


# -------------------------------------------------------------------- context


class SeesContext:
    """Records the passages each check got."""

    name = "sees"
    cpu_bound = False

    def __init__(self) -> None:
        self.passages: list[tuple[Passage, ...]] = []

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        self.passages.append(ctx.passages)
        return []


def test_context_from_a_key_of_documents_keeps_metadata() -> None:
    sees = SeesContext()
    guard = gr.Guard([sees])
    docs = [Document("Refunds take 5 days.", metadata={"source": "faq.md"})]
    guard.as_runnable(chain("Refunds take 5 days.")).invoke({"question": "q", "context": docs})
    (passage,) = sees.passages[0]
    assert passage.text == "Refunds take 5 days." and passage.metadata == {"source": "faq.md"}


def test_context_from_a_callable_and_a_missing_key() -> None:
    sees = SeesContext()
    guard = gr.Guard([sees])
    guard.as_runnable(chat("Fine."), context_key=lambda value: ["ctx for " + value]).invoke("q")
    assert sees.passages[0][0].text == "ctx for q"
    with pytest.raises(gr.ConfigError, match="no 'context' key"):
        guard.as_runnable(chain("Fine.")).invoke({"question": "q"})


def test_configuration_errors() -> None:
    with pytest.raises(gr.ConfigError, match="hold-mode"):
        make_guard(Cut(), settings=gr.StreamSettings(mode="pass")).as_runnable(chat("x"))
    with pytest.raises(gr.ConfigError, match="feedback must be"):
        make_guard(Cut()).as_runnable(chat("x"), feedback="email")  # type: ignore[arg-type]
    regen = make_guard(Regenerate())
    with pytest.raises(gr.ConfigError, match="feedback='input'"):
        regen.as_runnable(chain("x"), feedback="message").invoke(QUESTION)
    with pytest.raises(gr.ConfigError, match="feedback='message'"):
        regen.as_runnable(chat("x"), context_key=None, feedback="input").invoke("hi")


# ------------------------------------------------------------------ transform


@pytest.mark.parametrize("driver", DRIVERS)
def test_transform_guards_a_pipeline_with_context_from_config(driver: str) -> None:
    sees = SeesContext()
    guard = gr.Guard([sees, PIIDetector()], Policy([Rule(When("pii"), Correct("redact"))]))
    pipeline = chat(ANSWER) | guard.as_transform()
    assert isinstance(pipeline, RunnableSequence) and isinstance(pipeline.last, GuardTransform)
    config: Any = {"configurable": {"context": ["the docs"]}}
    out = stream(pipeline, "hi", driver, config=config)
    assert len(out) > 3 and all(type(c) is AIMessageChunk for c in out)
    assert text_of(out) == ANSWER.replace("ann@example.com", "[EMAIL]")
    assert out[-1].response_metadata["guardrails"]["actions"][0]["action"] == "redact"
    assert sees.passages[0][0].text == "the docs"
    whole = invoke(chat(ANSWER) | StrOutputParser() | guard.as_transform(["fixed"]), "hi", driver)
    assert whole == text_of(out)


PIECES = ("One. ", "Two guaranteed returns. ", "Three. ", "Four. ", "Five.")


@pytest.mark.parametrize("form", ["runnable", "transform"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_cut_stops_the_model(driver: str, form: str) -> None:
    produced: list[str] = []

    def model(_: Any) -> Iterator[str]:
        for piece in PIECES:
            produced.append(piece)
            yield piece

    async def amodel(_: Any) -> AsyncIterator[str]:
        for piece in PIECES:
            produced.append(piece)
            yield piece

    source = RunnableLambda(model, afunc=amodel)
    guard = make_guard(Cut())
    if form == "runnable":
        runnable: Runnable[Any, Any] = guard.as_runnable(source, context_key=None)
    else:
        runnable = source | guard.as_transform()
    assert stream(runnable, "x", driver) == ["One."]
    assert len(produced) <= 3  # the pull ahead may take one more piece, never the rest


def test_transform_refuses_a_policy_that_regenerates_unless_told_to_fall_back() -> None:
    guard = make_guard(Regenerate(max_attempts=2, otherwise=Cut()))
    with pytest.raises(gr.ConfigError, match="as_runnable"):
        guard.as_transform()
    pipeline = chat(ANSWER) | guard.as_transform(if_regenerate="fallback")
    message = pipeline.invoke("hi")
    assert isinstance(message, AIMessage)
    assert message.content == "Refunds take 5 days. Write to ann@example.com for help."
    cut = message.response_metadata["guardrails"]["actions"][-1]
    assert cut["action"] == "cut" and "regenerate impossible" in cut["message"]


# ------------------------------------------------------------------- imports


def test_import_guardrails_does_not_import_langchain() -> None:
    code = (
        "import sys, guardrails as gr\n"
        "from detectors.pii import PIIDetector\n"
        "g = gr.Guard([PIIDetector()]); g.validate('a@b.io is mine.')\n"
        "assert 'langchain_core' not in sys.modules, 'langchain_core was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_langchain_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['langchain_core'] = None\n"
        "import guardrails as gr\n"
        "try:\n"
        "    gr.Guard().as_runnable(None)\n"
        "except ImportError as exc:\n"
        "    assert 'groundrail[langchain]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
