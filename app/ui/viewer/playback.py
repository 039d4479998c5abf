"""Silent playback of a video (or a photo's clip) in the viewer: frames decoded with PyAV on a worker from a moment
on, scaled for the screen and handed over in real time (late frames are dropped, not queued).

Sound and seeking through a long film are the system player's job ("Open in Player"): in-app
playback with sound needs QtMultimedia, which PhotoSeek does not ship (docs/DESIGN.md, "Videos
in the window").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from app.core.api import UserError
from app.ui.workers import Worker, run_in_thread

LATE_S = 0.12  # a frame this late is skipped, so that playback keeps to the clock
Shown = tuple[int, QImage]  # the frame's time (ms) and its picture
# (t_ms, max_side) -> the frames from there: a video's, or a photo's clip (Library.clip_frames)
Frames = Callable[[int, int], Iterator[tuple[int, Image.Image]]]


def play_frames(
    frames: Frames, t_ms: int, max_side: int, stop: threading.Event, show: Callable[[Shown], None]
) -> None:
    """Play `frames` from `t_ms` to their end (or until `stop`), calling `show` when each frame
    is due. Runs in a worker; the core decodes (`Library.clip_frames`), this keeps to the clock."""
    clock: tuple[float, int] | None = None  # (wall time, video ms) of the first frame
    for ms, picture in frames(t_ms, max_side):
        if stop.is_set():
            return
        if clock is None:
            clock = (time.monotonic(), ms)
        wait = clock[0] + (ms - clock[1]) / 1000 - time.monotonic()
        if wait < -LATE_S:
            continue
        show((ms, _qimage(picture)))
        if wait > 0 and stop.wait(wait):
            return


def _qimage(picture: Image.Image) -> QImage:
    rgb = np.asarray(picture.convert("RGB"))
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888).copy()


class FramePlayer(QObject):
    """Emits `frame(t_ms, image)` while playing, `stopped(t_ms)` when the video ended or was
    stopped (at the last frame shown) and `failed(message)`."""

    frame = Signal(int, QImage)
    stopped = Signal(int)
    failed = Signal(str)

    def __init__(self, pool: QThreadPool, max_side: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._side = max_side
        self._stop: threading.Event | None = None
        self._worker: Worker | None = None
        self.position = 0

    def playing(self) -> bool:
        return self._stop is not None

    def play(self, frames: Frames, t_ms: int) -> None:
        """Play `frames` from `t_ms` (a playback under way stops first)."""
        self.stop()
        stop = self._stop = threading.Event()
        self.position = t_ms
        side = self._side

        def shown(value: Shown) -> None:
            if self._stop is stop:
                self.position = value[0]
                self.frame.emit(*value)

        self._worker = run_in_thread(
            lambda report: play_frames(frames, t_ms, side, stop, report),
            on_progress=shown,
            on_error=lambda exc: self._failed(stop, exc),
            on_finished=lambda: self._ended(stop),
            pool=self._pool,
            owner=self,
        )

    def stop(self) -> None:
        """Stop playing; the worker ends at its next frame."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop.set()
            self.stopped.emit(self.position)

    def _ended(self, stop: threading.Event) -> None:
        if self._stop is stop:
            self._stop = None
            self.stopped.emit(self.position)

    def _failed(self, stop: threading.Event, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        if self._stop is stop:  # stopped first, so that the message is what stays on screen
            self._stop = None
            self.stopped.emit(self.position)
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            self.failed.emit(f"This video cannot be played here: {reason}.")
