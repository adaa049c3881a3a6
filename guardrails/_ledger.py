"""The visible output as pieces mapped back to the upstream, so it can be retracted."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ledger", "Piece"]


@dataclass(frozen=True, slots=True)
class Piece:
    """Released text. Verbatim pieces copy ``upstream[start:end]``; others were
    written by the guard in place of that range (a mask, a block message)."""

    text: str
    start: int
    end: int
    verbatim: bool


class Ledger:
    """Released pieces in output order, with their upstream anchors increasing."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self.length = 0

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)

    @property
    def released_to(self) -> int:
        """Upstream offset up to which text has been released or replaced."""
        return self.pieces[-1].end if self.pieces else 0

    def add(self, piece: Piece) -> None:
        self.pieces.append(piece)
        self.length += len(piece.text)

    def retract_from(self, pos: int) -> list[Piece]:
        """Remove every piece at or after upstream offset ``pos`` (splitting a verbatim
        piece that straddles it) and return what was removed, in order."""
        removed: list[Piece] = []
        while self.pieces and self.pieces[-1].end > pos:
            last = self.pieces.pop()
            self.length -= len(last.text)
            if last.start < pos:
                if not last.verbatim:  # masks are never split: they sit inside one segment
                    raise AssertionError(f"cannot retract into a replacement at {pos}")
                cut = pos - last.start
                self.add(Piece(last.text[:cut], last.start, pos, True))
                last = Piece(last.text[cut:], pos, last.end, True)
            removed.append(last)
        removed.reverse()
        return removed
