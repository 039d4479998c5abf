"""The Duplicates view while it looks: what it is doing now ("Comparing pictures: 1,200 of
5,000"), a bar that fills when the amount of work is known, and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.core.api import DuplicateProgress

STAGE_WORDS = {
    "calibrating": "Preparing this model (first time only)",
    "checking identical files": "Checking identical files",
    "finding neighbours": "Finding similar photos",
    "comparing pictures": "Comparing pictures",
}


def stage_text(p: DuplicateProgress) -> str:
    """ "Comparing pictures: 1,200 of 5,000"; the stage alone while its total is unknown."""
    words = STAGE_WORDS.get(p.stage, p.stage.capitalize())
    return f"{words}: {p.done:,} of {p.total:,}" if p.total > 0 else f"{words}…"


class BusyPage(QWidget):
    """Headline, stage, bar and Cancel; `cancel_requested` when Cancel is pressed."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage = QLabel(self)
        self.stage.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(320)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop looking for duplicates (nothing is changed)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        column = QVBoxLayout(self)
        column.setSpacing(10)
        column.addStretch(1)
        column.addWidget(self.label)
        column.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addWidget(self.stage)
        column.addSpacing(6)
        column.addLayout(buttons)
        column.addStretch(2)

    def start(self, headline: str) -> None:
        """A new look begins: its headline, an indeterminate bar until a stage says how much."""
        self.label.setText(headline)
        self.stage.setText("")
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)

    def show_progress(self, p: DuplicateProgress) -> None:
        self.stage.setText(stage_text(p))
        if p.total > 0:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.done, p.total))
        else:
            self.bar.setRange(0, 0)
