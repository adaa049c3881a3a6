"""ONNX Runtime layer for the grounding models: one place that loads and runs them.

A model is a directory of three files::

    model.onnx       the graph; int64 inputs ``input_ids`` and, when it declares them,
                     ``attention_mask`` / ``token_type_ids`` (shape [batch, tokens]);
                     its first output is used
    tokenizer.json   a Hugging Face ``tokenizers`` file (pairs as ``[CLS] a [SEP] b [SEP]``)
    card.json        what the model is, e.g. (the # comments are not part of it)

    {
      "name": "nli-small",
      "kind": "cross-encoder",              # or "embedding"
      "labels": ["entailment", "neutral", "contradiction"],   # cross-encoder: output order
      "max_length": 512,                    # tokens per input, special tokens included
      "pooling": "mean",                    # embedding: "mean" | "cls" | "none"
      "normalize": true,                    # embedding: L2-normalise the vectors
      "sha256": {"model.onnx": "<hex>", "tokenizer.json": "<hex>"},
      "base_weights": "...", "license": "...", "training_data": "...", "metrics": {}
    }

A cross-encoder's output is ``[batch, len(labels)]`` logits. An embedding model
outputs ``[batch, tokens, dim]`` hidden states (pooled here over the attention
mask, ``"mean"``, or taken at the first token, ``"cls"``) or, with
``"pooling": "none"``, ``[batch, dim]`` sentence vectors. Keys other than the
ones above are provenance: kept in :attr:`ModelDir.provenance`, never required.

Every problem with a model (missing directory or file, unreadable or invalid
card, a checksum that does not match, a graph onnxruntime cannot load) raises
:class:`~guardrails.errors.ModelError` naming the file. Checksums are verified on
load unless ``verify=False``. ``onnxruntime`` and ``tokenizers`` are imported
only when a model is loaded, so importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from guardrails.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "TOKENIZER_FILE",
    "CrossEncoder",
    "Device",
    "Embedder",
    "ModelDir",
    "OnnxSession",
    "Prediction",
    "file_sha256",
    "load_session",
]

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CARD_FILE = "card.json"

Device = Literal["auto", "cpu", "cuda"]
"""Where a session runs: ``"auto"`` takes CUDA when onnxruntime offers it."""

_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_Bool = npt.NDArray[np.bool_]
_KINDS = ("cross-encoder", "embedding")
_POOLINGS = ("mean", "cls", "none")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_KNOWN_KEYS = frozenset({"name", "kind", "labels", "max_length", "pooling", "normalize", "sha256"})
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """``text`` with lone surrogates (bytes kept by ``errors="surrogateescape"``) as U+FFFD.

    The tokenizer takes valid Unicode only; one character for one, so lengths hold.
    """
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value) is not None


class ModelDir:
    """A model directory whose ``card.json`` has been read and validated.

    ``ModelDir(path)`` checks that the directory and its three files exist and
    that the card has every required key with the right type; :meth:`verify`
    checks the files against the card's sha256 values. ``card`` is the whole
    card as read; ``provenance`` the keys this module does not interpret.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.model_path = self.path / MODEL_FILE
        self.tokenizer_path = self.path / TOKENIZER_FILE
        self.card_path = self.path / CARD_FILE
        if not self.path.exists():
            raise ModelError(f"{self.path}: model directory does not exist")
        if not self.path.is_dir():
            raise ModelError(f"{self.path}: not a directory (expected a model directory)")
        for file in (self.card_path, self.model_path, self.tokenizer_path):
            if not file.is_file():
                raise ModelError(f"{file}: missing file")
        try:
            text = self.card_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{self.card_path}: cannot read the card: {exc}") from exc
        try:
            card = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{self.card_path}: invalid JSON: {exc}") from exc
        if not isinstance(card, dict):
            raise ModelError(f"{self.card_path}: expected a JSON object, got {type(card).__name__}")
        self.card: Mapping[str, Any] = card
        self.name: str = self._get("name", str, "a string")
        self._require(bool(self.name), "name", "must not be empty")
        self.kind: str = self._get("kind", str, "a string")
        self._require(self.kind in _KINDS, "kind", f"is {self.kind!r}; expected one of {_KINDS}")
        self.max_length: int = self._get("max_length", int, "an integer")
        self._require(self.max_length > 0, "max_length", f"must be positive, not {self.max_length}")
        self.labels: tuple[str, ...] = ()
        if self.kind == "cross-encoder" or "labels" in card:
            labels = self._get("labels", list, "a list of strings")
            ok = all(isinstance(label, str) and label for label in labels)
            self._require(ok, "labels", "must be a list of non-empty strings")
            self._require(len(set(labels)) == len(labels), "labels", f"has duplicates: {labels}")
            enough = self.kind != "cross-encoder" or len(labels) >= 2
            self._require(enough, "labels", "needs at least two labels for a cross-encoder")
            self.labels = tuple(labels)
        self.pooling: str = "none"
        self.normalize: bool = False
        if self.kind == "embedding":
            self.pooling = self._get("pooling", str, "a string")
            ok = self.pooling in _POOLINGS
            self._require(ok, "pooling", f"is {self.pooling!r}; expected one of {_POOLINGS}")
            self.normalize = self._get("normalize", bool, "a boolean")
        sums = self._get("sha256", dict, "an object")
        for file_name in (MODEL_FILE, TOKENIZER_FILE):
            ok = _is_hex64(sums.get(file_name))
            self._require(ok, "sha256", f"needs a 64-digit hex digest for {file_name!r}")
        self.sha256: dict[str, str] = {f: sums[f].lower() for f in (MODEL_FILE, TOKENIZER_FILE)}
        self.provenance: dict[str, Any] = {k: v for k, v in card.items() if k not in _KNOWN_KEYS}

    def _require(self, ok: bool, key: str, problem: str) -> None:
        if not ok:
            raise ModelError(f"{self.card_path}: key {key!r} {problem}")

    def _get(self, key: str, typ: type, what: str) -> Any:
        if key not in self.card:
            raise ModelError(f"{self.card_path}: missing key {key!r}")
        value = self.card[key]
        # bool is an int subclass: a "max_length": true is as wrong as a string.
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ModelError(
                f"{self.card_path}: key {key!r} must be {what}, got {type(value).__name__}"
            )
        return value

    def verify(self) -> None:
        """Check ``model.onnx`` and ``tokenizer.json`` against the card's sha256 values."""
        for file_name, expected in self.sha256.items():
            path = self.path / file_name
            try:
                actual = file_sha256(path)
            except OSError as exc:
                raise ModelError(f"{path}: cannot read: {exc}") from exc
            if actual != expected:
                raise ModelError(
                    f"{path}: sha256 mismatch: {CARD_FILE} says {expected}, the file has {actual}"
                )

    def __repr__(self) -> str:
        return f"ModelDir({str(self.path)!r}, name={self.name!r}, kind={self.kind!r})"


@dataclass(frozen=True)
class OnnxSession:
    """A loaded onnxruntime session and what it needs fed.

    ``provider`` is the execution provider actually in use (say
    ``"CPUExecutionProvider"``); ``input_names`` the inputs the graph declares.
    """

    session: Any
    provider: str
    input_names: tuple[str, ...]
    model_path: Path

    def run(self, arrays: Mapping[str, _I64]) -> _F32:
        """Run the graph on the declared inputs only; return its first output as float32."""
        feed = {
            name: np.ascontiguousarray(arrays[name], dtype=np.int64) for name in self.input_names
        }
        try:
            output = self.session.run(None, feed)[0]
        except Exception as exc:
            raise ModelError(f"{self.model_path}: onnxruntime failed to run it: {exc}") from exc
        return np.asarray(output, dtype=np.float32)


def load_session(
    model_dir: ModelDir | str | os.PathLike[str],
    device: Device = "auto",
    threads: int | None = None,
    *,
    verify: bool = True,
) -> OnnxSession:
    """Load ``model.onnx`` of a model directory into an onnxruntime session.

    ``device="auto"`` uses ``CUDAExecutionProvider`` when onnxruntime offers it
    (onnxruntime-gpu), else the CPU; ``"cuda"`` without it is a ModelError.
    ``threads`` sets the intra-op thread count (default: onnxruntime's choice).
    Graph optimisation is fully enabled. With ``verify`` the checksums are
    checked first.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
    md = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
    if verify:
        md.verify()
    import onnxruntime as ort

    available = list(ort.get_available_providers())
    cuda = "CUDAExecutionProvider"
    if device == "cuda" and cuda not in available:
        raise ModelError(
            f"{md.model_path}: device='cuda' but onnxruntime has no {cuda} "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or use device='cpu'"
        )
    use_cuda = device == "cuda" or (device == "auto" and cuda in available)
    providers = [cuda, "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(
            str(md.model_path), sess_options=options, providers=providers
        )
    except Exception as exc:
        raise ModelError(f"{md.model_path}: onnxruntime cannot load it: {exc}") from exc
    in_use = list(session.get_providers())
    if device == "cuda" and cuda not in in_use:
        raise ModelError(f"{md.model_path}: {cuda} failed to start (providers in use: {in_use})")
    names: list[str] = []
    for node in session.get_inputs():
        if node.name not in _INPUTS:
            raise ModelError(
                f"{md.model_path}: the graph declares input {node.name!r}; only "
                f"{', '.join(_INPUTS)} can be fed"
            )
        if node.type != "tensor(int64)":
            raise ModelError(f"{md.model_path}: input {node.name!r} is {node.type}, expected int64")
        names.append(node.name)
    if "input_ids" not in names:
        raise ModelError(f"{md.model_path}: the graph has no 'input_ids' input")
    return OnnxSession(session, in_use[0], tuple(names), md.model_path)


def _load_tokenizer(md: ModelDir) -> tuple[Tokenizer, Tokenizer, int]:
    """(truncating tokenizer, counting tokenizer, pad id) for a model directory."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(md.tokenizer_path))
        counter = Tokenizer.from_file(str(md.tokenizer_path))
    except Exception as exc:
        raise ModelError(f"{md.tokenizer_path}: tokenizers cannot load it: {exc}") from exc
    padding = tok.padding
    pad_id: int | None = int(padding["pad_id"]) if padding else None
    for token in ("[PAD]", "<pad>"):
        if pad_id is None:
            pad_id = tok.token_to_id(token)
    for t in (tok, counter):
        t.no_padding()
        t.no_truncation()
    special = tok.num_special_tokens_to_add(md.kind == "cross-encoder")
    if md.max_length <= special:
        raise ModelError(
            f"{md.card_path}: max_length {md.max_length} leaves no room for text "
            f"({special} special tokens per input)"
        )
    tok.enable_truncation(md.max_length, stride=0, strategy="longest_first")
    return tok, counter, pad_id or 0


@dataclass(frozen=True)
class Prediction:
    """Cross-encoder output for n pairs, in input order.

    ``probs``: [n, labels] softmax probabilities; ``truncated``: [n] True where the
    pair was longer than ``max_length`` and cut; ``tokens``: [n] tokens fed per pair.
    """

    probs: _F32
    truncated: _Bool
    tokens: _I64


class _OnnxModel:
    """What the cross-encoder and the embedder share: card, session, tokenizer, batching."""

    _kind = ""

    def __init__(
        self,
        model_dir: ModelDir | str | os.PathLike[str],
        *,
        device: Device = "auto",
        threads: int | None = None,
        verify: bool = True,
        batch_size: int = 32,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model_dir = model_dir if isinstance(model_dir, ModelDir) else ModelDir(model_dir)
        if self.model_dir.kind != self._kind:
            raise ModelError(
                f"{self.model_dir.card_path}: kind is {self.model_dir.kind!r}, "
                f"expected {self._kind!r} for {type(self).__name__}"
            )
        self.name = self.model_dir.name
        self.max_length = self.model_dir.max_length
        self.batch_size = batch_size
        self._session = load_session(self.model_dir, device, threads, verify=verify)
        self._tok, self._counter, self._pad_id = _load_tokenizer(self.model_dir)

    @property
    def provider(self) -> str:
        """The onnxruntime execution provider in use."""
        return self._session.provider

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` becomes, special tokens excluded, never truncated."""
        return len(self._counter.encode(_encodable(text), add_special_tokens=False).ids)

    def _run(
        self, inputs: list[str] | list[tuple[str, str]], columns: int
    ) -> tuple[_F32, _Bool, _I64]:
        """Tokenize, run in length-sorted batches; (outputs, truncated, tokens) in input order."""
        clean = [
            _encodable(x) if isinstance(x, str) else (_encodable(x[0]), _encodable(x[1]))
            for x in inputs
        ]
        encodings: list[Encoding] = self._tok.encode_batch(clean)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        truncated = np.array([bool(e.overflowing) for e in encodings], dtype=np.bool_)
        result = np.zeros((len(encodings), columns), dtype=np.float32)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            chunk = [encodings[i] for i in rows]
            width = max(len(e.ids) for e in chunk)
            ids = np.full((len(chunk), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            types = np.zeros((len(chunk), width), dtype=np.int64)
            for row, enc in enumerate(chunk):
                n = len(enc.ids)
                ids[row, :n] = enc.ids
                mask[row, :n] = 1
                types[row, :n] = enc.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out = self._session.run(feed)
            if out.shape[0] != len(chunk):
                raise ModelError(f"{self._session.model_path}: wrong output batch size {out.shape}")
            vectors = self._finish(out, mask)
            if start == 0 and columns == 0:  # an embedder learns its width from the first batch
                result = np.zeros((len(encodings), vectors.shape[1]), dtype=np.float32)
            result[rows] = vectors
        return result, truncated, lengths

    def _finish(self, out: _F32, mask: _I64) -> _F32:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, provider={self.provider!r})"


class CrossEncoder(_OnnxModel):
    """A pair classifier (NLI): ``predict([(premise, hypothesis), ...])``.

    Pairs are tokenized as ``(premise, hypothesis)``, truncated to the card's
    ``max_length`` (longest side first) and run in batches of ``batch_size``
    sorted by length, each padded to its longest pair. Results come back in
    input order. Thread-safe.
    """

    _kind = "cross-encoder"

    @property
    def labels(self) -> tuple[str, ...]:
        """The card's labels: the columns of the probabilities, in order."""
        return self.model_dir.labels

    def label_index(self, name: str) -> int:
        """Column of label ``name`` in the probabilities; ModelError if the card lacks it."""
        try:
            return self.labels.index(name)
        except ValueError:
            raise ModelError(
                f"{self.model_dir.card_path}: model {self.name!r} has no label {name!r} "
                f"(labels: {list(self.labels)})"
            ) from None

    def predict(self, pairs: Sequence[tuple[str, str]]) -> _F32:
        """Softmax probabilities ``[len(pairs), len(labels)]``, in input order."""
        return self.predict_detailed(pairs).probs

    def predict_detailed(self, pairs: Sequence[tuple[str, str]]) -> Prediction:
        """Probabilities plus, per pair, whether it was truncated and its token count."""
        return Prediction(*self._run([(p, h) for p, h in pairs], len(self.labels)))

    def _finish(self, out: _F32, mask: _I64) -> _F32:
        if out.ndim != 2 or out.shape[1] != len(self.labels):
            raise ModelError(
                f"{self._session.model_path}: output shape {list(out.shape)} does not match the "
                f"{len(self.labels)} labels of {CARD_FILE}"
            )
        logits = out.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: _F32 = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs


class Embedder(_OnnxModel):
    """A sentence embedding model: ``embed(texts)`` -> ``[n, dim]`` float32.

    Pooling follows the card (mean over the attention mask, the first token, or
    the graph's own sentence vector); vectors are L2-normalised when the card
    says ``"normalize": true``. Texts longer than ``max_length`` are truncated;
    :meth:`embed_detailed` says which. Thread-safe.
    """

    _kind = "embedding"

    def embed(self, texts: Sequence[str]) -> _F32:
        """One vector per text, ``[len(texts), dim]`` float32, in input order."""
        return self.embed_detailed(texts)[0]

    def embed_detailed(self, texts: Sequence[str]) -> tuple[_F32, _Bool]:
        """``(vectors, truncated)``: the vectors and, per text, whether it was cut."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        vectors, truncated, _ = self._run(list(texts), 0)
        return vectors, truncated

    def _finish(self, out: _F32, mask: _I64) -> _F32:
        pooling = self.model_dir.pooling
        want = 2 if pooling == "none" else 3
        if out.ndim != want:
            raise ModelError(
                f"{self._session.model_path}: output has rank {out.ndim}; pooling "
                f"{pooling!r} in {CARD_FILE} needs rank {want}"
            )
        if pooling == "mean":
            weights = mask.astype(np.float32)[:, :, None]
            vectors = (out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        elif pooling == "cls":
            vectors = out[:, 0, :]
        else:
            vectors = out
        if self.model_dir.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return np.ascontiguousarray(vectors, dtype=np.float32)
