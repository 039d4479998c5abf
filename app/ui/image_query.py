"""The example image of a lookalike search, as the search bar shows it and the engine takes it.

It comes from a dropped or pasted file, pasted pixels, a region of a photo, or a photo already in
the library ("Find similar"), or a moment of a video in the library. Reading what the user dropped happens here; nothing is decoded on
the GUI thread: pasted pixels are encoded for the engine by the search worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, QUrl
from PySide6.QtGui import QImage

from app.core.api import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

_tokens = count(1)
MAX_PASTED_SIDE = 1024


@dataclass(frozen=True)
class ImageQuery:
    """What to search like. Exactly one of `path`, `pixels`, `like_photo_id` is set."""

    label: str
    path: Path | None = None
    pixels: QImage | None = field(default=None, compare=False, repr=False)
    like_photo_id: int | None = None
    like_moment_ms: int | None = None  # with a video's like_photo_id: that moment of it
    region: tuple[int, int, int, int] | None = None  # x, y, w, h in the rotated image's pixels
    token: int = field(default_factory=lambda: next(_tokens))  # tells two pastes apart
    thumb: QImage | None = field(default=None, compare=False, repr=False)  # for the chip

    @property
    def preview(self) -> QImage | None:
        """Pixels for the chip when they are already in memory (a paste, a region's crop)."""
        return self.thumb if self.thumb is not None else self.pixels

    def engine_image(self) -> Path | bytes | None:
        """What `Query.image` takes: a file, or PNG bytes for pixels. Call it in a worker."""
        if self.path is not None:
            return self.path
        if self.pixels is not None:
            return encode_png(self.pixels)
        return None


def is_image_path(path: Path) -> bool:
    """A file the indexer would take: a photo, or a video, one can search by (a video as the
    mean of its frames)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS or is_video_path(path)


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def image_files(mime: QMimeData) -> list[Path]:
    """Local image files named by dropped or pasted `mime` data (file manager URLs)."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if is_image_path(p)]


def from_mime(mime: QMimeData) -> ImageQuery | None:
    """The lookalike query carried by a drop or paste, or None when it carries no image."""
    files = image_files(mime)
    if files:
        return ImageQuery(label=files[0].name, path=files[0])
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return from_pixels(image, "Pasted image")
    return None


def from_pixels(image: QImage, label: str) -> ImageQuery:
    """Pixels (pasted): kept as they are; the search worker encodes them."""
    return ImageQuery(label=label, pixels=image)


def encode_png(image: QImage) -> bytes:
    """PNG bytes of `image`, no larger than MAX_PASTED_SIDE (the model sees 224 px anyway)."""
    if max(image.width(), image.height()) > MAX_PASTED_SIDE:
        image = image.scaled(
            MAX_PASTED_SIDE,
            MAX_PASTED_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # The stub wants bytes for the format; PySide6 itself takes only str.
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    buffer.close()
    return bytes(data.data())


def mime_accepts(mime: QMimeData) -> bool:
    """Cheap check for drag-enter: does this drag carry an image we could search by?"""
    return bool(image_files(mime)) or mime.hasImage()


def file_url(path: Path) -> QUrl:
    return QUrl.fromLocalFile(str(path))


Box = tuple[int, int, int, int]


def fit_region(image: QImage, box: Box | None) -> tuple[QImage, Box | None]:
    """`image` no larger than the engine is sent (MAX_PASTED_SIDE) and `box` on it, scaled alike:
    a video frame searched as pixels keeps its box on the same part."""
    side = max(image.width(), image.height())
    if side <= MAX_PASTED_SIDE:
        return image, box
    scaled = image.scaled(
        MAX_PASTED_SIDE,
        MAX_PASTED_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    if box is None:
        return scaled, None
    f = scaled.width() / image.width()
    x, y, w, h = box
    return scaled, (round(x * f), round(y * f), max(1, round(w * f)), max(1, round(h * f)))
