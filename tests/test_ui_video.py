"""Videos in the window, over a real library: photos and videos written with PyAV (tests/videos.py)
from the micro model's shapes, indexed by the real pipeline with the trained micro CLIP. The grid
badges a video with its length and, as a search hit, the moment that matched (its frame as the
picture); the Photos / Videos filter; the viewer's frame, moments, silent playback, region search
on a frame and Find Similar from a frame."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import test_ui_window
from microclip import caption
from PySide6.QtCore import QModelIndex, QPointF, QRect, QSize, Qt, QThreadPool, QUrl
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionViewItem
from qt_helpers import press, shape_photos, strict_qt_fixture, type_text  # noqa: F401
from test_ui_window import make_window, wait_for_search

from app.core.api import Library, Paths
from app.ui.captions import counted, format_time
from app.ui.results_model import ResultsModel, thumb_key
from app.ui.search_controller import build_query
from app.ui.settings import UiSettings
from app.ui.theme import cached_pixmap
from app.ui.viewer import ViewerDialog
from tests.videos import scene_frames, write_video

opened_urls = test_ui_window.opened_urls

# A red circle from second 3 to 5, between a blue square and a green triangle (8 s in all).
RED_AT = [(3, "blue", "square"), (2, "red", "circle"), (3, "green", "triangle")]
OTHER = [(4, "yellow", "star"), (4, "blue", "triangle")]
PHOTOS = [
    ("green", "square", datetime(2021, 3, 4, 10)),
    ("yellow", "star", datetime(2021, 6, 1, 10)),
    ("blue", "circle", datetime(2022, 2, 2, 10)),
    ("red", "triangle", datetime(2022, 8, 8, 10)),
]


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths.at(tmp_path / "home").ensure()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "Media"
    shape_photos(folder / "photos", PHOTOS, size=96)
    (folder / "videos").mkdir()
    stamp = {"creation_time": "2023-05-01T12:00:00Z"}
    write_video(folder / "videos" / "red.mp4", scene_frames(RED_AT), metadata=stamp)
    write_video(folder / "videos" / "other.mov", scene_frames(OTHER, seed=3), metadata=stamp)
    return folder


@pytest.fixture
def library(paths: Paths, media: Path, tiny_model_dir: Path) -> Library:
    library = Library.open(paths, model_dir=tiny_model_dir, device="cpu")
    library.add_folder(media)
    report = library.index()
    assert report.added == len(PHOTOS) + 2 and report.skipped == 0
    return library


@pytest.fixture
def window(qtbot, paths: Paths, library: Library) -> Iterator:
    win = make_window(qtbot, paths, library)
    total = len(PHOTOS) + 2
    qtbot.waitUntil(
        lambda: (
            win.model.total() == total
            and not win.indexer.running
            and not win.searcher.busy()
            and win.model.generation == win.searcher.generation
        ),
        timeout=30_000,
    )
    yield win
    win.close()


def row_of(window, name: str) -> int:
    for row in range(window.model.total()):
        if Path(window.model.hit(row).path).name == name:
            return row
    raise AssertionError(f"{name} is not in the grid")


def redness(image: QImage) -> float:
    """The share of clearly red pixels in the middle of `image`."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    stride = image.bytesPerLine()
    data = np.frombuffer(bytes(image.constBits()), np.uint8)[: stride * h]
    rgb = data.reshape(h, stride)[:, : 3 * w].reshape(h, w, 3).astype(int)
    centre = rgb[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
    return float(((centre[:, 0] > 150) & (centre[:, 1] < 100) & (centre[:, 2] < 100)).mean())


def search_red_circle(qtbot, window) -> int:
    """Search for the red circle; the row of red.mp4 in the results."""
    wait_for_search(
        qtbot, window, lambda: type_text(window.search_bar.edit, caption("red", "circle"))
    )
    return row_of(window, "red.mp4")


def open_viewer(qtbot, window, row: int) -> ViewerDialog:
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(row, 0))
    press(window.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), ViewerDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, ViewerDialog)
    qtbot.waitUntil(dialog.canvas.has_image, timeout=10_000)
    return dialog


# -- the grid ------------------------------------------------------------------------------------


def test_browsing_lists_each_video_once_with_its_length_and_no_moment(window):
    model = window.model
    kinds = [model.index(r, 0).data(ResultsModel.KindRole) for r in range(model.total())]
    assert sorted(kinds) == ["photo"] * len(PHOTOS) + ["video"] * 2
    index = model.index(row_of(window, "red.mp4"), 0)
    assert index.data(ResultsModel.DurationRole) == 8000
    assert index.data(ResultsModel.MomentRole) is None
    assert "video 0:08" in index.data(Qt.ItemDataRole.AccessibleTextRole)
    assert window.result_label.text().startswith(f"{len(PHOTOS)} photos and 2 videos ·")
    assert model.videos_between(0, model.total()) == 2  # the timeline's headers count them
    assert counted(3, 0) == "3 photos" and counted(1, 1) == "1 photo and 1 video"
    assert counted(0, 2) == "2 videos" and counted(0, 0) == "0 photos"
    photo = model.index(row_of(window, PHOTOS[0][0] + "-square-000.jpg"), 0)
    assert photo.data(ResultsModel.DurationRole) is None


def test_the_tile_of_a_video_carries_a_play_badge_with_its_length(qtbot, window):
    index = window.model.index(row_of(window, "red.mp4"), 0)
    photo = window.model.index(row_of(window, PHOTOS[2][0] + "-circle-002.jpg"), 0)
    qtbot.waitUntil(lambda: index.data(ResultsModel.ThumbStateRole) == "ready", timeout=10_000)
    qtbot.waitUntil(lambda: photo.data(ResultsModel.ThumbStateRole) == "ready", timeout=10_000)

    def tile(at: QModelIndex) -> QImage:
        image = QImage(220, 240, QImage.Format.Format_RGB32)
        image.fill(QColor(255, 255, 255))
        option = QStyleOptionViewItem()
        option.initFrom(window.grid)
        option.rect = QRect(0, 0, 220, 240)
        option.state = QStyle.StateFlag.State_Enabled
        painter = QPainter(image)
        window.grid.delegate.paint(painter, option, at)
        painter.end()
        return image

    def badge_white(image: QImage) -> int:  # white pixels in the top-right corner (the badge)
        return sum(
            image.pixelColor(x, y).lightness() > 240 for x in range(150, 216) for y in range(6, 26)
        )

    assert badge_white(tile(index)) > 5  # the play mark and "0:08"
    assert badge_white(tile(photo)) == 0
    assert format_time(8000) == "0:08" and format_time(3_725_000) == "1:02:05"


def test_a_search_shows_the_video_at_the_moment_that_matched_with_its_frame(qtbot, window):
    row = search_red_circle(qtbot, window)
    hit = window.model.hit(row)
    assert hit.kind == "video" and hit.moment_ms is not None and 3000 <= hit.moment_ms < 5000
    assert hit.moments[0][0] == hit.moment_ms  # best first
    index = window.model.index(row, 0)
    assert index.data(ResultsModel.MomentRole) == hit.moment_ms
    assert f"best at {format_time(hit.moment_ms)}" in index.data(Qt.ItemDataRole.ToolTipRole)
    window.grid.scrollTo(index)
    index.data(ResultsModel.ThumbnailRole)  # asks for it
    qtbot.waitUntil(lambda: index.data(ResultsModel.ThumbStateRole) == "ready", timeout=10_000)
    frame = cached_pixmap(thumb_key(hit.photo_id, hit.moment_ms))
    assert frame is not None and redness(frame.toImage()) > 0.2  # the red circle, not the poster
    assert window.model.cache_key(hit.photo_id) == thumb_key(hit.photo_id, hit.moment_ms)


def test_the_photos_videos_filter_is_sent_as_the_kind_and_kept(qtbot, window, paths):
    filters = window.filters
    assert filters.kind() == "all"
    wait_for_search(qtbot, window, lambda: filters.kind_box.setCurrentIndex(2))  # Videos
    assert filters.kind() == "video"
    names = sorted(Path(window.model.hit(r).path).name for r in range(window.model.total()))
    assert names == ["other.mov", "red.mp4"]
    assert window.result_label.text().startswith("2 videos ·")
    assert build_query(window.search.current_spec()).kind == "video"
    wait_for_search(qtbot, window, lambda: filters.kind_box.setCurrentIndex(1))  # Photos
    kinds = {window.model.hit(r).kind for r in range(window.model.total())}
    assert kinds == {"photo"} and window.model.total() == len(PHOTOS)
    wait_for_search(
        qtbot, window, lambda: type_text(window.search_bar.edit, caption("red", "circle"))
    )
    assert all(window.model.hit(r).kind == "photo" for r in range(window.model.total()))
    window.resize(800, 600)  # a narrow window: the box says "Both", and keeps its tooltip
    qtbot.waitUntil(lambda: filters.kind_box.itemText(0) == "Both")
    qtbot.waitUntil(lambda: filters.kind_box.width() < 120)  # and is narrow with it
    assert filters.kind_box.toolTip() == "Show photos, videos, or both"
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: filters.kind_box.itemText(0) == "Photos and videos")
    filters.set_kind("video")
    window.close()
    assert UiSettings(paths.config / "window.ini").kind == "video"
    again = make_window(qtbot, paths, window.library)
    assert again.filters.kind() == "video"
    again.filters.clear_filters()  # Clear Filters shows both again
    assert again.filters.kind() == "all"
    again.close()


def test_no_videos_says_so_and_offers_to_clear_the_filter(qtbot, window, library, media):
    library.remove_folder(media)
    wait_for_search(qtbot, window, lambda: window.filters.kind_box.setCurrentIndex(2))
    assert window.empty_state_key() == "no-results"
    assert window.empty.state is not None and window.empty.state.title == "No videos here"


# -- the viewer ------------------------------------------------------------------------------------


def test_the_viewer_shows_the_frame_of_the_moment_and_every_matching_moment(qtbot, window):
    row = search_red_circle(qtbot, window)
    hit = window.model.hit(row)
    dialog = open_viewer(qtbot, window, row)
    assert dialog.is_video() and dialog.video_bar.isVisible()
    assert dialog.moment_ms == hit.moment_ms
    qtbot.waitUntil(lambda: redness(dialog.canvas.image()) > 0.2, timeout=10_000)
    assert dialog.canvas.original_size() == dialog.canvas.image().size()  # the frame is the image
    qtbot.waitUntil(lambda: dialog.details["Length"].text() == "0:08")
    assert dialog.details["Date from"].text() == "the video's creation time (its container)"
    assert dialog.details["Pixels"].text() == "160 × 96 px"
    bar = dialog.video_bar
    assert bar.moments() == sorted(t for t, _ in hit.moments)  # in time order
    best = bar.buttons[hit.moment_ms]
    assert best.isChecked() and best.text().endswith("· best")
    assert bar.time_label.text() == f"{format_time(hit.moment_ms)} / 0:08"
    others = [t for t in bar.moments() if t != hit.moment_ms]
    if others:  # another moment is one click away
        bar.buttons[others[0]].click()
        assert dialog.moment_ms == others[0] and bar.buttons[others[0]].isChecked()
        qtbot.waitUntil(lambda: (dialog.photo_id, others[0]) in dialog.video.frames, timeout=10_000)
    dialog.reject()


def test_a_video_plays_silently_from_its_moment_and_pauses(qtbot, window):
    row = search_red_circle(qtbot, window)
    start = window.model.hit(row).moment_ms
    dialog = open_viewer(qtbot, window, row)
    times: list[int] = []
    dialog.player.frame.connect(lambda t, _image: times.append(t))
    press(dialog.canvas, Qt.Key.Key_P)
    assert dialog.player.playing() and dialog.video_bar.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: len(times) >= 5, timeout=10_000)
    assert times[0] >= start - 1 and times == sorted(times)
    press(dialog.canvas, Qt.Key.Key_P)
    assert not dialog.player.playing() and dialog.video_bar.play_button.text() == "Play"
    assert dialog.moment_ms == times[-1]  # paused where it was
    assert dialog.video_bar.time_label.text().startswith(format_time(times[-1]))
    dialog.video_bar.play_button.click()
    with qtbot.waitSignal(dialog.player.stopped, timeout=15_000):
        pass  # to the end
    assert dialog.moment_ms is not None and dialog.moment_ms >= 7000
    dialog.reject()


def test_a_box_on_a_frame_searches_the_frame_as_an_image(qtbot, window):
    row = search_red_circle(qtbot, window)
    dialog = open_viewer(qtbot, window, row)
    qtbot.waitUntil(lambda: redness(dialog.canvas.image()) > 0.2, timeout=10_000)
    size = dialog.canvas.original_size()
    dialog.canvas.set_region(
        dialog.canvas.region() or _box(size.width() // 4, size.height() // 4, size)
    )
    box = dialog.canvas.region_box()
    wait_for_search(qtbot, window, dialog.search_region)
    assert QApplication.activeModalWidget() is None  # the results are the grid's
    image = window.search_bar.image()
    assert image is not None and image.pixels is not None and image.like_photo_id is None
    assert image.region == box and image.pixels.size() == size  # a small frame: as it is
    assert image.label.startswith("Part of red.mp4 at 0:0")
    query = build_query(window.search.current_spec())
    assert isinstance(query.image, bytes) and query.region == image.region
    assert window.empty_state_key() in (None, "no-results")


def _box(x: int, y: int, size: QSize):
    from PySide6.QtCore import QRectF

    return QRectF(QPointF(x, y), QPointF(size.width() - x, size.height() - y))


def test_find_similar_from_a_frame_searches_like_that_moment(qtbot, window):
    row = search_red_circle(qtbot, window)
    hit = window.model.hit(row)
    dialog = open_viewer(qtbot, window, row)
    wait_for_search(qtbot, window, dialog.similar)
    image = window.search_bar.image()
    assert image is not None and image.like_photo_id == hit.photo_id
    assert image.like_moment_ms == hit.moment_ms
    assert image.label == f"Like red.mp4 at {format_time(hit.moment_ms)}"
    query = build_query(window.search.current_spec())
    assert query.like_moment_ms == hit.moment_ms
    chip = window.search_bar.chip.preview  # the chip shows that moment's frame, not the poster
    qtbot.waitUntil(lambda: redness(chip.pixmap().toImage()) > 0.2, timeout=10_000)
    # the red circle's moment finds red circles first: the video it came from is pinned
    assert window.model.index(0, 0).data(ResultsModel.SourceRole)


def test_open_in_player_hands_the_video_to_the_desktop(
    qtbot, window, opened_urls, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpv or VLC: the default app, from the start
    row = search_red_circle(qtbot, window)
    dialog = open_viewer(qtbot, window, row)
    dialog.video_bar.player_button.click()
    assert opened_urls == [QUrl.fromLocalFile(str(dialog.path))]
    assert "the moment is at 0:0" in window.statusBar().currentMessage()
    dialog.reject()


def test_the_context_menu_of_a_video_hit_plays_from_its_moment(
    qtbot, window, opened_urls, monkeypatch, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no player that takes a start time
    row = search_red_circle(qtbot, window)
    moment = window.model.hit(row).moment_ms
    menu = window.user_actions.build_context_menu(window.model.index(row, 0))
    actions = {a.text(): a for a in menu.actions() if a.text()}
    play = actions[f"Play from {format_time(moment)}"]
    play.trigger()
    assert opened_urls == [QUrl.fromLocalFile(str(window.model.hit(row).path))]
    assert f"the moment is at {format_time(moment)}" in window.statusBar().currentMessage()
    photo = next(r for r in range(window.model.total()) if window.model.hit(r).kind == "photo")
    menu = window.user_actions.build_context_menu(window.model.index(photo, 0))
    assert not any("Play" in a.text() or "Player" in a.text() for a in menu.actions())


def test_stepping_from_a_video_to_a_photo_and_back(qtbot, window):
    row = search_red_circle(qtbot, window)
    dialog = open_viewer(qtbot, window, row)
    photo = next(r for r in range(window.model.total()) if window.model.hit(r).kind == "photo")
    dialog.go_to(photo)
    qtbot.waitUntil(dialog.canvas.has_image)
    assert not dialog.is_video() and dialog.video_bar.isHidden() and dialog.moment_ms is None
    press(dialog.canvas, Qt.Key.Key_P)  # nothing to play
    assert not dialog.player.playing()
    dialog.go_to(row)
    assert dialog.is_video() and dialog.video_bar.isVisible()
    qtbot.waitUntil(lambda: redness(dialog.canvas.image()) > 0.2, timeout=10_000)
    dialog.reject()


def test_a_video_that_became_unreadable_says_so_in_the_viewer(qtbot, window, media):
    row = row_of(window, "red.mp4")
    path = media / "videos" / "red.mp4"
    path.write_bytes(path.read_bytes()[:200])  # cut short after it was indexed
    window.grid.setCurrentIndex(window.model.index(row, 0))
    dialog = window.user_actions.open_preview(window.model.index(row, 0))
    assert dialog is not None and dialog.is_video()
    qtbot.waitUntil(lambda: dialog.canvas.message().startswith("This video cannot be shown."))
    assert "red.mp4" in dialog.canvas.message()
    dialog.toggle_play()
    qtbot.waitUntil(lambda: not dialog.player.playing(), timeout=10_000)
    said = dialog.video_bar.time_label.text()
    assert said.startswith("This video cannot be played here: ") and "Errno" not in said
    dialog.reject()


def test_a_large_frame_and_its_box_are_scaled_alike_for_the_engine():
    from app.ui.image_query import MAX_PASTED_SIDE, fit_region

    frame = QImage(2048, 1152, QImage.Format.Format_RGB32)
    frame.fill(QColor(10, 20, 30))
    scaled, box = fit_region(frame, (1024, 576, 512, 288))
    assert (scaled.width(), scaled.height()) == (MAX_PASTED_SIDE, 576)
    assert box == (512, 288, 256, 144)
    small = QImage(320, 180, QImage.Format.Format_RGB32)
    assert fit_region(small, (1, 2, 3, 4)) == (small, (1, 2, 3, 4))
    assert fit_region(frame, None)[1] is None


def test_skipped_files_lists_broken_videos_and_those_indexed_in_part(
    qtbot, tmp_path, tiny_model_dir
):
    from app.ui.skipped_dialog import SkippedDialog

    root = tmp_path / "clips"
    root.mkdir()
    whole = write_video(
        tmp_path / "whole.mkv", scene_frames([(3, "red", "circle"), (7, "blue", "star")])
    )
    data = whole.read_bytes()
    (root / "cut.mkv").write_bytes(data[: len(data) // 2])  # a copy that broke off
    (root / "empty.mov").write_bytes(b"")
    library = Library.open(Paths.at(tmp_path / "home").ensure(), model_dir=tiny_model_dir)
    library.add_folder(root)
    report = library.index()
    assert (report.added, report.skipped, report.partial) == (1, 1, 1)
    pool = QThreadPool()
    dialog = SkippedDialog(library, pool)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(dialog.rows()) == 2)
    rows = {Path(path).name: reason for path, reason, _ in dialog.rows()}
    assert rows["empty.mov"] == "empty file (0 bytes)"
    assert rows["cut.mkv"].startswith("Partly indexed: indexed up to 0:0")
    assert "1 video(s) could be read only in part" in dialog.summary.text()
    dialog.reject()
    pool.waitForDone(5000)
    library.close()
