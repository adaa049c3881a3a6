"""Export a transformers model to the runtime's model directory layout.

``export_model(source, dest, kind=...)`` takes a local transformers directory or
a Hugging Face model id (the network is needed for an id), exports it to ONNX
(opset 17, TorchScript exporter, dynamic batch and sequence axes), optionally
quantizes it to int8 with per-channel weights, saves the fast tokenizer as
``tokenizer.json`` and writes ``card.json`` with the checksums. It needs torch
and transformers (``pip install groundrail[train]``); nothing at run time does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

from detectors.runtime import CARD_FILE, MODEL_FILE, TOKENIZER_FILE, file_sha256
from guardrails.errors import ModelError

__all__ = ["OPSET", "export_model", "export_onnx", "quantize_int8", "save_tokenizer", "write_card"]

OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_onnx(
    module: Any, example: dict[str, Any], path: Path, output: str, output_axes: dict[int, str]
) -> None:
    """TorchScript-based export: int64 inputs with dynamic batch and sequence axes."""
    import torch

    names = [n for n in _INPUTS if n in example]
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = output_axes
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    # the exporter's deprecation notice and transformers' tracer warnings are expected here
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example[n] for n in names),
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def quantize_int8(src: Path, dst: Path) -> dict[str, Any]:
    """Dynamic int8 quantization with per-channel weights (per-tensor loses accuracy)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    return {"method": "quantize_dynamic", "weight_type": "QInt8", "per_channel": True}


def save_tokenizer(hf_tokenizer: Any, path: Path) -> None:
    """The fast tokenizer's ``tokenizer.json`` without fixed padding or truncation (the
    runtime truncates to the card's ``max_length`` and pads per batch)."""
    from tokenizers import Tokenizer

    if not getattr(hf_tokenizer, "is_fast", False):
        raise ModelError("the model has no fast tokenizer (tokenizer.json) to export")
    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tok.no_truncation()
    pad = hf_tokenizer.pad_token or "[PAD]"
    tok.enable_padding(pad_id=tok.token_to_id(pad) or 0, pad_token=pad)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))


def write_card(path: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Add the checksums of ``model.onnx`` and ``tokenizer.json`` and write ``card.json``."""
    card = {**card, "sha256": {f: file_sha256(path / f) for f in (MODEL_FILE, TOKENIZER_FILE)}}
    tmp = path / (CARD_FILE + ".tmp")  # written whole, then renamed into place
    tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path / CARD_FILE)
    return card


def export_model(
    source: str,
    dest: Path,
    *,
    kind: Literal["cross-encoder", "embedding"],
    quantize: bool = True,
    max_length: int | None = None,
) -> dict[str, Any]:
    """Export ``source`` into ``dest`` (created; must not exist); return the card."""
    try:
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as exc:
        raise ModelError(
            f"exporting needs torch and transformers ({exc}); install groundrail[train]"
        ) from exc
    if dest.exists():
        raise ModelError(f"{dest}: already exists; choose a new directory")
    loader = AutoModelForSequenceClassification if kind == "cross-encoder" else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = loader.from_pretrained(source, attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{source}: cannot load it with transformers: {exc}") from exc
    limit = int(max_length or min(getattr(tokenizer, "model_max_length", 512) or 512, 512))
    encoded = tokenizer(
        ["an example", "another"], ["a pair", "of texts"], return_tensors="pt", padding=True
    )
    example = {n: encoded[n] for n in _INPUTS if n in encoded}  # the graph's input order
    card: dict[str, Any] = {"name": dest.name, "kind": kind, "max_length": limit, "source": source}
    if kind == "cross-encoder":
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        card["labels"] = [str(x).lower() for x in labels]
        module, output, axes = model, "logits", {0: "batch"}
    else:
        card.update(pooling="mean", normalize=True)

        class Hidden(torch.nn.Module):  # type: ignore[misc, unused-ignore]  # Any without torch stubs
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *inputs: Any) -> Any:
                return self.model(**dict(zip(example, inputs, strict=False))).last_hidden_state

        module, output, axes = Hidden(), "last_hidden_state", {0: "batch", 1: "sequence"}
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "model"
        raw = Path(tmp) / "fp32.onnx"
        export_onnx(module, example, raw, output, axes)
        staging.mkdir()
        if quantize:
            card["quantization"] = quantize_int8(raw, staging / MODEL_FILE)
        else:
            shutil.copy2(raw, staging / MODEL_FILE)
        save_tokenizer(tokenizer, staging / TOKENIZER_FILE)
        card = write_card(staging, card)
        shutil.copytree(staging, dest)
    return card
