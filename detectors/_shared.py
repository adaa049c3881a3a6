"""Model plumbing shared by the model-backed detectors (nli, grounding, embedding,
self_consistency): where the default models live, lazy loading, batched scoring.

A detector checks its model directory when it is built (a missing or broken
model is a ``ModelError`` then, not at the first sentence) and starts the ONNX
session on first use. Each detector owns one :class:`~detectors.batcher.MicroBatcher`,
so concurrent sentences and streams sharing a guard are scored in batches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from detectors.batcher import MicroBatcher, pair_key
from detectors.runtime import CrossEncoder, Device, Embedder, ModelDir
from guardrails.errors import ModelError

__all__ = ["MODELS_DIR", "NLIScorer", "VectorScorer", "model_dir"]

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_NLI = "nli-minilm-l6"
DEFAULT_EMBEDDING = "embed-minilm-l6"

M = TypeVar("M", CrossEncoder, Embedder)


def model_dir(option: str | None, default: str, detector: str) -> ModelDir:
    """The model directory a detector uses: its ``model`` option, else the shipped one.

    Its files are checked against the card's checksums here, when the detector is
    built: a truncated or corrupt model must not wait for the first sentence to fail.
    """
    path = Path(option) if option else MODELS_DIR / default
    if option is None and not path.is_dir():
        raise ModelError(
            f"detector {detector!r}: the default model {default!r} is not installed "
            f"(expected in {path}); build it with the scripts in scripts/ or set the "
            f"detector's model option to a model directory"
        )
    md = ModelDir(path)
    md.verify()
    return md


class _Lazy(Generic[M]):
    """One model, loaded by the first thread that needs it."""

    def __init__(self, kind: type[M], md: ModelDir, device: Device, threads: int | None) -> None:
        self._kind: type[M] = kind
        self._md, self._device, self._threads = md, device, threads
        self._model: M | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self._md.card.get("name") or self._md.path)

    def get(self) -> M:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._kind(
                        self._md.path, device=self._device, threads=self._threads
                    )
        return self._model


class NLIScorer:
    """(premise, hypothesis) -> {label: probability}, batched and cached."""

    def __init__(
        self,
        md: ModelDir,
        *,
        device: Device = "auto",
        threads: int | None = None,
        max_batch: int = 32,
        max_wait_ms: float = 3.0,
        cache_size: int = 8192,
    ) -> None:
        self._model = _Lazy(CrossEncoder, md, device, threads)
        self.labels: tuple[str, ...] = tuple(md.card.get("labels") or ())
        for needed in ("entailment", "contradiction"):
            if needed not in self.labels:
                raise ModelError(f"{md.path}: card.json labels {self.labels} lack {needed!r}")
        name = self._model.name
        self._batcher: MicroBatcher[tuple[str, str], npt.NDArray[np.float32]] = MicroBatcher(
            self._run,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            cache_size=cache_size,
            size_of=lambda p: len(p[0]) + len(p[1]),
            key=lambda p: pair_key(name, p[0], p[1]),
        )

    @property
    def model(self) -> CrossEncoder:
        return self._model.get()

    def _run(self, pairs: list[tuple[str, str]]) -> list[npt.NDArray[np.float32]]:
        return list(self._model.get().predict(pairs))

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        rows = self._batcher.submit(pairs) if pairs else []
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in rows]

    def count_tokens(self, text: str) -> int:
        return self._model.get().count_tokens(text)

    def close(self) -> None:
        self._batcher.close()


class VectorScorer:
    """Texts -> unit vectors, from an ONNX embedding directory or sentence-transformers."""

    def __init__(
        self,
        md: ModelDir | None,
        *,
        device: Device = "auto",
        threads: int | None = None,
        st_model: str | None = None,
    ) -> None:
        self._lazy = _Lazy(Embedder, md, device, threads) if md is not None else None
        self._st_model = st_model
        self._st: Any = None  # a SentenceTransformer, once loaded
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._lazy is not None:
            return self._lazy.get().embed(texts)
        return self._st_embed(texts)

    def _st_embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            if self._st is None:
                try:  # only when the user chose this backend
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelError(
                        "backend 'sentence-transformers' needs the sentence-transformers package"
                    ) from exc
                self._st = SentenceTransformer(self._st_model or "all-MiniLM-L6-v2")
        vectors = self._st.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)
