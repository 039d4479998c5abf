"""Installing, removing and choosing models for the window, off the GUI thread.

One `ModelManager` belongs to the window, so a download goes on when the Models dialog is
closed (the no-model banner then shows its progress). Every call runs the core function in a
worker (`app.ui.workers.run_in_thread`); outcomes come back as signals. After anything that
changes the models folder or the model settings, `changed` asks the window to reload the
library's model.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal

from app.core.api import JobCancelled, Paths, UserError
from app.ui.workers import Worker, run_in_thread

log = logging.getLogger(__name__)


def default_installer(
    paths: Paths,
    name: str | None = None,
    *,
    source: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Path:
    """`install_model`: downloads `name` when `source` is None (resuming an interrupted
    download from the core's cache), else installs the folder or archive `source`."""
    from app.core.api import install_model

    return install_model(paths, name, source=source, progress=progress, should_cancel=should_cancel)


@dataclass(frozen=True)
class InstallProgress:
    name: str  # the model, or the file name of a folder/archive being installed
    done: int
    total: int
    what: str

    def text(self) -> str:
        """ "Downloading: 123.4 of 607.0 MB (20 %)"."""
        what = self.what or "Installing"
        if self.total > 0:
            pct = int(100 * min(self.done / self.total, 1.0))
            return f"{what}: {self.done / 1e6:,.1f} of {self.total / 1e6:,.1f} MB ({pct} %)"
        return f"{what}…"


class ModelManager(QObject):
    """Install (download or from a folder/archive), cancel, remove, choose; one install at a
    time. `failed` carries a one-line message naming the fix, ready to show as-is."""

    progress = Signal(object)  # InstallProgress
    installed = Signal(str)  # model name
    failed = Signal(str)  # message for the user
    cancelled = Signal(str)  # message for the user
    changed = Signal()  # the models folder or model settings changed: reload the model
    busy_changed = Signal(bool)

    def __init__(
        self,
        paths: Paths,
        pool: QThreadPool,
        installer: Callable[..., Path] = default_installer,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self._pool = pool
        self._installer = installer
        self._cancel = threading.Event()
        self._worker: Worker | None = None
        self.current: str | None = None  # what is being installed
        self.last_progress: InstallProgress | None = None
        self.last_error: str | None = None

    def busy(self) -> bool:
        return self._worker is not None

    # -- installing --------------------------------------------------------------------------

    def download(self, name: str) -> bool:
        """Download and install `name`; False when an install is already running."""
        return self._install(name, name, None)

    def install_from(self, source: str) -> bool:
        """Install the model folder or .tar/.tar.gz/.zip archive `source`."""
        return self._install(Path(source).name, None, source)

    def _install(self, label: str, name: str | None, source: str | None) -> bool:
        if self._worker is not None:
            return False
        self._cancel.clear()
        self.current = label
        self.last_error = None
        self.last_progress = InstallProgress(label, 0, 0, "Starting")
        paths, installer, cancel = self.paths, self._installer, self._cancel

        def work(report: Callable[[InstallProgress], None]) -> Path:
            def progress(done: int, total: int, what: str = "") -> None:
                report(InstallProgress(label, int(done), int(total), what))

            return installer(
                paths, name, source=source, progress=progress, should_cancel=cancel.is_set
            )

        self._worker = run_in_thread(
            work,
            on_progress=self._progress,
            on_result=lambda path: self._installed(Path(path).name),
            on_error=self._install_failed,
            on_finished=self._ended,
            pool=self._pool,
        )
        self.busy_changed.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the install at its next check; a download resumes when started again."""
        if self._worker is not None:
            self._cancel.set()

    def _progress(self, value: InstallProgress) -> None:
        self.last_progress = value
        self.progress.emit(value)

    def _installed(self, name: str) -> None:
        log.info("model %s installed from the window", name)
        self.installed.emit(name)
        self.changed.emit()

    def _install_failed(self, exc: BaseException) -> None:
        if isinstance(exc, JobCancelled) or self._cancel.is_set():
            self.cancelled.emit(
                "Cancelled: nothing was installed. Start the download again to continue from "
                "where it stopped."
            )
        elif isinstance(exc, UserError):
            self.last_error = str(exc)
            self.failed.emit(f"{self.current} could not be installed: {exc}")
        else:
            self.last_error = "a bug; see the report"
            self.failed.emit(f"{self.current} could not be installed because of a bug.")
            sys.excepthook(type(exc), exc, exc.__traceback__)

    def _ended(self) -> None:
        self._worker = None
        self.current = None
        self.busy_changed.emit(False)

    # -- removing and choosing ---------------------------------------------------------------

    def remove(self, name: str) -> None:
        from app.core.api import remove_model

        self._call(lambda: remove_model(self.paths, name), f"{name} could not be removed")

    def set_active(self, name: str) -> None:
        from app.core.api import set_active_model

        self._call(lambda: set_active_model(self.paths, name), f"{name} could not be chosen")

    def update_settings(self, changes: dict[str, object]) -> None:
        """Store model settings (precision, device, search language) and reload."""
        from app.core.api import update_settings

        self._call(lambda: update_settings(self.paths, changes), "The setting could not be saved")

    def _call(self, fn: Callable[[], object], what: str) -> None:
        def failed(exc: BaseException) -> None:
            if isinstance(exc, (UserError, OSError)):
                self.failed.emit(f"{what}: {exc}")
            else:
                sys.excepthook(type(exc), exc, exc.__traceback__)

        run_in_thread(
            fn, on_result=lambda _r: self.changed.emit(), on_error=failed, pool=self._pool
        )
