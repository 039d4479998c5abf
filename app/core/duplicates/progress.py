"""How far a grouping of duplicates is, told to whoever asked (the window, the command line), and
where it may be cancelled: between batches, never inside one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.jobs import JobControl

CALIBRATING = "calibrating"
IDENTICAL = "checking identical files"
NEIGHBOURS = "finding neighbours"
COMPARING = "comparing pictures"
STAGES = (CALIBRATING, IDENTICAL, NEIGHBOURS, COMPARING)
INTERVAL_S = 0.1  # at most ten reports a second, besides each stage's first and last


@dataclass(frozen=True)
class DuplicateProgress:
    """One stage of a grouping (`STAGES`, in that order; stages with nothing to do are left
    out) and how much of it is done: `done` of `total` (items of the stage: pictures to
    calibrate on, sets of files to compare byte for byte, photos to search, pairs to look at)."""

    stage: str
    done: int
    total: int


class Reporter:
    """Reports progress (at most once an `interval_s`, default `INTERVAL_S`; a stage's start
    and end always) and checks for a cancel at each `checkpoint` (raising `JobCancelled`)."""

    def __init__(
        self,
        progress: Callable[[DuplicateProgress], None] | None = None,
        control: JobControl | None = None,
        *,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._control = control
        self._interval = INTERVAL_S if interval_s is None else interval_s
        self._clock = clock
        self._stage = ""
        self._total = 0
        self._done = 0
        self._last = float("-inf")

    def stage(self, stage: str, total: int, done: int = 0) -> None:
        """A stage begins (or resumes at `done`): said at once."""
        self._stage, self._total, self._done = stage, total, done
        self._say(force=True)

    def advance(self, done: int) -> None:
        """`done` items of the stage are done (never fewer than said before)."""
        done = min(max(done, self._done), self._total)
        if done == self._done:
            return
        self._done = done
        self._say(force=done >= self._total)

    def checkpoint(self) -> None:
        """Raise `JobCancelled` if the grouping was cancelled (waits while paused)."""
        if self._control is not None:
            self._control.checkpoint()

    def _say(self, *, force: bool) -> None:
        if self._progress is None:
            return
        now = self._clock()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        self._progress(DuplicateProgress(self._stage, self._done, self._total))
