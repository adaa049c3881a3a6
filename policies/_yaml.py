"""Reading YAML while remembering where every key and value sits in the file.

:func:`read_yaml` composes the document with PyYAML's safe loader, records the
start mark of each mapping key and of each value node under its *path* (the
tuple of keys and list indices that leads to it), rejects duplicate keys (YAML
would silently keep the last one) and only then builds the Python data. A
:class:`Document` turns a path back into ``"<file>:<line>:<col>: <dotted.key>"``
for error messages; when the path itself was never written (a missing key) the
nearest enclosing one that was gives the position. :func:`validation_error`
turns a pydantic ``ValidationError`` into a :class:`ConfigError` that names the
file, line, column, dotted key, the bad value and what was expected.

Hostile files fail fast with a :class:`ConfigError`, never a hang: more than
:data:`MAX_PACK_BYTES`, UTF-16/UTF-32 or other non-UTF-8 bytes, aliases that
expand past :data:`MAX_NODES` nodes ("billion laughs"), an alias inside itself,
or nesting too deep to parse.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails
from rapidfuzz import fuzz, process, utils
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from guardrails.errors import ConfigError

__all__ = [
    "MAX_NODES",
    "MAX_PACK_BYTES",
    "Document",
    "KeyPath",
    "Mark",
    "dotted",
    "parse_yaml",
    "read_yaml",
    "suggest",
    "validation_error",
]

KeyPath = tuple[str | int, ...]
"""Keys and list indices from the top of a document down to one node."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_PACK_BYTES = 1 << 20
"""The largest pack file read (1 MiB): a pack is configuration, not data."""

MAX_NODES = 1_000_000
"""The most nodes a document may hold with its aliases expanded. No file under
:data:`MAX_PACK_BYTES` comes near it without aliases; a billion-laughs file does."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16: it starts with the UTF-16 LE mark
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column in a file."""

    line: int
    column: int


def suggest(word: object, choices: Any) -> str:
    """``"; did you mean 'x'?"`` when one of ``choices`` is close to ``word``, else ``""``."""
    if not isinstance(word, str) or not word:
        return ""
    best = process.extractOne(
        word, list(choices), scorer=fuzz.ratio, processor=utils.default_process, score_cutoff=70
    )
    return f"; did you mean {best[0]!r}?" if best else ""


def dotted(path: KeyPath) -> str:
    """``("rules", 1, "action")`` -> ``"rules.1.action"``; the empty path is ``"(top level)"``."""
    return ".".join(str(p) for p in path) if path else "(top level)"


@dataclass(frozen=True)
class Document:
    """Decoded data plus the positions of its keys and values, by path.

    A document made from data that never was a file (``keys``/``values`` empty)
    still names ``source`` and the dotted key, just without line and column.
    """

    source: str
    data: object
    keys: Mapping[KeyPath, Mark] = field(default_factory=dict)
    values: Mapping[KeyPath, Mark] = field(default_factory=dict)

    def mark(self, path: KeyPath, *, key: bool = False) -> Mark | None:
        """Where ``path`` (its key when ``key``, else its value) or its nearest ancestor starts."""
        for n in range(len(path), -1, -1):
            sub = path[:n]
            first, second = (self.keys, self.values) if key else (self.values, self.keys)
            found = first.get(sub) or second.get(sub)
            if found is not None:
                return found
        return None

    def where(self, path: KeyPath, *, key: bool = False) -> str:
        """``"<source>:<line>:<col>: <dotted.key>"`` for a ConfigError's ``where``."""
        mark = self.mark(path, key=key)
        at = f"{self.source}:{mark.line}:{mark.column}" if mark else self.source
        return f"{at}: {dotted(path)}"


def read_yaml(path: Path, source: str | None = None) -> Document:
    """Read one YAML document from ``path``, recording positions.

    Raises :class:`ConfigError` (naming ``source``, default ``str(path)``, with
    line and column where known) for a file that cannot be read, is not UTF-8,
    is not valid YAML, holds several documents, or repeats a key in a mapping.
    """
    name = source if source is not None else str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PACK_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read pack file: {exc.strerror or exc}", where=name) from None
    if len(raw) > MAX_PACK_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_PACK_BYTES / 2**20:g} MiB, the limit for a pack "
            "(a pack is configuration: keep large data out of it)",
            where=name,
        )
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            raise ConfigError(
                f"the file is {encoding} text (it starts with a {encoding} byte-order mark); "
                "save the pack as UTF-8",
                where=f"{name}:1:1",
            )
    if (nul := raw.find(b"\0")) >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        column = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise ConfigError(
            "the file holds a NUL byte: it is UTF-16 or UTF-32 text without a byte-order "
            "mark, or not text at all; save the pack as UTF-8",
            where=f"{name}:{line}:{column}",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"the file is not UTF-8 text: byte {raw[exc.start]:#04x} cannot be decoded "
            "(save the pack as UTF-8)",
            where=f"{name}:{line}:{column}",
        ) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, source: str) -> Document:
    """Like :func:`read_yaml` for text already in memory."""
    if len(text) > MAX_PACK_BYTES:
        raise ConfigError(
            f"the text is longer than {MAX_PACK_BYTES} characters, the limit for a pack",
            where=source,
        )
    keys: dict[KeyPath, Mark] = {}
    values: dict[KeyPath, Mark] = {}
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # reading starts here: bad characters raise here
        node = loader.get_single_node()
        if node is None:
            return Document(source, None, values={(): Mark(1, 1)})
        values[()] = _mark(node)
        _Size(source).count(node)  # before anything walks the aliases' expansion
        _Walker(loader, source, keys, values).walk(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", where=source) from None
    except RecursionError:
        raise ConfigError("the document is nested too deeply to read", where=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    return Document(source, data, keys, values)


@dataclass
class _Size:
    """Counts a document's nodes with every alias expanded, each distinct node once."""

    source: str
    memo: dict[int, int] = field(default_factory=dict)

    def count(self, node: Node) -> int:
        known = self.memo.get(id(node))
        if known is not None:
            if known < 0:
                at = _mark(node)
                raise ConfigError(
                    "an alias refers to a node that contains it (a recursive structure)",
                    where=f"{self.source}:{at.line}:{at.column}",
                )
            return known
        self.memo[id(node)] = -1  # in progress: meeting it again is a cycle
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += self.count(child)
            if total > MAX_NODES:
                raise ConfigError(
                    f"the document expands to more than {MAX_NODES:,} nodes through its "
                    "aliases (a 'billion laughs' file); a pack is never that big",
                    where=self.source,
                )
        self.memo[id(node)] = total
        return total


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    problem = exc.problem or "malformed document"
    context = ""
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        context = f" ({exc.context} at line {exc.context_mark.line + 1})"
    return ConfigError(f"invalid YAML: {problem}{context}", where=where)


@dataclass
class _Walker:
    """Records marks and rejects duplicate keys, before the data is built."""

    loader: yaml.SafeLoader
    source: str
    keys: dict[KeyPath, Mark]
    values: dict[KeyPath, Mark]
    visited: set[int] = field(default_factory=set)

    def walk(self, node: Node, path: KeyPath, *, merged: bool = False) -> None:
        # An alias repeats a node already walked: errors inside it point at the alias
        # (its nearest recorded ancestor), and alias bombs or cycles cost nothing.
        if id(node) in self.visited:
            return
        self.visited.add(id(node))
        if isinstance(node, MappingNode):
            self._mapping(node, path, merged=merged)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self._record(self.values, (*path, i), item, merged=merged)
                self.walk(item, (*path, i), merged=merged)

    def _mapping(self, node: MappingNode, path: KeyPath, *, merged: bool) -> None:
        seen: dict[object, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # ``<<: *base``: its keys may be overridden here
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for src in sources:
                    self.walk(src, path, merged=True)
                continue
            if not isinstance(key_node, ScalarNode):
                continue  # the constructor rejects unhashable keys with its own mark
            key = self.loader.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue
            sub = (*path, key if isinstance(key, (str, int)) else str(key))
            if first is not None:
                at = _mark(key_node)
                raise ConfigError(
                    f"duplicate key {key!r} (first at line {first.line}, column "
                    f"{first.column}); YAML would silently keep only the last one",
                    where=f"{self.source}:{at.line}:{at.column}: {dotted(sub)}",
                )
            seen[key] = _mark(key_node)
            self._record(self.keys, sub, key_node, merged=merged)
            self._record(self.values, sub, value_node, merged=merged)
            self.walk(value_node, sub, merged=merged)

    @staticmethod
    def _record(table: dict[KeyPath, Mark], path: KeyPath, node: Node, *, merged: bool) -> None:
        if merged:
            table.setdefault(path, _mark(node))
        else:
            table[path] = _mark(node)


# ------------------------------------------------------ validation errors


def validation_error(exc: ValidationError, doc: Document, root: type[BaseModel]) -> ConfigError:
    """One ConfigError for all of ``exc``'s problems, the first in the file leading.

    ``root`` is the model ``doc.data`` was validated against: it tells union
    tags in pydantic's ``loc`` from keys, and which keys a place allows.
    """
    problems = sorted((_problem(err, doc, root) for err in exc.errors()), key=lambda p: p[0])
    (_, where, message), *rest = problems
    for _, also_where, also in rest[:5]:
        message += f"\n  also {also_where}: {also}"
    if len(rest) > 5:
        message += f"\n  ... and {len(rest) - 5} more"
    return ConfigError(message, where=where)


def _problem(err: ErrorDetails, doc: Document, root: type[BaseModel]) -> tuple[Any, str, str]:
    path, allowed = _resolve(root, err["loc"])
    kind, on_key = err["type"], err["type"] == "extra_forbidden"
    if on_key:
        key = path[-1]
        message = f"unknown key {key!r}{suggest(key, allowed)} (allowed here: {', '.join(allowed)})"
    elif kind == "missing":
        message = f"missing required key {path[-1]!r}"
    else:
        message = _message(err)
    mark = doc.mark(path, key=on_key)
    order = (mark.line, mark.column) if mark else (0, 0)
    return order, doc.where(path, key=on_key), message


def _message(err: ErrorDetails) -> str:
    kind, message, value = err["type"], err["msg"], err.get("input")
    ctx = err.get("ctx") or {}
    hint = ""
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        message = str(ctx["error"])
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = "expected a mapping"
    elif kind in ("list_type", "tuple_type"):
        message = "expected a list"
    elif kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message, hint = "expected one of: " + ", ".join(choices), suggest(value, choices)
    else:
        message = message[:1].lower() + message[1:]
    shown = repr(value)
    if kind == "value_error" and shown in message:  # our own message already quotes it
        return message + hint
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"got {shown}; {message}{hint}"


def _strip(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``; ``X | None`` -> ``X``."""
    while True:
        args = get_args(tp)
        if get_origin(tp) is Annotated:
            tp = args[0]
        elif get_origin(tp) in (Union, UnionType) and NoneType in args and len(args) == 2:
            tp = args[0] if args[1] is NoneType else args[1]
        else:
            return tp


def _resolve(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[KeyPath, list[str]]:
    """pydantic's ``loc`` -> the data path (union labels dropped), and the keys allowed there."""
    tp: Any = root
    path: list[str | int] = []
    allowed: list[str] = []
    for part in loc:
        tp = _strip(tp)
        if get_origin(tp) in (Union, UnionType):  # ``part`` names a member, not a key
            tp = next(
                (
                    member
                    for member in get_args(tp)
                    if get_origin(member) is Annotated
                    and any(isinstance(m, Tag) and m.tag == part for m in member.__metadata__)
                ),
                Any,
            )
            continue
        path.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f.annotation for name, f in tp.model_fields.items()}
            allowed = list(fields)
            tp = fields.get(str(part), Any)
        elif get_origin(tp) in (dict, Mapping, list, tuple):
            tp = get_args(tp)[-1] if get_origin(tp) in (dict, Mapping) else get_args(tp)[0]
        else:
            tp = Any
    return tuple(path), allowed
