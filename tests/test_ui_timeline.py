"""The timeline: justified rows that keep each photo's shape, month (or day) headers in date order,
the year scrubber, keyboard moves across rows, and only what is in view fetched and painted; and
a real library's hits carrying the sizes the rows need."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from microclip import make_shape_image
from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    Qt,
)
from PySide6.QtGui import QMouseEvent, QPainter, QPixmapCache
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem, QWidget
from qt_helpers import press, strict_qt_fixture, write_photo  # noqa: F401
from test_ui_window import (  # noqa: F401 - the window fixture and what it needs
    YEARS,
    indexed_library,
    paths,
    photo_dir,
    pick,
    wait_for_search,
    window,
)

from app.core.api import Hit
from app.core.library import Library
from app.core.paths import Paths
from app.core.search.query import Query
from app.ui.grid_view import ResultsView
from app.ui.results_model import BATCH, ResultsModel
from app.ui.thumb_delegate import ThumbDelegate
from app.ui.timeline_layout import (
    MAX_ASPECT,
    NO_DATE,
    Metrics,
    date_key,
    day_label,
    lay_out,
    month_label,
)
from app.ui.timeline_view import DAY_HEADERS_FROM

SHAPES = [(3, 2), (2, 3), (4, 3), (16, 9), (1, 1), (7, 2)]


class CountingDelegate(ThumbDelegate):
    """The real delegate, noting which rows it painted."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.rows: list[int] = []

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        self.rows.append(index.row())
        super().paint(painter, option, index)


def dated_hits(n: int, per_day: int = 3, start: datetime = datetime(2021, 3, 30, 12)) -> list[Hit]:
    """`n` hits newest first, `per_day` a day going back from `start`, in varied shapes."""
    out = []
    for i in range(n):
        w, h = SHAPES[i % len(SHAPES)]
        when = start - timedelta(days=i // per_day)
        out.append(Hit(i + 1, f"/p/{i:06d}.jpg", 0.0, when, "exif_original", w * 100, h * 100))
    return out


@pytest.fixture(autouse=True)
def fresh_pixmap_cache():
    QPixmapCache.clear()
    yield
    QPixmapCache.clear()


@pytest.fixture
def view(qtbot):
    model = ResultsModel(None)
    view = ResultsView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 640)
    view.show()
    qtbot.waitExposed(view)
    return view


def browse(view: ResultsView, hits: list[Hit]) -> ResultsModel:
    model = view.model()
    assert isinstance(model, ResultsModel)
    model.set_hits(hits, 1, scored=False, by_date=True)
    view.layout_now()
    return model


# -- the layout on its own -----------------------------------------------------------------------


def test_full_rows_fill_the_width_and_keep_each_photos_shape():
    aspects = [min(MAX_ASPECT, w / h) for w, h in SHAPES] * 20  # as the model clamps them
    layout = lay_out(aspects, None, Metrics(width=1000, row_height=180, gap=4, margin=8))
    assert layout.count == len(aspects) and not layout.headers
    for line in range(len(layout.line_y) - 1):  # every row but the last is full
        items = layout.line_items(line)
        assert layout.x[items.start] == 8
        assert layout.x[items.stop - 1] + layout.w[items.stop - 1] == 1000 - 8
        for a, b in itertools.pairwise(items):
            assert layout.x[b] - (layout.x[a] + layout.w[a]) == 4  # the gap, exactly
        h = layout.line_h[line]
        assert 180 * 0.6 < h < 180 * 1.5
        for i in items:
            assert layout.w[i] / h == pytest.approx(aspects[i], abs=0.03)
    last = layout.line_items(len(layout.line_y) - 1)
    assert layout.line_h[-1] <= 180 or len(last) == 1  # the last row is not stretched
    assert layout.height == layout.line_y[-1] + layout.line_h[-1] + 8


def test_sections_follow_months_or_days_newest_first():
    keys = [date_key(2021, 7, 14)] * 3 + [date_key(2021, 7, 2)] * 2 + [date_key(2019, 1, 5)]
    keys += [NO_DATE] * 2
    layout = lay_out([1.5] * len(keys), keys, Metrics(width=800, row_height=100))
    assert [h.text for h in layout.headers] == ["July 2021", "January 2019", "No date"]
    assert [(h.first, h.end) for h in layout.headers] == [(0, 5), (5, 6), (6, 8)]
    by_day = lay_out([1.5] * len(keys), keys, Metrics(width=800, row_height=100), by_day=True)
    assert [h.text for h in by_day.headers] == [
        "Wednesday 14 July 2021",
        "Friday 2 July 2021",
        "Saturday 5 January 2019",
        "No date",
    ]
    for header in layout.headers:  # a header sits above its first photo, never over one
        assert header.y + header.height <= layout.rect(header.first)[1]
    assert layout.year_marks() == [
        (layout.headers[0].y, "2021"),
        (layout.headers[1].y, "2019"),
        (layout.headers[2].y, "No date"),
    ]
    assert month_label(date_key(2019, 7, 14)) == "July 2019"
    assert day_label(date_key(2019, 7, 14)) == "Sunday 14 July 2019"


def test_a_hundred_thousand_photos_lay_out_in_one_pass():
    aspects = [w / h for w, h in SHAPES] * (100_000 // len(SHAPES))
    keys = sorted(
        (date_key(2000 + i % 25, 1 + i % 12, 1) for i in range(len(aspects))), reverse=True
    )
    layout = lay_out(aspects, keys, Metrics(width=1200, row_height=176))
    assert layout.count == len(aspects) and len(layout.headers) == 25 * 12
    middle = layout.height // 2
    shown = layout.items_between(middle, middle + 800)
    assert 0 < len(shown) < 80  # what a screenful paints
    assert all(layout.rect(i)[1] < middle + 800 for i in shown)


# -- the view ------------------------------------------------------------------------------------


def test_browsing_shows_month_headers_and_the_year_scrubber(view):
    model = browse(view, dated_hits(120, per_day=2))
    assert view.timeline and view.scrubber.isVisible()
    assert not view.verticalScrollBar().isVisible()  # the scrubber stands in for it
    layout = view.layout_now()
    assert [h.text for h in layout.headers] == ["March 2021", "February 2021", "January 2021"]
    assert [label for _f, label in view.scrubber.marks()] == ["2021"]
    header = layout.headers[0]
    assert not view.indexAt(QPoint(40, header.y + header.height // 2)).isValid()
    tile = view.visualRect(model.index(0, 0))
    assert tile.top() >= header.y + header.height
    assert tile.width() / tile.height() == pytest.approx(1.5, abs=0.03)  # a 3:2 photo
    assert view.scrubber.geometry().left() >= view.viewport().geometry().right()
    browse(view, dated_hits(2))  # all in view: no scrubber, and the rows keep their width
    assert not view.scrubber.isVisible() and view.viewport().width() == view.width() - 52
    # a photo's tooltip while browsing has its date and no score
    assert "Score" not in model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)


def test_a_ranked_list_has_rows_without_headers(view):
    model = view.model()
    model.set_hits(dated_hits(30), 1)
    layout = view.layout_now()
    assert not view.timeline and not layout.headers
    assert not view.scrubber.isVisible() and view.delegate.captions
    assert view.visualRect(model.index(0, 0)).top() == layout.metrics.margin


def test_zooming_in_switches_to_day_headers_and_keeps_the_top_photo(view):
    model = browse(view, dated_hits(600, per_day=4))
    target = model.row_of(200)
    view.scrollTo(model.index(target, 0), ResultsView.ScrollHint.PositionAtTop)
    top = view.visualRect(model.index(target, 0)).top()
    view.set_thumb_size(DAY_HEADERS_FROM)
    layout = view.layout_now()
    assert layout.headers[0].text == "Tuesday 30 March 2021"
    assert abs(view.visualRect(model.index(target, 0)).top() - top) <= 2
    view.set_thumb_size(120)
    assert view.layout_now().headers[0].text == "March 2021"


def test_arrows_move_across_rows_and_sections(view):
    model = browse(view, dated_hits(200, per_day=5))
    layout = view.layout_now()
    view.setFocus()
    view.setCurrentIndex(model.index(0, 0))
    press(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 1
    press(view, Qt.Key.Key_Down)  # the photo under it in the next row (or section)
    row = view.currentIndex().row()
    assert layout.line_of[row] == layout.line_of[1] + 1
    press(view, Qt.Key.Key_Up)
    assert layout.line_of[view.currentIndex().row()] == layout.line_of[1]
    press(view, Qt.Key.Key_PageDown)
    assert view.currentIndex().row() > row
    assert view.viewport().rect().intersects(view.visualRect(view.currentIndex()))
    press(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == 199 and model.rowCount() == 200
    assert view.viewport().rect().contains(view.visualRect(view.currentIndex()))
    press(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0 and view.verticalScrollBar().value() == 0


def test_the_scrubber_jumps_and_names_the_month_under_the_pointer(view, qtbot):
    model = browse(view, dated_hits(3_000, per_day=2))  # about four years
    bar = view.verticalScrollBar()
    labels = [label for _f, label in view.scrubber.marks()]
    assert labels == ["2021", "2020", "2019", "2018", "2017"]
    scrubber = view.scrubber
    QTest.mouseClick(scrubber, Qt.MouseButton.LeftButton, pos=QPoint(20, scrubber.height() // 2))
    assert abs(bar.value() - bar.maximum() // 2) < bar.maximum() // 20
    middle = view.indexAt(QPoint(view.viewport().width() // 2, view.viewport().height() // 2))
    assert middle.isValid() and middle.row() > 1000  # fetched as it came into view
    assert model.rowCount() < model.total()  # and not everything
    assert scrubber.bubble.isVisible()
    assert scrubber.bubble.text() == month_label(view.layout_now().header_at(bar.value()).key)
    scrubber.jump(1.0)
    assert bar.value() == bar.maximum()
    QApplication.sendEvent(scrubber, QEvent(QEvent.Type.Leave))
    assert not scrubber.bubble.isVisible()


def test_only_what_is_in_view_is_fetched_and_painted(view, qtbot):
    model = browse(view, dated_hits(100_000, per_day=40))
    assert model.rowCount() == BATCH
    counting = CountingDelegate(view)
    view.delegate, counting.captions = counting, view.delegate.captions
    view.setItemDelegate(counting)
    view.scrubber.jump(0.75)
    view.viewport().repaint()
    painted = counting.rows
    assert painted and min(painted) > 70_000 and len(set(painted)) < 120
    assert model.rowCount() <= max(painted) + BATCH


def test_a_band_drawn_over_photos_selects_them(view):
    browse(view, dated_hits(40))
    layout = view.layout_now()
    first, second = layout.line_items(0), layout.line_items(1)
    top = layout.rect(first.start)[1]
    band = QRect(
        QPoint(0, top + 5), QPoint(view.viewport().width(), layout.rect(second.start)[1] + 5)
    )
    view.setSelection(band, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    rows = sorted(i.row() for i in view.selectionModel().selectedIndexes())
    assert rows == list(range(first.start, second.stop))
    assert not view.visualRegionForSelection(view.selectionModel().selection()).isEmpty()


def test_the_check_badge_adds_to_the_selection_and_dragging_on_a_header_draws_a_band(view):
    model = browse(view, dated_hits(40))
    opened: list[int] = []
    view.open_requested.connect(lambda index: opened.append(index.row()))
    viewport = view.viewport()
    QTest.mouseClick(
        viewport, Qt.MouseButton.LeftButton, pos=view.visualRect(model.index(0, 0)).center()
    )
    badge = view.delegate.check_rect(QRectF(view.visualRect(model.index(2, 0)))).center().toPoint()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=badge)
    assert selected_rows(view) == [0, 2]  # added, as Ctrl+click would
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=badge)
    assert selected_rows(view) == [0]
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=badge)
    assert opened == []  # a quick second tick is not an "open"
    layout = view.layout_now()
    header = layout.headers[0]
    start = QPoint(4, header.y + header.height // 2)  # on the header: nothing under it
    end = QPoint(viewport.width() - 4, layout.rect(layout.line_items(1).start)[1] + 5)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for pos in (QPoint(40, start.y() + 30), end):
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(pos),
            QPointF(viewport.mapToGlobal(pos)),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, move)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert selected_rows(view) == list(range(layout.line_items(1).stop))


def selected_rows(view: ResultsView) -> list[int]:
    return sorted(i.row() for i in view.selectionModel().selectedIndexes())


def test_the_weaker_tile_ends_a_ranked_list(view):
    model = view.model()
    model.set_hits(dated_hits(10), 1)
    model.set_weaker(5)
    layout = view.layout_now()
    assert layout.count == 11
    cell = model.index(10, 0)
    assert model.is_weaker_row(cell) and view.visualRect(cell).isValid()
    asked: list[int] = []
    model.show_weaker_requested.connect(asked.append)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(cell).center())
    assert asked == [1]
    assert view.indexAt(view.visualRect(cell).center()) == cell
    assert view.indexAt(QPoint(-5, -5)) == QModelIndex()


# -- a real library -------------------------------------------------------------------------------


def test_browsing_a_library_gives_each_photo_its_shape(tmp_path: Path, encoder, qtbot):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    for i, (size, when) in enumerate(
        [((96, 64), datetime(2022, 5, 1)), ((48, 96), datetime(2021, 8, 3))]
    ):
        write_photo(folder / f"p{i}.jpg", make_shape_image("red", "circle", size, rng), when)
    lib = Library(Paths.at(tmp_path / "home"), encoder)
    try:
        lib.add_folder(folder)
        lib.index()
        hits = lib.search(Query()).hits
        assert [(h.width, h.height) for h in hits] == [(96, 64), (48, 96)]
        model = ResultsModel(None)
        model.set_hits(hits, 1, scored=False, by_date=True)
        assert model.aspects() == [pytest.approx(1.5), pytest.approx(0.5)]
        assert model.index(1, 0).data(ResultsModel.AspectRole) == pytest.approx(0.5)
        assert model.date_keys() == [date_key(2022, 5, 1), date_key(2021, 8, 3)]
    finally:
        lib.close()


# -- the window ----------------------------------------------------------------------------------


def test_the_window_browses_as_a_timeline_and_ranks_a_query_in_plain_rows(qtbot, window):  # noqa: F811
    """Browsing and "Newest first" group by month under the scrubber's years; a ranked query
    has rows without headers; the rows keep the photos' own shapes (here all square)."""
    grid = window.grid
    layout = grid.layout_now()
    assert grid.timeline and layout.headers
    years = {h.key // 10000 for h in layout.headers}
    assert years == set(YEARS)
    assert [label for _f, label in grid.scrubber.marks()] == [
        str(y) for y in sorted(YEARS, reverse=True)
    ]
    first = grid.visualRect(window.model.index(0, 0))
    assert first.width() == first.height()  # the test photos are square
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a green triangle"))
    assert not grid.timeline and not grid.layout_now().headers
    wait_for_search(qtbot, window, lambda: pick(window.filters.order_box, "date"))
    assert grid.timeline and grid.layout_now().headers
