"""The one way the window decodes a photo file: EXIF-rotated, scaled while decoding, on a worker
thread (QImage, not QPixmap, is safe off the GUI thread)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


def read_scaled(path: Path, max_side: int) -> tuple[QImage, QSize]:
    """(image whose long side is at most `max_side` where the format can decode it scaled, size
    of the rotated original). Raises OSError naming the file when it cannot be decoded."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    raw = reader.size()
    quarter_turn = reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90
    rotated = raw.transposed() if quarter_turn else raw
    if raw.isValid() and max(raw.width(), raw.height()) > max_side:
        reader.setScaledSize(
            raw.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio)
        )
    image = reader.read()
    if image.isNull():
        raise OSError(f"PhotoSeek cannot read {path.name}: {reader.errorString()}")
    return image, rotated if rotated.isValid() else image.size()


def read_image(path: Path, max_side: int) -> QImage:
    """`path` decoded (EXIF-rotated) with its long side at most `max_side` where it can be."""
    return read_scaled(path, max_side)[0]


def qimage_from_pil(picture: PILImage) -> QImage:
    """A decoded video frame (PIL, RGB) as a QImage that owns its pixels (safe off the GUI thread)."""
    rgb = picture.convert("RGB")
    data = rgb.tobytes()
    image = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return image.copy()
