"""When a photo was taken, from its header: EXIF, XMP, IPTC and the GPS time, in the order the
metadata module's docstring gives, with the file's time as the last resort."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
DATETIME = 0x0132
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


def xmp_values(packet: bytes | str | None, name: str = "") -> dict[str, str] | None:
    """Every attribute and element text of an XMP packet by its qualified name ("{ns}local"),
    the first wins; None for no packet, one that declares entities (XMP never does) or
    malformed XML, which is logged and ignored."""
    if not packet:
        return None
    if b"<!ENTITY" in (packet if isinstance(packet, bytes) else packet.encode("utf-8", "replace")):
        log.info("%s: ignoring XMP that declares entities", name)
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
    return values


def xmp_date(packet: bytes | str | None, name: str = "") -> tuple[datetime, str | None] | None:
    """The best capture date of an XMP packet (`XMP_DATES`, as attributes or as elements) and
    its offset; None when it has none. Malformed XMP is logged and ignored."""
    values = xmp_values(packet, name)
    if values is None:
        return None
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
