"""Icons and colours that follow the system palette (light or dark) at any screen scale.

UI icons are one-colour SVGs, tinted with the palette's text colour when drawn, so they stay
legible in dark mode; they are rendered per device pixel ratio, so they stay sharp on high-DPI
screens. No colour is hard-coded except the app icon's own.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON_DIR = RESOURCES / "icons"
APP_ICON_DIR = RESOURCES / "app"
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
    path = ICON_DIR / f"{name}.svg"
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


def icon(name: str, palette: QPalette | None = None) -> QIcon:
    """A QIcon for toolbars and buttons, tinted for the normal and the disabled state."""
    palette = palette or QGuiApplication.palette()
    normal = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.ButtonText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText)
    result = QIcon()
    for size in (16, 20, 24, 32, 48):
        for dpr in (1.0, 2.0):
            result.addPixmap(tinted_pixmap(name, size, normal, dpr), QIcon.Mode.Normal)
            result.addPixmap(tinted_pixmap(name, size, disabled, dpr), QIcon.Mode.Disabled)
    return result


def app_icon() -> QIcon:
    """The PhotoSeek icon at every size we ship (the window manager picks the best)."""
    result = QIcon()
    for size in APP_ICON_SIZES:
        path = APP_ICON_DIR / f"photoseek-{size}.png"
        if path.is_file():
            result.addFile(str(path), QSize(size, size))
    if result.isNull():
        log.error("app icon files are missing from %s", APP_ICON_DIR)
    return result
