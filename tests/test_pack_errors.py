"""Every pack error names the file, line, column and dotted key, the bad value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.errors import ConfigError
from policies.loader import load_file, parse_pack

# (pack text, line, column, dotted key, fragments the message must contain)
CASES = [
    pytest.param(
        "name: x\nrulez: []\n",
        2, 1, "rulez", ["unknown key 'rulez'", "did you mean 'rules'?", "allowed here"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        "name: x\nstream:\n  mode: hold\n  max_hold_char: 10\n",
        4, 3, "stream.max_hold_char", ["did you mean 'max_hold_chars'?"],
        id="unknown-stream-key",
    ),
    pytest.param(
        "name: x\nrules:\n  - when: {detector: d, lable: a}\n    action: cut\n",
        3, 25, "rules.0.when.lable", ["unknown key 'lable'", "did you mean 'label'?"],
        id="unknown-when-key",
    ),
    pytest.param(
        "name: x\nstream:\n  mode: pas\n",
        3, 9, "stream.mode", ["'pas'", "hold, pass", "did you mean 'pass'?"],
        id="bad-literal-value",
    ),
    pytest.param(
        "name: x\nstream: {max_hold_chars: -5}\n",
        2, 26, "stream.max_hold_chars", ["got -5", "greater than 0"],
        id="out-of-range",
    ),
    pytest.param(
        "name: x\nrules: {a: 1}\n",
        2, 8, "rules", ["got {'a': 1}", "expected a list"],
        id="wrong-container-type",
    ),
    pytest.param(
        "name: x\non_error: fail_opne\n",
        2, 11, "on_error", ["'fail_opne'", "did you mean 'fail_open'?"],
        id="bad-on-error",
    ),
    pytest.param(
        "rules: []\n", 1, 1, "name", ["missing required key 'name'"], id="missing-name"
    ),
    pytest.param(
        "name: x\nrules:\n  - when: {}\n",
        3, 5, "rules.0.action", ["missing required key 'action'"],
        id="missing-action",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: explode\n",
        3, 13, "rules.0.action", ["unknown action 'explode'", "redact", "'type'"],
        id="unknown-shorthand",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: redcat\n",
        3, 13, "rules.0.action", ["did you mean 'redact'?"],
        id="misspelt-shorthand",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: corect}\n",
        3, 20, "rules.0.action.type", ["'corect'", "did you mean 'correct'?"],
        id="unknown-action-type",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: redact}\n",
        3, 20, "rules.0.action.type", ["strategy: redact"],
        id="strategy-as-action-type",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: [cut]\n",
        3, 13, "rules.0.action", ["got ['cut']", "expected an action"],
        id="action-not-string-or-mapping",
    ),
    pytest.param(
        "name: x\nrules:\n  - action:\n      type: cut\n      message: no\n",
        5, 7, "rules.0.action.message", ["unknown key 'message'", "allowed here: type"],
        id="message-on-cut",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: block, strategy: drop}\n",
        3, 27, "rules.0.action.strategy", ["unknown key 'strategy'", "type, message"],
        id="strategy-on-block",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: correct, strategy: redakt}\n",
        3, 39, "rules.0.action.strategy", ["'redakt'", "did you mean 'redact'?"],
        id="bad-strategy",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: correct, strategy: drop, marker: '!'}\n",
        3, 53, "rules.0.action.marker", ["'marker' only applies to strategy 'annotate'"],
        id="option-of-another-strategy",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: correct, strategy: rewrite, else: regenerate}\n",
        3, 54, "rules.0.action.else", ["cannot call the LLM again"],
        id="correct-fallback-calls-llm",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: regenerate, else: {type: regenerate}}\n",
        3, 38, "rules.0.action.else", ["cannot itself be regenerate"],
        id="regenerate-fallback-regenerates",
    ),
    pytest.param(
        "name: x\nrules:\n  - action: {type: regenerate, else: {type: block, mesage: no}}\n",
        3, 52, "rules.0.action.else.mesage", ["did you mean 'message'?"],
        id="nested-else-error",
    ),
    pytest.param(
        "name: x\nrules:\n  - action:\n      type: regenerate\n      feedback: 'Fix {sentense}'\n",
        5, 17, "rules.0.action.feedback", ["'sentense'", "{sentence}", "{reasons}"],
        id="feedback-template",
    ),
    pytest.param(
        "name: x\nrules:\n  - when: {min_score: 0.8, max_score: 0.5}\n    action: cut\n",
        3, 39, "rules.0.when.max_score", ["below min_score 0.8"],
        id="score-range",
    ),
    pytest.param(
        "name: x\nrules:\n  - when: {scope: response}\n    action: cut\n",
        3, 11, "rules.0.when", ["'scope' only applies to threshold rules", "more_than"],
        id="scope-without-threshold",
    ),
    pytest.param(
        "name: x\nrules:\n  - when: {more_than: -1}\n    action: cut\n",
        3, 23, "rules.0.when.more_than", ["got -1"],
        id="negative-threshold",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: {type: piii}\n",
        3, 13, "detectors.p.type", ["unknown detector type 'piii'", "did you mean 'pii'?"],
        id="unknown-detector-type",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: {kinds: [email]}\n",
        3, 6, "detectors.p.type", ["missing required key 'type'"],
        id="detector-without-type",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: pii\n",
        3, 6, "detectors.p", ["got 'pii'", "expected a mapping with a detector 'type'"],
        id="detector-not-a-mapping",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: {type: pii, kind: [email]}\n",
        3, 18, "detectors.p.kind", ["unknown key 'kind'", "did you mean 'kinds'?"],
        id="unknown-detector-option",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: {type: pii, kinds: [mail]}\n",
        3, 26, "detectors.p.kinds.0", ["'mail'", "did you mean 'email'?"],
        id="bad-detector-option-value",
    ),
    pytest.param(
        "name: x\ndetectors:\n  w: {type: banned, phrases: 3}\n",
        3, 30, "detectors.w.phrases", ["got 3", "expected a list"],
        id="detector-option-type",
    ),
    pytest.param(
        "name: x\ndetectors:\n  pii: {type: pii}\nrules:\n  - when: {detector: pi}\n    action: cut\n",
        5, 22, "rules.0.when.detector", ["'pi'", "no pack declares", "did you mean 'pii'?"],
        id="undeclared-detector",
    ),
    pytest.param(
        "name: x\ndetectors:\n  pii: {type: pii}\nstream:\n  deadlines: {pi: 5}\n",
        5, 15, "stream.deadlines.pi", ["'pi'", "did you mean 'pii'?"],
        id="deadline-for-undeclared-detector",
    ),
    pytest.param(
        "name: x\ntests:\n  - name: a\n    input: 3\n    expect: {passed: true}\n",
        4, 12, "tests.0.input", ["got 3", "a string or a list of strings"],
        id="golden-input-type",
    ),
    pytest.param(
        "name: x\ntests:\n  - name: a\n    input: hi\n    expect: {}\n",
        5, 13, "tests.0.expect", ["checks nothing"],
        id="golden-expect-empty",
    ),
    pytest.param(
        "name: x\ntests:\n  - name: a\n    input: hi\n    expect: {actions: [redcat]}\n",
        5, 24, "tests.0.expect.actions.0", ["'redcat'", "did you mean 'redact'?"],
        id="golden-unknown-action-kind",
    ),
    pytest.param(
        "name: x\nextends: pii-redakt\n",
        2, 10, "extends", ["unknown built-in pack 'pii-redakt'", "did you mean 'pii-redact'?",
                           "pii-redact"],
        id="unknown-builtin-in-extends",
    ),
    pytest.param(
        "name: x\nextends: [pii-redact, ./missing.yaml]\n",
        2, 23, "extends.1", ["no pack file './missing.yaml'"],
        id="missing-file-in-extends",
    ),
    pytest.param(
        "name: x\nrules: []\nname: y\n",
        3, 1, "name", ["duplicate key 'name'", "first at line 1, column 1"],
        id="duplicate-top-level-key",
    ),
    pytest.param(
        "name: x\ndetectors:\n  p: {type: pii}\n  q: {type: pii}\n  p: {type: length}\n",
        5, 3, "detectors.p", ["duplicate key 'p'", "first at line 3, column 3"],
        id="duplicate-nested-key",
    ),
]  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_file(path)
    return info.value


@pytest.mark.parametrize(("text", "line", "column", "key", "fragments"), CASES)
def test_error_names_file_line_column_key_and_the_fix(
    tmp_path: Path, text: str, line: int, column: int, key: str, fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    err = error_for(path)
    assert err.where == f"{path}:{line}:{column}: {key}", str(err)
    for fragment in fragments:
        assert fragment in err.detail, str(err)
    assert str(err).startswith(f"{path}:{line}:{column}: {key}: ")


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nrules:\n  - when: {detector: a\n    action: cut\n")
    err = error_for(path)
    assert err.where is not None and err.where.startswith(f"{path}:4:")
    assert "invalid YAML" in err.detail and "flow mapping" in err.detail


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    err = error_for(write(tmp_path, "name: x\nstream:\n\tmode: hold\n"))
    assert err.where is not None and ":3:1" in err.where and "invalid YAML" in err.detail


def test_non_utf8_file_names_the_byte_position(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: x\ndescription: caf\xe9\n".encode("latin-1"))
    err = error_for(path)
    assert err.where == f"{path}:2:17"
    assert "not UTF-8" in err.detail and "0xe9" in err.detail


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a list\n", "got list ['a list']"), ("", "got an empty file"), ("42\n", "got int 42")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path, text)
    err = error_for(path)
    assert err.where == f"{path}:1:1: (top level)"
    assert "must be a mapping" in err.detail and got in err.detail


def test_unreadable_file(tmp_path: Path) -> None:
    err = error_for(tmp_path / "nope.yaml")
    assert err.where == str(tmp_path / "nope.yaml") and "cannot read" in err.detail


def test_several_problems_are_all_reported_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nfoo: 1\nstream: {mode: x, max_hold_chars: 0}\n")
    err = error_for(path)
    assert err.where == f"{path}:2:1: foo"
    assert f"also {path}:3:16: stream.mode: got 'x'" in err.detail
    assert f"also {path}:3:35: stream.max_hold_chars: got 0" in err.detail


def test_errors_name_the_file_that_holds_them(tmp_path: Path) -> None:
    write(tmp_path, "name: base\nrules:\n  - action: {type: cut, message: x}\n", "base.yaml")
    child = write(tmp_path, "name: child\nextends: base.yaml\n", "child.yaml")
    err = error_for(child)
    assert err.where == f"{tmp_path / 'base.yaml'}:3:25: rules.0.action.message"


def test_undeclared_detector_names_the_rules_own_file(tmp_path: Path) -> None:
    write(tmp_path, "name: base\ndetectors:\n  pii: {type: pii}\n", "base.yaml")
    child = write(
        tmp_path,
        "name: child\nextends: base.yaml\nrules:\n  - action: cut\n  - when: {detector: words}\n"
        "    action: cut\n",
        "child.yaml",
    )
    err = error_for(child)
    assert err.where == f"{child}:5:22: rules.1.when.detector"
    assert "'words'" in err.detail and "declared: pii" in err.detail


@pytest.mark.parametrize(
    ("files", "start", "chain"),
    [
        ({"a.yaml": "name: a\nextends: a.yaml\n"}, "a.yaml", ["a.yaml", "a.yaml"]),
        (
            {"a.yaml": "name: a\nextends: [b.yaml]\n", "b.yaml": "name: b\nextends: ./a.yaml\n"},
            "a.yaml",
            ["a.yaml", "b.yaml", "a.yaml"],
        ),
    ],
    ids=["self", "a-b-a"],
)
def test_extends_cycles_list_the_chain(
    tmp_path: Path, files: dict[str, str], start: str, chain: list[str]
) -> None:
    for name, text in files.items():
        write(tmp_path, text, name)
    err = error_for(tmp_path / start)
    assert "extends cycle" in err.detail
    names = [Path(part).name for part in err.detail.split(": ", 1)[1].split(" -> ")]
    assert names == chain
    assert err.where == f"{tmp_path / chain[-2]}:2:10: extends"  # the entry closing the cycle


def test_detector_constructor_errors_name_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ndetectors:\n  words:\n    type: banned\n    phrases: []\n")
    spec = load_file(path)  # the schema allows an empty list; the detector does not
    with pytest.raises(ConfigError, match="must not be empty") as info:
        spec.build()
    assert info.value.where == f"{path}:3:3: detectors.words"


def test_parse_pack_without_a_file_names_source_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_pack({"name": "x", "stream": {"mode": "fast"}}, "inline")
    assert info.value.where == "inline: stream.mode"
    with pytest.raises(ConfigError, match="got list"):
        parse_pack(["x"], "inline")
