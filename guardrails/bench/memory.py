"""Memory and start-up, each measured in a fresh Python process.

* peak RSS: a child process (``python -m guardrails.bench.memory``) builds the
  default pack, validates one answer against the bench context and reports its
  own peak resident set size (``VmHWM`` on Linux, else ``ru_maxrss``), with the
  seconds spent building the guard (the pack machinery's imports, the pack, the
  model checksums) and on the first validation (which starts the ONNX sessions);
* import time: ``import guardrails`` and ``from guardrails import Guard``, each
  timed inside a fresh interpreter (interpreter start-up excluded), best of
  ``import_repeats``.

Child processes are started through a ``runner`` (argv -> stdout), so the
parsing and the arithmetic can be checked without starting any.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from guardrails.bench._common import PACK, BenchError, BenchSettings

__all__ = ["IMPORTS", "Runner", "measure_memory", "parse_report", "run_child"]

Runner = Callable[[list[str]], str]
"""Runs a command (argv) and returns its standard output; raises BenchError on failure."""

IMPORTS = {
    "import_guardrails_ms": "import guardrails",
    "import_guard_ms": "from guardrails import Guard",
}
_TIMER = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
_CHILD_TIMEOUT_S = 300


def run_child(argv: list[str]) -> str:
    """Run ``argv`` and return its stdout; a failure is a BenchError with its stderr."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"memory section: cannot run {argv[1:3]}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BenchError(f"memory section: {argv[1:3]} exited with {done.returncode}:\n{tail}")
    return done.stdout


def parse_report(stdout: str) -> dict[str, float]:
    """The child's JSON report: its last line of output."""
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or not all(
        isinstance(report.get(k), (int, float)) for k in _CHILD_KEYS
    ):
        raise BenchError(f"memory section: the child printed no report: {stdout[-300:]!r}")
    return {k: float(report[k]) for k in _CHILD_KEYS}


_CHILD_KEYS = ("peak_rss_mb", "load_s", "first_validate_s")


def _child_argv(settings: BenchSettings, device: str) -> list[str]:
    argv = [sys.executable, "-m", "guardrails.bench.memory", "--device", device]
    if settings.nli_model is not None:
        argv += ["--nli-model", str(settings.nli_model)]
    if settings.embed_model is not None:
        argv += ["--embed-model", str(settings.embed_model)]
    return argv


def _best_import_ms(statement: str, repeats: int, runner: Runner) -> float:
    times = []
    for _ in range(repeats):
        out = runner([sys.executable, "-c", _TIMER.format(stmt=statement)]).strip()
        try:
            times.append(float(out.splitlines()[-1]))
        except (ValueError, IndexError):
            raise BenchError(f"import timing printed {out!r}, expected seconds") from None
    return min(times) * 1000


def measure_memory(
    settings: BenchSettings, device: str, runner: Runner = run_child
) -> dict[str, Any]:
    """The ``memory`` section: the child's report, its wall time, the import times."""
    start = time.perf_counter()
    child = parse_report(runner(_child_argv(settings, device)))
    wall = time.perf_counter() - start
    section: dict[str, Any] = {"pack": PACK, **child, "process_s": wall}
    for key, statement in IMPORTS.items():
        section[key] = _best_import_ms(statement, settings.import_repeats, runner)
    section["import_repeats"] = settings.import_repeats
    return section


def _peak_rss_mb() -> float:
    """This process's peak resident set size, in MB.

    Linux: ``VmHWM`` of /proc/self/status, the peak of this program's own memory.
    ``ru_maxrss`` would do elsewhere, but on Linux it carries over the parent's
    peak when the child was started with vfork (as subprocess does).
    """
    try:
        status = Path("/proc/self/status").read_text(encoding="utf-8")
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes / kB


def child(device: str, nli_model: Path | None, embed_model: Path | None) -> dict[str, float]:
    """What the child process does and reports."""
    from guardrails.bench._common import build_guard
    from guardrails.bench.corpus import CONTEXT, STREAM_ANSWERS

    t0 = time.perf_counter()
    guard = build_guard(device, "hold", nli_model, embed_model)
    t1 = time.perf_counter()
    guard.validate(" ".join(STREAM_ANSWERS[0]), CONTEXT)
    t2 = time.perf_counter()
    guard.close()
    return {"peak_rss_mb": _peak_rss_mb(), "load_s": t1 - t0, "first_validate_s": t2 - t1}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench child: load the default pack, validate")
    parser.add_argument("--device", choices=["cpu", "cuda"], required=True)
    parser.add_argument("--nli-model", type=Path)
    parser.add_argument("--embed-model", type=Path)
    args = parser.parse_args(argv)
    if args.device == "cuda":
        from guardrails.bench._common import resolve_device

        resolve_device("cuda")  # preloads the CUDA libraries, as the parent did
    print(json.dumps(child(args.device, args.nli_model, args.embed_model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
