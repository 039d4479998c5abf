"""The photo viewer: its arithmetic, the canvas (fit, zoom, pan, the region box) on real images, and
the whole viewer over the window's real library (stepping through results, details, region search,
Find Similar, full screen)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import test_ui_window
from PIL import Image
from PySide6.QtCore import (
    QEvent,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    QSizeF,
    Qt,
    QThreadPool,
)
from PySide6.QtGui import QColor, QImage, QKeyEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from qt_helpers import press, strict_qt_fixture  # noqa: F401
from test_ui_window import names, wait_for_search

from app.ui.results_model import ResultsModel
from app.ui.viewer import ViewerDialog
from app.ui.viewer import geometry as geo
from app.ui.viewer.loader import PhotoLoader, load_display_image
from app.ui.viewer.region import RegionCanvas

# The window over a real library, as test_ui_window builds it (its fixtures, shared).
paths = test_ui_window.paths
photo_dir = test_ui_window.photo_dir
indexed_library = test_ui_window.indexed_library
window = test_ui_window.window

NO = Qt.KeyboardModifier.NoModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
LEFT = Qt.MouseButton.LeftButton


def drag(widget, start: QPointF, end: QPointF, modifiers=NO) -> None:
    a, b = start.toPoint(), end.toPoint()
    QTest.mousePress(widget, LEFT, modifiers, a)
    QTest.mouseMove(widget, QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2))
    QTest.mouseMove(widget, b)
    QTest.mouseRelease(widget, LEFT, modifiers, b)


def wheel(widget, at: QPointF, notches: int) -> None:
    event = QWheelEvent(
        at,
        widget.mapToGlobal(at),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        NO,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def canvas_with(qtbot, width: int, height: int, size: QSize | None = None) -> RegionCanvas:
    canvas = RegionCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(size or QSize(400, 300))
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(40, 120, 200))
    canvas.set_image(image, QSize(width, height))
    return canvas


# -- geometry ----------------------------------------------------------------------------------


def test_fitted_rect_centres_and_keeps_aspect():
    shown = geo.fitted_rect(QSize(400, 200), QRect(0, 0, 200, 200))
    assert shown == QRectF(0, 50, 200, 100)


def test_selection_maps_to_original_pixels():
    shown = QRectF(0, 50, 200, 100)  # a 4000 x 2000 photo drawn at 1/20
    box = geo.widget_to_image_rect(QRect(10, 60, 50, 20), shown, QSize(4000, 2000))
    assert box == (200, 200, 1000, 400)
    # a selection spilling over the letterbox is clipped to the photo
    assert geo.widget_to_image_rect(QRect(150, 0, 100, 100), shown, QSize(4000, 2000)) == (
        3000,
        0,
        1000,
        1000,
    )
    assert geo.widget_to_image_rect(QRect(0, 0, 50, 40), shown, QSize(4000, 2000)) is None


def test_fitting_never_blows_a_small_photo_up():
    assert geo.fit_scale(QSize(96, 96), QSizeF(800, 600), 1.0) == 1.0
    assert geo.fit_scale(QSize(4000, 3000), QSizeF(800, 600), 1.0) == pytest.approx(0.2)
    assert geo.fit_scale(QSize(4000, 3000), QSizeF(800, 600), 2.0) == pytest.approx(0.4)


def test_a_zoomed_photo_fills_the_view_and_a_smaller_one_is_centred():
    area = QSizeF(400, 300)
    # 1000 x 1000 at 100 %: the focus is clamped so no gap shows at an edge
    assert geo.placed_rect(QSize(1000, 1000), area, 1.0, 1.0, QPointF(0, 0)) == QRectF(
        0, 0, 1000, 1000
    )
    assert geo.placed_rect(QSize(1000, 1000), area, 1.0, 1.0, QPointF(500, 500)) == QRectF(
        -300, -350, 1000, 1000
    )
    # narrower than the view: centred along that side
    assert geo.placed_rect(QSize(200, 1000), area, 1.0, 1.0, QPointF(100, 1000)).x() == 100


def test_handles_are_found_corners_first_and_resize_keeps_the_box_inside():
    box = QRectF(100, 100, 200, 100)
    assert geo.handle_at(box, QPointF(101, 99)) == (-1, -1)
    assert geo.handle_at(box, QPointF(300, 150)) == (1, 0)
    assert geo.handle_at(box, QPointF(200, 203)) == (0, 1)
    assert geo.handle_at(box, QPointF(200, 150)) is None  # inside: a move, not a resize
    assert geo.handle_at(box, QPointF(20, 20)) is None
    bounds = QSize(400, 300)
    region = QRectF(50, 50, 100, 100)
    assert geo.resized(region, (1, 1), QPointF(500, 500), bounds) == QRectF(50, 50, 350, 250)
    assert geo.resized(region, (-1, 0), QPointF(10, 80), bounds) == QRectF(10, 50, 140, 100)
    flipped = geo.resized(region, (1, 0), QPointF(20, 0), bounds)  # dragged past the left side
    assert flipped == QRectF(20, 50, 30, 100)
    tiny = geo.resized(region, (1, 1), QPointF(51, 51), bounds)
    assert tiny.width() >= geo.MIN_REGION_IMAGE and tiny.height() >= geo.MIN_REGION_IMAGE
    assert geo.moved(region, QPointF(1000, -1000), bounds) == QRectF(300, 0, 100, 100)


def test_display_image_reports_the_rotated_original_size(tmp_path):
    path = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (3000, 1000), (10, 200, 10)).save(path, exif=exif)
    image, original = load_display_image(path, max_side=600)
    assert original == QSize(1000, 3000)
    assert image.width() < image.height() and max(image.width(), image.height()) <= 600


# -- the canvas --------------------------------------------------------------------------------


def test_a_small_photo_shows_at_its_own_size_centred(qtbot):
    canvas = canvas_with(qtbot, 96, 64)
    assert canvas.is_fit() and canvas.zoom() == 1.0
    assert canvas.shown_rect() == QRectF(152, 118, 96, 64)
    big = canvas_with(qtbot, 4000, 1000)
    assert big.shown_rect() == QRectF(0, 100, 400, 100)
    assert big.zoom() == pytest.approx(0.1)


def test_wheel_zooms_about_the_cursor_and_dragging_pans(qtbot):
    canvas = canvas_with(qtbot, 4000, 3000)
    at = QPointF(100, 80)
    before = geo.to_image(at, canvas.shown_rect(), canvas.original_size())
    wheel(canvas, at, 3)
    assert not canvas.is_fit() and canvas.zoom() == pytest.approx(0.1 * 1.25**3)
    after = geo.to_image(at, canvas.shown_rect(), canvas.original_size())
    assert after.x() == pytest.approx(before.x(), abs=0.5)
    assert after.y() == pytest.approx(before.y(), abs=0.5)
    assert canvas.can_pan()
    shown = canvas.shown_rect()
    drag(canvas, QPointF(200, 150), QPointF(180, 140))  # a plain drag pans a zoomed photo
    assert canvas.shown_rect().topLeft() == shown.topLeft() + QPointF(-20, -10)
    assert canvas.region() is None
    drag(canvas, QPointF(200, 150), QPointF(5000, 5000))  # never past the photo's corner
    assert canvas.shown_rect().topLeft() == QPointF(0, 0)
    wheel(canvas, at, -10)  # out past fitting: fits again, no smaller
    assert canvas.is_fit() and canvas.shown_rect() == QRectF(0, 0, 400, 300)
    canvas.set_zoom(1.0)
    assert canvas.zoom() == 1.0 and canvas.shown_rect().size() == QSizeF(4000, 3000)


def test_zooming_past_the_screen_copy_asks_for_the_full_photo(qtbot):
    canvas = RegionCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    image = QImage(800, 600, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    canvas.set_image(image, QSize(4000, 3000))  # a screen-sized copy of a 12 MP photo
    asked: list[bool] = []
    canvas.needs_full.connect(lambda: asked.append(True))
    canvas.set_zoom(0.19)  # 760 device pixels across: the copy is enough
    assert asked == []
    canvas.set_zoom(1.0)
    canvas.set_zoom(2.0)
    assert asked == [True]  # once
    canvas.upgrade(QImage(4000, 3000, QImage.Format.Format_RGB32))
    assert canvas.is_full() and canvas.zoom() == 2.0


def test_a_box_is_drawn_moved_resized_and_cleared(qtbot):
    canvas = canvas_with(qtbot, 400, 300)  # at 100 %, filling the canvas: widget = photo pixels
    changes: list[object] = []
    canvas.region_changed.connect(lambda: changes.append(canvas.region_box()))
    drag(canvas, QPointF(100, 100), QPointF(200, 180))  # fitted: a plain drag draws
    assert canvas.region_box() == (100, 100, 100, 80)
    assert canvas.search_button.isVisible() or not canvas.isVisible()
    drag(canvas, QPointF(150, 140), QPointF(170, 150))  # inside: moves it
    assert canvas.region_box() == (120, 110, 100, 80)
    drag(canvas, QPointF(220, 190), QPointF(260, 200))  # the bottom-right handle: resizes it
    assert canvas.region_box() == (120, 110, 140, 90)
    drag(canvas, QPointF(120, 150), QPointF(60, 150))  # the left edge
    assert canvas.region_box() == (60, 110, 200, 90)
    assert changes[-1] == (60, 110, 200, 90) and len(changes) == 4
    QTest.mousePress(canvas, LEFT, NO, QPoint(260, 150))  # the right edge, past the left one
    QTest.mouseMove(canvas, QPoint(40, 150))
    QTest.mouseMove(canvas, QPoint(10, 150))
    QTest.mouseRelease(canvas, LEFT, NO, QPoint(10, 150))
    assert canvas.region_box() == (10, 110, 50, 90)
    assert len(changes) == 5
    QTest.mouseClick(canvas, LEFT, NO, QPoint(350, 20))  # a click beside it takes it away
    assert canvas.region() is None and changes[-1] is None and len(changes) == 6
    drag(canvas, QPointF(10, 10), QPointF(15, 14))  # too small to be a box
    assert canvas.region() is None


def test_shift_drag_draws_on_a_zoomed_photo_and_the_box_stays_on_its_part(qtbot):
    canvas = canvas_with(qtbot, 4000, 3000)
    canvas.set_zoom(0.5)
    drag(canvas, QPointF(100, 100), QPointF(200, 160), SHIFT)
    box = canvas.region_box()
    assert box is not None and box[2] == 200 and box[3] == 120
    canvas.fit()
    assert canvas.region_box() == box  # zooming moves the drawing, not the box
    canvas.show()
    below = canvas.search_button.geometry()
    assert below.top() > canvas.region_on_screen().bottom()
    assert abs(below.center().x() - canvas.region_on_screen().center().x()) <= 1
    on_screen = canvas.region_on_screen()
    assert on_screen.width() == pytest.approx(20) and on_screen.height() == pytest.approx(12)
    crop = canvas.region_crop()
    assert (crop.width(), crop.height()) == (200, 120)


def test_the_loader_decodes_in_workers_reads_ahead_and_upgrades(qtbot, tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (3000, 2000), (200, 30, 30)).save(path, quality=80)
    loader = PhotoLoader(QThreadPool.globalInstance(), display_side=600)
    got: list[tuple[int, QSize, QSize, bool]] = []
    loader.loaded.connect(
        lambda pid, image, original, full: got.append((pid, image.size(), original, full))
    )
    loader.request(7, path)
    assert loader.cached(7) is None  # nothing decoded on the GUI thread
    qtbot.waitUntil(lambda: len(got) == 1)
    assert got[0] == (7, QSize(600, 400), QSize(3000, 2000), False)
    assert loader.cached(7) is not None
    loader.request(7, path)  # cached: no second decode
    loader.request(7, path, full=True)
    qtbot.waitUntil(lambda: len(got) == 2)
    assert got[1] == (7, QSize(3000, 2000), QSize(3000, 2000), True)
    missing = tmp_path / "gone.jpg"
    failed: list[tuple[int, str]] = []
    loader.failed.connect(lambda pid, message: failed.append((pid, message)))
    loader.request(8, missing)
    qtbot.waitUntil(lambda: bool(failed))
    assert failed[0][0] == 8 and "gone.jpg" in failed[0][1]


# -- the viewer over the window ----------------------------------------------------------------


def open_viewer(qtbot, window, row: int = 0) -> ViewerDialog:
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(row, 0))
    press(window.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), ViewerDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, ViewerDialog)
    qtbot.waitUntil(dialog.canvas.has_image)
    return dialog


def test_keyboard_enter_opens_the_viewer_and_delete_deletes_nothing(qtbot, window):
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(0, 0))
    press(window.grid, Qt.Key.Key_Right)
    assert window.grid.currentIndex().row() == 1
    path = Path(window.grid.currentIndex().data(ResultsModel.PathRole))
    press(window.grid, Qt.Key.Key_Delete)
    assert path.exists() and window.model.total() == 32
    assert "never deletes" in window.statusBar().currentMessage()
    dialog = open_viewer(qtbot, window, 1)
    assert dialog.path == path
    qtbot.waitUntil(lambda: dialog.details["Camera"].text() == "PhotoSeek Test Camera")
    assert dialog.details["Pixels"].text() == "96 × 96 px"
    assert dialog.details["Date from"].text() == "the camera (EXIF, date taken)"
    assert "file date" not in dialog.details["Taken"].text()  # the photo records its date
    assert dialog.details["Folder"].text() == str(path.parent)
    photo = window.library.photo(window.grid.currentIndex().data(ResultsModel.PhotoIdRole))
    dialog.info.show_photo(dataclasses.replace(photo, capture_source="file_mtime"))
    assert dialog.details["Taken"].text().endswith("(file date: no capture date in the photo)")
    assert dialog.details["Date from"].text().startswith("the file's modification time")
    # a 96 px photo is shown at its own size, not blown up to the window
    assert dialog.canvas.is_fit() and dialog.canvas.shown_rect().size() == QSizeF(96, 96)
    press(dialog.canvas, Qt.Key.Key_I)
    assert not dialog.info.isVisible() and not dialog.toolbar.info_action.isChecked()
    again = ViewerDialog(window.library, dialog.photos, 0, window.pool, window)
    assert again.info.isHidden()  # the next viewer remembers
    again.toggle_info()
    again.reject()
    assert dialog.info.isHidden() and ViewerDialog.info_shown
    press(dialog.canvas, Qt.Key.Key_I)
    assert dialog.info.isVisible()
    press(dialog.canvas, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_arrows_step_through_the_results_in_the_grids_order(qtbot, window):
    order = names(window)
    dialog = open_viewer(qtbot, window, 0)
    assert (
        dialog.toolbar.position.text() == "1 of 32"
        and not dialog.toolbar.previous_action.isEnabled()
    )
    press(dialog.canvas, Qt.Key.Key_Right)
    assert dialog.path.name == order[1] and window.grid.currentIndex().row() == 1
    assert dialog.windowTitle().startswith(order[1])
    qtbot.waitUntil(dialog.canvas.has_image)
    qtbot.waitUntil(lambda: dialog.loader.cached(window.model.hit(2).photo_id) is not None)
    press(dialog.canvas, Qt.Key.Key_Right)
    assert dialog.canvas.has_image()  # read ahead: shown at once, no waiting
    dialog.toolbar.next_action.trigger()  # the on-screen button
    assert dialog.row == 3 and dialog.toolbar.position.text() == "4 of 32"
    press(dialog.canvas, Qt.Key.Key_Left)
    assert dialog.path.name == order[2]
    press(dialog.canvas, Qt.Key.Key_End)
    assert dialog.path.name == order[31] and not dialog.toolbar.next_action.isEnabled()
    press(dialog.canvas, Qt.Key.Key_Right)  # at the end it stays
    assert dialog.row == 31
    press(dialog.canvas, Qt.Key.Key_Home)
    assert dialog.row == 0
    press(dialog.canvas, Qt.Key.Key_Left)
    assert dialog.row == 0
    press(dialog.canvas, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: dialog.details["Camera"].text() == "PhotoSeek Test Camera")
    held = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Space, NO, " ", True)  # auto-repeat
    QApplication.sendEvent(dialog.canvas, held)
    assert dialog.isVisible()
    held = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Right, NO, "", True)
    QApplication.sendEvent(dialog.canvas, held)
    assert dialog.row == 2
    press(dialog.canvas, Qt.Key.Key_Left)
    press(dialog.canvas, Qt.Key.Key_Space)  # closes, as it opened
    assert not dialog.isVisible()
    assert window.grid.currentIndex().row() == 1  # closing lands where the viewer was


def test_zoom_keys_and_full_screen_then_escape_one_step_at_a_time(qtbot, window):
    dialog = open_viewer(qtbot, window, 0)
    canvas = dialog.canvas
    assert canvas.is_fit() and dialog.toolbar.zoom_label.text() == "100%"
    assert not dialog.toolbar.actual_action.isEnabled()  # a 96 px photo already shows at 100 %
    press(canvas, Qt.Key.Key_Plus)
    assert canvas.zoom() == pytest.approx(1.25) and dialog.toolbar.zoom_label.text() == "125%"
    press(canvas, Qt.Key.Key_1)
    assert canvas.is_fit()  # 100 % is what fitting a 96 px photo already shows
    press(canvas, Qt.Key.Key_Plus)
    press(canvas, Qt.Key.Key_F)
    assert canvas.is_fit() and not dialog.toolbar.fit_action.isEnabled()
    press(canvas, Qt.Key.Key_R)  # the region tool: a plain drag draws even when zoomed in
    assert canvas.region_tool and dialog.toolbar.region_action.isChecked()
    dialog.toolbar.region_action.trigger()
    assert not canvas.region_tool and not dialog.toolbar.region_action.isChecked()
    press(canvas, Qt.Key.Key_F11)
    assert dialog.isFullScreen() and dialog.toolbar.full_action.isChecked()
    canvas.set_region(QRectF(10, 10, 40, 40))
    press(canvas, Qt.Key.Key_Escape)  # first the box
    assert canvas.region() is None and dialog.isFullScreen()
    press(canvas, Qt.Key.Key_Escape)  # then full screen
    assert not dialog.isFullScreen() and dialog.isVisible()
    press(canvas, Qt.Key.Key_Escape)  # then the viewer
    assert not dialog.isVisible()


def test_a_box_is_adjusted_then_searched_with_enter(qtbot, window):
    dialog = open_viewer(qtbot, window, 0)
    canvas = dialog.canvas
    canvas.resize(400, 400)
    shown = canvas.shown_rect()  # the 96 px photo at its own size, centred
    origin = shown.topLeft()
    before = window.searcher.generation
    drag(canvas, origin + QPointF(10, 10), origin + QPointF(40, 40))
    assert canvas.region_box() == (10, 10, 30, 30)
    assert dialog.isVisible() and window.searcher.generation == before  # no search yet
    assert dialog.toolbar.search_action.isEnabled()
    drag(canvas, origin + QPointF(25, 25), origin + QPointF(35, 35))  # move it
    drag(canvas, origin + QPointF(50, 50), origin + QPointF(70, 60))  # widen it
    assert canvas.region_box() == (20, 20, 50, 40)
    assert window.searcher.generation == before
    closed: list[int] = []
    dialog.finished.connect(closed.append)
    press(canvas, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: (
            window.searcher.generation > before
            and not window.searcher.busy()
            and window.model.generation == window.searcher.generation
        )
    )
    assert closed  # the viewer closed: the results are in the grid
    query = window.search_bar.image()
    assert query.label.startswith("Part of ") and query.region == (20, 20, 50, 40)
    assert query.thumb is not None and query.thumb.size() == QSize(50, 40)
    assert window.empty_state_key() in (None, "no-results")


def test_a_narrow_viewer_keeps_every_tool_on_its_bar(qtbot, window):
    dialog = open_viewer(qtbot, window, 0)
    dialog.resize(1200, 700)
    assert (
        dialog.toolbar.labelled[0].toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonTextBesideIcon
    )
    dialog.resize(800, 600)
    assert all(
        b.toolButtonStyle() == Qt.ToolButtonStyle.ToolButtonIconOnly
        for b in dialog.toolbar.labelled
    )
    bar = dialog.toolbar
    assert bar.sizeHint().width() <= 800
    qtbot.waitUntil(lambda: bar.widgetForAction(dialog.toolbar.full_action).isVisible())
    dialog.reject()


def test_the_search_button_under_the_box_searches_too(qtbot, window):
    dialog = open_viewer(qtbot, window, 0)
    canvas = dialog.canvas
    origin = canvas.shown_rect().topLeft()
    drag(canvas, origin + QPointF(20, 20), origin + QPointF(76, 76), SHIFT)
    assert canvas.search_button.isVisible()
    assert canvas.search_button.geometry().top() > canvas.region_on_screen().bottom()
    searched: list[tuple[int, str, tuple, QImage]] = []
    dialog.region_search.connect(lambda *args: searched.append(args))
    wait_for_search(qtbot, window, lambda: QTest.mouseClick(canvas.search_button, LEFT))
    assert searched and searched[0][2] == (20, 20, 56, 56)
    assert window.search_bar.image().region == (20, 20, 56, 56)


def test_find_similar_from_the_viewer_is_the_context_menus(qtbot, window):
    dialog = open_viewer(qtbot, window, 0)
    press(dialog.canvas, Qt.Key.Key_Right)
    photo_id, name = dialog.photo_id, dialog.path.name
    closed: list[int] = []
    dialog.finished.connect(closed.append)
    wait_for_search(qtbot, window, dialog.toolbar.similar_action.trigger)
    assert closed
    assert window.search_bar.image().like_photo_id == photo_id
    assert window.search_bar.image().label == f"Like {name}"


def test_the_viewer_follows_its_photo_when_the_results_are_replaced(qtbot, window):
    dialog = open_viewer(qtbot, window, 5)
    photo_id = dialog.photo_id
    hits = [window.model.hit(r) for r in range(window.model.total())]
    window.model.set_hits(list(reversed(hits)), window.model.generation + 1)
    assert dialog.photo_id == photo_id and dialog.row == 26
    assert dialog.toolbar.position.text() == "27 of 32" and window.grid.currentIndex().row() == 26
    press(dialog.canvas, Qt.Key.Key_Right)
    assert dialog.photo_id == hits[4].photo_id
    shown = dialog.photo_id  # now a search without it: it stays, Next shows its successor
    others = [h for h in reversed(hits) if h.photo_id != shown]
    window.model.set_hits(others, window.model.generation + 1)
    assert dialog.photo_id == shown and dialog.toolbar.position.text() == "Not in the results"
    assert dialog.toolbar.previous_action.isEnabled() and dialog.toolbar.next_action.isEnabled()
    dialog.next()
    assert dialog.photo_id == others[dialog.row].photo_id and dialog.row == 27
    assert dialog.toolbar.position.text() == "28 of 31"
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.BackButton)  # the mouse's back button
    assert dialog.row == 26
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.ForwardButton)
    assert dialog.row == 27
    dialog.reject()


def test_an_unreadable_photo_says_so_in_the_viewer(qtbot, window, strict_qt):
    path = Path(window.model.hit(0).path)
    path.write_bytes(b"not a jpeg")
    window.grid.setCurrentIndex(window.model.index(0, 0))
    dialog = window.user_actions.open_preview(window.model.index(0, 0))
    qtbot.waitUntil(lambda: "cannot be shown" in dialog.canvas.message())
    assert path.name in dialog.canvas.message()
    dialog.reject()
