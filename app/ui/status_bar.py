"""The window's status bar: the result summary on the left, where a passing message takes its
place for a while; indexing and the zoom slider on the right, where they stay put.

QStatusBar's own temporary messages hide the left-hand widgets and let the layout move the
right-hand ones; a long message pushed the zoom slider away from under the mouse. Here the
message is a label of its own in the same place, elided to the room there is.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget


class ElidedLabel(QLabel):
    """One line of plain text that takes the room it is given and ends in "…" when short of it
    (the whole text is its tooltip then)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(0)

    def shown_text(self) -> str:
        """The text as it fits now."""
        return self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        shown = self.shown_text()
        self.setToolTip(self.text() if shown != self.text() else "")
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            self.palette(),
            self.isEnabled(),
            shown,
            self.foregroundRole(),
        )


class StatusBar(QStatusBar):
    """`summary` is the result summary; `showMessage(text, ms)` puts `text` in its place."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = ElidedLabel(self)
        self.summary.setContentsMargins(8, 0, 0, 0)
        self.message = ElidedLabel(self)
        self.message.setContentsMargins(8, 0, 0, 0)
        self.message.setAccessibleName("Message")
        self.message.hide()
        self.addWidget(self.summary, 1)
        self.addWidget(self.message, 1)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.clearMessage)

    def showMessage(self, text: str, timeout: int | None = 0) -> None:  # Qt's own name
        """Show `text` instead of the summary, for `timeout` ms (0: until replaced)."""
        self.message.setText(text)
        self.summary.setVisible(not text)
        self.message.setVisible(bool(text))
        if text and timeout:
            self._timer.start(timeout)
        else:
            self._timer.stop()
        self.messageChanged.emit(text)

    def clearMessage(self) -> None:
        self.showMessage("")

    def currentMessage(self) -> str:
        return self.message.text()
