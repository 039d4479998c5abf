"""The app icon at every size, the .desktop entry, and every icon the UI asks for."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from PIL import Image
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from qt_helpers import strict_qt_fixture  # noqa: F401

from app.ui import theme

REPO = Path(__file__).resolve().parents[1]


def test_app_icon_pngs_have_their_sizes():
    for size in theme.APP_ICON_SIZES:
        with Image.open(theme.app_icon_dir() / f"photoseek-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    assert (theme.app_icon_dir() / "photoseek.svg").is_file()
    with Image.open(theme.app_icon_dir() / "photoseek.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    assert (theme.app_icon_dir() / "photoseek.icns").stat().st_size > 0


def test_app_icon_loads_at_many_sizes(qapp):
    icon = theme.app_icon()
    assert not icon.isNull()
    assert len(icon.availableSizes()) == len(theme.APP_ICON_SIZES)


def test_desktop_entry_is_complete():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(REPO / "resources" / "photoseek.desktop", encoding="utf-8")
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "PhotoSeek"
    assert d["Exec"].split()[0] == "photoseek" and d["Icon"] == "photoseek"
    assert d["Categories"].endswith(";") and "Graphics" in d["Categories"]


def test_every_icon_the_ui_uses_exists():
    used: set[str] = set()
    for source in (REPO / "app" / "ui").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        used |= set(re.findall(r'(?:icon|tinted_pixmap)\(\s*"([a-z-]+)"', text))
        used |= set(re.findall(r'EmptyState\([^,]+,\s*"([a-z-]+)"', text))
    used |= {"play", "pause", "warning", "photo", "zoom-small", "zoom-large"}  # chosen at run time
    missing = sorted(n for n in used if not (theme.icon_dir() / f"{n}.svg").is_file())
    assert used and missing == []


def test_icons_are_tinted_with_the_colour_asked_for(qapp):
    pixmap = theme.tinted_pixmap("search", 24, QColor(200, 10, 10), dpr=2.0)
    assert pixmap.width() == 48 and pixmap.devicePixelRatio() == 2.0
    image = pixmap.toImage()
    opaque = [
        image.pixelColor(x, y)
        for x in range(48)
        for y in range(48)
        if image.pixelColor(x, y).alpha() == 255
    ]
    assert opaque and all((c.red(), c.green(), c.blue()) == (200, 10, 10) for c in opaque)


def _opaque_colours(image) -> set[tuple[int, int, int]]:
    return {
        (c.red(), c.green(), c.blue())
        for x in range(image.width())
        for y in range(image.height())
        if (c := image.pixelColor(x, y)).alpha() == 255
    }


def test_icons_follow_a_switch_between_light_and_dark(qapp):
    saved = QGuiApplication.palette()
    icon = theme.icon("search")  # made once, as the window does at start
    try:
        for text in (QColor(20, 20, 20), QColor(235, 235, 235)):
            palette = QPalette(saved)
            palette.setColor(QPalette.ColorRole.ButtonText, text)
            QGuiApplication.setPalette(palette)
            assert _opaque_colours(icon.pixmap(24).toImage()) == {
                (text.red(), text.green(), text.blue())
            }
    finally:
        QGuiApplication.setPalette(saved)
