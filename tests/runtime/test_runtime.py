"""The ONNX runtime layer on the tiny models: loading, scores, pooling, every ModelError."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
import pytest

from detectors.runtime import CrossEncoder, Embedder, ModelDir, file_sha256, load_session
from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.errors import ConfigError, ModelError

PAIRS = [
    ("Paris is the capital of France.", "Paris is the capital of France."),
    ("Paris is the capital of France.", "Berlin is a city in Germany."),
    ("The river is long and deep.", "The cat sat on the mat."),
    ("The tower was built in 1889 by a French company.", "The tower was built in 1889."),
    ("a", "b"),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {"nli": build_tiny_cross_encoder(root / "nli")}
    for pooling in ("mean", "cls", "none"):
        out[f"emb-{pooling}"] = build_tiny_embedder(root / f"emb-{pooling}", pooling=pooling)
    return out


@pytest.fixture(scope="module")
def encoder(models: dict[str, Path]) -> CrossEncoder:
    return CrossEncoder(models["nli"], device="cpu", threads=1)


@pytest.fixture
def broken(models: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the tiny cross-encoder, free to damage."""
    return Path(shutil.copytree(models["nli"], tmp_path / "nli"))


def edit_card(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    change(card)
    (path / "card.json").write_text(json.dumps(card), encoding="utf-8")


# -- loading and the card ---------------------------------------------------------------


def test_importing_runtime_does_not_import_onnxruntime() -> None:
    code = (
        "import sys, guardrails, detectors.runtime, detectors.batcher\n"
        "print(*(name in sys.modules for name in ('onnxruntime', 'tokenizers', 'onnx')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_tiny_model_directories_are_small_and_complete(models: dict[str, Path]) -> None:
    for path in models.values():
        assert sorted(p.name for p in path.iterdir()) == [
            "card.json",
            "model.onnx",
            "tokenizer.json",
        ]
        assert sum(p.stat().st_size for p in path.iterdir()) < 200_000


def test_tiny_models_are_deterministic(models: dict[str, Path], tmp_path: Path) -> None:
    again = build_tiny_cross_encoder(tmp_path / "again")
    assert file_sha256(again / "model.onnx") == file_sha256(models["nli"] / "model.onnx")
    other = build_tiny_cross_encoder(tmp_path / "other", seed=1)
    assert file_sha256(other / "model.onnx") != file_sha256(models["nli"] / "model.onnx")


def test_model_dir_reads_card_and_keeps_provenance(models: dict[str, Path]) -> None:
    md = ModelDir(models["nli"])
    assert md.kind == "cross-encoder"
    assert md.labels == ("entailment", "neutral", "contradiction")
    assert md.max_length == 64
    assert md.provenance["license"] == "Apache-2.0"
    assert "base_weights" in md.provenance and "sha256" not in md.provenance
    md.verify()
    emb = ModelDir(models["emb-cls"])
    assert (emb.kind, emb.pooling, emb.normalize) == ("embedding", "cls", True)


def test_label_order_and_index(
    encoder: CrossEncoder, models: dict[str, Path], tmp_path: Path
) -> None:
    assert encoder.labels == ("entailment", "neutral", "contradiction")
    assert encoder.label_index("contradiction") == 2
    with pytest.raises(ModelError, match="no label 'support'"):
        encoder.label_index("support")
    flipped = CrossEncoder(
        build_tiny_cross_encoder(tmp_path / "flip", labels=("contradiction", "entailment")),
        device="cpu",
    )
    probs = flipped.predict([PAIRS[0]])[0]
    assert probs[flipped.label_index("entailment")] > probs[flipped.label_index("contradiction")]


def test_auto_device_reports_provider(models: dict[str, Path]) -> None:
    model = CrossEncoder(models["nli"], device="auto")
    assert model.provider in onnxruntime.get_available_providers()
    session = load_session(models["nli"], "cpu", threads=2)
    assert session.provider == "CPUExecutionProvider"
    assert session.input_names == ("input_ids", "attention_mask", "token_type_ids")


def test_cuda_without_cuda_is_a_model_error(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ModelError, match="no CUDAExecutionProvider") as info:
        CrossEncoder(models["nli"], device="cuda")
    assert str(models["nli"] / "model.onnx") in str(info.value)


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_listed_but_not_starting(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime falls back to the CPU when CUDA cannot start: auto says so, cuda fails."""
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA really is available here")
    listed = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    assert CrossEncoder(models["nli"], device="auto").provider == "CPUExecutionProvider"
    with pytest.raises(ModelError, match="CUDAExecutionProvider failed to start"):
        CrossEncoder(models["nli"], device="cuda")


def test_bad_device_and_threads_are_config_errors(models: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="device"):
        load_session(models["nli"], "tpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threads"):
        load_session(models["nli"], "cpu", threads=0)


def test_kind_mismatch(models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="expected 'embedding'"):
        Embedder(models["nli"])
    with pytest.raises(ModelError, match="expected 'cross-encoder'"):
        CrossEncoder(models["emb-mean"])


# -- cross-encoder scores ---------------------------------------------------------------


def test_probabilities_sum_to_one_and_pairs_differ(encoder: CrossEncoder) -> None:
    probs = encoder.predict(PAIRS)
    assert probs.shape == (len(PAIRS), 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert len({tuple(np.round(row, 6)) for row in probs}) == len(PAIRS)
    # the same premise with another hypothesis, and vice versa, changes the scores
    assert not np.allclose(encoder.predict([("x y", "a b")]), encoder.predict([("x y", "a c")]))
    assert not np.allclose(encoder.predict([("x y", "a b")]), encoder.predict([("x z", "a b")]))


def test_overlap_raises_entailment(encoder: CrossEncoder) -> None:
    premise = "Paris is the capital of France."
    hypotheses = ["Paris is the capital of France.", "Paris is in Germany.", "Cats sleep all day"]
    probs = encoder.predict([(premise, h) for h in hypotheses])
    ent, contra = encoder.label_index("entailment"), encoder.label_index("contradiction")
    assert probs[0, ent] > 0.8
    assert probs[0, ent] > probs[1, ent] > probs[2, ent]
    assert probs[0, contra] < probs[2, contra]


def test_batch_equals_one_by_one(encoder: CrossEncoder) -> None:
    batch = encoder.predict(PAIRS)
    single = np.concatenate([encoder.predict([pair]) for pair in PAIRS])
    np.testing.assert_allclose(batch, single, atol=1e-6)
    small = CrossEncoder(encoder.model_dir, device="cpu", batch_size=2, verify=False)
    np.testing.assert_allclose(small.predict(PAIRS), batch, atol=1e-6)
    assert encoder.predict([]).shape == (0, 3)


def test_truncation_is_reported(encoder: CrossEncoder) -> None:
    long = " ".join(["the river is long"] * 40)
    assert encoder.count_tokens(long) == 160
    assert encoder.count_tokens("Paris, France!") == 4
    result = encoder.predict_detailed([PAIRS[0], (long, "the river"), ("short", long)])
    assert result.truncated.tolist() == [False, True, True]
    assert result.tokens.tolist()[1:] == [64, 64]
    np.testing.assert_allclose(
        result.probs, encoder.predict([PAIRS[0], (long, "the river"), ("short", long)])
    )


# -- embedder ---------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls", "none"])
def test_embedder_shape_and_normalisation(models: dict[str, Path], pooling: str) -> None:
    model = Embedder(models[f"emb-{pooling}"], device="cpu")
    texts = ["the cat sat", "the cat sat on the mat", "gold prices rose 20 percent", "a"]
    vectors = model.embed(texts)
    assert vectors.shape == (4, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    single = np.concatenate([model.embed([t]) for t in texts])
    np.testing.assert_allclose(vectors, single, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2]


def test_mean_pooling_matches_in_graph_pooling(models: dict[str, Path]) -> None:
    texts = ["the cat sat on the mat", "paris is in france"]
    mean = Embedder(models["emb-mean"], device="cpu").embed(texts)
    none = Embedder(models["emb-none"], device="cpu").embed(texts)
    np.testing.assert_allclose(mean, none, atol=1e-5)


def test_embedder_without_normalisation(models: dict[str, Path], tmp_path: Path) -> None:
    path = build_tiny_embedder(tmp_path / "raw", dim=8, normalize=False)
    model = Embedder(path, device="cpu")
    vectors, truncated = model.embed_detailed(["the cat", " ".join(["cat"] * 100)])
    assert vectors.shape == (2, 8)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert truncated.tolist() == [False, True]


# -- every ModelError names the file ------------------------------------------------------


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist") as info:
        CrossEncoder(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "card.json"])
def test_missing_file(broken: Path, name: str) -> None:
    (broken / name).unlink()
    with pytest.raises(ModelError, match="missing file") as info:
        CrossEncoder(broken)
    assert str(broken / name) in str(info.value)


def test_corrupt_json_card(broken: Path) -> None:
    (broken / "card.json").write_text('{"name": "x",', encoding="utf-8")
    with pytest.raises(ModelError, match="invalid JSON") as info:
        ModelDir(broken)
    assert str(broken / "card.json") in str(info.value)


@pytest.mark.parametrize("key", ["name", "kind", "labels", "max_length", "sha256"])
def test_missing_card_key(broken: Path, key: str) -> None:
    edit_card(broken, lambda card: card.pop(key))
    with pytest.raises(ModelError, match=f"missing key '{key}'") as info:
        ModelDir(broken)
    assert str(broken / "card.json") in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_length", "64", "must be an integer"),
        ("max_length", True, "must be an integer"),
        ("labels", "entailment", "must be a list"),
        ("kind", "classifier", "expected one of"),
        ("sha256", {"model.onnx": "abc"}, "64-digit hex"),
    ],
)
def test_wrong_card_values(broken: Path, key: str, value: object, message: str) -> None:
    edit_card(broken, lambda card: card.update({key: value}))
    with pytest.raises(ModelError, match=message):
        ModelDir(broken)


def test_embedding_card_needs_pooling(models: dict[str, Path], tmp_path: Path) -> None:
    path = Path(shutil.copytree(models["emb-mean"], tmp_path / "emb"))
    edit_card(path, lambda card: card.pop("pooling"))
    with pytest.raises(ModelError, match="missing key 'pooling'"):
        Embedder(path)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_checksum_mismatch_after_editing_a_byte(broken: Path, name: str) -> None:
    data = bytearray((broken / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (broken / name).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch") as info:
        CrossEncoder(broken)
    assert str(broken / name) in str(info.value)
    ModelDir(broken)  # reading the card alone does not hash the files


def test_truncated_model_with_matching_checksum(broken: Path) -> None:
    model = broken / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    edit_card(broken, lambda card: card["sha256"].update({"model.onnx": file_sha256(model)}))
    with pytest.raises(ModelError, match="onnxruntime cannot load it") as info:
        CrossEncoder(broken)
    assert str(model) in str(info.value)


def test_unreadable_tokenizer_with_matching_checksum(broken: Path) -> None:
    tok = broken / "tokenizer.json"
    tok.write_text('{"version": "1.0"}', encoding="utf-8")
    edit_card(broken, lambda card: card["sha256"].update({"tokenizer.json": file_sha256(tok)}))
    with pytest.raises(ModelError, match="tokenizers cannot load it") as info:
        CrossEncoder(broken)
    assert str(tok) in str(info.value)


def test_verify_false_skips_checksums(broken: Path) -> None:
    edit_card(broken, lambda card: card["sha256"].update({"tokenizer.json": "0" * 64}))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        CrossEncoder(broken)
    assert CrossEncoder(broken, verify=False).predict([PAIRS[0]]).shape == (1, 3)


def test_labels_that_do_not_match_the_graph(broken: Path) -> None:
    edit_card(broken, lambda card: card.update({"labels": ["yes", "no"]}))
    model = CrossEncoder(broken)
    with pytest.raises(ModelError, match="does not match the 2 labels"):
        model.predict([PAIRS[0]])
