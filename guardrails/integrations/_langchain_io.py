"""LangChain values in and out of a guarded call: text, chunks, feedback, input streams.

Private helpers of :mod:`guardrails.integrations.langchain`: reading text from
what a runnable streams, shaping the guarded text back into the same chunk type
(keeping the message id and metadata), adding a regeneration's feedback to the
input, and gathering or gating a step's input stream.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.prompt_values import PromptValue

from guardrails._result import Feedback
from guardrails.errors import ConfigError

__all__ = [
    "AGate",
    "FeedbackMode",
    "Gate",
    "Kind",
    "Role",
    "Shaper",
    "agather",
    "collect",
    "feedback_route",
    "gather",
    "once",
    "with_feedback",
]

Kind = Literal["text", "message"]
FeedbackMode = Literal["auto", "message", "input"]
Role = Literal["human", "system"]

# AIMessageChunk.chunk_position marks the last chunk of a stream (langchain-core >= 1.0)
_LAST: dict[str, Any] = (
    {"chunk_position": "last"} if "chunk_position" in AIMessageChunk.model_fields else {}
)


# ------------------------------------------------------------------ text in


def content_text(content: object) -> str:
    """The text of a message's content: a string, or the text blocks of a block list."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
    return "".join(parts)


def _meta_chunk(message: BaseMessage) -> AIMessageChunk:
    """The message's metadata (no content) as a chunk that adds up across a stream."""
    calls = getattr(message, "tool_call_chunks", None)
    if calls is None and isinstance(message, AIMessage):
        calls = [
            tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
            for i, c in enumerate(message.tool_calls)
        ]
    return AIMessageChunk(
        content="",
        additional_kwargs=dict(message.additional_kwargs),
        response_metadata=dict(message.response_metadata),
        tool_call_chunks=list(calls or []),
    )


class Shaper:
    """One guarded call's output: reads upstream chunks, writes guarded ones.

    The first upstream chunk decides the kind: ``str`` chunks give ``str``
    chunks, message chunks give ``AIMessageChunk`` with the upstream message id.
    Response metadata, extra kwargs and tool-call chunks of the latest attempt
    and the token usage of every call (regenerations and rewrites included)
    travel on the final chunk, next to ``response_metadata["guardrails"]``.
    """

    def __init__(self, default: Kind) -> None:
        self.default = default
        self.seen: Kind | None = None
        self.id: str | None = None
        self.usage: UsageMetadata | None = None
        self.carry: AIMessageChunk | None = None
        # a rewrite is read on the caller's thread while the upstream thread still pulls
        self._lock = threading.Lock()

    @property
    def kind(self) -> Kind:
        return self.seen or self.default

    def take(self, item: object, main: bool) -> str:
        """The text of one upstream chunk; its metadata is kept (``main``: not a rewrite)."""
        if isinstance(item, str):
            self.seen = self.seen or "text"
            return item
        if not isinstance(item, BaseMessage):
            raise TypeError(
                f"the guard checks text, but the runnable streamed a {type(item).__name__}: "
                "end the chain in a chat model or a StrOutputParser"
            )
        with self._lock:
            self.seen = self.seen or "message"
            self.id = self.id or item.id
            if isinstance(item, AIMessage) and item.usage_metadata:
                self.usage = add_usage(self.usage, item.usage_metadata)
            if main:
                meta = _meta_chunk(item)
                try:
                    self.carry = meta if self.carry is None else self.carry + meta
                except (TypeError, ValueError):  # metadata that does not merge: the latest wins
                    self.carry = meta
        return content_text(item.content)

    def texts(self, chunks: Iterable[Any], role: str) -> Iterator[str]:
        """The text of an upstream stream; ``role``: first, regenerate or rewrite.

        Closing this generator closes ``chunks``: a cut stops the model at once.
        """
        if role == "regenerate":
            self.carry = None  # the new attempt's response metadata replaces the old one
        try:
            for item in chunks:
                yield self.take(item, role != "rewrite")
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                close()

    async def atexts(self, chunks: AsyncIterable[Any], role: str) -> AsyncIterator[str]:
        if role == "regenerate":
            self.carry = None
        try:
            async for item in chunks:
                yield self.take(item, role != "rewrite")
        finally:
            # `async for` leaves an async generator open until the loop collects it
            aclose = getattr(chunks, "aclose", None)
            if callable(aclose):
                await aclose()

    def delta(self, text: str) -> Any:
        """One released piece of guarded text, as the upstream's chunk type."""
        return AIMessageChunk(content=text, id=self.id) if self.kind == "message" else text

    def final(self, summary: dict[str, Any]) -> Any | None:
        """The last chunk of a message stream: metadata and the guard's summary."""
        if self.kind != "message":
            return None
        carry = self.carry or AIMessageChunk(content="")
        return AIMessageChunk(
            content="",
            id=self.id,
            additional_kwargs=carry.additional_kwargs,
            response_metadata={**carry.response_metadata, "guardrails": summary},
            tool_call_chunks=carry.tool_call_chunks,
            usage_metadata=self.usage,
            **_LAST,
        )


def collect(chunks: Iterable[Any]) -> Any:
    """What ``invoke`` returns: the joined text, or the whole message for message chunks."""
    items = list(chunks)
    if not items:
        return ""
    if all(isinstance(c, str) for c in items):
        return "".join(items)
    total = items[0]
    for chunk in items[1:]:
        total = total + chunk
    return message_chunk_to_message(total) if isinstance(total, BaseMessageChunk) else total


# ---------------------------------------------------------------- feedback


def _message_like(value: object) -> bool:
    return isinstance(value, (str, PromptValue, BaseMessage, list, tuple))


def feedback_route(value: object, mode: FeedbackMode) -> Literal["message", "input"]:
    """How a regeneration's feedback joins this input; ConfigError if it cannot."""
    if mode in ("auto", "input") and isinstance(value, Mapping):
        return "input"
    if mode in ("auto", "message") and _message_like(value):
        return "message"
    shape = "a dict" if isinstance(value, Mapping) else f"a {type(value).__name__}"
    hint = (
        "use feedback='input' (the feedback goes into an input field)"
        if isinstance(value, Mapping)
        else "use feedback='message' (the feedback is added as a message)"
        if _message_like(value)
        else "pass a dict, a string, a prompt value or a list of messages"
    )
    raise ConfigError(
        f"the policy may regenerate or rewrite, but feedback={mode!r} cannot be added to "
        f"{shape} input: {hint}"
    )


def feedback_text(feedback: Feedback) -> str:
    """The instruction for an input field; a regeneration also names the accepted text."""
    if feedback.kind == "regenerate" and feedback.released:
        return f"{feedback.instruction}\nThe answer so far, to continue after: {feedback.released}"
    return feedback.instruction


def with_feedback(
    value: Any, feedback: Feedback, route: Literal["message", "input"], key: str, role: Role
) -> Any:
    """The input of a regeneration (or rewrite) call: the original plus the feedback.

    ``input``: a copy of the dict with ``key`` set to the instruction text.
    ``message``: the conversation, then (for a regeneration) the accepted text as
    the assistant's turn, then the instruction as a human or system message.
    """
    if route == "input":
        return {**value, key: feedback_text(feedback)}
    if isinstance(value, PromptValue):
        messages = value.to_messages()
    elif isinstance(value, (str, BaseMessage)):
        messages = convert_to_messages([value])
    else:
        messages = convert_to_messages(value)
    if feedback.kind == "regenerate" and feedback.released:
        messages.append(AIMessage(content=feedback.released))
    make: Callable[..., BaseMessage] = HumanMessage if role == "human" else SystemMessage
    return [*messages, make(content=feedback.instruction)]


# ------------------------------------------------------------ input streams


def merge(total: Any, chunk: Any) -> Any:
    """Two chunks of a step's input as one (streamed dicts add up key by key)."""
    try:
        return total + chunk
    except TypeError:
        if isinstance(total, Mapping) and isinstance(chunk, Mapping):
            return {**total, **chunk}
        return chunk


def gather(inputs: Iterator[Any]) -> Any:
    total: Any = None
    for i, chunk in enumerate(inputs):
        total = chunk if i == 0 else merge(total, chunk)
    return total


async def agather(inputs: AsyncIterator[Any]) -> Any:
    total: Any = None
    first = True
    async for chunk in inputs:
        total = chunk if first else merge(total, chunk)
        first = False
    return total


async def once(value: Any) -> AsyncIterator[Any]:
    yield value


class Gate(Iterator[Any]):
    """An input stream that ends, and closes its source, once the guard is done with it.

    LangChain reads the rest of a step's input after the step ends (to trace it),
    so after a cut the model before the step would run to its end without this.
    """

    def __init__(self, source: Iterator[Any]) -> None:
        self.source = source
        self.open = True

    def __next__(self) -> Any:
        if not self.open:
            raise StopIteration
        return next(self.source)

    def shut(self) -> None:
        self.open = False
        close = getattr(self.source, "close", None)
        if callable(close):
            with contextlib.suppress(ValueError):  # still running on a stuck pull thread
                close()


class AGate(AsyncIterator[Any]):
    """Async :class:`Gate`."""

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self.source = source
        self.open = True

    async def __anext__(self) -> Any:
        if not self.open:
            raise StopAsyncIteration
        return await anext(self.source)

    async def shut(self) -> None:
        self.open = False
        aclose = getattr(self.source, "aclose", None)
        if callable(aclose):
            with contextlib.suppress(RuntimeError):  # already running elsewhere
                await aclose()
