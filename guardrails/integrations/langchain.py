"""LangChain runnables that guard what a chat model or chain streams.

``guard.as_runnable(chain)`` wraps a runnable: it keeps its input and output
types, streams the guarded chunks as they are released, and can regenerate or
rewrite through the wrapped runnable. ``guard.as_transform()`` is a pipeline
step (``model | guard.as_transform()``) that guards the stream before it but
cannot call the model again. See ``docs/langchain.md``.

Needs ``langchain-core`` (``pip install 'groundrail[langchain]'``);
``import guardrails`` never imports it.
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401  (fail early with the extra's name)
except ImportError as exc:  # pragma: no cover - exercised without langchain-core
    raise ImportError(
        "guardrails.integrations.langchain needs langchain-core: "
        "pip install 'groundrail[langchain]'"
    ) from exc

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel, LanguageModelOutput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableSequence
from langchain_core.runnables.config import patch_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, Input, Output
from langchain_core.utils.pydantic import TypeBaseModel

from guardrails._context import ContextLike
from guardrails._result import Feedback
from guardrails.errors import ConfigError
from guardrails.integrations._langchain_io import (
    AGate,
    FeedbackMode,
    Gate,
    Kind,
    Role,
    Shaper,
    agather,
    collect,
    feedback_route,
    gather,
    once,
    with_feedback,
)
from guardrails.integrations._langchain_report import ResultHook, adrive, drive

if TYPE_CHECKING:
    from guardrails.guard import Guard

__all__ = ["ContextSource", "GuardTransform", "GuardedRunnable", "ResultHook"]

ContextSource = str | Callable[[Any], ContextLike] | None
"""Where the context comes from: a key of a dict input, a callable of the input, or none."""


def _require_hold(guard: Guard, what: str) -> None:
    if guard.settings.mode != "hold":
        raise ConfigError(
            f"{what} needs a hold-mode guard: a LangChain stream cannot take back text, "
            "and pass mode retracts released text when a later check fails"
        )


def _default_kind(runnable: Runnable[Any, Any]) -> Kind:
    """The output kind when the runnable streamed nothing to learn it from."""
    if isinstance(runnable, RunnableSequence):
        return _default_kind(runnable.last)
    if isinstance(runnable, RunnableBinding):
        return _default_kind(runnable.bound)
    if isinstance(runnable, BaseChatModel):
        return "message"
    out = runnable.OutputType
    return "message" if isinstance(out, type) and issubclass(out, BaseMessage) else "text"


class _Runnable(Runnable[Input, Output]):
    """invoke/stream and their async twins, all through ``_transform``/``_atransform``.

    Overriding ``transform`` (not only ``invoke``) is what keeps a LangChain
    stream a stream: the default ``stream`` would call ``invoke`` and yield one
    chunk at the end.
    """

    @abstractmethod
    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """The guarded chunks for a stream of input chunks (sync)."""

    @abstractmethod
    def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """The guarded chunks for a stream of input chunks (async)."""

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        return cast(Output, collect(self.stream(input, config, **kwargs)))

    async def ainvoke(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Output:
        return cast(Output, collect([c async for c in self.astream(input, config, **kwargs)]))

    def stream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        yield from self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        async for chunk in self.atransform(once(input), config, **kwargs):
            yield chunk

    def transform(
        self, input: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk


class GuardedRunnable(_Runnable[Input, Output]):
    """A runnable (chat model or chain) whose output goes through a guard while it streams.

    Input and output types are the wrapped runnable's. ``stream``/``astream``
    yield guarded chunks as they are released: ``AIMessageChunk`` (with the
    model's message id) for a chat model, ``str`` for a chain ending in
    ``StrOutputParser``. A message output's last chunk carries
    ``response_metadata["guardrails"]``: passed, support, attempts, findings,
    actions, segments. Every finding, action and the final summary are also
    dispatched as custom events (``guardrails.finding``, ``guardrails.action``,
    ``guardrails.done``) and the summary is put in the run's metadata.

    ``context_key``: the key of a dict input holding the context (str, list of
    str or of ``Document``), a callable ``input -> context``, or ``None``.

    Regeneration and rewrite call the wrapped runnable again with the feedback:
    ``feedback="message"`` appends it to a message-like input (string, prompt
    value, list of messages) as a ``feedback_role`` message after the accepted
    text (an AI message); ``feedback="input"`` sets ``feedback_key`` of a dict
    input to the instruction text; ``"auto"`` picks by the input's shape.
    ``on_result`` is called with the :class:`~guardrails.GuardResult` of each call.
    """

    def __init__(
        self,
        guard: Guard,
        runnable: Runnable[Input, Output],
        *,
        context_key: ContextSource = "context",
        feedback: FeedbackMode = "auto",
        feedback_key: str = "feedback",
        feedback_role: Role = "human",
        on_result: ResultHook | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(runnable, Runnable):
            raise TypeError(f"as_runnable() takes a LangChain Runnable, got {type(runnable)!r}")
        if feedback not in get_args(FeedbackMode):
            raise ConfigError(f"feedback must be 'auto', 'message' or 'input', got {feedback!r}")
        if feedback_role not in get_args(Role):
            raise ConfigError(f"feedback_role must be 'human' or 'system', got {feedback_role!r}")
        if not (context_key is None or isinstance(context_key, str) or callable(context_key)):
            raise ConfigError(f"context_key must be a str, a callable or None: {context_key!r}")
        _require_hold(guard, "as_runnable()")
        self.guard = guard
        self.bound = runnable
        self.context_key = context_key
        self.feedback = feedback
        self.feedback_key = feedback_key
        self.feedback_role = feedback_role
        self.on_result = on_result
        self.name = name

    def __repr__(self) -> str:
        return f"GuardedRunnable({self.bound!r})"

    # the wrapped runnable's types and schemas

    @property
    def InputType(self) -> type[Input]:
        return self.bound.InputType

    @property
    def OutputType(self) -> type[Output]:
        return self.bound.OutputType

    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self.bound.get_input_schema(config)

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return self.bound.get_output_schema(config)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        return self.bound.config_specs

    # one call

    def context_of(self, value: Any) -> ContextLike:
        """The guard's context for an input."""
        key = self.context_key
        if key is None:
            return None
        if callable(key):
            return key(value)
        if not isinstance(value, Mapping):
            return None  # a chat model's input has no fields: pass a callable instead
        if key not in value:
            raise ConfigError(
                f"the input has no {key!r} key for the guard's context (keys: {sorted(value)}): "
                "set as_runnable(context_key=...) to its key, a callable, or None"
            )
        return value[key]

    def _route(self, value: Any) -> Literal["message", "input"] | None:
        if not self.guard.policy.needs_feedback:
            return None
        return feedback_route(value, self.feedback)

    def _retry_input(self, value: Any, route: Literal["message", "input"], fb: Feedback) -> Any:
        return with_feedback(value, fb, route, self.feedback_key, self.feedback_role)

    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        value = gather(inputs)
        context = self.context_of(value)
        route = self._route(value)
        shaper = Shaper(_default_kind(self.bound))

        def again(fb: Feedback) -> Iterator[str]:
            assert route is not None
            child = patch_config(config, callbacks=run_manager.get_child(f"guardrails:{fb.kind}"))
            chunks = self.bound.stream(self._retry_input(value, route, fb), child, **kwargs)
            return shaper.texts(chunks, fb.kind)

        upstream = shaper.texts(self.bound.stream(value, config, **kwargs), "first")
        events = self.guard.events(upstream, context, regenerate=again if route else None)
        yield from drive(events, shaper, run_manager, config, self.on_result)

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        value = await agather(inputs)
        context = self.context_of(value)
        route = self._route(value)
        shaper = Shaper(_default_kind(self.bound))

        def again(fb: Feedback) -> AsyncIterator[str]:
            assert route is not None
            child = patch_config(config, callbacks=run_manager.get_child(f"guardrails:{fb.kind}"))
            chunks = self.bound.astream(self._retry_input(value, route, fb), child, **kwargs)
            return shaper.atexts(chunks, fb.kind)

        upstream = shaper.atexts(self.bound.astream(value, config, **kwargs), "first")
        events = self.guard.aevents(upstream, context, regenerate=again if route else None)
        async for chunk in adrive(events, shaper, run_manager, config, self.on_result):
            yield chunk


class GuardTransform(_Runnable[LanguageModelOutput, LanguageModelOutput]):
    """A pipeline step that guards the stream of the step before it: ``model | guard``.

    It takes what a chat model or a ``StrOutputParser`` streams and yields the
    same chunk type, with the same metadata, events and ``on_result`` as
    :class:`GuardedRunnable`. The context is ``context``, or else
    ``config["configurable"][configurable_key]``.

    It cannot call the model again, so a policy that may regenerate or rewrite
    is a ``ConfigError`` here (use :class:`GuardedRunnable`), unless
    ``if_regenerate="fallback"``: then the policy's fallbacks apply (registered
    fallback LLMs, then ``otherwise``: cut for regenerate, drop for rewrite).
    """

    def __init__(
        self,
        guard: Guard,
        *,
        context: ContextLike = None,
        configurable_key: str = "context",
        if_regenerate: Literal["error", "fallback"] = "error",
        on_result: ResultHook | None = None,
        name: str | None = None,
    ) -> None:
        if if_regenerate not in ("error", "fallback"):
            raise ConfigError(f"if_regenerate must be 'error' or 'fallback', got {if_regenerate!r}")
        if if_regenerate == "error" and guard.policy.needs_feedback:
            raise ConfigError(
                "the policy may regenerate or rewrite, which needs the model: wrap it with "
                "guard.as_runnable(model_or_chain), or pass as_transform(if_regenerate='fallback') "
                "to let the policy's fallback actions apply instead"
            )
        _require_hold(guard, "as_transform()")
        self.guard = guard
        self.context = context
        self.configurable_key = configurable_key
        self.on_result = on_result
        self.name = name

    def __repr__(self) -> str:
        return f"GuardTransform(configurable_key={self.configurable_key!r})"

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        if self.context is not None:
            return []
        return [
            ConfigurableFieldSpec(
                id=self.configurable_key,
                annotation=Any,
                name="Guard context",
                description="The passages the guard checks the output against.",
            )
        ]

    def context_of(self, config: RunnableConfig) -> ContextLike:
        if self.context is not None:
            return self.context
        return (config.get("configurable") or {}).get(self.configurable_key)

    # LangChain reads the rest of a step's input after the step ends (to trace it), so
    # after a cut the model would run to its end; the gate closes the input instead.

    def transform(
        self,
        input: Iterator[LanguageModelOutput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[LanguageModelOutput]:
        gate = Gate(input)
        yield from self._transform_stream_with_config(
            gate, self._transform, config, gate=gate, **kwargs
        )

    async def atransform(
        self,
        input: AsyncIterator[LanguageModelOutput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[LanguageModelOutput]:
        gate = AGate(input)
        async for chunk in self._atransform_stream_with_config(
            gate, self._atransform, config, gate=gate, **kwargs
        ):
            yield chunk

    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        gate: Gate | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        shaper = Shaper("text")
        events = self.guard.events(shaper.texts(inputs, "first"), self.context_of(config))
        try:
            yield from drive(events, shaper, run_manager, config, self.on_result)
        finally:
            if gate is not None:
                gate.shut()

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        gate: AGate | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        shaper = Shaper("text")
        events = self.guard.aevents(shaper.atexts(inputs, "first"), self.context_of(config))
        try:
            async for chunk in adrive(events, shaper, run_manager, config, self.on_result):
                yield chunk
        finally:
            if gate is not None:
                await gate.shut()
