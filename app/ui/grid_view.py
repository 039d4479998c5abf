"""The thumbnail grid: an icon-mode list view with photo-app manners.

Arrows move, Enter or Space opens the preview, the Menu key opens the context menu, Ctrl+wheel
zooms, and dragging a selection out hands the files to other applications. Delete does nothing:
PhotoSeek never deletes photos. The "Show N weaker matches" cell that may end the grid acts on a
click, Enter or Space, and has no menu.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QKeyEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from app.ui.results_model import ResultsModel
from app.ui.thumb_delegate import ThumbDelegate


class ResultsView(QListView):
    """Emits `open_requested(index)`, `menu_requested(index, global_pos)`, `zoom(steps)`."""

    open_requested = Signal(QModelIndex)
    menu_requested = Signal(QModelIndex, QPoint)
    zoom = Signal(int)
    delete_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setSpacing(0)
        # Always there, so the column count does not flip as the scroll bar comes and goes.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAccessibleName("Photos")
        self.setAccessibleDescription(
            "Search results. Arrow keys move, Enter opens a preview, the menu key shows actions."
        )
        self.delegate = ThumbDelegate(self)
        self.setItemDelegate(self.delegate)
        self.delegate.sizeHintChanged.connect(lambda _i: self._update_grid())
        self.doubleClicked.connect(self._open)
        self.clicked.connect(self._clicked)
        self._update_grid()

    def set_thumb_size(self, size: int) -> None:
        current = self.currentIndex()
        self.delegate.set_thumb_size(size)
        if current.isValid():
            self.scrollTo(current)

    def _update_grid(self) -> None:
        """Cells share the full width: as many columns as fit, the spare pixels spread evenly."""
        cell = self.delegate.cell_size(self.font())
        width = self.viewport().width() - 1
        columns = max(1, width // cell.width())
        grid = QSize(max(cell.width(), width // columns), cell.height())
        if grid != self.gridSize():
            self.setGridSize(grid)
        self.delegate.set_stretch(grid.width())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_grid()

    def _weaker_row(self, index: QModelIndex) -> ResultsModel | None:
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
