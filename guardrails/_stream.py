"""The I/O-free stream core: one :class:`StreamGuard` per guarded call.

It turns upstream deltas into segments, hands out detector jobs, applies the
policy's verdicts in order and returns events. It never sleeps, reads a clock it
was not given, starts a thread or touches an event loop: the sync and async
drivers in ``guardrails._drivers`` run the jobs and feed results back.

Used on its own (``inline=True``, the default) it runs every job itself as soon
as a segment is complete, so ``feed``/``finish`` return all events directly.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from detectors.base import CheckContext, Detector, Finding, Passage, Segment
from guardrails._edits import RepeatFilter, mask_for, merge_spans
from guardrails._jobs import Job, Outcome
from guardrails._ledger import Ledger, Piece
from guardrails._result import Fate, Feedback, GuardResult, SegmentResult
from guardrails.events import (
    ActionEvent,
    Done,
    Edit,
    Event,
    FindingEvent,
    Retraction,
    TextDelta,
)
from guardrails.segmenter import Segmenter
from policies import Action, Block, Correct, Cut, Match, Raise, Regenerate, Verdict, Warn
from policies.rules import Policy

__all__ = ["Mode", "Phase", "StreamGuard"]

log = logging.getLogger("guardrails")
log.addHandler(logging.NullHandler())  # a library logs; the application decides where to
Mode = Literal["hold", "pass"]


class Phase(Enum):
    RUNNING = "running"  # accepting upstream text
    REGENERATE = "regenerate"  # waiting for the driver to start the next attempt
    DONE = "done"  # Done was emitted; nothing more will happen


@dataclass(slots=True)
class _Slot:
    seg: Segment
    chain_pos: int
    outcomes: list[Outcome | None]

    @property
    def ready(self) -> bool:
        return all(o is not None for o in self.outcomes)


class StreamGuard:
    """Per-call stream state machine. See the module docstring."""

    def __init__(
        self,
        detectors: Sequence[Detector],
        policy: Policy,
        *,
        passages: tuple[Passage, ...] = (),
        mode: Mode = "hold",
        max_hold_chars: int | None = None,
        max_hold_ms: float | None = None,
        deadline_ms: float = 2000.0,
        deadlines: dict[str, float] | None = None,
        can_regenerate: bool = False,
        inline: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[Event], object] | None = None,
    ) -> None:
        self.detectors = tuple(detectors)
        self.policy = policy
        self.passages = passages
        self.mode: Mode = mode
        self.max_hold_chars = max_hold_chars
        self.max_hold_ms = max_hold_ms
        self._deadlines = [
            (deadlines or {}).get(d.name, deadline_ms) / 1000.0 for d in self.detectors
        ]
        self.can_regenerate = can_regenerate
        self.inline = inline
        self.clock = clock
        self.on_event = on_event

        # A block replaces the whole output, so in hold mode a policy that can block
        # must hold the whole output: nothing of a blocked answer is ever shown.
        self._hold_all = mode == "hold" and policy.can_block
        self.phase = Phase.RUNNING
        self.feedback: Feedback | None = None
        self.result: GuardResult | None = None
        self._upstream: list[str] = []
        self._n = 0
        self._upstream_done = False
        self._attempt = 1
        self._regens = 0
        self._terminal: str | None = None
        self._error: str | None = None
        self._segmenter: Segmenter | None = Segmenter()
        self._dedupe: RepeatFilter | None = None
        self._dedupe_start = 0
        self._next_index = 0
        self._pending_since: float | None = None
        self._chain: list[str] = []
        self._chain_len = 0
        self._slots: dict[int, _Slot] = {}
        self._order: deque[int] = deque()
        self._next_slot = 0
        self._jobs: list[Job] = []
        self._ledger = Ledger()
        self._events: list[Event] = []
        self._findings: list[Finding] = []
        self._actions: list[ActionEvent] = []
        self._segments: list[SegmentResult] = []

    # ------------------------------------------------------------------ input

    def feed(self, delta: str) -> list[Event]:
        """Take one upstream delta; return the events it made ready."""
        if not delta:
            return []
        start = self._n
        self._upstream.append(delta)
        self._n += len(delta)
        if self.phase is not Phase.RUNNING:
            # Text after the end is still accounted for, never silently lost.
            self._act_event("discard", "", (Edit(start, self._n, delta),), "text after the end")
            return self._drain()
        if self._dedupe is not None:
            self._dedupe.buf += delta
            self._resolve_dedupe(final=False)
        else:
            self._take(delta, start)
        return self._after_input()

    def finish(self) -> list[Event]:
        """The current attempt's upstream ended."""
        if self.phase is not Phase.RUNNING:
            return self._drain()
        if self._dedupe is not None:
            self._resolve_dedupe(final=True)
        assert self._segmenter is not None
        segs = self._segmenter.flush()
        if not segs:  # detectors still get one final call, e.g. to reject an empty JSON answer
            segs = [Segment("", self._n, self._n, self._next_index, "blank")]
        self._pending_since = None
        self._upstream_done = True
        for i, seg in enumerate(segs):
            self._admit(seg, final=i == len(segs) - 1)
        return self._after_input()

    def fail(self, message: str) -> list[Event]:
        """The upstream broke: validate and release what arrived, record the error."""
        self._error = message
        return self.finish()

    def tick(self) -> list[Event]:
        """Time passed: past ``max_hold_ms`` an unterminated segment is validated as is."""
        deadline = self.next_deadline()
        if deadline is not None and self.clock() >= deadline and self._segmenter is not None:
            self._pending_since = None
            for seg in self._segmenter.force():
                self._admit(seg, final=False)
            return self._after_input()
        return self._drain()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` should next be called (None: no timer needed)."""
        if self.max_hold_ms is None or self._pending_since is None or self.mode != "hold":
            return None
        return self._pending_since + self.max_hold_ms / 1000.0

    def resume(self) -> None:
        """The driver started the next attempt after a regenerate verdict."""
        assert self.phase is Phase.REGENERATE
        self.phase = Phase.RUNNING
        self.feedback = None
        self._upstream_done = False

    def take_jobs(self) -> list[Job]:
        """Detector runs to start (drivers only; inline mode runs them itself)."""
        jobs, self._jobs = self._jobs, []
        return jobs

    def complete(self, job: Job, outcome: Outcome) -> list[Event]:
        """A job finished (or failed, or timed out)."""
        self._record(job, outcome)
        return self._drain()

    def _record(self, job: Job, outcome: Outcome) -> None:
        slot = self._slots.get(job.slot)
        if slot is not None and slot.outcomes[job.index] is None:
            slot.outcomes[job.index] = outcome
            self._advance()

    @property
    def done(self) -> bool:
        """Done was emitted: the call is over."""
        return self.phase is Phase.DONE

    @property
    def regenerating(self) -> bool:
        """A regeneration was decided: the driver must close the upstream, call the
        target with :attr:`feedback` and :meth:`resume`."""
        return self.phase is Phase.REGENERATE

    @property
    def terminal(self) -> str | None:
        """``"cut"``, ``"block"`` or ``"raise"`` once one ended the stream."""
        return self._terminal

    # -------------------------------------------------------------- internals

    def _take(self, text: str, start: int) -> None:
        """Text that belongs to the answer: release it (pass mode) and segment it."""
        if self.mode == "pass":
            self._release(Piece(text, start, start + len(text), True))
        assert self._segmenter is not None
        segs = self._segmenter.feed(text)
        now = self.clock()
        if (
            self.mode == "hold"
            and self.max_hold_chars is not None
            and self._segmenter.pending_chars > self.max_hold_chars
        ):
            segs += self._segmenter.force()
        if segs:
            self._pending_since = now if self._segmenter.pending_chars else None
        elif self._pending_since is None and self._segmenter.pending_chars:
            self._pending_since = now
        for seg in segs:
            self._admit(seg, final=False)

    def _resolve_dedupe(self, final: bool) -> None:
        assert self._dedupe is not None
        drop = self._dedupe.decide(final)
        if drop is None:
            return
        buf, start = self._dedupe.buf, self._dedupe_start
        self._dedupe = None
        if drop:
            edit = Edit(start, start + drop, buf[:drop])
            self._act_event("dedupe", "", (edit,), "regenerated answer repeated released text")
        self._segmenter = Segmenter(base=start + drop, first_index=self._next_index)
        if buf[drop:]:
            self._take(buf[drop:], start + drop)

    def _admit(self, seg: Segment, final: bool) -> None:
        self._next_index = seg.index + 1
        sid = self._next_slot
        self._next_slot += 1
        ctx = CheckContext.lazy(
            self.passages, self._chain, len(self._chain), self._chain_len, final
        )
        self._slots[sid] = _Slot(seg, len(self._chain), [None] * len(self.detectors))
        self._order.append(sid)
        self._chain.append(seg.text)
        self._chain_len += len(seg.text)
        for i, det in enumerate(self.detectors):
            self._jobs.append(Job(det, seg, ctx, self._deadlines[i], sid, i))

    def _after_input(self) -> list[Event]:
        if self.inline:
            while self._jobs and self.phase is not Phase.DONE:
                for job in self.take_jobs():
                    self._record(job, job.run())
        self._advance()
        return self._drain()

    def _advance(self) -> None:
        """Apply verdicts in segment order, as far as they are known."""
        while self._order and self.phase is Phase.RUNNING:
            slot = self._slots[self._order[0]]
            if not slot.ready:
                return
            del self._slots[self._order.popleft()]
            self._decide(slot)
        if (
            self.phase is Phase.RUNNING
            and self._upstream_done
            and not self._order
            and self._dedupe is None
        ):
            self._finalize()

    def _decide(self, slot: _Slot) -> None:
        seg = slot.seg
        findings: list[Finding] = []
        for det, outcome in zip(self.detectors, slot.outcomes, strict=True):
            assert outcome is not None
            if outcome.error is None:
                findings.extend(outcome.findings)
            else:
                label = "timeout" if outcome.timed_out else "error"
                msg = f"detector {det.name!r} failed: {outcome.error}"
                findings.append(Finding(det.name, label, (seg.start, seg.end), message=msg))
        now = self.clock()
        for f in findings:
            log.info("finding %s/%s at %d-%d: %s", f.detector, f.label, *f.span, f.message)
            self._emit(FindingEvent(f, seg, now))
        self._findings.extend(findings)
        verdict = self.policy.decide(findings)
        self._apply(slot, verdict.action, verdict)

    def _apply(self, slot: _Slot, action: Action, verdict: Verdict, note: str = "") -> None:
        seg = slot.seg
        everything = tuple(m.finding for m in verdict.matches)
        deciding = tuple(m.finding for m in verdict.matches if m.action == action)
        rule = next((m.rule.title for m in verdict.matches if m.action == action and m.rule), "")
        message = note or "; ".join(f.message for f in deciding if f.message)
        if isinstance(action, Regenerate):
            if self._regens < action.max_attempts and self.can_regenerate:
                self._regenerate(slot, deciding, everything, rule, message)
                return
            why = f"regenerate exhausted after {self._regens} attempt(s)"
            if not self.can_regenerate:
                why = "regenerate impossible: no target that takes feedback"
            fallback = action.otherwise or Cut()
            matches = tuple(
                Match(m.finding, m.rule, fallback) if m.action == action else m
                for m in verdict.matches
            )
            self._apply(slot, fallback, Verdict(fallback, matches), note=why)
            return
        if isinstance(action, Correct):
            self._correct(slot, action, deciding, everything, rule, message)
        elif isinstance(action, Block):
            self._block(seg, action, everything, rule, message)
        elif isinstance(action, Raise):
            self._stop(seg, "raise", everything, rule, message or action.message)
        elif isinstance(action, Cut):
            self._stop(seg, "cut", everything, rule, message)
        else:  # Allow / Warn
            if isinstance(action, Warn) and deciding:
                self._act_event("warn", rule, (), message, seg)
            if self.mode == "hold":
                self._release(Piece(seg.text, seg.start, seg.end, True))
            self._segments.append(SegmentResult(seg, "released", everything))

    def _correct(
        self,
        slot: _Slot,
        action: Correct,
        deciding: tuple[Finding, ...],
        everything: tuple[Finding, ...],
        rule: str,
        msg: str,
    ) -> None:
        seg = slot.seg
        spans = merge_spans(deciding, seg) if action.strategy == "redact" else []
        resume = self._retract_for(seg)
        pieces: list[Piece] = []
        edits: list[Edit] = []
        fate: Fate
        pos = seg.start
        for (s, e), finding in spans:
            pieces.append(Piece(self._slice(pos, s), pos, s, True))
            mask = mask_for(action, finding, e - s)
            edits.append(Edit(s, e, self._slice(s, e), mask))
            pieces.append(Piece(mask, s, e, False))
            pos = e
        if spans:
            pieces.append(Piece(self._slice(pos, seg.end), pos, seg.end, True))
            kind, fate = "redact", "redacted"
        else:  # drop, or a redact whose findings have no span inside the segment
            edits.append(Edit(seg.start, seg.end, seg.text))
            kind, fate = "drop", "dropped"
        self._act_event(kind, rule, tuple(edits), msg, seg)
        if resume > seg.end:  # pass mode: give back what followed the corrected segment
            pieces.append(Piece(self._slice(seg.end, resume), seg.end, resume, True))
        for piece in pieces:
            self._release(piece)
        self._segments.append(SegmentResult(seg, fate, everything))

    def _block(
        self, seg: Segment, action: Block, everything: tuple[Finding, ...], rule: str, msg: str
    ) -> None:
        self._retract_for(seg)
        earlier = [Edit(p.start, p.end, p.text) for p in self._retract(0) if p.verbatim]
        self._end_at(seg, "block", "blocked", everything, rule, msg, earlier, action.message)
        self._release(Piece(action.message, 0, self._n, False))
        self._terminal = "block"
        self._finalize()

    def _stop(
        self, seg: Segment, kind: str, everything: tuple[Finding, ...], rule: str, msg: str
    ) -> None:
        fate: Fate = "raised" if kind == "raise" else "cut"
        self._end_at(seg, kind, fate, everything, rule, msg)
        self._terminal = kind
        self._finalize()

    def _end_at(
        self,
        seg: Segment,
        kind: str,
        fate: Fate,
        everything: tuple[Finding, ...],
        rule: str,
        msg: str,
        earlier: Sequence[Edit] = (),
        replacement: str = "",
    ) -> None:
        """Remove everything received from ``seg`` on (and ``earlier`` edits), record it."""
        self._retract_for(seg)
        rest = Edit(seg.start, self._n, self._slice(seg.start, self._n), replacement)
        self._act_event(kind, rule, (*earlier, rest), msg, seg)
        self._segments.append(SegmentResult(seg, fate, everything))

    def _regenerate(
        self,
        slot: _Slot,
        deciding: tuple[Finding, ...],
        everything: tuple[Finding, ...],
        rule: str,
        msg: str,
    ) -> None:
        seg = slot.seg
        self._end_at(seg, "regenerate", "regenerated", everything, rule, msg)
        self._regens += 1
        self._attempt += 1
        self._drop_pending()
        self._chain = self._chain[: slot.chain_pos]
        self._chain_len = sum(map(len, self._chain))
        self._next_index = seg.index
        self._dedupe = RepeatFilter(["".join(self._chain), self._ledger.text])
        self._dedupe_start = self._n
        self._segmenter = None
        self.feedback = Feedback(
            released=self._ledger.text,
            sentence=seg.text,
            findings=deciding,
            attempt=self._regens,
            evidence=tuple(e for f in deciding for e in f.evidence),
        )
        self.phase = Phase.REGENERATE

    def _drop_pending(self) -> None:
        self._slots.clear()
        self._order.clear()
        self._jobs.clear()
        self._pending_since = None

    def _finalize(self) -> None:
        self._drop_pending()
        self.phase = Phase.DONE
        if self._hold_all:
            for piece in self._ledger.pieces:
                self._show(piece)
        self.result = GuardResult(
            passed=self._terminal is None,
            text=self._ledger.text,
            segments=tuple(self._segments),
            findings=tuple(self._findings),
            actions=tuple(self._actions),
            upstream="".join(self._upstream),
            attempts=self._attempt,
            error=self._error,
        )
        self._emit(Done(self.result, self.clock()))

    # ---------------------------------------------------------------- output

    def _slice(self, start: int, end: int) -> str:
        if len(self._upstream) > 1:  # join once, then slice from the single string
            self._upstream = ["".join(self._upstream)]
        return self._upstream[0][start:end] if self._upstream else ""

    def _release(self, piece: Piece) -> None:
        if piece.text:
            self._ledger.add(piece)
            if not self._hold_all:
                self._show(piece)

    def _show(self, piece: Piece) -> None:
        source = (piece.start, piece.end) if piece.verbatim else None
        self._emit(TextDelta(piece.text, source, self.clock()))

    def _retract(self, pos: int) -> list[Piece]:
        before = self._ledger.length
        removed = self._ledger.retract_from(pos)
        if removed and not self._hold_all:
            text = "".join(p.text for p in removed)
            self._emit(Retraction(self._ledger.length, before, text, self.clock()))
        return removed

    def _retract_for(self, seg: Segment) -> int:
        """Pass mode: take back released text from ``seg`` on; return how far it reached."""
        if self.mode != "pass":
            return seg.end
        reached = self._ledger.released_to
        self._retract(seg.start)
        return reached

    def _act_event(
        self,
        action: str,
        rule: str,
        edits: tuple[Edit, ...],
        message: str,
        segment: Segment | None = None,
    ) -> None:
        event = ActionEvent(action, rule, edits, message, self._attempt, self.clock(), segment)
        self._actions.append(event)
        log.log(
            logging.INFO if action == "warn" else logging.WARNING,
            "action %s (rule %s) on %s: %s",
            action,
            rule or "-",
            [(e.start, e.end) for e in edits],
            message,
        )
        self._emit(event)

    def _emit(self, event: Event) -> None:
        self._events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events
