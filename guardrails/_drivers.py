"""Two thin loops around :class:`StreamGuard`: one for threads, one for asyncio.

Both do the same four things: pull upstream deltas one at a time, run the
detector jobs the core hands out (cheap ones inline, CPU-bound ones on a thread
pool, ``acheck`` ones as tasks), enforce deadlines and the stall timeout, and
start the next attempt when the core asks for a regeneration. Everything else
is the core's business.

The sync loop pulls the upstream iterator on a helper thread, so a validated
sentence is released the moment its check ends, not when the next delta
arrives, and a stalled upstream can be timed out. The iterator is also closed
on that thread (a generator may only be closed by the thread running it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import queue
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from guardrails._jobs import Job, Outcome
from guardrails._stream import LLMCall, StreamGuard
from guardrails.errors import Blocked, UpstreamError
from guardrails.events import Event

__all__ = ["Target", "run_async", "run_sync"]

Target = Callable[[Any], Any]  # Feedback -> str | Iterable[str] | Awaitable[...] | AsyncIterable


def _as_text(item: object) -> str | None:
    """A delta as text; ``None`` and ``""`` carry nothing. Anything else is an error."""
    if item is None or isinstance(item, str):
        return item or None
    raise UpstreamError(f"upstream yielded a {type(item).__name__}, expected str")


def _sync_iter(value: object) -> Iterator[object]:
    if isinstance(value, str):
        return iter((value,))
    if isinstance(value, Iterable):
        return iter(value)
    raise UpstreamError(f"the guarded call returned a {type(value).__name__}, expected text")


_POLL_S = 0.05


def _due(job: Job, now: float) -> float:
    """When the driver should look at ``job`` again: its deadline once it runs, else soon."""
    due = job.due
    return now + _POLL_S if due is None else due


def _next_wake(
    sg: StreamGuard,
    inflight: Iterable[Job],
    now: float,
    stall_timeout_s: float | None,
    last_input: float | None,
) -> float | None:
    """The earliest moment a driver must wake without news: a job's deadline (or a poll
    while a job waits for a worker), the hold timer, or the stall timeout."""
    wake = [_due(job, now) for job in inflight]
    if (hold := sg.next_deadline()) is not None:
        wake.append(hold)
    if stall_timeout_s is not None and last_input is not None:
        wake.append(last_input + stall_timeout_s)
    return min(wake, default=None)


def _caller(call: LLMCall, target: Target | None, llms: Mapping[str, Target]) -> Callable[[], Any]:
    """The LLM call the core asked for, ready to make."""
    fn = target if call.via is None else llms[call.via]
    assert fn is not None, "the core asks only for targets it was told exist"
    return lambda: fn(call.feedback)


def _finish(sg: StreamGuard, error: BaseException | None) -> None:
    """After Done: turn an upstream failure or a ``raise`` verdict into the caller's error."""
    assert sg.result is not None
    if error is not None:
        message = (
            error.args[0] if isinstance(error, UpstreamError) else f"upstream failed: {error!r}"
        )
        raise UpstreamError(message, partial=sg.result) from error
    if sg.terminal == "raise":
        raise Blocked(sg.result.actions[-1].message or "output blocked", sg.result)


# ------------------------------------------------------------------------ sync


class _Puller:
    """Pulls one delta per :meth:`request` on its own thread into the shared inbox."""

    def __init__(self, it: Iterator[object], inbox: queue.SimpleQueue[tuple[Any, ...]]) -> None:
        self._it = it
        self._inbox = inbox
        self._want = threading.Semaphore(0)
        self._stopped = False
        # The caller's context variables (tracing spans, request ids) follow the pull.
        ctx = contextvars.copy_context()
        self._thread = threading.Thread(
            target=ctx.run, args=(self._run,), name="guardrails-upstream", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        self._want.release()

    def _run(self) -> None:
        try:
            while True:
                self._want.acquire()
                if self._stopped:
                    return
                try:
                    item = next(self._it)
                except StopIteration:
                    self._inbox.put(("end", self))
                    return
                except BaseException as exc:
                    self._inbox.put(("error", self, exc))
                    return
                self._inbox.put(("delta", self, item))
        finally:
            close = getattr(self._it, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    def stop(self, wait_s: float) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._want.release()
        if self._thread is not threading.current_thread():
            self._thread.join(wait_s)


class _Inline:
    """A list, tuple or string needs no thread: deltas are queued on request."""

    def __init__(self, items: Iterator[object], inbox: queue.SimpleQueue[tuple[Any, ...]]) -> None:
        self._items = items
        self._inbox = inbox

    def request(self) -> None:
        item = next(self._items, _END)
        self._inbox.put(("end", self) if item is _END else ("delta", self, item))

    def stop(self, wait_s: float) -> None:
        del wait_s


_END = object()


def _source(value: object, inbox: queue.SimpleQueue[tuple[Any, ...]]) -> _Puller | _Inline:
    if isinstance(value, (str, list, tuple)):
        return _Inline(_sync_iter(value), inbox)
    return _Puller(_sync_iter(value), inbox)


def run_sync(
    sg: StreamGuard,
    upstream: object,
    pool: Callable[[], Executor],
    *,
    target: Target | None = None,
    llms: Mapping[str, Target] | None = None,
    stall_timeout_s: float | None = None,
    close_wait_s: float = 5.0,
) -> Iterator[Event]:
    """Drive ``sg`` over a sync upstream; yields every event, raises after Done."""
    llms = llms or {}
    inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    src = _source(upstream, inbox)
    src.request()
    inflight: set[Job] = set()  # deadlines run from when a worker starts the job
    error: BaseException | None = None
    # When the last upstream message came; None once the attempt's upstream ended, so
    # that slow checks after the last delta are never taken for a stalled upstream.
    last_input: float | None = time.monotonic()
    try:
        while True:
            while jobs := sg.take_jobs():
                for job in jobs:
                    if job.cpu_bound or job.is_async:
                        inflight.add(job)
                        fut = pool().submit(job.run)
                        fut.add_done_callback(_post(inbox.put, "job", job))
                    else:
                        yield from sg.complete(job, job.run())
            if (call := sg.call) is not None:
                ask = _caller(call, target, llms)
                if call.kind == "rewrite":
                    try:
                        answer = "".join(t for t in map(_as_text, _sync_iter(ask())) if t)
                    except Exception as exc:
                        yield from sg.rewritten(None, repr(exc))
                    else:
                        yield from sg.rewritten(answer)
                    continue
                src.stop(close_wait_s)
                sg.resume()
                try:
                    src = _source(ask(), inbox)
                except Exception as exc:
                    error = exc
                    yield from sg.fail(f"regeneration call failed: {exc!r}")
                    continue
                src.request()
                last_input = time.monotonic()
                continue
            if sg.done:
                break
            now = time.monotonic()
            stall = None if error is not None else stall_timeout_s
            wake = _next_wake(sg, inflight, now, stall, last_input)
            try:
                msg = inbox.get(timeout=None if wake is None else max(0.0, wake - now))
            except queue.Empty:
                now = time.monotonic()
                for job in list(inflight):
                    if (due := job.due) is not None and now >= due:
                        inflight.discard(job)
                        yield from sg.complete(job, job.timeout())
                if (
                    stall_timeout_s is not None
                    and error is None
                    and last_input is not None
                    and now >= last_input + stall_timeout_s
                ):
                    error = UpstreamError(f"upstream stalled: no delta for {stall_timeout_s} s")
                    src.stop(0)
                    yield from sg.fail(str(error))
                yield from sg.tick()
                continue
            kind = msg[0]
            if kind == "job":
                job, fut = msg[1], msg[2]
                if job in inflight:
                    inflight.discard(job)
                    yield from sg.complete(job, _result_of(fut))
                continue
            if msg[1] is not src or error is not None:
                continue  # from an attempt already closed
            last_input = time.monotonic()
            if kind == "delta":
                try:
                    text = _as_text(msg[2])
                except UpstreamError as exc:
                    error = exc
                    yield from sg.fail(str(exc))
                    continue
                src.request()
                if text:
                    yield from sg.feed(text)
            elif kind == "end":
                last_input = None
                yield from sg.finish()
            else:
                error = msg[2]
                yield from sg.fail(f"upstream raised {msg[2]!r}")
    finally:
        src.stop(close_wait_s)
    _finish(sg, error)


def _result_of(fut: Future[Outcome]) -> Outcome:
    try:
        return fut.result()
    except BaseException as exc:  # the job itself never raises; this is the pool failing
        return Outcome([], f"{type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------- async


def _post(put: Callable[[tuple[Any, ...]], None], tag: str, key: object) -> Callable[[Any], None]:
    """A done-callback that posts ``(tag, key, future)`` to a driver's inbox."""

    def callback(fut: Any) -> None:
        if isinstance(fut, asyncio.Future) and not fut.cancelled():
            fut.exception()  # mark it retrieved: stale pulls are never read
        put((tag, key, fut))

    return callback


async def _aiter(value: object) -> AsyncIterator[object]:
    if inspect.isawaitable(value):
        value = await value
    if isinstance(value, AsyncIterable):
        async for item in value:
            yield item
        return
    items = _sync_iter(value)
    try:
        for item in items:
            yield item
    finally:
        close = getattr(items, "close", None)
        if callable(close):
            close()


async def run_async(
    sg: StreamGuard,
    upstream: object,
    pool: Callable[[], Executor],
    *,
    target: Target | None = None,
    llms: Mapping[str, Target] | None = None,
    stall_timeout_s: float | None = None,
) -> AsyncIterator[Event]:
    """Drive ``sg`` over an async (or sync) upstream; yields every event, raises after Done."""
    llms = llms or {}
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    it: AsyncIterator[object] = (
        aiter(upstream) if isinstance(upstream, AsyncIterable) else _aiter(upstream)
    )
    pull: asyncio.Future[object] | None = None
    inflight: dict[Job, asyncio.Future[Outcome]] = {}
    error: BaseException | None = None
    last_input: float | None = time.monotonic()  # None: the attempt's upstream ended

    def request() -> None:
        nonlocal pull
        pull = asyncio.ensure_future(it.__anext__())
        pull.add_done_callback(_post(inbox.put_nowait, "pull", it))

    async def close_upstream() -> None:
        if pull is not None and not pull.done():
            pull.cancel()
            with contextlib.suppress(BaseException):
                await pull
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()

    request()
    try:
        while True:
            while jobs := sg.take_jobs():
                for job in jobs:
                    if job.is_async:
                        fut: asyncio.Future[Outcome] = asyncio.ensure_future(job.arun())
                    elif job.cpu_bound:
                        fut = loop.run_in_executor(pool(), job.run)
                    else:
                        for event in sg.complete(job, job.run()):
                            yield event
                        continue
                    inflight[job] = fut
                    fut.add_done_callback(_post(inbox.put_nowait, "job", job))
            if (call := sg.call) is not None:
                ask = _caller(call, target, llms)
                if call.kind == "rewrite":
                    try:
                        parts = [t async for t in _aiter(ask())]
                        answer = "".join(t for t in map(_as_text, parts) if t)
                    except Exception as exc:
                        events = sg.rewritten(None, repr(exc))
                    else:
                        events = sg.rewritten(answer)
                    for event in events:
                        yield event
                    continue
                await close_upstream()
                sg.resume()
                try:
                    it = _aiter(ask())
                except Exception as exc:
                    error = exc
                    for event in sg.fail(f"regeneration call failed: {exc!r}"):
                        yield event
                    continue
                request()
                last_input = time.monotonic()
                continue
            if sg.done:
                break
            now = time.monotonic()
            stall = None if error is not None else stall_timeout_s
            wake = _next_wake(sg, inflight, now, stall, last_input)
            try:
                # What arrived while the consumer held the stream is read first: a wait
                # with a timeout already past would give up on it (wait_for, Python 3.11).
                if not inbox.empty():
                    msg = inbox.get_nowait()
                else:
                    timeout = None if wake is None else max(0.0, wake - now)
                    msg = await asyncio.wait_for(inbox.get(), timeout)
            except asyncio.TimeoutError:
                now = time.monotonic()
                for job, fut in list(inflight.items()):
                    if (due := job.due) is not None and now >= due:
                        del inflight[job]
                        fut.cancel()
                        for event in sg.complete(job, job.timeout()):
                            yield event
                if (
                    stall_timeout_s is not None
                    and error is None
                    and last_input is not None
                    and now >= last_input + stall_timeout_s
                ):
                    error = UpstreamError(f"upstream stalled: no delta for {stall_timeout_s} s")
                    for event in sg.fail(str(error)):
                        yield event
                for event in sg.tick():
                    yield event
                continue
            if msg[0] == "job":
                job, done = msg[1], msg[2]
                if inflight.pop(job, None) is not None:
                    outcome = (
                        done.result()
                        if not done.cancelled() and done.exception() is None
                        else (
                            Outcome(
                                [], repr(done.exception()) if not done.cancelled() else "cancelled"
                            )
                        )
                    )
                    for event in sg.complete(job, outcome):
                        yield event
                continue
            if msg[1] is not it or error is not None:
                continue
            last_input = time.monotonic()
            done_pull: asyncio.Future[object] = msg[2]
            if done_pull.cancelled():
                continue
            failure = done_pull.exception()
            if isinstance(failure, StopAsyncIteration):
                last_input = None
                events = sg.finish()
            elif failure is not None:
                error = failure
                events = sg.fail(f"upstream raised {failure!r}")
            else:
                try:
                    text = _as_text(done_pull.result())
                except UpstreamError as bad:
                    error = bad
                    events = sg.fail(str(bad))
                else:
                    request()
                    events = sg.feed(text) if text else []
            for event in events:
                yield event
    finally:
        for fut in inflight.values():
            fut.cancel()
        await close_upstream()
    _finish(sg, error)
