"""The clip inside a motion photo (Google/Samsung Motion Photo, Pixel "MVIMG"): an MP4 appended
to the JPEG or HEIC, found through the photo's XMP.

`Camera:MotionPhoto="1"` with a `Container:Directory` whose MotionPhoto item's `Item:Length` is
the MP4's size at the end of the file, or the older `GCamera:MicroVideo="1"` with
`GCamera:MicroVideoOffset` (bytes from the end). The clip is read into memory (capped): nothing
is ever written beside the user's photo. A clip that is not there is None, its reason at debug.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from app.core.photos.dates import xmp_packet
from app.core.photos.formats import ensure_plugins

log = logging.getLogger(__name__)

CAMERA = "http://ns.google.com/photos/1.0/camera/"  # Camera: and GCamera: alike
ITEM = "http://ns.google.com/photos/1.0/container/item/"
MAX_CLIP_BYTES = 64 << 20  # a phone's clip is a few MB; anything larger is not one


def clip_span(packet: bytes | str | None, size: int, name: str = "") -> tuple[int, int] | None:
    """(offset, length) of the MP4 in a file of `size` bytes whose XMP is `packet`; None when
    the XMP declares no clip or one that cannot fit in the file."""
    attrs = _attributes(packet, name)
    if not attrs:
        return None
    length: int | None = None
    if attrs.get(f"{{{CAMERA}}}MotionPhoto") == "1":
        length = attrs.get("video_length")  # type: ignore[assignment]
    if length is None and attrs.get(f"{{{CAMERA}}}MicroVideo") == "1":
        length = _int(attrs.get(f"{{{CAMERA}}}MicroVideoOffset"))
    if length is None:
        return None
    if not 0 < length <= size or length > MAX_CLIP_BYTES:
        log.debug(
            "%s: motion photo clip of %s bytes does not fit a %d-byte file", name, length, size
        )
        return None
    return size - length, length


def read_clip(
    path: Path | str, packet: bytes | str | None, size: int | None = None
) -> bytes | None:
    """The MP4 bytes inside the photo at `path` (its XMP `packet`), or None: no clip declared,
    an offset past the file, or bytes that do not start with an MP4 `ftyp` box."""
    name = os.fspath(path)
    try:
        size = os.stat(path).st_size if size is None else size
        span = clip_span(packet, size, name)
        if span is None:
            return None
        with open(path, "rb") as f:
            f.seek(span[0])
            data = f.read(span[1])
    except OSError as e:
        log.debug("%s: motion photo clip unreadable (%s)", name, e)
        return None
    if len(data) < 12 or data[4:8] != b"ftyp":
        log.debug("%s: the motion photo's clip is not an MP4", name)
        return None
    return data


def clip_of(path: Path | str) -> bytes | None:
    """The MP4 inside the photo at `path` (its XMP read from the header), or None."""
    return read_clip(path, xmp_of(path))


def xmp_of(path: Path | str) -> bytes | str | None:
    """The XMP packet of the photo at `path` (its header only); None when unreadable."""
    try:
        with Image.open(path, formats=ensure_plugins()) as im:
            return xmp_packet(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        log.debug("%s: no XMP read (%s)", path, e)
        return None


def _attributes(packet: bytes | str | None, name: str) -> dict[str, object]:
    """Every attribute of the XMP, first one wins, and the MotionPhoto item's length under
    "video_length". Malformed XMP gives {}."""
    if not packet:
        return {}
    raw = packet if isinstance(packet, bytes) else packet.encode("utf-8", "replace")
    if b"<!ENTITY" in raw or (b"MotionPhoto" not in raw and b"MicroVideo" not in raw):
        return {}
    try:
        root = ET.fromstring(raw.strip(b"\x00 \t\r\n"))
    except (ET.ParseError, ValueError) as e:
        log.debug("%s: malformed XMP, no motion photo clip (%s)", name, e)
        return {}
    out: dict[str, object] = {}
    for node in root.iter():
        for key, value in node.attrib.items():
            out.setdefault(key, value)
        if isinstance(node.tag, str) and node.text and node.text.strip():
            out.setdefault(node.tag, node.text.strip())
        semantic = node.attrib.get(f"{{{ITEM}}}Semantic")
        if semantic is None:
            child = node.find(f"{{{ITEM}}}Semantic")
            semantic = child.text if child is not None else None
        if semantic == "MotionPhoto":
            length = node.attrib.get(f"{{{ITEM}}}Length")
            if length is None:
                child = node.find(f"{{{ITEM}}}Length")
                length = child.text if child is not None else None
            got = _int(length)
            if got is not None:
                out.setdefault("video_length", got)
    return out


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
