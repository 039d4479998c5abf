"""Control of long background jobs (pause, resume, cancel) and their progress rate and ETA."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class JobCancelled(Exception):
    """Raised by `JobControl.checkpoint()` once the job was cancelled; the job unwinds cleanly."""


class JobControl:
    """Thread-safe pause/resume/cancel shared by the thread that runs a job and the one driving it.

    The job calls `checkpoint()` at safe points (between batches): it blocks while paused and
    raises `JobCancelled` after `cancel()`. Cancelling also wakes a paused job.
    """

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._cancelled = threading.Event()

    def pause(self) -> None:
        if not self._cancelled.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def checkpoint(self, on_pause: Callable[[], None] | None = None) -> None:
        """Block while paused (calling `on_pause` once first); raise JobCancelled if cancelled."""
        if not self._running.is_set():
            if on_pause is not None:
                on_pause()
            self._running.wait()
        if self._cancelled.is_set():
            raise JobCancelled

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`, returning early (True) when cancelled."""
        return self._cancelled.wait(seconds)


class RateMeter:
    """Items per second, smoothed exponentially over time so one slow batch does not jump the ETA.

    Time spent paused is not counted: call `pause()`/`resume()` around a pause.
    """

    def __init__(self, half_life_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._half_life = half_life_s
        self._last = clock()
        self._rate: float | None = None
        self._pending = 0
        self._paused_at: float | None = None

    def update(self, n: int) -> None:
        """Record that `n` more items were finished now."""
        now = self._clock()
        self._pending += n
        dt = now - self._last
        if dt <= 0.05:  # too short to measure; fold into the next update
            return
        inst = self._pending / dt
        if self._rate is None:
            self._rate = inst
        else:
            w = 0.5 ** (dt / self._half_life)
            self._rate = w * self._rate + (1 - w) * inst
        self._pending = 0
        self._last = now

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._last += self._clock() - self._paused_at
            self._paused_at = None

    @property
    def rate(self) -> float:
        """Smoothed items per second (0.0 until something was measured)."""
        return self._rate or 0.0

    def eta(self, remaining: int) -> float | None:
        """Seconds left for `remaining` items, or None while the rate is unknown."""
        if remaining <= 0:
            return 0.0
        if not self._rate:
            return None
        return remaining / self._rate
