"""The one helper for background work: run a function on a thread pool, get its outcome as signals.

Workers never touch widgets. Their result, error and progress travel back to the GUI thread as
queued signals and reach the callbacks there (the pattern of napari's `thread_worker` and
Picard's `run_task`). A worker cancelled before it ran never runs; one cancelled while running
finishes, but its outcome is dropped.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

# Workers whose outcome has not been delivered yet. Holding them here keeps their Python objects
# (and the QObject that carries their signals) alive until the GUI thread has seen the end.
_live: set[Worker] = set()


class _Relay(QObject):
    """Lives in the GUI thread; its signals are emitted from the pool thread and queued to it."""

    result = Signal(object)
    error = Signal(object)
    progress = Signal(object)
    finished = Signal()


class Worker(QRunnable):
    """One call of `fn` on a pool thread. Create it with `run_in_thread`."""

    def __init__(self, fn: Callable[..., Any], with_progress: bool) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns it (via _live), not the pool
        self._fn = fn
        self._with_progress = with_progress
        self.relay = _Relay()
        self.cancelled = False
        self.done = False
        self.pool: QThreadPool | None = None

    def run(self) -> None:  # runs on the pool thread
        relay = self.relay
        try:
            value = self._fn(relay.progress.emit) if self._with_progress else self._fn()
        except BaseException as e:  # every failure goes back to the GUI thread
            relay.error.emit(e)
        else:
            relay.result.emit(value)
        finally:
            relay.finished.emit()

    def cancel(self) -> None:
        """Drop this worker's outcome; if it has not started, it never will."""
        self.cancelled = True
        if self.pool is not None and not self.done and self.pool.tryTake(self):
            self._end()

    def _end(self) -> None:
        self.done = True
        _live.discard(self)


class _Delivery(QObject):
    """GUI-thread end of a worker: calls the user's callbacks unless the worker was cancelled."""

    def __init__(
        self,
        worker: Worker,
        on_result: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
        on_progress: Callable[[Any], None] | None,
        on_finished: Callable[[], None] | None,
    ) -> None:
        super().__init__(worker.relay)
        self._worker = worker
        self._on_result = on_result
        self._on_error = on_error
        self._on_progress = on_progress
        self._on_finished = on_finished
        worker.relay.result.connect(self.result)
        worker.relay.error.connect(self.error)
        worker.relay.progress.connect(self.progress)
        worker.relay.finished.connect(self.finished)

    @Slot(object)
    def result(self, value: Any) -> None:
        if not self._worker.cancelled and self._on_result is not None:
            self._on_result(value)

    @Slot(object)
    def error(self, exc: BaseException) -> None:
        if self._worker.cancelled:
            log.debug("cancelled worker failed: %r", exc)
        elif self._on_error is not None:
            self._on_error(exc)
        else:  # nobody expected it: a bug, shown by the crash dialog
            sys.excepthook(type(exc), exc, exc.__traceback__)

    @Slot(object)
    def progress(self, value: Any) -> None:
        if not self._worker.cancelled and self._on_progress is not None:
            self._on_progress(value)

    @Slot()
    def finished(self) -> None:
        self._worker._end()
        if not self._worker.cancelled and self._on_finished is not None:
            self._on_finished()


def run_in_thread(
    fn: Callable[..., Any],
    *,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    pool: QThreadPool | None = None,
    priority: int = 0,
    owner: QObject | None = None,
) -> Worker:
    """Run `fn()` on `pool` (the global pool by default); call back on the GUI thread.

    With `owner` (the widget whose methods the callbacks are), the outcome is dropped once the
    owner is destroyed, so a dialog closed while its worker runs is never called back.

    With `on_progress`, `fn` is called as `fn(progress)`, where `progress(value)` may be called
    from the worker any number of times. Exceptions reach `on_error`, or `sys.excepthook` when
    there is none. Must be called from the GUI thread.
    """
    worker = Worker(fn, with_progress=on_progress is not None)
    _Delivery(worker, on_result, on_error, on_progress, on_finished)
    if owner is not None:
        owner.destroyed.connect(worker.cancel)
    worker.pool = pool or QThreadPool.globalInstance()
    _live.add(worker)
    worker.pool.start(worker, priority)
    return worker


def pending_workers() -> int:
    """How many workers have not yet delivered their end (for tests and shutdown)."""
    return len(_live)
