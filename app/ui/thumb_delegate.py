"""Paints one photo tile of the timeline, a section header, and the "Show N weaker matches" tile.

A tile is the photo cropped to fill its rect (the layout gives each photo its own aspect ratio,
so little is cut), a placeholder while it loads, a check badge when selected; a video carries a
play mark with its length and, as a search hit, the time of the moment that matched. In relevance order
a one-line date caption sits under each tile; in date order the headers carry the dates.
The drawing is a straight pixmap copy without clip paths, so a frame of 40 tiles stays cheap.
All colours come from the view's palette.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QPixmapCache,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.ui.captions import SOURCE_TEXT, counted, date_captions, format_time
from app.ui.results_model import ResultsModel
from app.ui.theme import cached_pixmap, mix, tinted_pixmap
from app.ui.timeline_layout import Header

PAD = 6
RADIUS = 6.0
MIN_SIZE = 96
MAX_SIZE = 320
DEFAULT_SIZE = 176
SELECTED_INSET = 0.07  # a selected photo shrinks by this fraction of its shorter side, per edge
LIVE_TEXT = "LIVE"  # the mark of a photo with a clip (a motion photo, a Live Photo)


def fitting_caption(when: datetime | None, metrics: QFontMetrics, width: int) -> str:
    """The longest form of the date that fits `width` (elided only if even the year does not)."""
    forms = date_captions(when)
    for text in forms:
        if metrics.horizontalAdvance(text) <= width:
            return text
    return metrics.elidedText(forms[-1], Qt.TextElideMode.ElideRight, width)


def cover_source(pixmap: QPixmap, target: QRectF) -> QRectF:
    """The centred part of `pixmap` with `target`'s aspect ratio: drawn into `target`, it fills
    it without distortion."""
    pw, ph = pixmap.width(), pixmap.height()
    if target.width() <= 0 or target.height() <= 0 or pw <= 0 or ph <= 0:
        return QRectF(pixmap.rect())
    want = target.width() / target.height()
    if pw / ph > want:  # the pixmap is wider: cut its sides
        w = ph * want
        return QRectF((pw - w) / 2, 0, w, ph)
    h = pw / want
    return QRectF(0, (ph - h) / 2, pw, h)


class ThumbDelegate(QStyledItemDelegate):
    """Tiles for rows `thumb_size` logical pixels high, with a date caption when `captions`."""

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_SIZE) -> None:
        super().__init__(parent)
        self._size = thumb_size
        self.captions = True  # the view turns them off in date order, where headers say when

    @property
    def thumb_size(self) -> int:
        return self._size

    def set_thumb_size(self, size: int) -> None:
        self._size = max(MIN_SIZE, min(MAX_SIZE, int(size)))
        self.sizeHintChanged.emit(QModelIndex())

    def caption_font(self, base: QFont) -> QFont:
        font = QFont(base)
        font.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
        return font

    def caption_height(self, base_font: QFont) -> int:
        """The room under each row for the dates (0 without captions)."""
        return QFontMetrics(self.caption_font(base_font)).height() + 4 if self.captions else 0

    def cell_size(self, base_font: QFont) -> QSize:
        """A square photo's cell: the nominal tile, and the "Show N weaker matches" tile."""
        caption_h = QFontMetrics(self.caption_font(base_font)).height()
        return QSize(self._size + 2 * PAD, self._size + 2 * PAD + caption_h + 2)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return self.cell_size(option.font)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        palette: QPalette = option.palette
        state = option.state
        rect = QRect(option.rect)
        caption_h = self.caption_height(option.font)
        tile = QRect(rect.x(), rect.y(), rect.width(), max(1, rect.height() - caption_h))
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        if index.data(ResultsModel.WeakerRole):
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint_weaker(painter, tile, palette, str(index.data()), hovered)
            painter.restore()
            return
        image = QRectF(tile)
        if selected:
            base = palette.color(QPalette.ColorRole.Base)
            painter.fillRect(tile, mix(base, palette.color(QPalette.ColorRole.Highlight), 0.25))
            inset = SELECTED_INSET * min(tile.width(), tile.height())
            image = image.adjusted(inset, inset, -inset, -inset)
        pixmap = index.data(ResultsModel.ThumbnailRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(image, pixmap, cover_source(pixmap, image))
        else:
            missing = index.data(ResultsModel.ThumbStateRole) == "missing"
            self._paint_placeholder(painter, image.toRect(), palette, missing)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if index.data(ResultsModel.KindRole) == "video":
            self._paint_video(
                painter,
                image,
                option.font,
                index.data(ResultsModel.DurationRole),
                index.data(ResultsModel.MomentRole),
            )
        elif index.data(ResultsModel.ClipRole):
            self._paint_video(
                painter, image, option.font, None, index.data(ResultsModel.MomentRole), live=True
            )
        if selected or hovered:
            self._paint_check(painter, QRectF(tile), palette, selected)
        if state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(tile).adjusted(1, 1, -1, -1))
        if caption_h:
            self._paint_caption(painter, option, rect, tile, index)
        painter.restore()

    def _paint_caption(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        rect: QRect,
        tile: QRect,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        palette: QPalette = option.palette
        caption = QRect(
            rect.left() + 2, tile.bottom() + 1, rect.width() - 4, rect.bottom() - tile.bottom()
        )
        font = self.caption_font(option.font)
        painter.setFont(font)
        text_color = palette.color(QPalette.ColorRole.Text)
        painter.setPen(mix(text_color, palette.color(QPalette.ColorRole.Base), 0.35))
        text = fitting_caption(
            index.data(ResultsModel.DateRole), QFontMetrics(font), caption.width()
        )
        if index.data(ResultsModel.SourceRole):  # the photo a Find Similar searched from
            painter.setPen(palette.color(QPalette.ColorRole.Link))
            text = QFontMetrics(font).elidedText(
                SOURCE_TEXT, Qt.TextElideMode.ElideRight, caption.width()
            )
        painter.drawText(
            caption, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter), text
        )

    def _paint_video(
        self,
        painter: QPainter,
        image: QRectF,
        base_font: QFont,
        duration_ms: int | None,
        moment_ms: int | None,
        *,
        live: bool = False,
    ) -> None:
        """A video's badges over its picture: a play mark and its length at the top right, and
        for a search hit the moment shown ("0:12", the frame that matched) at the bottom left;
        `live`: a photo with a clip, marked "LIVE" at the top right instead."""
        font = self.caption_font(base_font)
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        h = metrics.height() + 4
        if image.width() < 3 * h or image.height() < 2 * h:
            return  # too small a tile to carry badges
        if live:
            w = metrics.horizontalAdvance(LIVE_TEXT) + 12
            pill = QRectF(image.right() - w - 5, image.top() + 5, w, h)
            self._paint_pill(painter, pill, QColor(0, 0, 0, 150))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(pill, int(Qt.AlignmentFlag.AlignCenter), LIVE_TEXT)
        length = format_time(duration_ms) if duration_ms else ""
        w = h + (metrics.horizontalAdvance(length) + 4 if length else 0)
        pill = QRectF(image.right() - w - 5, image.top() + 5, w, h)
        if not live:
            self._paint_play(painter, pill, h, length)
        if moment_ms is not None:
            at = format_time(moment_ms)
            w = metrics.horizontalAdvance(at) + 12
            pill = QRectF(image.left() + 5, image.bottom() - h - 5, w, h)
            self._paint_pill(painter, pill, QColor(26, 115, 232, 220))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(pill, int(Qt.AlignmentFlag.AlignCenter), at)

    def _paint_play(self, painter: QPainter, pill: QRectF, h: float, length: str) -> None:
        """The play mark and the video's length in a dark pill."""
        self._paint_pill(painter, pill, QColor(0, 0, 0, 150))
        triangle = QPainterPath(QPointF(pill.left() + h * 0.36, pill.top() + h * 0.26))
        triangle.lineTo(pill.left() + h * 0.36, pill.bottom() - h * 0.26)
        triangle.lineTo(pill.left() + h * 0.76, pill.center().y())
        triangle.closeSubpath()
        painter.fillPath(triangle, QColor(255, 255, 255))
        if length:
            text = pill.adjusted(h - 2, 0, -4, 0)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(text, int(Qt.AlignmentFlag.AlignVCenter), length)

    def _paint_pill(self, painter: QPainter, rect: QRectF, color: QColor) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)

    def check_rect(self, tile: QRectF) -> QRectF:
        """Where a tile's check badge is (a click there selects or deselects the photo)."""
        d = max(14.0, min(24.0, min(tile.width(), tile.height()) * 0.14))
        return QRectF(tile.left() + 6, tile.top() + 6, d, d)

    def _paint_check(
        self, painter: QPainter, tile: QRectF, palette: QPalette, selected: bool
    ) -> None:
        """The corner badge: an outlined circle on hover (it selects), filled with a tick when
        selected, as photo apps mark a selection."""
        circle = self.check_rect(tile)
        d = circle.width()
        white = QColor(255, 255, 255)
        if selected:
            painter.setPen(QPen(white, 1.5))
            painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
            painter.drawEllipse(circle)
            tick = QPainterPath(QPointF(circle.left() + d * 0.28, circle.top() + d * 0.52))
            tick.lineTo(circle.left() + d * 0.44, circle.top() + d * 0.68)
            tick.lineTo(circle.left() + d * 0.74, circle.top() + d * 0.34)
            painter.setPen(QPen(white, max(1.5, d / 10)))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(tick)
        else:
            painter.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
            painter.setBrush(QColor(0, 0, 0, 50))
            painter.drawEllipse(circle)

    def paint_header(
        self,
        painter: QPainter,
        rect: QRect,
        header: Header,
        palette: QPalette,
        font: QFont,
        videos: int = 0,
    ) -> None:
        """A section title ("July 2019", or "Sunday 14 July 2019") and its count of photos (and
        of the `videos` among them)."""
        title = QFont(font)
        title.setBold(True)
        title.setPointSizeF(font.pointSizeF() * (1.05 if header.by_day else 1.25))
        text_rect = rect.adjusted(PAD + 2, 0, -PAD - 2, 0)
        align = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        metrics = QFontMetrics(title)
        baseline_room = text_rect.adjusted(0, 0, 0, -max(4, rect.height() // 6))
        painter.save()
        painter.setFont(title)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        text = metrics.elidedText(header.text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(baseline_room, align, text)
        note = counted(header.end - header.first - videos, videos)
        room = text_rect.width() - metrics.horizontalAdvance(text) - 16
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        if QFontMetrics(small).horizontalAdvance(note) <= room:
            painter.setFont(small)
            text_color = palette.color(QPalette.ColorRole.Text)
            painter.setPen(mix(text_color, palette.color(QPalette.ColorRole.Base), 0.45))
            note_rect = baseline_room.adjusted(metrics.horizontalAdvance(text) + 12, 0, 0, 0)
            painter.drawText(note_rect, align, note)
        painter.restore()

    def _paint_weaker(
        self, painter: QPainter, square: QRect, palette: QPalette, text: str, hovered: bool
    ) -> None:
        """The "Show N weaker matches" cell: a dashed, button-like square with its words."""
        link = palette.color(QPalette.ColorRole.Link)
        base = palette.color(QPalette.ColorRole.Base)
        painter.setBrush(mix(base, link, 0.12 if hovered else 0.05))
        pen = QPen(mix(base, link, 0.6), 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(QRectF(square).adjusted(4, 4, -4, -4), RADIUS, RADIUS)
        painter.setPen(link)
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(square.adjusted(12, 12, -12, -12), int(flags), text)

    def _paint_placeholder(
        self, painter: QPainter, square: QRect, palette: QPalette, missing: bool
    ) -> None:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        painter.fillRect(square, mix(base, text, 0.07))
        side = max(16, min(square.width(), square.height()) // 4)
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        name = "warning" if missing else "photo"
        color = mix(base, text, 0.3)
        key = f"photoseek-glyph-{name}-{side}-{dpr:g}-{color.rgba():x}"
        glyph = cached_pixmap(key)
        if glyph is None:
            glyph = tinted_pixmap(name, side, color, dpr)
            QPixmapCache.insert(key, glyph)
        painter.drawPixmap(square.center().x() - side // 2, square.center().y() - side // 2, glyph)
