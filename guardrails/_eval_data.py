"""Reading evaluation data: JSON Lines in the three formats of the data README.

* **A** (response level): ``id, dataset, context, response, label`` (0/1, 1 =
  hallucinated), optionally ``task, question, subset, label_detail``.
* **B** (sentence level): A plus ``sentences: [{"text", "label"}]``, each text
  an exact substring of ``response``, in order.
* **C** (NLI): ``id, dataset, premise, hypothesis, label`` with the label one of
  ``entailment``, ``neutral``, ``contradiction``.

A file holds one format, detected from its first row; every row is checked and
the first problem raises :class:`DataError` naming ``file:line``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["NLI_LABELS", "DataError", "Format", "Row", "detect_format", "load_rows"]

Format = Literal["A", "B", "C"]
NLI_LABELS = ("entailment", "neutral", "contradiction")

_REQUIRED: dict[Format, tuple[str, ...]] = {
    "A": ("id", "dataset", "context", "response", "label"),
    "B": ("id", "dataset", "context", "response", "label", "sentences"),
    "C": ("id", "dataset", "premise", "hypothesis", "label"),
}


class DataError(ValueError):
    """A data file that cannot be read as one of the formats (the message says where)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One evaluation example.

    ``label`` is 0/1 (1 = hallucinated) for formats A and B and the NLI label
    string for C. ``sentences`` (B only) holds ``(text, label)`` per labelled
    sentence and ``spans`` their character offsets in ``response``. For C rows
    ``premise``/``hypothesis`` are set and ``context``/``response`` repeat them,
    so a C row can also be scored as a one-sentence claim.
    """

    id: str
    dataset: str
    format: Format
    context: str
    response: str
    label: int | str
    sentences: tuple[tuple[str, int], ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    premise: str = ""
    hypothesis: str = ""
    question: str | None = None
    task: str | None = None
    subset: str | None = None

    @property
    def hallucinated(self) -> int:
        """The binary label: A/B as is; C: 1 unless the hypothesis is entailed."""
        if isinstance(self.label, str):
            return int(self.label != "entailment")
        return self.label


def detect_format(obj: dict[str, Any]) -> Format | None:
    """The format one JSON object looks like, from its keys (``None``: none of them)."""
    if "premise" in obj or "hypothesis" in obj:
        return "C"
    if "sentences" in obj:
        return "B"
    if "context" in obj or "response" in obj:
        return "A"
    return None


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}"


def _binary(value: object, where: str, what: str) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise DataError(f"{where}: {what} must be 0 or 1, got {value!r}")
    return int(value)


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise DataError(f"{where}: key {key!r} must be a string, got {type(value).__name__}")
    return value


def _optional(obj: dict[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _text(obj, key, where)


def _sentences(
    obj: dict[str, Any], response: str, where: str
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[int, int], ...]]:
    items = obj["sentences"]
    if not isinstance(items, list) or not items:
        raise DataError(f"{where}: 'sentences' must be a non-empty list")
    out: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "text" not in item or "label" not in item:
            raise DataError(f"{where}: sentence {k} must be an object with 'text' and 'label'")
        text = _text(item, "text", f"{where}: sentence {k}")
        label = _binary(item["label"], where, f"sentence {k} label")
        start = response.find(text, pos)
        if start < 0:
            raise DataError(
                f"{where}: sentence {k} is not a substring of 'response' after sentence {k - 1}"
            )
        pos = start + len(text)
        out.append((text, label))
        spans.append((start, pos))
    return tuple(out), tuple(spans)


def _row(obj: dict[str, Any], fmt: Format, where: str) -> Row:
    for key in _REQUIRED[fmt]:
        if key not in obj:
            raise DataError(f"{where}: missing key {key!r} (format {fmt})")
    rid, dataset = _text(obj, "id", where), _text(obj, "dataset", where)
    question = _optional(obj, "question", where)
    task, subset = _optional(obj, "task", where), _optional(obj, "subset", where)
    if fmt == "C":
        premise, hypothesis = _text(obj, "premise", where), _text(obj, "hypothesis", where)
        label = obj["label"]
        if label not in NLI_LABELS:
            raise DataError(f"{where}: label must be one of {', '.join(NLI_LABELS)}, got {label!r}")
        return Row(
            rid,
            dataset,
            fmt,
            premise,
            hypothesis,
            str(label),
            premise=premise,
            hypothesis=hypothesis,
            question=question,
            task=task,
            subset=subset,
        )
    context, response = _text(obj, "context", where), _text(obj, "response", where)
    label = _binary(obj["label"], where, "label")
    sentences: tuple[tuple[str, int], ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    if fmt == "B":
        sentences, spans = _sentences(obj, response, where)
        if label != max(lab for _, lab in sentences):
            raise DataError(f"{where}: label {label} disagrees with the sentence labels")
    return Row(
        rid,
        dataset,
        fmt,
        context,
        response,
        label,
        sentences,
        spans,
        question=question,
        task=task,
        subset=subset,
    )


def load_rows(path: str | os.PathLike[str]) -> tuple[Format, list[Row]]:
    """Read a JSONL file: its format (``"A"``, ``"B"`` or ``"C"``) and its rows.

    Blank lines are skipped. Raises :class:`DataError` (``file:line: problem``)
    for invalid JSON, a row that is not an object, a missing or mistyped key, a
    bad label, a row of another format than the first, or an empty file;
    ``FileNotFoundError`` when the file does not exist.
    """
    p = Path(path)
    fmt: Format | None = None
    rows: list[Row] = []
    with p.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = _where(p, number)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            this = detect_format(obj)
            if this is None:
                raise DataError(
                    f"{where}: not a known format (needs 'context'/'response' for A and B, "
                    "'premise'/'hypothesis' for C)"
                )
            if fmt is None:
                fmt = this
            elif this != fmt and (fmt, this) != ("B", "A"):  # B lacking 'sentences': say so
                raise DataError(f"{where}: a format {this} row in a format {fmt} file")
            rows.append(_row(obj, fmt, where))
    if fmt is None:
        raise DataError(f"{p}: no rows")
    return fmt, rows
