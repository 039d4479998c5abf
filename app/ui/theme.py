"""Icons and colours that follow the system palette (light or dark) at any screen scale.

UI icons are one-colour SVGs, tinted with the palette's text colour when drawn, so they stay
legible in dark mode; they are rendered per device pixel ratio, so they stay sharp on high-DPI
screens. No colour is hard-coded except the app icon's own.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QIcon,
    QIconEngine,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
    QPixmapCache,
)
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from app.core.api import ResourceError, resource_path

log = logging.getLogger(__name__)


def cached_pixmap(key: str) -> QPixmap | None:
    """The pixmap `QPixmapCache` holds under `key`, or None."""
    pixmap = QPixmap()
    return pixmap if QPixmapCache.find(key, pixmap) else None


def icon_dir() -> Path:
    """The one-colour UI icons (in the source tree, a wheel or a bundle: app.core.resources)."""
    return resource_path("icons")


def app_icon_dir() -> Path:
    return resource_path("app")


APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the window background is darker than its text (a dark theme)."""
    palette = palette or QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Window).lightness()
        < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved a fraction `t` towards `b`: derived shades that work in light and dark themes."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
        a.alphaF() + (b.alphaF() - a.alphaF()) * t,
    )


@lru_cache(maxsize=64)
def _renderer(name: str) -> QSvgRenderer | None:
    try:
        path = icon_dir() / f"{name}.svg"
    except ResourceError as e:
        log.error("%s", e)
        return None
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        log.error("icon %s is missing or broken (%s)", name, path)
        return None
    return renderer


def tinted_pixmap(name: str, size: int, color: QColor, dpr: float = 1.0) -> QPixmap:
    """The icon `name` drawn `size` logical pixels square in `color`, sharp at `dpr`."""
    px = max(1, round(size * dpr))
    pixmap = QPixmap(px, px)
    pixmap.fill(Qt.GlobalColor.transparent)
    renderer = _renderer(name)
    if renderer is not None:
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, px, px))
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(pixmap.rect(), color)
        painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


class _PaletteIconEngine(QIconEngine):
    """Draws a one-colour SVG in the application palette's current button-text colour, so an
    icon made once still follows a switch between light and dark themes."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def _color(self, mode: QIcon.Mode) -> QColor:
        group = (
            QPalette.ColorGroup.Disabled
            if mode == QIcon.Mode.Disabled
            else QPalette.ColorGroup.Active
        )
        return QGuiApplication.palette().color(group, QPalette.ColorRole.ButtonText)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        side = max(1, min(size.width(), size.height()))
        color = self._color(mode)
        key = f"photoseek-icon-{self.name}-{side}-{color.rgba():x}"
        cached = cached_pixmap(key)
        if cached is None:
            cached = tinted_pixmap(self.name, side, color)
            QPixmapCache.insert(key, cached)
        return cached

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        result = QPixmap(pixmap)
        result.setDevicePixelRatio(scale)
        return result

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        dpr = painter.device().devicePixelRatioF() if painter.device() else 1.0
        side = min(rect.width(), rect.height())
        pixmap = self.pixmap(QSize(round(side * dpr), round(side * dpr)), mode, state)
        painter.drawPixmap(
            QRect(
                rect.x() + (rect.width() - side) // 2,
                rect.y() + (rect.height() - side) // 2,
                side,
                side,
            ),
            pixmap,
        )

    def clone(self) -> QIconEngine:
        return _keep(_PaletteIconEngine(self.name))


_engines: list[QIconEngine] = []  # Qt holds the engines by pointer: Python must keep them alive


def _keep(engine: QIconEngine) -> QIconEngine:
    _engines.append(engine)
    return engine


@lru_cache(maxsize=128)
def icon(name: str) -> QIcon:
    """The UI icon `name`, tinted with the current palette whenever it is drawn."""
    return QIcon(_keep(_PaletteIconEngine(name)))


class IconLabel(QWidget):
    """A small static icon (the search glass, the zoom ends) in the widget's own text colour."""

    def __init__(
        self,
        name: str,
        size: int,
        parent: QWidget | None = None,
        role: QPalette.ColorRole = QPalette.ColorRole.WindowText,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.side = size
        self.role = role
        self.setFixedSize(size, size)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def paintEvent(self, event: QPaintEvent) -> None:
        color = self.palette().color(self.role)
        dpr = self.devicePixelRatioF()
        key = f"photoseek-label-{self.name}-{self.side}-{dpr:g}-{color.rgba():x}"
        pixmap = cached_pixmap(key)
        if pixmap is None:
            pixmap = tinted_pixmap(self.name, self.side, color, dpr)
            QPixmapCache.insert(key, pixmap)
        QPainter(self).drawPixmap(0, 0, pixmap)


def make_heading(label: QLabel, scale: float) -> QLabel:
    """`label` in the semibold, `scale`-times larger font of dialog titles; returns it."""
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setWeight(QFont.Weight.DemiBold)
    label.setFont(font)
    return label


def app_icon() -> QIcon:
    """The PhotoSeek icon at every size we ship (the window manager picks the best)."""
    result = QIcon()
    try:
        folder = app_icon_dir()
    except ResourceError as e:
        log.error("%s", e)
        return result
    for size in APP_ICON_SIZES:
        path = folder / f"photoseek-{size}.png"
        if path.is_file():
            result.addFile(str(path), QSize(size, size))
    if result.isNull():
        log.error("app icon files are missing from %s", folder)
    return result
