"""Decoding for the viewer, always on worker threads: the photo shown, scaled for the screen; its
neighbours ahead of time, so stepping through results is instant; and, once the user zooms past
what the screen-sized copy holds, the full resolution.

Screen-sized copies of the last few photos are kept; a full-resolution copy is handed over, never
kept. Results are tagged with their photo, so one arriving late for a photo no longer wanted only
fills the cache.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QSize, QThreadPool, Signal
from PySide6.QtGui import QImage

from app.ui.image_reader import read_scaled
from app.ui.workers import Worker, run_in_thread

log = logging.getLogger(__name__)

DISPLAY_MAX_SIDE = 2048  # when the screen is not known
FULL_MAX_SIDE = 8192  # 8192 x 6144 x 4 bytes stays under QImageReader's allocation limit
CACHED = 4  # screen-sized copies kept: the photo shown, one back and two ahead
NOW, SOON = 20, 5  # pool priorities: the photo shown before neighbours, neighbours before thumbs


def load_display_image(path: Path, max_side: int = DISPLAY_MAX_SIDE) -> tuple[QImage, QSize]:
    """(image scaled for display, size of the rotated original). Runs in a worker."""
    return read_scaled(path, max_side)


class PhotoLoader(QObject):
    """Emits `loaded(photo_id, image, original_size, full)` and `failed(photo_id, message)`."""

    loaded = Signal(int, QImage, QSize, bool)
    failed = Signal(int, str)

    def __init__(self, pool: QThreadPool, display_side: int, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = pool
        self._side = max(256, display_side)
        self._cache: OrderedDict[int, tuple[QImage, QSize]] = OrderedDict()
        self._pending: dict[tuple[int, bool], Worker] = {}

    def cached(self, photo_id: int) -> tuple[QImage, QSize] | None:
        entry = self._cache.get(photo_id)
        if entry is not None:
            self._cache.move_to_end(photo_id)
        return entry

    def request(self, photo_id: int, path: Path, *, full: bool = False, soon: bool = False) -> None:
        """Decode `path` (screen-sized, or at `full` resolution) unless it is cached or on its way;
        `soon` marks a neighbour read ahead, behind the photo shown."""
        key = (photo_id, full)
        if key in self._pending or (not full and photo_id in self._cache):
            return
        side = FULL_MAX_SIDE if full else self._side
        self._pending[key] = run_in_thread(
            lambda: load_display_image(path, side),
            on_result=lambda value: self._done(key, value),
            on_error=lambda exc: self._failed(key, exc),
            pool=self._pool,
            priority=SOON if soon else NOW,
            owner=self,
        )

    def keep_only(self, photo_ids: set[int]) -> None:
        """Drop decodes not yet started for photos other than `photo_ids` (the user moved on)."""
        for key in [k for k in self._pending if k[0] not in photo_ids]:
            worker = self._pending.pop(key)
            worker.cancel()

    def cancel(self) -> None:
        self.keep_only(set())

    def _done(self, key: tuple[int, bool], value: tuple[QImage, QSize]) -> None:
        self._pending.pop(key, None)
        photo_id, full = key
        image, original = value
        if not full:
            self._cache[photo_id] = value
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
        self.loaded.emit(photo_id, image, original, full)

    def _failed(self, key: tuple[int, bool], exc: BaseException) -> None:
        self._pending.pop(key, None)
        if not isinstance(exc, OSError):
            raise exc
        if key[1]:  # the screen-sized copy stays: zooming in is only less sharp
            log.info("no full-resolution copy of photo %s: %s", key[0], exc)
        else:
            self.failed.emit(key[0], str(exc))
