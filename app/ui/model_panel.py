"""Whether the search model is installed, and installing it with progress and a Cancel button.

`app.core.install.install_model` runs in a worker; its progress (bytes done, total, what) comes
back as signals and Cancel is polled through `should_cancel`. Failures a user can fix (offline,
disk full, a bad download) are shown in plain words from the error's own message.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.core.errors import UserError
from app.core.jobs import JobCancelled
from app.core.paths import Paths
from app.ui.workers import Worker, run_in_thread

log = logging.getLogger(__name__)

NO_MODEL_TEXT = (
    "To search by words or by example photo, PhotoSeek needs its CLIP model (about 350 MB, "
    "installed once, runs on this computer). Until then you can browse your photos by date."
)


def default_installer(
    paths: Paths, progress: Callable[[int, int, str], None], should_cancel: Callable[[], bool]
) -> Path:
    from app.core.install import install_model
    from app.core.models import DEFAULT_MODEL

    return install_model(paths, DEFAULT_MODEL, progress=progress, should_cancel=should_cancel)


class ModelPanel(QWidget):
    """Shows the model state; `installed(path)` is emitted once an install succeeded."""

    installed = Signal(str)

    def __init__(
        self,
        paths: Paths,
        has_model: bool,
        pool: QThreadPool,
        installer: Callable[..., Path] = default_installer,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._paths = paths
        self._pool = pool
        self._installer = installer
        self._cancel = threading.Event()
        self._worker: Worker | None = None
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Model status")
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName("Model installation progress")
        self.bar.hide()
        self.install_button = QPushButton("Install Model", self)
        self.install_button.setAccessibleName("Install the search model")
        self.install_button.clicked.connect(self.install)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel model installation")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.install_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addLayout(row)
        self.set_has_model(has_model)

    def set_has_model(self, has_model: bool) -> None:
        self.has_model = has_model
        if has_model:
            self.status.setText(
                "✓ The search model is installed. Searching runs on this computer; "
                "nothing is uploaded."
            )
        else:
            self.status.setText(NO_MODEL_TEXT)
        self.install_button.setVisible(not has_model)

    def busy(self) -> bool:
        return self._worker is not None

    def install(self) -> None:
        if self._worker is not None:
            return
        self._cancel.clear()
        self.install_button.hide()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.bar.show()
        self.bar.setRange(0, 0)
        self.status.setText("Installing the search model…")
        paths, installer, cancel = self._paths, self._installer, self._cancel

        def work(progress: Callable[[Any], None]) -> Path:
            return installer(
                paths, lambda done, total, what="": progress((done, total, what)), cancel.is_set
            )

        self._worker = run_in_thread(
            work,
            on_progress=self._progress,
            on_result=self._done,
            on_error=self._failed,
            on_finished=self._ended,
            pool=self._pool,
        )

    def cancel(self) -> None:
        self._cancel.set()
        self.cancel_button.setEnabled(False)
        self.status.setText("Cancelling…")

    def _progress(self, value: tuple[int, int, str]) -> None:
        done, total, what = value
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(done / total, 1.0)))
            self.status.setText(
                f"{what or 'Installing'}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB"
            )
        elif what:
            self.status.setText(what)

    def _done(self, path: Path) -> None:
        self.set_has_model(True)
        self.installed.emit(str(path))

    def _failed(self, exc: BaseException) -> None:
        self.set_has_model(False)
        if isinstance(exc, JobCancelled) or self._cancel.is_set():
            self.status.setText("Installation cancelled; nothing was installed. " + NO_MODEL_TEXT)
        elif isinstance(exc, UserError):
            self.status.setText(f"The model could not be installed: {exc}")
        else:
            self.status.setText(
                "The model could not be installed because of a bug; see the report."
            )
            sys.excepthook(type(exc), exc, exc.__traceback__)

    def _ended(self) -> None:
        self._worker = None
        self.bar.hide()
        self.cancel_button.hide()
        if not self.has_model:
            self.install_button.show()
            self.install_button.setText("Try Again")
