"""The photo in the viewer: fitted (never blown up past 100 %), zoomed about the cursor (wheel,
double-click), panned by dragging once zoomed in. The region box over it lives in region.py.

Zoom is counted in device pixels per pixel of the rotated original, so 100 % shows every pixel of
the photo on its own; past what the screen-sized copy holds, `needs_full` asks for the original.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QNativeGestureEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.viewer import geometry as geo

MAX_ZOOM = 16.0  # 1600 %
WHEEL_STEP = 1.25  # one notch of the wheel, or one press of + or -
BACKDROP = QColor(32, 32, 32)
FULL_SCREEN_BACKDROP = QColor(0, 0, 0)


class PhotoCanvas(QWidget):
    """Emits `zoom_changed()` and `needs_full()` (zoomed in past the pixels of the screen-sized
    copy). Subclasses draw over the photo in `_paint_overlay` and hear of a new photo in
    `_photo_changed` and of a zoom, pan or resize in `_view_changed`."""

    zoom_changed = Signal()
    needs_full = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Photo")
        self.setAccessibleDescription(
            "Wheel zooms, dragging pans a zoomed photo; Shift+drag draws a box to search for"
        )
        self._pixmap: QPixmap | None = None
        self._placeholder: QPixmap | None = None  # the grid's thumbnail while the photo loads
        self._original = QSize()
        self._full = False
        self._asked_full = False
        self._message = "Loading…"
        self._zoom: float | None = None  # device pixels per original pixel; None: fit
        self._focus = QPointF()  # the original pixel at the centre while zoomed
        self._pan_from: QPointF | None = None  # where the pointer was while dragging the photo
        self._backdrop = BACKDROP

    # -- the photo -------------------------------------------------------------------------------

    def set_image(self, image: QImage, original: QSize, *, full: bool = False) -> None:
        """Show a new photo, fitted and without a box."""
        self._pixmap = QPixmap.fromImage(image)
        self._original = original if original.isValid() else image.size()
        self._full = full or image.size() == self._original
        self._asked_full = False
        self._placeholder = None
        self._message = ""
        self._zoom = None
        self._pan_from = None
        self._photo_changed()
        self.zoom_changed.emit()
        self.update()

    def upgrade(self, image: QImage) -> None:
        """The same photo at full resolution: the view, zoom and box stay as they are."""
        if self._pixmap is not None:
            self._pixmap = QPixmap.fromImage(image)
            self._full = True
            self.update()

    def set_placeholder(self, pixmap: QPixmap | None, message: str = "Loading…") -> None:
        """No photo yet: its thumbnail (blurry, fitted) or a message."""
        self._pixmap = None
        self._placeholder = pixmap
        self._original = QSize()
        self._message = message
        self._zoom = None
        self._pan_from = None
        self._photo_changed()
        self.zoom_changed.emit()
        self.update()

    def set_message(self, message: str) -> None:
        self.set_placeholder(None, message)

    def image(self) -> QImage:
        """The picture shown (the screen-sized copy), or a null image while there is none."""
        return self._pixmap.toImage() if self._pixmap is not None else QImage()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def is_full(self) -> bool:
        return self._full

    def original_size(self) -> QSize:
        return self._original

    def message(self) -> str:
        return self._message

    def set_backdrop(self, color: QColor) -> None:
        self._backdrop = color
        self.update()

    # -- zoom and pan ------------------------------------------------------------------------------

    def _dpr(self) -> float:
        return self.devicePixelRatioF()

    def fit_zoom(self) -> float:
        return geo.fit_scale(self._original, QSizeF(self.size()), self._dpr())

    def zoom(self) -> float:
        return self.fit_zoom() if self._zoom is None else self._zoom

    def is_fit(self) -> bool:
        return self._zoom is None

    def can_pan(self) -> bool:
        shown = self.shown_rect()
        return shown.width() > self.width() + 0.5 or shown.height() > self.height() + 0.5

    def shown_rect(self) -> QRectF:
        """Where the photo is drawn, in widget pixels (empty while there is none)."""
        if self._pixmap is None or self._original.isEmpty():
            return QRectF()
        centre = QPointF(self._original.width() / 2, self._original.height() / 2)
        focus = centre if self._zoom is None else self._focus
        return geo.placed_rect(self._original, QSizeF(self.size()), self.zoom(), self._dpr(), focus)

    def fit(self) -> None:
        if self._zoom is not None:
            self._zoom = None
            self.zoom_changed.emit()
            self._after_view_change()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to `zoom` keeping the photo's point under `anchor` (default: the centre) in place;
        at or below the fitting zoom the photo fits again."""
        if self._pixmap is None:
            return
        fit = self.fit_zoom()
        zoom = min(max(zoom, fit), MAX_ZOOM)
        centre = QPointF(self.width() / 2, self.height() / 2)
        anchor = centre if anchor is None else anchor
        point = geo.to_image(anchor, self.shown_rect(), self._original)
        if zoom <= fit * 1.0001:
            self._zoom = None
        else:
            scale = zoom / self._dpr()
            focus = point + (centre - anchor) / scale
            self._zoom = zoom
            self._focus = geo.clamp_focus(
                self._original, QSizeF(self.size()), zoom, self._dpr(), focus
            )
        self.zoom_changed.emit()
        self._after_view_change()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.zoom() * factor, anchor)

    def pan_by(self, delta: QPointF) -> None:
        """Move the photo by `delta` widget pixels (as a hand dragging it)."""
        if self._zoom is None:
            return
        scale = self._zoom / self._dpr()
        self._focus = geo.clamp_focus(
            self._original,
            QSizeF(self.size()),
            self._zoom,
            self._dpr(),
            self._focus - delta / scale,
        )
        self._after_view_change()

    def _after_view_change(self) -> None:
        pixmap = self._pixmap
        wanted = self.zoom() * self._original.width()  # device pixels across the photo
        if pixmap is not None and not (self._full or self._asked_full) and wanted > pixmap.width():
            self._asked_full = True
            self.needs_full.emit()
        self._view_changed()
        self.update()

    # -- painting ----------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._backdrop)
        if self._pixmap is not None:
            self._paint_photo(painter)
            self._paint_overlay(painter)
        elif self._placeholder is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            area = self.rect()
            painter.drawPixmap(
                geo.fitted_rect(self._placeholder.size(), area),
                self._placeholder,
                QRectF(self._placeholder.rect()),
            )
        elif self._message:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(
                self.rect().adjusted(24, 24, -24, -24),
                int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                self._message,
            )

    def _paint_photo(self, painter: QPainter) -> None:
        """Only the visible part of the photo is scaled: a zoomed-in 24 MP photo paints fast."""
        assert self._pixmap is not None
        shown = self.shown_rect()
        visible = shown.intersected(QRectF(self.rect()))
        if visible.isEmpty():
            return
        sx = self._pixmap.width() / shown.width()
        sy = self._pixmap.height() / shown.height()
        source = QRectF(
            (visible.x() - shown.x()) * sx,
            (visible.y() - shown.y()) * sy,
            visible.width() * sx,
            visible.height() * sy,
        )
        # Smooth while photo pixels are small on screen; crisp squares when inspecting pixels.
        smooth = sx > self._dpr() / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawPixmap(visible, self._pixmap, source)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta and self._pixmap is not None:
            self.zoom_by(WHEEL_STEP ** (delta / 120), event.position())
        event.accept()

    def event(self, event: QEvent) -> bool:
        """A touchpad's pinch zooms about the fingers."""
        pinch = Qt.NativeGestureType.ZoomNativeGesture
        if isinstance(event, QNativeGestureEvent) and event.gestureType() == pinch:
            self.zoom_by(1.0 + event.value(), event.position())
            return True
        return super().event(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._zoom is not None:
            if self._zoom <= self.fit_zoom():
                self._zoom = None
            else:
                self._focus = geo.clamp_focus(
                    self._original, QSizeF(self.size()), self._zoom, self._dpr(), self._focus
                )
        self.zoom_changed.emit()
        self._view_changed()

    # -- the mouse: drag to pan, double-click to zoom --------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.can_pan():
            self._pan_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self.pan_by(event.position() - self._pan_from)
            self._pan_from = event.position()
        else:
            self._hover(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() == Qt.MouseButton.LeftButton:
            self._pan_from = None
            self._hover(event)

    def _hover(self, event: QMouseEvent) -> None:
        grab = self._pixmap is not None and self.can_pan()
        self.setCursor(Qt.CursorShape.OpenHandCursor if grab else Qt.CursorShape.ArrowCursor)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Double-click: 100 % at the point (200 % for a photo that fits at 100 %), or back to
        fitting the window."""
        if event.button() != Qt.MouseButton.LeftButton or self._pixmap is None:
            return
        if self.is_fit():
            self.set_zoom(1.0 if self.fit_zoom() < 1.0 else 2.0, event.position())
        else:
            self.fit()

    # -- hooks for what is drawn over the photo ----------------------------------------------------

    def _photo_changed(self) -> None:
        """A new photo (or none): what belonged to the last one goes."""

    def _view_changed(self) -> None:
        """The photo moved on screen (zoom, pan, resize)."""

    def _paint_overlay(self, painter: QPainter) -> None:
        """Draw over the photo, in widget pixels."""
