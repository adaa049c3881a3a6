"""``guardrails calibrate`` and the threshold search behind it.

The threshold search is checked on hand-made examples; the command runs on a
tiny random model with a lexical-only fusion (``support = sigmoid(10 * lexical
- 5)``, see tests/eval_fixtures.py), where sentences sharing no word with the
context get support ~0.12-0.18 and close paraphrases ~0.97-0.99.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from eval_fixtures import BARLEY, COLD, CONTEXT, NORTH, a_rows, b_rows, lexical_pack, write_jsonl

from detectors.grounding import Fusion, Grounding
from detectors.tiny_models import build_tiny_cross_encoder
from guardrails._calibrate import (
    Example,
    Point,
    Unreachable,
    choose,
    choose_mean,
    curve,
    fit_decision,
    nice_threshold,
    response_examples,
    split_rows,
    sweep,
)
from guardrails._calibrate_cmd import extends_ref
from guardrails._eval_cmd import LoadedPack
from guardrails._eval_data import Row
from guardrails.cli import main
from guardrails.evaluation import Evaluator, RowScores, SentenceScores, SentenceSignals
from guardrails.guard import Guard

HALLUCINATED = [  # no word of the context: support ~0.12-0.18
    "Purple elephants dance under neon lights.",
    "Seven dragons sing opera at midnight.",
    "Robots vote for mayor every winter.",
]
PARAPHRASED = [  # close to the context: support ~0.97-0.99
    "The valley river is cold.",
    "Farmers grow barley in the valley.",
    "Barley grows on the banks of the river.",
]
inf = math.inf

# ------------------------------------------------------------ the search

# (fixed, support, gold): reported at t when fixed or support < t
EXAMPLES = [
    Example(False, 0.1, 1),
    Example(False, 0.3, 1),
    Example(False, 0.4, 0),
    Example(False, 0.6, 1),
    Example(False, 0.8, 0),
    Example(True, inf, 1),  # a number mismatch: reported at any threshold
    Example(False, inf, 0),  # verbatim: never reported
]


def test_sweep_by_hand() -> None:
    got = [(p.threshold, p.tp, p.fp, p.fn, p.tn) for p in sweep(EXAMPLES)]
    assert got == [
        (0.0, 1, 0, 3, 3),  # only the fixed one
        (0.2, 2, 0, 2, 3),  # + 0.1 (gap 0.1..0.3)
        (0.4, 3, 0, 1, 3),  # + 0.3 (gap 0.3..0.4: 0.4 itself is not below 0.4)
        (0.5, 3, 1, 1, 2),  # + 0.4
        (0.7, 4, 1, 0, 2),  # + 0.6
        (0.9, 4, 2, 0, 1),  # + 0.8 (gap 0.8..1.0)
    ]


@pytest.mark.parametrize(
    ("target", "min_precision", "threshold"),
    [
        ("balanced", None, 0.4),  # (3/4 + 3/3) / 2 = 0.875, the best
        ("f1", None, 0.7),  # P 4/5, R 1 -> F1 8/9, the best
        ("precision", None, 0.4),  # P 1 at 0.0, 0.2, 0.4: the best recall (3/4) wins
        ("recall", None, 0.7),  # R 1 at 0.7 (P 4/5) and 0.9 (P 4/6): precision decides
        ("recall", 0.8, 0.7),  # P >= 0.8 at 0.0, 0.2, 0.4, 0.7: best recall
        ("recall", 0.9, 0.4),  # P >= 0.9 at 0.0, 0.2, 0.4
        ("f1", 0.95, 0.4),
    ],
)
def test_choose_by_hand(target: Any, min_precision: float | None, threshold: float) -> None:
    assert choose(EXAMPLES, target, min_precision=min_precision).threshold == threshold


def test_unreachable_precision() -> None:
    examples = [Example(False, 0.2, 0), Example(False, 0.5, 1)]
    # 0.4 reports the negative only (P 0), 0.8 both (P 1/2)
    with pytest.raises(Unreachable, match=r"precision 0\.6: the best is 0\.500 \(threshold 0\.8"):
        choose(examples, "recall", min_precision=0.6)


SMALL = [Example(False, 0.45, 1), Example(False, 0.55, 0)]  # best split: 0.45 < t <= 0.55


def test_choose_mean_weighs_each_group_the_same() -> None:
    # at 0.4: EXAMPLES 7/8, SMALL reports nothing (1/2) -> mean 11/16
    # at 0.5: EXAMPLES (3/4 + 2/3) / 2 = 17/24, SMALL 1 -> mean 41/48, the best
    threshold, mean = choose_mean([EXAMPLES, SMALL])
    assert threshold == 0.5
    assert mean == pytest.approx(41 / 48)
    # pooled, the larger group decides: 0.4 gives (3/5 + 4/4) / 2 = 0.8 > 0.775 at 0.5
    assert choose([*EXAMPLES, *SMALL], "balanced").threshold == 0.4
    assert choose_mean([EXAMPLES]) == (0.4, pytest.approx(0.875))
    assert choose_mean([EXAMPLES, []])[0] == 0.4  # an empty group does not count
    with pytest.raises(ValueError, match="at least one example"):
        choose_mean([[], []])


def _row(name: str, entail: float, contra: float, gold: int) -> RowScores:
    signals = {"entailment": entail, "contradiction": contra}
    sentence = SentenceSignals("A claim.", (0, 8), True, "supported", 1.0, signals)
    return RowScores(
        Row(name, "d", "A", "Context.", "A claim.", gold), (SentenceScores(sentence, 0.0, 0.0),)
    )


def test_fit_decision_moves_a_misfiring_contradiction_rule() -> None:
    """support = sigmoid(10 * entailment - 5); ``mis`` is supported but its contradiction
    (0.75) beats its entailment: a contradiction threshold of 0.8 stops reporting it,
    and a support threshold between 0.018 (``bad``) and 0.38 (``mis``) does the rest."""
    rows = [
        _row("good", 0.9, 0.05, 0),  # support 0.98
        _row("bad", 0.1, 0.2, 1),  # support 0.018
        _row("mis", 0.45, 0.75, 0),  # support 0.38, contradicted at 0.5 .. 0.7
        _row("con", 0.05, 0.95, 1),  # contradicted at any threshold of the grid
    ]
    start = Fusion(weights={"entailment": 10.0}, bias=-5.0, support_threshold=0.9)
    fusion, mean = fit_decision({"d": rows}, start)
    assert (fusion.contradiction_threshold, fusion.support_threshold, mean) == (0.8, 0.2, 1.0)
    assert (fusion.weights, fusion.bias) == (start.weights, start.bias)
    assert [rs.with_fusion(fusion).flagged for rs in rows] == [0, 1, 0, 1]
    # with the rule at 0.5 the best possible is 3 of 4 right
    fixed, mean = fit_decision({"d": rows}, start, contradiction_grid=[0.5])
    assert fixed.contradiction_threshold == 0.5 and mean == pytest.approx(0.75)


def test_point_metrics() -> None:
    p = Point(0.5, tp=3, fp=1, fn=1, tn=2)
    assert (p.precision, p.recall) == (0.75, 0.75)
    assert p.f1 == pytest.approx(0.75)
    assert p.balanced_accuracy == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert math.isnan(Point(0.5, 0, 0, 0, 0).balanced_accuracy)


def test_nice_threshold() -> None:
    assert nice_threshold(0.1, 0.3) == 0.2
    assert nice_threshold(0.31, 0.4) == 0.4  # any t in (0.31, 0.4] decides the same
    assert nice_threshold(0.123, 0.1234) == 0.1232  # no 1-3 place decimal fits; middle
    assert nice_threshold(0.17, 1.0) == 0.6  # middle 0.585


def test_split_is_by_row_and_seed() -> None:
    rows = [Row(f"d-{i}", "d", "A", "c", "r", 0) for i in range(300)]
    fit, held = split_rows(rows, 0.3, seed=0)
    assert len(fit) + len(held) == 300
    assert 60 <= len(held) <= 120
    _, again_held = split_rows(list(reversed(rows)), 0.3, seed=0)
    assert {r.id for r in again_held} == {r.id for r in held}  # order does not matter
    assert {r.id for r in split_rows(rows, 0.3, seed=1)[1]} != {r.id for r in held}
    assert split_rows(rows, 0.0, seed=0) == (rows, [])
    with pytest.raises(ValueError, match="holdout"):
        split_rows(rows, 1.0, seed=0)


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("calibrate")
    model = build_tiny_cross_encoder(root / "nli")
    (root / "low.yaml").write_text(lexical_pack(model, 0.05), encoding="utf-8")  # misses everything
    clean = [(t, 1) for t in HALLUCINATED] + [(t, 0) for t in PARAPHRASED] + [(COLD, 0)]
    noisy = [(HALLUCINATED[0], 1), (HALLUCINATED[0], 0), (PARAPHRASED[0], 0)]
    sentences = [
        [(COLD, 0), (HALLUCINATED[0], 1)],
        [(BARLEY, 0)],
        [(NORTH, 1), (HALLUCINATED[0], 0)],
    ]
    nli = {"id": "n-0", "dataset": "n", "premise": CONTEXT, "hypothesis": COLD}
    (root / "nli.jsonl").write_text(json.dumps({**nli, "label": "entailment"}) + "\n", "utf-8")
    return {
        "root": root,
        "model": model,
        "low": root / "low.yaml",
        "clean": write_jsonl(root / "clean.jsonl", a_rows("clean", clean)),
        "noisy": write_jsonl(root / "noisy.jsonl", a_rows("noisy", noisy)),
        "sent": write_jsonl(root / "sent.jsonl", b_rows("sent", sentences)),
        "nli": root / "nli.jsonl",
    }


def _calibrate(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = main(["calibrate", *args, "--policy", str(files["low"]), "--holdout", "0"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _grounding(path: Path) -> Grounding:
    guard = Guard.from_yaml(path)
    detector = guard.detectors[0]
    guard.close()
    assert isinstance(detector, Grounding)
    return detector


def test_target_recall_raises_a_too_low_threshold(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = files["root"] / "recall" / "cal.yaml"  # a folder beside the original pack
    args = [str(files["clean"]), "--target", "recall", "--keep-fusion", "-o", str(out)]
    code, text, _ = _calibrate(files, capsys, *args)
    assert code == 0
    # hallucinated supports ~0.12-0.18, supported ~0.97-0.99 (and COLD verbatim): every
    # t in (0.18, 0.97] catches all 3 at precision 1; the middle, shortened, is 0.6
    assert "support threshold: 0.05 -> 0.6 (target recall" in text
    lines = text.splitlines()
    before = next(line for line in lines if line.startswith("before (pack as is)")).split()
    after = next(line for line in lines if line.startswith("after (calibrated)")).split()
    assert before[-5:] == ["0.500", "0.000", "0.000", "0.000", "1.000"]  # BAcc P R F1 AUC
    assert after[-5:] == ["1.000"] * 5
    curve_rows = {line.split()[0]: line.split() for line in lines if "<-" in line}
    assert curve_rows["0.05"][-3:] == ["<-", "the", "pack's"]
    assert curve_rows["0.6"][1:] == ["3", "1.000", "1.000", "1.000", "1.000", "<-", "chosen"]
    assert lines.count(" threshold  flagged   prec    rec     F1   BAcc") == 1

    written = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert written["extends"] == "../low.yaml"  # relative to the new pack's folder
    assert written["name"] == "lexical-only-calibrated"
    assert written["detectors"]["grounding"]["support_threshold"] == 0.6
    assert main(["packs", "validate", str(out)]) == 0
    fusion = _grounding(out).fusion
    assert fusion.support_threshold == 0.6
    assert fusion.weights == {"lexical": 10.0}  # kept, from the copied entry
    assert fusion.contradiction_threshold == 1.0


def test_fitted_fusion_is_written_and_loaded(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.yaml"
    code, text, _ = _calibrate(
        files, capsys, str(files["clean"]), "--target", "balanced", "-o", str(out)
    )
    assert code == 0
    assert "fusion: fitted on 6 sentence examples" in text  # COLD is verbatim: left out
    after = next(line for line in text.splitlines() if line.startswith("after (calibrated)"))
    assert after.split()[-5:] == ["1.000"] * 5  # separable: the fit finds it
    entry = yaml.safe_load(out.read_text(encoding="utf-8"))["detectors"]["grounding"]
    assert set(entry["fusion_weights"]) == {
        "entailment",
        "contradiction",
        "lexical",
        "number_mismatch",
        "unknown_entities",
    }
    assert entry["fusion_weights"]["lexical"] > 0  # lexical overlap means support
    fusion = _grounding(out).fusion
    assert fusion.weights == entry["fusion_weights"]
    assert fusion.bias == entry["fusion_bias"]
    assert fusion.support_threshold == entry["support_threshold"]
    # the written values reproduce the printed metrics with no second model pass
    ev = Evaluator(Grounding(model=str(files["model"]), contradiction_threshold=1.0))
    rows = [Row(f"c-{i}", "c", "A", CONTEXT, t, 1) for i, t in enumerate(HALLUCINATED)]
    rows += [Row(f"c-{i + 3}", "c", "A", CONTEXT, t, 0) for i, t in enumerate(PARAPHRASED)]
    refused = [ev.score_row(r).with_fusion(fusion) for r in rows]
    assert [rs.flagged for rs in refused] == [1, 1, 1, 0, 0, 0]


def test_sentence_level_for_format_b(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.yaml"
    args = [str(files["sent"]), "--target", "balanced", "--keep-fusion", "-o", str(out)]
    code, text, _ = _calibrate(files, capsys, *args)
    assert code == 0
    assert "level: sentence" in text
    # labelled sentences: 3 verbatim (gold 0, 0, 1) never reported; the unrelated one twice
    # (gold 1 and 0, support ~0.18). Above 0.18: TP 1, FP 1, FN 1, TN 2 -> (1/2 + 2/3) / 2
    assert "balanced accuracy 0.583)" in text


def test_unreachable_min_precision_writes_nothing(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.yaml"
    args = [str(files["noisy"]), "--target", "recall", "--keep-fusion", "-o", str(out)]
    # the unrelated sentence is gold 1 once and 0 once: precision is 1/2 at best
    code, text, err = _calibrate(files, capsys, *args, "--min-precision", "0.9")
    assert code == 1
    assert text == ""
    assert "no support threshold reaches precision 0.9: the best is 0.500" in err
    assert "no pack written" in err
    assert not out.exists()


def test_bad_input_exits_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.yaml"
    code, _, err = _calibrate(files, capsys, str(files["nli"]), "--target", "f1", "-o", str(out))
    assert code == 2
    assert "format C (NLI pairs) cannot be calibrated on" in err
    code, _, err = _calibrate(
        files, capsys, str(files["clean"]), "--target", "f1", "-o", str(files["low"])
    )
    assert code == 2
    assert "would overwrite the pack it extends" in err
    assert not out.exists()


def test_plot_is_optional(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, png = tmp_path / "cal.yaml", tmp_path / "curve.png"
    args = [str(files["clean"]), "--target", "f1", "--keep-fusion", "-o", str(out)]
    code, _, err = _calibrate(files, capsys, *args, "--plot", str(png))
    assert code == 0
    assert out.exists()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plot: matplotlib is not installed" in err
        assert not png.exists()
    else:
        assert png.read_bytes().startswith(b"\x89PNG")


def test_extends_names_a_builtin_pack_by_name() -> None:
    loaded = LoadedPack(None, None, None, "rag-balanced", "pack 'rag-balanced'", False)  # type: ignore[arg-type]
    assert extends_ref(loaded, Path("anywhere/new.yaml")) == "rag-balanced"


def test_examples_match_the_guards_decisions(files: dict[str, Path]) -> None:
    """The threshold search predicts what the re-fused guard reports, at every threshold,
    also for a number mismatch (reported whatever the threshold)."""
    grounding = Grounding(model=str(files["model"]))
    ev = Evaluator(grounding)
    texts = [*HALLUCINATED, *PARAPHRASED, COLD, "Farmers grow 300 tonnes of barley."]
    context = CONTEXT + " Farmers grow 200 tonnes of barley."
    scored = [ev.score_row(Row(f"x-{i}", "x", "A", context, t, 1)) for i, t in enumerate(texts)]
    assert scored[-1].sentences[0].grounding.label == "number_mismatch"
    examples = response_examples(scored)
    for t in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999):
        fusion = replace(grounding.fusion, support_threshold=t)
        flagged = sum(rs.with_fusion(fusion).flagged for rs in scored)
        point = curve(examples, [t])[0]
        assert point.tp + point.fp == flagged, t
