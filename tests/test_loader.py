"""Policy packs as YAML: the minimal loader (extended by the policies work)."""

from __future__ import annotations

from pathlib import Path

import pytest

import guardrails as gr
from policies.loader import builtin_packs, load_pack, parse_pack


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_pii_pack_builds_a_working_guard() -> None:
    assert "pii-redact" in builtin_packs()
    guard = gr.Guard.from_pack("pii-redact")
    assert guard.policy.on_error == "fail_closed"
    assert guard.validate("Call 555-123-4567 today.").text == "Call [PHONE] today."


def test_yaml_pack_with_settings_rules_and_actions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: mine
stream: {mode: pass, max_hold_ms: 200, deadline_ms: 500}
on_error: fail_closed
detectors:
  words: {type: banned, phrases: [secret plan], fuzzy: false}
  mail: {type: pii, kinds: [email]}
rules:
  - when: {detector: words}
    action: {type: regenerate, max_attempts: 2, else: {type: block, message: Nope.}}
  - when: {detector: mail, label: email}
    action: {type: correct, strategy: redact, mask: char}
""",
    )
    guard = gr.Guard.from_yaml(path)
    assert guard.settings.mode == "pass"
    assert guard.settings.max_hold_ms == 200
    assert guard.settings.deadline_ms == 500
    regen, redact = (r.action for r in guard.policy.rules)
    assert isinstance(regen, gr.Regenerate) and regen.max_attempts == 2
    assert regen.otherwise == gr.Block("Nope.")
    assert redact == gr.Correct("redact", mask="char")
    events = list(guard.events(["Mail a@b.co now."]))
    assert gr.Done in {type(e) for e in events}
    assert events[-1].result.text == "Mail ****** now."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nrulez: []\n", "rulez"),
        ("name: x\nstream: {mode: fast}\n", "stream.mode"),
        ("name: x\ndetectors:\n  p: {type: piii}\n", "did you mean 'pii'"),
        ("name: x\ndetectors:\n  p: {type: pii, kind: [email]}\n", "detectors.p.kind"),
        ("name: x\ndetectors:\n  p: {type: banned, phrases: 3}\n", "detectors.p.phrases"),
        ("name: x\nrules:\n  - when: {detector: ghost}\n    action: cut\n", "ghost"),
        ("name: x\nrules:\n  - action: explode\n", "unknown action 'explode'"),
        ("name: [unclosed\n", "invalid YAML"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_packs_are_config_errors_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(gr.ConfigError, match=message) as info:
        gr.Guard.from_yaml(path)
    assert str(path) in str(info.value)


def test_unknown_builtin_pack_lists_the_known_ones() -> None:
    with pytest.raises(gr.ConfigError, match="pii-redact"):
        load_pack("no-such-pack")


def test_parse_pack_rejects_non_mappings() -> None:
    with pytest.raises(gr.ConfigError, match="mapping"):
        parse_pack(["x"], "inline")
