"""The Duplicates view's notice line: what just happened (a move, and where the photos went), what
could not be done and why, or why only exact copies are found; with at most one action ("Open
Trash", "Get a Model") and a way to dismiss it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.core.api import TrashResult
from app.ui import theme
from app.ui.duplicates_words import result_text, trash_name


class Notice(QFrame):
    """Emits `link(key)` when its action is pressed; `key` is the action shown, or ""."""

    link = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = ""
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.setAccessibleName("Notice")
        self.icon = theme.IconLabel("warning", 16, self)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton(self)
        self.button.clicked.connect(lambda: self.link.emit(self.key))
        close = QToolButton(self)
        close.setIcon(theme.icon("close"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss the notice")
        close.clicked.connect(self.clear)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.text, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def say(self, text: str, action: tuple[str, str] | None = None, *, warn: bool = False) -> None:
        """Show `text`, with the button (label, key) `action`; `warn` marks a problem."""
        self.text.setText(text)
        self.key = action[1] if action else ""
        self.button.setText(action[0] if action else "")
        self.button.setVisible(action is not None)
        self.icon.setVisible(warn)
        self.show()

    def show_result(self, result: TrashResult) -> None:
        """After a move: where the photos went and how to restore them; failures named."""
        action = (f"Open {trash_name()}", "open-trash") if result.moved else None
        self.say(result_text(result), action, warn=bool(result.failed))

    def clear(self) -> None:
        self.key = ""
        self.hide()
