"""The viewer's arithmetic, free of widgets: where a photo is drawn at a zoom, and how a region
box (kept in the pixels of the rotated original, so it survives zooming and resizing) is drawn,
hit, moved and resized by its eight handles.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF

HANDLE_PX = 8  # a handle's drawn side; it can be grabbed a little outside that
GRAB_PX = 7  # how far from a handle's centre or the box's edge a press still grabs it
MIN_REGION_PX = 12  # a smaller drag (on screen) is a click, not a region
MIN_REGION_IMAGE = 4  # no side of a region shrinks below this many original pixels

# A handle is where it pulls: (-1, -1) the top-left corner, (0, 1) the bottom edge, and so on.
Handle = tuple[int, int]
HANDLES: tuple[Handle, ...] = tuple(
    (hx, hy) for hy in (-1, 0, 1) for hx in (-1, 0, 1) if (hx, hy) != (0, 0)
)


def fitted_rect(image_size: QSize, area: QRect) -> QRectF:
    """Where an image of `image_size` sits when fitted (aspect kept, centred) into `area`."""
    if image_size.isEmpty() or area.isEmpty():
        return QRectF()
    scale = min(area.width() / image_size.width(), area.height() / image_size.height(), 1e9)
    w, h = image_size.width() * scale, image_size.height() * scale
    return QRectF(area.x() + (area.width() - w) / 2, area.y() + (area.height() - h) / 2, w, h)


def fit_scale(original: QSize, area: QSizeF, dpr: float) -> float:
    """Device pixels per original pixel that fit the photo into `area` (logical pixels), never
    above 1: a small photo shows at its own size rather than blown up."""
    if original.isEmpty() or area.isEmpty():
        return 1.0
    fit = min(area.width() / original.width(), area.height() / original.height()) * dpr
    return min(fit, 1.0)


def placed_rect(original: QSize, area: QSizeF, zoom: float, dpr: float, focus: QPointF) -> QRectF:
    """Where the photo is drawn (logical pixels) at `zoom` device pixels per original pixel with
    original point `focus` at the centre of `area`; along a side where the photo is smaller than
    the area it is centred instead, and it never leaves a gap at an edge it could fill."""
    scale = zoom / dpr
    w, h = original.width() * scale, original.height() * scale
    x = _place(area.width(), w, focus.x() * scale)
    y = _place(area.height(), h, focus.y() * scale)
    return QRectF(x, y, w, h)


def _place(room: float, length: float, focus: float) -> float:
    if length <= room:
        return (room - length) / 2
    return min(0.0, max(room - length, room / 2 - focus))


def clamp_focus(original: QSize, area: QSizeF, zoom: float, dpr: float, focus: QPointF) -> QPointF:
    """`focus` moved so that the photo covers the area as far as it can (see `placed_rect`)."""
    rect = placed_rect(original, area, zoom, dpr, focus)
    scale = zoom / dpr
    return QPointF((area.width() / 2 - rect.x()) / scale, (area.height() / 2 - rect.y()) / scale)


def to_widget(rect: QRectF, shown: QRectF, original: QSize) -> QRectF:
    """A rectangle in original pixels, in widget pixels over the photo drawn at `shown`."""
    sx = shown.width() / original.width()
    sy = shown.height() / original.height()
    return QRectF(
        shown.x() + rect.x() * sx, shown.y() + rect.y() * sy, rect.width() * sx, rect.height() * sy
    )


def to_image(point: QPointF, shown: QRectF, original: QSize) -> QPointF:
    """A widget point over the photo drawn at `shown`, in original pixels (clamped to the photo)."""
    x = (point.x() - shown.x()) * original.width() / shown.width()
    y = (point.y() - shown.y()) * original.height() / shown.height()
    return QPointF(
        min(max(x, 0.0), float(original.width())), min(max(y, 0.0), float(original.height()))
    )


def widget_to_image_rect(
    selection: QRect, shown: QRectF, original: QSize
) -> tuple[int, int, int, int] | None:
    """Map a selection in widget pixels over the image drawn at `shown` to (x, y, w, h) in the
    pixels of the original (EXIF-rotated) image; None when it misses the image or is too small."""
    sel = QRectF(selection).intersected(shown)
    if sel.isEmpty() or shown.isEmpty():
        return None
    top_left = to_image(sel.topLeft(), shown, original)
    bottom_right = to_image(sel.bottomRight(), shown, original)
    return box_of(QRectF(top_left, bottom_right))


def box_of(region: QRectF) -> tuple[int, int, int, int] | None:
    """A region in original pixels as the whole-pixel (x, y, w, h) a search takes."""
    x0, y0 = round(region.left()), round(region.top())
    x1, y1 = round(region.right()), round(region.bottom())
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1 - x0, y1 - y0


def handle_centre(box: QRectF, handle: Handle) -> QPointF:
    """Where `handle` of a box drawn at `box` (widget pixels) is."""
    hx, hy = handle
    return QPointF(
        box.center().x() + hx * box.width() / 2, box.center().y() + hy * box.height() / 2
    )


def handle_at(box: QRectF, point: QPointF) -> Handle | None:
    """The handle of `box` (widget pixels) under `point`: a corner first, then an edge."""
    for handle in sorted(HANDLES, key=lambda h: -abs(h[0] * h[1])):
        centre = handle_centre(box, handle)
        if abs(centre.x() - point.x()) <= GRAB_PX and abs(centre.y() - point.y()) <= GRAB_PX:
            return handle
    grown = box.adjusted(-GRAB_PX, -GRAB_PX, GRAB_PX, GRAB_PX)
    if not grown.contains(point):
        return None
    hx = -1 if point.x() - box.left() <= GRAB_PX else 1 if box.right() - point.x() <= GRAB_PX else 0
    hy = -1 if point.y() - box.top() <= GRAB_PX else 1 if box.bottom() - point.y() <= GRAB_PX else 0
    return (hx, hy) if (hx, hy) != (0, 0) else None


def resized(region: QRectF, handle: Handle, point: QPointF, bounds: QSize) -> QRectF:
    """`region` (original pixels) with the sides `handle` pulls moved to `point`; it stays inside
    `bounds` and at least MIN_REGION_IMAGE pixels a side, and flips when dragged past itself."""
    left, top, right, bottom = region.left(), region.top(), region.right(), region.bottom()
    hx, hy = handle
    if hx < 0:
        left = point.x()
    elif hx > 0:
        right = point.x()
    if hy < 0:
        top = point.y()
    elif hy > 0:
        bottom = point.y()
    rect = QRectF(QPointF(left, top), QPointF(right, bottom)).normalized()
    if rect.width() < MIN_REGION_IMAGE:
        if hx < 0:
            rect.setLeft(rect.right() - MIN_REGION_IMAGE)
        else:
            rect.setWidth(MIN_REGION_IMAGE)
    if rect.height() < MIN_REGION_IMAGE:
        if hy < 0:
            rect.setTop(rect.bottom() - MIN_REGION_IMAGE)
        else:
            rect.setHeight(MIN_REGION_IMAGE)
    return clamped(rect, bounds)


def moved(region: QRectF, delta: QPointF, bounds: QSize) -> QRectF:
    """`region` moved by `delta` (original pixels), stopping at the photo's edges."""
    rect = QRectF(region)
    rect.translate(delta)
    return clamped(rect, bounds, keep_size=True)


def clamped(rect: QRectF, bounds: QSize, keep_size: bool = False) -> QRectF:
    """`rect` inside (0, 0, bounds): shifted in when `keep_size`, cut to it otherwise."""
    width, height = float(bounds.width()), float(bounds.height())
    if keep_size:
        w, h = min(rect.width(), width), min(rect.height(), height)
        x = min(max(rect.x(), 0.0), width - w)
        y = min(max(rect.y(), 0.0), height - h)
        return QRectF(x, y, w, h)
    return rect.intersected(QRectF(0, 0, width, height))
