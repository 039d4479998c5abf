"""Where a photo was taken: the GPS position in its EXIF GPS IFD, its XMP, or (videos) an ISO 6709
string in the container's tags.

A position is kept only when it is plausible: a latitude and longitude in range, not the 0,0 that
cameras write before their first fix, not NaN. A rejected one is logged with its reason (INFO: the
file is fine, only its position is not used) and the photo is catalogued without a place.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from app.core.photos.dates import xmp_values

log = logging.getLogger(__name__)

GPS_IFD = 0x8825
LAT_REF, LAT, LON_REF, LON, GPS_STATUS = 1, 2, 3, 4, 9
EXIF_NS = "http://ns.adobe.com/exif/1.0/"
DJI_NS = "http://www.dji.com/drone-dji/1.0/"  # drones write decimal degrees here
# XMP "38,43.338N" (degrees, decimal minutes) or "38,43,20.28N" (degrees, minutes, seconds).
_XMP_DMS = re.compile(r"(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])", re.I)
_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:\.\d+)?")
# ISO 6709: ±lat ±lon [±altitude] [CRS...] [/], each part DD(D), DDMM(M) or DDMMSS(S) + fraction.
_ISO6709 = re.compile(
    r"([+-])(\d{2,6})(\.\d+)?([+-])(\d{3,7})(\.\d+)?(?:[+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?"
)


@dataclass(frozen=True)
class Position:
    """A point on the earth in decimal degrees (WGS 84): north and east positive."""

    lat: float
    lon: float


def valid_position(lat: float, lon: float) -> str | None:
    """Why (`lat`, `lon`) cannot be a photo's position, or None when it can."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "not a number"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"out of range ({lat:g}, {lon:g})"
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        return "0,0 (a placeholder written before the first GPS fix)"
    return None


def checked(lat: float, lon: float, name: str, where: str) -> Position | None:
    """Position(lat, lon) when valid; else None, with the reason logged."""
    reason = valid_position(lat, lon)
    if reason is not None:
        log.info("%s: ignoring the %s position: %s", name, where, reason)
        return None
    return Position(lat, lon)


def position_from_exif(exif: Image.Exif, name: str = "") -> Position | None:
    """The position in the EXIF GPS IFD (degrees, minutes, seconds as rationals and a N/S, E/W
    reference); None when there is none or it is rejected (the reason is logged)."""
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception as e:  # Pillow raises a variety of errors on a damaged IFD
        log.info("%s: ignoring a damaged GPS IFD (%s)", name, e)
        return None
    if not gps or (LAT not in gps and LON not in gps):
        return None
    if _text(gps.get(GPS_STATUS)) == "V":
        log.info("%s: ignoring the EXIF GPS position: the receiver marked it void", name)
        return None
    try:
        lat = _degrees(gps.get(LAT)) * _sign(gps.get(LAT_REF), "N", "S")
        lon = _degrees(gps.get(LON)) * _sign(gps.get(LON_REF), "E", "W")
    except ValueError as e:
        log.info("%s: ignoring the EXIF GPS position: malformed (%s)", name, e)
        return None
    return checked(lat, lon, name, "EXIF GPS")


def position_from_xmp(packet: bytes | str | None, name: str = "") -> Position | None:
    """exif:GPSLatitude/GPSLongitude of an XMP packet ("38,43.338N", "38,43,20.28N" or decimal
    degrees), else DJI's drone-dji:GpsLatitude/GpsLongitude; None when absent or rejected."""
    values = xmp_values(packet, name) or {}
    for ns, lat_key, lon_keys in (
        (EXIF_NS, "GPSLatitude", ("GPSLongitude",)),
        (DJI_NS, "GpsLatitude", ("GpsLongitude", "GpsLongtitude")),  # sic: older DJI firmware
    ):
        lat_text = values.get(f"{{{ns}}}{lat_key}")
        lon_text = next(
            (values[k] for k in (f"{{{ns}}}{key}" for key in lon_keys) if k in values), None
        )
        if lat_text is None and lon_text is None:
            continue
        try:
            lat = _xmp_coordinate(lat_text, "NS")
            lon = _xmp_coordinate(lon_text, "EW")
        except ValueError as e:
            log.info("%s: ignoring the XMP GPS position: malformed (%s)", name, e)
            return None
        return checked(lat, lon, name, "XMP GPS")
    return None


def position_from_iso6709(text: str | None, name: str = "") -> Position | None:
    """The position of an ISO 6709 string as videos carry it ("+38.7223-009.1393+010.000/",
    QuickTime's com.apple.quicktime.location.ISO6709 and MP4's "location"); None when absent,
    malformed or rejected."""
    if not text or not text.strip():
        return None
    m = _ISO6709.fullmatch(text.strip())
    if not m:
        log.info("%s: ignoring the video's location tag: malformed (%r)", name, text[:60])
        return None
    lat_sign, lat_int, lat_frac, lon_sign, lon_int, lon_frac = m.groups()
    try:
        lat = _iso_part(lat_int, lat_frac or "", 2) * (-1 if lat_sign == "-" else 1)
        lon = _iso_part(lon_int, lon_frac or "", 3) * (-1 if lon_sign == "-" else 1)
    except ValueError as e:
        log.info("%s: ignoring the video's location tag: malformed (%s)", name, e)
        return None
    return checked(lat, lon, name, "video location")


def position_from_tags(tags: Mapping[str, str], name: str = "") -> Position | None:
    """A video container's position: QuickTime's ISO 6709 key, else MP4's location tags."""
    for key in ("com.apple.quicktime.location.ISO6709", "location", "location-eng"):
        if tags.get(key):
            return position_from_iso6709(tags[key], name)
    return None


def _iso_part(whole: str, fraction: str, degree_digits: int) -> float:
    """ISO 6709 DD(D)[.d], DD(D)MM[.m] or DD(D)MMSS[.s] to decimal degrees."""
    extra = len(whole) - degree_digits
    if extra not in (0, 2, 4):
        raise ValueError(f"{len(whole)} digits before the point")
    degrees = float(whole[:degree_digits])
    if extra == 0:
        return degrees + float(fraction or "0")
    minutes = float(whole[degree_digits : degree_digits + 2])
    seconds = float(whole[degree_digits + 2 :] or "0")
    if extra == 2:
        minutes += float(fraction or "0")
    else:
        seconds += float(fraction or "0")
    if minutes >= 60 or seconds >= 60:
        raise ValueError("minutes or seconds of 60 or more")
    return degrees + minutes / 60 + seconds / 3600


def _degrees(value: Any) -> float:
    """EXIF GPS (degrees, minutes, seconds) rationals (some writers give one or two) to degrees."""
    if value is None:
        raise ValueError("no coordinate")
    parts = value if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"{len(parts)} values where 3 are expected")
    try:
        numbers = [float(p) for p in parts]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise ValueError(f"not numbers ({e})") from e
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        raise ValueError("NaN or a negative part")
    if any(n >= 60 for n in numbers[1:]):
        raise ValueError("minutes or seconds of 60 or more")
    return float(sum(n / 60.0**i for i, n in enumerate(numbers)))


def _sign(ref: Any, positive: str, negative: str) -> int:
    text = _text(ref)
    if text == positive:
        return 1
    if text == negative:
        return -1
    raise ValueError(f"hemisphere {text!r} is not {positive} or {negative}")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip().upper() or None


def _xmp_coordinate(text: str | None, hemispheres: str) -> float:
    if text is None:
        raise ValueError("only one coordinate")
    text = text.strip()
    m = _XMP_DMS.fullmatch(text)
    if m:
        degrees, minutes, seconds, ref = m.groups()
        if ref.upper() not in hemispheres:
            raise ValueError(f"hemisphere {ref!r} in {text!r}")
        value = _degrees((float(degrees), float(minutes), float(seconds or 0)))
        return -value if ref.upper() == hemispheres[1] else value
    if _DECIMAL.fullmatch(text):
        return float(text)
    raise ValueError(f"{text[:40]!r} is not a coordinate")
