"""A progress line for long evaluation runs: rows done, rows per second, time left.

On a terminal the line is rewritten in place; otherwise (a log file, a pipe) a
full line is written at most every ``interval`` seconds, and once at the end, so
logs stay short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts rows towards ``total`` and reports on ``stream`` (default: stderr).

    ``clock`` is the time source (``time.monotonic``); tests pass their own.
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.last = self.start
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False

    def line(self, label: str) -> str:
        """The current report: ``label  done/total rows  rate rows/s  ETA s``."""
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"{label:>16} {self.done}/{self.total} rows  {rate:.1f} rows/s  ETA {max(eta, 0):.0f}s"
        )

    def step(self, label: str, n: int = 1) -> None:
        """``n`` more rows done (of the part named ``label``); report when it is time."""
        self.done += n
        now = self.clock()
        finished = self.done >= self.total
        if not self.tty and now - self.last < self.interval and not finished:
            return
        self.last = now
        text = self.line(label)
        if self.tty:
            # \x1b[K clears what a longer previous line left behind
            self.stream.write("\r" + text + "\x1b[K" + ("\n" if finished else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
