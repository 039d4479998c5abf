"""The first-run dialog's model step: one button that downloads the default model, its
progress with Cancel, and a way to the full Models dialog. The work is the window's
`ModelManager`'s, so closing the dialog does not stop a download."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.ui.model_manager import InstallProgress, ModelManager
from app.ui.model_rows import download_label
from app.ui.models_dialog import selectable

NO_MODEL_TEXT = (
    "To search your photos by words or by an example photo, PhotoSeek needs a search model. "
    "It is downloaded once and runs on this computer: no photo and no query is uploaded."
)


def default_offer() -> tuple[str, str]:
    """(model name, button label) of the catalog's default model."""
    from app.core.api import DEFAULT_MODEL, UserError, default_entry

    try:
        entry = default_entry()
    except UserError:
        return DEFAULT_MODEL, f"Download {DEFAULT_MODEL}"
    return entry.name, download_label(entry)


class ModelPanel(QWidget):
    """Emits `more()` when the user wants the full list of models."""

    more = Signal()

    def __init__(
        self, manager: ModelManager, has_model: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.default_name, label = default_offer()
        self.status = selectable(QLabel(self))
        self.status.setAccessibleName("Model status")
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName("Model download progress")
        self.install_button = QPushButton(label, self)
        self.install_button.setAccessibleName("Download the search model")
        self.install_button.clicked.connect(self.install)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setAccessibleName("Cancel the model download")
        self.cancel_button.clicked.connect(manager.cancel)
        self.more_button = QPushButton("Other Models…", self)
        self.more_button.clicked.connect(self.more)
        row = QHBoxLayout()
        row.addWidget(self.install_button)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(0)
        row.addWidget(self.more_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addLayout(row)
        manager.progress.connect(self._progress)
        manager.busy_changed.connect(self._busy)
        manager.failed.connect(self._message)
        manager.cancelled.connect(self._message)
        manager.installed.connect(lambda _name: self.set_has_model(True))
        self.set_has_model(has_model)
        self._busy(manager.busy())

    def set_has_model(self, has_model: bool) -> None:
        self.has_model = has_model
        self.status.setText(
            "✓ A search model is installed. Searching runs on this computer; nothing is uploaded."
            if has_model
            else NO_MODEL_TEXT
        )
        self._busy(self.manager.busy())

    def busy(self) -> bool:
        return self.manager.busy()

    def install(self) -> None:
        self.manager.download(self.default_name)

    def _busy(self, busy: bool) -> None:
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.install_button.setVisible(not busy and not self.has_model)
        if busy:
            self.bar.setRange(0, 0)

    def _progress(self, p: InstallProgress) -> None:
        self.status.setText(f"{p.name}: {p.text()}")
        if p.total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(p.done / p.total, 1.0)))

    def _message(self, text: object) -> None:
        self.status.setText(str(text))
        if not self.has_model:
            self.install_button.setText("Try Again")
