"""The ``embed`` stage: all-MiniLM-L6-v2 -> ONNX (token embeddings) -> int8 per-channel ->
agreement with the PyTorch model on dev texts -> install ``detectors/models/embed-minilm-l6``.

The graph outputs the transformer's last hidden state, ``[batch, tokens, 384]``. The
sentence-transformers model's other two modules, mean pooling over the attention mask
and L2 normalisation, are done by :class:`detectors.runtime.Embedder`, as the card's
``"pooling": "mean"`` and ``"normalize": true`` tell it.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scripts.buildlib import (
    LOG,
    OPSET,
    DataFiles,
    EagerAttention,
    Steps,
    base_model_dir,
    base_weights_info,
    export_onnx,
    finish_model_dir,
    install_model_dir,
    library_versions,
    quantize_int8,
    run_step,
    save_tokenizer,
    show,
)
from scripts.metrics import cosine_rows

NAME = "embed-minilm-l6"
STEPS = ("export", "quantize", "evaluate", "install")
MIN_MEAN_COSINE = 0.98
WINDOW_TOKENS = 128  # the embedding detector's default windows (estimated tokens)
EXAMPLE_TEXTS = [
    "The bridge opened in 1932.",
    "A longer sentence, so that the batch has padding in it.",
]


@dataclass(frozen=True)
class EmbedSettings:
    mode: str  # "smoke" | "default" | "full"
    data_dir: Path
    out_dir: Path
    work_dir: Path
    n_sentences: int
    max_length: int
    seed: int


def dev_texts(
    files: DataFiles, dev_dir: Path, n_sentences: int, seed: int
) -> list[tuple[list[str], list[str]]]:
    """(response sentences, context windows) per sampled dev row, about ``n_sentences``
    sentences over all dev files, at most 3 per row."""
    from detectors.base import Passage
    from detectors.passages import make_windows
    from guardrails.segmenter import split

    paths = sorted(dev_dir.glob("*.jsonl"))
    if not paths:
        raise SystemExit(f"no dev files (*.jsonl) in {show(dev_dir)}")
    per_file = max(1, -(-n_sentences // len(paths)))
    rng = random.Random(seed)
    out: list[tuple[list[str], list[str]]] = []
    for path in paths:
        rows = files.read(path)
        rng.shuffle(rows)
        taken = 0
        for row in rows:
            if taken >= per_file:
                break
            response = row.get("response") or row.get("hypothesis") or ""
            context = row.get("context") or row.get("premise") or ""
            sents = [t for t in (s.text.strip() for s in split(response)) if len(t.split()) >= 3][
                :3
            ]
            windows = [
                w.text for w in make_windows([Passage(context, 0)], max_tokens=WINDOW_TOKENS)
            ]
            if sents and windows:
                sents = sents[: per_file - taken]
                out.append((sents, windows))
                taken += len(sents)
    return out


class EmbedStage:
    def __init__(self, s: EmbedSettings, command: str) -> None:
        self.s, self.command = s, command
        self.steps = Steps(s.work_dir)
        self._st: Any = None

    def st(self) -> Any:
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(
                str(base_model_dir()), device="cpu", local_files_only=True
            )
            self._st.max_seq_length = self.s.max_length
        return self._st

    def path(self, name: str) -> Path:
        return self.s.work_dir / name

    def run(self, until: str | None = None) -> dict[str, Any]:
        for name in STEPS:
            run_step(self.steps, name, getattr(self, f"step_{name}"))
            if name == until:
                break
        return dict(self.steps.state)

    def _runtime_card(self, precision: str) -> dict[str, Any]:
        return {
            "name": f"{NAME}-{precision}",
            "kind": "embedding",
            "max_length": self.s.max_length,
            "pooling": "mean",
            "normalize": True,
        }

    def step_export(self) -> dict[str, Any]:
        import torch

        st = self.st()
        hf = st[0].auto_model

        class TokenEmbeddings(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                return self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state

        enc = st.tokenizer(EXAMPLE_TEXTS, padding=True, return_tensors="pt")
        example = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        out = self.path("fp32")
        with EagerAttention(hf):
            export_onnx(
                TokenEmbeddings(hf),
                example,
                out / "model.onnx",
                "token_embeddings",
                {0: "batch", 1: "sequence"},
            )
        save_tokenizer(st.tokenizer, out / "tokenizer.json")
        finish_model_dir(out, self._runtime_card("fp32"))
        return {"fp32_mb": round((out / "model.onnx").stat().st_size / 1e6, 2)}

    def step_quantize(self) -> dict[str, Any]:
        src, dst = self.path("fp32"), self.path("int8")
        dst.mkdir(parents=True, exist_ok=True)
        info = quantize_int8(src / "model.onnx", dst / "model.onnx")
        shutil.copy2(src / "tokenizer.json", dst / "tokenizer.json")
        finish_model_dir(dst, self._runtime_card("int8"))
        return {**info, "int8_mb": round((dst / "model.onnx").stat().st_size / 1e6, 2)}

    def step_evaluate(self) -> dict[str, Any]:
        from tokenizers import Tokenizer

        from detectors.runtime import Embedder

        files = DataFiles(self.s.data_dir)
        rows = dev_texts(files, self.s.data_dir / "dev", self.s.n_sentences, self.s.seed)
        sentences = [t for sents, _ in rows for t in sents]
        windows = [w for _, wins in rows for w in wins]
        texts = sentences + windows
        LOG.info(
            "agreement texts: %d response sentences, %d context windows from %d rows",
            len(sentences),
            len(windows),
            len(rows),
        )
        st = self.st()
        t0 = time.monotonic()
        ref = np.asarray(
            st.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32
        )
        LOG.info("PyTorch embeddings: %.1f s", time.monotonic() - t0)
        tok = Tokenizer.from_file(str(self.path("int8") / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.s.max_length)
        ours = [e.ids for e in tok.encode_batch(texts)]
        theirs = st.tokenizer(texts, truncation=True, max_length=self.s.max_length)["input_ids"]
        out: dict[str, Any] = {
            "eval_data": files.summary(),
            "texts": {"sentences": len(sentences), "windows": len(windows), "rows": len(rows)},
            "token_ids_identical": round(
                float(np.mean([a == b for a, b in zip(ours, theirs, strict=True)])), 4
            ),
        }
        for precision in ("fp32", "int8"):
            model = Embedder(self.path(precision), device="cpu")
            t0 = time.monotonic()
            vec = model.embed(texts)
            seconds = time.monotonic() - t0
            cos = cosine_rows(ref, vec)
            out[precision] = {
                "cosine_mean": round(float(cos.mean()), 5),
                "cosine_min": round(float(cos.min()), 5),
                "cosine_p01": round(float(np.percentile(cos, 1)), 5),
                "retrieval_top1": self._top1(rows, ref, vec),
                "embed_seconds": round(seconds, 2),
            }
            LOG.info("%s vs PyTorch: %s", precision, out[precision])
        mean = out["int8"]["cosine_mean"]
        if mean < MIN_MEAN_COSINE:
            raise SystemExit(
                f"int8 model agrees too little with PyTorch: mean cosine {mean} < "
                f"{MIN_MEAN_COSINE}; not installed (see {show(self.s.work_dir)})"
            )
        return out

    @staticmethod
    def _top1(
        rows: list[tuple[list[str], list[str]]], ref: np.ndarray, vec: np.ndarray
    ) -> dict[str, Any]:
        """Per response sentence, the best window of its own context by each model: how
        often they pick the same one (sentences whose context has >= 2 windows), overall
        and where PyTorch's best window leads its runner-up by >= 0.02 cosine (not a near tie)."""
        n_sent = sum(len(s) for s, _ in rows)
        si, wi = 0, n_sent
        same: list[bool] = []
        clear: list[bool] = []
        for sents, wins in rows:
            w_ref, w_vec = ref[wi : wi + len(wins)], vec[wi : wi + len(wins)]
            for k in range(len(sents) if len(wins) >= 2 else 0):
                s_ref, s_vec = w_ref @ ref[si + k], w_vec @ vec[si + k]
                agree = bool(np.argmax(s_ref) == np.argmax(s_vec))
                same.append(agree)
                top2 = np.sort(s_ref)[-2:]
                if top2[1] - top2[0] >= 0.02:
                    clear.append(agree)
            si += len(sents)
            wi += len(wins)
        return {
            "agreement": round(float(np.mean(same)), 4) if same else None,
            "n": len(same),
            "agreement_margin_0.02": round(float(np.mean(clear)), 4) if clear else None,
            "n_margin_0.02": len(clear),
        }

    def step_install(self) -> dict[str, Any]:
        from detectors.runtime import Embedder

        st = self.steps.state
        final = self.path("final")
        final.mkdir(parents=True, exist_ok=True)
        for name in ("model.onnx", "tokenizer.json"):
            shutil.copy2(self.path("int8") / name, final / name)
        ev = st["evaluate"]
        card = finish_model_dir(
            final,
            {
                **self._runtime_card("int8"),
                "name": NAME,
                "description": "all-MiniLM-L6-v2 sentence embeddings (384 dimensions), ONNX, int8.",
                "graph_output": "token_embeddings [batch, tokens, 384], the transformer's last hidden "
                "state; mean pooling over the attention mask and L2 normalisation (the "
                "sentence-transformers Pooling and Normalize modules) are done by "
                "detectors.runtime.Embedder, as pooling 'mean' and normalize true say",
                "base_weights": base_weights_info(),
                "license": "Apache-2.0",
                "training_data": None,
                "evaluation_data": ev["eval_data"],
                "metrics": {k: ev[k] for k in ("texts", "token_ids_identical", "fp32", "int8")}
                | {"threshold_cosine_mean": MIN_MEAN_COSINE},
                "onnx": {
                    "opset": OPSET,
                    "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
                    "inputs": ["input_ids", "attention_mask", "token_type_ids"],
                    "quantization": st["quantize"],
                    "fp32_mb": st["export"]["fp32_mb"],
                    "model_mb": round((final / "model.onnx").stat().st_size / 1e6, 2),
                },
                "build": {
                    "command": self.command,
                    "mode": self.s.mode,
                    "versions": library_versions(),
                    "built": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "seed": self.s.seed,
                },
            },
        )
        install_model_dir(final, self.s.out_dir)
        check = Embedder(self.s.out_dir, device="cpu").embed(EXAMPLE_TEXTS)
        ref = np.asarray(
            self.st().encode(EXAMPLE_TEXTS, normalize_embeddings=True), dtype=np.float32
        )
        cos = cosine_rows(ref, check)
        LOG.info(
            "installed model loads with detectors.runtime.Embedder; cosine to PyTorch %s",
            np.round(cos, 4).tolist(),
        )
        return {
            "out_dir": show(self.s.out_dir),
            "sha256": card["sha256"],
            "install_check_cosine_min": round(float(cos.min()), 5),
        }
