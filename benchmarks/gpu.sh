#!/usr/bin/env bash
# The bench on a GPU machine, from a fresh checkout of this repository.
#
# Makes a virtual environment outside the checkout, installs the package with the
# [train] extra (torch and sentence-transformers, for the runtime section), swaps
# onnxruntime for onnxruntime-gpu (the same `onnxruntime` module, with the CUDA
# provider), checks that the CUDA provider is there, then runs
#
#     guardrails bench --device cuda --json "$OUT/bench-cuda.json"
#
# Needs python3 (3.10+), an NVIDIA driver and a package index pip can reach.
# Settings (environment):
#   OUT     where the report goes (default: bench-results/ in the checkout)
#   VENV    the virtual environment (default: $TMPDIR/groundrail-gpu-venv; reused)
#   PYTHON  the interpreter that makes it (default: python3)
#   BENCH_ARGS  more options for `guardrails bench` (say, --quick)
# About 1-2 minutes of installing (torch with CUDA is the bulk) and 1-2 of bench.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/bench-results}"
VENV="${VENV:-${TMPDIR:-/tmp}/groundrail-gpu-venv}"
PYTHON="${PYTHON:-python3}"
read -r -a EXTRA <<<"${BENCH_ARGS:-}"
START=$SECONDS

step() { printf '[%4ds] %s\n' "$((SECONDS - START))" "$*"; }

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
    step "warning: nvidia-smi not found; the CUDA provider may not start"
fi

step "virtual environment: $VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip

step "installing the package with the [train] extra"
"${PIP[@]}" install "$ROOT[train]"

step "swapping onnxruntime for onnxruntime-gpu"
"${PIP[@]}" uninstall -y onnxruntime onnxruntime-gpu
# the cuda and cudnn extras bring the CUDA 12 and cuDNN 9 libraries onnxruntime-gpu
# loads; the bench preloads them (onnxruntime.preload_dlls) before any session
"${PIP[@]}" install "onnxruntime-gpu[cuda,cudnn]"

step "checking the CUDA provider"
"$VENV/bin/python" - <<'PY'
import sys

import onnxruntime as ort

providers = ort.get_available_providers()
print("onnxruntime", ort.__version__, "providers:", ", ".join(providers))
if "CUDAExecutionProvider" not in providers:
    sys.exit("onnxruntime-gpu has no CUDAExecutionProvider here: see the pip output above")
PY

step "guardrails bench --device cuda"
cd "$OUT"  # nothing of the checkout on the path: the installed package is what runs
"$VENV/bin/guardrails" bench --device cuda --json "$OUT/bench-cuda.json" ${EXTRA[@]+"${EXTRA[@]}"} \
    | tee "$OUT/bench-cuda.txt"

step "done: $OUT/bench-cuda.json and $OUT/bench-cuda.txt"
