"""While a photo is dragged over the window: a highlight over the photos saying what a drop does."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPen, QShowEvent
from PySide6.QtWidgets import QWidget

from app.ui.theme import mix

TEXT = "Drop to find photos like this one"


class DropOverlay(QWidget):
    """Covers `parent` (and follows its size); hidden until `show()`. Takes no mouse input."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._covered = parent
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAccessibleName(TEXT)
        self.hide()
        parent.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._covered and event.type() == QEvent.Type.Resize:
            self.setGeometry(self._covered.rect())
        return False

    def showEvent(self, event: QShowEvent) -> None:
        self.setGeometry(self._covered.rect())
        self.raise_()
        super().showEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        palette = self.palette()
        accent = palette.color(QPalette.ColorRole.Highlight)
        base = palette.color(QPalette.ColorRole.Base)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = mix(base, accent, 0.18)
        fill.setAlphaF(0.88)
        painter.setBrush(fill)
        painter.setPen(QPen(accent, 2.5, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(8, 8, -8, -8), 12, 12)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setWeight(font.Weight.DemiBold)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), TEXT)
