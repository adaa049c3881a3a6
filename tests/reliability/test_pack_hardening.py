"""Hostile or broken pack files: a clear ``ConfigError`` at load, fast, never a hang.

Regular expressions that can backtrack catastrophically, YAML alias bombs,
recursive aliases, absurd nesting, huge files, files in the wrong encoding; the
strict built-in packs fail closed; a rule naming a detector the pack no longer
declares is a load error, not a silently skipped rule.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from detectors.regex import RegexDetector
from guardrails.errors import ConfigError
from guardrails.guard import Guard
from policies import Correct, Policy, Rule, When
from policies._yaml import MAX_PACK_BYTES
from policies.loader import PACKS_DIR, builtin_packs, load_file, load_pack

CATASTROPHIC = [
    r"(a+)+$",
    r"(a*)*b",
    r"^(\w+\s?)+$",
    r"(.*a){20}",
    r"(a|aa)+$",
    r"(x+x+)+y",
    r"(ab|ab)+x",
    r"(a|a?)+x",
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
    r"(?i)(A+a)+$",
    r"(?=(a+)+b)",
]

SAFE = [
    r"\bJIRA-\d+\b",
    r"(?:[a-z0-9-]+\.)+[a-z]{2,}",
    r"(\w+\s)+",
    r"(?:\d{3}-)+\d{4}",
    r"(?:cat|dog)+",
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
    r"\$\d+(?:,\d{3})*(?:\.\d{2})?",
    r"(?>a+)+b",
    r"a++b",
    r"(?:https?|ftp)://\S+",
    r"x*",
]


def _pack(tmp_path: Path, text: str | bytes, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def _regex_pack(tmp_path: Path, pattern: str) -> Path:
    quoted = pattern.replace("'", "''")
    return _pack(
        tmp_path,
        "name: r\ndetectors:\n  words:\n    type: regex\n"
        f"    patterns:\n      evil: '{quoted}'\n"
        "rules:\n  - when: {detector: words}\n    action: cut\n",
    )


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_pattern_is_a_clear_load_error(tmp_path: Path, pattern: str) -> None:
    path = _regex_pack(tmp_path, pattern)
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Guard.from_yaml(path)
    assert time.monotonic() - start < 1.0
    message = str(info.value)
    assert f"{path}:3:3" in message  # the detector entry
    assert "'evil'" in message and repr(pattern) in message
    assert "catastrophic backtracking" in message
    with pytest.raises(ConfigError, match="catastrophic backtracking"):
        RegexDetector(patterns={"evil": pattern})


def test_the_flags_count(tmp_path: Path) -> None:
    # IGNORECASE makes "A" and "a" the same character: (A+a)+ is (a+a)+
    RegexDetector(patterns={"ok": "(A+a)+$"})
    with pytest.raises(ConfigError, match="catastrophic"):
        RegexDetector(patterns={"evil": "(A+a)+$"}, flags=["IGNORECASE"])


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_still_load(tmp_path: Path, pattern: str) -> None:
    guard = Guard.from_yaml(_regex_pack(tmp_path, pattern))
    start = time.monotonic()
    guard.validate("a" * 5_000 + "!" + " word" * 1_000 + ".")
    assert time.monotonic() - start < 2.0


# ------------------------------------------------------------------------ YAML


def _laughs(levels: int, width: int = 9) -> str:
    text = "name: x\nrules:\n  - &l0 [" + ", ".join(["lol"] * width) + "]\n"
    for i in range(1, levels):
        text += f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]\n"
    return text + f"  - *l{levels - 1}\n"


HOSTILE_YAML: dict[str, tuple[str | bytes, str]] = {
    "billion laughs": (_laughs(10), "billion laughs"),
    "forty doublings": (_laughs(40, width=2), "billion laughs"),
    "recursive alias": ("name: x\nrules: &r [*r]\n", "recursive"),
    "deep nesting": (
        "name: x\ndescription: " + "[" * 50_000 + "]" * 50_000 + "\n",
        "nested too deeply",
    ),
    "huge file": (b"name: x\ndescription: " + b"a" * (MAX_PACK_BYTES + 10) + b"\n", "1 MiB"),
    "UTF-16 with BOM": ("name: x\nrules: []\n".encode("utf-16"), "UTF-16"),
    "UTF-16 without BOM": ("name: x\nrules: []\n".encode("utf-16-le"), "NUL byte"),
    "UTF-16 BE": (b"\xfe\xff" + "name: x\n".encode("utf-16-be"), "UTF-16"),
    "UTF-32": ("name: x\n".encode("utf-32"), "UTF-32"),
    "Latin-1": ("name: café\nrules: []\n".encode("latin-1"), "not UTF-8"),
    "Windows-1252 quotes": (
        "name: x\ndescription: \u201cquoted\u201d\n".encode("cp1252"),
        "not UTF-8",
    ),
    "control character": ("name: x\ndescription: bell\x07\n", "unacceptable character"),
    "binary": (bytes(range(256)) * 4, "NUL byte"),
}


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_yaml_is_a_clear_config_error(tmp_path: Path, case: str) -> None:
    content, fragment = HOSTILE_YAML[case]
    path = _pack(tmp_path, content)
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert time.monotonic() - start < 3.0
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


def test_a_utf8_bom_and_windows_newlines_are_fine(tmp_path: Path) -> None:
    path = _pack(tmp_path, "\ufeffname: x\r\nrules: []\r\n".encode())
    assert load_file(path).name == "x"


def test_aliases_within_the_limit_still_work(tmp_path: Path) -> None:
    path = _pack(
        tmp_path,
        "name: x\ndetectors:\n  a: &pii {type: pii}\n  b: *pii\n"
        "rules:\n  - {when: {detector: a}, action: redact}\n  - {when: {detector: b}, action: redact}\n",
    )
    assert set(load_file(path).detectors) == {"a", "b"}


# ------------------------------------------------------------ strict packs


STRICT = ["rag-strict", "support-bot", "pii-redact", "json-output"]


@pytest.mark.parametrize("name", STRICT)
def test_strict_packs_fail_closed(name: str) -> None:
    spec = load_pack(name)
    assert spec.on_error == "fail_closed"
    assert "on_error: fail_closed" in (PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert spec.stream.mode == "hold"  # and nothing unchecked is shown


def test_only_the_lenient_packs_fail_open() -> None:
    lenient = {name for name in builtin_packs() if load_pack(name).on_error == "fail_open"}
    assert lenient == {"audit", "rag-balanced"}


def _used_detectors(pack: dict[str, object]) -> list[str]:
    rules = pack.get("rules") or []
    return [r["when"]["detector"] for r in rules if isinstance(r, dict) and "when" in r]  # type: ignore[index]


def _own_used(name: str) -> list[str]:
    """Detectors the pack declares itself and its own rules use."""
    data = yaml.safe_load((PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    return [d for d in _used_detectors(data) if d in (data.get("detectors") or {})]


@pytest.mark.parametrize("name", [n for n in builtin_packs() if _own_used(n)])
def test_removing_a_detector_a_rule_uses_is_a_load_error(tmp_path: Path, name: str) -> None:
    data = yaml.safe_load((PACKS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    removed = _own_used(name)[0]
    del data["detectors"][removed]
    if data.get("extends"):  # keep the parents reachable from the copy's directory
        data["extends"] = [str(PACKS_DIR / f"{p}.yaml") for p in data["extends"]]
    path = _pack(tmp_path, yaml.safe_dump(data, sort_keys=False), f"{name}.yaml")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert f"names detector {removed!r}, which no pack declares" in str(info.value)
    assert str(path) in str(info.value)


def test_a_rule_for_a_missing_detector_is_refused_in_python_too() -> None:
    with pytest.raises(ConfigError, match="names detector 'pii'"):
        Guard([], Policy([Rule(When("pii"), Correct("redact"))]))
