"""The vocabulary every detector speaks: segments in, findings out.

A detector is a small, stateless object::

    class Detector(Protocol):
        name: str          # instance name used in findings and policy rules
        cpu_bound: bool    # True: run it off the event loop / in a worker thread
        def check(self, segment: Segment, ctx: CheckContext) -> Sequence[Finding]: ...

It must be safe to share across concurrent streams: anything that belongs to one
call lives in the :class:`CheckContext` it is handed, never on the detector.
A detector that does I/O may also offer ``async def acheck(...)`` (see
:class:`AsyncDetector`); the async driver awaits it instead of calling ``check``.

All offsets (``Segment.start``, ``Finding.span``) are positions in the *upstream
text*: every character the guard received for one call, in arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "AsyncDetector",
    "CheckContext",
    "Detector",
    "Evidence",
    "Finding",
    "Passage",
    "Segment",
    "SegmentKind",
]

SegmentKind = Literal["text", "code", "blank"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One sentence (or list item, code block, run of whitespace) of the output.

    ``text == upstream[start:end]``. ``kind`` is ``"code"`` for a fenced code
    block, ``"blank"`` for whitespace only, else ``"text"``.
    """

    text: str
    start: int
    end: int
    index: int = 0
    kind: SegmentKind = "text"

    def __post_init__(self) -> None:
        if self.end - self.start != len(self.text):
            raise ValueError(
                f"segment offsets {self.start}..{self.end} do not match its text length {len(self.text)}"
            )


@dataclass(frozen=True, slots=True)
class Passage:
    """One piece of the caller's context (a retrieved document, a reference text)."""

    text: str
    index: int
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A span of a context passage that bears on a finding."""

    passage: int
    start: int
    end: int
    text: str
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a detector noticed about a span of the output.

    ``label`` is detector specific (``"email"``, ``"banned_phrase"``,
    ``"invalid_json"``...). Two labels are reserved for the engine:
    ``"error"`` (the detector raised or returned garbage) and ``"timeout"``.
    ``replacement`` is the detector's suggestion for a ``redact``/``fix``
    action; policies may ignore it.

    ``info`` findings report without complaining (a sentence found
    ``supported``, ``not_a_claim``): rules may still act on them, but the
    policy's default action does not apply. ``support`` is the probability,
    0..1, that the context supports the sentence, from grounding detectors;
    the engine turns it into ``SegmentResult.support`` and ``label``.
    """

    detector: str
    label: str
    span: tuple[int, int]
    score: float = 1.0
    message: str = ""
    evidence: tuple[Evidence, ...] = ()
    replacement: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    info: bool = False
    support: float | None = None

    @property
    def is_error(self) -> bool:
        return self.label in ("error", "timeout")


class CheckContext:
    """What a detector may know besides the segment itself, for one call.

    ``prefix`` is the answer text before the segment (upstream form, including
    text kept from earlier attempts); it is built on first use, so detectors
    that only need its length should read ``prefix_len``. ``final`` is True for
    the last check of the answer: nothing more will follow this segment.
    """

    __slots__ = ("_parts", "_prefix", "_upto", "final", "memo", "passages", "prefix_len")

    def __init__(
        self,
        passages: Sequence[Passage] = (),
        prefix: str = "",
        final: bool = False,
        memo: dict[str, Any] | None = None,
    ) -> None:
        self.passages: tuple[Passage, ...] = tuple(passages)
        self.final = final
        # One dict per call, shared by every check of that call: work that depends only
        # on the context (splitting passages into windows, embedding them) is done once.
        # Store values under your detector's name; computing twice is harmless.
        self.memo: dict[str, Any] = memo if memo is not None else {}
        self._prefix: str | None = prefix
        self._parts: Sequence[str] = ()
        self._upto = 0
        self.prefix_len = len(prefix)

    @classmethod
    def lazy(
        cls,
        passages: tuple[Passage, ...],
        parts: Sequence[str],
        upto: int,
        prefix_len: int,
        final: bool,
        memo: dict[str, Any] | None = None,
    ) -> CheckContext:
        """A context whose prefix is ``"".join(parts[:upto])``, joined only if read.

        ``parts`` may keep growing after this call (the engine appends to it); only
        the first ``upto`` items belong to this context.
        """
        ctx = cls(passages, "", final, memo)
        ctx._prefix = None
        ctx._parts = parts
        ctx._upto = upto
        ctx.prefix_len = prefix_len
        return ctx

    @property
    def prefix(self) -> str:
        if self._prefix is None:
            self._prefix = "".join(self._parts[: self._upto])
        return self._prefix


@runtime_checkable
class Detector(Protocol):
    name: str
    cpu_bound: bool

    def check(self, segment: Segment, ctx: CheckContext) -> Sequence[Finding]: ...


@runtime_checkable
class AsyncDetector(Detector, Protocol):
    async def acheck(self, segment: Segment, ctx: CheckContext) -> Sequence[Finding]: ...
