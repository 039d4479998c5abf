"""Notices models installed, removed or chosen by another process (`photoseek model ...`).

Watches the models folder and the config folder (settings.json is replaced, not edited, so its
folder is what changes) and emits `changed` once things have been quiet for a second: an
install renames a staged folder into place, and a burst of events becomes one reload.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from app.core.api import Paths

DEBOUNCE_MS = 1000


class ModelFolderWatcher(QObject):
    changed = Signal()

    def __init__(
        self, paths: Paths, debounce_ms: int = DEBOUNCE_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._folders = [str(paths.models), str(paths.config)]
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._poke)
        self._timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self._timer.timeout.connect(self._fire)
        self._rewatch()

    def _rewatch(self) -> None:
        """(Re)add the folders: one deleted and made again is dropped by QFileSystemWatcher."""
        watched = set(self._watcher.directories())
        for folder in self._folders:
            if folder not in watched and Path(folder).is_dir():
                self._watcher.addPath(folder)

    def _poke(self, _path: str = "") -> None:
        self._timer.start()  # restarts: fires a second after the last change

    def _fire(self) -> None:
        self._rewatch()
        self.changed.emit()

    def stop(self) -> None:
        self._timer.stop()
        dirs = self._watcher.directories()
        if dirs:
            self._watcher.removePaths(dirs)
