"""Structured output: the whole answer must be JSON that validates against a pydantic model.

::

    JsonSchemaDetector(model="myapp.schemas:Answer")

While the answer streams, each segment checks that the text so far is still a
*viable prefix* of a JSON document: something a JSON document could start with.
Leading prose (``Sure! Here is``), ``{"a": 1,,``, an unbalanced closer or text
after the top-level value are caught as soon as they arrive, at the first
offending character. With ``allow_fences`` the document may sit in a Markdown
fence (```` ```json ```` ... ```` ``` ````); a fence still open at the end is
tolerated. On the final check the answer is parsed and validated against the
model.

Labels: ``"invalid_json"`` (not JSON, or not a viable prefix of it) and
``"schema_mismatch"`` (JSON, but the model rejects it).
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from detectors.base import CheckContext, Finding, Segment
from guardrails.errors import ConfigError

__all__ = ["JsonSchemaDetector", "first_invalid_offset"]

_WS = re.compile(r"[ \t\r\n]*")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PREFIX = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]*)?|\.|[eE][+-]?[0-9]*)?)?"
)
_FENCE_OPEN = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?\n", re.IGNORECASE)
_FENCE_OPEN_PREFIX = re.compile(r"`{0,3}|```[ \t]*(?:j|js|jso|json)?[ \t]*\r?", re.IGNORECASE)
_LITERALS = {"t": "true", "f": "false", "n": "null"}
_HEX = frozenset("0123456789abcdefABCDEF")
_MAX_ERRORS = 5


def _skip(pattern: re.Pattern[str], text: str, i: int) -> int:
    """Index after ``pattern`` matched at ``i`` (it may match nothing)."""
    match = pattern.match(text, i)
    return i if match is None else match.end()


def _longest_viable(token: str, pattern: re.Pattern[str]) -> int:
    """Length of the longest prefix of ``token`` that ``pattern`` fully matches."""
    for size in range(len(token), -1, -1):
        if pattern.fullmatch(token, 0, size):
            return size
    return 0


def _string_end(text: str, i: int) -> int | tuple[int]:
    """Scan the string whose opening quote is at ``i``.

    Returns the index after the closing quote, ``len(text)`` when the text ends
    inside the string, or ``(offset,)`` for the first invalid character.
    """
    n = len(text)
    i += 1
    while True:
        i = _skip(_STRING_RUN, text, i)
        if i == n:
            return n
        char = text[i]
        if char == '"':
            return i + 1
        if char != "\\":
            return (i,)  # a raw control character
        if i + 1 == n:
            return n
        escape = text[i + 1]
        if escape in '"\\/bfnrt':
            i += 2
        elif escape == "u":
            for k in range(i + 2, min(i + 6, n)):
                if text[k] not in _HEX:
                    return (k,)
            if i + 6 > n:
                return n
            i += 6
        else:
            return (i + 1,)


def _scan_value(text: str, i: int) -> tuple[int | None, int | None]:
    """Scan one JSON value starting at or after ``i`` (leading whitespace allowed).

    Returns ``(error, end)``: ``error`` is the offset of the first character that
    no JSON document could have there, else None; ``end`` is the index just
    after the complete value, or None when the text ends first.
    """
    n = len(text)
    stack: list[str] = []
    expect = "value"  # value | value_or_close | key | key_or_close | colon | comma_or_close
    while True:
        i = _skip(_WS, text, i)
        if i == n:
            return None, None
        char = text[i]
        if expect == "colon":
            if char != ":":
                return i, None
            expect, i = "value", i + 1
            continue
        if expect in ("key", "key_or_close") and char != '"':
            if char == "}" and expect == "key_or_close":
                stack.pop()
                i += 1
            else:
                return i, None
        elif expect == "comma_or_close":
            if char == ",":
                expect = "key" if stack[-1] == "{" else "value"
                i += 1
                continue
            if char != ("}" if stack[-1] == "{" else "]"):
                return i, None
            stack.pop()
            i += 1
        elif char in "{[":
            stack.append(char)
            expect = "key_or_close" if char == "{" else "value_or_close"
            i += 1
            continue
        elif char == "]" and expect == "value_or_close":
            stack.pop()
            i += 1
        elif char == '"':
            end = _string_end(text, i)
            if isinstance(end, tuple):
                return end[0], None
            if end == n:
                return None, None
            i = end
            if expect in ("key", "key_or_close"):
                expect = "colon"
                continue
        elif char in "-0123456789":
            token = text[i : _skip(_NUMBER_CHARS, text, i)]
            if i + len(token) == n and _NUMBER_PREFIX.fullmatch(token):
                return None, None
            if not _NUMBER.fullmatch(token):
                return i + _longest_viable(token, _NUMBER_PREFIX), None
            i += len(token)
        elif char in _LITERALS:
            word = _LITERALS[char]
            for k, expected in enumerate(word):
                if i + k == n:
                    return None, None
                if text[i + k] != expected:
                    return i + k, None
            i += len(word)
        else:
            return i, None
        if not stack:
            return None, i
        expect = "comma_or_close"


def _analyze(text: str, allow_fences: bool) -> tuple[int | None, int, int]:
    """Return ``(error, body_start, body_end)`` for an answer (or a prefix of one).

    ``error`` is the offset of the first character that makes ``text`` no
    prefix of an acceptable answer (None if it still is one); ``body_start`` and
    ``body_end`` delimit the JSON text inside an optional fence.
    """
    n = len(text)
    start = _skip(_WS, text, 0)
    fenced = False
    if allow_fences and text.startswith("`", start):
        opening = _FENCE_OPEN.match(text, start)
        if opening is None:
            line_end = text.find("\n", start)
            rest = text[start : n if line_end < 0 else line_end + 1]
            viable = _longest_viable(rest, _FENCE_OPEN_PREFIX)
            return (None if viable == n - start else start + viable), n, n
        start, fenced = opening.end(), True
    error, end = _scan_value(text, start)
    if error is not None or end is None:
        return error, start, n
    after = _skip(_WS, text, end)
    if after == n:
        return None, start, n
    if not fenced:
        return after, start, n
    ticks = len(text) - len(text[after:].lstrip("`")) - after
    if after + ticks == n and ticks <= 3:
        return None, start, after
    if ticks != 3:
        return after + min(ticks, 3), start, after
    trailing = _skip(_WS, text, after + 3)
    return (None if trailing == n else trailing), start, after


def first_invalid_offset(text: str, *, allow_fences: bool = True) -> int | None:
    """Offset of the first character that stops ``text`` being a prefix of a JSON answer.

    None means some continuation of ``text`` is a valid answer: a JSON
    document, optionally (``allow_fences``) inside a ```` ```json ```` fence,
    with any whitespace around it.
    """
    return _analyze(text, allow_fences)[0]


def _resolve_model(model: str | type[BaseModel], name: str) -> type[BaseModel]:
    if isinstance(model, str):
        module_name, _, attribute = model.partition(":")
        if not module_name or not attribute:
            raise ConfigError(
                f"json detector {name!r}: option 'model' must be a pydantic model class or "
                f"an import path 'package.module:ClassName', got {model!r}"
            )
        try:
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"json detector {name!r}: option 'model' cannot be imported: {model!r} ({exc})"
            ) from exc
        model = target
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(
            f"json detector {name!r}: option 'model' is not a pydantic BaseModel subclass: "
            f"{model!r}"
        )
    return model


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


class JsonSchemaDetector:
    """Require the answer to be JSON (optionally fenced) that validates against ``model``.

    ``model`` is a pydantic model class or its import path
    ``"package.module:ClassName"``; without one only the JSON syntax is checked. Findings: ``"invalid_json"`` at the first
    offending character while streaming, or over the whole answer when the final
    text does not parse; ``"schema_mismatch"`` over the whole answer, its message
    listing pydantic's error locations and messages (``data["errors"]`` has them
    all). Segments of every kind are checked, code blocks included.
    """

    cpu_bound: bool = False

    def __init__(
        self,
        *,
        name: str = "json",
        model: str | type[BaseModel] | None = None,
        allow_fences: bool = True,
    ) -> None:
        self.name = name
        self.model: type[BaseModel] | None = None if model is None else _resolve_model(model, name)
        self.allow_fences = allow_fences

    def check(self, segment: Segment, ctx: CheckContext) -> list[Finding]:
        """Check the answer so far (``ctx.prefix + segment.text``)."""
        if not ctx.final and (segment.kind == "blank" or not segment.text.strip()):
            return []
        answer = ctx.prefix + segment.text
        base = segment.end - len(answer)
        whole = (base, segment.end)
        error, body_start, body_end = _analyze(answer, self.allow_fences)
        if error is not None:
            found = answer[error]
            return [
                self._finding(
                    "invalid_json",
                    (base + error, base + error + 1),
                    f"not valid JSON: unexpected {found!r} at offset {error}",
                    {"offset": error},
                )
            ]
        if not ctx.final:
            return []
        if not answer.strip():
            return [self._finding("invalid_json", whole, "empty answer: expected a JSON document")]
        body = answer[body_start:body_end]
        try:
            json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            where = body_start + exc.pos if isinstance(exc, json.JSONDecodeError) else body_start
            return [
                self._finding("invalid_json", whole, f"not valid JSON: {exc}", {"offset": where})
            ]
        if self.model is None:  # syntax only
            return []
        try:
            self.model.model_validate_json(body)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(part) for part in e["loc"]) or "<root>", "msg": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
            listed = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:_MAX_ERRORS])
            more = f" (+{len(errors) - _MAX_ERRORS} more)" if len(errors) > _MAX_ERRORS else ""
            return [
                self._finding(
                    "schema_mismatch",
                    whole,
                    f"JSON does not match {self.model.__name__}: {listed}{more}",
                    {"errors": errors},
                )
            ]
        return []

    def _finding(
        self, label: str, span: tuple[int, int], message: str, data: dict[str, Any] | None = None
    ) -> Finding:
        return Finding(detector=self.name, label=label, span=span, message=message, data=data or {})
