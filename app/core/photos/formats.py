"""Which files are photos and videos, which formats PhotoSeek opens, its size limits, and the skip reason
for a file Pillow cannot open or decode (said in words a user can act on)."""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".dib",
        ".gif",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
        ".mpo",
    }
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".3gp", ".mkv", ".webm", ".avi"})
# Pillow format ids we accept, whatever the extension says ("JPEG" also yields "MPO").


def is_photo_name(name: str) -> bool:
    """A file name a photo may have: not hidden (no leading dot), an image's extension."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_video_name(name: str) -> bool:
    """A file name a video may have: not hidden (no leading dot), a video's extension."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "DIB", "GIF", "HEIF", "AVIF", "MPO")

# PhotoSeek's own limits, checked on the header before any decode or resize (README, "Which
# files are indexed"). 180 MP is above any camera (~100 MP medium format) and well below what
# would exhaust memory; 1:50 is beyond any panorama, while a 1 x 20000 strip would be resized to
# a billion pixels on its way to the model's square input.
MAX_PIXELS = 180_000_000
MAX_ASPECT = 50
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses twice this at open, and warns above it

# TIFF compressions seen in the wild that Pillow cannot decode (Pillow's own list is
# TiffImagePlugin.COMPRESSION_INFO): the name said in a skip reason.
_TIFF_COMPRESSIONS = {
    6: "old-style JPEG",
    7: "JPEG",
    32867: "Kodak KDC",
    33003: "Aperio JPEG 2000",
    33005: "Aperio JPEG 2000",
    34661: "JBIG",
    34712: "JPEG 2000",
    34713: "Nikon NEF",
    34892: "lossy JPEG",
    34925: "LZMA",
    34933: "PNG",
    34934: "JPEG XR",
    50000: "Zstandard",
    50001: "WebP",
    50002: "JPEG XL",
    52546: "JPEG XL",
    65000: "Kodak DCR",
}
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\0", "TIFF"),
    (b"MM\0*", "TIFF"),
)


_open_formats: tuple[str, ...] = ()


def ensure_plugins() -> tuple[str, ...]:
    """Teach Pillow HEIC/HEIF (pillow-heif); returns the `FORMATS` this Pillow can open.

    AVIF is Pillow's own plugin where Pillow was built with libavif; MPO comes from the JPEG one.
    """
    global _open_formats
    if not _open_formats:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
            log.warning("pillow-heif is not installed: HEIC/HEIF photos will be skipped")
        else:
            register_heif_opener()
        Image.init()
        _open_formats = tuple(f for f in FORMATS if f in Image.OPEN)
    return _open_formats


def shape_problem(width: int, height: int) -> str | None:
    """The skip reason for a size PhotoSeek refuses before decoding, or None."""
    if width < 1 or height < 1:
        return f"image has no pixels ({width}x{height})"
    if width * height > MAX_PIXELS:
        return (
            f"too large: {width}x{height} = {width * height / 1e6:.0f} megapixels, above "
            f"PhotoSeek's limit of {MAX_PIXELS / 1e6:.0f} megapixels (may be a decompression bomb)"
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        return (
            f"unsupported shape: {width}x{height} is more than {MAX_ASPECT} times longer than "
            f"it is wide (PhotoSeek's limit is 1:{MAX_ASPECT})"
        )
    return None


def bomb_reason(e: Exception) -> str:
    """Pillow's DecompressionBombError quoting PhotoSeek's limit instead of Pillow's."""
    m = re.search(r"\((\d+) pixels\)", str(e))
    size = f"{int(m.group(1)) / 1e6:.0f} megapixels, " if m else ""
    return (
        f"too large: {size}above PhotoSeek's limit of {MAX_PIXELS / 1e6:.0f} megapixels "
        "(may be a decompression bomb)"
    )


def open_failure_reason(fp: BinaryIO, e: Exception) -> str:
    """Why Pillow could not open a file: an unsupported TIFF compression, a damaged header of a
    format it knows by its signature, or no image at all."""
    try:
        fp.seek(0)
        head = fp.read(4096)
    except OSError:
        head = b""
    fmt = next((f for magic, f in _MAGIC if head.startswith(magic)), None)
    if fmt == "TIFF":
        code = _tiff_compression(head)
        if code is not None and code not in _pillow_tiff_compressions():
            return f"unsupported compression: {_compression_name(code)}"
    if fmt is None:
        if isinstance(e, UnidentifiedImageError):
            return "not an image, or an unsupported image format"
        return f"unreadable image header ({e})"
    cause = e if not isinstance(e, UnidentifiedImageError) else _plugin_error(fp, fmt)
    return f"damaged: unreadable {fmt} header ({cause})" if cause else f"damaged {fmt} header"


def _plugin_error(fp: BinaryIO, fmt: str) -> Exception | None:
    """The error the plugin of `fmt` raises on `fp` (Image.open only says none could open it)."""
    opener = Image.OPEN.get(fmt)
    if opener is None:
        return None
    try:
        fp.seek(0)
        opener[0](fp, "").close()
    except Exception as e:  # what Pillow raised is the answer
        return e
    return None


def _tiff_compression(head: bytes) -> int | None:
    """The Compression tag (259) of a TIFF's first IFD when it lies in `head`."""
    order = "<" if head[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", head, 4)
        (count,) = struct.unpack_from(order + "H", head, offset)
        for k in range(count):
            tag, typ, _n = struct.unpack_from(order + "HHI", head, offset + 2 + 12 * k)
            if tag == 259:
                fmt = "H" if typ == 3 else "I"
                return int(struct.unpack_from(order + fmt, head, offset + 2 + 12 * k + 8)[0])
    except struct.error:
        return None
    return None


def _pillow_tiff_compressions() -> set[int]:
    from PIL import TiffImagePlugin

    return set(TiffImagePlugin.COMPRESSION_INFO)


def _compression_name(code: int) -> str:
    return f"{_TIFF_COMPRESSIONS.get(code, 'unknown')} (TIFF compression {code})"


def load_fully(im: Image.Image) -> None:
    """`im.load()` that refuses a partial decode whatever ImageFile.LOAD_TRUNCATED_IMAGES says
    (another library may set it): PhotoSeek never indexes an image that is half black."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    im.load()


def load_failure_reason(im: Image.Image, e: Exception) -> str:
    """The skip reason for a decode that failed after the header was read."""
    text = str(e)
    if im.format == "TIFF":
        code = im.tag_v2.get(259) if hasattr(im, "tag_v2") else None
        if isinstance(code, int) and (code not in _BASIC_TIFF or "not available" in text):
            return f"unsupported compression: {_compression_name(code)}"
    if "decoder" in text and "not available" in text:
        return f"unsupported format: {im.format} ({text})"
    return f"damaged: decodes only partly ({text})"


# Compressions every Pillow build decodes (raw, LZW, deflate, packbits); others need libtiff codecs.
_BASIC_TIFF = frozenset({1, 5, 8, 32773, 32946})


class _CodecMessages(logging.Handler):
    """Pillow's log records, re-logged to this module's logger with the file being read."""

    def emit(self, record: logging.LogRecord) -> None:
        log.info("%s: %s (%s)", _current_file(), record.getMessage(), record.name)


_local = threading.local()
_hook_lock = threading.Lock()
_hooked = False


def _current_file() -> str:
    return getattr(_local, "name", None) or "(no file)"


def _install_hooks() -> None:
    """Once: Pillow's loggers and Python warnings raised while a file is read go to the log."""
    global _hooked
    with _hook_lock:
        if _hooked:
            return
        pil = logging.getLogger("PIL")
        pil.addHandler(_CodecMessages())
        pil.propagate = False  # never to stderr: the log has it, with the file's name
        original = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
            name = getattr(_local, "name", None)
            if name is None:
                original(message, category, filename, lineno, file, line)
            else:
                log.info("%s: %s: %s", name, category.__name__, message)

        warnings.showwarning = showwarning
        _hooked = True


@contextmanager
def codec_messages(name: str) -> Iterator[None]:
    """While a file is opened or decoded on this thread, codec warnings (Python warnings and
    Pillow's log records) go to the log naming `name`, not to the terminal. Warning filters are
    left alone (changing them is not thread-safe), so a repeated warning is logged once.

    libtiff's own C-level messages are not covered: Pillow's libtiff decoder does not print them
    for the files PhotoSeek reads (see tests/test_faults_images.py)."""
    _install_hooks()
    previous = getattr(_local, "name", None)
    _local.name = name
    try:
        yield
    finally:
        _local.name = previous
