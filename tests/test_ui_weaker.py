"""The "Show N weaker matches" cell: the results model adds it after the last hit when the search
hid photos under the relevance floor, the delegate paints it, and clicking it runs the same search
without the floor (the search controller, on a real library and the micro CLIP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import microclip
import pytest
from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, QThreadPool
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtTest import QAbstractItemModelTester
from PySide6.QtWidgets import QStyleOptionViewItem
from qt_helpers import shape_photos, strict_qt_fixture  # noqa: F401
from test_ui_model import hits

from app.core.library import Library
from app.core.paths import Paths
from app.ui.grid_view import ResultsView
from app.ui.image_query import ImageQuery
from app.ui.results_model import BATCH, ResultsModel
from app.ui.search_controller import CLOSEST_K, SearchController, SearchSpec, build_query


def test_the_weaker_row_follows_the_last_hit(qapp):
    model = ResultsModel()
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_hits(hits(BATCH + 5), generation=1)
    model.set_weaker(12)
    assert model.rowCount() == BATCH  # not before the hits still to fetch
    model.fetchMore(QModelIndex())
    assert model.rowCount() == BATCH + 6
    last = model.index(BATCH + 5, 0)
    assert model.is_weaker_row(last) and not model.is_weaker_row(model.index(BATCH + 4, 0))
    assert last.data() == "Show 12 weaker matches" and last.data(ResultsModel.WeakerRole) == 12
    assert last.data(ResultsModel.PhotoIdRole) is None
    assert not model.flags(last) & Qt.ItemFlag.ItemIsSelectable
    assert not model.flags(last) & Qt.ItemFlag.ItemIsDragEnabled
    assert len(model.mimeData([model.index(0, 0), last]).urls()) == 1
    model.set_weaker(1)
    assert model.index(BATCH + 5, 0).data() == "Show 1 weaker match"
    model.set_weaker(0)
    assert model.rowCount() == BATCH + 5
    model.set_hits(hits(3), generation=2)
    model.set_weaker(4)
    assert model.rowCount() == 4
    model.set_hits(hits(2), generation=3)  # a new list starts without the row
    assert model.rowCount() == 2 and model.weaker == 0
    asked: list[int] = []
    model.show_weaker_requested.connect(asked.append)
    model.request_weaker()  # nothing hidden: nothing to ask for
    model.set_weaker(5)
    model.request_weaker()
    assert asked == [3]  # the generation of the list whose cell was activated


def test_the_delegate_paints_the_weaker_cell(qapp):
    view = ResultsView()
    model = ResultsModel()
    view.setModel(model)
    model.set_hits(hits(1), generation=1)
    model.set_weaker(7)
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Base, QColor("white"))
    palette.setColor(QPalette.ColorRole.Link, QColor(0, 0, 255))
    option = QStyleOptionViewItem()
    option.palette = palette
    size = view.delegate.cell_size(option.font)
    option.rect = QRect(0, 0, size.width(), size.height())
    image = QImage(QSize(size.width(), size.height()), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    view.delegate.paint(painter, option, model.index(1, 0))
    painter.end()
    blue = sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if QColor(image.pixel(x, y)).blue() > 200 and QColor(image.pixel(x, y)).red() < 120
    )
    assert blue > 20  # the words, in the link colour
    view.deleteLater()


def test_build_query_lifts_the_floor_for_everything():
    assert build_query(SearchSpec(text="a cat")).min_score is None
    assert build_query(SearchSpec(text="a cat", everything=True)).min_score == float("-inf")


def test_build_query_asks_for_the_nearest_when_nothing_clears_the_floor():
    """A typed or example-photo search gets the nearest photos from the engine, in the same
    search, when none clears the floor; browsing has no floor and asks for none."""
    assert build_query(SearchSpec(text="a cat")).nearest_k == CLOSEST_K
    example = ImageQuery(label="Like a.jpg", like_photo_id=1)
    assert build_query(SearchSpec(image=example)).nearest_k == CLOSEST_K
    assert build_query(SearchSpec()).nearest_k == 0


PER_CLASS = 3
LIBRARY = len(microclip.all_pairs()) * PER_CLASS  # 48: enough for the library-relative floor


@pytest.fixture
def library(tmp_path: Path, encoder) -> Iterator[Library]:
    specs = [
        (c, s, datetime(2020, 1 + i % 12, 1 + i % 28, 12))
        for i, (c, s) in enumerate(microclip.all_pairs() * PER_CLASS)
    ]
    shape_photos(tmp_path / "photos", specs, size=64)
    lib = Library(Paths.at(tmp_path / "home"), encoder)
    lib.add_folder(tmp_path / "photos")
    lib.index()
    yield lib
    lib.close()


def test_clicking_the_weaker_cell_shows_every_match(qtbot, library):
    pool = QThreadPool()
    controller = SearchController(pool)
    controller.set_library(library)
    model = ResultsModel()
    view = ResultsView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 700)
    view.show()
    controller.finished.connect(lambda o: model.set_hits(o.result.hits, o.generation))
    controller.attach_results(model)

    with qtbot.waitSignal(controller.finished, timeout=20_000) as first:
        controller.submit(SearchSpec(text="a red circle"))
    result = first.args[0].result
    assert 0 < len(result.hits) < LIBRARY and result.weaker == LIBRARY - len(result.hits)
    assert model.weaker == result.weaker
    cell = model.index(model.rowCount() - 1, 0)
    assert model.is_weaker_row(cell)
    assert cell.data() == f"Show {result.weaker} weaker matches"

    view.scrollTo(cell)
    with qtbot.waitSignal(controller.finished, timeout=20_000) as second:
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(cell).center()
        )
    outcome = second.args[0]
    assert outcome.spec.everything and outcome.spec.text == "a red circle"
    assert len(outcome.result.hits) == LIBRARY and outcome.result.weaker == 0
    assert model.rowCount() == LIBRARY and model.weaker == 0
    # The floored hits come first, in the same order.
    assert [h.photo_id for h in outcome.result.hits[: len(result.hits)]] == [
        h.photo_id for h in result.hits
    ]
    pool.waitForDone(5_000)
