"""scripts/readme_tables.py: the README's tables come from eval/bench reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.readme_tables import TableError, quality_table, replace_section  # noqa: E402


def _entry(n: int, auc: float, bacc: float, level: str = "response") -> dict[str, Any]:
    return {"n": n, "level": level, "roc_auc": auc, "balanced_accuracy": bacc}


REPORT: dict[str, Any] = {
    "pack": "rag-balanced",
    "fusion": {"support_threshold": 0.5},
    "datasets": {
        "a": _entry(10, 0.8, 0.7),
        "b": _entry(20, 0.6, 0.5),
        "pairs": {**_entry(30, 0.55, 0.52, "nli"), "accuracy": 0.4},
    },
    "overall": {"mean": {"roc_auc": 0.7, "balanced_accuracy": 0.6}},
    "baselines": {
        m: {
            "mean": {"roc_auc": 0.5, "balanced_accuracy": 0.55},
            "datasets": {"a": _entry(10, 0.51, 0.52), "b": _entry(20, 0.49, 0.5)},
        }
        for m in ("nli", "lexical", "embedding")
    },
}


def test_quality_table_rows() -> None:
    text = quality_table(REPORT)
    assert "| a (10) | 0.800 / 0.700 | 0.510 / 0.520 | 0.510 / 0.520 | 0.510 / 0.520 |" in text
    assert "| **mean** | **0.700 / 0.600** | 0.500 / 0.550 |" in text
    assert "`pairs` (30): three-way accuracy 0.400" in text
    assert "pairs (30) |" not in text  # NLI pairs are not a grounding row


def test_quality_table_needs_baselines() -> None:
    with pytest.raises(TableError, match="--baselines"):
        quality_table({k: v for k, v in REPORT.items() if k != "baselines"})


def test_replace_section_keeps_the_rest() -> None:
    text = "intro\n<!-- quality:begin -->\nold\n<!-- quality:end -->\nafter\n"
    assert replace_section(text, "quality", "new\n") == (
        "intro\n<!-- quality:begin -->\nnew\n<!-- quality:end -->\nafter\n"
    )
    with pytest.raises(TableError, match="speed:begin"):
        replace_section(text, "speed", "x")


def test_the_readme_has_both_sections() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("quality", "speed"):
        assert replace_section(text, name, "x").count("x\n<!-- ") >= 1
