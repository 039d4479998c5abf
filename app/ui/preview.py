"""A large preview of one result with its details, and region search by dragging over the photo.

The image is decoded in a worker, EXIF-rotated and scaled for the screen; the details come from
the library in another. A rectangle dragged over the photo is mapped from widget coordinates to
pixels of the rotated original and handed to the window as a region search.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import (
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRubberBand,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.api import GUESSED_SOURCES, Library, Photo, UserError
from app.ui import theme
from app.ui.image_reader import read_scaled
from app.ui.results_model import format_date
from app.ui.workers import Worker, run_in_thread

DISPLAY_MAX_SIDE = 2048
MIN_REGION_PX = 12  # a smaller drag is a click, not a region


def fitted_rect(image_size: QSize, area: QRect) -> QRectF:
    """Where an image of `image_size` sits when fitted (aspect kept, centred) into `area`."""
    if image_size.isEmpty() or area.isEmpty():
        return QRectF()
    scale = min(area.width() / image_size.width(), area.height() / image_size.height(), 1e9)
    w, h = image_size.width() * scale, image_size.height() * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


def widget_to_image_rect(
    selection: QRect, shown: QRectF, original: QSize
) -> tuple[int, int, int, int] | None:
    """Map a selection in widget pixels over the image drawn at `shown` to (x, y, w, h) in the
    pixels of the original (EXIF-rotated) image; None when it misses the image or is too small."""
    sel = QRectF(selection).intersected(shown)
    if sel.isEmpty() or shown.isEmpty():
        return None
    sx = original.width() / shown.width()
    sy = original.height() / shown.height()
    x0 = round((sel.left() - shown.left()) * sx)
    y0 = round((sel.top() - shown.top()) * sy)
    x1 = round((sel.right() - shown.left()) * sx)
    y1 = round((sel.bottom() - shown.top()) * sy)
    x0, y0 = max(0, min(x0, original.width())), max(0, min(y0, original.height()))
    x1, y1 = max(0, min(x1, original.width())), max(0, min(y1, original.height()))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1 - x0, y1 - y0


def load_display_image(path: Path, max_side: int = DISPLAY_MAX_SIDE) -> tuple[QImage, QSize]:
    """(image scaled for display, size of the rotated original). Runs in a worker."""
    return read_scaled(path, max_side)


class ImageView(QWidget):
    """Shows the photo fitted to the widget; a mouse drag selects a region of it."""

    region_selected = Signal(tuple, QImage)  # (x, y, w, h) in original pixels, the crop shown

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAccessibleName("Photo")
        self.setAccessibleDescription("Drag over part of the photo to find that object elsewhere")
        self._pixmap: QPixmap | None = None
        self._original = QSize()
        self._message = "Loading…"
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self._origin: QPoint | None = None

    def set_image(self, image: QImage, original: QSize) -> None:
        self._pixmap = QPixmap.fromImage(image)
        self._original = original
        self._message = ""
        self.update()

    def set_message(self, message: str) -> None:
        self._pixmap = None
        self._message = message
        self.update()

    def shown_rect(self) -> QRectF:
        if self._pixmap is None:
            return QRectF()
        return fitted_rect(self._pixmap.size() / self._pixmap.devicePixelRatio(), self.rect())

    def original_size(self) -> QSize:
        return self._original

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._pixmap is not None:
            painter.drawPixmap(self.shown_rect(), self._pixmap, QRectF(self._pixmap.rect()))
        elif self._message:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), self._message)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._pixmap is not None:
            self._origin = event.position().toPoint()
            self._band.setGeometry(QRect(self._origin, QSize()))
            self._band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._origin is not None:
            self._band.setGeometry(QRect(self._origin, event.position().toPoint()).normalized())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._origin is None:
            return
        selection = QRect(self._origin, event.position().toPoint()).normalized()
        self._origin = None
        self._band.hide()
        if selection.width() < MIN_REGION_PX or selection.height() < MIN_REGION_PX:
            return
        box = widget_to_image_rect(selection, self.shown_rect(), self._original)
        if box is not None:
            self.region_selected.emit(box, self.crop(box))

    def crop(self, box: tuple[int, int, int, int]) -> QImage:
        """The part of the displayed image that `box` (original pixels) covers: the chip's preview."""
        if self._pixmap is None or self._original.isEmpty():
            return QImage()
        s = self._pixmap.width() / self._original.width()
        x, y, w, h = box
        return self._pixmap.copy(
            round(x * s), round(y * s), max(1, round(w * s)), max(1, round(h * s))
        ).toImage()


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


class PreviewDialog(QDialog):
    """Emits `region_search(photo_id, path, box)` and `find_similar(photo_id)`; `open_file(path)`
    and `show_in_folder(path)` ask the window to act on the file."""

    region_search = Signal(int, str, tuple, QImage)
    find_similar = Signal(int)
    open_file = Signal(str)
    show_in_folder = Signal(str)

    def __init__(
        self,
        library: Library,
        photo_id: int,
        path: str,
        pool: QThreadPool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.photo_id = photo_id
        self.path = Path(path)
        self.setWindowTitle(f"{self.path.name} — PhotoSeek")
        self.setAccessibleName(f"Preview of {self.path.name}")
        self.resize(1000, 720)
        self.view = ImageView(self)
        self.view.region_selected.connect(
            lambda box, crop: self.region_search.emit(self.photo_id, str(self.path), box, crop)
        )
        self.name = QLabel(f"<b>{self.path.name}</b>", self)
        self.name.setTextFormat(Qt.TextFormat.RichText)
        self.details: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key in ("Folder", "Taken", "Size", "Camera"):
            label = QLabel("…", self)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            label.setAccessibleName(key)
            self.details[key] = label
            form.addRow(f"{key}:", label)
        self.details["Folder"].setText(str(self.path.parent))
        hint = QLabel("Tip: drag a box over part of the photo to find that object in other photos.")
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        similar = buttons.addButton("Find Similar", QDialogButtonBox.ButtonRole.ActionRole)
        similar.setIcon(theme.icon("similar"))
        similar.clicked.connect(lambda: self.find_similar.emit(self.photo_id))
        opener = buttons.addButton("Open", QDialogButtonBox.ButtonRole.ActionRole)
        opener.setIcon(theme.icon("open"))
        opener.clicked.connect(lambda: self.open_file.emit(str(self.path)))
        folder = buttons.addButton("Show in Folder", QDialogButtonBox.ButtonRole.ActionRole)
        folder.setIcon(theme.icon("folder"))
        folder.clicked.connect(lambda: self.show_in_folder.emit(str(self.path)))
        buttons.rejected.connect(self.reject)
        side = QVBoxLayout()
        side.addWidget(self.name)
        side.addLayout(form)
        side.addWidget(hint)
        side.addStretch(1)
        panel = QWidget(self)
        panel.setLayout(side)
        panel.setFixedWidth(260)
        top = QHBoxLayout()
        top.addWidget(self.view, 1)
        top.addWidget(panel)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(buttons)
        self._workers: list[Worker] = [
            run_in_thread(
                lambda: load_display_image(self.path),
                on_result=self._image_loaded,
                on_error=self._image_failed,
                pool=pool,
            ),
            run_in_thread(
                lambda: library.photo(photo_id),
                on_result=self._details_loaded,
                on_error=self._details_failed,
                pool=pool,
            ),
        ]
        self.finished.connect(self._cancel_workers)

    def _cancel_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()

    def _image_loaded(self, value: tuple[QImage, QSize]) -> None:
        image, original = value
        self.view.set_image(image, original)

    def _image_failed(self, exc: BaseException) -> None:
        self.view.set_message(f"This photo cannot be shown.\n{exc}")

    def _details_failed(self, exc: BaseException) -> None:
        if not isinstance(exc, (UserError, OSError)):
            raise exc
        self.details["Taken"].setText(f"The details cannot be read: {exc}")

    def _details_loaded(self, photo: Photo | None) -> None:
        if photo is None:
            self.details["Taken"].setText("Not in the library any more")
            return
        when = format_date(photo.capture_time)
        if photo.capture_time is not None:
            when += f", {photo.capture_time:%H:%M}"
            if photo.capture_source in GUESSED_SOURCES:
                when += " (file date: no capture date in the photo)"
        self.details["Taken"].setText(when)
        dims = f"{photo.width} × {photo.height} px, " if photo.width and photo.height else ""
        self.details["Size"].setText(dims + human_size(photo.size))
        self.details["Camera"].setText(photo.camera or "Unknown")
