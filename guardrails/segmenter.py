"""Incremental, I/O-free sentence segmentation of streamed LLM output.

Text arrives in deltas of any size; :class:`Segmenter` emits each
:class:`~detectors.base.Segment` as soon as its end is certain. Where a segment
ends never depends on how the text was cut into deltas: when the text seen so
far does not settle a boundary, the segmenter waits for more (or for
:meth:`Segmenter.flush`).

Boundaries:

* after ``.``/``!``/``?``/``...``/``…`` (plus closing quotes and brackets) that
  is followed by whitespace, unless the word is a decimal, a version, a URL, an
  abbreviation, an initial or a numbered-list marker at the start of a line;
  ambiguous words (``etc.``, ``Inc.``, ``U.S.``, ``a.m.``, an ellipsis, a period
  standing alone as in ``example . com``) end a sentence only when the next
  non-space character is an uppercase letter;
* right after a CJK full stop (ideographic, or fullwidth ``.``/``!``/``?``) and
  its closers, no space needed;
* before the whitespace run that holds a newline (outside code fences), so list
  items, headings and paragraphs are separate segments;
* around a Markdown code fence, which is one ``"code"`` segment from the
  newline before its opening line to the end of its closing line.

Whitespace after a boundary starts the next segment, so segments look like
``"Hello world."``, ``" How are you?"``, ``"\\n\\n- item one"``.
"""

from __future__ import annotations

import re
from collections import deque
from enum import Enum, auto

from detectors.base import Segment, SegmentKind

__all__ = ["Segmenter", "split"]

# How much already-fed text the rules may look back at. Judging a word only from
# text[end - _LOOKBEHIND:end] keeps decisions independent of the delta cuts and
# lets the segmenter drop everything older from its scan window.
_LOOKBEHIND = 64

_TERMINALS = ".!?…"
# Curly quotes and fullwidth forms are the point here, not look-alike typos.
_CLOSERS = "\"'”’)]»」』）】"  # noqa: RUF001
_OPENERS = "\"'“‘([«「『（【"  # noqa: RUF001
_CJK_STOPS = "。！？．"  # noqa: RUF001

# What ends a stretch of ordinary words: whitespace after a terminal or closer (a
# sentence may end there), a CJK full stop, or a whitespace run that holds a
# newline or reaches the end of the text seen so far (a newline may still come).
# Plain words in between are skipped in one regex search, not one by one.
_WORD_EVENT = re.compile(
    rf"(?P<end>(?<=[{re.escape(_TERMINALS + _CLOSERS)}])\s)"
    rf"|(?P<cjk>[{_CJK_STOPS}])"
    r"|(?P<space>[^\S\n]*\n|\s+\Z)"
)
_LAST_WORD = re.compile(r"(?<!\S)\S*\Z")
_NON_SPACE = re.compile(r"\S")
_PAST_CJK = re.compile(rf"[^{re.escape(_CJK_STOPS + _CLOSERS)}]")
_PUNCT_RUN = re.compile(rf"[{re.escape(_TERMINALS)}]+\Z")
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # U.S, a.m, e.g (final dot stripped)
_ET = re.compile(r"(?:^|\W)et\s+\Z", re.IGNORECASE)
_SPACES = re.compile(" *")
_LINE_BLANKS = re.compile(r"[^\S\n]*")
_FENCE_RUNS = {"`": re.compile("`*"), "~": re.compile("~*")}
# Inside a fence only lines that start with up to 3 spaces and the fence
# character can close it; jump straight to those (or to a line still unknown).
_FENCE_LINES = {c: re.compile(rf"\n(?= {{0,3}}(?:{re.escape(c)}|\Z))") for c in _FENCE_RUNS}

_NEVER_END = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "cf", "fig", "approx"]
)
_END_IF_UPPER = frozenset(["etc", "inc", "ltd"])
_MAX_LIST_DIGITS = 9


class _Verdict(Enum):
    """What the end of a word means for the whitespace that follows it."""

    END = auto()  # a sentence ends here
    NOT = auto()  # no boundary
    UPPER = auto()  # a boundary if the next non-space character is uppercase
    DIGIT = auto()  # a boundary unless the next non-space character is a digit ("No. 5")


class _Mode(Enum):
    WORD = auto()  # inside non-space text
    SPACE = auto()  # inside a whitespace run
    CJK = auto()  # after a CJK full stop, reading further stops and closers
    LINE = auto()  # at a line start, reading a possible fence opener
    FENCE = auto()  # inside a code fence


class _Fence(Enum):
    """Where the scan is on a line inside a code fence (finding the closing line)."""

    BODY = auto()  # the line cannot close the fence: skip to its newline
    INDENT = auto()  # leading spaces (at most 3)
    RUN = auto()  # fence characters
    TRAIL = auto()  # blanks after enough fence characters


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of ``pattern`` (which can match empty) matched at ``pos``."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


def _judge(word: str, complete: bool, line_start: bool, before: str) -> _Verdict:
    """Decide whether ``word``, followed by whitespace, ends a sentence.

    ``complete`` is False when the word is longer than the look-behind and only
    its tail is known (it is then no abbreviation). ``before`` is the text just
    before the word (for "et al.").
    """
    core = word.rstrip(_CLOSERS)
    m = _PUNCT_RUN.search(core)
    if m is None:
        return _Verdict.NOT
    run = m.group()
    if "?" in run or "!" in run:
        return _Verdict.END
    if run != ".":  # an ellipsis: "Wait... what" goes on, "Wait... What" does not
        return _Verdict.UPPER
    stem = core[: m.start()]
    if not complete:
        return _Verdict.END
    if not stem:  # a period standing alone, as in "example . com" or "e x a m p l e . c o m"
        return _Verdict.UPPER
    bare = stem.lstrip(_OPENERS)
    low = bare.lower()
    is_marker = stem.isascii() and stem.isdigit() and len(stem) <= _MAX_LIST_DIGITS
    if line_start and is_marker and core == word:  # "1. item"
        return _Verdict.NOT
    if low in _NEVER_END or (low == "al" and _ET.search(before)):
        return _Verdict.NOT
    if low == "no":
        return _Verdict.DIGIT
    if low in _END_IF_UPPER or _ACRONYM.fullmatch(bare):
        return _Verdict.UPPER
    if len(bare) == 1 and bare.isupper():  # an initial: "J. R. R. Tolkien"
        return _Verdict.NOT
    return _Verdict.END


class Segmenter:
    """Split streamed text into sentence, list-item, code-block and blank segments.

    ``base`` is the global offset of the first character fed (segment offsets are
    ``base`` plus the position in the fed text); ``first_index`` is the
    ``Segment.index`` of the first segment emitted. Emitted segments tile the fed
    text exactly, and where they end does not depend on how it was cut.
    """

    def __init__(self, *, base: int = 0, first_index: int = 0) -> None:
        self._base = base
        self._index = first_index
        self._offset = 0  # characters fed so far
        self._seg_start = 0  # start of the pending (not yet emitted) text
        # Pending text as fed, with a read offset into the first part, so that
        # emitting many segments out of one big delta copies each character once.
        self._parts: deque[str] = deque()
        self._head = 0
        # The scan window: the last _LOOKBEHIND characters before the latest
        # delta plus that delta; _win_start is its offset in the fed text.
        self._win = ""
        self._win_start = 0
        self._reset()

    def _reset(self) -> None:
        """Scan state of a fresh text: at a line start, nothing pending."""
        self._pos = self._offset  # everything before this has been scanned
        self._mode = _Mode.SPACE
        self._verdict = _Verdict.NOT
        self._space_start = self._offset
        self._saw_newline = True  # the start of the text counts as a line start
        self._indent = 0  # characters after the run's last newline
        self._indent_ok = True  # ... and they are all spaces
        self._word_start = self._offset
        self._line_word = True  # the current word starts a line
        self._in_code = False  # the pending text belongs to a code fence
        self._fence_char = ""
        self._fence_len = 0
        self._run = 0  # characters counted by the LINE mode or the fence phases
        self._phase = _Fence.BODY

    @property
    def pending_chars(self) -> int:
        """Number of characters fed but not yet emitted."""
        return self._offset - self._seg_start

    @property
    def offset(self) -> int:
        """Global offset just after the last fed character."""
        return self._base + self._offset

    def feed(self, delta: str) -> list[Segment]:
        """Add ``delta``; return the segments it completed, in order."""
        if not delta:
            return []
        self._win = self._win[-_LOOKBEHIND:] + delta
        self._offset += len(delta)
        self._win_start = self._offset - len(self._win)
        self._parts.append(delta)
        out: list[Segment] = []
        while self._pos < self._offset:
            i = self._pos - self._win_start
            if self._mode is _Mode.WORD:
                self._scan_word(i, out)
            elif self._mode is _Mode.SPACE:
                self._scan_space(i, out)
            elif self._mode is _Mode.CJK:
                self._scan_cjk(i, out)
            elif self._mode is _Mode.LINE:
                self._scan_line(i)
            else:
                self._scan_fence(i, out)
        return out

    def flush(self) -> list[Segment]:
        """End of text: emit what is pending; the next feed starts a new text."""
        out: list[Segment] = []
        if (
            self._mode is _Mode.SPACE
            and not self._saw_newline
            and self._verdict in (_Verdict.UPPER, _Verdict.DIGIT)
        ):
            self._cut(self._space_start, out)  # the end of the text ends the sentence
        if self._mode is _Mode.LINE and self._run >= 3:
            self._in_code = True  # an opening fence line that never got a body
        self._cut(self._offset, out)
        self._win = ""  # look-behind does not reach into the previous text
        self._reset()
        return out

    def force(self) -> list[Segment]:
        """Emit all pending text now as one segment; later text continues normally."""
        out: list[Segment] = []
        self._cut(self._offset, out)
        return out

    # ------------------------------------------------------------------ scanning
    # Each _scan_* method starts at window index i, consumes what it can decide
    # and either changes mode or advances self._pos to the end of the window.

    def _scan_word(self, i: int, out: list[Segment]) -> None:
        m = _WORD_EVENT.search(self._win, i)
        if m is None:
            self._skip_words(i, len(self._win))
            self._pos = self._offset
            return
        j = m.start()
        if m.lastgroup == "cjk":
            self._mode = _Mode.CJK
            self._pos = self._win_start + j + 1
        elif m.lastgroup == "space":
            self._enter_space(j, _Verdict.NOT)
        else:
            self._skip_words(i, j)
            verdict = self._judge_word(j)
            self._enter_space(j, verdict)
            if verdict is _Verdict.END:
                self._cut(self._win_start + j, out)

    def _skip_words(self, i: int, j: int) -> None:
        """Move the word start past any whitespace in window[i:j]."""
        m = _LAST_WORD.search(self._win, i, j)
        if m is not None and m.start() > i:
            self._word_start = self._win_start + m.start()
            self._line_word = False

    def _judge_word(self, j: int) -> _Verdict:
        lo = max(0, j - _LOOKBEHIND)
        ws = self._word_start - self._win_start
        complete = ws >= lo
        word = self._win[max(ws, lo) : j]
        before = self._win[lo:ws] if complete else ""
        return _judge(word, complete, self._line_word, before)

    def _scan_space(self, i: int, out: list[Segment]) -> None:
        win = self._win
        m = _NON_SPACE.search(win, i)
        j = len(win) if m is None else m.start()
        chunk = win[i:j]
        nl = chunk.rfind("\n")
        if nl >= 0:
            if not self._saw_newline:
                self._saw_newline = True
                # A newline ends the segment before this run, whatever the verdict.
                self._cut(self._space_start, out)
            chunk = chunk[nl + 1 :]
            self._indent, self._indent_ok = 0, True
        self._indent += len(chunk)
        self._indent_ok = self._indent_ok and not chunk.strip(" ")
        self._pos = self._win_start + j
        if m is None:
            return
        nxt = win[j]
        if self._saw_newline:
            if self._indent <= 3 and self._indent_ok and nxt in _FENCE_RUNS:
                self._mode, self._word_start, self._run = _Mode.LINE, self._pos, 0
                self._fence_char = nxt
            else:
                self._enter_word(self._pos, line=True)
            return
        if (self._verdict is _Verdict.UPPER and nxt.isupper()) or (
            self._verdict is _Verdict.DIGIT and not nxt.isdigit()
        ):
            self._cut(self._space_start, out)
        self._enter_word(self._pos, line=False)

    def _scan_cjk(self, i: int, out: list[Segment]) -> None:
        m = _PAST_CJK.search(self._win, i)
        if m is None:
            self._pos = self._offset
            return
        j = m.start()
        self._cut(self._win_start + j, out)
        if self._win[j].isspace():
            self._enter_space(j, _Verdict.NOT)
        else:
            self._enter_word(self._win_start + j, line=False)

    def _scan_line(self, i: int) -> None:
        win = self._win
        e = _match_end(_FENCE_RUNS[self._fence_char], win, i)
        self._run += e - i
        self._pos = self._win_start + e
        if e == len(win):
            return  # the run may go on
        if self._run >= 3:
            self._mode, self._phase = _Mode.FENCE, _Fence.BODY
            self._fence_len, self._in_code = self._run, True
        else:
            self._enter_word(self._word_start, line=True)

    def _scan_fence(self, i: int, out: list[Segment]) -> None:
        win = self._win
        if self._phase is _Fence.BODY:
            m = _FENCE_LINES[self._fence_char].search(win, i)
            if m is None:
                self._pos = self._offset
            else:
                self._pos, self._phase, self._run = self._win_start + m.end(), _Fence.INDENT, 0
            return
        pattern = {
            _Fence.INDENT: _SPACES,
            _Fence.RUN: _FENCE_RUNS[self._fence_char],
            _Fence.TRAIL: _LINE_BLANKS,
        }[self._phase]
        e = _match_end(pattern, win, i)
        self._run += e - i
        self._pos = self._win_start + e
        if e == len(win):
            return  # the line may go on
        if self._phase is _Fence.INDENT:
            ok = self._run <= 3 and win[e] == self._fence_char
            self._phase, self._run = (_Fence.RUN if ok else _Fence.BODY), 0
        elif self._phase is _Fence.RUN:
            self._phase = _Fence.TRAIL if self._run >= self._fence_len else _Fence.BODY
        elif win[e] == "\n":  # the closing fence line ends the code segment
            self._cut(self._pos, out)
            self._in_code = False
            self._enter_space(e, _Verdict.NOT)
        else:
            self._phase = _Fence.BODY

    def _enter_space(self, j: int, verdict: _Verdict) -> None:
        self._mode, self._verdict = _Mode.SPACE, verdict
        self._pos = self._space_start = self._win_start + j
        self._saw_newline, self._indent, self._indent_ok = False, 0, True

    def _enter_word(self, start: int, *, line: bool) -> None:
        self._mode, self._pos = _Mode.WORD, start
        self._word_start, self._line_word = start, line

    # ------------------------------------------------------------------ emitting

    def _cut(self, end: int, out: list[Segment]) -> None:
        """Emit the pending text up to ``end`` (nothing if it is empty)."""
        if end <= self._seg_start:
            return  # e.g. a boundary decided late, before a forced cut
        text = self._take(end - self._seg_start)
        kind: SegmentKind = "blank" if text.isspace() else "code" if self._in_code else "text"
        start = self._base + self._seg_start
        out.append(Segment(text, start, start + len(text), self._index, kind))
        self._index += 1
        self._seg_start = end

    def _take(self, n: int) -> str:
        """Remove and return the next ``n`` pending characters."""
        pieces: list[str] = []
        while n > 0:
            part = self._parts[0]
            avail = len(part) - self._head
            if n < avail:
                pieces.append(part[self._head : self._head + n])
                self._head += n
                break
            pieces.append(part[self._head :] if self._head else part)
            self._parts.popleft()
            self._head = 0
            n -= avail
        return "".join(pieces)


def split(text: str) -> list[Segment]:
    """Segment a whole text at once (offsets from 0, indices from 0)."""
    segmenter = Segmenter()
    return segmenter.feed(text) + segmenter.flush()
