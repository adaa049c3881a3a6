"""YAML policy packs -> detectors, a :class:`~policies.rules.Policy` and stream settings.

A pack::

    name: support-bot
    version: 2
    description: Redact personal data; never name competitors.
    extends: [pii-redact, ./house-rules.yaml]   # built-in names or relative paths
    stream: {mode: hold, max_hold_chars: 4000, deadlines: {words: 50}}
    on_error: fail_closed
    detectors:
      words: {type: banned, phrases: [acme corp], fuzzy: false}
    rules:
      - name: no-competitors
        when: {detector: words}
        action: {type: regenerate, max_attempts: 2, else: cut}
      - when: {detector: pii, label: [email, phone], scope: response, more_than: 2}
        action: block
    default: warn
    tests:
      - name: redacts a phone number
        input: ["Call 555-", "123-4567 today."]
        expect: {output: "Call [PHONE] today.", actions: [redact]}

``extends`` merges parents in order, the extending pack last (see
:meth:`PackSpec.merged_with`): scalar keys set later win, ``stream`` merges key
by key, ``detectors`` by name, rules of the extending pack come first, tests
are concatenated. A pack reached twice (a diamond) is merged once, where it is
first reached; a cycle is an error.

Everything is validated strictly, each file on its own first, and every error
is a :class:`~guardrails.errors.ConfigError` whose ``where`` is
``"<file>:<line>:<col>: <dotted.key>"``; its message names the bad value and
what was expected (with a "did you mean" when a known name is close).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticOmit

from guardrails.errors import ConfigError
from policies._yaml import Document, KeyPath, read_yaml, suggest, validation_error
from policies.schema import Expect, GoldenCase, PackSpec, StreamSpec

__all__ = [
    "PACKS_DIR",
    "Expect",
    "GoldenCase",
    "PackSpec",
    "StreamSpec",
    "builtin_packs",
    "load_file",
    "load_pack",
    "pack_json_schema",
    "parse_pack",
]

PACKS_DIR = Path(__file__).parent / "packs"
"""Where the built-in packs live, one ``<name>.yaml`` each."""

_Chain = tuple[tuple[Path, str], ...]


def builtin_packs() -> list[str]:
    """Names of the packs shipped with the library."""
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def load_pack(name: str) -> PackSpec:
    """A built-in pack by name, merged with what it extends."""
    known = builtin_packs()
    if name not in known:
        raise ConfigError(
            f"unknown pack {name!r}{suggest(name, known)} (built-in packs: {', '.join(known)})"
        )
    return load_file(PACKS_DIR / f"{name}.yaml")


def load_file(path: str | Path) -> PackSpec:
    """Read, validate and merge a pack file with the packs it ``extends``."""
    path = Path(path)
    return _resolve(read_yaml(path), path.parent, path.resolve())


def parse_pack(data: object, source: str, *, base_dir: Path | None = None) -> PackSpec:
    """Validate an already decoded pack; errors name ``source`` and the dotted key.

    Relative ``extends`` paths resolve against ``base_dir`` (default: the
    current directory).
    """
    return _resolve(Document(source, data), base_dir or Path.cwd(), None)


def pack_json_schema() -> dict[str, object]:
    """JSON Schema of a pack file, for editors (YAML language servers read it too)."""
    schema = _prune(PackSpec.model_json_schema(by_alias=True, schema_generator=_EditorSchema))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "groundrail policy pack",
    }


def _prune(node: Any) -> Any:
    """Drop the match-anything ``{}`` a Python-only union member leaves in ``anyOf``."""
    if isinstance(node, dict):
        return {
            k: [_prune(c) for c in v if c != {}] if k == "anyOf" else _prune(v)
            for k, v in node.items()
        }
    return [_prune(item) for item in node] if isinstance(node, list) else node


class _EditorSchema(GenerateJsonSchema):
    """Leaves out what JSON cannot express (a Python class as a detector option)."""

    def handle_invalid_for_json_schema(
        self, schema: CoreSchema, error_info: str
    ) -> JsonSchemaValue:
        raise PydanticOmit


# ----------------------------------------------------------------- resolving


def _resolve(doc: Document, base_dir: Path, real: Path | None) -> PackSpec:
    """Validate ``doc``, collect what it extends, merge, then check references."""
    order: list[PackSpec] = []
    chain: _Chain = ((real, doc.source),) if real else ()
    _collect(doc, base_dir, chain, {real} if real else set(), order)
    merged = reduce(PackSpec.merged_with, order)
    merged.check_references()
    return merged


def _collect(
    doc: Document, base_dir: Path, chain: _Chain, seen: set[Path], order: list[PackSpec]
) -> None:
    """Append ``doc``'s ancestors, then ``doc``'s own pack, to ``order`` (each once)."""
    spec = _validate(doc)
    data = doc.data if isinstance(doc.data, Mapping) else {}
    for i, ref in enumerate(spec.extends):
        key: KeyPath = ("extends", i) if isinstance(data.get("extends"), list) else ("extends",)
        where = doc.where(key)
        target = _parent(ref, base_dir, where)
        real = target.resolve()
        if real in (p for p, _ in chain):
            start = next(n for n, (p, _) in enumerate(chain) if p == real)
            names = [name for _, name in chain[start:]] + [str(target)]
            raise ConfigError("extends cycle: " + " -> ".join(names), where=where)
        if real in seen:  # a diamond: already merged where first reached
            continue
        seen.add(real)
        parent = read_yaml(target)
        _collect(parent, target.parent, (*chain, (real, parent.source)), seen, order)
    order.append(spec)


def _parent(ref: str, base_dir: Path, where: str) -> Path:
    """The file ``extends: ref`` means: a built-in name, or a path (relative to ``base_dir``)."""
    if not any(c in ref for c in "/\\") and not ref.endswith((".yaml", ".yml")):
        known = builtin_packs()
        if ref not in known:
            raise ConfigError(
                f"unknown built-in pack {ref!r}{suggest(ref, known)} (built-in packs: "
                f"{', '.join(known)}; a file path must end in .yaml or .yml)",
                where=where,
            )
        return PACKS_DIR / f"{ref}.yaml"
    path = Path(ref).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ConfigError(f"no pack file {ref!r} (looked for {path})", where=where)
    return path


def _validate(doc: Document) -> PackSpec:
    """One file's pack, validated on its own so that errors name that file."""
    data = doc.data
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"{type(data).__name__} {repr(data)[:40]}"
        raise ConfigError(
            f"a pack must be a mapping of keys (name, detectors, rules, ...), got {got}",
            where=doc.where(()),
        )
    try:
        spec = PackSpec.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, doc, PackSpec) from None
    spec.locate(doc)
    return spec
