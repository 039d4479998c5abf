"""The records the catalog hands out: folders, photos, and the per-file state a rescan compares."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from app.core.errors import UserError
from app.core.index.labels import MOMENT_BASE as MOMENT_BASE  # the index labels, re-exported
from app.core.index.labels import is_moment as is_moment
from app.core.index.labels import moment_label as moment_label

INDEXED = "indexed"
SKIPPED = "skipped"
PENDING = "pending"
STATES = (INDEXED, SKIPPED, PENDING)

# Where a photo's capture time came from, best first (see app/core/photos/dates.py). "file_mtime" is
# a guess: the file's modification time, for a photo or video that records no capture date.
# Videos: "video_container" (QuickTime/MP4 creation_time, Matroska DATE), "video_apple"
# (com.apple.quicktime.creationdate, with its offset).
CAPTURE_SOURCES = (
    "exif_original",
    "exif_digitized",
    "xmp",
    "iptc",
    "gps_utc",
    "exif_datetime",
    "file_mtime",
    "video_container",
    "video_apple",
)
GUESSED_SOURCES = frozenset({"file_mtime"})


KINDS = ("photo", "video")

# Which header facts a row was read with (photos.header_version): 1 = the GPS position, and the
# place and derived offset that follow from it (schema 6). A rescan re-reads the headers of
# unchanged files below it (no pixels, no vectors) so an existing library gains the new facts.
HEADER_VERSION = 1


class CatalogError(UserError):
    """The catalog file is unreadable, foreign or from a newer PhotoSeek; the message says what to do."""


class FolderError(UserError):
    """A folder cannot be added or found (missing, not a folder, overlaps one already added)."""


@dataclass(frozen=True)
class Folder:
    """A watched folder. `available` is False while its drive is unplugged or unmounted."""

    id: int
    path: str
    available: bool
    photo_count: int
    added_at: datetime
    last_scan: datetime | None


@dataclass(frozen=True)
class Photo:
    """One catalogued file. `capture_time` is the local wall-clock time the photo was taken
    (naive); `capture_offset` ("+02:00") is its UTC offset when the camera recorded one."""

    id: int
    path: str
    folder_id: int
    size: int
    mtime_ns: int
    width: int | None
    height: int | None
    capture_time: datetime | None
    capture_offset: str | None
    capture_source: str | None
    year: int | None
    month: int | None
    camera_make: str | None
    camera_model: str | None
    state: str
    skip_reason: str | None
    fingerprint: str | None = None
    indexed_at: datetime | None = None
    kind: str = "photo"
    duration_ms: int | None = None
    lat: float | None = None  # WGS84 degrees of its GPS fix
    lon: float | None = None
    place_country: str | None = None  # ISO code of the nearest gazetteer place ("PT")
    place_region: str | None = None
    place_city: str | None = None
    offset_derived: bool = False  # capture_offset comes from the location's time zone

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    @property
    def camera(self) -> str | None:
        """ "Canon EOS R5" rather than "Canon Canon EOS R5": the model often repeats the make."""
        make, model = self.camera_make, self.camera_model
        if make and model:
            return model if model.lower().startswith(make.split()[0].lower()) else f"{make} {model}"
        return model or make


@dataclass(frozen=True)
class PlaceFilter:
    """A place to filter by: a country (ISO code, "PT"), optionally one region of it and one
    city; exact on the fields given (a city without a region matches it in any region).
    `near` (lat, lon, km): instead of the region and city, every photo of the country within
    km of that point, for a big city whose photos the gazetteer places in its neighbourhoods
    ("Barcelona": el Raval, Eixample)."""

    country: str
    region: str | None = None
    city: str | None = None
    near: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Whereabouts:
    """What the pipeline derived from a photo's position, as the catalog stores it: its
    gazetteer place (codes and names; None where it has no GPS or lies far from any place) and
    whether its UTC offset came from the location's time zone."""

    country: str | None = None
    region: str | None = None
    city: str | None = None
    offset_derived: bool = False


NOWHERE = Whereabouts()


class FileState(NamedTuple):
    """What the catalog knows about one file, for a rescan that compares without reading it."""

    size: int
    mtime_ns: int
    fingerprint: str | None
    photo_id: int
    state: str


PHOTO_COLUMNS = (
    "id, path, folder_id, size, mtime_ns, width, height, capture_time, capture_offset, "
    "capture_source, year, month, camera_make, camera_model, state, skip_reason, fingerprint, "
    "indexed_at, kind, duration_ms, lat, lon, place_country, place_region, place_city, "
    "offset_derived"
)


def photo_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Photo:
    """A `Photo` from a row selected with `PHOTO_COLUMNS`."""
    (
        pid,
        path,
        folder_id,
        size,
        mtime_ns,
        width,
        height,
        ctime,
        offset,
        source,
        year,
        month,
        make,
        model,
        state,
        reason,
        fp,
        indexed_at,
        kind,
        duration_ms,
        lat,
        lon,
        country,
        region,
        city,
        derived,
    ) = row
    return Photo(
        id=pid,
        path=from_db_path(path),
        folder_id=folder_id,
        size=size,
        mtime_ns=mtime_ns,
        width=width,
        height=height,
        capture_time=datetime.fromisoformat(ctime) if ctime else None,
        capture_offset=offset,
        capture_source=source,
        year=year,
        month=month,
        camera_make=make,
        camera_model=model,
        state=state,
        skip_reason=reason,
        fingerprint=fp,
        indexed_at=from_epoch(indexed_at),
        kind=kind,
        duration_ms=duration_ms,
        lat=lat,
        lon=lon,
        place_country=country,
        place_region=region,
        place_city=city,
        offset_derived=bool(derived),
    )


def place_of(photo: Photo) -> PlaceFilter | None:
    """The place a photo was taken in, as a filter that finds it (None: no place known)."""
    if photo.place_country is None:
        return None
    return PlaceFilter(photo.place_country, photo.place_region, photo.place_city)


def db_path(path: str | os.PathLike[str]) -> str | bytes:
    """A path as the catalog stores it: text, or its raw bytes (a BLOB) when the name is not
    valid UTF-8 (surrogate escapes from another system's drive), which SQLite cannot bind as text.
    Reversible, so such a file is found, moved and deleted like any other."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def from_db_path(value: str | bytes) -> str:
    """The path a catalog value stands for (see `db_path`)."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def from_epoch(seconds: float | None) -> datetime | None:
    """A UTC datetime from the epoch seconds we store, or None."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc)
