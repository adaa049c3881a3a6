"""A missing, truncated or tampered ONNX model is a ``ModelError`` naming the file when
the detector is built, not a surprise at the first sentence.

A model whose card was rewritten to match a broken file passes the checksum; it
fails when the session starts, at the first check, which then follows
``on_error`` like any detector failure (reported, never silent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reliability_helpers import drive

from detectors.grounding import Grounding
from detectors.runtime import file_sha256
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails.errors import ModelError
from guardrails.events import FindingEvent
from guardrails.guard import Guard
from guardrails.testing import check_accounting
from policies import Policy


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "nli")


@pytest.fixture
def model(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny cross-encoder, free to damage."""
    return Path(shutil.copytree(pristine, tmp_path / "nli"))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _reseal(model: Path) -> None:
    """Rewrite the card's checksums to match whatever the files now hold."""
    card = json.loads((model / "card.json").read_text(encoding="utf-8"))
    card["sha256"] = {name: file_sha256(model / name) for name in card["sha256"]}
    (model / "card.json").write_text(json.dumps(card), encoding="utf-8")


DAMAGE = {
    "model missing": ("model.onnx", lambda p: p.unlink(), "missing file"),
    "tokenizer missing": ("tokenizer.json", lambda p: p.unlink(), "missing file"),
    "card missing": ("card.json", lambda p: p.unlink(), "missing file"),
    "model truncated": ("model.onnx", _truncate, "sha256 mismatch"),
    "model byte flipped": ("model.onnx", _flip_byte, "sha256 mismatch"),
    "tokenizer truncated": ("tokenizer.json", _truncate, "sha256 mismatch"),
    "model empty": ("model.onnx", lambda p: p.write_bytes(b""), "sha256 mismatch"),
    "card not JSON": ("card.json", lambda p: p.write_text("{", encoding="utf-8"), "invalid JSON"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_broken_model_fails_when_the_detector_is_built(model: Path, damage: str) -> None:
    file, hurt, fragment = DAMAGE[damage]
    hurt(model / file)
    with pytest.raises(ModelError) as info:
        Grounding(model=str(model))
    assert str(model / file) in str(info.value)
    assert fragment in str(info.value)


def test_a_wrong_checksum_in_the_card_fails_when_built(model: Path) -> None:
    card = json.loads((model / "card.json").read_text(encoding="utf-8"))
    card["sha256"]["model.onnx"] = "0" * 64
    (model / "card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match="sha256 mismatch") as info:
        Grounding(model=str(model))
    assert str(model / "model.onnx") in str(info.value)


def test_a_pack_names_the_detector_entry_and_the_file(model: Path, tmp_path: Path) -> None:
    _truncate(model / "model.onnx")
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        f"name: p\ndetectors:\n  grounding: {{type: grounding, model: '{model}'}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError) as info:
        Guard.from_yaml(pack)
    message = str(info.value)
    assert f"{pack}:3:3" in message and str(model / "model.onnx") in message


@pytest.mark.parametrize("on_error", ["fail_open", "fail_closed"])
def test_a_resealed_corrupt_model_fails_at_the_first_check_and_is_reported(
    model: Path, driver: str, on_error: str
) -> None:
    _truncate(model / "model.onnx")
    _reseal(model)
    detector = Grounding(model=str(model))  # the checksums match: built fine
    guard = Guard([detector], Policy(on_error=on_error))  # type: ignore[arg-type]
    context = "The tower is 330 metres tall and opened in 1889."
    events, error = drive(
        guard, iter(["The tower is tall. It opened late."]), driver, context=context
    )
    assert error is None, error
    result = check_accounting(events)
    failures = [e.finding for e in events if isinstance(e, FindingEvent) and e.finding.is_error]
    assert failures, "a model that cannot run must not switch grounding off silently"
    assert "ModelError" in failures[0].message and str(model / "model.onnx") in failures[0].message
    if on_error == "fail_open":
        assert result.text == "The tower is tall. It opened late."
        assert "warn" in [a.action for a in result.actions]
    else:
        assert result.text == "" and not result.passed
