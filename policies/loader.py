"""YAML policy packs -> detectors, a :class:`Policy` and stream settings.

A pack::

    name: pii-redact
    description: Redact personal data mid-stream.
    stream: {mode: hold, max_hold_chars: 4000}
    on_error: fail_closed
    detectors:
      pii: {type: pii}
    rules:
      - when: {detector: pii}
        action: redact
    default: warn

Everything is validated strictly (unknown keys are errors, never ignored);
errors name the file and the dotted key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_type_hints

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from detectors.base import Detector
from detectors.registry import detector_type
from guardrails.errors import ConfigError
from policies.actions import Action, Allow, Block, Correct, Cut, Raise, Regenerate, Warn
from policies.rules import Policy, Rule, When

__all__ = ["PACKS_DIR", "PackSpec", "builtin_packs", "load_file", "load_pack", "parse_pack"]

PACKS_DIR = Path(__file__).parent / "packs"
_STRICT = ConfigDict(extra="forbid", frozen=True)
_SHORT: dict[str, Action] = {
    "allow": Allow(),
    "warn": Warn(),
    "cut": Cut(),
    "drop": Correct("drop"),
    "redact": Correct("redact"),
    "block": Block(),
    "raise": Raise(),
    "regenerate": Regenerate(),
}


class StreamSpec(BaseModel):
    model_config = _STRICT
    mode: Literal["hold", "pass"] = "hold"
    max_hold_chars: Annotated[int, Field(gt=0)] | None = 4000
    max_hold_ms: Annotated[float, Field(gt=0)] | None = None
    deadline_ms: Annotated[float, Field(gt=0)] = 2000.0
    deadlines: dict[str, Annotated[float, Field(gt=0)]] = {}
    stall_timeout_s: Annotated[float, Field(gt=0)] | None = None


class ActionSpec(BaseModel):
    model_config = _STRICT
    type: Literal["allow", "warn", "cut", "correct", "block", "raise", "regenerate"]
    strategy: Literal["drop", "redact"] = "drop"
    mask: str = "label"
    mask_char: str = "*"
    message: str | None = None
    max_attempts: Annotated[int, Field(ge=0)] = 1
    else_: ActionSpec | str | None = Field(None, alias="else")

    def build(self) -> Action:
        if self.type == "correct":
            return Correct(self.strategy, self.mask, self.mask_char)
        if self.type == "regenerate":
            return Regenerate(self.max_attempts, _action(self.else_) if self.else_ else None)
        if self.type == "block":
            return Block(self.message) if self.message else Block()
        if self.type == "raise":
            return Raise(self.message) if self.message else Raise()
        return _SHORT[self.type]


def _action(spec: ActionSpec | str) -> Action:
    if isinstance(spec, str):
        if spec not in _SHORT:
            raise ConfigError(f"unknown action {spec!r}; expected one of {sorted(_SHORT)}")
        return _SHORT[spec]
    return spec.build()


class WhenSpec(BaseModel):
    model_config = _STRICT
    detector: str | None = None
    label: str | list[str] | None = None
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    max_score: Annotated[float, Field(ge=0, le=1)] = 1.0


class RuleSpec(BaseModel):
    model_config = _STRICT
    name: str = ""
    when: WhenSpec = WhenSpec()
    action: ActionSpec | str
    message: str = ""

    def build(self) -> Rule:
        labels = self.when.label
        labels = [labels] if isinstance(labels, str) else (labels or [])
        when = When(self.when.detector, frozenset(labels), self.when.min_score, self.when.max_score)
        return Rule(when, _action(self.action), self.message, self.name)


class DetectorSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


class PackSpec(BaseModel):
    """A parsed pack. ``build()`` makes the objects a Guard is assembled from."""

    model_config = _STRICT
    name: str
    version: str | int = 1
    description: str = ""
    stream: StreamSpec = StreamSpec()
    on_error: Literal["fail_open", "fail_closed"] = "fail_open"
    error_action: ActionSpec | str = "cut"
    deadline_ms: Annotated[float, Field(gt=0)] | None = None
    detectors: dict[str, DetectorSpec] = {}
    rules: list[RuleSpec] = []
    default: ActionSpec | str = "warn"

    def build(self, source: str = "") -> tuple[list[Detector], Policy, StreamSpec]:
        """Detectors, policy and stream settings; errors name ``source`` and the key."""
        where = f"{source or 'pack ' + repr(self.name)}: "
        detectors = [
            _at(where + f"detectors.{n}", _build_detector, n, spec)
            for n, spec in self.detectors.items()
        ]
        rules = [_at(where + f"rules.{i}", r.build) for i, r in enumerate(self.rules)]
        for i, rule in enumerate(rules):
            if rule.when.detector is not None and rule.when.detector not in self.detectors:
                raise ConfigError(
                    f"names detector {rule.when.detector!r}, which the pack does not declare "
                    f"(declared: {sorted(self.detectors)})",
                    where=where + f"rules.{i}.when.detector",
                )
        policy = Policy(
            rules,
            default=_at(where + "default", _action, self.default),
            on_error=self.on_error,
            error_action=_at(where + "error_action", _action, self.error_action),
        )
        stream = self.stream
        if self.deadline_ms is not None:
            stream = stream.model_copy(update={"deadline_ms": self.deadline_ms})
        return detectors, policy, stream


T = TypeVar("T")


def _at(where: str, build: Callable[..., T], *args: Any) -> T:
    """Run one build step; a ConfigError from it is re-raised naming ``where``."""
    try:
        return build(*args)
    except ConfigError as exc:
        inner = f"{where}.{exc.where}" if exc.where else where
        raise ConfigError(exc.detail, where=inner) from None


def _options_model(cls: type[Any]) -> type[BaseModel]:
    """A strict pydantic model of a detector's keyword-only ``__init__`` options."""
    init = cls.__init__
    hints = get_type_hints(init)
    fields: dict[str, Any] = {}
    for p in inspect.signature(init).parameters.values():
        if p.name in ("self", "name") or p.kind is not p.KEYWORD_ONLY:
            continue
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    model: type[BaseModel] = create_model(f"{cls.__name__}Options", __config__=config, **fields)
    return model


def _build_detector(name: str, spec: DetectorSpec) -> Detector:
    cls: type[Any] = detector_type(spec.type)
    options = dict(spec.model_extra or {})
    try:
        valid = _options_model(cls).model_validate(options)
    except ValidationError as exc:
        errors = exc.errors()
        if len(errors) == 1:  # name the exact key
            key = ".".join(str(x) for x in errors[0]["loc"])
            raise ConfigError(_describe(exc, "").split(": ", 1)[1], where=key) from None
        raise ConfigError(_describe(exc)) from None
    kwargs = {k: getattr(valid, k) for k in type(valid).model_fields if k in options}
    det: Detector = cls(name=name, **kwargs)
    return det


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(x) for x in (prefix, *err["loc"]) if x != "")
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        parts.append(f"{key}: {err['msg']}{got}")
    return "; ".join(parts)


def parse_pack(data: object, source: str) -> PackSpec:
    """Validate a decoded YAML document as a pack."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a pack must be a mapping, got {type(data).__name__}", where=source)
    try:
        return PackSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc), where=source) from None


def load_file(path: Path) -> PackSpec:
    """Read and validate a pack file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read pack: {exc}", where=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", where=str(path)) from None
    return parse_pack(data, str(path))


def builtin_packs() -> list[str]:
    """Names of the packs shipped with the library."""
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def load_pack(name: str) -> PackSpec:
    """A built-in pack by name."""
    path = PACKS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown pack {name!r}; built-in packs: {builtin_packs()}")
    return load_file(path)
