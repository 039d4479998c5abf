"""Decoding a photo cheaply and safely (`open_image`): EXIF-rotated RGB, drafted to the size
needed, with a clear `ImageError` for anything unreadable. Model input is app.core.model.preprocess."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.core.errors import UserError
from app.core.photos import formats
from app.core.photos.formats import MAX_ASPECT, MAX_PIXELS, codec_messages, shape_problem

log = logging.getLogger(__name__)

try:  # HEIC/HEIF (iPhone photos); AVIF is built into Pillow
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORT = True
except ImportError:  # pragma: no cover - pillow-heif is a runtime dependency
    HEIF_SUPPORT = False

__all__ = ["MAX_ASPECT", "MAX_PIXELS", "ImageError", "decode", "identify", "open_image", "to_rgb"]

# Transparent pixels are composited on mid grey: neutral in colour, and close to zero after
# CLIP's normalisation, so transparency neither reads as black nor as white to the model.
BACKGROUND = (128, 128, 128)

_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(UserError):
    """A photo cannot be read; the message names it and says why (empty, damaged, not an
    image, too large, unsupported). The indexer records the reason and moves on."""


def open_image(
    source: Path | str | bytes | BinaryIO, *, min_side: int, draft: bool = True
) -> Image.Image:
    """Decode a photo to an EXIF-rotated RGB image whose short side stays >= `min_side`.

    With `draft` (the default) large photos are decoded reduced: JPEG by DCT scaling, other
    formats by an integer box reduction, so a 12-MP photo costs a fraction of a full decode.
    A path is decoded straight from the open file, never copied into memory whole.
    """
    if min_side < 1:
        raise ValueError(f"min_side must be >= 1, got {min_side}")
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
        except OSError as e:
            raise _read_error(path, e) from e
        with f:
            return decode(identify(f, str(path)), str(path), min_side=min_side, draft=draft)
    name, data = _read(source)
    buf = io.BytesIO(data)
    return decode(identify(buf, name), name, min_side=min_side, draft=draft)


def identify(fp: BinaryIO, name: str) -> Image.Image:
    """Open `fp` (positioned at the start) with Pillow, reading the header only; `name` is the
    file's name in messages. Raises `ImageError` for an empty file or one that is no image."""
    if not fp.read(1):
        raise ImageError(f"{name}: the file is empty (0 bytes).")
    fp.seek(0)
    formats.ensure_plugins()
    try:
        with codec_messages(name):
            return Image.open(fp)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: {formats.bomb_reason(e)}.") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError) as e:
        reason = formats.open_failure_reason(fp, e)
        if reason.startswith("not an image"):
            fp.seek(0)
            reason = f"not an image{_content_hint(name, fp.read(512))}"
        raise ImageError(f"{name}: {reason}.") from e


def decode(img: Image.Image, name: str, *, min_side: int, draft: bool = True) -> Image.Image:
    """`open_image` for an image Pillow has opened but not decoded (from `identify`, or the one
    `metadata.open_photo` yields), so the header is parsed once; its file must still be open."""
    if min_side < 1:
        raise ValueError(f"min_side must be >= 1, got {min_side}")
    problem = shape_problem(*img.size)  # before any decode or resize: bombs by size or shape
    if problem:
        raise ImageError(f"{name}: {problem}.")
    if draft and img.format in ("JPEG", "MPO"):
        img.draft("RGB", (min_side, min_side))  # keeps both sides >= min_side
    try:
        with codec_messages(name):
            formats.load_fully(img)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: {formats.load_failure_reason(img, e)}.") from e
    orientation = _orientation(img)  # after the load: PNG's getexif() would decode unchecked
    try:
        rgb = to_rgb(img)
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: colour mode {img.mode} cannot be converted to RGB ({e}).") from e
    factor = min(rgb.size) // min_side
    if draft and factor >= 2:  # reduce before rotating: rotating the small image is cheaper
        rgb = rgb.reduce(factor)
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    return rgb


def _read(source: bytes | BinaryIO) -> tuple[str, bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return "image data", bytes(source)
    name = str(getattr(source, "name", "image stream"))
    try:
        return name, source.read()
    except OSError as e:
        raise ImageError(f"{name}: cannot read the stream ({e}).") from e


def _read_error(path: Path, e: OSError) -> ImageError:
    if isinstance(e, FileNotFoundError):
        return ImageError(f"{path}: file not found.")
    if isinstance(e, IsADirectoryError):
        return ImageError(f"{path}: is a folder, not an image.")
    return ImageError(f"{path}: cannot read the file ({e.strerror or e}).")


def _content_hint(name: str, data: bytes) -> str:
    """Say what the bytes look like, e.g. for a text file named .jpg."""
    suffix = Path(name).suffix.lower()
    head = data[:512]
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            what = "text"
        except UnicodeDecodeError:
            what = "data Pillow does not recognise"
    else:
        what = "data Pillow does not recognise"
    if suffix:
        return f" (named {suffix} but its content is {what})"
    return f" (its content is {what})"


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
        return int(value) if value in _TRANSPOSE else 1
    except Exception:  # a broken EXIF block must not make the photo unreadable
        return 1


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB: alpha composited on BACKGROUND, 16-bit and float scaled to 8-bit."""
    if img.mode == "RGB" and not img.has_transparency_data:
        return img
    if img.mode.startswith("I;16"):
        a16 = np.asarray(img).astype(np.uint32)
        return _gray8((a16 * 255 + 32767) // 65535)
    if img.mode in ("I", "F"):
        return _gray8(_scale_wide(np.asarray(img), img.mode))
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", img.size, (*BACKGROUND, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return img.convert("RGB")


def _scale_wide(a: np.ndarray, mode: str) -> np.ndarray:
    """32-bit int or float gray to 0..255: 8-bit or 16-bit ranges kept, [0,1] floats scaled,
    anything else stretched from its minimum to its maximum."""
    a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return a * 255.0
    if mode == "I" and lo >= 0 and hi <= 255:
        return a
    if mode == "I" and lo >= 0 and hi <= 65535:
        return a * (255.0 / 65535.0)
    return (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)


def _gray8(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L").convert("RGB")


def crop_region(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """Crop a pixel box (x, y, w, h) given on the EXIF-rotated image, clamped to its bounds."""
    x, y, w, h = box
    left, top = max(0, round(x)), max(0, round(y))
    right, bottom = min(img.width, round(x + w)), min(img.height, round(y + h))
    if right <= left or bottom <= top:
        raise ImageError(
            f"The region x={x}, y={y}, w={w}, h={h} does not overlap the photo "
            f"({img.width}x{img.height} pixels); choose a box inside it."
        )
    return img.crop((left, top, right, bottom))
