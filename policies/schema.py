"""The pydantic models of a policy-pack file, and how a pack becomes policy values.

Every model is strict (``extra="forbid"``: a misspelt key is an error, never a
silent default) and frozen. A detector entry is tagged by its registry ``type``
and validated against that detector's own keyword-only ``__init__`` options;
actions live in :mod:`policies._actions_schema`. :class:`PackSpec` is one file
as written; :meth:`PackSpec.merged_with` folds packs that ``extends`` names.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_type_hints

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from detectors.base import Detector
from detectors.registry import DETECTOR_TYPES, detector_type
from guardrails.errors import ConfigError, ModelError
from policies._actions_schema import STRICT, ActionField, build_action
from policies._yaml import Document, suggest
from policies.rules import Policy, Rule, When

__all__ = [
    "DETECTOR_SPECS",
    "DetectorSpec",
    "EventAction",
    "Expect",
    "GoldenCase",
    "PackSpec",
    "RuleSpec",
    "StreamSpec",
    "WhenSpec",
    "options_model",
]


def _listify(value: object) -> object:
    return [value] if isinstance(value, str) else value


_STR_OR_LIST_SCHEMA = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
}
StrList = Annotated[list[str], BeforeValidator(_listify), WithJsonSchema(_STR_OR_LIST_SCHEMA)]
"""A list of strings; one string is a list of one."""


def _text_or_list(value: object) -> str | None:
    return "text" if isinstance(value, str) else "list" if isinstance(value, list) else None


TextOrList = Annotated[
    Union[Annotated[str, Tag("text")], Annotated[list[str], Tag("list")]],  # noqa: UP007
    Discriminator(
        _text_or_list,
        custom_error_type="text_or_list",
        custom_error_message="expected a string or a list of strings",
    ),
]


EventAction = Literal[
    "warn", "drop", "redact", "annotate", "fix_numbers", "rewrite", "cut", "block", "raise",
    "regenerate", "dedupe", "discard",
]  # fmt: skip


# --------------------------------------------------------------------- rules


class WhenSpec(BaseModel):
    """Which findings a rule takes; see :class:`policies.rules.When`."""

    model_config = STRICT
    detector: str | None = None
    label: StrList = []
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    max_score: Annotated[float, Field(ge=0, le=1)] = 1.0
    scope: Literal["sentence", "response"] = "sentence"
    more_than: Annotated[int, Field(ge=0)] = 0

    @field_validator("max_score")
    @classmethod
    def _range(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min_score")
        if low is not None and value < low:
            raise ValueError(f"max_score {value} is below min_score {low}")
        return value

    @model_validator(mode="after")
    def _threshold(self) -> WhenSpec:
        if "scope" in self.model_fields_set and not self.more_than:
            raise ValueError("'scope' only applies to threshold rules: set 'more_than' too")
        return self


class RuleSpec(BaseModel):
    """One rule: the findings it takes, its action and message."""

    model_config = STRICT
    name: str = ""
    when: WhenSpec = WhenSpec()
    action: ActionField
    message: str = ""
    _where: str = PrivateAttr("")

    def build(self) -> Rule:
        w = self.when
        when = When(w.detector, frozenset(w.label), w.min_score, w.max_score, w.scope, w.more_than)
        return Rule(when, build_action(self.action), self.message, self.name)


# ----------------------------------------------------------------- detectors


class DetectorSpec(BaseModel):
    """One ``detectors:`` entry: a registry ``type`` plus that detector's options."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    type: str
    _where: str = PrivateAttr("")

    @property
    def options(self) -> dict[str, Any]:
        """The options written in the pack (the detector's defaults fill the rest)."""
        return {k: getattr(self, k) for k in self.model_fields_set if k != "type"}

    def build(self, name: str, source: str = "") -> Detector:
        """The detector instance; its own ConfigErrors name this entry's position."""
        cls: type[Any] = detector_type(self.type)
        try:
            detector: Detector = cls(name=name, **self.options)
        except (ConfigError, TypeError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, ConfigError) else str(exc)
            raise ConfigError(detail, where=self._where or f"{source}: detectors.{name}") from None
        except ModelError as exc:  # keep the type (a model problem), add where the pack asks for it
            raise ModelError(f"{self._where or f'{source}: detectors.{name}'}: {exc}") from exc
        return detector


def options_model(type_name: str, cls: type[Any]) -> type[DetectorSpec]:
    """A strict model of ``type`` plus a detector's keyword-only ``__init__`` options."""
    init = cls.__init__
    hints = get_type_hints(init)
    fields: dict[str, Any] = {"type": (Literal[type_name], ...)}
    for p in inspect.signature(init).parameters.values():
        if p.name in ("self", "name") or p.kind is not p.KEYWORD_ONLY:
            continue
        fields[p.name] = (hints.get(p.name, Any), ... if p.default is p.empty else p.default)
    doc = f"Options of the {type_name!r} detector ({cls.__name__})."
    model: type[DetectorSpec] = create_model(
        f"{cls.__name__}Spec", __base__=DetectorSpec, __doc__=doc, **fields
    )
    return model


DETECTOR_SPECS: Mapping[str, type[DetectorSpec]] = MappingProxyType(
    {name: options_model(name, cls) for name, cls in DETECTOR_TYPES.items()}
)


class _BadDetector(DetectorSpec):
    """An entry whose ``type`` is missing, planned or unknown: always fails, precisely."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("type")
    @classmethod
    def _unknown(cls, value: str) -> str:
        try:
            detector_type(value)
        except ConfigError as exc:
            raise ValueError(exc.detail) from None
        return value


def _detector_tag(value: object) -> str | None:
    if isinstance(value, Mapping):
        kind = value.get("type")
        return kind if kind in DETECTOR_SPECS else "@bad"
    return value.type if isinstance(value, DetectorSpec) else None


if TYPE_CHECKING:
    DetectorField = DetectorSpec
else:
    _DETECTOR_CHOICES = (
        *(Annotated[m, Tag(n)] for n, m in DETECTOR_SPECS.items()),
        Annotated[_BadDetector, SkipJsonSchema(), Tag("@bad")],
    )
    DetectorField = Annotated[
        Union[_DETECTOR_CHOICES],  # noqa: UP007
        Discriminator(
            _detector_tag,
            custom_error_type="detector",
            custom_error_message=(
                f"expected a mapping with a detector 'type' ({', '.join(DETECTOR_SPECS)})"
            ),
        ),
    ]

# ------------------------------------------------------------ stream, tests


class StreamSpec(BaseModel):
    """How the stream is held and timed; see :class:`guardrails.StreamSettings`.

    ``deadlines`` overrides ``deadline_ms`` per detector name. A pack may also set
    ``deadline_ms`` at the top level, which then wins over this one.
    """

    model_config = STRICT
    mode: Literal["hold", "pass"] = "hold"
    max_hold_chars: PositiveInt | None = 4000
    max_hold_ms: PositiveFloat | None = None
    deadline_ms: PositiveFloat = 2000.0
    deadlines: dict[str, PositiveFloat] = {}
    stall_timeout_s: PositiveFloat | None = None


class Expect(BaseModel):
    """What a golden case checks; a key left out is not checked."""

    model_config = STRICT
    output: str | None = None
    passed: bool | None = None
    labels: list[str] | None = None
    actions: list[EventAction] | None = None
    contains: list[str] | None = None
    not_contains: list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if not self.model_fields_set:
            raise ValueError(
                "'expect' checks nothing: set output, passed, labels, actions, "
                "contains or not_contains"
            )
        return self


class GoldenCase(BaseModel):
    """One golden test: the answer (whole or as deltas), context, LLM replies, expectations."""

    model_config = STRICT
    name: str
    input: TextOrList
    context: TextOrList | None = None
    responses: list[str] = []
    expect: Expect
    _where: str = PrivateAttr("")

    @property
    def where(self) -> str:
        """``"<file>:<line>:<col>: tests.<i>"`` when loaded from a file, else ``""``."""
        return self._where


def _version(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PackSpec(BaseModel):
    """One validated pack; :meth:`build` makes what a Guard is assembled from.

    From :func:`policies.loader.load_file` it is already merged with every pack
    it ``extends``; its rules, detectors and tests remember the file and line
    they come from, so errors raised after merging still point at them.
    """

    model_config = STRICT
    name: str
    version: Annotated[
        str,
        BeforeValidator(_version),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
    ] = "1"
    description: str = ""
    extends: StrList = []
    stream: StreamSpec = StreamSpec()
    detectors: dict[str, DetectorField] = {}
    rules: list[RuleSpec] = []
    default: ActionField = "warn"
    on_error: Literal["fail_open", "fail_closed"] = "fail_open"
    error_action: ActionField = "cut"
    deadline_ms: PositiveFloat | None = None
    tests: list[GoldenCase] = []
    _source: str = PrivateAttr("")
    _deadline_where: dict[str, str] = PrivateAttr(default_factory=dict)

    def locate(self, doc: Document) -> None:
        """Remember the positions ``doc`` (the file this pack was read from) gives its parts."""
        self._source = doc.source
        for i, rule in enumerate(self.rules):
            rule._where = doc.where(("rules", i, "when", "detector"))
        for name, det in self.detectors.items():
            det._where = doc.where(("detectors", name), key=True)
        for i, case in enumerate(self.tests):
            case._where = doc.where(("tests", i))
        for name in self.stream.deadlines:
            self._deadline_where[name] = doc.where(("stream", "deadlines", name), key=True)

    def merged_with(self, later: PackSpec) -> PackSpec:
        """This pack overlaid by ``later`` (a pack that extends it, or a later parent).

        Keys ``later`` sets win; ``stream`` merges key by key (``deadlines`` by
        detector name); ``detectors`` by name (a later entry replaces the whole
        entry); ``later``'s rules come first (first match wins); ``tests`` are
        concatenated, this pack's first.
        """
        own = later.model_fields_set
        values = {k: getattr(later if k in own else self, k) for k in type(self).model_fields}
        early, late = self.stream, later.stream
        stream = {
            k: getattr(late if k in late.model_fields_set else early, k)
            for k in StreamSpec.model_fields
        }
        stream["deadlines"] = {**early.deadlines, **late.deadlines}
        fields = early.model_fields_set | late.model_fields_set
        values["stream"] = StreamSpec.model_construct(fields, **stream)
        values["detectors"] = {**self.detectors, **later.detectors}
        values["rules"] = [*later.rules, *self.rules]
        values["tests"] = [*self.tests, *later.tests]
        merged = PackSpec.model_construct(self.model_fields_set | own, **values)
        merged._source = later._source
        merged._deadline_where = {**self._deadline_where, **later._deadline_where}
        return merged

    def check_references(self, source: str = "") -> None:
        """Every detector a rule or a stream deadline names must be declared."""
        where = source or self._source or f"pack {self.name!r}"
        declared = list(self.detectors)
        known = f"(declared: {', '.join(declared) or 'none'})"
        for i, rule in enumerate(self.rules):
            name = rule.when.detector
            if name is not None and name not in self.detectors:
                raise ConfigError(
                    f"the rule names detector {name!r}, which no pack declares"
                    f"{suggest(name, declared)} {known}",
                    where=rule._where or f"{where}: rules.{i}.when.detector",
                )
        for name in self.stream.deadlines:
            if name not in self.detectors:
                raise ConfigError(
                    f"a deadline for detector {name!r}, which no pack declares"
                    f"{suggest(name, declared)} {known}",
                    where=self._deadline_where.get(name) or f"{where}: stream.deadlines.{name}",
                )

    def build(self, source: str = "") -> tuple[list[Detector], Policy, StreamSpec]:
        """Detectors, policy and stream settings; errors name the file and key."""
        where = source or self._source or f"pack {self.name!r}"
        self.check_references(where)
        detectors = [spec.build(name, where) for name, spec in self.detectors.items()]
        policy = Policy(
            [rule.build() for rule in self.rules],
            default=build_action(self.default),
            on_error=self.on_error,
            error_action=build_action(self.error_action),
        )
        stream = self.stream
        if self.deadline_ms is not None:
            stream = stream.model_copy(update={"deadline_ms": self.deadline_ms})
        return detectors, policy, stream
