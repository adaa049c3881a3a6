"""The detector type registry, and the constructor conventions a pack loader relies on."""

from __future__ import annotations

import inspect
import tempfile
import typing
from pathlib import Path

import pydantic
import pytest

from detectors.base import CheckContext, Detector, Segment
from detectors.registry import DETECTOR_TYPES, detector_type
from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.errors import ConfigError


class Sample(pydantic.BaseModel):
    """A model for the JSON detector to validate against."""

    text: str


_MODELS = Path(tempfile.mkdtemp(prefix="registry-models-"))
NLI = str(build_tiny_cross_encoder(_MODELS / "nli"))
EMBED = str(build_tiny_embedder(_MODELS / "embed"))

EXAMPLE_OPTIONS: dict[str, dict[str, object]] = {
    "regex": {"patterns": {"ticket": r"T-\d+"}, "flags": ["IGNORECASE"]},
    "banned": {"phrases": ["free money"], "fuzzy": False, "threshold": 80},
    "pii": {"kinds": ["email"]},
    "json_schema": {"model": f"{__name__}:Sample", "allow_fences": False},
    "length": {"max_chars": 100},
    "claims": {},
    "numeric": {"tolerance": 0.01},
    "entities": {"threshold": 80},
    "lexical": {"threshold": 0.4},
    "embedding": {"model": EMBED, "threshold": 0.3},
    "nli": {"model": NLI, "top_k": 2},
    "grounding": {"model": NLI, "top_k": 2},
    "self_consistency": {"model": NLI},
}
DEFAULT_NAMES = {name: name for name in EXAMPLE_OPTIONS} | {"json_schema": "json"}
MODEL_BACKED = {"embedding", "nli", "grounding", "self_consistency"}


def test_table_is_explicit_and_read_only() -> None:
    assert set(DETECTOR_TYPES) == set(EXAMPLE_OPTIONS)
    with pytest.raises(TypeError):
        DETECTOR_TYPES["mine"] = object  # type: ignore[index]
    for name, cls in DETECTOR_TYPES.items():
        assert detector_type(name) is cls


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("regx", "regex"), ("lenght", "length"), ("json", "json_schema"), ("PII", "pii")],
)
def test_unknown_type_suggests(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'") as info:
        detector_type(name)
    assert repr(name) in str(info.value)


def test_unknown_type_without_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        detector_type("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "known types: banned, claims, embedding, entities, grounding" in str(info.value)


@pytest.mark.parametrize("type_name", sorted(DETECTOR_TYPES))
def test_constructor_conventions(type_name: str) -> None:
    cls = DETECTOR_TYPES[type_name]
    assert cls.__doc__
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert params[0].name == "name"
    assert params[0].default == DEFAULT_NAMES[type_name]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    hints = typing.get_type_hints(cls.__init__)
    assert all(p.name in hints for p in params)
    # a loader can build a pydantic options model straight from the signature
    fields: dict[str, typing.Any] = {
        p.name: (hints[p.name], ... if p.default is inspect.Parameter.empty else p.default)
        for p in params
    }
    options_model = pydantic.create_model(f"{cls.__name__}Options", **fields)
    options = options_model.model_validate(EXAMPLE_OPTIONS[type_name])
    detector = cls(**dict(options))
    assert isinstance(detector, Detector)


def test_instances_follow_the_protocol() -> None:
    text = '{"text": "Nothing to report."}'
    segment = Segment(text, 0, len(text))
    for type_name, cls in DETECTOR_TYPES.items():
        detector = cls(**EXAMPLE_OPTIONS[type_name])
        assert isinstance(detector, Detector)
        assert detector.name == DEFAULT_NAMES[type_name]
        assert detector.cpu_bound is (type_name in MODEL_BACKED)
        assert list(detector.check(segment, CheckContext(final=True))) == []
