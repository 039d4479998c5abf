"""The welcome dialog of a first run: what PhotoSeek does, which folders to search, the model.

It is also the "Install Model" dialog later on (`FirstRunDialog(..., welcome=False)`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, QThreadPool, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.core.paths import Paths
from app.ui import theme
from app.ui.folders_dialog import FolderList
from app.ui.model_panel import ModelPanel, default_installer

WELCOME = (
    "PhotoSeek finds photos on this computer by what is in them. Type what you remember "
    "(“birthday cake”, “red car in the snow”) or drop in a photo to find ones like it. "
    "Everything stays on this computer: nothing is uploaded, and your files are never changed."
)


class FirstRunDialog(QDialog):
    """Emits `folder_added(path)` and `model_installed(path)`; the window reacts to both."""

    folder_added = Signal(str)
    model_installed = Signal(str)

    def __init__(
        self,
        paths: Paths,
        library: Any,
        pool: QThreadPool,
        *,
        welcome: bool = True,
        installer: Callable[..., Path] = default_installer,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to PhotoSeek" if welcome else "Search Model")
        self.setAccessibleName(self.windowTitle())
        self.resize(600, 540 if welcome else 220)
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(theme.app_icon().pixmap(QSize(56, 56)))
        title = QLabel("Welcome to PhotoSeek" if welcome else "The search model", self)
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setWeight(QFont.Weight.DemiBold)
        title.setFont(font)
        header.addWidget(logo)
        header.addWidget(title, 1)
        layout.addLayout(header)

        self.folders: FolderList | None = None
        if welcome:
            intro = QLabel(WELCOME, self)
            intro.setWordWrap(True)
            layout.addWidget(intro)
            box = QGroupBox("1. Choose the folders that hold your photos", self)
            self.folders = FolderList(library, pool, box)
            self.folders.added.connect(self.folder_added)
            self.folders.list.model().rowsInserted.connect(lambda *_: self._update_start())
            self.folders.list.model().modelReset.connect(self._update_start)
            inner = QVBoxLayout(box)
            inner.addWidget(self.folders)
            layout.addWidget(box, 1)

        box = QGroupBox("2. The search model" if welcome else "", self)
        self.model_panel = ModelPanel(paths, library.has_model, pool, installer, box)
        self.model_panel.installed.connect(self.model_installed)
        inner = QVBoxLayout(box)
        inner.addWidget(self.model_panel)
        layout.addWidget(box)

        self.buttons = QDialogButtonBox(self)
        if welcome:
            self.start = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
            self.start.setDefault(True)
            self.later = self.buttons.addButton("Later", QDialogButtonBox.ButtonRole.RejectRole)
        else:
            self.start = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
            self.later = self.start
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.finished.connect(
            lambda _r: self.model_panel.cancel() if self.model_panel.busy() else None
        )
        self._update_start()

    def _update_start(self) -> None:
        if self.folders is not None:
            has_folders = self.folders.count() > 0
            self.start.setEnabled(has_folders)
            self.start.setToolTip("" if has_folders else "Add at least one folder first")
