"""Background indexing and folder watching for the window, with pause, resume and cancel.

`Library.index` runs in a worker with a `JobControl`; its progress reaches the GUI at most ten
times a second (a fast indexer must not flood the event loop). The library's watcher calls back
from its own thread; those calls become queued signals here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from app.core.api import IndexProgress, IndexReport, JobControl, Library, UserError, Watcher
from app.ui.workers import Worker, run_in_thread

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


def throttled(
    send: Callable[[IndexProgress], None], interval: float = PROGRESS_INTERVAL_S
) -> Callable[[IndexProgress], None]:
    """Pass on a progress report when the phase changes, at the end, or `interval` after the last."""
    last_time = 0.0
    last_phase: str | None = None

    def report(progress: IndexProgress) -> None:
        nonlocal last_time, last_phase
        now = time.monotonic()
        phase = getattr(progress, "phase", None)
        finished = phase == "done" or (progress.total and progress.done >= progress.total)
        if phase != last_phase or finished or now - last_time >= interval:
            last_time, last_phase = now, phase
            send(progress)

    return report


class IndexController(QObject):
    """One indexing run at a time; asking again while one runs queues one more run after it."""

    progress = Signal(object)  # IndexProgress
    finished = Signal(object)  # IndexReport
    failed = Signal(object)  # exception
    running_changed = Signal(bool)
    library_changed = Signal(object)  # ChangeSummary, from the watcher
    watch_failed = Signal(str)  # one line naming the problem and the fix

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._worker: Worker | None = None
        self._control: JobControl | None = None
        self._queued = False
        self._queued_folders: list[Path] | None = None  # None: every folder
        self._library: Library | None = None
        self._paused = False
        self._watcher: Watcher | None = None
        self._watch_wanted = False

    # -- indexing ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self, library: Library, folders: list[Path] | None = None) -> None:
        """Index `folders` (all when None) now, or right after the run in progress."""
        self._library = library
        if self._worker is not None:
            if not self._queued:
                self._queued_folders = folders
            elif self._queued_folders is not None and folders is not None:
                self._queued_folders = [*self._queued_folders, *folders]
            else:
                self._queued_folders = None
            self._queued = True
            return
        control = JobControl()
        if self._paused:
            control.pause()
        self._control = control

        def work(progress: Callable[[IndexProgress], None]) -> IndexReport:
            return library.index(folders, progress=throttled(progress), control=control)

        self._worker = run_in_thread(
            work,
            on_progress=self.progress.emit,
            on_result=self.finished.emit,
            on_error=self.failed.emit,
            on_finished=self._ended,
            pool=self._pool,
        )
        self.running_changed.emit(True)

    def pause(self) -> None:
        self._paused = True
        if self._control is not None:
            self._control.pause()

    def resume(self) -> None:
        self._paused = False
        if self._control is not None:
            self._control.resume()

    def cancel(self) -> None:
        """Stop the run in progress at its next checkpoint and forget queued runs."""
        self._queued = False
        if self._control is not None:
            self._control.cancel()

    def _ended(self) -> None:
        self._worker = None
        self._control = None
        if self._queued and self._library is not None:
            self._queued = False
            self.start(self._library, self._queued_folders)
        else:
            self.running_changed.emit(False)

    # -- watching ---------------------------------------------------------------------------------

    def watch(self, library: Library) -> None:
        """Follow changes in the library's folders. Starting the watcher walks the folders to
        register them with the OS, so it happens in a worker; changes arrive from the watcher's
        own thread as `library_changed`."""
        self.stop_watching()
        self._watch_wanted = True

        def started(watcher: Watcher) -> None:
            if self._watch_wanted:
                self._watcher = watcher
            else:  # stopped (or shut down) while it was starting
                run_in_thread(watcher.stop, pool=self._pool)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, (UserError, OSError)):
                self.watch_failed.emit(
                    f"PhotoSeek cannot follow changes in your folders ({exc}); "
                    "Library > Rescan Folders (F5) finds new photos."
                )
            else:
                self.failed.emit(exc)

        run_in_thread(
            lambda: library.watch(
                on_change=self.library_changed.emit, on_error=self.watch_failed.emit
            ),
            on_result=started,
            on_error=failed,
            pool=self._pool,
        )

    @property
    def watcher(self) -> Watcher | None:
        """The running watcher, once started."""
        return self._watcher

    def stop_watching(self) -> None:
        watcher = self.detach_watcher()
        if watcher is not None:
            watcher.stop()

    def detach_watcher(self) -> Watcher | None:
        """Hand over the watcher (to be stopped in a worker) and forget it."""
        self._watch_wanted = False
        watcher, self._watcher = self._watcher, None
        return watcher

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for the worker; True when it stopped in time."""
        self.cancel()
        self.stop_watching()
        return self._pool.waitForDone(timeout_ms)
