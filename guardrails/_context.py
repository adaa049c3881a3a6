"""Turning what callers pass as ``context`` into passages, once per call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.base import Passage

__all__ = ["ContextLike", "normalize_context"]

ContextLike = Any  # str | Sequence[str | Document-like] | Document-like | None


def _passage(item: object, index: int) -> Passage:
    if isinstance(item, str):
        return Passage(item, index)
    if isinstance(item, Passage):
        return Passage(item.text, index, item.metadata)
    for attr in ("page_content", "text"):  # LangChain / LlamaIndex style documents
        text = getattr(item, attr, None)
        if isinstance(text, str):
            meta = getattr(item, "metadata", None)
            return Passage(text, index, dict(meta) if isinstance(meta, Mapping) else {})
    raise TypeError(
        f"context item {index} is a {type(item).__name__}: expected str or an object "
        "with a str .page_content or .text"
    )


def normalize_context(context: ContextLike) -> tuple[Passage, ...]:
    """``None``, a string, a document, or a list of strings/documents -> passages."""
    if context is None:
        return ()
    if isinstance(context, str) or not isinstance(context, (list, tuple)):
        return (_passage(context, 0),)
    return tuple(_passage(item, i) for i, item in enumerate(context))
