"""Thumbnails for the grid, decoded and scaled off the GUI thread as QImage, newest request first.

Requests go on a stack that a few long-lived workers drain, newest first, so the rows on screen
load before the ones the user has scrolled past and asking costs the GUI thread almost nothing.
Each image carries the generation of the result list that asked for it; images for a list the
user has already replaced are dropped (TagStudio's render cutoff). A video found at a moment shows
that moment's frame (`set_moments`), decoded by `frame(photo_id, t_ms, side)`; browsing shows its
poster, the thumbnail the library keeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

from app.core.api import UserError
from app.ui.image_reader import qimage_from_pil, read_image
from app.ui.workers import run_in_thread

log = logging.getLogger(__name__)

MAX_PENDING = 512  # beyond this, the oldest requests (long scrolled past) are forgotten
BATCH_S = 0.03  # a worker hands over what it decoded at most this often
Fetch = Callable[[int], Path | None]
FrameFetch = Callable[[int, int, int], "PILImage | Path | None"]  # photo id, t_ms, max side
Loaded = tuple[int, int, "QImage | None", bool]  # generation, photo id, image, full resolution


def load_thumbnail(fetch: Fetch, photo_id: int, side: int) -> tuple[QImage | None, bool]:
    """(image no larger than `side`, whether it is all the resolution there is)."""
    path = fetch(photo_id)
    if path is None:
        return None, True
    image = read_image(path, side)
    if max(image.width(), image.height()) > side:  # a format without scaled decoding
        image = image.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return image, max(image.width(), image.height()) < side


def load_frame(
    frame: FrameFetch, photo_id: int, t_ms: int, side: int
) -> tuple[QImage | None, bool]:
    """(the video's frame at `t_ms`, no larger than `side`; whether it is all there is)."""
    picture = frame(photo_id, t_ms, side)
    if picture is None:
        return None, True
    image = read_image(picture, side) if isinstance(picture, Path) else qimage_from_pil(picture)
    return image, max(image.width(), image.height()) < side


def no_frame(_photo_id: int, _t_ms: int, _side: int) -> None:
    return None


class ThumbLoader(QObject):
    """Loads thumbnails with `fetch(photo_id) -> Path | None` (e.g. `Library.thumbnail`)."""

    loaded = Signal(int, int, QImage, bool)  # generation, photo id, image, full resolution
    failed = Signal(int, int)  # generation, photo id: no thumbnail can be made

    def __init__(
        self, fetch: Fetch, *, max_side: int = 256, threads: int = 2, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._threads = threads
        self._lock = threading.Lock()  # guards the stack, fetch, side and generation
        self._stack: OrderedDict[int, int] = OrderedDict()  # photo id -> generation, newest last
        self._fetch = fetch
        self._frame: FrameFetch = no_frame
        self._moments: dict[int, int] = {}  # photo id -> the moment (ms) its cell shows
        self._side = max_side
        self._generation = 0
        self._wanted: set[int] = set()  # asked for in this generation and not arrived (GUI side)
        self._drains = 0

    @property
    def generation(self) -> int:
        return self._generation

    def set_fetch(self, fetch: Fetch, frame: FrameFetch | None = None) -> None:
        """Load from another source (a reopened library); pending requests are dropped.
        `frame(photo_id, t_ms, side)` decodes a video's frame (e.g. `Library.frame`)."""
        with self._lock:
            self._fetch = fetch
            self._frame = frame or no_frame
        self.set_generation(self._generation + 1)

    def set_moments(self, moments: dict[int, int]) -> None:
        """The videos of the current list that show a moment's frame instead of their poster."""
        with self._lock:
            self._moments = dict(moments)

    def set_max_side(self, side: int) -> None:
        """Scale later loads to `side` pixels (the grid's cell in device pixels)."""
        with self._lock:
            self._side = max(16, int(side))

    def set_generation(self, generation: int) -> None:
        """A new result list: forget every request made for the old one."""
        with self._lock:
            self._generation = generation
            self._stack.clear()
        self._wanted.clear()

    def request(self, photo_id: int) -> None:
        """Load `photo_id` for the current generation (again, if asked again after it arrived)."""
        with self._lock:
            self._stack[photo_id] = self._generation
            self._stack.move_to_end(photo_id)
            while len(self._stack) > MAX_PENDING:
                old, _ = self._stack.popitem(last=False)
                self._wanted.discard(old)
        self._wanted.add(photo_id)
        self._start_drains()

    def is_pending(self, photo_id: int) -> bool:
        return photo_id in self._wanted

    def pending(self) -> int:
        return len(self._wanted)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop what is queued and wait for the decodes in progress; True when all stopped."""
        self.set_generation(self._generation + 1)
        return self._pool.waitForDone(timeout_ms)

    # -- workers ----------------------------------------------------------------------------------

    def _start_drains(self) -> None:
        while self._drains < self._threads and self._stack:
            self._drains += 1
            run_in_thread(
                self._drain,
                on_progress=self._arrived,
                on_finished=self._drain_ended,
                pool=self._pool,
            )

    def _drain(self, report: Callable[[list[Loaded]], None]) -> None:
        """Worker: load the newest request until none are left, handing results over in small
        batches (every BATCH_S), so the GUI thread wakes for a handful of images, not each."""
        batch: list[Loaded] = []
        last = time.monotonic()
        while True:
            with self._lock:
                if not self._stack:
                    break
                photo_id, generation = self._stack.popitem(last=True)
                fetch, frame, side = self._fetch, self._frame, self._side
                moment = self._moments.get(photo_id)
            try:
                if moment is None:
                    image, full = load_thumbnail(fetch, photo_id, side)
                else:
                    image, full = load_frame(frame, photo_id, moment, side)
            except (OSError, ValueError, UserError) as e:  # UserError: an undecodable video
                log.info("no thumbnail for photo %s: %s", photo_id, e)
                image, full = None, True
            batch.append((generation, photo_id, image, full))
            if time.monotonic() - last >= BATCH_S:
                report(batch)
                batch, last = [], time.monotonic()
        if batch:
            report(batch)

    def _arrived(self, batch: list[Loaded]) -> None:
        for generation, photo_id, image, full in batch:
            if generation != self._generation:
                continue
            self._wanted.discard(photo_id)
            if image is None:
                self.failed.emit(generation, photo_id)
            else:
                self.loaded.emit(generation, photo_id, image, full)

    def _drain_ended(self) -> None:
        self._drains -= 1
        self._start_drains()  # a request may have come in just as the worker found none
