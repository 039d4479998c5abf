"""Paints one grid cell: the thumbnail fitted in a square, a placeholder while it loads, the date.

Scaled pixmaps are cached per photo, size and device pixel ratio, so scrolling repaints copy
pixels instead of resampling them. All colours come from the view's palette.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
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

from app.ui.results_model import ResultsModel, format_date
from app.ui.theme import cached_pixmap, mix, tinted_pixmap

PAD = 6
RADIUS = 6.0
MIN_SIZE = 96
MAX_SIZE = 320
DEFAULT_SIZE = 176


class ThumbDelegate(QStyledItemDelegate):
    """Cells of `thumb_size` logical pixels (the image square) plus a one-line caption."""

    def __init__(self, parent: QWidget | None = None, thumb_size: int = DEFAULT_SIZE) -> None:
        super().__init__(parent)
        self._size = thumb_size
        self._stretch = 0  # the view's column width, when it spreads cells over its width

    @property
    def thumb_size(self) -> int:
        return self._size

    def set_thumb_size(self, size: int) -> None:
        self._size = max(MIN_SIZE, min(MAX_SIZE, int(size)))
        self.sizeHintChanged.emit(QModelIndex())

    def set_stretch(self, width: int) -> None:
        """Cells as wide as `width` (the content stays centred), so clicks between thumbnails
        still hit a cell and the spare width is shared evenly."""
        if width != self._stretch:
            self._stretch = width
            self.sizeHintChanged.emit(QModelIndex())

    def caption_font(self, base: QFont) -> QFont:
        font = QFont(base)
        font.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
        return font

    def cell_size(self, base_font: QFont) -> QSize:
        caption_h = QFontMetrics(self.caption_font(base_font)).height()
        return QSize(self._size + 2 * PAD, self._size + 2 * PAD + caption_h + 2)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = self.cell_size(option.font)
        return QSize(max(size.width(), self._stretch), size.height())

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        palette: QPalette = option.palette
        state = option.state
        # The view may stretch cells to fill its width; the content stays centred in them.
        width = self.cell_size(option.font).width()
        rect = QRect(
            option.rect.x() + max(0, (option.rect.width() - width) // 2),
            option.rect.y(),
            min(width, option.rect.width()),
            option.rect.height(),
        )
        cell = QRectF(rect).adjusted(1, 1, -1, -1)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            highlight = QColor(palette.color(QPalette.ColorRole.Highlight))
            highlight.setAlphaF(0.30 if selected else 0.12)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(highlight)
            painter.drawRoundedRect(cell, RADIUS + 2, RADIUS + 2)

        square = QRect(rect.x() + PAD, rect.y() + PAD, self._size, self._size)
        if index.data(ResultsModel.WeakerRole):
            self._paint_weaker(painter, square, palette, str(index.data()), hovered)
            painter.restore()
            return
        pixmap = index.data(ResultsModel.ThumbnailRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            self._paint_image(painter, square, pixmap)
        else:
            missing = index.data(ResultsModel.ThumbStateRole) == "missing"
            self._paint_placeholder(painter, square, palette, missing)

        caption = QRect(
            square.left(),
            square.bottom() + 3,
            square.width(),
            option.rect.bottom() - square.bottom() - 3,
        )
        font = self.caption_font(option.font)
        painter.setFont(font)
        text_color = palette.color(QPalette.ColorRole.Text)
        painter.setPen(mix(text_color, palette.color(QPalette.ColorRole.Base), 0.35))
        text = format_date(index.data(ResultsModel.DateRole))
        text = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, caption.width())
        painter.drawText(
            caption, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter), text
        )

        if state & QStyle.StateFlag.State_HasFocus:
            pen_color = palette.color(QPalette.ColorRole.Highlight)
            painter.setPen(pen_color)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell.adjusted(0.5, 0.5, -0.5, -0.5), RADIUS + 2, RADIUS + 2)
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

    def _paint_image(self, painter: QPainter, square: QRect, pixmap: QPixmap) -> None:
        """Fit the pixmap (loaded at about the cell's device size, so mostly a plain copy) into
        the square: centred across, resting on its bottom edge so the date sits right under it."""
        pw, ph = pixmap.width(), pixmap.height()
        scale = min(square.width() / pw, square.height() / ph)
        w, h = pw * scale, ph * scale
        target = QRectF(
            square.x() + (square.width() - w) / 2, square.y() + square.height() - h, w, h
        )
        path = QPainterPath()
        path.addRoundedRect(target, RADIUS, RADIUS)
        painter.setClipPath(path)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
        painter.setClipping(False)

    def _paint_placeholder(
        self, painter: QPainter, square: QRect, palette: QPalette, missing: bool
    ) -> None:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(mix(base, text, 0.07))
        painter.drawRoundedRect(QRectF(square), RADIUS, RADIUS)
        side = max(16, square.width() // 4)
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        name = "warning" if missing else "photo"
        color = mix(base, text, 0.3)
        key = f"photoseek-glyph-{name}-{side}-{dpr:g}-{color.rgba():x}"
        glyph = cached_pixmap(key)
        if glyph is None:
            glyph = tinted_pixmap(name, side, color, dpr)
            QPixmapCache.insert(key, glyph)
        painter.drawPixmap(square.center().x() - side // 2, square.center().y() - side // 2, glyph)
