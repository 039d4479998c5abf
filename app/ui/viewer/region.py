"""The region box over the photo: drawn, moved and resized by its eight handles, then searched
with the button under it (or Enter in the viewer).

A plain drag draws a box while the photo fits the window (there is nothing to pan) and pans once
it is zoomed in; Shift+drag, or the region tool, always draws. Dragging inside the box moves it,
dragging a handle resizes it, a click beside it takes it away. The box is kept in pixels of the
rotated original, so zooming, panning and resizing the window leave it on the same part.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QToolButton, QWidget

from app.ui import theme
from app.ui.viewer import geometry as geo
from app.ui.viewer.canvas import PhotoCanvas

CROP_SIDE = 256  # the chip shows the region's crop no larger than this

_CURSORS = {
    (-1, -1): Qt.CursorShape.SizeFDiagCursor,
    (1, 1): Qt.CursorShape.SizeFDiagCursor,
    (1, -1): Qt.CursorShape.SizeBDiagCursor,
    (-1, 1): Qt.CursorShape.SizeBDiagCursor,
    (-1, 0): Qt.CursorShape.SizeHorCursor,
    (1, 0): Qt.CursorShape.SizeHorCursor,
    (0, -1): Qt.CursorShape.SizeVerCursor,
    (0, 1): Qt.CursorShape.SizeVerCursor,
}


@dataclass
class _Drag:
    kind: str  # "draw" | "move" | "resize" | "pan"
    start: QPointF  # where the press was, widget pixels
    last: QPointF
    region: QRectF | None = None  # the box when the drag began (original pixels)
    handle: geo.Handle = (0, 0)


class RegionCanvas(PhotoCanvas):
    """A `PhotoCanvas` with a region box. Emits `region_changed()` when the box was drawn, moved,
    resized or taken away, and `search_requested()` from the button under it."""

    region_changed = Signal()
    search_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleDescription(
            "Wheel zooms, dragging pans a zoomed photo; Shift+drag draws a box to search for"
        )
        self._region: QRectF | None = None  # original pixels
        self._drag: _Drag | None = None
        self.region_tool = False  # when on, a plain drag draws even on a zoomed-in photo
        self.search_button = QToolButton(self)
        self.search_button.setText("Search this area")
        self.search_button.setIcon(theme.icon("search"))
        self.search_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.search_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.search_button.setToolTip("Find this part of the photo in other photos (Enter)")
        self.search_button.hide()
        self.search_button.clicked.connect(self.search_requested)

    def region(self) -> QRectF | None:
        return None if self._region is None else QRectF(self._region)

    def set_region(self, region: QRectF | None) -> None:
        """Put a box (original pixels) on the photo, or take it away."""
        if region is not None and not self._original.isEmpty():
            region = geo.clamped(region, self._original)
        if region is not None and region.isEmpty():
            region = None
        changed = region != self._region
        self._region = region
        self._place_search_button()
        self.update()
        if changed:
            self.region_changed.emit()

    def region_box(self) -> tuple[int, int, int, int] | None:
        """The box as whole pixels (x, y, w, h) of the rotated original."""
        return None if self._region is None else geo.box_of(self._region)

    def region_crop(self) -> QImage:
        """The part of the photo under the box, small enough for the search bar's chip."""
        box = self.region_box()
        if self._pixmap is None or box is None:
            return QImage()
        s = self._pixmap.width() / self._original.width()
        x, y, w, h = box
        crop = self._pixmap.copy(
            round(x * s), round(y * s), max(1, round(w * s)), max(1, round(h * s))
        ).toImage()
        if max(crop.width(), crop.height()) > CROP_SIDE:
            crop = crop.scaled(
                CROP_SIDE,
                CROP_SIDE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        return crop

    def region_on_screen(self) -> QRectF | None:
        if self._region is None or self._pixmap is None:
            return None
        return geo.to_widget(self._region, self.shown_rect(), self._original)

    def _place_search_button(self) -> None:
        box = self.region_on_screen()
        button = self.search_button
        if box is None or self._drag is not None:
            button.hide()
            return
        button.adjustSize()
        size = button.sizeHint()
        x = round(box.center().x() - size.width() / 2)
        x = max(4, min(x, self.width() - size.width() - 4))
        y = round(box.bottom()) + 10
        if y + size.height() > self.height() - 4:
            y = round(box.top()) - size.height() - 10
        if y < 4:
            y = round(box.bottom()) - size.height() - 10
        button.move(x, max(4, y))
        button.show()

    # -- PhotoCanvas hooks -------------------------------------------------------------------------

    def _photo_changed(self) -> None:
        self._drag = None
        self.set_region(None)

    def _view_changed(self) -> None:
        self._place_search_button()

    def _paint_overlay(self, painter: QPainter) -> None:
        self._paint_region(painter)

    def _paint_region(self, painter: QPainter) -> None:
        box = self.region_on_screen()
        if box is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outside = QPainterPath()
        outside.addRect(self.shown_rect())
        inner = QPainterPath()
        inner.addRect(box)
        painter.fillPath(outside.subtracted(inner), QColor(0, 0, 0, 120))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawRect(box)
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.drawRect(box)
        half = geo.HANDLE_PX / 2
        painter.setPen(QPen(QColor(0, 0, 0, 180), 1))
        painter.setBrush(QColor(255, 255, 255))
        for handle in geo.HANDLES:
            c = geo.handle_centre(box, handle)
            painter.drawRect(QRectF(c.x() - half, c.y() - half, geo.HANDLE_PX, geo.HANDLE_PX))

    # -- the mouse -------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._pixmap is None:
            super().mousePressEvent(event)
            return
        pos = event.position()
        box = self.region_on_screen()
        handle = geo.handle_at(box, pos) if box is not None else None
        if box is not None and handle is not None:
            self._drag = _Drag("resize", pos, pos, self.region(), handle)
        elif box is not None and box.contains(pos):
            self._drag = _Drag("move", pos, pos, self.region())
        elif self._draws(event):
            self._drag = _Drag("draw", pos, pos, self.region())
        else:
            self._drag = _Drag("pan", pos, pos, self.region())
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        self.search_button.hide()
        event.accept()

    def _draws(self, event: QMouseEvent) -> bool:
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        return shift or self.region_tool or not self.can_pan()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        drag = self._drag
        if drag is None:
            self._hover(event)
            return
        shown, original = self.shown_rect(), self._original
        if drag.kind == "pan":
            self.pan_by(pos - drag.last)
        elif drag.kind == "draw":
            a = geo.to_image(drag.start, shown, original)
            b = geo.to_image(pos, shown, original)
            self._region = QRectF(a, b).normalized()
        elif drag.kind == "move" and drag.region is not None:
            per_px = original.width() / shown.width()
            self._region = geo.moved(drag.region, (pos - drag.start) * per_px, original)
        elif drag.kind == "resize" and drag.region is not None:
            point = geo.to_image(pos, shown, original)  # from the box as it was: flips cleanly
            self._region = geo.resized(drag.region, drag.handle, point, original)
        drag.last = pos
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        moved = (event.position() - drag.start).manhattanLength()
        region = self._region
        if drag.kind == "draw":
            drawn = QRectF(drag.start, event.position()).normalized()
            if min(drawn.width(), drawn.height()) < geo.MIN_REGION_PX:
                region = None  # a click, not a box: it clears the box there was
        elif drag.kind == "pan" and moved < 3:
            region = None
        self._region = drag.region  # so that set_region sees the change the drag made
        self.set_region(region)
        self._hover(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Double-click zooms (see PhotoCanvas), except inside the box."""
        box = self.region_on_screen()
        if box is not None and box.contains(event.position()):
            return
        super().mouseDoubleClickEvent(event)

    def _hover(self, event: QMouseEvent) -> None:
        pos = event.position()
        box = self.region_on_screen()
        handle = geo.handle_at(box, pos) if box is not None else None
        if handle is not None:
            self.setCursor(_CURSORS[handle])
        elif box is not None and box.contains(pos):
            self.setCursor(Qt.CursorShape.SizeAllCursor)
        elif self._pixmap is not None and not self._draws(event):
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)
