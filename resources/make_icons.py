"""Render the app icon (app/photoseek.svg) to PNGs at every common size, plus .ico and .icns.

Run after editing the SVG: `python resources/make_icons.py`. Needs PySide6 (QtSvg) and Pillow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int, out: Path) -> None:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(out)):
        sys.exit(f"could not write {out}")


def main() -> None:
    QGuiApplication.instance() or QGuiApplication([])
    svg = HERE / "app" / "photoseek.svg"
    pngs = {}
    for size in SIZES:
        out = HERE / "app" / f"photoseek-{size}.png"
        render(svg, size, out)
        pngs[size] = out
    big = Image.open(pngs[256])
    big.save(HERE / "app" / "photoseek.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    Image.open(pngs[512]).save(HERE / "app" / "photoseek.icns")
    print(f"wrote {len(pngs)} PNGs, photoseek.ico and photoseek.icns in {HERE / 'app'}")


if __name__ == "__main__":
    main()
