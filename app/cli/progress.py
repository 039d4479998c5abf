"""A plain-text progress line on stderr for long CLI jobs (indexing, downloads).

On a terminal it redraws one line in place; when stderr is a file or a pipe it prints a full
line per step instead (each 10 %, a new phase, or a minute when the total is unknown), so logs
stay short and readable.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

BAR_WIDTH = 24
PIPE_INTERVAL_S = 60.0  # without a total, a pipe gets a line a minute
PIPE_STEPS = 10  # with one, a line each tenth
TTY_INTERVAL_S = 0.1


def format_duration(seconds: float | None) -> str:
    """`1:02:03`, `2:03`, or `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds > 360_000:
        return "--:--"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def shorten(text: str, width: int) -> str:
    """Keep the end of a path (the file name matters most): `…/2021/IMG_0042.jpg`."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if width > 1 else "…"


def render(
    done: int,
    total: int,
    rate: float,
    eta_s: float | None,
    current: str | None,
    width: int,
    unit: str = "photos",
    skipped: int = 0,
) -> str:
    """One progress line no wider than `width`: bar, N/M, rate, ETA, skipped, then the current
    file (the end of its path)."""
    if total > 0:
        frac = min(max(done / total, 0.0), 1.0)
        filled = int(frac * BAR_WIDTH)
        bar = "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"
        head = f"{bar} {done}/{total} {frac:4.0%}"
    else:
        head = f"{done} {unit}"
    head += f"  {rate:.1f} {unit}/s  ETA {format_duration(eta_s)}"
    if skipped:
        head += f"  {skipped} skipped"
    if current:
        room = width - len(head) - 2
        if room >= 8:
            head += "  " + shorten(current, room)
    return head[:width]


class ProgressLine:
    """Redraws a status line in place on a terminal; prints occasional lines to a pipe."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False
        self._interval = TTY_INTERVAL_S if self.tty else PIPE_INTERVAL_S
        self._phase: str | None = None
        self._step = -1

    def width(self) -> int:
        return max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def show(self, line: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self._shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def update(
        self,
        done: int,
        total: int,
        rate: float,
        eta_s: float | None,
        current: Path | str | None = None,
        *,
        phase: str = "indexing",
        skipped: int = 0,
        force: bool = False,
    ) -> None:
        """Show the state of a job; a new phase is always shown at once."""
        force = force or phase != self._phase
        self._phase = phase
        if not self.tty and total > 0 and phase != "scanning":
            step = min(done, total) * PIPE_STEPS // total
            force = force or step != self._step
            self._step = step
            if not force:
                return
        if phase == "scanning":
            where = f"  {shorten(str(current), self.width() - 40)}" if current else ""
            line = f"Scanning… {done} files{where}"
        else:
            line = render(
                done,
                total,
                rate,
                eta_s,
                str(current) if current else None,
                self.width(),
                skipped=skipped,
            )
        self.show(line[: self.width()], force=force)

    def clear(self) -> None:
        """End the in-place line so the next output starts on a fresh line."""
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self._shown = False


class Interrupts:
    """First Ctrl+C cancels the job cleanly (at the next batch); a second one aborts at once."""

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel
        self.count = 0
        self._old: Callable[[int, FrameType | None], object] | int | None = None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        sys.stderr.write("\nStopping after the current batch… (Ctrl+C again to abort now)\n")
        self._cancel()
