"""Where photos were taken: their GPS positions and gazetteer places (a base of `Catalog`).

A place is stored as three columns (`place_country` an ISO code, `place_region`, `place_city`),
filled by the pipeline from the gazetteer. `facts_stamp` changes whenever header facts (places,
dates) change without the vectors changing, so a search's cached filter sets can tell.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from app.core.catalog.connection import Database
from app.core.catalog.records import (
    HEADER_VERSION,
    INDEXED,
    PENDING,
    SKIPPED,
    PlaceFilter,
    Whereabouts,
    from_db_path,
)
from app.core.catalog.vectors import chunks, marks

if TYPE_CHECKING:
    from app.core.photos.metadata import PhotoMeta

FACTS_KEY = "facts"  # meta: bumped when places or dates change outside a vector write
GAZETTEER_KEY = "gazetteer"  # meta: the gazetteer the stored places came from
KM_PER_DEGREE = 111.195  # of latitude (the mean Earth radius, 6371 km)


class PlaceRow(NamedTuple):
    """One place present in the library: its codes and names, how many photos and videos were
    taken there, and the newest of them (the cover)."""

    country: str
    region: str | None
    city: str | None
    total: int  # photos and videos
    cover_id: int


class PlaceStore:
    """Place methods; `Catalog` supplies `db` (and `companions`, from the moments base)."""

    db: Database
    # The last `places()` per browse mode, keyed like `companions` (this connection's writes
    # and others' commits): the window's filter, the Places view and a typed place all ask.
    _places: dict[bool, tuple[tuple[int, int, int], list[PlaceRow]]] | None = None
    _places_lock = threading.Lock()

    if TYPE_CHECKING:

        def companions(self) -> dict[int, int]: ...

    def places(self, *, pending: bool = False) -> list[PlaceRow]:
        """Every (country, region, city) with its item count and newest item, by country,
        region, city; Live Photos' clips are not counted (as in `years`)."""
        conn = self.db.conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        key = (id(conn), int(version), conn.total_changes)
        with self._places_lock:
            cached = (self._places or {}).get(pending)
        if cached is not None and cached[0] == key:
            return list(cached[1])
        states = (INDEXED, PENDING) if pending else (INDEXED,)
        rows = conn.execute(
            "SELECT place_country, place_region, place_city, COUNT(*), "
            "MAX(COALESCE(capture_time, '') || printf('%020d', id)) FROM photos "
            f"WHERE state IN ({marks(len(states))}) AND place_country IS NOT NULL "
            "AND id NOT IN (SELECT value FROM json_each(?)) "
            "GROUP BY place_country, place_region, place_city "
            "ORDER BY place_country, place_region, place_city",
            (*states, json.dumps(list(self.companions()))),
        )
        found = [PlaceRow(c, r, t, int(n), int(newest[-20:])) for c, r, t, n, newest in rows]
        with self._places_lock:
            self._places = {**(self._places or {}), pending: (key, found)}
        return list(found)

    @staticmethod
    def place_clause(place: PlaceFilter) -> tuple[str, list[object]]:
        """SQL (on `photos`) matching the fields `place` gives, exactly; for `near`, the photos
        of the country within its distance (equirectangular: exact to metres at city scale)."""
        where: list[str] = ["place_country = ?"]
        args: list[object] = [place.country]
        if place.near is not None:
            lat, lon, km = place.near
            degrees = km / KM_PER_DEGREE
            squeeze = math.cos(math.radians(lat)) ** 2
            where.append(
                "lat BETWEEN ? AND ? AND (lat - ?) * (lat - ?) + (lon - ?) * (lon - ?) * ? <= ?"
            )
            args += [lat - degrees, lat + degrees, lat, lat, lon, lon, squeeze, degrees**2]
            return " AND ".join(where), args
        if place.region is not None:
            where.append("place_region = ?")
            args.append(place.region)
        if place.city is not None:
            where.append("place_city = ?")
            args.append(place.city)
        return " AND ".join(where), list(args)

    def count_place(self, place: PlaceFilter, *, pending: bool = False) -> int:
        """How many items (Live Photos' clips aside) pass `place`."""
        clause, args = self.place_clause(place)
        states = (INDEXED, PENDING) if pending else (INDEXED,)
        sql = (
            f"SELECT COUNT(*) FROM photos WHERE state IN ({marks(len(states))}) AND {clause} "
            "AND id NOT IN (SELECT value FROM json_each(?))"
        )
        clips = json.dumps(list(self.companions()))
        return int(self.db.conn.execute(sql, [*states, *args, clips]).fetchone()[0])

    # -- header facts ------------------------------------------------------------------------

    def facts_stamp(self) -> int:
        """Changes whenever places or dates change without a vector write (see module notes)."""
        row = self.db.conn.execute("SELECT value FROM meta WHERE key = ?", (FACTS_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def _bump_facts(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 1) "
            "ON CONFLICT(key) DO UPDATE SET value = value + 1",
            (FACTS_KEY,),
        )

    def stale_headers(self, folder_id: int) -> dict[str, int]:
        """path -> id of the folder's files (not skipped) read before the current header facts
        existed (`header_version` < HEADER_VERSION): a rescan reads their headers again."""
        rows = self.db.conn.execute(
            "SELECT path, id FROM photos WHERE folder_id = ? AND header_version < ? AND state != ?",
            (int(folder_id), HEADER_VERSION, SKIPPED),
        )
        return {from_db_path(p): int(i) for p, i in rows}

    def refresh_headers(self, items: Sequence[tuple[int, PhotoMeta, Whereabouts]]) -> None:
        """Store header facts read again from unchanged files: capture time, position, place,
        derived offset. State, vectors and everything else stay as they are."""
        if not items:
            return
        with self.db.transaction() as conn:
            for pid, m, where in items:
                when = m.capture_time.isoformat() if m.capture_time else None
                conn.execute(
                    "UPDATE photos SET capture_time = ?, capture_offset = ?, capture_source = ?, "
                    "year = ?, month = ?, lat = ?, lon = ?, place_country = ?, "
                    "place_region = ?, place_city = ?, offset_derived = ?, header_version = ? "
                    "WHERE id = ?",
                    (
                        when,
                        m.capture_offset,
                        m.capture_source,
                        m.year,
                        m.month,
                        m.lat,
                        m.lon,
                        where.country,
                        where.region,
                        where.city,
                        int(where.offset_derived),
                        HEADER_VERSION,
                        int(pid),
                    ),
                )
            self._bump_facts(conn)

    # -- re-geocoding ------------------------------------------------------------------------

    def gazetteer_version(self) -> str | None:
        """The gazetteer the stored places came from (None: not recorded yet)."""
        row = self.db.conn.execute(
            "SELECT value FROM meta WHERE key = ?", (GAZETTEER_KEY,)
        ).fetchone()
        return None if row is None else str(row[0])

    def positions(self, after_id: int = 0, limit: int = 50_000) -> list[tuple[int, float, float]]:
        """(id, lat, lon) of items with a position, by id, from after `after_id` (batches)."""
        rows = self.db.conn.execute(
            "SELECT id, lat, lon FROM photos WHERE id > ? AND lat IS NOT NULL "
            "AND lon IS NOT NULL ORDER BY id LIMIT ?",
            (int(after_id), int(limit)),
        )
        return [(int(i), float(a), float(o)) for i, a, o in rows]

    def set_places(self, rows: Sequence[tuple[int, Whereabouts]]) -> None:
        """Store places found again (a newer gazetteer); the derived offsets stay."""
        with self.db.transaction() as conn:
            for part in chunks(range(len(rows))):
                conn.executemany(
                    "UPDATE photos SET place_country = ?, place_region = ?, place_city = ? "
                    "WHERE id = ?",
                    [
                        (rows[i][1].country, rows[i][1].region, rows[i][1].city, rows[i][0])
                        for i in part
                    ],
                )
            self._bump_facts(conn)

    def set_gazetteer_version(self, version: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (GAZETTEER_KEY, version),
            )
