"""The results model and the grid: Qt's model checker, rows in steps, one row changed per
thumbnail, stale thumbnails dropped, files dragged out, and a 10,000-hit list."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QImage, QPixmap, QPixmapCache
from PySide6.QtTest import QAbstractItemModelTester
from qt_helpers import strict_qt_fixture  # noqa: F401

from app.core.search.query import Hit
from app.ui.grid_view import ResultsView
from app.ui.results_model import BATCH, ResultsModel
from app.ui.thumb_loader import ThumbLoader


@pytest.fixture
def thumbs(tmp_path: Path) -> dict[int, Path]:
    """Real JPEG thumbnails for photo ids 1..6, each a different flat colour."""
    rng = np.random.default_rng(1)
    out = {}
    for pid in range(1, 7):
        path = tmp_path / "thumbs" / f"{pid}.jpg"
        path.parent.mkdir(exist_ok=True)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        Image.new("RGB", (64 + pid, 48), colour).save(path)
        out[pid] = path
    return out


def hits(n: int, start: int = 1) -> list[Hit]:
    return [
        Hit(
            photo_id=i,
            path=f"/photos/img_{i:05d}.jpg",
            score=1.0 - i / (n + start),
            capture_time=datetime(2020, 1 + i % 12, 1 + i % 28, 12, 0),
        )
        for i in range(start, start + n)
    ]


@pytest.fixture(autouse=True)
def fresh_pixmap_cache():
    QPixmapCache.clear()
    yield
    QPixmapCache.clear()


@pytest.fixture
def loader(qapp, thumbs):
    loader = ThumbLoader(thumbs.get, threads=2)
    yield loader
    loader.shutdown()


def test_model_passes_qt_model_tester_through_resets_and_fetches(qtbot, loader):
    model = ResultsModel(loader)
    QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_hits(hits(BATCH * 2 + 7), generation=1)
    assert model.rowCount() == BATCH
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == BATCH * 2 + 7
    model.set_hits(hits(3), generation=2)
    model.clear(generation=3)
    assert model.rowCount() == 0


def test_roles_give_name_path_score_date_and_tooltip(qapp):
    model = ResultsModel(None)
    model.set_hits(hits(3), generation=1)
    index = model.index(1, 0)
    assert index.data(Qt.ItemDataRole.DisplayRole) == "img_00002.jpg"
    assert index.data(ResultsModel.PathRole) == "/photos/img_00002.jpg"
    assert index.data(ResultsModel.PhotoIdRole) == 2
    assert index.data(ResultsModel.ScoreRole) == pytest.approx(1.0 - 2 / 4)
    assert index.data(ResultsModel.DateRole) == datetime(2020, 3, 3, 12, 0)
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "img_00002.jpg" in tip and "3 March 2020" in tip and "0.500" in tip
    names = model.roleNames()
    assert names[ResultsModel.ThumbnailRole] == b"thumbnail"
    assert names[ResultsModel.ScoreRole] == b"score"


def test_tooltip_says_when_the_date_is_the_files(qapp):
    """A date guessed from the file's time is marked in the grid's tooltip (#11)."""
    model = ResultsModel(None)
    when = datetime(2020, 3, 3, 12, 0)
    model.set_hits(
        [
            Hit(1, "/p/a.jpg", 0.5, when, "exif_original"),
            Hit(2, "/p/b.jpg", 0.4, when, "file_mtime"),
        ],
        generation=1,
    )
    exif, guess = (model.index(i, 0).data(Qt.ItemDataRole.ToolTipRole) for i in (0, 1))
    assert "3 March 2020" in exif and "file date" not in exif
    assert "3 March 2020 (file date: no capture date in the photo)" in guess


def test_a_loaded_thumbnail_changes_exactly_its_row(qtbot, loader, thumbs):
    model = ResultsModel(loader)
    model.set_hits(hits(6), generation=7)
    changed: list[tuple[int, int]] = []
    resets: list[int] = []
    model.dataChanged.connect(lambda a, b, _roles: changed.append((a.row(), b.row())))
    model.modelReset.connect(lambda: resets.append(1))
    assert model.index(3, 0).data(ResultsModel.ThumbnailRole) is None  # placeholder meanwhile
    assert model.index(3, 0).data(ResultsModel.ThumbStateRole) == "loading"
    qtbot.waitUntil(lambda: changed == [(3, 3)])
    pixmap = model.index(3, 0).data(ResultsModel.ThumbnailRole)
    assert isinstance(pixmap, QPixmap) and pixmap.width() == 64 + 4
    assert model.index(3, 0).data(ResultsModel.ThumbStateRole) == "ready"
    assert resets == []


def test_thumbnails_for_a_replaced_result_list_are_dropped(qtbot, loader):
    model = ResultsModel(loader)
    model.set_hits(hits(6), generation=1)
    model.index(0, 0).data(ResultsModel.ThumbnailRole)  # asks for photo 1 under generation 1
    model.set_hits(hits(6), generation=2)  # the user typed more before it arrived
    old = QImage(8, 8, QImage.Format.Format_RGB32)
    loader.loaded.emit(1, 1, old, True)  # what a late worker from generation 1 delivers
    assert QPixmapCache.find("photoseek-thumb-1") is None
    qtbot.waitUntil(lambda: loader.pending() == 0)


def test_zooming_in_reloads_thumbnails_loaded_smaller(qtbot, qapp, tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (200, 100), (0, 90, 200)).save(big)
    loader = ThumbLoader({1: big}.get)
    try:
        model = ResultsModel(loader)
        model.set_thumb_side(64)
        model.set_hits(hits(1), generation=1)
        model.index(0, 0).data(ResultsModel.ThumbnailRole)
        qtbot.waitUntil(lambda: model.index(0, 0).data(ResultsModel.ThumbStateRole) == "ready")
        assert model.index(0, 0).data(ResultsModel.ThumbnailRole).width() == 64
        model.set_thumb_side(160)  # the user zoomed in: the small one shows until the new one
        assert model.index(0, 0).data(ResultsModel.ThumbnailRole).width() == 64
        qtbot.waitUntil(lambda: model.index(0, 0).data(ResultsModel.ThumbnailRole).width() == 160)
        model.set_thumb_side(400)  # larger than the source: loaded once at full size, then kept
        qtbot.waitUntil(lambda: model.index(0, 0).data(ResultsModel.ThumbnailRole).width() == 200)
        model.index(0, 0).data(ResultsModel.ThumbnailRole)
        assert loader.pending() == 0
    finally:
        loader.shutdown()


def test_missing_thumbnail_is_marked_and_not_requested_again(qtbot, qapp, tmp_path):
    calls: list[int] = []

    def fetch(pid: int) -> Path | None:
        calls.append(pid)
        return None  # the photo cannot be read

    loader = ThumbLoader(fetch)
    try:
        model = ResultsModel(loader)
        model.set_hits(hits(1), generation=1)
        model.index(0, 0).data(ResultsModel.ThumbnailRole)
        qtbot.waitUntil(lambda: model.index(0, 0).data(ResultsModel.ThumbStateRole) == "missing")
        model.index(0, 0).data(ResultsModel.ThumbnailRole)
        assert calls == [1]
    finally:
        loader.shutdown()


def test_dragging_results_out_carries_the_files_as_urls(qapp):
    model = ResultsModel(None)
    model.set_hits(hits(3), generation=1)
    mime = model.mimeData([model.index(0, 0), model.index(2, 0)])
    assert [u.toLocalFile() for u in mime.urls()] == [
        "/photos/img_00001.jpg",
        "/photos/img_00003.jpg",
    ]
    assert model.flags(model.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled
    assert model.supportedDragActions() == Qt.DropAction.CopyAction


def test_ten_thousand_results_load_in_steps_as_the_grid_scrolls(qtbot, qapp):
    model = ResultsModel(None)
    view = ResultsView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 600)
    view.show()
    model.set_hits(hits(10_000), generation=1)
    assert model.rowCount() == BATCH and model.total() == 10_000
    bar = view.verticalScrollBar()
    for _ in range(60):  # scroll to the bottom repeatedly, as a user dragging the bar would
        bar.setValue(bar.maximum())
        qapp.processEvents()
        if model.rowCount() == 10_000:
            break
    assert model.rowCount() == 10_000
    assert view.indexAt(view.viewport().rect().center()).isValid()


def test_row_of_fetches_far_rows(qapp):
    model = ResultsModel(None)
    model.set_hits(hits(2_000), generation=1)
    assert model.row_of(1_500) == 1_499
    assert model.rowCount() >= 1_500
