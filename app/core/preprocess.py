"""Photos to model input without torch: a cheap, safe decode (`open_image`) and open_clip's eval
transform reproduced with Pillow and numpy (`to_pixels`)."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.core import metadata
from app.core.errors import UserError
from app.core.metadata import MAX_ASPECT, MAX_PIXELS, codec_messages, shape_problem
from app.core.modelinfo import ModelInfo

log = logging.getLogger(__name__)

try:  # HEIC/HEIF (iPhone photos); AVIF is built into Pillow
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORT = True
except ImportError:  # pragma: no cover - pillow-heif is a runtime dependency
    HEIF_SUPPORT = False

__all__ = ["MAX_ASPECT", "MAX_PIXELS", "ImageError", "decode", "identify", "open_image"]

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
_CHANNELS = np.arange(3)[:, None, None]
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


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
    metadata.ensure_plugins()
    try:
        with codec_messages(name):
            return Image.open(fp)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: {metadata.bomb_reason(e)}.") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError) as e:
        reason = metadata.open_failure_reason(fp, e)
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
            metadata.load_fully(img)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: {metadata.load_failure_reason(img, e)}.") from e
    orientation = _orientation(img)  # after the load: PNG's getexif() would decode unchecked
    try:
        rgb = _to_rgb(img)
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


def _to_rgb(img: Image.Image) -> Image.Image:
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


def to_pixels(img: Image.Image, info: ModelInfo) -> np.ndarray:
    """open_clip's eval transform as float32 [3, S, S]: resize (mode per info.resize_mode),
    centre crop or pad, scale to [0, 1], normalise with the model's mean and std."""
    if img.mode != "RGB":
        img = _to_rgb(img)
    size = info.image_size
    resample = _RESAMPLE.get(info.interpolation, Image.Resampling.BICUBIC)
    w, h = img.size
    if info.resize_mode == "squash":
        img = _resize(img, (size, size), resample)
    elif info.resize_mode == "longest":
        ratio = max(h / size, w / size)  # open_clip ResizeKeepRatio(longest=1)
        img = _resize(img, (round(w / ratio), round(h / ratio)), resample)
        img = _center_crop_or_pad(img, size)
    elif info.resize_mode == "shortest":
        # torchvision Resize(int): short side to `size`, long side truncated, not rounded.
        new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
        img = _resize(img, new, resample)
        img = _center_crop_or_pad(img, size)
    else:
        raise ValueError(f"unknown resize_mode {info.resize_mode!r}")
    arr = np.asarray(img, dtype=np.uint8)
    lut = _normalise_lut(tuple(info.mean), tuple(info.std))
    planes = np.ascontiguousarray(arr.transpose(2, 0, 1))  # uint8 [3, S, S]: a cheap copy
    return lut[_CHANNELS, planes]  # one lookup per value, laid out like `planes`


@functools.lru_cache(maxsize=8)
def _normalise_lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """float32 [3, 256]: (v / 255 - mean) / std for every byte value v, computed in float32
    exactly as the element-wise formula would be, so the lookup changes no bit."""
    v = np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0)
    lut = (v - np.asarray(mean, np.float32)[:, None]) / np.asarray(std, np.float32)[:, None]
    lut.setflags(write=False)
    return lut


def to_batch(images: Sequence[Image.Image], info: ModelInfo) -> np.ndarray:
    """float32 [N, 3, S, S] for `Encoder.encode_pixels`."""
    size = info.image_size
    if not images:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    return np.stack([to_pixels(im, info) for im in images])


def _resize(img: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    # Same call torchvision makes on PIL input (PIL always antialiases when downscaling).
    if img.size == size:
        return img
    return img.resize(size, resample)


def _center_crop_or_pad(img: Image.Image, size: int) -> Image.Image:
    """torchvision center_crop / open_clip CenterCropOrPad: pad with black, then crop the middle."""
    w, h = img.size
    if size > w or size > h:
        pw, ph = max(size, w), max(size, h)
        padded = Image.new("RGB", (pw, ph), (0, 0, 0))
        padded.paste(img, ((size - w) // 2 if size > w else 0, (size - h) // 2 if size > h else 0))
        img, w, h = padded, pw, ph
        if (w, h) == (size, size):
            return img
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))
