"""guardrails.evaluation and scripts/evaluate.py: metrics, data loading, scorers, fusion.

Runs on tiny models built here and tiny JSONL files written to tmp_path.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors._shared import VectorScorer
from detectors.grounding import Grounding
from detectors.runtime import ModelDir
from detectors.tiny_models import build_tiny_cross_encoder, build_tiny_embedder
from guardrails.evaluation import (
    METHODS,
    DataError,
    Evaluator,
    Row,
    balanced_accuracy,
    best_threshold,
    confusion,
    fit_fusion,
    fusion_examples,
    ground_sentences,
    load_rows,
    logistic_regression,
    make_passages,
    nli_predictions,
    pr_auc,
    precision_recall_f1,
    roc_auc,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the scripts/ package lives at the repository root
    sys.path.insert(0, str(ROOT))

from scripts.evaluate import main  # noqa: E402

CONTEXT = (
    "The Eiffel Tower is 330 metres tall. It opened in 1889 in Paris.\n\n"
    "Gustave Eiffel's company designed and built the tower for the World's Fair."
)

# ---------------------------------------------------------------- metrics

SCORES = [0.1, 0.4, 0.35, 0.8]
LABELS = [0, 0, 1, 1]
TIED = [0.5, 0.5, 0.2, 0.9]
TIED_LABELS = [1, 0, 0, 1]


def test_roc_auc_hand_computed() -> None:
    assert roc_auc(SCORES, LABELS) == pytest.approx(0.75)
    # pairs (pos, neg): (.5,.5) half, (.5,.2) (.9,.5) (.9,.2) won -> 3.5 / 4
    assert roc_auc(TIED, TIED_LABELS) == pytest.approx(0.875)
    assert roc_auc([0.2, 0.2, 0.2], [0, 1, 1]) == pytest.approx(0.5)
    assert roc_auc([1, 2], [False, True]) == 1.0


def test_pr_auc_hand_computed() -> None:
    # descending: .8 (pos) P=1 R=.5; .4 (neg); .35 (pos) P=2/3 R=1 -> .5 + .5 * 2/3
    assert pr_auc(SCORES, LABELS) == pytest.approx(0.5 + 0.5 * 2 / 3)
    # ties enter together: .9 P=1 R=.5; {.5,.5} P=2/3 R=1
    assert pr_auc(TIED, TIED_LABELS) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert pr_auc([0.3, 0.1], [0, 0]) != pr_auc([0.3, 0.1], [0, 0])  # nan: no positives


def test_one_class_is_nan_and_bad_input_raises() -> None:
    assert math.isnan(roc_auc([0.1, 0.9], [1, 1]))
    assert math.isnan(roc_auc([], []))
    assert balanced_accuracy([1, 0], [1, 1]) == pytest.approx(0.5)  # recall of the only class
    assert math.isnan(balanced_accuracy([], []))
    with pytest.raises(ValueError, match="do not match"):
        roc_auc([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0.1, 0.2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        pr_auc([float("nan"), 0.2], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        best_threshold([], [])


def test_threshold_metrics_hand_computed() -> None:
    pred, labels = [1, 0, 1, 1], [1, 0, 0, 1]
    assert tuple(confusion(pred, labels)) == (2, 1, 1, 0)
    assert balanced_accuracy(pred, labels) == pytest.approx((1.0 + 0.5) / 2)
    p, r, f1 = precision_recall_f1(pred, labels)
    assert (p, r, f1) == pytest.approx((2 / 3, 1.0, 0.8))
    assert precision_recall_f1([0, 0], [0, 1]) == (0.0, 0.0, 0.0)
    # candidates: all-negative .5, .6 -> .75, .375 -> .5, .225 -> .75, .1 -> .5; highest wins
    assert best_threshold(SCORES, LABELS) == pytest.approx((0.6, 0.75))
    assert best_threshold(SCORES, LABELS, "f1") == pytest.approx((0.225, 0.8))
    assert best_threshold(SCORES, LABELS, "accuracy") == pytest.approx((0.6, 0.75))
    t, v = best_threshold([0.2, 0.7], [0, 1])
    assert 0.2 < t <= 0.7
    assert v == 1.0


# ---------------------------------------------------------------- data files

ROW_A = {"id": "a-0", "dataset": "a", "context": CONTEXT, "response": "It is tall.", "label": 0}
ROW_B = {
    "id": "b-0",
    "dataset": "b",
    "context": CONTEXT,
    "response": "The tower opened in 1889. It is 500 metres tall.",
    "label": 1,
    "sentences": [
        {"text": "The tower opened in 1889.", "label": 0},
        {"text": "It is 500 metres tall.", "label": 1},
    ],
}
ROW_C = {
    "id": "c-0",
    "dataset": "c",
    "premise": "Paris is in France.",
    "hypothesis": "Paris is in Europe.",
    "label": "entailment",
}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
        encoding="utf-8",
    )
    return path


def test_load_rows_detects_formats(tmp_path: Path) -> None:
    fmt, rows = load_rows(write_jsonl(tmp_path / "a.jsonl", [ROW_A, "", {**ROW_A, "id": "a-1"}]))
    assert fmt == "A"
    assert [r.id for r in rows] == ["a-0", "a-1"]
    assert rows[0].label == 0 and rows[0].format == "A" and rows[0].sentences == ()
    fmt, rows = load_rows(write_jsonl(tmp_path / "b.jsonl", [ROW_B]))
    assert fmt == "B"
    assert rows[0].sentences == (("The tower opened in 1889.", 0), ("It is 500 metres tall.", 1))
    assert rows[0].spans == ((0, 25), (26, 48))
    fmt, rows = load_rows(write_jsonl(tmp_path / "c.jsonl", [ROW_C]))
    assert fmt == "C"
    assert (rows[0].premise, rows[0].label, rows[0].hallucinated) == (
        "Paris is in France.",
        "entailment",
        0,
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [ROW_A, ROW_A, {k: v for k, v in ROW_A.items() if k != "response"}],
            ":3: missing key 'response'",
        ),
        ([ROW_A, "{not json"], ":2: invalid JSON"),
        ([{**ROW_A, "label": 2}], ":1: label must be 0 or 1"),
        ([{**ROW_A, "label": True}], ":1: label must be 0 or 1"),
        ([ROW_C, {**ROW_C, "label": "maybe"}], ":2: label must be one of"),
        ([ROW_A, ROW_C], ":2: a format C row in a format A file"),
        ([ROW_B, ROW_A], ":2: missing key 'sentences'"),
        ([{**ROW_B, "sentences": [{"text": "Not there.", "label": 1}]}], ":1: sentence 0 is not"),
        ([{**ROW_B, "label": 0}], ":1: label 0 disagrees"),
        ([[1, 2]], ":1: expected a JSON object"),
        ([{"id": "x"}], ":1: not a known format"),
        ([], "no rows"),
    ],
)
def test_load_rows_errors_name_file_and_line(tmp_path: Path, rows: list[Any], message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=r"bad\.jsonl") as info:
        load_rows(path)
    assert message in str(info.value)


# ---------------------------------------------------------------- scorers


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"nli": build_tiny_cross_encoder(root / "nli"), "emb": build_tiny_embedder(root / "emb")}


@pytest.fixture(scope="module")
def evaluator(models: dict[str, Path]) -> Evaluator:
    grounding = Grounding(model=str(models["nli"]), threads=1)
    return Evaluator(grounding, VectorScorer(ModelDir(models["emb"]), threads=1))


def a_row(rid: str, response: str, label: int) -> Row:
    return Row(rid, "t", "A", CONTEXT, response, label)


def test_scorers_end_to_end(evaluator: Evaluator, tmp_path: Path) -> None:
    verbatim = evaluator.score_row(a_row("v", "The Eiffel Tower is 330 metres tall.", 0))
    assert verbatim.sentences[0].grounding.verbatim
    assert verbatim.score("cascade") == 0.0
    assert verbatim.score("nli") == 0.0
    assert verbatim.score("lexical") == pytest.approx(0.0)
    assert verbatim.flagged == 0

    talk = evaluator.score_row(a_row("t", "Sure! Hope this helps!", 0))
    assert not talk.claims
    assert all(talk.score(m) == 0.0 for m in METHODS)

    mixed = evaluator.score_row(
        a_row("m", "The tower opened in 1889. Bananas grow on the moon in winter.", 1)
    )
    assert len(mixed.claims) == 2
    for method in METHODS:
        per = [s.hallucination(method) for s in mixed.claims]
        assert mixed.score(method) == max(per)
        assert all(-1.0 <= v <= 2.0 for v in per)
    g = mixed.claims[1].grounding
    assert set(g.signals) >= {"entailment", "contradiction", "lexical", "number_mismatch"}
    assert mixed.claims[1].hallucination("nli") == pytest.approx(1 - g.signals["entailment"])
    assert mixed.claims[1].hallucination("cascade") == pytest.approx(1 - g.support)
    assert mixed.score("lexical") > verbatim.score("lexical")

    _, (b_row,) = load_rows(write_jsonl(tmp_path / "b.jsonl", [ROW_B]))
    scored = evaluator.score_row(b_row)
    assert [s.gold for s in scored.labelled] == [0, 1]
    assert [s.grounding.text for s in scored.labelled] == [
        s.grounding.text for s in scored.sentences
    ]
    assert scored.labelled[1].grounding.label == "number_mismatch"
    assert scored.flagged == 1

    # re-fusing with the detector's own fusion reproduces its supports and labels
    again = mixed.with_fusion(evaluator.grounding.fusion)
    for old, new in zip(mixed.sentences, again.sentences, strict=True):
        assert new.grounding.support == pytest.approx(old.grounding.support)
        assert new.grounding.label == old.grounding.label

    _, c_rows = load_rows(write_jsonl(tmp_path / "c.jsonl", [ROW_C]))
    (probs,) = nli_predictions(evaluator.nli, c_rows)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)


def test_signals_are_computed_once_per_sentence(
    evaluator: Evaluator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = Grounding.check

    def counting(self: Grounding, segment: Any, ctx: Any) -> Any:
        calls.append(segment.text.strip())
        return real(self, segment, ctx)

    monkeypatch.setattr(Grounding, "check", counting)
    _, (row,) = load_rows(write_jsonl(tmp_path / "b.jsonl", [ROW_B]))
    evaluator.score_row(row)  # split sentences and labelled sentences coincide
    assert sorted(calls) == sorted(t for t, _ in row.sentences)


def test_ground_sentences_passages(evaluator: Evaluator) -> None:
    assert len(make_passages(CONTEXT)) == 1
    assert len(make_passages(CONTEXT, "paragraphs")) == 2
    assert make_passages("  ") == ()
    (s,) = ground_sentences(evaluator.grounding, "", "Paris is in France.")
    assert (s.label, s.support, s.issue) == ("no_context", 0.0, True)
    (s,) = ground_sentences(evaluator.grounding, CONTEXT, "  It opened in 1889 in Paris.")
    assert s.span == (2, 29)
    assert s.verbatim


# ---------------------------------------------------------------- fusion


def test_fit_fusion_recovers_planted_signal() -> None:
    rng = np.random.default_rng(0)
    n = 400
    x = rng.uniform(0, 1, (n, 5))
    supported = rng.uniform(0, 1, n) < 1 / (1 + np.exp(-8 * (x[:, 2] - 0.5)))  # "lexical"
    labels = (~supported).astype(int)
    fusion = fit_fusion(x, labels)
    assert fusion.weights["lexical"] > 3.0
    assert all(abs(fusion.weights[k]) < 1.5 for k in fusion.weights if k != "lexical")
    assert 0.2 < fusion.support_threshold < 0.8
    again = fit_fusion([dict(zip(fusion.weights, row, strict=True)) for row in x], labels)
    assert again == fusion  # dict features give the same deterministic fit
    assert fusion.support({"lexical": 1.0}) > fusion.support({"lexical": 0.0})
    with pytest.raises(ValueError, match="both"):
        fit_fusion(x[:5], [1] * 5)
    # separable data: the penalty keeps the weights finite
    coef, bias = logistic_regression(np.array([[0.0], [1.0]]), [0, 1], l2=1.0)
    assert np.isfinite(coef).all() and math.isfinite(bias) and coef[0] > 0


def test_fusion_examples(evaluator: Evaluator, tmp_path: Path) -> None:
    _, (b_row,) = load_rows(write_jsonl(tmp_path / "b.jsonl", [ROW_B]))
    rows = [
        evaluator.score_row(b_row),
        evaluator.score_row(a_row("one", "Bananas grow on the moon.", 1)),
        evaluator.score_row(a_row("two", "It is tall. Bananas grow on the moon.", 1)),
        evaluator.score_row(a_row("vb", "The Eiffel Tower is 330 metres tall.", 0)),
    ]
    got = [(rs.row.id, label) for rs, _, label in fusion_examples(rows)]
    assert got == [("b-0", 0), ("b-0", 1), ("one", 1)]


# ---------------------------------------------------------------- the script


def test_script_main_on_tiny_data(models: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "dev"
    data.mkdir()
    write_jsonl(
        data / "resp.jsonl",
        [
            {**ROW_A, "id": "resp-0", "response": "It opened in 1889 in Paris.", "label": 0},
            {**ROW_A, "id": "resp-1", "response": "It opened in 1925 in Rome.", "label": 1},
            {**ROW_A, "id": "resp-2", "response": "Bananas grow on the moon.", "label": 1},
        ],
    )
    write_jsonl(data / "sent.jsonl", [ROW_B, {**ROW_B, "id": "b-1"}])
    write_jsonl(data / "pairs.jsonl", [ROW_C, {**ROW_C, "id": "c-1", "label": "neutral"}])
    card_dir = tmp_path / "nli"
    card_dir.mkdir()
    for f in models["nli"].iterdir():
        (card_dir / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "report.json"
    argv = ["--data", str(data), "--model", str(card_dir), "--embedder", str(models["emb"])]
    argv += ["--limit", "2", "--threads", "1", "--fit-fusion", "--json", str(out)]
    assert main([*argv, "--card", str(card_dir)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["datasets"]) == {"resp", "sent"}
    assert report["datasets"]["resp"]["response"]["cascade"]["n"] == 2
    assert set(report["mean"]) == {*METHODS, "cascade+fit"}
    assert "sentence" in report["datasets"]["sent"]
    assert report["nli"]["pairs"]["n"] == 2
    card = json.loads((card_dir / "card.json").read_text(encoding="utf-8"))
    assert set(card["dev_metrics"]["datasets"]) == {"resp", "sent"}
    if "fusion" in report["fusion_fit"]:
        assert set(card["fusion"]) == {
            "weights",
            "bias",
            "support_threshold",
            "contradiction_threshold",
        }
    ModelDir(card_dir).verify()  # checksums of model and tokenizer still hold
    assert main(["--data", str(tmp_path / "none"), "--model", str(card_dir)]) == 2
