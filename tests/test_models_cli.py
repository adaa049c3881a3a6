"""``guardrails models list | verify | export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.runtime import CrossEncoder, Embedder
from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.cli import main


def test_list_and_verify_model_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nli = build_tiny_cross_encoder(tmp_path / "nli")
    embed = build_tiny_embedder(tmp_path / "embed")
    assert main(["models", "list", str(nli), str(embed)]) == 0
    out = capsys.readouterr().out
    assert "cross-encoder" in out and "embedding" in out
    assert "['entailment', 'neutral', 'contradiction']" in out
    assert main(["models", "verify", str(nli), str(embed)]) == 0
    assert capsys.readouterr().out.count("checksums ok") == 2


def test_verify_fails_on_a_changed_model_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nli = build_tiny_cross_encoder(tmp_path / "nli")
    data = bytearray((nli / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (nli / "model.onnx").write_bytes(bytes(data))
    assert main(["models", "verify", str(nli)]) == 1
    out = capsys.readouterr().out
    assert "BAD" in out and "model.onnx" in out


def test_shipped_models_verify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify"]) == 0
    assert "BAD" not in capsys.readouterr().out


def _tiny_transformers(path: Path, kind: str) -> Path:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "a",
        "an",
        "example",
        "another",
        "pair",
        "of",
        "texts",
        "the",
        "tower",
        "is",
        "tall",
        ".",
    ]
    (path / "src").mkdir(parents=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab))
    config = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=3,
        id2label={0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"},
    )
    cls = (
        transformers.BertForSequenceClassification
        if kind == "cross-encoder"
        else transformers.BertModel
    )
    cls(config).save_pretrained(path / "src")
    tokenizer.save_pretrained(path / "src")
    return path / "src"


@pytest.mark.parametrize("kind", ["cross-encoder", "embedding"])
def test_export_a_local_transformers_model(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _tiny_transformers(tmp_path, kind)
    dest = tmp_path / "exported"
    assert (
        main(["models", "export", str(source), str(dest), "--kind", kind, "--max-length", "32"])
        == 0
    )
    card = json.loads((dest / "card.json").read_text(encoding="utf-8"))
    assert card["kind"] == kind and card["max_length"] == 32
    if kind == "cross-encoder":
        assert card["labels"] == ["entailment", "neutral", "contradiction"]
        probs = CrossEncoder(dest).predict([("the tower is tall .", "the tower is tall .")])
        assert probs.shape == (1, 3)
    else:
        vectors = Embedder(dest).embed(["the tower is tall ."])
        assert vectors.shape == (1, 16)
    assert main(["models", "verify", str(dest)]) == 0
    assert main(["models", "export", str(source), str(dest), "--kind", kind]) == 2  # exists already
