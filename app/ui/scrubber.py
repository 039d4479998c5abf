"""The date scrubber along the timeline's right edge: years as landmarks, click or drag to jump.

It drives the view's scroll bar: a position on it is a fraction of the bar's range (0: the
newest photos at the top, 1: the end), so it knows nothing of rows; the view hands it the year
landmarks and names the month at a scroll value. While the pointer is over it or dragging, a
bubble to its left shows that month ("July 2019"), as Google Photos and Immich do. Keyboard
users have PageUp/PageDown/Home/End in the view itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, Qt
from PySide6.QtGui import (
    QEnterEvent,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import QScrollBar, QWidget

from app.ui.theme import mix

WIDTH = 52
EDGE = 10  # room above the first and below the last position, so labels are not cut


def _no_label(_value: int) -> str:
    return ""


class Bubble(QWidget):
    """The month under the pointer, in a rounded label beside the scrubber."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._text = ""
        self.hide()

    def show_text(self, text: str, right: int, centre_y: int) -> None:
        self._text = text
        metrics = QFontMetrics(self.font())
        w, h = metrics.horizontalAdvance(text) + 20, metrics.height() + 10
        self.setGeometry(right - w, centre_y - h // 2, w, h)
        self.show()
        self.raise_()
        self.update()

    def text(self) -> str:
        return self._text

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
        painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), self._text)


class Scrubber(QWidget):
    """Drives the scroll `bar` it is given: a click or drag sets its value, and `label_at(value)`
    names the month there for the bubble."""

    def __init__(self, parent: QWidget, bar: QScrollBar) -> None:
        super().__init__(parent)
        self._bar = bar
        self._content = 1
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName("Timeline scrubber")
        self._marks: list[tuple[float, str]] = []
        self._position = 0.0
        self._span = 1.0
        self._hover: int | None = None
        self._dragging = False
        self.label_at: Callable[[int], str] = _no_label
        self.bubble = Bubble(parent)
        bar.valueChanged.connect(self._follow)
        bar.rangeChanged.connect(self._follow)

    def set_content(self, height: int, marks: Sequence[tuple[int, str]]) -> None:
        """The content is `height` pixels tall, with (y, label) landmarks (where years start)."""
        self._content = max(1, height)
        top = max(1, self._bar.maximum())
        self.set_marks([(min(1.0, y / top), label) for y, label in marks])
        self._follow()

    def _follow(self, *_args: int) -> None:
        bar = self._bar
        self.set_position(bar.value() / max(1, bar.maximum()), bar.pageStep() / self._content)

    def jump(self, fraction: float) -> None:
        """Scroll to `fraction` of the way down (0: the top, 1: the end)."""
        self._bar.setValue(round(min(1.0, max(0.0, fraction)) * self._bar.maximum()))

    def set_marks(self, marks: Sequence[tuple[float, str]]) -> None:
        """(fraction, label) landmarks, e.g. where each year starts, top to bottom."""
        self._marks = list(marks)
        self.update()

    def set_position(self, fraction: float, span: float) -> None:
        """Where the view is (0..1) and how much of the whole it shows (0..1)."""
        self._position, self._span = min(1.0, max(0.0, fraction)), min(1.0, max(0.0, span))
        self.update()

    def marks(self) -> list[tuple[float, str]]:
        return list(self._marks)

    def y_of(self, fraction: float) -> int:
        return EDGE + round(fraction * max(1, self.height() - 2 * EDGE))

    def fraction_at(self, y: int) -> float:
        return min(1.0, max(0.0, (y - EDGE) / max(1, self.height() - 2 * EDGE)))

    def visible_marks(self, font: QFont) -> list[tuple[int, str]]:
        """The landmarks that fit without overlapping, as (y, label): the first, then each
        one far enough below the last one shown."""
        room = QFontMetrics(font).height() + 2
        out: list[tuple[int, str]] = []
        for fraction, label in self._marks:
            y = self.y_of(fraction)
            if not out or y - out[-1][0] >= room:
                out.append((y, label))
        return out

    # -- painting ---------------------------------------------------------------------------------

    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        painter.fillRect(self.rect(), base)
        font = self._label_font()
        painter.setFont(font)
        painter.setPen(mix(text, base, 0.35))
        h = QFontMetrics(font).height()
        for y, label in self.visible_marks(font):
            rect = QRect(0, y - h // 2, self.width() - 8, h)
            painter.drawText(
                rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), label
            )
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # where the view is: a pill as tall as the part of the whole it shows
        top = self.y_of(self._position * (1 - self._span))
        tall = max(6, round(self._span * (self.height() - 2 * EDGE)))
        painter.setPen(Qt.PenStyle.NoPen)
        highlight = palette.color(QPalette.ColorRole.Highlight)
        painter.setBrush(highlight)
        painter.drawRoundedRect(QRectF(self.width() - 5, top, 3, tall), 1.5, 1.5)
        if self._hover is not None:
            painter.fillRect(QRect(0, self._hover, self.width(), 2), highlight)

    # -- the pointer ------------------------------------------------------------------------------

    def _point(self, y: int) -> None:
        self._hover = max(EDGE, min(self.height() - EDGE, y))
        value = round(self.fraction_at(y) * self._bar.maximum())
        right = self.mapToParent(QPoint(0, 0)).x() - 4
        centre = self.mapToParent(QPoint(0, self._hover)).y()
        self.bubble.show_text(self.label_at(value), right, centre)
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            y = event.position().toPoint().y()
            self.jump(self.fraction_at(y))
            self._point(y)
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        y = event.position().toPoint().y()
        if self._dragging:
            self.jump(self.fraction_at(y))
        self._point(y)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
        if not self.rect().contains(event.position().toPoint()):
            self.leaveEvent(event)  # the drag ended off the scrubber
        event.accept()

    def enterEvent(self, event: QEnterEvent) -> None:
        self._point(event.position().toPoint().y())

    def leaveEvent(self, event: QEvent) -> None:
        if not self._dragging:
            self._hover = None
            self.bubble.hide()
            self.update()
