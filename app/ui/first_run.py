"""The welcome dialog of a first run: what PhotoSeek does, which folders to search, the model
(one button for the default, and the way to the Models dialog for the others)."""

from __future__ import annotations

from PySide6.QtCore import QSize, QThreadPool, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Library
from app.ui import theme
from app.ui.folders_dialog import FolderList
from app.ui.model_manager import ModelManager
from app.ui.model_panel import ModelPanel

WELCOME = (
    "PhotoSeek finds photos on this computer by what is in them. Type what you remember "
    "(“birthday cake”, “red car in the snow”) or drop in a photo to find ones like it. "
    "Everything stays on this computer: nothing is uploaded, and your files are never changed."
)


class FirstRunDialog(QDialog):
    """Emits `folder_added(path)` and `models_requested()` (open the Models dialog)."""

    folder_added = Signal(str)
    models_requested = Signal()

    def __init__(
        self,
        library: Library,
        pool: QThreadPool,
        manager: ModelManager,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to PhotoSeek")
        self.setAccessibleName(self.windowTitle())
        self.resize(640, 560)
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        logo = QLabel(self)
        logo.setPixmap(theme.app_icon().pixmap(QSize(56, 56)))
        title = theme.make_heading(QLabel("Welcome to PhotoSeek", self), 1.6)
        header.addWidget(logo)
        header.addWidget(title, 1)
        layout.addLayout(header)

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

        box = QGroupBox("2. The search model", self)
        self.model_panel = ModelPanel(manager, library.has_model, box)
        self.model_panel.more.connect(self.models_requested)
        inner = QVBoxLayout(box)
        inner.addWidget(self.model_panel)
        layout.addWidget(box)

        self.buttons = QDialogButtonBox(self)
        self.start = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start.setDefault(True)
        self.later = self.buttons.addButton("Later", QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._update_start()

    def _update_start(self) -> None:
        has_folders = self.folders.count() > 0
        self.start.setEnabled(has_folders)
        self.start.setToolTip("" if has_folders else "Add at least one folder first")
