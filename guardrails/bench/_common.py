"""What every bench section shares: settings, percentiles, the device, the guard.

Nothing but the standard library and the package's error types is imported at
module level: the memory section's child process imports this module, and its
peak RSS should be the library's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails.bench import SECTIONS
from guardrails.errors import GuardrailError

if TYPE_CHECKING:
    from detectors.grounding import Grounding
    from guardrails.guard import Guard

__all__ = [
    "FAILED",
    "PACK",
    "BenchError",
    "BenchSettings",
    "build_guard",
    "close_guard",
    "grounding_of",
    "quick_settings",
    "resolve_device",
    "start_models",
    "summarize",
]

PACK = "rag-balanced"
"""The pack every section measures: the default of ``guardrails check``."""


_CUDA = "CUDAExecutionProvider"
_NLI_TYPES = frozenset({"grounding", "nli", "self_consistency"})


class BenchError(GuardrailError):
    """The benchmark cannot run as asked (say, ``--device cuda`` without CUDA)."""


@dataclass(frozen=True)
class BenchSettings:
    """Every knob of a bench run; :func:`quick_settings` shrinks them for smoke runs.

    ``nli_model`` / ``embed_model``: model directories in place of the shipped
    ones. ``delta_chars`` / ``delta_ms``: the fake LLM's delta size and the pause
    before each delta. ``streams`` answers of ``sentences`` sentences each are
    streamed per mode. ``concurrency``: the throughput levels; each validates
    ``max(items, level)`` answers of ``claims_per_item`` claims; ``raw_pairs``
    caps the pairs the raw-model baseline scores. ``batches`` and ``seconds``:
    the runtime section's batch sizes and time per measurement. ``import_repeats``:
    import-time runs (the best is kept).
    """

    device: str = "auto"
    sections: tuple[str, ...] = SECTIONS
    quick: bool = False
    nli_model: Path | None = None
    embed_model: Path | None = None
    delta_chars: int = 4
    delta_ms: float = 20.0
    streams: int = 4
    sentences: int = 8
    concurrency: tuple[int, ...] = (1, 8, 32)
    items: int = 48
    claims_per_item: int = 3
    raw_pairs: int = 128
    batches: tuple[int, ...] = (1, 8, 32)
    seconds: float = 1.5
    import_repeats: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sections) - set(SECTIONS))
        if unknown:
            raise BenchError(f"unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise BenchError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        counts = {
            "delta_chars": self.delta_chars,
            "streams": self.streams,
            "sentences": self.sentences,
            "items": self.items,
            "claims_per_item": self.claims_per_item,
            "raw_pairs": self.raw_pairs,
            "import_repeats": self.import_repeats,
        }
        for key, value in counts.items():
            if value < 1:
                raise BenchError(f"{key} must be at least 1, got {value}")
        if self.delta_ms < 0 or self.seconds <= 0:
            raise BenchError(
                f"delta_ms must be >= 0 and seconds > 0, got {self.delta_ms}, {self.seconds}"
            )
        for key, levels in (("concurrency", self.concurrency), ("batches", self.batches)):
            if not levels or min(levels) < 1:
                raise BenchError(f"{key} must be positive integers, got {list(levels)}")

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("nli_model", "embed_model"):
            data[key] = "shipped" if data[key] is None else Path(data[key]).name
        for key in ("sections", "concurrency", "batches"):
            data[key] = list(data[key])
        return data


def quick_settings(**overrides: Any) -> BenchSettings:
    """Settings for tests and smoke runs: each section takes a second or two (the
    runtime section also pays for importing torch and loading two models)."""
    small: dict[str, Any] = {
        "quick": True,
        "streams": 1,
        "sentences": 3,
        "concurrency": (1, 4),
        "items": 4,
        "claims_per_item": 2,
        "raw_pairs": 16,
        "batches": (1, 8),
        "seconds": 0.2,
        "import_repeats": 1,
    }
    small.update(overrides)
    return BenchSettings(**small)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0..100) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, mean and max of durations in seconds, as milliseconds.

    An empty sample gives ``n`` 0 and the other keys 0.0, so the layout never changes.
    """
    import statistics

    if not seconds:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    return {
        "n": len(seconds),
        "p50": percentile(seconds, 50) * 1000,
        "p95": percentile(seconds, 95) * 1000,
        "p99": percentile(seconds, 99) * 1000,
        "mean": statistics.fmean(seconds) * 1000,
        "max": max(seconds) * 1000,
    }


def resolve_device(requested: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a requested ``auto | cpu | cuda``.

    ``cuda`` without onnxruntime's CUDA provider is a :class:`BenchError`. With
    CUDA, the CUDA and cuDNN libraries that pip installs (say, with torch) are
    preloaded where onnxruntime offers it, so its provider finds them.
    """
    import onnxruntime as ort

    available = list(ort.get_available_providers())
    if requested == "cuda" and _CUDA not in available:
        raise BenchError(
            f"--device cuda: onnxruntime has no {_CUDA} (available: {', '.join(available)}); "
            "install onnxruntime-gpu in place of onnxruntime, or use --device cpu"
        )
    device = (
        "cuda" if requested == "cuda" or (requested == "auto" and _CUDA in available) else "cpu"
    )
    if device == "cuda" and hasattr(ort, "preload_dlls"):
        # what it cannot load, the session start then reports, naming the provider
        with contextlib.suppress(OSError):
            ort.preload_dlls()
    return device


def build_guard(
    device: str,
    mode: str = "hold",
    nli_model: Path | None = None,
    embed_model: Path | None = None,
) -> Guard:
    """The default pack as a guard: its model-backed detectors on ``device``, its
    stream ``mode`` as given, and the model directories replaced when given."""
    from guardrails.guard import Guard
    from policies.loader import load_pack, parse_pack

    base = load_pack(PACK)
    detectors: dict[str, dict[str, Any]] = {}
    for name, detector in base.detectors.items():
        options = {"type": detector.type, **detector.options}
        fields = type(detector).model_fields
        if "device" in fields:
            options["device"] = device
        if nli_model is not None and detector.type in _NLI_TYPES:
            options["model"] = str(nli_model)
        if embed_model is not None and detector.type == "embedding":
            options["model"] = str(embed_model)
        if embed_model is not None and "embedder" in fields:
            options["embedder"] = str(embed_model)
        detectors[name] = options
    data = {"name": f"{PACK}-bench", "extends": PACK, "stream": {"mode": mode}}
    spec = parse_pack({**data, "detectors": detectors}, f"pack {PACK!r} ({mode} mode)")
    return Guard._from_spec(spec, f"pack {PACK!r}")


def grounding_of(guard: Guard) -> Grounding:
    """The guard's grounding detector (the one whose NLI model the bench measures)."""
    from detectors.grounding import Grounding

    for detector in guard.detectors:
        if isinstance(detector, Grounding):
            return detector
    raise BenchError(f"pack {PACK!r} has no grounding detector: nothing to measure")


def start_models(guard: Guard) -> str:
    """Start the grounding model's session now; return its execution provider.

    A model that cannot start must stop the bench with its own error: inside a
    check the failure would only become a finding that ``fail_open`` lets pass,
    and the figures would measure a guard without its model.
    """
    return grounding_of(guard).nli.model.provider


FAILED = frozenset({"timeout", "error"})
"""Finding labels of a check that did not run to the end."""


def close_guard(guard: Guard) -> None:
    """Stop a bench guard's worker threads and its grounding scorer's batcher thread."""
    from detectors.grounding import Grounding

    guard.close()
    for detector in guard.detectors:
        if isinstance(detector, Grounding):
            detector.nli.close()


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
