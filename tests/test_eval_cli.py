"""``guardrails eval``: metrics on tiny JSONL files against numbers worked out by hand.

The pack runs the grounding detector on a tiny random model with a fusion that
listens only to the lexical signal (``support = sigmoid(10 * lexical - 5)``,
the model's entailment weighs 0) and no contradictions (threshold 1.0), so:

* a sentence found verbatim in the context has support 1.0, score 0.0, and is
  never reported;
* ``UNRELATED`` shares no word with the context: lexical ~0.35, support ~0.18
  (below the threshold 0.5), so it is reported; its score ``s = 1 - support``
  is the same wherever it occurs.

Every number below follows from that and the gold labels alone.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from eval_fixtures import BARLEY, COLD, CONTEXT, NORTH, a_rows, b_rows, lexical_pack, write_jsonl

from detectors.grounding import Grounding
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails._eval_data import load_rows
from guardrails._eval_report import nli_report
from guardrails._progress import Progress
from guardrails.cli import main
from guardrails.evaluation import nli_predictions

UNRELATED = "Purple elephants dance under neon lights."


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    model = build_tiny_cross_encoder(root / "nli")
    (root / "pack.yaml").write_text(lexical_pack(model, 0.5), encoding="utf-8")
    # format A, one sentence each: (response, gold) -> (score, reported)
    resp = [
        (COLD, 0),  # 0, no  -> TN
        (BARLEY, 0),  # 0, no  -> TN
        (UNRELATED, 1),  # s, yes -> TP
        (UNRELATED, 1),  # s, yes -> TP
        (NORTH, 1),  # 0, no  -> FN (verbatim, yet labelled hallucinated)
        (UNRELATED, 0),  # s, yes -> FP
    ]
    # format B: response label = max of the sentence labels
    sent = [
        [(COLD, 0), (UNRELATED, 1)],  # response: s, yes, gold 1 -> TP
        [(BARLEY, 0)],  # response: 0, no, gold 0 -> TN
        [(NORTH, 1), (UNRELATED, 0)],  # response: s, yes, gold 1 -> TP
    ]
    nli = [
        {"id": f"nli-{i}", "dataset": "nli", "premise": CONTEXT, "hypothesis": h, "label": y}
        for i, (h, y) in enumerate(
            [
                (COLD, "entailment"),
                (UNRELATED, "neutral"),
                ("The river flows south.", "contradiction"),
                ("Farmers grow barley.", "entailment"),
            ]
        )
    ]
    return {
        "root": root,
        "model": model,
        "pack": root / "pack.yaml",
        "resp": write_jsonl(root / "resp.jsonl", a_rows("resp", resp)),
        "sent": write_jsonl(root / "sent.jsonl", b_rows("sent", sent)),
        "nli": write_jsonl(root / "nli.jsonl", nli),
    }


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _close(report: dict[str, Any], expected: dict[str, float]) -> None:
    for key, value in expected.items():
        assert report[key] == pytest.approx(value, abs=1e-4), key


@pytest.fixture(scope="module")
def response_report(
    files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("out") / "report.json"
    args = ["eval", str(files["resp"]), str(files["sent"]), "--policy", str(files["pack"])]
    with pytest.MonkeyPatch.context() as mp:
        buffer = io.StringIO()
        mp.setattr("sys.stdout", buffer)
        mp.setattr("sys.stderr", io.StringIO())
        assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8")), buffer.getvalue()


def test_response_level_metrics_by_hand(response_report: tuple[dict[str, Any], str]) -> None:
    report, _ = response_report
    resp = report["datasets"]["resp"]
    assert resp["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert (resp["n"], resp["positives"], resp["format"], resp["level"]) == (6, 3, "A", "response")
    _close(
        resp,
        {
            "balanced_accuracy": 2 / 3,  # (TPR 2/3 + TNR 2/3) / 2
            "precision": 2 / 3,  # 2 / (2 + 1)
            "recall": 2 / 3,  # 2 / (2 + 1)
            "f1": 2 / 3,
            # positives score {s, s, 0}, negatives {0, 0, s}: of the 9 pairs, s > 0 four
            # times, s = s twice and 0 = 0 twice (a half each), 0 < s once: 6 / 9
            "roc_auc": 6 / 9,
            # at s: 2 of 3 flagged are positive (P 2/3, R 2/3); at 0: P 3/6, R 1
            # AP = 2/3 * 2/3 + (1 - 2/3) * 1/2 = 11/18
            "pr_auc": 11 / 18,
        },
    )
    sent = report["datasets"]["sent"]  # responses: s/1, 0/0, s/1: perfect
    assert sent["confusion"] == {"tp": 2, "fp": 0, "fn": 0, "tn": 1}
    _close(sent, {"balanced_accuracy": 1.0, "f1": 1.0, "roc_auc": 1.0, "pr_auc": 1.0})


def test_pooled_and_mean_by_hand(response_report: tuple[dict[str, Any], str]) -> None:
    overall = response_report[0]["overall"]
    pooled = overall["pooled"]
    assert pooled["confusion"] == {"tp": 4, "fp": 1, "fn": 1, "tn": 3}
    _close(
        pooled,
        {
            "balanced_accuracy": (4 / 5 + 3 / 4) / 2,
            "precision": 4 / 5,
            "recall": 4 / 5,
            "f1": 4 / 5,
            # positives {s, s, 0, s, s}, negatives {0, 0, s, 0}: s > 0: 4 * 3 = 12,
            # s = s: 4 halves, 0 = 0: 3 halves -> (12 + 2 + 1.5) / 20
            "roc_auc": 15.5 / 20,
            # at s: 4 of 5 positive (P 4/5, R 4/5); at 0: 5 of 9 (R 1)
            "pr_auc": 4 / 5 * 4 / 5 + 1 / 5 * 5 / 9,
        },
    )
    mean = overall["mean"]
    assert mean["datasets"] == 2
    _close(mean, {"balanced_accuracy": (2 / 3 + 1) / 2, "pr_auc": (11 / 18 + 1) / 2})


def test_text_report_has_the_confusion_table(
    response_report: tuple[dict[str, Any], str],
) -> None:
    text = response_report[1]
    assert "level response" in text
    header = next(line for line in text.splitlines() if line.startswith("confusion"))
    assert header.split() == ["confusion", "TP", "FP", "FN", "TN"]
    table, confusion = text.split(header)
    metric_rows = [line.split() for line in table.splitlines() if line.startswith("resp ")]
    # n, positives, BAcc, precision, recall, F1, ROC AUC, PR AUC
    assert metric_rows == [["resp", "A", "6", "3", *["0.667"] * 5, "0.611"]]
    confusion_lines = confusion.strip().splitlines()
    assert [line.split() for line in confusion_lines] == [
        ["resp", "2", "1", "1", "2"],
        ["sent", "2", "0", "0", "1"],
        ["pooled", "4", "1", "1", "3"],
    ]


def test_json_report_content(response_report: tuple[dict[str, Any], str]) -> None:
    report = response_report[0]
    assert report["level"] == "response"
    assert report["detector"] == "grounding"
    assert report["fusion"]["weights"] == {"lexical": 10.0}
    assert report["fusion"]["support_threshold"] == 0.5
    assert report["limit"] is None
    assert report["skipped"] == []
    assert list(report["datasets"]) == ["resp", "sent"]
    assert report["datasets"]["resp"]["file"].endswith("resp.jsonl")
    assert "nli_overall" not in report


def test_sentence_level_on_format_b(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    args = ["eval", str(files["root"]), "--policy", str(files["pack"]), "--level", "sentence"]
    code, text, err = _run([*args, "--json", str(out)], capsys)
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    sent = report["datasets"]["sent"]
    # labelled sentences (gold, score, reported): COLD (0, 0, no) TN, UNRELATED (1, s, yes) TP,
    # BARLEY (0, 0, no) TN, NORTH (1, 0, no) FN, UNRELATED (0, s, yes) FP
    assert sent["confusion"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}
    _close(
        sent,
        {
            "balanced_accuracy": (1 / 2 + 2 / 3) / 2,
            "precision": 1 / 2,
            "recall": 1 / 2,
            "f1": 1 / 2,
            # positives {s, 0}, negatives {0, 0, s}: s > 0 twice, s = s and 0 = 0 (x2)
            # one half each -> (2 + 1.5) / 6
            "roc_auc": 3.5 / 6,
            # at s: P 1/2, R 1/2; at 0: P 2/5, R 1 -> 1/2 * 1/2 + 1/2 * 2/5
            "pr_auc": 1 / 4 + 1 / 5,
        },
    )
    # format A has no sentence labels: skipped, said on stderr and in the report
    assert "resp" not in report["datasets"]
    assert report["skipped"] == [
        {"file": str(files["resp"]), "reason": "format A has no sentence labels"}
    ]
    assert "skipping" in err
    assert str(files["resp"]) in err
    assert "sentence level" in text


def test_sentence_level_needs_format_b(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", str(files["resp"]), "--policy", str(files["pack"]), "--level", "sentence"]
    code, _, err = _run(args, capsys)
    assert code == 2
    assert "needs format B" in err
    assert str(files["resp"]) in err


def test_nli_report_by_hand() -> None:
    probs = [
        {"entailment": 0.7, "neutral": 0.2, "contradiction": 0.1},  # gold e: right
        {"entailment": 0.2, "neutral": 0.5, "contradiction": 0.3},  # gold n: right
        {"entailment": 0.75, "neutral": 0.05, "contradiction": 0.2},  # gold c: wrong (e)
        {"entailment": 0.1, "neutral": 0.3, "contradiction": 0.6},  # gold c: right
    ]
    report = nli_report(probs, ["entailment", "neutral", "contradiction", "contradiction"])
    # binary, positive = not entailment: gold 0, 1, 1, 1; predicted 0, 1, 0, 1;
    # scores 1 - P(e) = 0.3, 0.8, 0.25, 0.9
    assert report["confusion"] == {"tp": 2, "fp": 0, "fn": 1, "tn": 1}
    _close(
        report,
        {
            "accuracy": 3 / 4,
            "balanced_accuracy": (2 / 3 + 1) / 2,
            "precision": 1.0,
            "recall": 2 / 3,
            "f1": 0.8,  # 2 * 1 * 2/3 / (1 + 2/3)
            "roc_auc": 2 / 3,  # the negative (0.3) is above one positive (0.25) of 3
            # descending 0.9+, 0.8+, 0.3-, 0.25+: 1/3 * 1 + 1/3 * 1 + 1/3 * 3/4
            "pr_auc": 11 / 12,
        },
    )


def test_format_c_file(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, text, _ = _run(
        ["eval", str(files["nli"]), "--policy", str(files["pack"]), "--json", str(out)], capsys
    )
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    _, rows = load_rows(files["nli"])
    probs = nli_predictions(Grounding(model=str(files["model"])).nli, rows)
    expected = nli_report(probs, [str(r.label) for r in rows])
    entry = report["datasets"]["nli"]
    assert entry == {"file": str(files["nli"]), "format": "C", "level": "nli", **expected}
    assert report["nli_overall"]["pooled"] == expected
    assert "overall" not in report
    assert "NLI pairs" in text
    assert "3-way acc" in text


def test_limit_samples_rows(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    args = ["eval", str(files["resp"]), "--policy", str(files["pack"]), "--limit", "4"]
    assert _run([*args, "--json", str(out)], capsys)[0] == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["datasets"]["resp"]["n"] == 4
    assert report["limit"] == 4


def test_bad_data_names_file_and_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(a_rows("bad", [(COLD, 0)])[0])
    bad.write_text(f"{good}\n{{not json\n", encoding="utf-8")
    code, _, err = _run(["eval", str(bad), "--policy", str(files["pack"])], capsys)
    assert code == 2
    assert f"{bad}:2: invalid JSON" in err
    missing = tmp_path / "missing.jsonl"
    code, _, err = _run(["eval", str(missing), "--policy", str(files["pack"])], capsys)
    assert code == 2
    assert f"{missing}: no such file or folder" in err


def test_pack_without_grounding_is_an_error(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["eval", str(files["resp"]), "--pack", "pii-redact"], capsys)
    assert code == 2
    assert out == ""
    assert "pack 'pii-redact' has no grounding detector" in err


def test_progress_on_a_log_and_on_a_terminal() -> None:
    now = [0.0]
    log = io.StringIO()
    progress = Progress(5, stream=log, interval=10.0, clock=lambda: now[0])
    for t in (1.0, 2.0, 12.0, 13.0):  # one line after 10 s, then one at the end
        now[0] = t
        progress.step("qags")
    now[0] = 20.0
    progress.step("qags")
    assert log.getvalue().splitlines() == [
        "            qags 3/5 rows  0.2 rows/s  ETA 8s",
        "            qags 5/5 rows  0.2 rows/s  ETA 0s",
    ]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    progress = Progress(2, stream=tty, clock=lambda: 1.0)
    progress.step("a")
    progress.step("a")
    written = tty.getvalue()
    assert written.count("\r") == 2  # rewritten in place, every step
    assert written.endswith("\n")
    assert re.search(r"a 1/2 rows .*\x1b\[K\r", written)


def test_baselines_by_hand(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    args = ["eval", str(files["resp"]), str(files["sent"]), "--policy", str(files["pack"])]
    code, text, _ = _run([*args, "--baselines", "--json", str(out)], capsys)
    assert code == 0
    base = json.loads(out.read_text(encoding="utf-8"))["baselines"]
    assert set(base) == {"nli", "lexical", "embedding"}
    lexical = base["lexical"]
    # lexical score: 0 for the verbatim sentences, u > 0 for UNRELATED, so it ranks
    # like the pack: resp positives {u, u, 0}, negatives {0, 0, u} -> AUC 6/9; one
    # threshold t = u for both files flags UNRELATED: resp TPR 2/3, TNR 2/3;
    # sent responses u/1, 0/0, u/1 are separated perfectly
    _close(lexical["datasets"]["resp"], {"roc_auc": 6 / 9, "balanced_accuracy": 2 / 3})
    _close(lexical["datasets"]["sent"], {"roc_auc": 1.0, "balanced_accuracy": 1.0})
    _close(lexical["mean"], {"balanced_accuracy": (2 / 3 + 1) / 2})
    assert 0.0 < lexical["threshold"] <= 1.0
    assert 0.0 <= base["embedding"]["mean"]["roc_auc"] <= 1.0
    assert "baselines (ROC AUC / balanced accuracy" in text
    assert re.search(r"resp\s+0\.667 / 0\.667", text)  # the pack's own column


def test_best_common_threshold_by_hand() -> None:
    from guardrails._eval_baselines import best_common_threshold

    # each set alone is separable; together t = 0.5 keeps both perfect
    t, baccs = best_common_threshold(
        [([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1]), ([0.2, 0.5, 0.7], [0, 1, 1])]
    )
    assert (t, baccs) == (0.5, [1.0, 1.0])
    # separable at different places: t = 0.3 gives 1.0 and 0.5, t = 0.7 gives 0.5
    # and 1.0; the tie goes to the lower threshold
    low = ([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1])
    high = ([0.5, 0.6, 0.7, 0.8], [0, 0, 1, 1])
    t, baccs = best_common_threshold([low, high])
    assert (t, baccs) == (0.3, [1.0, 0.5])
    with pytest.raises(ValueError, match="at least one"):
        best_common_threshold([])
