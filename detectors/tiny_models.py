"""Tiny deterministic models in the layout of :mod:`detectors.runtime`, for tests and demos.

::

    build_tiny_cross_encoder(tmp / "nli")   # model.onnx + tokenizer.json + card.json
    build_tiny_embedder(tmp / "emb")

The weights are random (seeded), so the scores mean nothing beyond one rule
built into the cross-encoder: the larger the share of the hypothesis's tokens
that also occur in the premise, the higher the ``"entailment"`` logit and the
lower the ``"contradiction"`` one. A small random term on top depends on both
texts, so different pairs get different scores. The embedder averages
contextualised token vectors; texts sharing words get similar vectors.

The tokenizer is a lower-casing WordPiece over a few hundred common English
words, the letters a-z, digits and punctuation (so nothing but odd symbols is
``[UNK]``), with the BERT template ``[CLS] a [SEP] b [SEP]``. Each directory is
well under 200 KB. Needs the ``onnx`` package (a development dependency),
imported only when a model is built.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.export import write_card
from detectors.runtime import MODEL_FILE, TOKENIZER_FILE

__all__ = ["TINY_WORDS", "build_tiny_cross_encoder", "build_tiny_embedder", "tiny_vocab"]

OPSET = 17
IR_VERSION = 8  # opset 17 needs IR 8; every onnxruntime since 1.12 reads it

_WORDS = (
    "the of and to in is was it for on that by with as at from this be are were an or "
    "not but which he she they we you i his her their its has have had been will would "
    "can could may might do does did no yes all some any one two three four five six "
    "seven eight nine ten first second last new old more most less many few each other "
    "year years day days time people city country capital river world state government "
    "company founded born died built made named called known located population about "
    "after before during between over under into than then also only just very well "
    "north south east west large small high low long short big great good bad "
    "paris france berlin germany london england rome italy madrid spain tokyo japan "
    "europe asia america africa ocean sea mountain island lake water fire earth air "
    "sun moon star planet light sound energy power war peace king queen president "
    "university school book books film music art science history language english "
    "french german water cat dog bird fish tree house car road bridge tower "
    "red blue green black white gold silver iron money price cost percent million "
    "billion number numbers meters kilometers miles tall wide deep hot cold "
    "never always often usually because so if when where who what why how "
    "there here these those such same different true false answer question"
)
TINY_WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORDS.split()))
"""Whole words in the tiny vocabulary (anything else is spelled with letter pieces)."""

_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def tiny_vocab() -> dict[str, int]:
    """The WordPiece vocabulary shared by the tiny models: token -> id."""
    tokens: list[str] = list(_SPECIAL)
    tokens += list(string.punctuation)
    tokens += list(string.digits) + [f"##{d}" for d in string.digits]
    tokens += list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase]
    tokens += [w for w in TINY_WORDS if w not in tokens]
    return {token: index for index, token in enumerate(tokens)}


def _write_tokenizer(path: Path, vocab: dict[str, int]) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    tok.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]")
    tok.save(str(path))


def _const(name: str, array: npt.NDArray[Any]) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(array, name)


def _content_weights(vocab: dict[str, int]) -> npt.NDArray[np.float32]:
    """1.0 per vocabulary id, 0.0 for the special tokens (left out of pooling and overlap)."""
    weights = np.ones(len(vocab), dtype=np.float32)
    for token in _SPECIAL:
        weights[vocab[token]] = 0.0
    return weights


def _masked_mean_nodes(prefix: str, emb: str, mask: str, out: str) -> list[Any]:
    """Nodes computing ``out = sum(emb * mask[..., None], 1) / max(sum(mask, 1), 1)``."""
    from onnx import helper

    p = prefix
    return [
        helper.make_node("Unsqueeze", [mask, "axis_last"], [f"{p}_m3"]),
        helper.make_node("Mul", [emb, f"{p}_m3"], [f"{p}_weighted"]),
        helper.make_node("ReduceSum", [f"{p}_weighted", "axis_1"], [f"{p}_sum"], keepdims=0),
        helper.make_node("ReduceSum", [f"{p}_m3", "axis_1"], [f"{p}_count"], keepdims=0),
        helper.make_node("Max", [f"{p}_count", "one"], [f"{p}_denom"]),
        helper.make_node("Div", [f"{p}_sum", f"{p}_denom"], [out]),
    ]


def _save_model(graph: Any, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="groundrail.tiny_models",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_tiny_cross_encoder(
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] = ("entailment", "neutral", "contradiction"),
    max_length: int = 64,
    seed: int = 0,
) -> Path:
    """Write a tiny cross-encoder model directory at ``path``; return it as a Path.

    Graph: token embeddings, masked means of premise (type 0) and hypothesis
    (type 1) tokens, logits = [a, b, a*b] @ W * 0.5 + overlap rule (see module
    docstring); inputs ``input_ids``, ``attention_mask``, ``token_type_ids``.
    """
    from onnx import TensorProto, helper

    labels = list(labels)
    if len(labels) < 2:
        raise ValueError("a cross-encoder needs at least two labels")
    out_dir = Path(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    rng = np.random.default_rng(seed)
    dim, n = 24, len(labels)
    # The overlap rule: share of hypothesis tokens found in the premise, 0..1.
    gain = np.zeros(n, dtype=np.float32)
    bias = np.zeros(n, dtype=np.float32)
    if "entailment" in labels:
        gain[labels.index("entailment")], bias[labels.index("entailment")] = 7.0, -3.5
    if "contradiction" in labels:
        gain[labels.index("contradiction")], bias[labels.index("contradiction")] = -3.0, 0.5
    if "neutral" in labels:
        bias[labels.index("neutral")] = 0.8
    inits = [
        _const("table", rng.normal(0.0, 1.0, (len(vocab), dim)).astype(np.float32)),
        _const("content", _content_weights(vocab)),
        _const("w_out", (rng.normal(0.0, 0.5, (3 * dim, n)) / np.sqrt(dim)).astype(np.float32)),
        _const("gain", gain),
        _const("bias", bias),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("axis_1", np.array([1], dtype=np.int64)),
        _const("axis_2", np.array([2], dtype=np.int64)),
        _const("axis_last", np.array([-1], dtype=np.int64)),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", ["table", "input_ids"], ["emb"]),
        node("Gather", ["content", "input_ids"], ["is_content"]),
        node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        node("Cast", ["token_type_ids"], ["type_f"], to=TensorProto.FLOAT),
        node("Mul", ["mask_f", "is_content"], ["keep"]),
        node("Mul", ["keep", "type_f"], ["m_b"]),
        node("Sub", ["keep", "m_b"], ["m_a"]),
        *_masked_mean_nodes("a", "emb", "m_a", "pooled_a"),
        *_masked_mean_nodes("b", "emb", "m_b", "pooled_b"),
        node("Mul", ["pooled_a", "pooled_b"], ["pooled_ab"]),
        node("Concat", ["pooled_a", "pooled_b", "pooled_ab"], ["features"], axis=1),
        node("MatMul", ["features", "w_out"], ["base"]),
        # same[b, i, j] = 1 where hypothesis token i equals premise token j
        node("Unsqueeze", ["input_ids", "axis_2"], ["ids_i"]),
        node("Unsqueeze", ["input_ids", "axis_1"], ["ids_j"]),
        node("Equal", ["ids_i", "ids_j"], ["eq"]),
        node("Cast", ["eq"], ["eq_f"], to=TensorProto.FLOAT),
        node("Unsqueeze", ["m_b", "axis_2"], ["m_b_i"]),
        node("Unsqueeze", ["m_a", "axis_1"], ["m_a_j"]),
        node("Mul", ["eq_f", "m_b_i"], ["eq_b"]),
        node("Mul", ["eq_b", "m_a_j"], ["same"]),
        node("ReduceMax", ["same"], ["found"], axes=[2], keepdims=0),
        node("ReduceSum", ["found", "axis_1"], ["found_n"], keepdims=1),
        node("ReduceSum", ["m_b", "axis_1"], ["hyp_n"], keepdims=1),
        node("Max", ["hyp_n", "one"], ["hyp_denom"]),
        node("Div", ["found_n", "hyp_denom"], ["overlap"]),
        node("Mul", ["overlap", "gain"], ["rule"]),
        node("Add", ["base", "rule"], ["pre_logits"]),
        node("Add", ["pre_logits", "bias"], ["logits"]),
    ]
    ints = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cross_encoder",
        ints,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n])],
        initializer=inits,
    )
    _save_model(graph, out_dir / MODEL_FILE)
    _write_tokenizer(out_dir / TOKENIZER_FILE, vocab)
    card: dict[str, Any] = {
        "name": f"tiny-cross-encoder-{seed}",
        "kind": "cross-encoder",
        "labels": labels,
        "max_length": max_length,
        "description": "Random weights plus a token-overlap rule; for tests only.",
        "base_weights": None,
        "license": "Apache-2.0",
        "training_data": None,
        "generator": "detectors.tiny_models.build_tiny_cross_encoder",
        "seed": seed,
    }
    write_card(out_dir, card)
    return out_dir


def build_tiny_embedder(
    path: str | os.PathLike[str],
    *,
    dim: int = 16,
    max_length: int = 64,
    seed: int = 0,
    pooling: str = "mean",
    normalize: bool = True,
) -> Path:
    """Write a tiny embedding model directory at ``path``; return it as a Path.

    Graph: ``h = tanh(emb @ W1 + mean(emb) @ W2)`` per token (inputs
    ``input_ids`` and ``attention_mask`` only). With ``pooling`` ``"mean"`` or
    ``"cls"`` it outputs ``h`` as ``[batch, tokens, dim]``; with ``"none"`` it
    outputs the masked mean of ``h`` as ``[batch, dim]``.
    """
    from onnx import TensorProto, helper

    if pooling not in ("mean", "cls", "none"):
        raise ValueError(f"pooling must be 'mean', 'cls' or 'none', got {pooling!r}")
    out_dir = Path(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    rng = np.random.default_rng(seed)
    width = 24
    inits = [
        _const("table", rng.normal(0.0, 1.0, (len(vocab), width)).astype(np.float32)),
        _const("content", _content_weights(vocab)),
        _const("w1", (rng.normal(0.0, 1.0, (width, dim)) / np.sqrt(width)).astype(np.float32)),
        _const("w2", (rng.normal(0.0, 1.0, (width, dim)) / np.sqrt(width)).astype(np.float32)),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("axis_1", np.array([1], dtype=np.int64)),
        _const("axis_last", np.array([-1], dtype=np.int64)),
    ]
    node = helper.make_node
    nodes = [
        node("Gather", ["table", "input_ids"], ["emb"]),
        node("Gather", ["content", "input_ids"], ["is_content"]),
        node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        node("Mul", ["mask_f", "is_content"], ["keep"]),
        *_masked_mean_nodes("ctx", "emb", "keep", "context"),
        node("MatMul", ["emb", "w1"], ["local"]),
        node("MatMul", ["context", "w2"], ["global"]),
        node("Unsqueeze", ["global", "axis_1"], ["global_3"]),
        node("Add", ["local", "global_3"], ["pre_h"]),
        node("Tanh", ["pre_h"], ["hidden"]),
    ]
    if pooling == "none":
        nodes += _masked_mean_nodes("out", "hidden", "mask_f", "sentence")
        output = helper.make_tensor_value_info("sentence", TensorProto.FLOAT, ["batch", dim])
    else:
        output = helper.make_tensor_value_info(
            "hidden", TensorProto.FLOAT, ["batch", "tokens", dim]
        )
    graph = helper.make_graph(
        nodes,
        "tiny_embedder",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
            for name in ("input_ids", "attention_mask")
        ],
        [output],
        initializer=inits,
    )
    _save_model(graph, out_dir / MODEL_FILE)
    _write_tokenizer(out_dir / TOKENIZER_FILE, vocab)
    card: dict[str, Any] = {
        "name": f"tiny-embedder-{seed}",
        "kind": "embedding",
        "max_length": max_length,
        "pooling": pooling,
        "normalize": normalize,
        "description": "Random weights; for tests only.",
        "base_weights": None,
        "license": "Apache-2.0",
        "training_data": None,
        "generator": "detectors.tiny_models.build_tiny_embedder",
        "seed": seed,
    }
    write_card(out_dir, card)
    return out_dir
