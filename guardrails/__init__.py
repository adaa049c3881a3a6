"""groundrail: a streaming-aware output guardrail for LLM applications.

``import guardrails`` is cheap: names are imported on first use (PEP 562), so
pydantic, YAML and the detectors load only when a guard is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrails._result import Feedback, GuardResult, SegmentResult
    from guardrails._stream import StreamGuard
    from guardrails.errors import (
        Blocked,
        ConfigError,
        DetectorError,
        GuardrailError,
        ModelError,
        UpstreamError,
    )
    from guardrails.events import (
        ActionEvent,
        Done,
        Edit,
        Event,
        FindingEvent,
        Retraction,
        TextDelta,
    )
    from guardrails.guard import Guard, StreamSettings
    from policies import Allow, Block, Correct, Cut, Policy, Raise, Regenerate, Rule, Warn, When

__version__ = "0.1.0"

_WHERE = {
    "Guard": "guardrails.guard",
    "StreamSettings": "guardrails.guard",
    "StreamGuard": "guardrails._stream",
    "GuardResult": "guardrails._result",
    "SegmentResult": "guardrails._result",
    "Feedback": "guardrails._result",
    "GuardrailError": "guardrails.errors",
    "ConfigError": "guardrails.errors",
    "Blocked": "guardrails.errors",
    "UpstreamError": "guardrails.errors",
    "DetectorError": "guardrails.errors",
    "ModelError": "guardrails.errors",
    "Event": "guardrails.events",
    "TextDelta": "guardrails.events",
    "FindingEvent": "guardrails.events",
    "ActionEvent": "guardrails.events",
    "Retraction": "guardrails.events",
    "Done": "guardrails.events",
    "Edit": "guardrails.events",
    "Policy": "policies",
    "Rule": "policies",
    "When": "policies",
    "Allow": "policies",
    "Warn": "policies",
    "Cut": "policies",
    "Correct": "policies",
    "Regenerate": "policies",
    "Block": "policies",
    "Raise": "policies",
}

__all__ = [
    "ActionEvent",
    "Allow",
    "Block",
    "Blocked",
    "ConfigError",
    "Correct",
    "Cut",
    "DetectorError",
    "Done",
    "Edit",
    "Event",
    "Feedback",
    "FindingEvent",
    "Guard",
    "GuardResult",
    "GuardrailError",
    "ModelError",
    "Policy",
    "Raise",
    "Regenerate",
    "Retraction",
    "Rule",
    "SegmentResult",
    "StreamGuard",
    "StreamSettings",
    "TextDelta",
    "UpstreamError",
    "Warn",
    "When",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
