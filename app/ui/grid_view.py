"""The results view and its photo-app manners; the rows, headers and scrubber are timeline_view's.

Arrows move (up and down to the nearest photo in the row above or below), Home/End and
PageUp/PageDown jump, Enter or Space opens the preview, the Menu key opens the context menu,
Ctrl+wheel zooms, dragging a selection out hands the files to other applications, dragging on
empty space draws a selection band, and the check badge a photo shows under the pointer adds it
to the selection or takes it out (as Ctrl+click does). Delete does nothing: PhotoSeek never
deletes photos. The "Show N weaker matches" tile that may end a ranked list acts on a click,
Enter or Space, and has no menu.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QContextMenuEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from app.ui.results_model import ResultsModel
from app.ui.theme import mix
from app.ui.timeline_view import TimelineView

THUMB_WIDE = 1.5  # thumbnails are loaded this many row heights long: a 3:2 photo's width


class ResultsView(TimelineView):
    """Emits `open_requested(index)`, `menu_requested(index, global_pos)`, `zoom(steps)`."""

    open_requested = Signal(QModelIndex)
    menu_requested = Signal(QModelIndex, QPoint)
    zoom = Signal(int)
    delete_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        self._band_origin: QPoint | None = None  # content coordinates, while a band is drawn
        self._band = QRect()
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAccessibleName("Photos")
        self.setAccessibleDescription(
            "Search results. Arrow keys move, Enter opens a preview, the menu key shows actions."
        )
        self.doubleClicked.connect(self._open)
        self.clicked.connect(self._clicked)

    def set_thumb_size(self, size: int) -> None:
        """Zoom: rows `size` high; the photo at the top stays there, the current one in view."""
        current = self.currentIndex()
        shown = current.isValid() and self.viewport().rect().intersects(self.visualRect(current))
        self.delegate.set_thumb_size(size)
        if shown:
            self.scrollTo(current)

    def thumb_side(self) -> int:
        """The longest side thumbnails are wanted at, in logical pixels: a 3:2 photo's width at
        the row height (the commonest shape; a panorama is rare, a portrait needs less)."""
        return round(self.delegate.thumb_size * THUMB_WIDE)

    def _weaker_row(self, index: QModelIndex | QPersistentModelIndex) -> ResultsModel | None:
        """The results model, when `index` is its "Show N weaker matches" cell."""
        model = self.model()
        return model if isinstance(model, ResultsModel) and model.is_weaker_row(index) else None

    def _open(self, index: QModelIndex) -> None:
        if self._weaker_row(index) is None:
            self.open_requested.emit(index)

    def _clicked(self, index: QModelIndex) -> None:
        model = self._weaker_row(index)
        if model is not None:
            model.request_weaker()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if (
            key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
            and self.currentIndex().isValid()
        ):
            model = self._weaker_row(self.currentIndex())
            if model is not None:
                model.request_weaker()
            else:
                self.open_requested.emit(self.currentIndex())
            event.accept()
            return
        if key == Qt.Key.Key_Delete:
            self.delete_pressed.emit()  # never deletes: the window explains that
            event.accept()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() // 120 or (1 if event.angleDelta().y() > 0 else -1)
            if event.angleDelta().y():
                self.zoom.emit(steps)
            event.accept()
            return
        super().wheelEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if event.reason() == QContextMenuEvent.Reason.Mouse:
            index = self.indexAt(event.pos())
            if index.isValid() and not self.selectionModel().isSelected(index):
                self.setCurrentIndex(index)
            pos = event.globalPos()
        else:  # the Menu key: open it at the current cell
            index = self.currentIndex()
            rect = self.visualRect(index) if index.isValid() else self.viewport().rect()
            pos = self.viewport().mapToGlobal(rect.center())
        if index.isValid() and self._weaker_row(index) is None:
            self.menu_requested.emit(index, pos)
            event.accept()

    # -- the check badge and the selection band ---------------------------------------------------

    def _on_check(self, pos: QPoint) -> QModelIndex:
        """The photo whose check badge is under `pos` (invalid when none is)."""
        index = self.indexAt(pos)
        if not index.isValid() or self._weaker_row(index) is not None:
            return QModelIndex()
        rect = QRectF(self.visualRect(index))
        rect.setHeight(rect.height() - self.delegate.caption_height(self.font()))
        return index if self.delegate.check_rect(rect).contains(pos.toPointF()) else QModelIndex()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        checked = self._on_check(pos)
        if checked.isValid() and event.button() == Qt.MouseButton.LeftButton:
            flags = QItemSelectionModel.SelectionFlag
            self.selectionModel().setCurrentIndex(checked, flags.Toggle)
            event.accept()
            return
        self._band_origin = None
        if not self.indexAt(pos).isValid():
            self._band_origin = pos + QPoint(0, self.verticalOffset())
        self._band = QRect()
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._on_check(event.position().toPoint()).isValid():
            event.accept()  # a quick second tick on the badge is not an "open"
            return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        if self._band_origin is not None and event.buttons() & Qt.MouseButton.LeftButton:
            corner = event.position().toPoint() + QPoint(0, self.verticalOffset())
            self._band = QRect(self._band_origin, corner).normalized()
            self.viewport().update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if self._band_origin is not None:
            self._band_origin, self._band = None, QRect()
            self.viewport().update()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self._band_origin is not None:
            self.viewport().update()  # the band is anchored to the content, not the screen

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self._band_origin is None or self._band.isNull():
            return
        painter = QPainter(self.viewport())
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        fill = mix(palette.color(QPalette.ColorRole.Base), highlight, 0.2)
        fill.setAlphaF(0.5)
        painter.setPen(highlight)
        painter.setBrush(fill)
        painter.drawRect(self._band.translated(0, -self.verticalOffset()))
        painter.end()
