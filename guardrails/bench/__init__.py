"""``guardrails bench``: the speed of a guard on this machine, measured in one run.

Four sections, each a JSON-able dict in the report :func:`run_bench` returns
(:func:`render` prints it as a table; ``docs/benchmarks.md`` says what each
number means and how it is measured):

* ``stream``: release delay per sentence and time to first text, hold and pass
  mode against the same stream unguarded;
* ``throughput``: validated sentences per second at several concurrencies
  through one guard, against the raw NLI model on the same pairs;
* ``runtime``: the shipped ONNX models against the same weights in
  sentence-transformers on PyTorch (needs the ``[train]`` extra);
* ``memory``: peak RSS of a fresh process that loads the default pack and
  validates one answer, and the import time of the package.

Importing this package is cheap: the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardrails.bench._common import BenchError, BenchSettings, quick_settings, summarize
    from guardrails.bench.report import markdown, render, run_bench

__all__ = [
    "SECTIONS",
    "BenchError",
    "BenchSettings",
    "markdown",
    "quick_settings",
    "render",
    "run_bench",
    "summarize",
]

SECTIONS = ("stream", "throughput", "runtime", "memory")
"""The sections of a report, in the order they run."""

_WHERE = {
    "BenchError": "guardrails.bench._common",
    "BenchSettings": "guardrails.bench._common",
    "quick_settings": "guardrails.bench._common",
    "markdown": "guardrails.bench.report",
    "render": "guardrails.bench.report",
    "run_bench": "guardrails.bench.report",
    "summarize": "guardrails.bench._common",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
