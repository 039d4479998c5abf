"""What the catalog stores about a photo, read from its header without decoding any pixels.

Capture time comes from the first of: EXIF DateTimeOriginal (+ OffsetTimeOriginal), EXIF
DateTimeDigitized, XMP (exif:DateTimeOriginal, xmp:CreateDate, photoshop:DateCreated), IPTC
DateCreated + TimeCreated, the EXIF GPS date and time (UTC), EXIF DateTime (the last edit as often
as the capture), the file's modification time; `capture_source` says which one was used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import struct
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

from app.core.errors import UserError

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
# Pillow format ids we accept, whatever the extension says ("JPEG" also yields "MPO").
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

FINGERPRINT_CHUNK = 64 * 1024

EXIF_IFD = 0x8769
ORIENTATION = 0x0112
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
# (capture_source, date tag, offset tag, sub-second tag); the first usable one wins.
DATE_TAGS = (
    ("exif_original", 36867, 36881, 37521),
    ("exif_digitized", 36868, 36882, 37522),
    ("exif_datetime", DATETIME, 36880, 37520),
)
GPS_IFD = 0x8825
GPS_DATE, GPS_TIME = 29, 7
# XMP properties holding a capture date, best first (namespace URI, local name).
XMP_DATES = (
    ("http://ns.adobe.com/exif/1.0/", "DateTimeOriginal"),
    ("http://ns.adobe.com/xap/1.0/", "CreateDate"),
    ("http://ns.adobe.com/photoshop/1.0/", "DateCreated"),
)
# ISO 8601 as XMP writes it: a date, optionally a time with seconds, fraction and offset.
_XMP_DATE_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_IPTC_DATE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_IPTC_TIME_RE = re.compile(r"(\d{2}):?(\d{2}):?(\d{2})\s*([+-]\d{2}:?\d{2})?")
_DATE_RE = re.compile(r"(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?")
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})")


class MetadataError(UserError):
    """A file the scanner found cannot be catalogued; `reason` is the short text recorded."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class PhotoMeta:
    """Everything the catalog records about one readable photo. `folder_id` None: the catalog
    finds the watched folder that contains `path`."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    width: int
    height: int
    capture_time: datetime | None
    capture_offset: str | None
    capture_source: str
    camera_make: str | None
    camera_model: str | None
    format: str = ""
    folder_id: int | None = None

    @property
    def year(self) -> int | None:
        return self.capture_time.year if self.capture_time else None

    @property
    def month(self) -> int | None:
        return self.capture_time.month if self.capture_time else None


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


def fingerprint(path: Path | str, size: int) -> str:
    """A content fingerprint from the size and the first, middle and last 64 KiB.

    Reads at most 192 KiB whatever the file's size, so recognising a moved or renamed photo
    costs three small reads instead of a full hash. A photo's head holds its EXIF (time, camera,
    maker notes) and its tail the last compressed scan, so two different photos of the same size
    agreeing on all three windows is not a practical risk; the middle window catches in-place
    edits of uncompressed formats that keep the size. Files up to 192 KiB are hashed whole.
    """
    with open(path, "rb") as f:
        return _fingerprint_file(f, size)


def _fingerprint_file(f: BinaryIO, size: int) -> str:
    """`fingerprint` of an open file; its offset is restored, so Pillow can go on reading the
    same file (see `open_photo`)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    pos = f.tell()
    try:
        if size <= 3 * FINGERPRINT_CHUNK:
            f.seek(0)
            h.update(f.read(size))
        else:
            for offset in (0, (size - FINGERPRINT_CHUNK) // 2, size - FINGERPRINT_CHUNK):
                f.seek(offset)
                h.update(f.read(FINGERPRINT_CHUNK))
    finally:
        f.seek(pos)
    return h.hexdigest()


def read_metadata(path: Path | str, stat: os.stat_result, *, fp: str | None = None) -> PhotoMeta:
    """Header facts of the photo at `path` (`stat` from the scan; `fp` if already computed).

    Raises `MetadataError` for an empty, unreadable, oversized, unsupported or non-image file.
    """
    with open_photo(path, stat, fp=fp) as (meta, _):
        return meta


@contextmanager
def open_photo(
    path: Path | str, stat: os.stat_result, *, fp: str | None = None
) -> Iterator[tuple[PhotoMeta, Image.Image]]:
    """`read_metadata`, plus the photo opened by Pillow and not yet decoded: the indexer decodes
    it from the same open file (one open, one header parse; the fingerprint's reads do not move
    the file's offset for good). Both are valid inside the `with` only.

    Raises `MetadataError` like `read_metadata`; FileNotFoundError if the file is gone.
    """
    formats = ensure_plugins()
    name = os.fspath(path)
    if stat.st_size == 0:
        raise MetadataError(path, "empty file (0 bytes)")
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
    except FileNotFoundError:
        raise  # gone since the scan: not a reason to record
    except OSError as e:
        raise MetadataError(path, f"cannot read the file ({e.strerror or e})") from e
    with f, codec_messages(name):
        try:
            im = Image.open(f, formats=formats)
        except Image.DecompressionBombError as e:
            raise MetadataError(path, bomb_reason(e)) from e
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError) as e:
            # Pillow reports damaged headers with any of these.
            raise MetadataError(path, open_failure_reason(f, e)) from e
        with im:
            problem = shape_problem(*im.size)
            if problem:
                raise MetadataError(path, problem)
            if im.format == "PNG" and "exif" not in im.info:
                # Pillow's PNG getexif() decodes the pixels to find a late eXIf chunk and a
                # failure there would leave a partly decoded image behind: decode here, checked.
                try:
                    load_fully(im)
                except (OSError, SyntaxError, ValueError, EOFError) as e:
                    raise MetadataError(path, load_failure_reason(im, e)) from e
            try:
                meta = _describe(im, path, stat)
            except (OSError, SyntaxError, ValueError, TypeError, EOFError) as e:
                raise MetadataError(path, f"unreadable image header ({e})") from e
            try:
                digest = fp if fp is not None else _fingerprint_file(f, stat.st_size)
            except OSError as e:
                raise MetadataError(path, f"cannot read the file ({e})") from e
            yield dataclasses.replace(meta, fingerprint=digest), im


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


def _describe(im: Image.Image, path: Path | str, stat: os.stat_result) -> PhotoMeta:
    """PhotoMeta of an open image, fingerprint left blank."""
    exif = _safe_exif(im, path)
    width, height = _oriented_size(im, exif)
    # While the file is open: TIFF reads its EXIF sub-IFD lazily from it.
    when, offset, source = capture_time(exif, stat.st_mtime_ns, im, os.fspath(path))
    return PhotoMeta(
        path=os.fspath(path),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        fingerprint="",
        width=width,
        height=height,
        capture_time=when,
        capture_offset=offset,
        capture_source=source,
        camera_make=clean_text(exif.get(MAKE)),
        camera_model=clean_text(exif.get(MODEL)),
        format=im.format or "",
    )


def _safe_exif(im: Image.Image, path: Path | str) -> Image.Exif:
    """The photo's EXIF, or none when it is damaged: its pixels are still worth indexing."""
    try:
        return im.getexif()
    except Exception as e:  # Pillow raises a variety of errors on malformed EXIF
        log.debug("ignoring damaged EXIF in %s: %s", path, e)
        return Image.Exif()


def _oriented_size(im: Image.Image, exif: Image.Exif) -> tuple[int, int]:
    """(width, height) as displayed: swapped for EXIF orientations 5-8 (90° rotations).

    Pillow's TIFF plugin already reports the rotated size, and pillow-heif applies the rotation
    and resets the tag to 1, so for TIFF start from the stored ImageWidth/ImageLength tags.
    """
    width, height = im.size
    if im.format == "TIFF" and isinstance(exif.get(256), int) and isinstance(exif.get(257), int):
        width, height = exif[256], exif[257]
    if exif.get(ORIENTATION) in (5, 6, 7, 8):
        width, height = height, width
    return width, height


def capture_time(
    exif: Image.Exif, mtime_ns: int, im: Image.Image | None = None, name: str = ""
) -> tuple[datetime | None, str | None, str]:
    """(capture time as the source gives it, its UTC offset or None, source), in the order of
    the module docstring, falling back to the file time (None only when even that is out of
    range). `im` (the open photo) gives the XMP and IPTC; `name` names the file in log lines."""
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:  # a damaged sub-IFD must not lose the IFD0 dates
        sub = {}
    for source, date_tag, offset_tag, subsec_tag in DATE_TAGS[:2]:
        when = parse_exif_date(sub.get(date_tag), sub.get(subsec_tag))
        if when is not None:
            return when, parse_offset(sub.get(offset_tag)), source
    found = (xmp_date(xmp_packet(im), name), iptc_date(im, name)) if im is not None else ()
    for source, got in zip(("xmp", "iptc"), found, strict=True):
        if got is not None:
            return got[0], got[1], source
    fix = gps_date(exif)
    if fix is not None:
        return fix, "+00:00", "gps_utc"
    source, date_tag, offset_tag, subsec_tag = DATE_TAGS[2]
    when = parse_exif_date(exif.get(date_tag), sub.get(subsec_tag))
    if when is not None:
        return when, parse_offset(sub.get(offset_tag)), source
    try:
        local = datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
    except (OverflowError, OSError, ValueError):  # a nonsense mtime (year 30000, pre-1970)
        return None, None, "file_mtime"
    return local.replace(tzinfo=None), format_offset(local), "file_mtime"


def xmp_packet(im: Image.Image) -> bytes | str | None:
    """The raw XMP packet Pillow found in the file (JPEG APP1, PNG iTXt, WebP, TIFF tag 700)."""
    packet = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if not packet and im.format == "TIFF" and hasattr(im, "tag_v2"):
        packet = im.tag_v2.get(700)
    return packet if isinstance(packet, bytes | str) and packet else None


def xmp_date(packet: bytes | str | None, name: str = "") -> tuple[datetime, str | None] | None:
    """The best capture date of an XMP packet (`XMP_DATES`, as attributes or as elements) and
    its offset; None when it has none. Malformed XMP is logged and ignored."""
    if not packet:
        return None
    if b"<!ENTITY" in (packet if isinstance(packet, bytes) else packet.encode("utf-8", "replace")):
        log.info("%s: ignoring XMP that declares entities", name)  # XMP never does
        return None
    try:
        root = ET.fromstring(packet.strip(b"\x00 \t\r\n") if isinstance(packet, bytes) else packet)
    except (ET.ParseError, ValueError) as e:
        log.info("%s: ignoring malformed XMP (%s)", name, e)
        return None
    values: dict[str, str] = {}
    for node in root.iter():
        for key, value in node.attrib.items():
            values.setdefault(key, value)
        if isinstance(node.tag, str) and node.text and node.text.strip():
            values.setdefault(node.tag, node.text)
    for ns, local in XMP_DATES:
        got = parse_xmp_date(values.get(f"{{{ns}}}{local}"))
        if got is not None:
            return got
    return None


def parse_xmp_date(value: Any) -> tuple[datetime, str | None] | None:
    """ "2021-06-01T14:30:05.25+02:00" (and shorter: no fraction, no seconds, no offset, a date
    alone at midnight) to (datetime, offset); None for anything else, a year or month alone."""
    m = _XMP_DATE_RE.fullmatch(clean_text(value) or "")
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups()[:6])
    fraction, zone = m.group(7), m.group(8)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if year < 1800:
        return None
    try:
        when = datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None
    return when, "+00:00" if zone == "Z" else parse_offset(zone)


def iptc_date(im: Image.Image, name: str = "") -> tuple[datetime, str | None] | None:
    """IPTC DateCreated (2:55) + TimeCreated (2:60, midnight when absent) and its offset."""
    from PIL import IptcImagePlugin

    try:
        info = IptcImagePlugin.getiptcinfo(im)  # type: ignore[arg-type]
    except Exception as e:  # Pillow raises a variety of errors on malformed IPTC
        log.info("%s: ignoring damaged IPTC (%s)", name, e)
        return None
    if not info:
        return None
    date = _first_text(info.get((2, 55)))
    m = _IPTC_DATE_RE.fullmatch(date or "")
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    hour = minute = second = 0
    offset = None
    t = _IPTC_TIME_RE.fullmatch(_first_text(info.get((2, 60))) or "")
    if t:
        hour, minute, second = (int(g) for g in t.groups()[:3])
        offset = parse_offset(t.group(4))
    if year < 1800:
        return None
    try:
        return datetime(year, month, day, hour, minute, second), offset
    except ValueError:
        return None


def _first_text(value: Any) -> str | None:
    """An IPTC dataset's value (the first, where it is repeated) as text."""
    if isinstance(value, list):
        value = value[0] if value else None
    return clean_text(value)


def gps_date(exif: Image.Exif) -> datetime | None:
    """The UTC time of the GPS fix: GPSDateStamp ("2021:06:01") + GPSTimeStamp (h, m, s)."""
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception:  # a damaged GPS IFD is no date
        return None
    day = parse_exif_date(f"{clean_text(gps.get(GPS_DATE)) or ''} 00:00:00")
    stamp = gps.get(GPS_TIME)
    if day is None or not isinstance(stamp, tuple) or len(stamp) != 3:
        return None
    try:
        hour, minute, seconds = (float(v) for v in stamp)
        if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= seconds < 61):
            return None
        whole = int(seconds)
        return day.replace(
            hour=int(hour), minute=int(minute), second=min(whole, 59),
            microsecond=min(round((seconds - whole) * 1e6), 999_999) if whole < 60 else 0,
        )  # fmt: skip
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None


def parse_exif_date(value: Any, subsec: Any = None) -> datetime | None:
    """ "2021:05:06 07:08:09" (and common variants) to a datetime; None for blanks and garbage
    such as "0000:00:00 00:00:00"."""
    text = clean_text(value)
    if not text:
        return None
    m = _DATE_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups())
    if year < 1800:
        return None
    micro = 0
    digits = re.sub(r"\D", "", clean_text(subsec) or "")[:6]
    if digits:
        micro = int(digits.ljust(6, "0"))
    try:
        return datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None


def parse_offset(value: Any) -> str | None:
    """ "+02:00" from an EXIF OffsetTime* value; None when blank or malformed."""
    m = _OFFSET_RE.fullmatch(clean_text(value) or "")
    if not m or int(m.group(2)) > 14 or int(m.group(3)) > 59:
        return None
    return f"{m.group(1)}{m.group(2)}:{m.group(3)}"


def format_offset(when: datetime) -> str | None:
    delta = when.utcoffset()
    if delta is None:
        return None
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def clean_text(value: Any) -> str | None:
    """An EXIF string without NULs and padding; None when nothing is left."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", " ").strip()
    return text or None
