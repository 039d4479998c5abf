"""The folders PhotoSeek watches: add one with the system's folder picker, or stop watching one.

Removing a folder only makes PhotoSeek forget what it learned about it; the photos stay where
they are, untouched, and the dialog says so before it does anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Folder, Library, UserError
from app.ui import theme
from app.ui.workers import run_in_thread

log = logging.getLogger(__name__)

REFRESH_MS = 1000  # while indexing, the photo counts are read again at most this often


def describe_folder(folder: Folder) -> str:
    if not folder.available:
        return f"{folder.path}\nNot reachable now (unplugged or unmounted?) · its photos are kept"
    n = folder.photo_count
    return f"{folder.path}\n{n:,} photo{'s' if n != 1 else ''}"


def choose_folder(parent: QWidget | None) -> Path | None:
    """The platform's own folder picker; None when the user cancels."""
    chosen = QFileDialog.getExistingDirectory(parent, "Add a Folder of Photos", str(Path.home()))
    return Path(chosen) if chosen else None


def confirm_remove(parent: QWidget | None, path: str) -> bool:
    answer = QMessageBox.question(
        parent,
        "Stop Watching Folder?",
        f"PhotoSeek will stop watching {path} and forget what it learned about the photos in "
        "it.\n\nYour photos stay exactly where they are: nothing is deleted or changed.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class FolderList(QWidget):
    """The list with Add and Remove buttons; used by this dialog and the welcome dialog."""

    added = Signal(str)  # a folder was added (index it)
    removed = Signal(str)  # a folder was forgotten

    def __init__(self, library: Library, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._pool = pool
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Watched folders")
        self.list.setIconSize(QSize(24, 24))
        self.list.setAlternatingRowColors(True)
        self.list.currentRowChanged.connect(lambda _r: self._update_buttons())
        self.add_button = QPushButton(theme.icon("folder-add"), "Add Folder…", self)
        self.add_button.setAccessibleName("Add a folder of photos")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Stop Watching", self)
        self.remove_button.setAccessibleName("Stop watching the selected folder")
        self.remove_button.setToolTip("Forget this folder's photos; the files are not touched")
        self.remove_button.clicked.connect(self.remove_selected)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setForegroundRole(QPalette.ColorRole.WindowText)
        self.message.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self._update_buttons()
        self.refresh()

    def count(self) -> int:
        return self.list.count()

    def refresh(self) -> None:
        self._refresh_timer.stop()
        run_in_thread(
            self._library.folders,
            on_result=self._show,
            on_error=self._failed,
            pool=self._pool,
            owner=self,
        )

    def refresh_soon(self, *_args: object) -> None:
        """The photo counts changed (indexing goes on): read them again, at most once a second."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def add(self) -> None:
        path = choose_folder(self.window())
        if path is not None:
            self.add_path(path)

    def add_path(self, path: Path) -> None:
        self._say("")
        run_in_thread(
            lambda: self._library.add_folder(path),
            on_result=lambda folder: self._added(folder),
            on_error=self._failed,
            pool=self._pool,
        )

    def remove_selected(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        path = item.data(Qt.ItemDataRole.UserRole)
        if confirm_remove(self.window(), path):
            self.remove_path(path)

    def remove_path(self, path: str) -> None:
        run_in_thread(
            lambda: self._library.remove_folder(Path(path)),
            on_result=lambda _r: self._removed(path),
            on_error=self._failed,
            pool=self._pool,
        )

    def _added(self, folder: Folder) -> None:
        self.added.emit(str(folder.path))
        self.refresh()

    def _removed(self, path: str) -> None:
        self._say(f"PhotoSeek has forgotten {path}. The photos in it were not touched.")
        self.removed.emit(path)
        self.refresh()

    def _show(self, folders: list[Folder]) -> None:
        current = self.list.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.list.clear()
        for folder in folders:
            item = QListWidgetItem(
                theme.icon("folder" if folder.available else "warning"), describe_folder(folder)
            )
            item.setData(Qt.ItemDataRole.UserRole, str(folder.path))
            item.setData(Qt.ItemDataRole.AccessibleTextRole, describe_folder(folder))
            self.list.addItem(item)
            if str(folder.path) == keep:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, UserError):
            raise exc
        self._say(str(exc))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.currentItem() is not None)


class FoldersDialog(QDialog):
    """Library ▸ Folders…: manage what PhotoSeek watches."""

    def __init__(self, library: Library, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Photo Folders")
        self.setAccessibleName("Photo folders")
        self.resize(560, 380)
        intro = QLabel(
            "PhotoSeek finds photos in these folders and their subfolders, and keeps "
            "watching them for new photos. It never changes or deletes your files."
        )
        intro.setWordWrap(True)
        self.folders = FolderList(library, pool, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.folders, 1)
        layout.addWidget(buttons)
