"""Policy packs as YAML: schema, actions, extends merging, golden cases, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import guardrails as gr
from policies import loader
from policies.actions import Action, Allow, Block, Correct, Cut, Raise, Regenerate, Warn
from policies.loader import (
    GoldenCase,
    builtin_packs,
    load_file,
    load_pack,
    pack_json_schema,
    parse_pack,
)
from policies.rules import When


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_pii_pack_builds_a_working_guard() -> None:
    assert "pii-redact" in builtin_packs()
    guard = gr.Guard.from_pack("pii-redact")
    assert guard.policy.on_error == "fail_closed"
    assert guard.validate("Call 555-123-4567 today.").text == "Call [PHONE] today."


def _load_error(name: str) -> str:
    try:
        load_pack(name).build()
    except (gr.ConfigError, gr.ModelError) as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("name", builtin_packs())
def test_every_builtin_pack_loads_or_says_what_it_is_waiting_for(name: str) -> None:
    error = _load_error(name)
    # the grounding packs need the shipped NLI model; without it they say so, naming the pack
    named = f"{name}.yaml" in error or "rag-balanced.yaml" in error  # support-bot extends it
    assert not error or ("is not installed" in error and named), error


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


def test_unknown_builtin_pack_lists_the_known_ones() -> None:
    with pytest.raises(gr.ConfigError, match="pii-redact") as info:
        load_pack("pii-redakt")
    assert "did you mean 'pii-redact'?" in str(info.value)


# --------------------------------------------------------------- actions


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("allow", Allow()),
        ("warn", Warn()),
        ("cut", Cut()),
        ("drop", Correct("drop")),
        ("redact", Correct("redact")),
        ("annotate", Correct("annotate")),
        ("fix_numbers", Correct("fix_numbers")),
        ("rewrite", Correct("rewrite")),
        ("block", Block()),
        ("raise", Raise()),
        ("regenerate", Regenerate()),
        ("{type: allow}", Allow()),
        ("{type: warn}", Warn()),
        ("{type: cut}", Cut()),
        ("{type: correct}", Correct("drop")),
        ("{type: correct, strategy: redact, mask: '#', mask_char: x}", Correct("redact", "#", "x")),
        ("{type: correct, strategy: annotate, marker: ' [?{passage}]'}",
         Correct("annotate", marker=" [?{passage}]")),
        ("{type: correct, strategy: fix_numbers, else: {type: correct, strategy: annotate}}",
         Correct("fix_numbers", otherwise=Correct("annotate"))),
        ("{type: correct, strategy: rewrite, else: cut}", Correct("rewrite", otherwise=Cut())),
        ("{type: block}", Block()),
        ("{type: block, message: No.}", Block("No.")),
        ("{type: raise, message: stop}", Raise("stop")),
        ("{type: regenerate}", Regenerate()),
        ("{type: regenerate, max_attempts: 0, fallbacks: [small, big], else: block,"
         " feedback: 'Fix {sentence}: {reasons} (try {attempt})'}",
         Regenerate(0, Block(), "Fix {sentence}: {reasons} (try {attempt})", ("small", "big"))),
        ("{type: regenerate, else: {type: correct, strategy: rewrite}}",
         Regenerate(otherwise=Correct("rewrite"))),
    ],
)  # fmt: skip
def test_every_action_form_builds_its_value(tmp_path: Path, written: str, value: Action) -> None:
    path = write(tmp_path, f"name: x\nrules:\n  - action: {written}\ndefault: {written}\n")
    _, policy, _ = load_file(path).build()
    assert policy.rules[0].action == value
    assert policy.default == value


def test_policy_level_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nversion: 3\non_error: fail_closed\nerror_action: {type: block, message: down}\n"
        "deadline_ms: 250\nstream: {deadline_ms: 900, stall_timeout_s: 5}\n",
    )
    spec = load_file(path)
    assert spec.version == "3"
    _, policy, stream = spec.build()
    assert policy.on_error == "fail_closed" and policy.error_action == Block("down")
    assert policy.default == Warn()
    assert stream.deadline_ms == 250  # the top-level key wins over stream.deadline_ms
    assert stream.stall_timeout_s == 5


def test_rules_thresholds_labels_and_scores(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: x
detectors:
  pii: {type: pii}
rules:
  - name: many-emails
    when: {detector: pii, label: email, scope: response, more_than: 2}
    action: block
    message: too many addresses
  - when: {label: [phone, iban], min_score: 0.5, max_score: 0.9, more_than: 1}
    action: warn
  - action: redact
""",
    )
    _, policy, _ = load_file(path).build()
    first, second, third = policy.rules
    assert first.when == When("pii", frozenset({"email"}), scope="response", more_than=2)
    assert (first.name, first.message, first.title) == ("many-emails", "too many addresses",
                                                        "many-emails")  # fmt: skip
    assert second.when == When(None, frozenset({"phone", "iban"}), 0.5, 0.9, "sentence", 1)
    assert third.when == When() and third.action == Correct("redact")


def test_threshold_rule_counts_across_the_response(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ndetectors:\n  pii: {type: pii, kinds: [email]}\nrules:\n"
        "  - when: {detector: pii, scope: response, more_than: 1}\n    action: cut\n"
        "  - when: {detector: pii}\n    action: redact\n",
    )
    guard = gr.Guard.from_yaml(path)
    result = guard.validate("Mail a@b.co. Or c@d.co. Then more.")
    assert result.text == "Mail [EMAIL]."


# ---------------------------------------------------------------- extends

BASE = """
name: base
description: the base
on_error: fail_closed
default: warn
stream: {mode: pass, max_hold_ms: 200, deadlines: {pii: 10, words: 20}}
detectors:
  pii: {type: pii}
  words: {type: banned, phrases: [alpha]}
rules:
  - {name: base-1, when: {detector: pii}, action: redact}
  - {name: base-2, when: {detector: words}, action: cut}
tests:
  - {name: base-test, input: hi, expect: {passed: true}}
"""

CHILD = """
name: child
extends: base.yaml
description: the child
stream: {max_hold_chars: 100, deadlines: {words: 30}}
detectors:
  pii: {type: pii, kinds: [email]}
  size: {type: length, max_chars: 500}
rules:
  - {name: child-1, when: {detector: size}, action: block}
tests:
  - {name: child-test, input: [h, i], expect: {output: hi}}
"""


def test_extends_merges_scalars_stream_detectors_rules_and_tests(tmp_path: Path) -> None:
    write(tmp_path, BASE, "base.yaml")
    spec = load_file(write(tmp_path, CHILD, "child.yaml"))
    assert (spec.name, spec.description) == ("child", "the child")
    assert (spec.on_error, spec.default) == ("fail_closed", "warn")  # only the base sets them
    stream = spec.stream
    assert (stream.mode, stream.max_hold_ms, stream.max_hold_chars) == ("pass", 200, 100)
    assert stream.deadlines == {"pii": 10, "words": 30}
    assert list(spec.detectors) == ["pii", "words", "size"]
    assert spec.detectors["pii"].options == {"kinds": ["email"]}  # replaced as a whole
    assert [r.name for r in spec.rules] == ["child-1", "base-1", "base-2"]
    assert [t.name for t in spec.tests] == ["base-test", "child-test"]
    detectors, policy, settings = spec.build()
    assert [d.name for d in detectors] == ["pii", "words", "size"]
    assert [r.name for r in policy.rules] == ["child-1", "base-1", "base-2"]
    assert settings.mode == "pass"


def test_three_levels_and_two_parents(tmp_path: Path) -> None:
    write(tmp_path, "name: a\ndefault: allow\nstream: {mode: pass}\nrules: [{name: a, action: cut}]\n"
          "tests: [{name: a, input: x, expect: {passed: true}}]\n", "a.yaml")  # fmt: skip
    write(tmp_path, "name: b\nextends: a.yaml\ndefault: block\nrules: [{name: b, action: cut}]\n"
          "tests: [{name: b, input: x, expect: {passed: true}}]\n", "b.yaml")  # fmt: skip
    write(tmp_path, "name: c\nextends: b.yaml\nrules: [{name: c, action: cut}]\n"
          "tests: [{name: c, input: x, expect: {passed: true}}]\n", "c.yaml")  # fmt: skip
    c = load_file(tmp_path / "c.yaml")
    assert [r.name for r in c.rules] == ["c", "b", "a"]
    assert [t.name for t in c.tests] == ["a", "b", "c"]
    assert (c.default, c.stream.mode) == ("block", "pass")
    # two parents: the later one wins over the earlier, the extending pack over both
    write(tmp_path, "name: d\ndefault: raise\nrules: [{name: d, action: cut}]\n", "d.yaml")
    e = load_file(write(tmp_path, "name: e\nextends: [c.yaml, d.yaml]\n", "e.yaml"))
    assert [r.name for r in e.rules] == ["d", "c", "b", "a"]
    assert e.default == "raise" and e.extends == ["c.yaml", "d.yaml"]
    f = load_file(write(tmp_path, "name: f\nextends: [d.yaml, c.yaml]\ndefault: warn\n", "f.yaml"))
    assert [r.name for r in f.rules] == ["c", "b", "a", "d"]
    assert f.default == "warn"


def test_a_pack_reached_twice_is_merged_once(tmp_path: Path) -> None:
    write(tmp_path, "name: base\nrules: [{name: base, action: cut}]\n", "base.yaml")
    write(tmp_path, "name: a\nextends: base.yaml\nrules: [{name: a, action: cut}]\n", "a.yaml")
    write(tmp_path, "name: b\nextends: base.yaml\nrules: [{name: b, action: cut}]\n", "b.yaml")
    spec = load_file(write(tmp_path, "name: c\nextends: [a.yaml, b.yaml]\n", "c.yaml"))
    assert [r.name for r in spec.rules] == ["b", "a", "base"]


def test_relative_extends_resolve_against_the_extending_file(tmp_path: Path) -> None:
    write(tmp_path, "name: common\ndetectors: {pii: {type: pii}}\n", "shared/common.yaml")
    write(tmp_path, "name: base\nextends: common.yaml\nrules: [{when: {detector: pii}, action: "
          "redact}]\n", "shared/base.yaml")  # fmt: skip
    child = write(tmp_path, "name: child\nextends: ../shared/base.yaml\n", "packs/child.yaml")
    spec = load_file(child)
    assert list(spec.detectors) == ["pii"] and len(spec.rules) == 1
    assert load_file(str(child)).name == "child"  # a str path works too


def test_extending_a_builtin_pack_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: mine\nextends: pii-redact\non_error: fail_open\nrules:\n"
        "  - {when: {detector: pii, label: email}, action: {type: block, message: No mail.}}\n",
    )
    guard = gr.Guard.from_yaml(path)
    assert guard.policy.on_error == "fail_open"
    assert guard.validate("Call 555-123-4567 today.").text == "Call [PHONE] today."
    assert guard.validate("Write to a@b.co.").text == "No mail."


def test_a_builtin_pack_may_extend_another_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PACKS_DIR", tmp_path)
    write(tmp_path, "name: base\ndetectors: {pii: {type: pii}}\n", "base.yaml")
    write(tmp_path, "name: top\nextends: base\nrules: [{when: {detector: pii}, action: drop}]\n",
          "top.yaml")  # fmt: skip
    assert builtin_packs() == ["base", "top"]
    spec = load_pack("top")
    assert list(spec.detectors) == ["pii"] and spec.rules[0].action == "drop"


def test_parse_pack_resolves_relative_extends_against_base_dir(tmp_path: Path) -> None:
    write(tmp_path, "name: base\ndefault: cut\n", "base.yaml")
    spec = parse_pack({"name": "x", "extends": "base.yaml"}, "inline", base_dir=tmp_path)
    assert spec.default == "cut"


def test_yaml_anchors_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ndetectors:\n  a: &pii {type: pii, kinds: [email]}\n  b:\n    <<: *pii\n"
        "    kinds: [phone]\n",
    )
    spec = load_file(path)
    assert spec.detectors["b"].options == {"kinds": ["phone"]}


# ------------------------------------------------------------ golden cases


def test_golden_cases_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: x
tests:
  - name: whole answer
    input: "Mail a@b.co."
    expect: {output: "Mail [EMAIL].", passed: true, labels: [email], actions: [redact]}
  - name: deltas, context and replies
    input: ["The tower ", "is 300 m."]
    context: [first passage, second passage]
    responses: ["The tower is 330 m."]
    expect:
      contains: ["330"]
      not_contains: ["300"]
      actions: [regenerate, dedupe]
  - name: context as one string
    input: hi
    context: one passage
    expect: {passed: false}
""",
    )
    first, second, third = load_file(path).tests
    assert isinstance(first, GoldenCase)
    assert (first.input, first.context, first.responses) == ("Mail a@b.co.", None, [])
    assert first.expect.labels == ["email"] and first.expect.actions == ["redact"]
    assert first.expect.contains is None and first.expect.output == "Mail [EMAIL]."
    assert second.input == ["The tower ", "is 300 m."]
    assert second.context == ["first passage", "second passage"]
    assert second.responses == ["The tower is 330 m."]
    assert second.expect.not_contains == ["300"] and second.expect.passed is None
    assert third.context == "one passage" and third.expect.passed is False
    assert first.where == f"{path}:4:5: tests.0"


# ------------------------------------------------------------- JSON Schema


def test_json_schema_for_editors() -> None:
    schema = pack_json_schema()
    text = json.dumps(schema)  # plain JSON
    props = schema["properties"]
    assert isinstance(props, dict)
    for key in ("extends", "rules", "detectors", "stream", "tests", "default", "on_error"):
        assert key in props
    assert schema["additionalProperties"] is False and schema["required"] == ["name"]
    for kind in ("allow", "warn", "cut", "correct", "block", "raise", "regenerate", "fix_numbers"):
        assert f'"{kind}"' in text
    for definition in ("CorrectSpec", "RegenerateSpec", "PIIDetectorSpec", "GoldenCase"):
        assert definition in text
    assert '"kinds"' in text and '"phrases"' in text  # each detector type's options
