"""Pydantic models of an action as a pack writes it, and the action values they build.

An action is a shorthand word (``redact``) or a mapping tagged by ``type``; each
type has its own strict model, so a key that does not belong to the type (say
``message`` on ``cut``) is an error. The union is tagged by a function of the
input, so a mistake yields one precise error instead of one per member.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from policies._yaml import suggest
from policies.actions import Action, Allow, Block, Correct, Cut, Raise, Regenerate, Warn
from policies.actions import check_template as _check_template

__all__ = [
    "ACTION_TYPES",
    "SHORTHANDS",
    "STRICT",
    "ActionField",
    "ActionSpec",
    "AllowSpec",
    "BlockSpec",
    "CorrectSpec",
    "CutSpec",
    "RaiseSpec",
    "RegenerateSpec",
    "WarnSpec",
    "build_action",
]

STRICT = ConfigDict(extra="forbid", frozen=True)
SHORTHANDS: Mapping[str, Action] = MappingProxyType(
    {
        "allow": Allow(),
        "warn": Warn(),
        "cut": Cut(),
        "drop": Correct("drop"),
        "redact": Correct("redact"),
        "annotate": Correct("annotate"),
        "fix_numbers": Correct("fix_numbers"),
        "rewrite": Correct("rewrite"),
        "block": Block(),
        "raise": Raise(),
        "regenerate": Regenerate(),
    }
)
"""An action written as one word -> its value."""
ACTION_TYPES = ("allow", "warn", "cut", "correct", "block", "raise", "regenerate")
STRATEGIES = ("drop", "redact", "annotate", "fix_numbers", "rewrite")


class ActionSpec(BaseModel, ABC):
    """An action written as a mapping; ``type`` picks the model."""

    model_config = STRICT
    type: str

    @abstractmethod
    def build(self) -> Action:
        """The action value."""


def build_action(spec: str | ActionSpec) -> Action:
    """The action value of a validated shorthand or mapping."""
    return SHORTHANDS[spec] if isinstance(spec, str) else spec.build()


class AllowSpec(ActionSpec):
    type: Literal["allow"]

    def build(self) -> Action:
        return Allow()


class WarnSpec(ActionSpec):
    type: Literal["warn"]

    def build(self) -> Action:
        return Warn()


class CutSpec(ActionSpec):
    type: Literal["cut"]

    def build(self) -> Action:
        return Cut()


_USED_BY: Mapping[str, tuple[str, ...]] = {
    "mask": ("redact",),
    "mask_char": ("redact",),
    "marker": ("annotate",),
    "else_": ("fix_numbers", "rewrite"),
}


class CorrectSpec(ActionSpec):
    """``strategy`` and only the options that strategy uses."""

    type: Literal["correct"]
    strategy: Literal["drop", "redact", "annotate", "fix_numbers", "rewrite"] = "drop"
    mask: str = "label"
    mask_char: Annotated[str, Field(min_length=1)] = "*"
    marker: str = " [unverified]"
    else_: ActionField | None = Field(None, alias="else")

    @field_validator("mask", "mask_char", "marker", "else_")
    @classmethod
    def _used(cls, value: Any, info: ValidationInfo) -> Any:
        if "strategy" not in info.data:  # the strategy itself is wrong: reported already
            return value
        strategy = info.data["strategy"]
        used_by = _USED_BY[info.field_name or ""]
        if strategy not in used_by:
            key = "else" if info.field_name == "else_" else info.field_name
            raise ValueError(
                f"{key!r} only applies to strategy {' or '.join(map(repr, used_by))}, "
                f"not {strategy!r}"
            )
        if info.field_name == "else_" and value is not None:
            other = build_action(value)
            if isinstance(other, Regenerate) or (
                isinstance(other, Correct) and other.strategy == "rewrite"
            ):
                raise ValueError(
                    "a correct fallback cannot call the LLM again (no regenerate or rewrite)"
                )
        return value

    def build(self) -> Action:
        other = build_action(self.else_) if self.else_ is not None else None
        return Correct(self.strategy, self.mask, self.mask_char, self.marker, other)


class RegenerateSpec(ActionSpec):
    type: Literal["regenerate"]
    max_attempts: Annotated[int, Field(ge=0)] = 1
    feedback: str | None = None
    fallbacks: list[str] = []
    else_: ActionField | None = Field(None, alias="else")

    @field_validator("feedback")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            _check_template(value)
        return value

    @field_validator("else_")
    @classmethod
    def _not_again(cls, value: Any) -> Any:
        if value is not None and isinstance(build_action(value), Regenerate):
            raise ValueError("a regenerate fallback cannot itself be regenerate")
        return value

    def build(self) -> Action:
        other = build_action(self.else_) if self.else_ is not None else None
        return Regenerate(self.max_attempts, other, self.feedback, tuple(self.fallbacks))


class BlockSpec(ActionSpec):
    type: Literal["block"]
    message: str | None = None

    def build(self) -> Action:
        return Block(self.message) if self.message is not None else Block()


class RaiseSpec(ActionSpec):
    type: Literal["raise"]
    message: str | None = None

    def build(self) -> Action:
        return Raise(self.message) if self.message is not None else Raise()


class _BadAction(BaseModel):
    """A mapping whose ``type`` is missing or unknown: validation always fails, precisely."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @field_validator("type")
    @classmethod
    def _unknown(cls, value: str) -> str:
        if value in STRATEGIES:
            raise ValueError(
                f"{value!r} is a correct strategy: write {{type: correct, strategy: {value}}} "
                f"or the shorthand {value!r}"
            )
        raise ValueError(
            f"unknown action type {value!r}{suggest(value, ACTION_TYPES)} "
            f"(expected one of: {', '.join(ACTION_TYPES)})"
        )


def _shorthand(value: str) -> str:
    if value in SHORTHANDS:
        return value
    raise ValueError(
        f"unknown action {value!r}{suggest(value, SHORTHANDS)} (expected a shorthand: "
        f"{', '.join(SHORTHANDS)}; or a mapping with a 'type')"
    )


def _action_tag(value: object) -> str | None:
    if isinstance(value, str):
        return "@short"
    if isinstance(value, Mapping):
        kind = value.get("type")
        return kind if kind in ACTION_TYPES else "@bad"
    return value.type if isinstance(value, ActionSpec) else None


_ACTION_ERROR = (
    f"expected an action: a shorthand ({', '.join(SHORTHANDS)}) or a mapping with "
    f"'type' ({', '.join(ACTION_TYPES)})"
)
if TYPE_CHECKING:
    ActionField = str | ActionSpec
else:
    ActionField = Annotated[
        Union[  # noqa: UP007
            Annotated[
                str,
                AfterValidator(_shorthand),
                WithJsonSchema({"type": "string", "enum": list(SHORTHANDS)}),
                Tag("@short"),
            ],
            Annotated[AllowSpec, Tag("allow")],
            Annotated[WarnSpec, Tag("warn")],
            Annotated[CutSpec, Tag("cut")],
            Annotated[CorrectSpec, Tag("correct")],
            Annotated[BlockSpec, Tag("block")],
            Annotated[RaiseSpec, Tag("raise")],
            Annotated[RegenerateSpec, Tag("regenerate")],
            Annotated[_BadAction, SkipJsonSchema(), Tag("@bad")],
        ],
        Discriminator(_action_tag, custom_error_type="action", custom_error_message=_ACTION_ERROR),
    ]
CorrectSpec.model_rebuild()
RegenerateSpec.model_rebuild()
