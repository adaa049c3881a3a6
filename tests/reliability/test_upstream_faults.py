"""An upstream that raises, hangs, sends nothing, sends garbage or sends a megabyte.

Every case runs through the sync and the async driver; where the mode matters,
in hold and pass mode. The documented outcome: the stream ends with everything
received validated and released (the same text ``validate`` gives for it) and an
``UpstreamError`` whose ``.partial`` is that result; the upstream is closed; the
accounting invariant holds; hold mode never shows a character before its check.
Upstream failures are not detector failures: ``on_error`` does not change them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from conftest import Slow
from reliability_helpers import (
    HANG,
    ReleaseAudit,
    Upstream,
    drive,
    new_upstream_threads,
    pii_guard,
    upstream_threads,
)

from guardrails.errors import ConfigError, UpstreamError
from guardrails.events import Retraction
from guardrails.guard import Guard, StreamSettings
from guardrails.testing import FakeLLM, FakeLLMError, check_accounting
from policies import Policy

TEXT = "First sentence here. Mail ann@example.com for help. A third one is long enough"
MODES = ("hold", "pass")
ON_ERROR = ("fail_open", "fail_closed")


def expect_validated_prefix(guard: Guard, received: str, error: BaseException | None) -> None:
    assert isinstance(error, UpstreamError), error
    assert error.partial is not None
    assert error.partial.text == guard.validate(received).text
    assert error.partial.upstream == received
    assert error.partial.error


@pytest.mark.parametrize("on_error", ON_ERROR)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fail_after", [0, 1, 5, 9, 12])
def test_upstream_raises_mid_stream(driver: str, mode: str, on_error: str, fail_after: int) -> None:
    guard, recorder = pii_guard(mode, on_error)
    audit = ReleaseAudit(recorder)
    llm = FakeLLM(TEXT, chunk=6, fail_after=fail_after)
    upstream = llm.stream() if driver == "sync" else llm.astream()
    before = upstream_threads()
    events, error = drive(guard, upstream, driver, on_event=audit)
    received = TEXT[: 6 * fail_after]
    expect_validated_prefix(guard, received, error)
    assert isinstance(error.__cause__, FakeLLMError)
    assert "FakeLLMError" in str(error)
    assert check_accounting(events) is error.partial  # type: ignore[union-attr]
    assert llm.closed == 1
    assert not new_upstream_threads(before)
    if mode == "hold":
        assert audit.unchecked == []
        assert not any(isinstance(e, Retraction) for e in events)


@pytest.mark.parametrize("mode", MODES)
def test_upstream_hangs_until_the_stall_timeout(driver: str, mode: str) -> None:
    guard, recorder = pii_guard(mode, stall_timeout_s=0.3)
    audit = ReleaseAudit(recorder)
    source = Upstream(["First sentence. Mail ", "ann@example.com now", HANG, " never."])
    before = upstream_threads()
    start = time.monotonic()
    events, error = drive(guard, source.of(driver), driver, on_event=audit)
    took = time.monotonic() - start
    expect_validated_prefix(guard, "First sentence. Mail ann@example.com now", error)
    assert "stalled" in str(error) and "0.3" in str(error)
    assert 0.25 <= took < 2.0, took
    assert check_accounting(events).text == "First sentence. Mail [EMAIL] now"
    if driver == "async":
        assert source.closed  # the pending pull was cancelled inside the generator
    source.release()  # a thread cannot be interrupted: the hung pull ends when it returns
    assert not new_upstream_threads(before)
    assert source.closed and not source.ended
    if mode == "hold":
        assert audit.unchecked == []


def test_stall_timeout_comes_from_the_pack(tmp_path: Path) -> None:
    pack = tmp_path / "stall.yaml"
    pack.write_text(
        "name: stall\nstream: {stall_timeout_s: 0.2}\n"
        "detectors: {pii: {type: pii}}\nrules: [{when: {detector: pii}, action: redact}]\n",
        encoding="utf-8",
    )
    guard = Guard.from_yaml(pack)
    assert guard.settings.stall_timeout_s == 0.2
    source = Upstream(["Hello there. ", HANG])
    events, error = drive(guard, source.sync(), "sync")
    source.release()
    assert isinstance(error, UpstreamError) and "stalled" in str(error)
    assert check_accounting(events).text == "Hello there. "


@pytest.mark.parametrize("value", [0, -1.0])
def test_stall_timeout_must_be_positive(tmp_path: Path, value: float) -> None:
    with pytest.raises(ConfigError, match="stall_timeout_s"):
        StreamSettings(stall_timeout_s=value)
    pack = tmp_path / "p.yaml"
    pack.write_text(f"name: p\nstream: {{stall_timeout_s: {value}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="stall_timeout_s"):
        Guard.from_yaml(pack)


def test_no_stall_while_checks_finish_after_the_upstream_ended(driver: str) -> None:
    # the upstream is done; a slow (but in-deadline) check is no stalled upstream
    guard = Guard(
        [Slow(0.6, trigger="slow")],
        Policy(on_error="fail_closed"),
        settings=StreamSettings(stall_timeout_s=0.2),
    )
    llm = FakeLLM("A slow sentence. Then done.")
    events, error = drive(guard, llm.stream() if driver == "sync" else llm.astream(), driver)
    assert error is None, error
    result = check_accounting(events)
    assert result.text == "A slow sentence. Then done." and result.error is None


def test_no_stall_while_an_async_consumer_is_slow() -> None:
    guard = Guard([], Policy(), settings=StreamSettings(stall_timeout_s=0.15))
    llm = FakeLLM("One. Two. Three. Four.", chunk=3)

    async def main() -> list[object]:
        out: list[object] = []
        async for event in guard.aevents(llm.astream()):
            out.append(event)
            await asyncio.sleep(0.25)  # longer than the stall timeout, every time
        return out

    events = asyncio.run(main())
    assert check_accounting(events).text == "One. Two. Three. Four."  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_empty_and_none_deltas_carry_nothing(driver: str, mode: str) -> None:
    guard, _ = pii_guard(mode)
    items = ["", "Write to ", None, "", "ann@example.com", None, ". Bye", "", None]
    source = Upstream(items)
    events, error = drive(guard, source.of(driver), driver)
    assert error is None, error
    result = check_accounting(events)
    assert result.text == guard.validate("Write to ann@example.com. Bye").text
    assert result.text == "Write to [EMAIL]. Bye"
    assert source.ended and source.closed


@pytest.mark.parametrize("on_error", ON_ERROR)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("chunk", "type_name"),
    [(b"bytes", "bytes"), (42, "int"), (3.5, "float"), ({"text": "x"}, "dict"), (["x"], "list")],
)
def test_a_non_text_chunk_ends_the_stream_naming_its_type(
    driver: str, mode: str, on_error: str, chunk: object, type_name: str
) -> None:
    guard, recorder = pii_guard(mode, on_error)
    audit = ReleaseAudit(recorder)
    source = Upstream(["Good so far. Mail ann@example.com", chunk, " never seen."])
    before = upstream_threads()
    events, error = drive(guard, source.of(driver), driver, on_event=audit)
    expect_validated_prefix(guard, "Good so far. Mail ann@example.com", error)
    assert f"upstream yielded a {type_name}, expected str" in str(error)
    assert check_accounting(events).text == "Good so far. Mail [EMAIL]"
    assert source.closed and not source.ended
    assert not new_upstream_threads(before)
    if mode == "hold":
        assert audit.unchecked == []


def test_a_call_that_returns_no_iterable_is_an_upstream_error(driver: str) -> None:
    guard, _ = pii_guard()
    events, error = drive(guard, 12345, driver)
    assert isinstance(error, UpstreamError)
    assert "returned a int, expected text" in str(error)
    if events:  # the async driver meets it inside the loop: an empty, accounted result
        assert check_accounting(events).text == ""


def _big_text() -> str:
    sentence = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod. "
    body = sentence * (1_000_000 // len(sentence))
    half = len(body) // 2
    return (
        "Mail a@b.co first. " + body[:half] + "Mid mail c@d.org here. " + body[half:] + "End e@f.io"
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", ["sentences", "one word"])
def test_a_one_megabyte_delta(driver: str, mode: str, shape: str) -> None:
    guard, recorder = pii_guard(mode)
    audit = ReleaseAudit(recorder)
    text = _big_text() if shape == "sentences" else "x" * 1_000_000
    assert len(text) >= 1_000_000

    def sync_up() -> Iterator[str]:
        yield text

    async def async_up() -> AsyncIterator[str]:
        yield text

    start = time.monotonic()
    upstream = sync_up() if driver == "sync" else async_up()
    events, error = drive(guard, upstream, driver, on_event=audit)
    assert error is None, error
    assert time.monotonic() - start < 10
    result = check_accounting(events)
    assert len(result.upstream) == len(text)
    if shape == "sentences":
        assert result.text.startswith("Mail [EMAIL] first. ")
        assert "Mid mail [EMAIL] here." in result.text
        assert result.text.endswith("End [EMAIL]")
        assert "@" not in result.text
    else:
        assert result.text == text
    if mode == "hold":
        assert audit.unchecked == []
