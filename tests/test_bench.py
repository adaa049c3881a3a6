"""``guardrails bench`` on tiny random models: layout, arithmetic and errors, never speed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.bench import SECTIONS, BenchError, markdown, quick_settings, render, run_bench
from guardrails.bench.memory import IMPORTS, measure_memory, parse_report
from guardrails.bench.runtime import SKIP_TRAIN, compare, measure_runtime, rate
from guardrails.cli import main

SUMMARY_KEYS = {"n", "p50", "p95", "p99", "mean", "max"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench-models")
    return build_tiny_cross_encoder(root / "nli"), build_tiny_embedder(root / "embed")


def no_torch(mp: pytest.MonkeyPatch) -> None:
    """Make torch and sentence-transformers unimportable."""
    mp.setitem(sys.modules, "torch", None)
    mp.setitem(sys.modules, "sentence_transformers", None)


@pytest.fixture(scope="module")
def report(models: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    settings = quick_settings(
        device="cpu",
        sections=("stream", "throughput", "runtime"),
        nli_model=models[0],
        embed_model=models[1],
        delta_ms=1.0,
    )
    with pytest.MonkeyPatch.context() as mp:
        no_torch(mp)
        yield run_bench(settings)


def check_summary(summary: dict[str, float]) -> None:
    assert set(summary) == SUMMARY_KEYS
    assert summary["n"] > 0
    assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]


def test_every_section_is_reported(report: dict[str, Any]) -> None:
    assert set(report["sections"]) == set(SECTIONS)
    assert report["device"] == "cpu"
    assert report["sections"]["memory"] == {"skipped": "not selected (--only)"}
    assert report["sections"]["runtime"]["skipped"] == SKIP_TRAIN
    assert {"cpu", "cores", "ram_gb", "gpus", "versions", "providers"} <= set(report["machine"])
    assert json.loads(json.dumps(report)) == report
    table = render(report)
    for line in ("stream overhead", "throughput", "runtime: skipped: install the [train] extra"):
        assert line in table
    md = markdown(report)
    assert "| hold |" in md and "| concurrency |" in md
    assert "Runtime: skipped (install the [train] extra)." in md


def test_stream_section(report: dict[str, Any]) -> None:
    modes = report["sections"]["stream"]["modes"]
    assert list(modes) == ["unguarded", "pass", "hold"]
    for name, mode in modes.items():
        check_summary(mode["ttft_ms"])
        check_summary(mode["release_ms"])
        assert 0 < mode["released"] <= mode["sentences"]
        if name != "unguarded":
            assert mode["check_failures"] == 0
            check_summary(mode["added_ms"])
            check_summary(mode["added_ttft_ms"])
    check_summary(modes["hold"]["check_ms"])
    assert "check_ms" not in modes["pass"]


def test_throughput_ratios_come_from_the_measured_numbers(report: dict[str, Any]) -> None:
    section = report["sections"]["throughput"]
    assert [lv["concurrency"] for lv in section["levels"]] == [1, 4]
    for level in section["levels"]:
        raw = level["raw"]
        assert raw["pairs_per_s"] == pytest.approx(raw["pairs"] / raw["seconds"])
        assert 0 < raw["pairs"] <= level["pairs"]
        assert level["pairs"] > 0 and level["sentences"] >= level["answers"]
        assert level["check_failures"] == 0
        assert level["sentences_per_s"] == pytest.approx(level["sentences"] / level["seconds"])
        assert level["pairs_per_s"] == pytest.approx(level["pairs"] / level["seconds"])
        assert level["fraction_of_raw"] == pytest.approx(level["pairs_per_s"] / raw["pairs_per_s"])
        check_summary(level["latency_ms"])


def test_runtime_skipped_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    no_torch(monkeypatch)
    assert measure_runtime(quick_settings(), "cpu") == {"skipped": SKIP_TRAIN}


def test_runtime_arithmetic() -> None:
    rows = compare({1: 30.0, 8: 90.0}, {1: 10.0, 8: 60.0})
    assert [(r["batch"], r["ratio"]) for r in rows] == [(1, 3.0), (8, 1.5)]
    calls: list[list[int]] = []
    per_s = rate(calls.append, [1, 2, 3], batch=2, seconds=0.001)
    assert calls[0] == [1, 2] and calls[1] == [3, 1]  # warm-up, then the inputs cycle on
    assert per_s > 0


def test_memory_section_from_child_reports() -> None:
    child = {"peak_rss_mb": 210.5, "load_s": 0.3, "first_validate_s": 0.4}
    timings = iter(["0.009\n", "0.004\n", "0.080\n", "0.070\n"])

    def runner(argv: list[str]) -> str:
        if argv[1:3] == ["-m", "guardrails.bench.memory"]:
            assert argv[argv.index("--device") + 1] == "cpu"
            return "a warning first\n" + json.dumps(child) + "\n"
        assert argv[1] == "-c"
        return next(timings)

    section = measure_memory(quick_settings(import_repeats=2), "cpu", runner)
    assert {k: section[k] for k in child} == child
    assert section["import_guardrails_ms"] == pytest.approx(4.0)
    assert section["import_guard_ms"] == pytest.approx(70.0)
    assert set(IMPORTS) <= set(section) and section["process_s"] >= 0
    with pytest.raises(BenchError, match="no report"):
        parse_report("Traceback (most recent call last):\n")


def test_cuda_without_provider_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    assert main(["bench", "--device", "cuda", "--only", "memory"]) == 2
    err = capsys.readouterr().err
    assert "CUDAExecutionProvider" in err and "onnxruntime-gpu" in err


def test_bad_settings_are_errors() -> None:
    with pytest.raises(BenchError, match="unknown section"):
        quick_settings(sections=("speed",))
    with pytest.raises(BenchError, match="concurrency"):
        quick_settings(concurrency=(0,))


def test_cli_prints_the_table_and_writes_json(
    models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--device", "cpu", "--only", "throughput", "--json", str(out)]
    argv += ["--nli-model", str(models[0]), "--embed-model", str(models[1])]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "throughput: pack rag-balanced" in table and "stream: skipped" in table
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["settings"]["quick"] is True
    assert written["sections"]["throughput"]["levels"]
