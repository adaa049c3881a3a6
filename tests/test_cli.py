"""The ``guardrails check`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrails.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_check_prints_a_report_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            str(EXAMPLES / "answer.txt"),
            "--context",
            str(EXAMPLES / "context.txt"),
            "--pack",
            "pii-redact",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "pii-redact: PASSED" in out
    assert "pii/email" in out
    assert "[EMAIL]" in out
    assert "returns@shop.example" not in out.split("--- output ---")[1]


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "answer.txt"), "--json", "--pack", "pii-redact"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    labels = [f["label"] for s in data["segments"] for f in s["findings"]]
    assert labels == ["email", "phone"]
    email = next(f for s in data["segments"] for f in s["findings"] if f["label"] == "email")
    assert email["text"] == "returns@shop.example"


def test_check_with_a_policy_file_that_cuts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: strict\ndetectors:\n  pii: {type: pii, kinds: [email]}\n"
        "rules:\n  - when: {detector: pii}\n    action: cut\n",
        encoding="utf-8",
    )
    answer = tmp_path / "a.txt"
    answer.write_text("Fine. Mail a@b.com now. More.", encoding="utf-8")
    assert main(["check", str(answer), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert out.rstrip().endswith("Fine.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "missing.txt"], "cannot read"),
        (["check", str(EXAMPLES / "answer.txt"), "--pack", "nope"], "unknown pack 'nope'"),
    ],
)
def test_bad_input_exits_two_with_a_clear_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_packs_list_names_every_builtin_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["packs", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("pii-redact", "json-output", "rag-strict", "rag-balanced", "support-bot", "audit"):
        assert name in out
    # a pack whose models are not installed says so instead of running without them
    for line in out.splitlines():
        assert "unavailable" not in line or "is not installed" in line


def test_packs_test_runs_the_golden_cases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["packs", "test", "pii-redact", "json-output"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 6
    assert "FAIL" not in out


def test_packs_test_reports_a_failing_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "name: p\ndetectors:\n  pii: {type: pii}\nrules:\n  - when: {detector: pii}\n    action: redact\n"
        "tests:\n  - name: wrong on purpose\n    input: 'Mail a@b.com.'\n    expect: {output: 'Mail a@b.com.'}\n",
        encoding="utf-8",
    )
    assert main(["packs", "test", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  wrong on purpose" in out
    assert "expected 'Mail a@b.com.', got 'Mail [EMAIL].'" in out


def test_packs_validate_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("name: child\nextends: pii-redact\nrules: []\n", encoding="utf-8")
    assert main(["packs", "validate", str(child)]) == 0
    assert "ok (1 detectors" in capsys.readouterr().out
    assert main(["packs", "show", str(child)]) == 0
    shown = capsys.readouterr().out
    assert "name: child" in shown
    assert "redact-pii" in shown  # the parent's rule, merged in
    assert "extends" not in shown
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrulez: []\n", encoding="utf-8")
    assert main(["packs", "validate", str(bad)]) == 1
    assert "bad.yaml:2:1: rulez" in capsys.readouterr().out


def test_packs_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["packs", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    assert "extends" in text
    assert "regenerate" in text


def test_check_defaults_to_grounding_with_the_shipped_models(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check", str(EXAMPLES / "answer.txt"), "--context", str(EXAMPLES / "context.txt")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("rag-balanced: PASSED")
    assert "It was sent by express air freight. [unverified]" in out  # not in the context
    assert "grounding/not_a_claim" in out
    assert "evidence: passage 1" in out
