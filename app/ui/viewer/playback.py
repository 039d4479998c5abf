"""Silent playback of a video in the viewer: frames decoded with PyAV on a worker from a moment
on, scaled for the screen and handed over in real time (late frames are dropped, not queued).

Sound and seeking through a long film are the system player's job ("Open in Player"): in-app
playback with sound needs QtMultimedia, which PhotoSeek does not ship (docs/DESIGN.md, "Videos
in the window").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage, QTransform

from app.ui.workers import Worker, run_in_thread

LATE_S = 0.12  # a frame this late is skipped, so that playback keeps to the clock
Shown = tuple[int, QImage]  # the frame's time (ms) and its picture


def play_frames(
    path: Path, t_ms: int, max_side: int, stop: threading.Event, show: Callable[[Shown], None]
) -> None:
    """Decode `path` from `t_ms` to its end (or until `stop`), calling `show` when each frame is
    due. Runs in a worker; raises av's errors for a file that cannot be decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if t_ms > 0 and stream.time_base:
            container.seek(int(t_ms / 1000 / stream.time_base), stream=stream)
        clock: tuple[float, float] | None = None  # (wall time, video ms) of the first frame
        for frame in container.decode(stream):
            if stop.is_set():
                return
            if frame.time is None or frame.time * 1000 < t_ms - 1:
                continue  # from the keyframe before the moment up to it
            ms = frame.time * 1000
            if clock is None:
                clock = (time.monotonic(), ms)
            wait = clock[0] + (ms - clock[1]) / 1000 - time.monotonic()
            if wait < -LATE_S:
                continue
            show((int(ms), _picture(frame, max_side)))
            if wait > 0 and stop.wait(wait):
                return


def _picture(frame: av.VideoFrame, max_side: int) -> QImage:
    scale = min(1.0, max_side / max(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    image = QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888).copy()
    rotation = round(frame.rotation) % 360  # counter-clockwise, as the display matrix says
    return image.transformed(QTransform().rotate(-rotation)) if rotation else image


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

    def play(self, path: Path, t_ms: int) -> None:
        """Play `path` from `t_ms` (a playback under way stops first)."""
        self.stop()
        stop = self._stop = threading.Event()
        self.position = t_ms
        side = self._side

        def shown(value: Shown) -> None:
            if self._stop is stop:
                self.position = value[0]
                self.frame.emit(*value)

        self._worker = run_in_thread(
            lambda report: play_frames(path, t_ms, side, stop, report),
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
        if not isinstance(exc, (av.error.FFmpegError, OSError, ValueError)):
            raise exc
        if self._stop is stop:  # stopped first, so that the message is what stays on screen
            self._stop = None
            self.stopped.emit(self.position)
            reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, no errno
            self.failed.emit(f"This video cannot be played here: {reason}.")
