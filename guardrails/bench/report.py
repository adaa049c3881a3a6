"""One bench run: the machine, every section, and the tables that show them
(:func:`render` for a terminal, :func:`markdown` for a README)."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guardrails.bench import SECTIONS
from guardrails.bench._common import BenchSettings, cpu_count, resolve_device
from guardrails.bench._markdown import markdown

__all__ = ["SCHEMA", "machine", "markdown", "render", "run_bench"]

SCHEMA = 1
"""Version of the report's JSON layout (``docs/benchmarks.md``)."""

_PACKAGES = (
    "onnxruntime",
    "onnxruntime-gpu",
    "tokenizers",
    "numpy",
    "torch",
    "sentence-transformers",
)
NOT_SELECTED = "not selected (--only)"

Section = Callable[[BenchSettings, str], dict[str, Any]]


def _first_line(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, GPUs, the Python and library versions, onnxruntime's providers."""
    import onnxruntime as ort

    mem_kb = _first_line("/proc/meminfo", "MemTotal")
    ram = float(mem_kb.split()[0]) / 1024**2 if mem_kb else None
    return {
        "cpu": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": cpu_count(),
        "ram_gb": ram,
        "gpus": _gpus(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: v for name in _PACKAGES if (v := _version(name)) is not None},
        "providers": list(ort.get_available_providers()),
    }


def _sections() -> dict[str, Section]:
    from guardrails.bench.memory import measure_memory
    from guardrails.bench.runtime import measure_runtime
    from guardrails.bench.stream import measure_stream
    from guardrails.bench.throughput import measure_throughput

    return {
        "stream": measure_stream,
        "throughput": measure_throughput,
        "runtime": measure_runtime,
        "memory": measure_memory,
    }


def run_bench(
    settings: BenchSettings, progress: Callable[[str], object] | None = None
) -> dict[str, Any]:
    """Run the selected sections; a JSON-able report with every section's key.

    A section left out by ``settings.sections`` is ``{"skipped": "not selected (--only)"}``.
    ``progress`` is told the name of each section as it starts.
    """
    from guardrails import __version__

    start = time.perf_counter()
    device = resolve_device(settings.device)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "groundrail": __version__,
        "device": device,
        "settings": settings.as_json(),
        "machine": machine(),
        "sections": {},
    }
    runners = _sections()
    for name in SECTIONS:
        if name not in settings.sections:
            report["sections"][name] = {"skipped": NOT_SELECTED}
            continue
        if progress is not None:
            progress(name)
        t0 = time.perf_counter()
        section = runners[name](settings, device)
        section["elapsed_s"] = time.perf_counter() - t0
        report["sections"][name] = section
    report["elapsed_s"] = time.perf_counter() - start
    return report


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _head(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    ram = f"{m['ram_gb']:.0f} GB RAM" if m["ram_gb"] else "RAM unknown"
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        f"groundrail {report['groundrail']} bench on {report['device']}"
        + (" (quick)" if report["settings"]["quick"] else ""),
        f"machine: {m['cpu']}, {m['cores']} cores, {ram}; Python {m['python']}",
        f"GPU: {'; '.join(m['gpus']) or 'none'}",
        f"versions: {versions}",
    ]
    return lines


def _stream(s: dict[str, Any]) -> list[str]:
    lines = [
        f"stream overhead: pack {s['pack']}, {_count(s['streams'], 'answer')}, {s['delta_chars']}-char "
        f"deltas every {s['delta_ms']:g} ms, {s['context_passages']} context passages, "
        f"sync driver, NLI on {s['provider']}",
        f"  {'mode':<10}{'TTFT p50':>10}{'release p50':>13}{'p95':>9}{'p99':>9}"
        f"{'added p50':>11}{'p95':>9}{'p99':>9}{'check p50':>11}",
    ]
    for mode, m in s["modes"].items():
        added = m.get("added_ms")
        check = m.get("check_ms")
        cells = [_f(m["ttft_ms"]["p50"]), _f(m["release_ms"]["p50"], 2)]
        cells += [_f(m["release_ms"]["p95"], 2), _f(m["release_ms"]["p99"], 2)]
        cells += [_f(added[q], 2) for q in ("p50", "p95", "p99")] if added else ["-"] * 3
        cells.append(_f(check["p50"], 2) if check else "-")
        widths = (10, 13, 9, 9, 11, 9, 9, 11)
        lines.append(
            f"  {mode:<10}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    lines.append(
        "  (ms; release: last character upstream -> shown; added: minus unguarded, per sentence;"
    )
    lines.append("   check: the delta that closes the sentence -> shown, hold mode)")
    return lines


def _throughput(s: dict[str, Any]) -> list[str]:
    lines = [
        f"throughput: pack {s['pack']}, {s['claims_per_answer']}-claim answers, {s['driver']}, "
        f"{s['worker_threads']} worker threads, NLI on {s['provider']}",
        f"  {'concurrency':>11}{'sentences/s':>13}{'pairs/s':>9}{'raw pairs/s':>13}{'of raw':>8}"
        f"{'answer p50 ms':>15}{'p95':>8}",
    ]
    lines += [
        f"  {lv['concurrency']:>11}{_f(lv['sentences_per_s']):>13}{_f(lv['pairs_per_s']):>9}"
        f"{_f(lv['raw']['pairs_per_s']):>13}{lv['fraction_of_raw']:>8.0%}"
        f"{_f(lv['latency_ms']['p50'], 0):>15}{_f(lv['latency_ms']['p95'], 0):>8}"
        for lv in s["levels"]
    ]
    lines.append(
        "  (raw: the same model on the level's own pairs, batches of 32, no guard, run right after)"
    )
    return lines


def _runtime(s: dict[str, Any]) -> list[str]:
    lines = [
        f"runtime: ONNX Runtime ({s['onnx_provider']}) vs PyTorch ({s['torch_device']}, "
        f"{s['torch_threads']} threads)"
    ]
    for key in ("cross_encoder", "embedder"):
        part = s[key]
        lines += [
            f"  {key.replace('_', '-')} ({part['unit']}, {part['mean_tokens']:.0f} tokens on average)",
            f"    onnx:  {part['onnx']}",
            f"    torch: {part['torch']}",
            f"    {'batch':>5}{'onnx':>10}{'torch':>10}{'ratio':>8}",
        ]
        lines += [
            f"    {r['batch']:>5}{_f(r['onnx_per_s']):>10}{_f(r['torch_per_s']):>10}{r['ratio']:>7.1f}x"
            for r in part["rows"]
        ]
    return lines


def _memory(s: dict[str, Any]) -> list[str]:
    return [
        f"memory and start-up: a fresh process loads pack {s['pack']} and validates one answer",
        f"  peak RSS {_f(s['peak_rss_mb'], 0)} MB; guard built in {_f(s['load_s'], 2)} s, "
        f"first validate {_f(s['first_validate_s'], 2)} s, whole process {_f(s['process_s'], 2)} s",
        f"  import guardrails {_f(s['import_guardrails_ms'])} ms; from guardrails import Guard "
        f"{_f(s['import_guard_ms'])} ms (best of {s['import_repeats']})",
    ]


_RENDER: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "stream": _stream,
    "throughput": _throughput,
    "runtime": _runtime,
    "memory": _memory,
}


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table, one block per section."""
    lines = _head(report)
    for name in SECTIONS:
        section = report["sections"][name]
        lines.append("")
        if "skipped" in section:
            lines.append(f"{name}: skipped: {section['skipped']}")
        else:
            lines += _RENDER[name](section)
    lines.append("")
    lines.append(f"total {report['elapsed_s']:.0f} s")
    return "\n".join(lines)
