"""A bench report as Markdown tables: the few figures a README's Speed section shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrails.bench import SECTIONS

__all__ = ["markdown"]


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def _stream(s: dict[str, Any]) -> list[str]:
    lines = [
        f"Stream overhead (pack `{s['pack']}`, {s['delta_chars']}-character deltas every "
        f"{s['delta_ms']:g} ms, NLI on {s['provider']}; ms):",
        "",
        "| mode | time to first text, p50 | added delay per sentence, p50 / p95 / p99 |",
        "|---|---:|---:|",
    ]
    for mode, m in s["modes"].items():
        added = m.get("added_ms")
        cell = " / ".join(_ms(added[q]) for q in ("p50", "p95", "p99")) if added else "-"
        lines.append(f"| {mode} | {_ms(m['ttft_ms']['p50'])} | {cell} |")
    return lines


def _throughput(s: dict[str, Any]) -> list[str]:
    lines = [
        f"Throughput (one guard, `avalidate` from concurrent tasks, {s['claims_per_answer']}-claim "
        "answers; share: of the raw NLI model's pairs/s on the same pairs):",
        "",
        "| concurrency | sentences/s | NLI pairs/s | share of raw |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {lv['concurrency']} | {lv['sentences_per_s']:,.1f} | {lv['pairs_per_s']:,.1f} "
        f"| {lv['fraction_of_raw']:.0%} |"
        for lv in s["levels"]
    ]
    return lines


def _runtime(s: dict[str, Any]) -> list[str]:
    lines = [
        f"ONNX Runtime ({s['onnx_provider']}; shipped {s['cross_encoder']['onnx']}, "
        f"{s['embedder']['onnx']}) against sentence-transformers on PyTorch "
        f"({s['torch_device']}, fp32, the same all-MiniLM-L6-v2 weights; the fine-tuned "
        "cross-encoder's fp32 weights are not shipped, so its PyTorch side has a fresh "
        "head: the same compute):",
        "",
        "| model | batch | ONNX | PyTorch | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in ("cross_encoder", "embedder"):
        part = s[key]
        name = f"{key.replace('_', '-')} ({part['unit']})"
        lines += [
            f"| {name} | {r['batch']} | {r['onnx_per_s']:,.1f} | {r['torch_per_s']:,.1f} "
            f"| {r['ratio']:.1f}x |"
            for r in part["rows"]
        ]
    return lines


def _memory(s: dict[str, Any]) -> list[str]:
    return [
        f"A fresh process that loads `{s['pack']}` and validates one answer peaks at "
        f"{s['peak_rss_mb']:,.0f} MB RSS; `import guardrails` takes "
        f"{s['import_guardrails_ms']:.1f} ms, `from guardrails import Guard` "
        f"{s['import_guard_ms']:.0f} ms."
    ]


_SECTIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "stream": _stream,
    "throughput": _throughput,
    "runtime": _runtime,
    "memory": _memory,
}


def markdown(report: dict[str, Any]) -> str:
    """The report's key figures as Markdown: a line on the machine, a block per section."""
    m = report["machine"]
    gpu = f", {'; '.join(m['gpus'])}" if m["gpus"] else ""
    ram = f", {m['ram_gb']:.0f} GB RAM" if m["ram_gb"] else ""
    lines = [
        f"`guardrails bench` on {m['cpu']} ({m['cores']} cores{ram}{gpu}), models on "
        f"{report['device']}, groundrail {report['groundrail']}"
        + (" (quick run)" if report["settings"]["quick"] else "")
        + ". Wall-clock figures: expect tens of percent between runs.",
    ]
    for name in SECTIONS:
        section = report["sections"][name]
        lines.append("")
        if "skipped" in section:
            lines.append(f"{name.capitalize()}: skipped ({section['skipped']}).")
        else:
            lines += _SECTIONS[name](section)
    return "\n".join(lines) + "\n"
