"""Widgets that need no library: the delegate, the search bar, the filters, settings, the
empty-state choice. (The viewer's coordinate mapping is in test_ui_viewer.py.)"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QRect, Qt, QThreadPool, QUrl
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPalette, QPixmap, QPixmapCache
from PySide6.QtWidgets import QStyleOptionViewItem
from qt_helpers import press, strict_qt_fixture, type_text  # noqa: F401

from app.core.search.query import Hit
from app.ui.empty_state import Facts, state_for
from app.ui.filters import FilterBar
from app.ui.image_query import from_mime
from app.ui.results_model import ResultsModel, thumb_key
from app.ui.search_bar import DEBOUNCE_MS, SearchBar
from app.ui.settings import UiSettings
from app.ui.thumb_delegate import MAX_SIZE, MIN_SIZE, ThumbDelegate

# -- delegate ----------------------------------------------------------------------------------


def _paint_cell(delegate: ThumbDelegate, model: ResultsModel, palette: QPalette) -> QImage:
    size = delegate.cell_size(QGuiApplication.font())
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(palette.color(QPalette.ColorRole.Base))
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, size.width(), size.height())
    option.palette = palette
    option.font = QGuiApplication.font()
    painter = QPainter(image)
    delegate.paint(painter, option, model.index(0, 0))
    painter.end()
    return image


def test_delegate_paints_placeholder_then_the_thumbnail(qapp):
    QPixmapCache.clear()
    model = ResultsModel(None)
    model.set_hits([Hit(1, "/p/a.jpg", 0.9, datetime(2021, 5, 4))], generation=1)
    delegate = ThumbDelegate(thumb_size=120)
    palette = QGuiApplication.palette()
    placeholder = _paint_cell(delegate, model, palette)
    red = QImage(80, 80, QImage.Format.Format_RGB32)
    red.fill(QColor(255, 0, 0))
    QPixmapCache.insert(thumb_key(1), QPixmap.fromImage(red))
    photo = _paint_cell(delegate, model, palette)
    centre = photo.pixelColor(6 + 60, 6 + 60)
    assert (centre.red(), centre.green(), centre.blue()) == (255, 0, 0)
    assert placeholder.pixelColor(6 + 60, 6 + 60) != centre
    QPixmapCache.clear()


def test_delegate_placeholder_follows_light_and_dark_palettes(qapp):
    QPixmapCache.clear()
    model = ResultsModel(None)
    model.set_hits([Hit(1, "/p/a.jpg", 0.9, None)], generation=1)
    delegate = ThumbDelegate(thumb_size=120)
    for base, text, dark in (("#ffffff", "#111111", False), ("#1e1f22", "#e6e6e6", True)):
        palette = QPalette(QGuiApplication.palette())
        palette.setColor(QPalette.ColorRole.Base, QColor(base))
        palette.setColor(QPalette.ColorRole.Text, QColor(text))
        corner = _paint_cell(delegate, model, palette).pixelColor(6 + 8, 6 + 8)
        assert (corner.lightness() < 80) if dark else (corner.lightness() > 170)


def test_delegate_size_follows_and_clamps_the_thumbnail_size(qapp):
    delegate = ThumbDelegate(thumb_size=150)
    base = delegate.cell_size(QGuiApplication.font())
    delegate.set_thumb_size(200)
    assert delegate.cell_size(QGuiApplication.font()).width() == base.width() + 50
    delegate.set_thumb_size(10)
    assert delegate.thumb_size == MIN_SIZE
    delegate.set_thumb_size(10_000)
    assert delegate.thumb_size == MAX_SIZE


# -- search bar --------------------------------------------------------------------------------


@pytest.fixture
def bar(qtbot):
    bar = SearchBar()
    qtbot.addWidget(bar)
    bar.show()
    return bar


def test_typing_searches_once_after_a_pause(qtbot, bar):
    requests: list[str] = []
    bar.search_requested.connect(lambda: requests.append(bar.text()))
    type_text(bar.edit, "red circle")
    assert requests == []  # not on every key
    qtbot.waitUntil(lambda: requests == ["red circle"], timeout=DEBOUNCE_MS * 8)


def test_non_ascii_text_and_enter_search_at_once(qtbot, bar):
    requests: list[str] = []
    bar.search_requested.connect(lambda: requests.append(bar.text()))
    type_text(bar.edit, "café 日本 🐕")
    press(bar.edit, Qt.Key.Key_Return)
    assert requests == ["café 日本 🐕"]


def test_escape_clears_words_and_image(qtbot, bar, tmp_path):
    path = tmp_path / "dog.jpg"
    Image.new("RGB", (10, 10)).save(path)
    requests: list[tuple[str, object]] = []
    bar.search_requested.connect(lambda: requests.append((bar.text(), bar.image())))
    type_text(bar.edit, "dog")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    bar.set_image(from_mime(mime))
    assert bar.chip.isVisible() and bar.balance.isVisible()
    assert requests[-1][1].path == path
    press(bar.edit, Qt.Key.Key_Escape)
    assert bar.is_empty() and not bar.chip.isVisible()
    assert requests[-1] == ("", None)


def test_ctrl_v_with_an_image_on_the_clipboard_makes_a_chip(qtbot, bar):
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 128, 255))
    QGuiApplication.clipboard().setImage(image)
    press(bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert bar.image() is not None and bar.image().label == "Pasted image"
    assert bar.edit.text() == ""
    assert bar.image().engine_image()[:8] == b"\x89PNG\r\n\x1a\n"
    bar.chip.remove.click()
    assert bar.image() is None
    QGuiApplication.clipboard().clear()


def test_ctrl_v_with_text_pastes_text(qtbot, bar):
    QGuiApplication.clipboard().setText("sunset")
    press(bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert bar.edit.text() == "sunset" and bar.image() is None
    QGuiApplication.clipboard().clear()


def test_the_search_field_has_accessible_names(bar):
    assert bar.edit.accessibleName() == "Search photos"
    assert bar.weight.accessibleName()
    assert bar.chip.remove.accessibleName()


# -- filters -----------------------------------------------------------------------------------


def test_filters_list_years_with_counts_and_keep_the_month(qtbot):
    bar = FilterBar()
    qtbot.addWidget(bar)
    bar.set_years([(2022, 3), (2020, 5)])
    assert [bar.year_box.itemText(i) for i in range(bar.year_box.count())] == [
        "Any year (8)",
        "2022 (3)",
        "2020 (5)",
    ]
    years: list[object] = []
    bar.year_changed.connect(years.append)
    bar.year_box.setCurrentIndex(2)
    assert years == [2020]
    bar.set_months([(7, 2), (5, 3)])
    assert [bar.month_box.itemText(i) for i in range(bar.month_box.count())] == [
        "Any month",
        "May (3)",
        "July (2)",
    ]
    bar.month_box.setCurrentIndex(2)
    assert bar.describe() == "in July 2020"
    bar.set_months([(7, 1)])  # another year that also has July keeps it
    assert bar.month() == 7
    bar.set_months([(1, 1)])  # one without July falls back to any month
    assert bar.month() is None
    bar.clear_filters()
    assert (bar.year(), bar.month()) == (None, None)


# -- settings ----------------------------------------------------------------------------------


def test_settings_round_trip_and_reject_garbage(tmp_path):
    s = UiSettings(tmp_path / "window.ini")
    s.thumb_size, s.year, s.month, s.order, s.image_weight = 200, 2021, 5, "date", 0.25
    s.sync()
    t = UiSettings(tmp_path / "window.ini")
    assert (t.thumb_size, t.year, t.month, t.order, t.image_weight) == (200, 2021, 5, "date", 0.25)
    t.year, t.month = None, None
    assert (t.year, t.month) == (None, None)
    (tmp_path / "bad.ini").write_text(
        "[grid]\nthumb_size=huge\n[filters]\nmonth=13\norder=random\n"
    )
    bad = UiSettings(tmp_path / "bad.ini")
    assert (bad.thumb_size, bad.month, bad.order) == (176, None, "relevance")


# -- empty states ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "key"),
    [
        (Facts(opening=True), "opening"),
        (Facts(folders=0), "no-folders"),
        (Facts(folders=1, indexing=True, indexed=3, to_index=10), "indexing"),
        (Facts(folders=1), "no-photos"),
        (Facts(folders=1, browsing=False, query_label="cat", needs_model=True), "no-model"),
        (Facts(folders=1, has_model=False, pending=12), "no-photos"),  # the banner offers it
        (Facts(folders=1, has_model=False, indexing=True), "indexing"),
        (Facts(folders=1, browsing=False, query_label="cat"), "no-results"),
        (Facts(folders=1, browsing=True, filter_label="in 1999"), "no-results"),
        (Facts(folders=1, results=5, browsing=False), None),
    ],
)
def test_every_empty_state_says_what_to_do(facts, key):
    state = state_for(facts)
    assert (state.key if state else None) == key
    if state is not None and key not in ("opening", "indexing"):
        assert state.actions, f"{key} offers the user nothing to do"


def test_no_results_mentions_the_query_and_the_filter():
    state = state_for(
        Facts(folders=1, browsing=False, query_label="red car", filter_label="in 2019")
    )
    assert "red car" in state.title and "2019" in state.title
    assert [a[1] for a in state.actions] == ["clear-filters", "clear-search"]


# -- model installation panel ------------------------------------------------------------------


def test_first_run_model_panel_downloads_with_progress_and_cancel(qtbot, tmp_path):
    """The installer stands in for a long download: it reports bytes until told to stop."""
    from app.core.model.install import InstallCancelled
    from app.core.paths import Paths
    from app.ui.model_manager import ModelManager
    from app.ui.model_panel import ModelPanel

    asked: list[str | None] = []

    def slow_install(paths, name=None, *, source=None, progress=None, should_cancel=None):
        asked.append(name)
        done = 0
        while not should_cancel():
            done = min(done + 1_000_000, 350_000_000)
            progress(done, 350_000_000, "Downloading")
            time.sleep(0.01)
        raise InstallCancelled("Installation cancelled; nothing was installed.")

    pool = QThreadPool()
    manager = ModelManager(Paths.at(tmp_path), pool, slow_install)
    panel = ModelPanel(manager, False)
    qtbot.addWidget(panel)
    installed: list[str] = []
    manager.installed.connect(installed.append)
    assert panel.install_button.text().startswith("Download ") and "MB" in (
        panel.install_button.text()
    )
    panel.install_button.click()
    qtbot.waitUntil(lambda: "of 350.0 MB" in panel.status.text())
    assert asked == [panel.default_name]
    assert panel.cancel_button.isVisibleTo(panel) and panel.bar.value() > 0
    assert not panel.install_button.isVisibleTo(panel)
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.busy())
    assert panel.status.text().startswith("Cancelled: nothing was installed")
    assert panel.install_button.text() == "Try Again" and installed == []
    pool.waitForDone(5000)
