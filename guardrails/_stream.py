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
from typing import Literal, cast

from detectors.base import CheckContext, Detector, Finding, Passage, Segment
from guardrails._edits import RepeatFilter, annotation, mask_for
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
from policies import Action, Allow, Block, Correct, Cut, Match, Raise, Regenerate, Verdict, Warn
from policies.rules import Policy

__all__ = ["Mode", "Phase", "StreamGuard"]

log = logging.getLogger("guardrails")
log.addHandler(logging.NullHandler())  # a library logs; the application decides where to
Mode = Literal["hold", "pass"]


class Phase(Enum):
    RUNNING = "running"  # accepting upstream text
    CALL = "call"  # waiting for the driver to make the LLM call in ``StreamGuard.call``
    DONE = "done"  # Done was emitted; nothing more will happen


@dataclass(frozen=True, slots=True)
class LLMCall:
    """New text the core needs: a continuation (regenerate) or one sentence (rewrite).

    ``via`` is ``None`` for the guarded call itself, else a fallback LLM's name.
    """

    kind: Literal["regenerate", "rewrite"]
    via: str | None
    feedback: Feedback


@dataclass(slots=True)
class _Slot:
    seg: Segment
    chain_pos: int
    outcomes: list[Outcome | None]

    @property
    def ready(self) -> bool:
        return all(o is not None for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class _Applying:
    """One action being carried out on one segment, with the verdict behind it."""

    slot: _Slot
    verdict: Verdict
    action: Action
    note: str

    @property
    def everything(self) -> tuple[Finding, ...]:
        return tuple(m.finding for m in self.verdict.matches)

    @property
    def deciding(self) -> tuple[Finding, ...]:
        return tuple(m.finding for m in self.verdict.matches if m.action == self.action)

    @property
    def rule(self) -> str:
        return next(
            (m.rule.title for m in self.verdict.matches if m.action == self.action and m.rule), ""
        )

    @property
    def message(self) -> str:
        return self.note or "; ".join(f.message for f in self.deciding if f.message)


_DROP = Correct("drop")
_IN_PLACE = ("redact", "fix_numbers", "annotate")  # corrections that can apply together


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
        can_call: bool = False,
        llms: frozenset[str] = frozenset(),
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
        self.can_call = can_call
        self.llms = llms
        self.inline = inline
        self.clock = clock
        self.on_event = on_event

        # A block replaces the whole output, so in hold mode a policy that can block
        # must hold the whole output: nothing of a blocked answer is ever shown.
        self._hold_all = mode == "hold" and policy.can_block
        self.phase = Phase.RUNNING
        self.call: LLMCall | None = None
        self._rewriting: tuple[_Applying, Correct] | None = None
        self._tally: dict[int, int] = {}
        self._memo: dict[str, object] = {}
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
        """The driver started the next attempt after a ``regenerate`` call."""
        assert self.phase is Phase.CALL and self.call is not None
        assert self.call.kind == "regenerate"
        self.phase = Phase.RUNNING
        self.call = None
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
            self.passages, self._chain, len(self._chain), self._chain_len, final, self._memo
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
        verdict = self.policy.decide(findings, self._tally)
        self._apply(slot, verdict.action, verdict)

    def _apply(self, slot: _Slot, action: Action, verdict: Verdict, note: str = "") -> None:
        """Carry out ``action`` (the verdict's, or a fallback of it) on ``slot``."""
        app = _Applying(slot, verdict, action, note)
        if isinstance(action, Regenerate):
            via = self._regen_target(action)
            if via is not None:
                self._regenerate(app, action, via)
                return
            why = f"regenerate exhausted after {self._regens} attempt(s)"
            if not (self.can_call or action.fallbacks):
                why = "regenerate impossible: no target that takes feedback"
            self._fall_back(app, action.otherwise or Cut(), why)
        elif isinstance(action, Correct):
            self._correct(app, action)
        elif isinstance(action, Block):
            self._retract_for(slot.seg)
            earlier = [Edit(p.start, p.end, p.text) for p in self._retract(0) if p.verbatim]
            self._end_at(app, "block", "blocked", earlier, action.message)
            self._release(Piece(action.message, 0, self._n, False))
            self._terminal = "block"
            self._finalize()
        elif isinstance(action, (Cut, Raise)):
            if isinstance(action, Raise):  # the caller's exception leads with the rule's message
                why = f"{action.message}: {app.message}" if app.message else action.message
                app = _Applying(slot, verdict, action, why)
            self._end_at(app, action.kind, "raised" if isinstance(action, Raise) else "cut")
            self._terminal = action.kind
            self._finalize()
        else:  # Allow / Warn
            if isinstance(action, Warn) and app.deciding:
                self._act_event("warn", app.rule, (), app.message, slot.seg)
            if self.mode == "hold":
                self._release(Piece(slot.seg.text, slot.seg.start, slot.seg.end, True))
            self._segments.append(SegmentResult.of(slot.seg, "released", app.everything))

    def _fall_back(self, app: _Applying, action: Action, why: str) -> None:
        matches = tuple(
            Match(m.finding, m.rule, action) if m.action == app.action else m
            for m in app.verdict.matches
        )
        self._apply(app.slot, action, Verdict(action, matches), note=why)

    def _correct(self, app: _Applying, action: Correct) -> None:
        seg = app.slot.seg
        strategy = action.strategy
        if strategy == "rewrite":
            if not self.can_call:
                self._fall_back(app, action.otherwise or _DROP, "rewrite impossible: no target")
                return
            self._ask(app, "rewrite", None, None)
            self._rewriting = (app, action)
            return
        if strategy == "fix_numbers" and not all(
            f.replacement is not None and seg.start <= f.span[0] < f.span[1] <= seg.end
            for f in app.deciding
        ):
            why = "fix_numbers: no evidence value to put in place"
            self._fall_back(app, action.otherwise or _DROP, why)
            return
        # Every in-place correction asked for on this segment applies together: the
        # redactions first (they win where spans overlap), then the number fixes that
        # have a value, then the annotations.
        asked = (
            [
                m
                for m in app.verdict.matches
                if isinstance(m.action, Correct) and m.action.strategy in _IN_PLACE
            ]
            if strategy in _IN_PLACE
            else []
        )
        spans: list[tuple[int, int, str]] = []
        groups: dict[str, list[Edit]] = {}
        rules: dict[str, str] = {}
        notes: dict[str, list[str]] = {}
        for kind in _IN_PLACE:
            for m in (m for m in asked if cast(Correct, m.action).strategy == kind):
                act = cast(Correct, m.action)
                rules.setdefault(kind, m.rule.title if m.rule else "")
                if m.finding.message and m.finding.message not in notes.setdefault(kind, []):
                    notes[kind].append(m.finding.message)
                if kind == "annotate":
                    marker = annotation(act.marker, (m.finding,))
                    if not any(e.replacement == marker for e in groups.get(kind, ())):
                        groups.setdefault(kind, []).append(Edit(seg.end, seg.end, "", marker))
                    continue
                start, end = max(m.finding.span[0], seg.start), min(m.finding.span[1], seg.end)
                if start >= end or (kind == "fix_numbers" and m.finding.replacement is None):
                    continue
                if any(start < e and s < end for s, e, _ in spans):
                    continue  # overlaps a redaction already made
                text = mask_for(act, m.finding, end - start)
                spans.append((start, end, text))
                groups.setdefault(kind, []).append(Edit(start, end, self._slice(start, end), text))
        if not groups:  # drop, or a redact whose findings have no span inside the segment
            drop = ("drop", app.rule, (Edit(seg.start, seg.end, seg.text),), app.message)
            self._replace(app, [drop], None, "dropped")
            return
        fate: Fate = "redacted" if "redact" in groups else "corrected"
        events = [
            (k, rules.get(k, app.rule), tuple(edits), app.note or "; ".join(notes.get(k, ())))
            for k, edits in groups.items()
        ]
        self._replace(app, events, sorted(spans), fate)

    def _replace(
        self,
        app: _Applying,
        events: list[tuple[str, str, tuple[Edit, ...], str]],
        spans: list[tuple[int, int, str]] | None,
        fate: Fate,
    ) -> None:
        """Release the segment with ``spans`` replaced (None: nothing of it) and record
        one action event per (kind, rule, edits, message). Zero-width edits (annotations)
        are appended at their position."""
        seg = app.slot.seg
        resume = self._retract_for(seg)
        for kind, rule, edits, message in events:
            self._act_event(kind, rule, edits, message, seg)
        if spans is not None:
            pos = seg.start
            for s, e, text in spans:
                self._release(Piece(self._slice(pos, s), pos, s, True))
                self._release(Piece(text, s, e, False))
                pos = e
            self._release(Piece(self._slice(pos, seg.end), pos, seg.end, True))
            for _, _, edits, _ in events:
                for edit in edits:
                    if edit.start == edit.end:
                        self._release(Piece(edit.replacement, edit.start, edit.end, False))
        if resume > seg.end:  # pass mode: give back what followed the corrected segment
            self._release(Piece(self._slice(seg.end, resume), seg.end, resume, True))
        self._segments.append(SegmentResult.of(seg, fate, app.everything))

    def rewritten(self, text: str | None, error: str | None = None) -> list[Event]:
        """The driver's answer to a ``rewrite`` call (``None`` and ``error`` if it failed).

        The rewrite is checked by the same detectors, on the spot; it replaces the
        sentence only if the policy lets it through.
        """
        assert self.phase is Phase.CALL and self._rewriting is not None
        app, action = self._rewriting
        self._rewriting = None
        self.call = None
        self.phase = Phase.RUNNING
        seg = app.slot.seg
        otherwise = action.otherwise or _DROP
        if text is None or not text.strip():
            self._fall_back(app, otherwise, f"rewrite failed: {error or 'empty answer'}")
        else:
            # keep the sentence's own leading whitespace; the model's spacing is noise
            text = seg.text[: len(seg.text) - len(seg.text.lstrip())] + text.strip()
            probe = Segment(text, seg.start, seg.start + len(text), seg.index, seg.kind)
            ctx = CheckContext(self.passages, "", final=False, memo=self._memo)
            findings: list[Finding] = []
            for i, det in enumerate(self.detectors):
                outcome = Job(det, probe, ctx, self._deadlines[i], -1, i).run()
                findings += outcome.findings
                if outcome.error is not None:
                    findings.append(Finding(det.name, "error", (probe.start, probe.end)))
            check = self.policy.decide(findings)
            if isinstance(check.action, (Allow, Warn)):
                edit = Edit(seg.start, seg.end, seg.text, text)
                rewrite = ("rewrite", app.rule, (edit,), app.message)
                self._replace(app, [rewrite], [(seg.start, seg.end, text)], "rewritten")
            else:
                why = "; ".join(f"{f.detector}/{f.label}" for f in findings)
                self._fall_back(app, otherwise, f"rewrite failed its own check: {why}")
        self._advance()
        return self._drain()

    def _end_at(
        self,
        app: _Applying,
        kind: str,
        fate: Fate,
        earlier: Sequence[Edit] = (),
        replacement: str = "",
    ) -> None:
        """Remove everything received from the segment on (and ``earlier`` edits), record it."""
        seg = app.slot.seg
        self._retract_for(seg)
        rest = Edit(seg.start, self._n, self._slice(seg.start, self._n), replacement)
        self._act_event(kind, app.rule, (*earlier, rest), app.message, seg)
        self._segments.append(SegmentResult.of(seg, fate, app.everything))

    def _regen_target(self, action: Regenerate) -> str | None:
        """Who answers the next regeneration: "" the guarded call, or a fallback LLM name;
        None when every target has used its ``max_attempts``."""
        if action.max_attempts == 0:
            return None
        targets = ([""] if self.can_call else []) + [n for n in action.fallbacks if n in self.llms]
        turn = self._regens // action.max_attempts
        return targets[turn] if turn < len(targets) else None

    def _regenerate(self, app: _Applying, action: Regenerate, via: str) -> None:
        slot = app.slot
        seg = slot.seg
        self._end_at(app, "regenerate", "regenerated")
        self._ask(app, "regenerate", via or None, action.feedback)
        self._regens += 1
        self._attempt += 1
        self._drop_pending()
        self._chain = self._chain[: slot.chain_pos]
        self._chain_len = sum(map(len, self._chain))
        self._next_index = seg.index
        self._dedupe = RepeatFilter(["".join(self._chain), self._ledger.text])
        self._dedupe_start = self._n
        self._segmenter = None

    def _ask(
        self,
        app: _Applying,
        kind: Literal["regenerate", "rewrite"],
        via: str | None,
        template: str | None,
    ) -> None:
        """Pause: the driver must make this LLM call before anything else happens."""
        feedback = Feedback(
            released=self._ledger.text,
            sentence=app.slot.seg.text,
            findings=app.deciding,
            attempt=self._regens + 1,
            evidence=tuple(e for f in app.deciding for e in f.evidence),
            kind=kind,
            template=template,
        )
        self.call = LLMCall(kind, via, feedback)
        self.phase = Phase.CALL

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
