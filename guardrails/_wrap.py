"""``Guard.wrap``: one decorator for the four shapes an LLM call comes in."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from guardrails._context import ContextLike
from guardrails._drivers import Target
from guardrails.errors import ConfigError
from guardrails.events import Done

if TYPE_CHECKING:
    from guardrails.guard import Guard

__all__ = ["wrap_function"]

ContextSpec = str | Callable[[tuple[Any, ...], dict[str, Any]], ContextLike] | None


def wrap_function(
    guard: Guard,
    fn: Callable[..., Any],
    *,
    context: ContextSpec,
    feedback: str,
    return_result: bool,
) -> Callable[..., Any]:
    from guardrails.guard import last_result, signature_accepts

    sig = inspect.signature(fn)
    takes_feedback = signature_accepts(fn, feedback)
    if guard.policy.needs_feedback and not takes_feedback:
        raise ConfigError(
            f"the policy may regenerate, but {fn.__qualname__}() takes no {feedback!r} "
            f"keyword: add `{feedback}: Feedback | None = None` or set wrap(feedback=...)"
        )
    if isinstance(context, str) and context not in sig.parameters:
        raise ConfigError(
            f"wrap(context={context!r}): {fn.__qualname__}() has no parameter {context!r} "
            f"(has: {list(sig.parameters)})"
        )

    def find_context(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ContextLike:
        if context is None:
            return None
        if callable(context):
            return context(args, kwargs)
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments[context]

    def target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Target | None:
        if not takes_feedback:
            return None
        return lambda fb: fn(*args, **{**kwargs, feedback: fb})

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
            stream = guard.astream(
                fn(*args, **kwargs), find_context(args, kwargs), regenerate=target(args, kwargs)
            )
            try:
                async for delta in stream:
                    yield delta
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

        return agen_wrapper

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[str]:
            yield from guard.stream(
                fn(*args, **kwargs), find_context(args, kwargs), regenerate=target(args, kwargs)
            )

        return gen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            events = guard.aevents(
                fn(*args, **kwargs), find_context(args, kwargs), regenerate=target(args, kwargs)
            )
            result = None
            async for event in events:
                if isinstance(event, Done):
                    result = event.result
            assert result is not None
            return result if return_result else result.text

        return async_wrapper

    @functools.wraps(fn)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        events = guard.events(
            fn(*args, **kwargs), find_context(args, kwargs), regenerate=target(args, kwargs)
        )
        result = last_result(events)
        return result if return_result else result.text

    return sync_wrapper
