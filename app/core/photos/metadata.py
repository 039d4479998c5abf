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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from app.core.errors import UserError
from app.core.photos.dates import capture_time, clean_text, xmp_packet
from app.core.photos.formats import (
    bomb_reason,
    codec_messages,
    ensure_plugins,
    load_failure_reason,
    load_fully,
    open_failure_reason,
    shape_problem,
)
from app.core.photos.location import position_from_exif, position_from_xmp

log = logging.getLogger(__name__)

FINGERPRINT_CHUNK = 64 * 1024

ORIENTATION = 0x0112
MAKE, MODEL = 0x010F, 0x0110


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
    kind: str = "photo"  # "photo" | "video"
    duration_ms: int | None = None  # videos only
    lat: float | None = None  # GPS position (photos.location), decimal degrees
    lon: float | None = None

    @property
    def year(self) -> int | None:
        return self.capture_time.year if self.capture_time else None

    @property
    def month(self) -> int | None:
        return self.capture_time.month if self.capture_time else None


def fingerprint(path: Path | str, size: int) -> str:
    """A content fingerprint from the size and the first, middle and last 64 KiB.

    Reads at most 192 KiB whatever the file's size, so recognising a moved or renamed photo
    costs three small reads instead of a full hash. A photo's head holds its EXIF (time, camera,
    maker notes) and its tail the last compressed scan, so two different photos of the same size
    agreeing on all three windows is not a practical risk; the middle window catches in-place
    edits of uncompressed formats that keep the size. Files up to 192 KiB are hashed whole.
    """
    with open(path, "rb") as f:
        return fingerprint_file(f, size)


def fingerprint_file(f: BinaryIO, size: int) -> str:
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
                meta = describe(im, path, stat)
            except (OSError, SyntaxError, ValueError, TypeError, EOFError) as e:
                raise MetadataError(path, f"unreadable image header ({e})") from e
            try:
                digest = fp if fp is not None else fingerprint_file(f, stat.st_size)
            except OSError as e:
                raise MetadataError(path, f"cannot read the file ({e})") from e
            yield dataclasses.replace(meta, fingerprint=digest), im


def describe(im: Image.Image, path: Path | str, stat: os.stat_result) -> PhotoMeta:
    """PhotoMeta of an open image, fingerprint left blank."""
    exif = _safe_exif(im, path)
    width, height = _oriented_size(im, exif)
    # While the file is open: TIFF reads its EXIF sub-IFD lazily from it.
    when, offset, source = capture_time(exif, stat.st_mtime_ns, im, os.fspath(path))
    where = position_from_exif(exif, os.fspath(path)) or position_from_xmp(
        xmp_packet(im), os.fspath(path)
    )
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
        lat=where.lat if where else None,
        lon=where.lon if where else None,
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
