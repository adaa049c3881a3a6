"""The ``guardrails check`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guardrails.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_check_prints_a_report_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(EXAMPLES / "answer.txt"), "--context", str(EXAMPLES / "context.txt")])
    out = capsys.readouterr().out
    assert code == 0
    assert "pii-redact: PASSED" in out
    assert "pii/email" in out
    assert "[EMAIL]" in out
    assert "returns@shop.example" not in out.split("--- output ---")[1]


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "answer.txt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    labels = [f["label"] for s in data["segments"] for f in s["findings"]]
    assert labels == ["email", "phone"]
    email = data["segments"][2]["findings"][0]
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
