"""The rough edges found in use (issue 13), each seen through the real window: folder counts
that follow indexing, Add Folder without a dialog left behind, Show in Folder and Open Log
Folder that say what went wrong, a status bar that keeps the zoom slider still, dates that
keep their year, no score while browsing, a file picker and a drop highlight for searching by
photo, and a search field that stays usable in a narrow window."""

# ruff: noqa: F811  (the fixtures imported from test_ui_window are parameters here)
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QFont, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox
from qt_helpers import shape_photos, strict_qt_fixture  # noqa: F401
from test_ui_window import (  # noqa: F401  (fixtures)
    drop_files,
    indexed_library,
    make_window,
    paths,
    photo_dir,
    wait_for_search,
    window,
)

from app.core.library import Library
from app.ui.image_query import ImageQuery
from app.ui.results_model import ResultsModel
from app.ui.thumb_delegate import MIN_SIZE, fitting_caption

NO_OPENER = r"does not support QPlatformServices::openDocument"  # offscreen: nothing opens files
REPO = Path(__file__).resolve().parents[1]


def action(window, text: str):
    return next(a for a in window.actions() if a.text() == text)


def message_boxes(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def test_folder_counts_follow_indexing(qtbot, window, photo_dir, tmp_path):
    dialog = window.user_actions.manage_folders()

    def shows(text: str) -> bool:
        item = dialog.folders.list.item(0)
        return item is not None and text in item.text()

    qtbot.waitUntil(lambda: shows("32 photos"), timeout=10_000)
    made = shape_photos(tmp_path / "new", [("red", "star", datetime(2021, 3, 4, 5, 6))] * 4)
    for photo in made:  # into a folder already watched: four more photos there
        photo.rename(photo_dir / "2021" / f"new-{photo.name}")
    window.session.rescan()  # F5; the watcher would do the same
    qtbot.waitUntil(lambda: shows("36 photos"), timeout=30_000)
    qtbot.waitUntil(lambda: not window.indexer.running, timeout=30_000)
    dialog.reject()


def test_add_folder_leaves_no_dialog_open(qtbot, paths, photo_dir, tiny_model_dir):
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    window = make_window(qtbot, paths, library)
    try:
        qtbot.waitUntil(lambda: window.empty_state_key() == "no-folders")
        window.user_actions.choose_folder = lambda _parent: photo_dir
        action(window, "&Add Folder…").trigger()
        qtbot.waitUntil(lambda: window.model.total() == 32, timeout=60_000)
        assert QApplication.activeModalWidget() is None
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog)]
        assert not [d for d in dialogs if d.isVisible()]
        assert "Added" in window.statusBar().currentMessage()
        window.user_actions.choose_folder = lambda _parent: photo_dir  # again: said, not added
        action(window, "&Add Folder…").trigger()
        qtbot.waitUntil(lambda: bool(message_boxes(window)), timeout=10_000)
        assert "not added" in message_boxes(window)[0].windowTitle()
        message_boxes(window)[0].close()
        qtbot.waitUntil(lambda: not window.indexer.running, timeout=30_000)
    finally:
        window.close()


def test_show_in_folder_that_fails_says_where_the_file_is(qtbot, window, strict_qt):
    strict_qt.allow(NO_OPENER)
    path = Path(window.model.hit(0).path)
    window.user_actions.show_path(path)
    box = message_boxes(window)[0]
    assert "No file manager could show" in box.text() and str(path.parent) in box.text()
    assert "No application could open" not in box.text()
    assert QGuiApplication.clipboard().text() == str(path)  # to paste into a file manager
    box.close()
    gone = path.with_name("gone.jpg")
    window.user_actions.show_path(gone)
    assert "no longer at" in message_boxes(window)[0].text()
    message_boxes(window)[0].close()
    QGuiApplication.clipboard().clear()


@pytest.mark.skipif(sys.platform != "linux", reason="FileManager1 is the freedesktop interface")
def test_show_in_folder_asks_the_file_manager_to_select_the_file(tmp_path):
    """On a session bus where a file manager offers org.freedesktop.FileManager1 (here a
    stand-in on a private bus), ShowItems is called with the file's URL."""
    daemon = "/usr/bin/dbus-run-session"
    if not Path(daemon).exists():
        pytest.skip("dbus-run-session is not installed")
    photo = tmp_path / "photo one.jpg"
    photo.write_bytes(b"x")
    service = textwrap.dedent(
        """
        from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, Slot
        from PySide6.QtDBus import QDBusConnection

        @ClassInfo({"D-Bus Interface": "org.freedesktop.FileManager1"})
        class Manager(QObject):
            @Slot("QStringList", str)
            def ShowItems(self, uris, startup):
                print("SHOW", *uris, flush=True)
                QCoreApplication.quit()

        app = QCoreApplication([])
        bus = QDBusConnection.sessionBus()
        manager = Manager()
        options = QDBusConnection.RegisterOption.ExportAllSlots
        assert bus.registerObject("/org/freedesktop/FileManager1", manager, options)
        assert bus.registerService("org.freedesktop.FileManager1")
        print("READY", flush=True)
        app.exec()
        """
    )
    caller = textwrap.dedent(
        f"""
        import subprocess, sys
        from pathlib import Path
        manager = subprocess.Popen([sys.executable, "-c", {service!r}], stdout=subprocess.PIPE, text=True)
        assert manager.stdout.readline().strip() == "READY"
        from PySide6.QtWidgets import QApplication
        from app.ui import file_actions
        app = QApplication([])
        print("SHOWN", file_actions.show_in_folder(Path({str(photo)!r})), flush=True)
        try:
            print(manager.communicate(timeout=10)[0], flush=True)
        finally:
            manager.kill()
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    out = subprocess.run(
        [daemon, sys.executable, "-c", caller],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert "SHOWN True" in out.stdout, out.stdout + out.stderr
    assert f"SHOW {QUrl.fromLocalFile(str(photo)).toString()}" in out.stdout


def test_open_log_folder_that_fails_says_where_the_logs_are(qtbot, window, strict_qt, paths):
    strict_qt.allow(NO_OPENER)
    action(window, "Open &Log Folder").trigger()
    box = message_boxes(window)[0]
    assert str(paths.logs) in box.text() and "photoseek.log" in box.text()
    assert QGuiApplication.clipboard().text() == str(paths.logs)
    box.close()
    QGuiApplication.clipboard().clear()


def test_a_status_message_leaves_the_zoom_slider_where_it_is(qtbot, window):
    window.resize(900, 600)
    qtbot.waitUntil(lambda: window.width() == 900)
    slider = window.zoom_slider
    before = slider.mapTo(window, QPoint(0, 0))
    long = "Added /home/someone/Pictures/Holidays/2019 Portugal and Spain; finding its photos…"
    window.statusBar().showMessage(long * 2, 5000)
    QApplication.processEvents()
    assert window.statusBar().currentMessage() == long * 2
    assert slider.mapTo(window, QPoint(0, 0)) == before
    message = window.statusBar().message
    assert message.shown_text().endswith("…")  # elided, not pushing anything
    window.statusBar().clearMessage()
    assert window.statusBar().currentMessage() == "" and window.result_label.isVisible()


def test_small_thumbnails_keep_the_year_of_their_date():
    metrics = QFontMetrics(QFont())
    when = datetime(2021, 9, 14)
    for width in range(MIN_SIZE // 2, 400, 7):
        text = fitting_caption(when, metrics, width)
        assert metrics.horizontalAdvance(text) <= width
        assert text.endswith("2021"), (width, text)
    assert fitting_caption(when, metrics, 1000) == "14 September 2021"
    assert fitting_caption(None, metrics, 1000) == "No date"


def test_browsing_shows_no_score_and_a_search_does(qtbot, window):
    tip = window.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Score" not in tip and window.model.index(0, 0).data(ResultsModel.ScoreRole) is None
    wait_for_search(qtbot, window, lambda: window.search_bar.set_text("a red circle"))
    assert "Score" in window.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)


def test_search_by_photo_has_a_file_picker(qtbot, window, photo_dir):
    photo = sorted(photo_dir.rglob("blue-star*.jpg"))[0]
    window.user_actions.choose_photo = lambda _parent: photo
    wait_for_search(qtbot, window, action(window, "Search by P&hoto…").trigger)
    assert window.search_bar.image() == ImageQuery(
        label=photo.name, path=photo, token=window.search_bar.image().token
    )
    assert Path(window.model.hit(0).path).name.startswith("blue-star")


def test_a_photo_dragged_over_the_window_is_highlighted(qtbot, window, photo_dir):
    photo = sorted(photo_dir.rglob("*.jpg"))[0]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    enter = QDragEnterEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(enter)
    assert enter.isAccepted() and window.drop_overlay.isVisible()
    assert window.drop_overlay.geometry() == window.stack.rect()
    window.dragLeaveEvent(QDragLeaveEvent())
    assert not window.drop_overlay.isVisible()
    window.dragEnterEvent(enter)
    wait_for_search(qtbot, window, lambda: drop_files(window, [photo]))  # enter, then drop
    assert not window.drop_overlay.isVisible()
    text = QMimeData()
    text.setText("just words")
    refused = QDragEnterEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        text,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(refused)
    assert not window.drop_overlay.isVisible()


def test_a_narrow_window_keeps_the_search_field_readable(qtbot, window, photo_dir):
    window.resize(800, 600)
    qtbot.waitUntil(lambda: window.width() == 800)
    photo = sorted(photo_dir.rglob("*.jpg"))[0]
    bar = window.search_bar
    wait_for_search(
        qtbot,
        window,
        lambda: (bar.set_image(ImageQuery(label=photo.name, path=photo)), bar.set_text("a red")),
    )
    QApplication.processEvents()
    chars = bar.edit.width() // bar.edit.fontMetrics().averageCharWidth()
    assert chars >= 16, chars
    assert bar.balance.isVisible()
    shown = [w for w in (*bar.balance_labels, *bar.balance_icons) if w.isVisible()]
    assert shown and all(not w.geometry().intersects(bar.weight.geometry()) for w in shown)
    assert bar.chip.toolTip().endswith(photo.name)  # its name, when the chip has no room for it
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: bar.balance_labels[0].isVisible())
    assert bar.chip.label.isVisible()


def test_find_similar_pins_the_photo_it_searched_from(qtbot, window):
    """The source photo comes first, labelled, with no score, and is not counted as a match;
    its lookalikes follow (the engine keeps it apart: the CLI prints it the same way)."""
    hit = window.model.hit(5)
    name = Path(hit.path).name
    wait_for_search(qtbot, window, lambda: window.user_actions.find_similar(hit.photo_id, name))
    first = window.model.index(0, 0)
    assert first.data(ResultsModel.PhotoIdRole) == hit.photo_id
    assert first.data(ResultsModel.SourceRole) is True
    assert first.data(ResultsModel.ScoreRole) is None
    assert "Searched from" in first.data(Qt.ItemDataRole.ToolTipRole)
    assert "searched from" in first.data(Qt.ItemDataRole.AccessibleTextRole)
    second = window.model.index(1, 0)
    assert second.data(ResultsModel.SourceRole) is False
    assert second.data(ResultsModel.ScoreRole) is not None
    assert hit.photo_id not in [
        window.model.hit(r).photo_id for r in range(1, window.model.total())
    ]
    matches = window.model.total() - 1
    assert window.result_label.text().startswith(f"{matches} match")
