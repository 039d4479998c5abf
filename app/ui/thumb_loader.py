"""Thumbnails for the grid, decoded off the GUI thread as QImage, newest request first.

Each request carries the generation of the result list that asked for it; images for a list the
user has already replaced are dropped (TagStudio's render cutoff). Requests that pile up while
the user scrolls fast are cancelled oldest first, so the rows on screen load before the ones the
user has scrolled past.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from app.ui.workers import Worker, run_in_thread

log = logging.getLogger(__name__)

MAX_PENDING = 256


def read_image(path: Path, max_side: int) -> QImage:
    """Decode `path` (EXIF-rotated) scaled so that its long side is at most `max_side`."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(
            size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio)
        )
    image = reader.read()
    if image.isNull():
        raise OSError(f"cannot read {path}: {reader.errorString()}")
    return image


def _load(fetch: Callable[[int], Path | None], photo_id: int, max_side: int) -> QImage | None:
    path = fetch(photo_id)
    return None if path is None else read_image(path, max_side)


class ThumbLoader(QObject):
    """Loads thumbnails with `fetch(photo_id) -> Path | None` (e.g. `Library.thumbnail`)."""

    loaded = Signal(int, int, QImage)  # generation, photo id, image
    failed = Signal(int, int)  # generation, photo id: no thumbnail can be made

    def __init__(
        self,
        fetch: Callable[[int], Path | None],
        *,
        max_side: int = 320,
        threads: int = 2,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fetch = fetch
        self._max_side = max_side
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._pending: OrderedDict[int, Worker] = OrderedDict()
        self._generation = 0
        self._order = 0

    @property
    def generation(self) -> int:
        return self._generation

    def set_fetch(self, fetch: Callable[[int], Path | None]) -> None:
        """Load from another source (a reopened library); pending requests are dropped."""
        self.set_generation(self._generation + 1)
        self._fetch = fetch

    def set_generation(self, generation: int) -> None:
        """A new result list: drop every request made for the old one."""
        self._generation = generation
        for worker in self._pending.values():
            worker.cancel()
        self._pending.clear()

    def request(self, photo_id: int) -> None:
        """Load `photo_id` for the current generation, unless it is already on its way."""
        if photo_id in self._pending:
            self._pending.move_to_end(photo_id)
            return
        self._order += 1
        gen = self._generation
        self._pending[photo_id] = run_in_thread(
            partial(_load, self._fetch, photo_id, self._max_side),
            on_result=partial(self._done, gen, photo_id),
            on_error=partial(self._error, gen, photo_id),
            pool=self._pool,
            priority=self._order,  # later requests first: they are what is on screen now
        )
        while len(self._pending) > MAX_PENDING:
            _, oldest = self._pending.popitem(last=False)
            oldest.cancel()

    def pending(self) -> int:
        return len(self._pending)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel what is queued and wait for the decodes in progress; True when all stopped."""
        self.set_generation(self._generation + 1)
        return self._pool.waitForDone(timeout_ms)

    def _done(self, generation: int, photo_id: int, image: QImage | None) -> None:
        if generation != self._generation:
            return
        self._pending.pop(photo_id, None)
        if image is None:
            self.failed.emit(generation, photo_id)
        else:
            self.loaded.emit(generation, photo_id, image)

    def _error(self, generation: int, photo_id: int, exc: BaseException) -> None:
        log.info("no thumbnail for photo %s: %s", photo_id, exc)
        if generation == self._generation:
            self._pending.pop(photo_id, None)
            self.failed.emit(generation, photo_id)
