"""The whole window over a real library: a real catalog and index in a temp data dir, the trained
micro CLIP (tests/microclip.py) through onnxruntime, photos with EXIF dates across years."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QObject, QPoint, QPointF, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication
from qt_helpers import press, shape_photos, strict_qt_fixture, type_text  # noqa: F401
from videos import scene_video

from app.core.library import Library
from app.core.model.info import MANIFEST
from app.core.paths import Paths
from app.ui.main_window import MainWindow
from app.ui.results_model import ResultsModel
from app.ui.search_controller import Outcome

COLORS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle", "star")
YEARS = (2019, 2021, 2023)


def library_specs() -> list[tuple[str, str, datetime]]:
    """Every colour and shape twice (32 photos), spread over three years and several months."""
    specs = []
    for i, (color, shape) in enumerate(itertools.product(COLORS, SHAPES)):
        for copy in range(2):
            year = YEARS[(i + copy) % 3]
            specs.append((color, shape, datetime(year, 1 + (i * 5 + copy * 3) % 12, 10, 9, 30)))
    return specs


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "Pictures"
    shape_photos(folder, library_specs(), size=96)
    return folder


@pytest.fixture
def indexed_library(paths: Paths, photo_dir: Path, tiny_model_dir: Path) -> Library:
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(photo_dir)
    report = library.index()
    assert report.added == 32
    return library


def make_window(qtbot, paths: Paths, library: Library | None, **kwargs) -> MainWindow:
    window = MainWindow(paths, library, welcome=False, **kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, paths: Paths, indexed_library: Library) -> Iterator[MainWindow]:
    win = make_window(qtbot, paths, indexed_library)
    qtbot.waitUntil(
        lambda: (
            win.model.total() == 32
            and not win.indexer.running
            and not win.searcher.busy()
            and win.model.generation == win.searcher.generation  # the last search is shown
        ),
        timeout=30_000,
    )
    yield win
    win.close()


def names(window: MainWindow, n: int | None = None) -> list[str]:
    rows = range(window.model.total() if n is None else min(n, window.model.total()))
    return [Path(window.model.hit(r).path).name for r in rows]


def wait_for_search(qtbot, window: MainWindow, action) -> None:
    """Run `action` and wait until the search it starts has delivered its results."""
    before = window.searcher.generation
    action()
    qtbot.waitUntil(
        lambda: (
            window.searcher.generation > before
            and not window.searcher.busy()
            and window.model.generation == window.searcher.generation
        ),
        timeout=15_000,
    )


# -- searching ---------------------------------------------------------------------------------


def test_search_field_has_focus_at_start_and_browsing_is_newest_first(window):
    assert QApplication.focusWidget() is window.search_bar.edit
    dates = [window.model.hit(r).capture_time for r in range(window.model.total())]
    assert dates == sorted(dates, reverse=True)
    assert re.fullmatch(r"32 photos · \d+ ms", window.result_label.text())
    assert window.empty_state_key() is None


def test_typing_a_query_fills_the_grid_with_matches(qtbot, window):
    wait_for_search(qtbot, window, lambda: type_text(window.search_bar.edit, "a red circle"))
    assert window.search_bar.text() == "a red circle"
    assert names(window, 1)[0].startswith("red-circle"), names(window)
    label = window.result_label.text()  # close matches, or the nearest photos, clearly labelled
    assert re.fullmatch(r"(\d+ match(es)?|No close matches · the \d+ nearest) · \d+ ms", label)
    if label.startswith("No close"):
        assert window.banner.isVisible() and "a red circle" in window.banner.text()
    assert window.stack.currentWidget() is window.grid
    press(window.search_bar.edit, Qt.Key.Key_Escape)  # Esc: back to browsing everything
    qtbot.waitUntil(lambda: window.model.total() == 32, timeout=15_000)


def test_a_non_ascii_query_runs(qtbot, window):
    wait_for_search(qtbot, window, lambda: type_text(window.search_bar.edit, "ein roter Kreis ☀"))
    assert window.empty_state_key() in (None, "no-results")


def test_a_query_with_no_match_says_so(qtbot, window):
    wait_for_search(
        qtbot,
        window,
        lambda: (
            window.filters.set_years([(2019, 1)], select=2019),
            window.filters.set_months([(12, 1)], select=12),  # December 2019: nothing was taken
            window.search_bar.set_text("a blue star"),
        ),
    )
    assert window.model.total() == 0
    assert window.empty_state_key() == "no-results"
    assert "Clear Filters" in window.empty.button_labels()
    wait_for_search(qtbot, window, lambda: window.empty.click("Clear Filters"))
    assert window.model.total() > 0 and window.filters.year() is None


def test_when_nothing_clears_the_floor_the_nearest_photos_show_labelled(
    qtbot, paths, photo_dir, tiny_model_dir, tmp_path
):
    """A model whose floor no photo reaches: one search (no second one) brings the nearest
    photos, which the status bar and the banner call the nearest, not matches."""
    strict = tmp_path / "strict-model"
    shutil.copytree(tiny_model_dir, strict)
    for p in strict.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    info = json.loads((strict / MANIFEST).read_text())
    (strict / MANIFEST).write_text(json.dumps({**info, "relevance_floor": 0.9999}))
    library = Library.open(paths, model_dir=strict, device="cpu")
    library.add_folder(photo_dir)
    library.index()
    window = make_window(qtbot, paths, library)
    qtbot.waitUntil(
        lambda: window.model.total() == 32 and not window.indexer.running, timeout=30_000
    )
    finished: list[Outcome] = []
    window.searcher.finished.connect(finished.append)
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
    assert len(finished) == 1 and finished[0].result.nearest
    assert re.fullmatch(r"No close matches · the 32 nearest · \d+ ms", window.result_label.text())
    assert names(window, 1)[0].startswith("red-circle")
    assert window.banner.isVisible() and "a red circle" in window.banner.text()
    assert "nearest" in window.banner.text() and window.empty_state_key() is None
    assert window.model.weaker == 0  # the nearest hide nothing "weaker"
    window.close()


def test_ctrl_f_and_ctrl_l_return_to_the_search_field(qtbot, window):
    window.grid.setFocus()
    assert not window.search_bar.edit.hasFocus()
    find = next(a for a in window.actions() if a.text() == "&Find")
    keys = {s.toString() for s in find.shortcuts()}
    assert {"Ctrl+F", "Ctrl+L"} <= keys
    find.trigger()
    assert window.search_bar.edit.hasFocus()


# -- lookalikes --------------------------------------------------------------------------------


def drop_files(window: MainWindow, files: list[Path]) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    pos = QPointF(window.rect().center())
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)
    return drop


def test_dropping_an_image_file_runs_a_lookalike_search(qtbot, window, photo_dir, tmp_path):
    source = next(photo_dir.rglob("blue-star-*.jpg"))
    outside = tmp_path / "from the file manager.jpg"
    shutil.copy(source, outside)  # a file that is not in the library
    wait_for_search(qtbot, window, lambda: drop_files(window, [outside]))
    assert window.search_bar.image().path == outside
    assert window.search_bar.chip.isVisible()
    assert "from the file manager.jpg" in window.search_bar.chip.label.text()
    assert names(window, 1) == [source.name]  # the same picture ranks first
    # words and the image together: the balance slider appears and searching still works
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a blue star"))
    assert window.search_bar.balance.isVisible()
    assert window.model.total() > 0
    wait_for_search(qtbot, window, window.search_bar.chip.remove.click)
    assert window.search_bar.image() is None


def test_dropping_a_video_file_searches_like_its_frames(qtbot, window, photo_dir, tmp_path):
    clip = scene_video(tmp_path / "holiday clip.mp4", [(2, "blue", "star"), (1, "blue", "star")])
    wait_for_search(qtbot, window, lambda: drop_files(window, [clip]))
    assert window.search_bar.image().path == clip
    assert "holiday clip.mp4" in window.search_bar.chip.label.text()
    assert names(window, 1)[0].startswith("blue-star")


def test_a_drop_that_is_not_an_image_is_refused(qtbot, window, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    enter = QDragEnterEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_pasting_image_pixels_searches_by_them(qtbot, window, photo_dir):
    image = QImage(str(next(photo_dir.rglob("green-square-*.jpg"))))
    QGuiApplication.clipboard().setImage(image)
    paste = next(a for a in window.actions() if a.text() == "&Paste Image to Search")
    window.grid.setFocus()
    wait_for_search(qtbot, window, paste.trigger)
    assert window.search_bar.image().label == "Pasted image"
    assert names(window, 1)[0].startswith("green-square")
    QGuiApplication.clipboard().clear()


def test_a_dropped_or_pasted_jfif_file_searches_by_it(qtbot, window, photo_dir, tmp_path):
    """The window takes every extension the indexer takes (.jfif, .mpo, .dib, .hif too)."""
    source = next(photo_dir.rglob("yellow-triangle-*.jpg"))
    jfif = tmp_path / "from a camera.jfif"
    shutil.copy(source, jfif)
    wait_for_search(qtbot, window, lambda: drop_files(window, [jfif]))
    assert window.search_bar.image().path == jfif
    assert names(window, 1) == [source.name]
    wait_for_search(qtbot, window, window.search_bar.chip.remove.click)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(jfif))])
    QGuiApplication.clipboard().setMimeData(mime)
    paste = next(a for a in window.actions() if a.text() == "&Paste Image to Search")
    window.grid.setFocus()
    wait_for_search(qtbot, window, paste.trigger)
    assert window.search_bar.image().path == jfif
    assert names(window, 1) == [source.name]
    QGuiApplication.clipboard().clear()


# -- filters -----------------------------------------------------------------------------------


def pick(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def test_year_and_month_filters_narrow_the_results(qtbot, window):
    years = {
        window.filters.year_box.itemData(i): window.filters.year_box.itemText(i)
        for i in range(window.filters.year_box.count())
    }
    assert set(years) == {None, *YEARS}
    expected_2021 = sum(1 for *_, when in library_specs() if when.year == 2021)
    assert years[2021] == f"2021 ({expected_2021})"
    wait_for_search(qtbot, window, lambda: pick(window.filters.year_box, 2021))
    assert window.model.total() == expected_2021
    assert {window.model.hit(r).capture_time.year for r in range(expected_2021)} == {2021}
    month = window.filters.month_box.itemData(1)
    expected = sum(1 for *_, w in library_specs() if (w.year, w.month) == (2021, month))
    wait_for_search(qtbot, window, lambda: pick(window.filters.month_box, month))
    assert 0 < window.model.total() == expected < expected_2021
    # a query inside the filter only returns photos of that month
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a yellow star"))
    assert all(
        (window.model.hit(r).capture_time.year, window.model.hit(r).capture_time.month)
        == (2021, month)
        for r in range(window.model.total())
    )


def test_order_toggle_sorts_matches_by_date(qtbot, window):
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a green triangle"))
    assert window.filters.order_box.isEnabled()
    wait_for_search(qtbot, window, lambda: pick(window.filters.order_box, "date"))
    dates = [window.model.hit(r).capture_time for r in range(window.model.total())]
    assert dates == sorted(dates, reverse=True)


# -- results -----------------------------------------------------------------------------------


class UrlCatcher(QObject):
    """Stands in for the desktop's file opener (an external application)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def handle(self, url: QUrl) -> None:
        self.urls.append(url)


@pytest.fixture
def opened_urls() -> Iterator[list[QUrl]]:
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "handle")
    yield catcher.urls
    QDesktopServices.unsetUrlHandler("file")


def test_context_menu_offers_and_runs_the_file_actions(qtbot, window, opened_urls):
    index = window.model.index(0, 0)
    window.grid.setCurrentIndex(index)
    path = Path(index.data(ResultsModel.PathRole))
    menu = window.user_actions.build_context_menu(index)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert set(actions) == {"Preview", "Open", "Show in Folder", "Find Similar", "Copy Path"}
    actions["Copy Path"].trigger()
    assert QGuiApplication.clipboard().text() == str(path)
    actions["Open"].trigger()
    actions["Show in Folder"].trigger()
    assert [u.toLocalFile() for u in opened_urls] == [str(path), str(path.parent)]
    wait_for_search(qtbot, window, actions["Find Similar"].trigger)
    assert window.search_bar.image().like_photo_id == index.data(ResultsModel.PhotoIdRole)
    assert window.search_bar.image().label == f"Like {path.name}"
    assert names(window, 1) == [path.name]
    QGuiApplication.clipboard().clear()


def test_thumbnail_size_follows_slider_and_ctrl_wheel(qtbot, window):
    window.zoom_slider.setValue(200)
    assert window.grid.delegate.thumb_size == 200
    grow = next(a for a in window.actions() if a.text() == "&Larger Thumbnails")
    grow.trigger()
    assert window.grid.delegate.thumb_size == 216 and window.zoom_slider.value() == 216
    viewport = window.grid.viewport()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(
        centre,
        viewport.mapToGlobal(centre),
        QPoint(),
        QPoint(0, -240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, wheel)  # Ctrl + two notches down: two steps smaller
    assert window.grid.delegate.thumb_size == 184 and window.zoom_slider.value() == 184


# -- indexing ----------------------------------------------------------------------------------


def test_indexing_runs_in_the_background_while_the_ui_stays_responsive(
    qtbot, paths, tmp_path, tiny_model_dir
):
    folder = tmp_path / "Many"
    specs = [
        (c, s, datetime(2020 + i % 4, 1 + i % 12, 1))
        for i, (c, s) in enumerate(
            itertools.islice(itertools.cycle(itertools.product(COLORS, SHAPES)), 120)
        )
    ]
    shape_photos(folder, specs, size=320, seed=3)
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(folder)
    lateness: list[float] = []
    expected = [time.perf_counter()]

    states: set[str | None] = set()  # what the user saw meanwhile

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(now - expected[0])
        expected[0] = now + 0.010
        states.add(window.empty_state_key())
        if window.banner.isVisible():
            states.add("partial-results-banner")

    timer = QTimer(interval=10)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    window = make_window(qtbot, paths, library)
    expected[0] = time.perf_counter() + 0.010
    timer.start()
    try:
        qtbot.waitUntil(lambda: window.indexer.running, timeout=10_000)
        qtbot.waitUntil(lambda: window.index_status.label.text().startswith(("Indexing", "Look")))
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=120_000)
        timer.stop()
        qtbot.waitUntil(lambda: window.model.total() == 120, timeout=15_000)
        assert len(lateness) > 20, "the timer hardly ran: the event loop was blocked"
        assert max(lateness) < 0.100, f"event loop blocked for {max(lateness) * 1000:.0f} ms"
        # while indexing, the grid said so: "finding your photos", or results marked partial
        assert states & {"indexing", "partial-results-banner"}, states
        assert window.empty_state_key() is None and not window.banner.isVisible()
    finally:
        timer.stop()
        window.close()


def test_a_watcher_failure_shows_in_the_status_bar(qtbot, window):
    """The watcher reports from its own thread; the window shows the line (queued signal)."""
    qtbot.waitUntil(lambda: window.indexer.watcher is not None, timeout=15_000)
    watcher = window.indexer.watcher
    message = "PhotoSeek cannot watch /photos for changes: too many folders. Press F5 to rescan."
    thread = threading.Thread(target=watcher._report, args=(message,))  # as the watcher does
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == message, timeout=5_000)


def test_pause_and_resume_indexing(qtbot, paths, tmp_path, tiny_model_dir):
    folder = tmp_path / "Some"
    shape_photos(
        folder,
        [(c, s, datetime(2022, 5, 1)) for c, s in itertools.product(COLORS, SHAPES)] * 6,
        size=320,  # enough work that the run is still going when the button is clicked
        seed=5,
    )
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(folder)
    window = make_window(qtbot, paths, library)
    try:
        qtbot.waitUntil(lambda: window.indexer.running, timeout=10_000)
        window.index_status.pause.click()
        assert window.indexer.paused and "paused" in window.index_status.label.text()
        assert window.index_status.pause.accessibleName() == "Resume indexing"
        window.index_status.pause.click()
        assert not window.indexer.paused
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=60_000)
        qtbot.waitUntil(lambda: window.model.total() == 96, timeout=15_000)
    finally:
        window.close()


def test_skipped_files_are_listed_with_their_reason(qtbot, paths, photo_dir, tiny_model_dir):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(photo_dir)
    window = make_window(qtbot, paths, library)
    try:
        qtbot.waitUntil(lambda: window.index_status.skipped.isVisibleTo(window), timeout=60_000)
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=60_000)
        assert window.index_status.skipped.text() == "1 skipped"
        dialog = window.user_actions.show_skipped()
        qtbot.waitUntil(lambda: bool(dialog.rows()))
        ((path, reason, _when),) = dialog.rows()
        assert path.endswith("broken.jpg") and reason
        dialog.reject()
    finally:
        window.close()


# -- folders, first run, empty states ----------------------------------------------------------


def test_no_folders_says_so_and_adding_one_indexes_it(qtbot, paths, photo_dir, tiny_model_dir):
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    window = make_window(qtbot, paths, library)
    try:
        qtbot.waitUntil(lambda: window.empty_state_key() == "no-folders")
        assert window.empty.button_labels() == ["Add Folder…"]
        dialog = window.user_actions.manage_folders()
        dialog.folders.add_path(photo_dir)
        qtbot.waitUntil(lambda: dialog.folders.count() == 1)
        qtbot.waitUntil(lambda: window.model.total() == 32, timeout=60_000)
        assert window.empty_state_key() is None
        dialog.folders.remove_path(str(photo_dir))
        qtbot.waitUntil(lambda: window.empty_state_key() == "no-folders", timeout=15_000)
        assert "not touched" in dialog.folders.message.text()
        assert len(list(photo_dir.rglob("*.jpg"))) == 32  # removal forgets, never deletes
        dialog.reject()
    finally:
        window.close()


def test_window_settings_persist(qtbot, paths, indexed_library, tiny_model_dir):
    window = make_window(qtbot, paths, indexed_library)
    qtbot.waitUntil(lambda: window.model.total() == 32, timeout=30_000)
    window.zoom_slider.setValue(240)
    wait_for_search(qtbot, window, lambda: pick(window.filters.year_box, 2023))
    wait_for_search(qtbot, window, lambda: pick(window.filters.order_box, "date"))
    window.resize(720, 520)  # inside the offscreen screen (800 x 600)
    window.close()
    again = make_window(qtbot, paths, Library.open(paths, model_dir=tiny_model_dir, device="cpu"))
    try:
        qtbot.waitUntil(lambda: again.filters.year() == 2023, timeout=15_000)
        assert again.grid.delegate.thumb_size == 240
        assert again.filters.order() == "date"
        assert (again.width(), again.height()) == (720, 520)
        qtbot.waitUntil(
            lambda: again.model.total() == sum(1 for *_, w in library_specs() if w.year == 2023),
            timeout=15_000,
        )
    finally:
        again.close()


def test_controls_have_accessible_names(window):
    for widget in (
        window.search_bar.edit,
        window.filters.year_box,
        window.filters.month_box,
        window.filters.order_box,
        window.grid,
        window.zoom_slider,
        window.index_status.pause,
    ):
        assert widget.accessibleName(), widget
