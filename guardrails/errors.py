"""Every exception the library raises on purpose.

::

    GuardrailError                 base: catch this to catch them all
    ├── ConfigError                a pack, policy, detector option or wrap() call is wrong
    │                              (raised at load / wrap time, never mid-stream)
    ├── Blocked                    a ``raise`` rule fired; ``.result`` is the GuardResult
    ├── UpstreamError              the wrapped LLM call failed, stalled or yielded a
    │                              non-text chunk; ``.partial`` is the validated prefix
    ├── DetectorError              a detector cannot run at all (say, its model fails to
    │                              start); a failure *during* a check is never raised: it
    │                              becomes a finding and ``on_error`` decides
    └── ModelError                 a model file is missing, corrupt or unloadable

``ConfigError`` is kept apart from ``Blocked``: the first is a bug to fix, the
second is the guard doing its job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrails._result import GuardResult

__all__ = [
    "Blocked",
    "ConfigError",
    "DetectorError",
    "GuardrailError",
    "ModelError",
    "UpstreamError",
]


class GuardrailError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigError(GuardrailError):
    """A configuration is wrong. ``where`` names the file/key when known."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class Blocked(GuardrailError):
    """A ``raise`` rule fired. ``result`` holds the findings and what was released."""

    def __init__(self, message: str, result: GuardResult) -> None:
        self.result = result
        super().__init__(message)


class UpstreamError(GuardrailError):
    """The upstream LLM call failed. ``partial`` is the result for the text received."""

    def __init__(self, message: str, partial: GuardResult | None = None) -> None:
        self.partial = partial
        super().__init__(message)


class DetectorError(GuardrailError):
    """A detector raised, timed out or returned something that is not a finding."""

    def __init__(self, message: str, *, detector: str, cause: Any = None) -> None:
        self.detector = detector
        self.cause = cause
        super().__init__(f"detector {detector!r}: {message}")


class ModelError(GuardrailError):
    """A model directory or file is missing, corrupt, or cannot be loaded."""
