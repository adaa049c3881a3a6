"""What the ``eval`` and ``calibrate`` tests share: a context, sentences about it,
a pack whose grounding listens only to the lexical signal, and JSONL writers.

With ``fusion_weights: {lexical: 10.0}`` and ``fusion_bias: -5.0`` the fused
support is ``sigmoid(10 * lexical - 5)`` whatever the (tiny, random) NLI model
says, and ``contradiction_threshold: 1.0`` turns contradictions off, so every
prediction follows from the words alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTEXT = (
    "The river Aldous flows north through the valley. Its water is cold all year. "
    "Farmers grow barley on its banks."
)
NORTH = "The river Aldous flows north through the valley."
COLD = "Its water is cold all year."
BARLEY = "Farmers grow barley on its banks."


def lexical_pack(model: Path, threshold: float) -> str:
    """A pack (YAML text) with the lexical-only grounding detector on ``model``."""
    return (
        "name: lexical-only\n"
        "detectors:\n"
        "  grounding:\n"
        "    type: grounding\n"
        f"    model: {model.as_posix()}\n"
        "    fusion_weights: {lexical: 10.0}\n"
        "    fusion_bias: -5.0\n"
        f"    support_threshold: {threshold}\n"
        "    contradiction_threshold: 1.0\n"
        "rules:\n"
        "  - when: {detector: grounding, label: unsupported}\n"
        "    action: warn\n"
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def a_rows(name: str, items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Format A rows on :data:`CONTEXT`: one per ``(response, label)``."""
    return [
        {"id": f"{name}-{i}", "dataset": name, "context": CONTEXT, "response": r, "label": y}
        for i, (r, y) in enumerate(items)
    ]


def b_rows(name: str, items: list[list[tuple[str, int]]]) -> list[dict[str, Any]]:
    """Format B rows on :data:`CONTEXT`: one per list of ``(sentence, label)``; the
    response label is the highest sentence label."""
    return [
        {
            "id": f"{name}-{i}",
            "dataset": name,
            "context": CONTEXT,
            "response": " ".join(t for t, _ in sents),
            "label": max(y for _, y in sents),
            "sentences": [{"text": t, "label": y} for t, y in sents],
        }
        for i, sents in enumerate(items)
    ]
