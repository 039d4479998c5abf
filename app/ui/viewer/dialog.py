"""The viewer window: one photo of the results at a time, stepped through in the grid's order, with
zoom, full screen, a metadata panel, region search and Find Similar. A video shows the frame of
the moment that matched, its other matching moments a click away under it, and plays silently
from the moment shown or in the system's player with sound (video.py); region search and Find
Similar work on the frame shown.

Keys: Left/Right (or Page Up/Down) step, Home/End jump to the ends; F or 0 fits, 1 shows 100 %,
+ and - zoom; F11 toggles full screen; I toggles the details; R toggles the region tool, Enter
searches the box, Esc takes the box away, then leaves full screen, then closes; Space closes, as
it opened the viewer from the grid; P plays or pauses a video. A region search, like Find
Similar, closes the viewer and shows its results in the grid, with the box's crop in the search
bar: the results are the grid's, and the order the viewer steps through would otherwise change
under the user.

Over 400 lines: the window's stepping, keys and tool wiring read best in one place; drawing,
decoding, the details, the toolbar and videos live in the modules beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QVBoxLayout,
    QWidget,
)

from app.core.api import Library, Photo, PlaceFilter, UserError
from app.ui import theme
from app.ui.captions import format_time
from app.ui.image_query import fit_region
from app.ui.results_model import thumb_key
from app.ui.viewer.canvas import BACKDROP, FULL_SCREEN_BACKDROP, WHEEL_STEP
from app.ui.viewer.info import InfoPanel
from app.ui.viewer.loader import PhotoLoader
from app.ui.viewer.playback import FramePlayer
from app.ui.viewer.region import RegionCanvas
from app.ui.viewer.sequence import ResultSequence
from app.ui.viewer.toolbar import ViewerToolbar
from app.ui.viewer.video import VideoView
from app.ui.viewer.video_bar import VideoBar
from app.ui.workers import Worker, run_in_thread

K = Qt.Key
FRAME_SIDE = 1920  # a video's frames are decoded no larger than this (and the screen)
# Keys that act again while held: stepping and zooming.
REPEATING = {
    K.Key_Left,
    K.Key_Right,
    K.Key_PageUp,
    K.Key_PageDown,
    K.Key_Plus,
    K.Key_Minus,
    K.Key_Equal,
}


class ViewerDialog(QDialog):
    """Emits `region_search(photo_id, path, box, crop)`, `find_similar(photo_id)`,
    `open_file(path)` and `show_in_folder(path)` for the window to act on; for a video
    `similar_moment(photo_id, t_ms)`, `frame_search(label, frame, box or None, crop)` (a frame
    is searched as an image) and `open_player(path, t_ms)`."""

    info_shown = True  # the details panel, shown or hidden as the user last left it

    region_search = Signal(int, str, tuple, QImage)
    find_similar = Signal(int)
    open_file = Signal(str)
    show_in_folder = Signal(str)
    similar_moment = Signal(int, int)
    frame_search = Signal(str, QImage, object, QImage)
    open_player = Signal(str, int)

    def __init__(
        self,
        library: Library,
        photos: ResultSequence,
        row: int,
        pool: QThreadPool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.photos = photos
        if photos.parent() is None:
            photos.setParent(self)  # it listens to the results only while the viewer is open
        self.pool = pool
        self.row = -1
        self.photo_id = -1
        self.path = Path()
        self._details: Worker | None = None
        self._orphan = False  # the photo shown left the results (a new search, a folder removed)
        self.setAccessibleName("Photo viewer")
        self.setSizeGripEnabled(True)
        screen = self.screen() or QGuiApplication.primaryScreen()
        avail = screen.availableGeometry()
        self.resize(min(1280, int(avail.width() * 0.9)), min(880, int(avail.height() * 0.9)))
        side = max(screen.size().width(), screen.size().height()) * screen.devicePixelRatio()
        self.loader = PhotoLoader(pool, int(side), self)
        self.loader.loaded.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)

        self.canvas = RegionCanvas(self)
        self.canvas.zoom_changed.connect(self._show_zoom)
        self.canvas.region_changed.connect(self._region_changed)
        self.canvas.search_requested.connect(self.search_region)
        self.canvas.needs_full.connect(self._load_full)
        self.info = InfoPanel(self)
        self.details = self.info.details
        self.toolbar = ViewerToolbar(self)
        self._wire_toolbar()
        self._show_info()
        self.video_bar = VideoBar(self)
        self.video_bar.hide()
        side = min(FRAME_SIDE, int(side))
        self.video = VideoView(library, self.canvas, self.video_bar, pool, side, self)
        self.video_bar.open_player.connect(self._open_player)

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.canvas, 1)
        body.addWidget(self.info)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addLayout(body, 1)
        layout.addWidget(self.video_bar)
        self.photos.reset.connect(self._results_replaced)
        self.finished.connect(lambda _r: self._stop())
        self.go_to(row)

    def _wire_toolbar(self) -> None:
        bar, canvas = self.toolbar, self.canvas
        slots: list[tuple[QAction, Callable[[], object]]] = [
            (bar.previous_action, self.previous),
            (bar.next_action, self.next),
            (bar.fit_action, canvas.fit),
            (bar.actual_action, lambda: canvas.set_zoom(1.0)),
            (bar.zoom_out_action, lambda: canvas.zoom_by(1 / WHEEL_STEP)),
            (bar.zoom_in_action, lambda: canvas.zoom_by(WHEEL_STEP)),
            (bar.region_action, self.toggle_region_tool),
            (bar.search_action, self.search_region),
            (bar.similar_action, self.similar),
            (bar.open_action, lambda: self.open_file.emit(str(self.path))),
            (bar.folder_action, lambda: self.show_in_folder.emit(str(self.path))),
            (bar.info_action, self.toggle_info),
            (bar.full_action, self.toggle_full_screen),
        ]
        for action, slot in slots:
            action.triggered.connect(lambda _checked=False, slot=slot: slot())

    # -- stepping through the results -------------------------------------------------------------

    def go_to(self, row: int) -> None:
        count = self.photos.count()
        if count == 0:
            return
        row = max(0, min(row, count - 1))
        forward = row >= self.row
        self.row = row
        self._orphan = False
        hit = self.photos.hit(row)
        self.photo_id, path = self.photos.item(row)
        self.path = Path(path)
        self.photos.select(row)
        self.setWindowTitle(f"{self.path.name} — PhotoSeek")
        self._show_position()
        self.info.show_file(self.path)
        if hit.kind == "video" or hit.clip:  # a photo with a clip: its moments, playback
            self.video.show(hit)
            # A Live Photo's MOV opens in the player; a motion photo's clip is inside the photo.
            playable = hit.kind == "video" or self.library.playable_path(self.photo_id)
            self.video_bar.player_button.setVisible(bool(playable))
        else:
            self.video.clear()
            cached = self.loader.cached(self.photo_id)
            if cached is not None:
                self.canvas.set_image(*cached)
            else:
                self.canvas.set_placeholder(theme.cached_pixmap(thumb_key(self.photo_id)))
                self.loader.request(self.photo_id, self.path)
        self._read_ahead(forward)
        self._load_details()

    def _open_player(self) -> None:
        """The video, or a Live Photo's MOV, in the system's player from the picture's time."""
        playable = self.library.playable_path(self.photo_id)
        if playable is not None:
            self.open_player.emit(str(playable), self.video.position())

    def _read_ahead(self, forward: bool) -> None:
        """Decode the neighbours now: two ahead in the direction of travel, one behind."""
        step = 1 if forward else -1
        rows = [self.row + step, self.row + 2 * step, self.row - step]
        rows = [r for r in rows if 0 <= r < self.photos.count()]
        wanted = {self.photo_id}
        for r in rows:
            photo_id, path = self.photos.item(r)
            if self.photos.hit(r).kind == "video":
                continue  # its frame is decoded when it is shown
            wanted.add(photo_id)
            self.loader.request(photo_id, Path(path), soon=True)
        self.loader.keep_only(wanted)

    def next(self) -> None:
        self.go_to(self.row if self._orphan else self.row + 1)

    def previous(self) -> None:
        self.go_to(self.row - 1)

    def _show_position(self) -> None:
        count = self.photos.count()
        if self._orphan:
            self.toolbar.position.setText("Not in the results")
            self.toolbar.previous_action.setEnabled(0 < self.row <= count)
            self.toolbar.next_action.setEnabled(self.row < count)
            return
        self.toolbar.position.setText(f"{self.row + 1:,} of {count:,}")
        self.toolbar.previous_action.setEnabled(self.row > 0)
        self.toolbar.next_action.setEnabled(self.row < count - 1)

    def _results_replaced(self) -> None:
        """A new result list: find this photo in it. If it left, it stays on screen, and Next
        shows the photo that took its place."""
        row = self.photos.row_of(self.photo_id)
        self._orphan = row is None
        if row is not None:
            self.row = row
            self.photos.select(row)
        self._show_position()

    # -- loading -----------------------------------------------------------------------------------

    def _image_loaded(self, photo_id: int, image: QImage, original: QSize, full: bool) -> None:
        if photo_id != self.photo_id or self.is_video():
            return  # a neighbour read ahead, now in the cache
        if full:
            self.canvas.upgrade(image)
        elif not self.canvas.has_image():
            self.canvas.set_image(image, original)

    def _image_failed(self, photo_id: int, message: str) -> None:
        if photo_id == self.photo_id:
            self.canvas.set_message(f"This photo cannot be shown.\n{message}")

    def _load_full(self) -> None:
        self.loader.request(self.photo_id, self.path, full=True)

    def _load_details(self) -> None:
        if self._details is not None:
            self._details.cancel()
        photo_id = self.photo_id
        library = self.library

        def work() -> tuple[Photo | None, str | None]:
            photo = library.photo(photo_id)
            place = None
            if photo is not None and photo.place_country:
                where = PlaceFilter(photo.place_country, photo.place_region, photo.place_city)
                place = library.place_label(where)
            return photo, place

        self._details = run_in_thread(
            work,
            on_result=lambda value: self._details_loaded(photo_id, *value),
            on_error=self._details_failed,
            pool=self.pool,
            owner=self,
        )

    def _details_loaded(self, photo_id: int, photo: Photo | None, place: str | None) -> None:
        if photo_id == self.photo_id:
            self.info.show_photo(photo, place)

    def _details_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.info.show_error(str(exc))

    def _stop(self) -> None:
        self.video.stop()
        self.loader.cancel()
        if self._details is not None:
            self._details.cancel()

    # -- zoom, region, panels ----------------------------------------------------------------------

    def _show_zoom(self) -> None:
        canvas = self.canvas
        percent = f"{canvas.zoom() * 100:.0f}%" if canvas.has_image() else ""
        self.toolbar.zoom_label.setText(percent)
        self.toolbar.zoom_label.setToolTip("Fitted to the window" if canvas.is_fit() else "")
        self.toolbar.fit_action.setEnabled(not canvas.is_fit())
        self.toolbar.actual_action.setEnabled(
            canvas.has_image() and abs(canvas.zoom() - 1.0) > 1e-6
        )

    def toggle_region_tool(self) -> None:
        self.canvas.region_tool = not self.canvas.region_tool
        self.toolbar.region_action.setChecked(self.canvas.region_tool)

    def _region_changed(self) -> None:
        self.toolbar.search_action.setEnabled(self.canvas.region() is not None)

    def search_region(self) -> None:
        box = self.canvas.region_box()
        if box is None:
            return
        if self.is_video():  # the frame is the image: its pixels are searched, with the box
            frame, fitted = fit_region(self.canvas.image(), box)
            label = f"Part of {self.path.name} at {format_time(self.video.position())}"
            self.frame_search.emit(label, frame, fitted, self.canvas.region_crop())
        else:
            self.region_search.emit(self.photo_id, str(self.path), box, self.canvas.region_crop())

    def similar(self) -> None:
        """Find Similar: like this photo; for a video, like the moment shown (a matched moment's
        vector, or the frame's pixels once playing moved it), or like the whole video."""
        t_ms = self.video.position()
        if not self.is_video():
            self.find_similar.emit(self.photo_id)
        elif t_ms in self.video.moments:
            self.similar_moment.emit(self.photo_id, t_ms)
        elif self.canvas.has_image() and self.moment_ms is not None:
            frame, _ = fit_region(self.canvas.image(), None)
            label = f"Like {self.path.name} at {format_time(t_ms)}"
            self.frame_search.emit(label, frame, None, QImage())
        else:
            self.find_similar.emit(self.photo_id)

    # -- videos ------------------------------------------------------------------------------------

    def is_video(self) -> bool:
        return self.video.active()

    @property
    def moment_ms(self) -> int | None:
        """A video: the time of the frame shown, once chosen (a moment, or where it paused)."""
        return self.video.moment_ms

    @property
    def player(self) -> FramePlayer:
        return self.video.player

    def toggle_play(self) -> None:
        self.video.toggle_play()

    def toggle_info(self) -> None:
        ViewerDialog.info_shown = self.info.isHidden()
        self._show_info()

    def _show_info(self) -> None:
        self.info.setHidden(not ViewerDialog.info_shown)
        self.toolbar.info_action.setChecked(ViewerDialog.info_shown)

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        full = self.isFullScreen()
        self.toolbar.show_full_screen(full)
        self.canvas.set_backdrop(FULL_SCREEN_BACKDROP if full else BACKDROP)

    # -- keys --------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        keys: dict[int, Callable[[], object]] = {
            K.Key_Right: self.next,
            K.Key_PageDown: self.next,
            K.Key_Left: self.previous,
            K.Key_PageUp: self.previous,
            K.Key_Home: lambda: self.go_to(0),
            K.Key_End: lambda: self.go_to(self.photos.count() - 1),
            K.Key_F: self.canvas.fit,
            K.Key_0: self.canvas.fit,
            K.Key_1: lambda: self.canvas.set_zoom(1.0),
            K.Key_Plus: lambda: self.canvas.zoom_by(WHEEL_STEP),
            K.Key_Equal: lambda: self.canvas.zoom_by(WHEEL_STEP),
            K.Key_Minus: lambda: self.canvas.zoom_by(1 / WHEEL_STEP),
            K.Key_F11: self.toggle_full_screen,
            K.Key_I: self.toggle_info,
            K.Key_R: self.toggle_region_tool,
            K.Key_Return: self.search_region,
            K.Key_Enter: self.search_region,
            K.Key_Space: self.reject,
            K.Key_P: self.toggle_play,
            K.Key_Escape: self.escape,
        }
        if event.isAutoRepeat() and key not in REPEATING:
            pass  # a held Space or Esc acts once, not again on the grid behind
        elif key == K.Key_F and event.modifiers() & ctrl_shift == ctrl_shift:
            self.similar()
        elif key in keys and not event.modifiers() & Qt.KeyboardModifier.AltModifier:
            keys[key]()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def escape(self) -> None:
        """Esc undoes one thing at a time: the box, then full screen, then the viewer itself."""
        if self.canvas.region() is not None:
            self.canvas.set_region(None)
        elif self.isFullScreen():
            self.toggle_full_screen()
        else:
            self.reject()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """The mouse's back and forward buttons step, as in a browser."""
        if event.button() == Qt.MouseButton.BackButton:
            self.previous()
        elif event.button() == Qt.MouseButton.ForwardButton:
            self.next()
        else:
            super().mousePressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.toolbar.fit_width(self.width())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.canvas.setFocus()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop()
        super().closeEvent(event)
