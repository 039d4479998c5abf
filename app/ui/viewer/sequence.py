"""The photos the viewer steps through: the window's current results, in the grid's order. Stepping
moves the grid's current item along, so closing the viewer lands where the user was."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, Signal
from PySide6.QtWidgets import QAbstractItemView

from app.core.api import Hit
from app.ui.results_model import ResultsModel


class ResultSequence(QObject):
    """Emits `reset()` when the results were replaced (a new search, a folder changed)."""

    reset = Signal()

    def __init__(
        self,
        model: ResultsModel,
        view: QAbstractItemView | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.view = view
        model.modelReset.connect(self.reset)

    def count(self) -> int:
        return self.model.total()

    def item(self, row: int) -> tuple[int, str]:
        """(photo id, path) of the photo at `row`."""
        hit = self.model.hit(row)
        return int(hit.photo_id), str(hit.path)

    def hit(self, row: int) -> Hit:
        """The search's hit at `row` (kind, a video's moments)."""
        return self.model.hit(row)

    def row_of(self, photo_id: int) -> int | None:
        return self.model.row_of(photo_id)

    def select(self, row: int) -> None:
        """Make `row` the grid's current item (fetching rows the grid has not shown yet)."""
        if self.view is None:
            return
        self.model.fetch_up_to(row)
        index = self.model.index(row, 0)
        if index.isValid():
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def current_row(self) -> int | None:
        index: QModelIndex = self.view.currentIndex() if self.view is not None else QModelIndex()
        return index.row() if index.isValid() else None
