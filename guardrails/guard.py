"""``Guard``: the public entry point. Configuration in, drivers and decorators out."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from detectors.base import Detector
from guardrails._context import ContextLike, normalize_context
from guardrails._drivers import Target, run_async, run_sync
from guardrails._result import GuardResult
from guardrails._stream import Mode, StreamGuard
from guardrails.errors import ConfigError
from guardrails.events import Done, Event, TextDelta
from policies import Policy

if TYPE_CHECKING:
    from guardrails.integrations.langchain import (
        ContextSource,
        GuardedRunnable,
        GuardTransform,
        ResultHook,
    )
    from policies.loader import PackSpec

__all__ = ["Guard", "StreamSettings"]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
EventHook = Callable[[Event], object]


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How a stream is held and timed.

    ``mode``: ``hold`` releases only validated text; ``pass`` releases at once and
    retracts on failure. ``max_hold_chars``/``max_hold_ms`` bound the wait on an
    unterminated segment (hold mode). ``deadline_ms`` is each detector's budget
    per segment (``deadlines`` overrides it by detector name).
    ``stall_timeout_s`` ends a stream whose upstream sends nothing for that long.
    """

    mode: Mode = "hold"
    max_hold_chars: int | None = 4000
    max_hold_ms: float | None = None
    deadline_ms: float = 2000.0
    deadlines: tuple[tuple[str, float], ...] = ()
    stall_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("hold", "pass"):
            raise ConfigError(f"mode must be 'hold' or 'pass', got {self.mode!r}")
        for key in ("max_hold_chars", "max_hold_ms", "stall_timeout_s"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(f"{key} must be positive, got {value!r}")
        if self.deadline_ms <= 0:
            raise ConfigError(f"deadline_ms must be positive, got {self.deadline_ms!r}")


class Guard:
    """Validates LLM output against detectors and a policy, whole or streaming.

    A guard is immutable after construction and safe to share across threads and
    tasks; each call gets its own :class:`StreamGuard`. It owns a small thread
    pool for CPU-bound detectors, created on first use (``close()`` ends it).
    """

    def __init__(
        self,
        detectors: Sequence[Detector] = (),
        policy: Policy | None = None,
        *,
        settings: StreamSettings | None = None,
        on_event: EventHook | None = None,
        llms: Mapping[str, Target] | None = None,
        max_workers: int | None = None,
    ) -> None:
        names = [d.name for d in detectors]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"detector names must be unique, repeated: {dupes}")
        if policy is not None:
            for rule in policy.rules:
                if rule.when.detector is not None and rule.when.detector not in names:
                    raise ConfigError(
                        f"rule {rule.title!r} names detector {rule.when.detector!r}, "
                        f"which the guard does not have (has: {names})"
                    )
        self.detectors: tuple[Detector, ...] = tuple(detectors)
        self.policy = policy or Policy()
        self.llms: Mapping[str, Target] = MappingProxyType(dict(llms or {}))
        if missing := sorted(self.policy.llm_names - set(self.llms)):
            raise ConfigError(
                f"the policy falls back to LLM(s) {missing}, which are not registered: "
                f"pass Guard(llms={{name: callable}}) (registered: {sorted(self.llms)})"
            )
        self.settings = settings or StreamSettings()
        self.on_event = on_event
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # --------------------------------------------------------------- building

    @classmethod
    def from_pack(cls, name: str, **kwargs: Any) -> Guard:
        """A guard from a built-in policy pack (``guardrails packs list``)."""
        from policies.loader import load_pack

        return cls._from_spec(load_pack(name), f"pack {name!r}", **kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Guard:
        """A guard from a YAML policy file."""
        from policies.loader import load_file

        return cls._from_spec(load_file(Path(path)), str(path), **kwargs)

    @classmethod
    def _from_spec(cls, spec: PackSpec, source: str, **kwargs: Any) -> Guard:
        detectors, policy, stream = spec.build(source)
        settings = StreamSettings(
            mode=stream.mode,
            max_hold_chars=stream.max_hold_chars,
            max_hold_ms=stream.max_hold_ms,
            deadline_ms=stream.deadline_ms,
            deadlines=tuple(stream.deadlines.items()),
            stall_timeout_s=stream.stall_timeout_s,
        )
        kwargs.setdefault("settings", settings)
        return cls(detectors, policy, **kwargs)

    def stream_guard(
        self,
        context: ContextLike = None,
        *,
        inline: bool = True,
        can_call: bool = False,
        on_event: EventHook | None = None,
    ) -> StreamGuard:
        """The I/O-free core for one call, for callers that drive it themselves."""
        s = self.settings
        return StreamGuard(
            self.detectors,
            self.policy,
            passages=normalize_context(context),
            mode=s.mode,
            max_hold_chars=s.max_hold_chars,
            max_hold_ms=s.max_hold_ms,
            deadline_ms=s.deadline_ms,
            deadlines=dict(s.deadlines),
            can_call=can_call,
            llms=frozenset(self.llms),
            inline=inline,
            on_event=self._hook(on_event),
        )

    def _hook(self, extra: EventHook | None) -> EventHook | None:
        hooks = [h for h in (self.on_event, extra) if h is not None]
        if len(hooks) < 2:
            return hooks[0] if hooks else None
        return lambda event: [h(event) for h in hooks]

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, "guardrails-check")
            return self._pool

    def close(self) -> None:
        """Stop the worker threads (idempotent). The guard can still be used after."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- events

    def events(
        self,
        chunks: Any,
        context: ContextLike = None,
        *,
        regenerate: Target | None = None,
        on_event: EventHook | None = None,
    ) -> Iterator[Event]:
        """Every event of a guarded stream. ``chunks``: a str or an iterable of str."""
        return self._drive(run_sync, chunks, context, regenerate, on_event)

    def aevents(
        self,
        chunks: Any,
        context: ContextLike = None,
        *,
        regenerate: Target | None = None,
        on_event: EventHook | None = None,
    ) -> AsyncIterator[Event]:
        """Async :meth:`events`; ``chunks`` may be async or sync iterable, or an awaitable."""
        return self._drive(run_async, chunks, context, regenerate, on_event)

    def _drive(
        self,
        driver: Callable[..., R],
        chunks: Any,
        context: ContextLike,
        regenerate: Target | None,
        on_event: EventHook | None,
    ) -> R:
        """One call: a fresh core for it, run by the sync or the async driver."""
        sg = self.stream_guard(
            context, inline=False, can_call=regenerate is not None, on_event=on_event
        )
        return driver(
            sg,
            chunks,
            self._executor,
            target=regenerate,
            llms=self.llms,
            stall_timeout_s=self.settings.stall_timeout_s,
        )

    # ----------------------------------------------------------- text streams

    def stream(
        self,
        chunks: Any,
        context: ContextLike = None,
        *,
        regenerate: Target | None = None,
        on_event: EventHook | None = None,
    ) -> Iterator[str]:
        """The guarded text deltas. Hold mode only: pass mode needs :meth:`events`."""
        self._require_hold("stream")
        for event in self.events(chunks, context, regenerate=regenerate, on_event=on_event):
            if isinstance(event, TextDelta):
                yield event.text

    async def astream(
        self,
        chunks: Any,
        context: ContextLike = None,
        *,
        regenerate: Target | None = None,
        on_event: EventHook | None = None,
    ) -> AsyncIterator[str]:
        """Async :meth:`stream`."""
        self._require_hold("astream")
        events = self.aevents(chunks, context, regenerate=regenerate, on_event=on_event)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    yield event.text
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    def _require_hold(self, method: str) -> None:
        if self.settings.mode != "hold":
            raise ConfigError(
                f"{method}() yields plain text and cannot take text back: pass mode emits "
                "Retraction events, so iterate events()/aevents() instead"
            )

    # ------------------------------------------------------------- whole text

    def validate(
        self, text: str, context: ContextLike = None, *, regenerate: Target | None = None
    ) -> GuardResult:
        """Check a whole text. Raises ``Blocked`` if a ``raise`` rule fires."""
        return last_result(self.events([text], context, regenerate=regenerate))

    async def avalidate(
        self, text: str, context: ContextLike = None, *, regenerate: Target | None = None
    ) -> GuardResult:
        """Async :meth:`validate`: CPU-bound detectors run on the guard's thread pool."""
        result: GuardResult | None = None
        async for event in self.aevents([text], context, regenerate=regenerate):
            if isinstance(event, Done):
                result = event.result
        assert result is not None
        return result

    # -------------------------------------------------------------- decorator

    def wrap(
        self,
        context: str | Callable[[tuple[Any, ...], dict[str, Any]], ContextLike] | None = None,
        *,
        feedback: str = "feedback",
        return_result: bool = False,
    ) -> Callable[[F], F]:
        """Decorate an LLM call; the wrapper keeps its shape (sync, async, generator,
        async generator) and signature.

        ``context`` names the parameter holding the context, or is a callable
        ``(args, kwargs) -> context``. For regeneration the function must accept a
        ``feedback`` keyword (name configurable) or ``**kwargs``. Plain and async
        functions return the guarded text (``return_result=True``: the GuardResult).
        """
        from guardrails._wrap import wrap_function

        return functools.partial(
            wrap_function, self, context=context, feedback=feedback, return_result=return_result
        )  # type: ignore[return-value]

    # -------------------------------------------------------------- LangChain

    def as_runnable(
        self,
        runnable: Any,
        context_key: ContextSource = "context",
        *,
        feedback: Literal["auto", "message", "input"] = "auto",
        feedback_key: str = "feedback",
        feedback_role: Literal["human", "system"] = "human",
        on_result: ResultHook | None = None,
    ) -> GuardedRunnable[Any, Any]:
        """A LangChain runnable: ``runnable`` (chat model or chain) guarded while it streams.

        Needs the ``[langchain]`` extra; see
        :class:`guardrails.integrations.langchain.GuardedRunnable` and docs/langchain.md.
        """
        from guardrails.integrations.langchain import GuardedRunnable

        return GuardedRunnable(
            self,
            runnable,
            context_key=context_key,
            feedback=feedback,
            feedback_key=feedback_key,
            feedback_role=feedback_role,
            on_result=on_result,
        )

    def as_transform(
        self,
        context: ContextLike = None,
        *,
        configurable_key: str = "context",
        if_regenerate: Literal["error", "fallback"] = "error",
        on_result: ResultHook | None = None,
    ) -> GuardTransform:
        """A LangChain pipeline step, ``model | guard.as_transform()``; cannot regenerate.

        Needs the ``[langchain]`` extra; see
        :class:`guardrails.integrations.langchain.GuardTransform` and docs/langchain.md.
        """
        from guardrails.integrations.langchain import GuardTransform

        return GuardTransform(
            self,
            context=context,
            configurable_key=configurable_key,
            if_regenerate=if_regenerate,
            on_result=on_result,
        )


def last_result(events: Iterator[Event]) -> GuardResult:
    result: GuardResult | None = None
    for event in events:
        if isinstance(event, Done):
            result = event.result
    assert result is not None
    return result


def signature_accepts(fn: Callable[..., Any], name: str) -> bool:
    """True if ``fn`` takes a keyword argument ``name`` (explicitly or via ``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    return any(
        (p.name == name and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
        for p in params
    )
