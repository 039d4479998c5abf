"""How the results are laid out and drawn: justified rows, under month (or day) headers and with a
date scrubber in date order; one run of rows with date captions in ranked order.

A QListView in name, so screen readers and Qt's item-view machinery (selection, keyboard, drag,
tooltips, fetchMore) see a list of photos, but it lays its rows out itself (timeline_layout) and
paints only what is in view: 100,000 photos cost one O(n) layout and frames of the ~40 visible
tiles (bench/timeline.py). Rows the model has not fetched yet are fetched as they come into view
or are reached by the keyboard. What the user does with the photos is in grid_view.

Why ranked results get the same justified rows, without headers: the photos keep their shapes
and the rows their rhythm when the user types, and rank still reads left to right, top to
bottom; month headers would split a ranking, so there the date goes under each photo.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
)
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QRegion, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyleOptionViewItem, QWidget

from app.ui.results_model import ResultsModel
from app.ui.scrubber import WIDTH as SCRUBBER_WIDTH
from app.ui.scrubber import Scrubber
from app.ui.thumb_delegate import ThumbDelegate
from app.ui.timeline_layout import Metrics, TimelineLayout, lay_out, month_label

DAY_HEADERS_FROM = 224  # thumbnails this big or bigger: one header a day, not a month
Index = QModelIndex | QPersistentModelIndex
Move = QAbstractItemView.CursorAction
MOVES = {
    Move.MoveLeft: "previous",
    Move.MovePrevious: "previous",
    Move.MoveRight: "next",
    Move.MoveNext: "next",
    Move.MoveUp: "up",
    Move.MoveDown: "down",
    Move.MovePageUp: "page_up",
    Move.MovePageDown: "page_down",
    Move.MoveHome: "home",
    Move.MoveEnd: "end",
}


class TimelineView(QListView):
    """The rows, headers and scrubber over a ResultsModel (any list model works, unsorted)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Everything an override reads exists before the first Qt call below, which may call
        # one: PySide stops calling a Python override for good once it has raised.
        self._layout = lay_out([], None, Metrics(1, 1))
        self._dirty = True
        self._built_for: tuple[int, ...] = ()
        self._building = False
        self._timeline = False
        self._hover = -1
        self.delegate = ThumbDelegate(self)
        self.scrubber = Scrubber(self, self.verticalScrollBar())
        self.scrubber.label_at = self._label_at
        self.setUniformItemSizes(True)
        # A band may start and end off the photos (QListView otherwise needs a photo under the
        # pointer); grid_view draws it, as this paintEvent stands in for QListView's.
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setItemDelegate(self.delegate)
        self.delegate.sizeHintChanged.connect(self._size_changed)
        self._apply_mode(False)

    # -- the layout -------------------------------------------------------------------------------

    @property
    def timeline(self) -> bool:
        """Date order: headers and the scrubber (else a ranked run of rows with captions)."""
        return self._timeline

    def layout_now(self) -> TimelineLayout:
        """The current layout, rebuilt first if the results, size, zoom or font changed."""
        if (self._dirty or self._signature() != self._built_for) and not self._building:
            self._building = True
            try:
                self._build()
            finally:
                self._building = False
        return self._layout

    def _signature(self) -> tuple[int, ...]:
        """What the layout depends on besides the hits themselves."""
        model, results = self.model(), self._results()
        count = model.rowCount() if model is not None else 0
        if results is not None:
            count = results.total() + int(results.weaker > 0)
        by_date = results is not None and results.by_date
        width, font_h = self.viewport().width(), self.fontMetrics().height()
        return (width, self.delegate.thumb_size, font_h, int(by_date), count)

    def relayout(self) -> None:
        """Lay out again (size or zoom changed), keeping the photo at the top where it was."""
        old, top = self._layout, self.verticalOffset()
        anchor = old.line_first[old.line_from(top)] if old.count and not self._dirty else -1
        delta = old.rect(anchor)[1] - top if anchor >= 0 else 0
        self._dirty = True
        new = self.layout_now()
        if 0 <= anchor < new.count:
            self.verticalScrollBar().setValue(new.rect(anchor)[1] - delta)
        self.viewport().update()

    def _size_changed(self, _index: QModelIndex) -> None:
        self.relayout()

    def _results(self) -> ResultsModel | None:
        model = self.model()
        return model if isinstance(model, ResultsModel) else None

    def _apply_mode(self, timeline: bool) -> None:
        self._timeline = timeline
        self.delegate.captions = not timeline
        # Always there in ranked order, so the row width does not flip as the bar comes and goes.
        on, off = Qt.ScrollBarPolicy.ScrollBarAlwaysOn, Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        self.setVerticalScrollBarPolicy(off if timeline else on)
        self.setViewportMargins(0, 0, SCRUBBER_WIDTH if timeline else 0, 0)
        self.scrubber.setVisible(timeline)
        if not timeline:
            self.scrubber.bubble.hide()

    def _build(self) -> None:
        self._dirty = False
        model, results = self.model(), self._results()
        timeline = results is not None and results.by_date
        if timeline != self._timeline:
            self._apply_mode(timeline)
        aspects = [1.0] * (model.rowCount() if model is not None else 0)
        keys: list[int] | None = None
        if results is not None:
            aspects = results.aspects() + ([1.0] if results.weaker else [])
            if timeline:  # the "Show N weaker" tile joins the last section
                keys = results.date_keys()
                keys = keys + keys[-1:] if results.weaker else keys
        line = self.fontMetrics().height()
        metrics = Metrics(
            width=self.viewport().width(),
            row_height=self.delegate.thumb_size,
            month_header=round(line * 1.25) + 26,
            day_header=line + 22,
            caption=self.delegate.caption_height(self.font()),
        )
        by_day = self.delegate.thumb_size >= DAY_HEADERS_FROM
        self._layout = lay_out(aspects, keys, metrics, by_day=by_day)
        self._built_for = self._signature()
        self._update_bar()

    def _update_bar(self) -> None:
        bar, page = self.verticalScrollBar(), self.viewport().height()
        bar.setPageStep(max(1, page))
        bar.setSingleStep(max(24, self.delegate.thumb_size // 4))
        bar.setRange(0, max(0, self._layout.height - page))
        area = self.viewport().geometry()
        self.scrubber.setGeometry(area.right() + 1, area.top(), SCRUBBER_WIDTH, area.height())
        self.scrubber.set_content(self._layout.height, self._layout.year_marks())
        self.scrubber.setVisible(self._timeline and bar.maximum() > 0)  # nothing to jump through

    def _label_at(self, value: int) -> str:
        header = self.layout_now().header_at(value)
        return month_label(header.key) if header is not None else ""

    # -- Qt's item-view interface -----------------------------------------------------------------

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        if model is not None:
            model.modelReset.connect(self._reset)
            model.rowsRemoved.connect(self._rows_changed)
            model.layoutChanged.connect(self._rows_changed)
        self._dirty = True

    def _reset(self) -> None:
        self._hover = -1
        self._dirty = True
        self.verticalScrollBar().setValue(0)  # new results start at their top (or newest)

    def _rows_changed(self) -> None:
        self._dirty = True
        self.scheduleDelayedItemsLayout()

    # QListView's own versions of these lay its rows out again; ours are laid out already
    # (fetched rows included), and only the "Show N weaker" tile changes the count.
    def rowsInserted(self, parent: Index, start: int, end: int) -> None:
        QAbstractItemView.rowsInserted(self, parent, start, end)
        results = self._results()
        if results is not None and results.total() + int(results.weaker > 0) != self._layout.count:
            self._rows_changed()
        self.viewport().update()

    def rowsAboutToBeRemoved(self, parent: Index, start: int, end: int) -> None:
        QAbstractItemView.rowsAboutToBeRemoved(self, parent, start, end)

    def dataChanged(
        self,
        top_left: Index,
        bottom_right: Index,
        roles: Sequence[int] = (),
    ) -> None:
        QAbstractItemView.dataChanged(self, top_left, bottom_right, roles)

    def doItemsLayout(self) -> None:
        self.layout_now()
        QAbstractItemView.doItemsLayout(self)

    def updateGeometries(self) -> None:
        self.layout_now()
        self._update_bar()
        QAbstractItemView.updateGeometries(self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        QAbstractItemView.resizeEvent(self, event)
        if self._building:
            return  # the viewport's margins changed with the mode, in the middle of a layout
        if event.size().width() != event.oldSize().width():
            self.relayout()
        else:
            self._update_bar()

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index: Index) -> bool:
        return False

    def _index(self, row: int) -> QModelIndex:
        """The model's index of laid-out item `row`, fetching rows up to it first."""
        model, results = self.model(), self._results()
        if model is None or row < 0:
            return QModelIndex()
        if row >= model.rowCount() and results is not None:
            results.fetch_up_to(min(row, results.total() - 1))
        return model.index(row, 0) if row < model.rowCount() else QModelIndex()

    def visualRect(self, index: Index) -> QRect:
        layout = self.layout_now()
        if not index.isValid() or index.row() >= layout.count:
            return QRect()
        x, y, w, h = layout.rect(index.row())
        return QRect(x, y - self.verticalOffset(), w, h)

    def indexAt(self, point: QPoint) -> QModelIndex:
        item = self.layout_now().item_at(point.x(), point.y() + self.verticalOffset())
        return self._index(item) if item >= 0 else QModelIndex()

    def scrollTo(
        self,
        index: Index,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        layout = self.layout_now()
        if not index.isValid() or index.row() >= layout.count:
            return
        _x, y, _w, h = layout.rect(index.row())
        top, bottom = layout.top_of(index.row()), y + h + layout.metrics.gap
        page, value = self.viewport().height(), self.verticalOffset()
        Hint = QAbstractItemView.ScrollHint
        if hint == Hint.PositionAtTop or (hint == Hint.EnsureVisible and top < value):
            value = top
        elif hint == Hint.PositionAtBottom or (
            hint == Hint.EnsureVisible and bottom > value + page
        ):
            value = bottom - page
        elif hint == Hint.PositionAtCenter:
            value = y + h // 2 - page // 2
        self.verticalScrollBar().setValue(value)

    def moveCursor(self, action: Move, modifiers: Qt.KeyboardModifier) -> QModelIndex:
        layout = self.layout_now()
        current = self.currentIndex()
        if not layout.count or not current.isValid():
            return self._index(0)
        move = MOVES.get(action)
        if move is None:
            return current
        return self._index(layout.step(current.row(), move, self.viewport().height()))

    def setSelection(self, rect: QRect, command: QItemSelectionModel.SelectionFlag) -> None:
        r, offset, model = rect.normalized(), self.verticalOffset(), self.model()
        rows = self.layout_now().items_in(
            r.left(), r.top() + offset, r.right() + 1, r.bottom() + 1 + offset
        )
        selection = QItemSelection()
        if rows and model is not None:
            self._index(rows[-1])
            start = prev = rows[0]
            for row in [*rows[1:], -2]:  # contiguous runs, one range each
                if row != prev + 1:
                    selection.select(model.index(start, 0), model.index(prev, 0))
                    start = row
                prev = row
        self.selectionModel().select(selection, command)

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:
        offset, model = self.verticalOffset(), self.model()
        shown = self.layout_now().items_between(offset, offset + self.viewport().height())
        region = QRegion()
        for i in range(selection.size()):
            span = selection.at(i)
            for row in range(max(span.top(), shown.start), min(span.bottom() + 1, shown.stop)):
                region += self.visualRect(model.index(row, 0))
        return region

    def selectAll(self) -> None:
        results = self._results()
        if results is not None and results.total():
            results.fetch_up_to(results.total() - 1)
        super().selectAll()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().scroll(0, dy)  # only the rows scrolled into view get painted

    # -- painting ---------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        layout, model = self.layout_now(), self.model()
        if model is None:
            return
        painter = QPainter(self.viewport())
        offset, area = self.verticalOffset(), event.rect()
        top, bottom = area.top() + offset, area.bottom() + 1 + offset
        palette, font, margin = self.palette(), self.font(), layout.metrics.margin
        results = self._results()
        for header in layout.headers_between(top, bottom):
            rect = QRect(
                margin, header.y - offset, layout.metrics.width - 2 * margin, header.height
            )
            videos = results.videos_between(header.first, header.end) if results else 0
            self.delegate.paint_header(painter, rect, header, palette, font, videos)
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        flag = QStyle.StateFlag
        plain = option.state & ~(flag.State_Selected | flag.State_HasFocus | flag.State_MouseOver)
        selection = self.selectionModel()
        current = self.currentIndex().row() if self.hasFocus() else -1
        items = layout.items_between(top, bottom)
        if items and items.stop > model.rowCount():
            self._index(items.stop - 1)  # fetched as they come into view
        shown = model.rowCount()
        for row in items:
            if row >= shown:
                break
            index = model.index(row, 0)
            x, y, w, h = layout.rect(row)
            option.rect = QRect(x, y - offset, w, h)
            state = plain
            if selection.isSelected(index):
                state |= flag.State_Selected
            if row == self._hover:
                state |= flag.State_MouseOver
            if row == current:
                state |= flag.State_HasFocus
            option.state = state
            self.delegate.paint(painter, option, index)
        painter.end()

    # -- the pointer ------------------------------------------------------------------------------

    def _set_hover(self, row: int) -> None:
        if row == self._hover:
            return
        for old in (self._hover, row):
            if 0 <= old < self._layout.count:
                x, y, w, h = self._layout.rect(old)
                self.viewport().update(QRect(x, y - self.verticalOffset(), w, h))
        self._hover = row

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        self._set_hover(self.indexAt(event.position().toPoint()).row())

    def leaveEvent(self, event: QEvent) -> None:
        self._set_hover(-1)
        super().leaveEvent(event)
