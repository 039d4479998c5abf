"""The time zone of a position (tzfpy: the timezone-boundary-builder polygons in its wheel, so no
network) and a capture time made local to where the photo was taken.

A camera's clock often records a wall-clock time without its offset, and a travelling phone's
GPS time or a video's container time is UTC: with the photo's position, `localise` gives both
the local wall-clock time and the offset that was in force there and then.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.photos.dates import format_offset, parse_offset

log = logging.getLogger(__name__)

# Capture sources whose time is an instant (it has a UTC offset, but the offset is not the one
# where the photo was taken: UTC, or the computer's zone for a file time): converted to the
# location's zone. Any other source's recorded offset is the camera's own and is kept.
INSTANT_SOURCES = frozenset({"gps_utc", "file_mtime", "video_container"})


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone at a position ("Europe/Lisbon"; "Etc/GMT+2" at sea); None for a
    position that is not one."""
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None
    import tzfpy  # its 5 MB of polygons load on the first position, not with every command

    try:
        name = tzfpy.get_tz(lon, lat)  # longitude first
    except (ValueError, RuntimeError) as e:
        log.debug("no time zone at %s, %s (%s)", lat, lon, e)
        return None
    return name or None


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:  # no tz database (Windows without tzdata)
        log.info("time zone %s is unknown to this system (%s)", name, e)
        return None


def localise(
    when: datetime | None,
    offset: str | None,
    source: str,
    lat: float | None,
    lon: float | None,
) -> tuple[datetime | None, str | None, bool]:
    """(local wall-clock time, its offset, whether the offset was derived from the position).

    - an instant (`INSTANT_SOURCES`, with its offset) becomes the wall-clock time at the
      position, with that zone's offset then (derived);
    - an offset the camera recorded is kept, time and all (not derived);
    - a wall-clock time without an offset keeps its wall-clock and gets the zone's offset at
      that moment (derived). At a DST change the first of two repeated times is taken (the
      offset before the clocks went back), and a time skipped when they went forward gets the
      offset from before the change.
    No time, no position or no zone: everything unchanged, not derived.
    """
    if when is None or lat is None or lon is None:
        return when, offset, False
    if offset is not None and source not in INSTANT_SOURCES:
        return when, offset, False
    name = zone_at(lat, lon)
    zone = _zone(name) if name else None
    if zone is None:
        return when, offset, False
    if offset is not None:
        recorded = _offset_delta(offset)
        if recorded is None:
            return when, offset, False
        try:
            local = when.replace(tzinfo=timezone(recorded)).astimezone(zone)
        except (OverflowError, ValueError):  # within hours of datetime's year 1 or 9999
            return when, offset, False
    else:
        local = when.replace(tzinfo=zone, fold=0)
    return local.replace(tzinfo=None, fold=0), format_offset(local), True


def _offset_delta(offset: str) -> timedelta | None:
    text = parse_offset(offset)
    if text is None:
        return None
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
