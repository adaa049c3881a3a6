"""What a guarded LangChain call reports: custom events, run metadata, the summary.

Private to :mod:`guardrails.integrations.langchain`. The loops here turn guard
events into output chunks and, on the way, dispatch findings, actions and the
result as LangChain custom events and put the summary in the run's metadata.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import RunnableConfig

from detectors.base import Finding
from guardrails._result import GuardResult
from guardrails.events import ActionEvent, Done, Event, FindingEvent, TextDelta
from guardrails.integrations._langchain_io import Shaper

__all__ = [
    "ResultHook",
    "action_data",
    "adrive",
    "annotate_run",
    "custom_event",
    "drive",
    "finding_data",
    "result_data",
]

ResultHook = Callable[[GuardResult], object]
Run = CallbackManagerForChainRun | AsyncCallbackManagerForChainRun


def finding_data(finding: Finding) -> dict[str, Any]:
    """A finding as JSON-able data (offsets index the upstream text)."""
    return {
        "detector": finding.detector,
        "label": finding.label,
        "span": [finding.span[0], finding.span[1]],
        "score": float(finding.score),
        "message": finding.message,
        "replacement": finding.replacement,
        "support": None if finding.support is None else float(finding.support),
        "info": finding.info,
        "evidence": [
            {
                "passage": e.passage,
                "start": e.start,
                "end": e.end,
                "text": e.text,
                "scores": {k: float(v) for k, v in e.scores.items()},
            }
            for e in finding.evidence
        ],
    }


def action_data(action: ActionEvent) -> dict[str, Any]:
    """An action as JSON-able data. Removed text is left out: it may be what was redacted."""
    seg = action.segment
    return {
        "action": action.action,
        "rule": action.rule,
        "message": action.message,
        "attempt": action.attempt,
        "segment": None if seg is None else [seg.start, seg.end],
        "edits": [
            {"start": e.start, "end": e.end, "replacement": e.replacement} for e in action.edits
        ],
    }


def result_data(result: GuardResult) -> dict[str, Any]:
    """The summary that goes into ``response_metadata["guardrails"]`` and run metadata."""
    return {
        "passed": result.passed,
        "support": float(result.support),
        "attempts": result.attempts,
        "error": result.error,
        "findings": [finding_data(f) for f in result.findings],
        "actions": [action_data(a) for a in result.actions],
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "fate": s.fate,
                "label": s.label,
                "support": None if s.support is None else float(s.support),
            }
            for s in result.segments
        ],
    }


def custom_event(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The LangChain custom event for a guard event, if it has one."""
    if isinstance(event, FindingEvent):
        seg = event.segment
        return "guardrails.finding", {
            **finding_data(event.finding),
            "segment": [seg.start, seg.end],
        }
    if isinstance(event, ActionEvent):
        return "guardrails.action", action_data(event)
    if isinstance(event, Done):
        return "guardrails.done", result_data(event.result)
    return None


def annotate_run(run: Run, summary: dict[str, Any]) -> None:
    """Put the summary in the guarded run's metadata for the tracers that record it.

    Callbacks get the metadata when a run starts, before anything was checked, so
    the tracers' own record of the run (LangSmith's among them) is updated here,
    before the run ends. The metadata dict is replaced, never mutated: it may be
    shared with other runs.
    """
    for handler in run.handlers:
        runs = getattr(handler, "run_map", None)
        record = runs.get(str(run.run_id)) if isinstance(runs, dict) else None
        extra = getattr(record, "extra", None)
        if isinstance(extra, dict):
            extra["metadata"] = {**(extra.get("metadata") or {}), "guardrails": summary}


# -------------------------------------------------------------------- loops


def _done(result: GuardResult, summary: dict[str, Any], run: Run, hook: ResultHook | None) -> None:
    annotate_run(run, summary)
    if hook is not None:
        hook(result)


def drive(
    events: Iterator[Event],
    shaper: Shaper,
    run: CallbackManagerForChainRun,
    config: RunnableConfig,
    hook: ResultHook | None,
) -> Iterator[Any]:
    """Guard events out as chunks; findings, actions and the result as custom events."""
    gen = cast(Generator[Event, None, None], events)
    try:
        for event in gen:
            named = custom_event(event)
            if named is not None:
                dispatch_custom_event(*named, config=config)
            if isinstance(event, TextDelta):
                yield shaper.delta(event.text)
            elif isinstance(event, Done) and named is not None:
                _done(event.result, named[1], run, hook)
                if (last := shaper.final(named[1])) is not None:
                    yield last
    finally:
        gen.close()  # closes the upstream stream too


async def adrive(
    events: AsyncIterator[Event],
    shaper: Shaper,
    run: AsyncCallbackManagerForChainRun,
    config: RunnableConfig,
    hook: ResultHook | None,
) -> AsyncIterator[Any]:
    gen = cast(AsyncGenerator[Event, None], events)
    try:
        async for event in gen:
            named = custom_event(event)
            if named is not None:
                await adispatch_custom_event(*named, config=config)
            if isinstance(event, TextDelta):
                yield shaper.delta(event.text)
            elif isinstance(event, Done) and named is not None:
                _done(event.result, named[1], run, hook)
                if (last := shaper.final(named[1])) is not None:
                    yield last
    finally:
        await gen.aclose()
