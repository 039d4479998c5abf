"""The viewer's video side: the frame at a moment (decoded by the library in a worker, a few
kept), the bar of matching moments, and silent playback from the frame shown. The dialog steps
through the results and hands each video, and each photo with a clip, here (`show`); `position()` is where the picture is,
for Find Similar, the region box and "Open in Player"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool
from PySide6.QtGui import QImage

from app.core.api import Hit, Library, UserError
from app.ui import theme
from app.ui.image_reader import qimage_from_pil
from app.ui.results_model import thumb_key
from app.ui.viewer.playback import FramePlayer
from app.ui.viewer.region import RegionCanvas
from app.ui.viewer.video_bar import VideoBar
from app.ui.workers import Worker, run_in_thread

POSTER_MS = 1000  # a video opened without a moment shows this far in (openings are often black)
KEPT = 12  # decoded frames kept, so that clicking back and forth between moments is instant


class VideoView(QObject):
    """Shows videos on `canvas` with `bar` under it."""

    def __init__(
        self,
        library: Library,
        canvas: RegionCanvas,
        bar: VideoBar,
        pool: QThreadPool,
        side: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.canvas = canvas
        self.bar = bar
        self.pool = pool
        self.side = side
        self.hit: Hit | None = None  # the video shown; None while a photo is
        self.path = Path()
        self.moment_ms: int | None = None  # the time of the frame shown; None: not chosen
        self.moments: set[int] = set()  # the moments the search matched
        self.frames: dict[tuple[int, int], QImage] = {}  # (video id, t_ms) -> frame
        self._worker: Worker | None = None
        self.player = FramePlayer(pool, side, self)
        self.player.frame.connect(self._play_frame)
        self.player.stopped.connect(self._play_stopped)
        self.player.failed.connect(bar.time_label.setText)
        bar.moment_picked.connect(self.show_moment)
        bar.play_toggled.connect(self.toggle_play)

    def active(self) -> bool:
        return self.hit is not None

    def position(self) -> int:
        """Where in the video the picture is (ms)."""
        return self.player.position if self.player.playing() else (self.moment_ms or 0)

    def show(self, hit: Hit) -> None:
        """Show `hit` (a video): at its best moment, or past its opening when browsing."""
        self.stop()
        self.hit, self.path = hit, Path(hit.path)
        self.bar.show()
        moments = list(hit.moments)
        self.moments = {t for t, _ in moments}
        start = hit.moment_ms if hit.moment_ms is not None else (moments[0][0] if moments else None)
        chosen = start is not None
        if start is None:  # a photo with a clip opens on its still (t 0 is the photo)
            start = 0 if hit.kind == "photo" else min(POSTER_MS, max(0, (hit.duration_ms or 0) - 1))
        self.bar.set_video(hit.duration_ms, moments, start)
        self._show_frame(start, chosen)

    def clear(self) -> None:
        """A photo is shown now."""
        self.stop()
        self.hit, self.moment_ms, self.moments = None, None, set()
        self.bar.hide()

    def stop(self) -> None:
        self.player.stop()
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    def show_moment(self, t_ms: int) -> None:
        """Show the frame at `t_ms` (a moment of the strip); playing stops."""
        if self.hit is not None:
            self.player.stop()
            self._show_frame(t_ms, True)

    def toggle_play(self) -> None:
        """Play silently from the frame shown, or pause where it is."""
        if self.hit is None:
            return
        if self.player.playing():
            self.player.stop()
        else:
            self.canvas.set_region(None)
            library, item = self.library, self.hit.photo_id
            self.player.play(lambda t, side: library.clip_frames(item, t, side), self.position())
            self.bar.show_playing(True)

    # -- frames ------------------------------------------------------------------------------------

    def _show_frame(self, t_ms: int, chosen: bool) -> None:
        assert self.hit is not None
        self.moment_ms = t_ms if chosen else None
        self.bar.show_time(t_ms)
        video = self.hit.photo_id
        key = (video, t_ms)
        cached = self.frames.get(key)
        if cached is not None:
            self.canvas.set_image(cached, cached.size())
            return
        pixmap = theme.cached_pixmap(thumb_key(video, t_ms))
        self.canvas.set_placeholder(pixmap or theme.cached_pixmap(thumb_key(video)))
        if self._worker is not None:
            self._worker.cancel()
        library, side = self.library, self.side
        self._worker = run_in_thread(
            lambda: qimage_from_pil(library.frame(video, t_ms, side)),
            on_result=lambda image: self._frame_loaded(key, image),
            on_error=lambda exc: self._frame_failed(key, exc),
            pool=self.pool,
            priority=20,
            owner=self,
        )

    def _shown(self, key: tuple[int, int]) -> bool:
        hit, moment = self.hit, self.moment_ms
        return hit is not None and key[0] == hit.photo_id and moment in (None, key[1])

    def _frame_loaded(self, key: tuple[int, int], image: QImage) -> None:
        self.frames[key] = image
        while len(self.frames) > KEPT:
            self.frames.pop(next(iter(self.frames)))
        if self._shown(key) and not self.player.playing():
            self.canvas.set_image(image, image.size())

    def _frame_failed(self, key: tuple[int, int], exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        if self._shown(key):
            self.canvas.set_message(f"This video cannot be shown.\n{exc}")

    # -- playback ----------------------------------------------------------------------------------

    def _play_frame(self, t_ms: int, image: QImage) -> None:
        if not self.canvas.has_image() or self.canvas.original_size() != image.size():
            self.canvas.set_image(image, image.size())
        else:
            self.canvas.upgrade(image)
        self.bar.show_time(t_ms)

    def _play_stopped(self, t_ms: int) -> None:
        """Paused (or at the end): the frame shown is where Find Similar and the box start."""
        self.bar.show_playing(False)
        if self.hit is not None:
            self.moment_ms = t_ms
            self.bar.show_time(t_ms)
