"""Shared helpers for the desktop (pytest-qt) tests.

`strict_qt` is an autouse fixture for every UI test module (import `strict_qt_fixture` there; the
fixture's name stays `strict_qt`): a test fails when
it leaves a thread or a worker running, or when Qt or PhotoSeek logged a warning it did not
declare with `strict_qt.allow(pattern)` (napari's dangling-thread checks, qutebrowser's
LogFailHandler).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt, QThreadPool, QtMsgType
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.workers import pending_workers

# Messages the offscreen platform prints for things it cannot do; they say nothing about us.
PLATFORM_NOISE = (
    r"This plugin does not support propagateSizeHints\(\)",
    r"This plugin does not support raise\(\)",
    r"This plugin does not support grabbing the keyboard",
    r"QFont::setPointSizeF: Point size <= 0",
)


class Strict:
    """What `strict_qt` yields: `allow(regex)` declares a warning the test expects."""

    def __init__(self) -> None:
        self.allowed: list[re.Pattern[str]] = [re.compile(p) for p in PLATFORM_NOISE]
        self.records: list[logging.LogRecord] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def is_allowed(self, message: str) -> bool:
        return any(p.search(message) for p in self.allowed)


class _Collect(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


def _foreign(thread: threading.Thread) -> bool:
    """Threads started outside Python (Qt's pool threads) show up as dummies; we check the pools."""
    return isinstance(thread, threading._DummyThread)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True, name="strict_qt")
def strict_qt_fixture(qapp: QApplication, qtlog: object) -> Iterator[Strict]:
    strict = Strict()
    before = set(threading.enumerate())
    handler = _Collect(strict.records)
    logging.getLogger().addHandler(handler)
    try:
        yield strict
    finally:
        logging.getLogger().removeHandler(handler)
    QThreadPool.globalInstance().waitForDone(10_000)
    deadline = time.monotonic() + 10
    while pending_workers() and time.monotonic() < deadline:  # deliver the last worker signals
        QCoreApplication.processEvents()
        time.sleep(0.005)
    for widget in QApplication.topLevelWidgets():  # dialogs a test left open
        if widget.isVisible():
            widget.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    leftover = [
        t for t in threading.enumerate() if t not in before and t.is_alive() and not _foreign(t)
    ]
    for thread in leftover:
        thread.join(5)
    leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"test left threads running: {leftover}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0, "global pool still busy"
    assert pending_workers() == 0, "a worker never delivered its end"
    qt_records = getattr(qtlog, "records", [])
    problems = [
        f"Qt: {r.message}"
        for r in qt_records
        if r.type in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
        and not strict.is_allowed(r.message)
    ]
    problems += [
        f"{r.name}: {r.getMessage()}"
        for r in strict.records
        if not strict.is_allowed(r.getMessage())
    ]
    assert not problems, "unexpected warnings:\n" + "\n".join(problems)


def type_text(widget: QWidget, text: str) -> None:
    """Type `text` as key events that carry it (qtbot.keyClicks aborts on non-ASCII)."""
    for ch in text:
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, 0, Qt.KeyboardModifier.NoModifier, ch))


def press(
    widget: QWidget,
    key: Qt.Key,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
    text: str = "",
) -> None:
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, key, modifiers, text))


def write_photo(path: Path, image: Image.Image, when: datetime | None = None) -> Path:
    """Save `image` as a JPEG with EXIF DateTimeOriginal `when` (and the file's mtime)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[0x0132] = stamp  # DateTime
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = stamp  # DateTimeOriginal
        ifd[0x9004] = stamp  # DateTimeDigitized
        exif[0x010F] = "PhotoSeek"
        exif[0x0110] = "Test Camera"
    image.save(path, "JPEG", quality=90, exif=exif)
    if when is not None:
        ts = when.timestamp()
        import os

        os.utime(path, (ts, ts))
    return path


def shape_photos(
    folder: Path, specs: list[tuple[str, str, datetime]], size: int = 96, seed: int = 0
) -> list[Path]:
    """Photos of (colour, shape) made by tests/microclip.py, dated as given."""
    from microclip import make_shape_image

    rng = np.random.default_rng(seed)
    paths = []
    for i, (color, shape, when) in enumerate(specs):
        img = make_shape_image(color, shape, size, rng)
        paths.append(write_photo(folder / f"{when:%Y}" / f"{color}-{shape}-{i:03d}.jpg", img, when))
    return paths


def wait_until(qtbot: object, predicate: Callable[[], object], timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: bool(predicate()), timeout=timeout)  # type: ignore[attr-defined]


def center(widget: QWidget) -> QPointF:
    return QPointF(widget.rect().center())
