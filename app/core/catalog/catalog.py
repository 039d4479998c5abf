"""The catalog: PhotoSeek's source of truth for folders, photos and embeddings, in one SQLite file.

Threads: every thread gets its own connection (see `connection`), so the indexer can write from a
worker while the UI or CLI reads. Every method is atomic on its own; `with catalog.transaction():`
groups several into one commit (one indexer batch: photos + embeddings + generation bump).
Layers: `vectors` (vectors, generations) < `moments` (videos' moments) < `folders` (folders) <
`Catalog` (photos and videos); `schema` holds the migrations, `records` the records. Over 400
lines because the item reads and writes share their SQL helpers and belong together.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.connection import Database, connect
from app.core.catalog.folders import FolderMixin
from app.core.catalog.likeness import LikenessStore
from app.core.catalog.places import PlaceStore
from app.core.catalog.records import (
    HEADER_VERSION,
    INDEXED,
    KINDS,
    MOMENT_BASE,
    PENDING,
    PHOTO_COLUMNS,
    SKIPPED,
    CatalogError,
    FileState,
    Folder,
    FolderError,
    Photo,
    PlaceFilter,
    Whereabouts,
    db_path,
    from_db_path,
    photo_from_row,
)
from app.core.catalog.schema import MIGRATIONS, Migration, check_file, migrate, remove_leftovers
from app.core.catalog.vectors import as_int_list, chunks, marks
from app.core.paths import folder_prefix

if TYPE_CHECKING:
    from app.core.photos.metadata import PhotoMeta

__all__ = [
    "Catalog",
    "CatalogError",
    "FileState",
    "Folder",
    "FolderError",
    "Photo",
]

log = logging.getLogger(__name__)


class Catalog(FolderMixin, PlaceStore, LikenessStore):
    """Open (creating or migrating) the catalog at `path`. `clock` returns epoch seconds."""

    def __init__(
        self,
        path: Path | str,
        *,
        migrations: Sequence[Migration] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        first = connect(self.path)
        try:
            check_file(first, self.path)
            try:
                first.execute("PRAGMA journal_mode = WAL")
            except sqlite3.DatabaseError as e:
                raise CatalogError(f"Cannot use the catalog {self.path} ({e}).") from e
            self.schema_version = migrate(first, self.path, migrations or MIGRATIONS)
            remove_leftovers(first)
        except BaseException:
            first.close()
            raise
        handed = [first]  # the constructing thread keeps the connection that migrated

        def factory() -> sqlite3.Connection:
            return handed.pop() if handed else connect(self.path)

        self.db = Database(self.path, factory)
        self.db.conn  # noqa: B018 - binds `first` to this thread

    # -- lifecycle -----------------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """Group writes into one atomic commit; nests (inner blocks become savepoints)."""
        return self.db.transaction()

    def close(self) -> None:
        """Close all connections. Stop threads that use the catalog first."""
        try:
            self.db.conn.execute("PRAGMA analysis_limit = 1000")
            self.db.conn.execute("PRAGMA optimize")
        except (sqlite3.Error, RuntimeError) as e:
            log.debug("PRAGMA optimize skipped: %s", e)
        self.db.close_all()

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the main file (passive: never blocks readers), so
        losing the -wal file loses nothing committed before this call."""
        try:
            self.db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as e:  # busy or read-only: the data is safe in the WAL anyway
            log.debug("checkpoint skipped: %s", e)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- photos: reads -------------------------------------------------------------------------

    def photos(self, ids: Sequence[int] | np.ndarray) -> list[Photo]:
        """The photos with these ids, in the order given; unknown ids are left out."""
        wanted = as_int_list(ids)
        found: dict[int, Photo] = {}
        with self.db.snapshot() as conn:
            for part in chunks(list(dict.fromkeys(wanted))):
                sql = f"SELECT {PHOTO_COLUMNS} FROM photos WHERE id IN ({marks(len(part))})"
                for row in conn.execute(sql, part):
                    found[row[0]] = photo_from_row(row)
        return [found[i] for i in wanted if i in found]

    def photo(self, photo_id: int) -> Photo | None:
        got = self.photos([photo_id])
        return got[0] if got else None

    def photo_by_path(self, path: Path | str) -> Photo | None:
        row = self.db.conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE path = ?", (db_path(path),)
        ).fetchone()
        return None if row is None else photo_from_row(row)

    def find_by_fingerprint(self, fp: str) -> list[Photo]:
        rows = self.db.conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE fingerprint = ? ORDER BY id", (fp,)
        )
        return [photo_from_row(r) for r in rows]

    def filter_ids(
        self,
        year: int | None = None,
        month: int | None = None,
        folder: int | Path | str | None = None,
        *,
        pending: bool = False,
        kind: str | None = None,
        place: PlaceFilter | None = None,
    ) -> np.ndarray:
        """Item labels (int64, ascending) passing every given filter: ids of indexed photos and
        videos, then the moment labels of those items (a motion photo's clip too). `month`
        alone means that month in every year; `folder` is a folder id or any path (items under it); `kind` "photo" or "video"
        (None: both); `place` exact on the fields it gives. `pending`: also items catalogued but not encoded (browsing before a model
        exists)."""
        where: list[str] = [_states_sql(pending)]
        args: list[object] = list(_states(pending))
        if year is not None:
            where.append("year = ?")
            args.append(int(year))
        if month is not None:
            where.append("month = ?")
            args.append(int(month))
        if folder is not None:
            clause, extra = self._folder_clause(folder)
            where.append(clause)
            args.extend(extra)
        if kind is not None:
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
            where.append("kind = ?")
            args.append(kind)
        if place is not None:
            clause, extra = self.place_clause(place)
            where.append(clause)
            args.extend(extra)
        cond = " AND ".join(where)
        conn = self.db.conn
        rows = conn.execute(f"SELECT id FROM photos WHERE {cond} ORDER BY id", args).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        moments = conn.execute(  # videos' moments and motion photos' clips
            f"SELECT m.id FROM moments m WHERE m.photo_id IN "
            f"(SELECT id FROM photos WHERE {cond}) ORDER BY m.id",
            args,
        ).fetchall()
        labels = np.fromiter((r[0] for r in moments), dtype=np.int64, count=len(moments))
        return np.concatenate([ids, labels + MOMENT_BASE]) if len(labels) else ids

    def _folder_clause(self, folder: int | Path | str) -> tuple[str, list[object]]:
        if isinstance(folder, (int, np.integer)):
            return "folder_id = ?", [int(folder)]
        known = self.folder(folder)
        if known is not None:
            return "folder_id = ?", [known.id]
        # A sub-folder, spelled as photo paths are stored (links not resolved): a range on the
        # unique path index, "/a/b/" <= path < "/a/b0".
        prefix = folder_prefix(os.path.abspath(os.path.expanduser(folder)))
        raw = os.fsencode(prefix)  # paths that are not UTF-8 are stored as bytes (`db_path`)
        blobs = "(typeof(path) = 'blob' AND substr(path, 1, ?) = ?)"
        if isinstance(db_path(prefix), bytes):
            return blobs, [len(raw), raw]
        end = prefix[:-1] + chr(ord(os.sep) + 1)
        return f"((path >= ? AND path < ?) OR {blobs})", [prefix, end, len(raw), raw]

    def newest_first(self, ids: np.ndarray | None = None, *, pending: bool = False) -> np.ndarray:
        """Indexed photo ids by capture time, newest first (undated last, then by id, newest
        first); only those in `ids` when given. Reads ids off the capture-time index."""
        rows = self.db.conn.execute(
            f"SELECT id FROM photos WHERE {_states_sql(pending)} "
            "ORDER BY capture_time DESC, id DESC",  # NULLs sort last in DESC order
            _states(pending),
        ).fetchall()
        ordered = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if ids is None:
            return ordered
        return ordered[np.isin(ordered, np.asarray(ids, dtype=np.int64))]

    def years(self, *, pending: bool = False) -> list[tuple[int, int]]:
        """(year, indexed photo count), newest first; Live Photos' clips are not counted."""
        rows = self.db.conn.execute(
            f"SELECT year, COUNT(*) FROM photos WHERE {_states_sql(pending)} AND {_NOT_CLIP} "
            "AND year IS NOT NULL GROUP BY year ORDER BY year DESC",
            (*_states(pending), json.dumps(list(self.companions()))),
        )
        return [(int(y), int(n)) for y, n in rows]

    def months(self, year: int | None = None, *, pending: bool = False) -> list[tuple[int, int]]:
        """(month, indexed photo count) in `year`, or across all years; January first."""
        sql = f"SELECT month, COUNT(*) FROM photos WHERE {_states_sql(pending)} "
        sql += f"AND {_NOT_CLIP} AND month IS NOT NULL"
        args: list[object] = [*_states(pending), json.dumps(list(self.companions()))]
        if year is not None:
            sql += " AND year = ?"
            args.append(int(year))
        rows = self.db.conn.execute(sql + " GROUP BY month ORDER BY month", args)
        return [(int(m), int(n)) for m, n in rows]

    def counts(self) -> dict[str, int]:
        """folders, photos, and photos per state (indexed, skipped, pending)."""
        conn = self.db.conn
        out = {"folders": conn.execute("SELECT COUNT(*) FROM folders").fetchone()[0]}
        out.update({INDEXED: 0, SKIPPED: 0, PENDING: 0})
        out.update(dict(conn.execute("SELECT state, COUNT(*) FROM photos GROUP BY state")))
        out["photos"] = out[INDEXED] + out[SKIPPED] + out[PENDING]
        return out

    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every skipped file, by path."""
        rows = self.db.conn.execute(
            "SELECT path, skip_reason FROM photos WHERE state = ? ORDER BY path", (SKIPPED,)
        )
        return [(from_db_path(p), r or "") for p, r in rows]

    def skipped_photos(self) -> list[Photo]:
        """Skipped files as `Photo`s (`skip_reason`; `indexed_at` is when it was skipped)."""
        rows = self.db.conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE state = ? ORDER BY path", (SKIPPED,)
        )
        return [photo_from_row(r) for r in rows]

    def partly_indexed_videos(self) -> list[Photo]:
        """Videos indexed only in part, with why (`skip_reason` of an indexed video), by path."""
        rows = self.db.conn.execute(
            f"SELECT {PHOTO_COLUMNS} FROM photos WHERE state = ? AND kind = 'video' "
            "AND skip_reason IS NOT NULL ORDER BY path",
            (INDEXED,),
        )
        return [photo_from_row(r) for r in rows]

    def note_partial(self, photo_id: int, note: str | None) -> None:
        """Record why a sampled video was indexed only in part (None: it was indexed whole)."""
        with self.transaction() as conn:
            conn.execute("UPDATE photos SET skip_reason = ? WHERE id = ?", (note, photo_id))

    def unembedded(self, model_id: str, folder_id: int | None = None) -> list[Photo]:
        """Photos not skipped that lack a vector for `model_id` (interrupted or new model)."""
        sql = (
            f"SELECT {PHOTO_COLUMNS} FROM photos p WHERE state != ? AND NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.photo_id = p.id AND e.model_id = ?)"
        )
        args: list[object] = [SKIPPED, model_id]
        if folder_id is not None:
            sql += " AND folder_id = ?"
            args.append(int(folder_id))
        return [photo_from_row(r) for r in self.db.conn.execute(sql + " ORDER BY id", args)]

    def folder_files(self, folder_id: int) -> dict[str, FileState]:
        """path -> FileState of every file catalogued under the folder (for rescans)."""
        rows = self.db.conn.execute(
            "SELECT path, size, mtime_ns, fingerprint, id, state FROM photos WHERE folder_id = ?",
            (int(folder_id),),
        )
        return {from_db_path(r[0]): FileState(r[1], r[2], r[3], r[4], r[5]) for r in rows}

    # -- photos: writes ------------------------------------------------------------------------

    def upsert_photos(
        self, metas: Sequence[PhotoMeta], where: Sequence[Whereabouts] | None = None
    ) -> list[int]:
        """Insert or update photos by path, with the place and derived offset the pipeline
        found for each (`where`, in the same order; None: no place); returns their ids in order.

        A photo whose fingerprint changed loses its vectors and becomes 'pending'; one whose
        content is unchanged (only touched) keeps its vectors and state.
        """
        ids: list[int] = []
        places = list(where) if where is not None else [Whereabouts()] * len(metas)
        if len(places) != len(metas):
            raise ValueError(f"{len(places)} places for {len(metas)} photos")
        with self.transaction() as conn:
            owners = self._folder_owners()
            stale: set[str] = set()
            touched = False
            for m, at in zip(metas, places, strict=True):
                folder_id = m.folder_id if m.folder_id is not None else _owner(owners, m.path)
                ctime = m.capture_time.isoformat() if m.capture_time else None
                values = (
                    folder_id,
                    m.size,
                    m.mtime_ns,
                    m.fingerprint,
                    m.width,
                    m.height,
                    ctime,
                    m.capture_offset,
                    m.capture_source,
                    m.year,
                    m.month,
                    m.camera_make,
                    m.camera_model,
                    m.kind,
                    m.duration_ms,
                    m.lat,
                    m.lon,
                    at.country,
                    at.region,
                    at.city,
                    int(at.offset_derived),
                    HEADER_VERSION,
                )
                row = conn.execute(
                    "SELECT id, fingerprint, state FROM photos WHERE path = ?", (db_path(m.path),)
                ).fetchone()
                if row is None:
                    cur = conn.execute(
                        "INSERT INTO photos (folder_id, size, mtime_ns, fingerprint, width, "
                        "height, capture_time, capture_offset, capture_source, year, month, "
                        "camera_make, camera_model, kind, duration_ms, lat, lon, place_country, "
                        "place_region, place_city, offset_derived, header_version, path, state) "
                        f"VALUES ({marks(len(values) + 2)})",
                        (*values, db_path(m.path), PENDING),
                    )
                    ids.append(int(cur.lastrowid or 0))
                    continue
                pid, old_fp, old_state = row
                same = old_fp is not None and old_fp == m.fingerprint
                if not same:
                    stale |= self._drop_vectors(conn, [pid])
                    self._forget_content(conn, pid)  # its dhash and whole-file hash
                state = INDEXED if same and old_state == INDEXED else PENDING
                conn.execute(
                    "UPDATE photos SET folder_id = ?, size = ?, mtime_ns = ?, fingerprint = ?, "
                    "width = ?, height = ?, capture_time = ?, capture_offset = ?, "
                    "capture_source = ?, year = ?, month = ?, camera_make = ?, "
                    "camera_model = ?, kind = ?, duration_ms = ?, lat = ?, lon = ?, "
                    "place_country = ?, place_region = ?, place_city = ?, offset_derived = ?, "
                    "header_version = ?, state = ?, skip_reason = NULL WHERE id = ?",
                    (*values, state, pid),
                )
                ids.append(pid)
                touched = True
            self._bump(conn, stale)
            if touched:  # dates or places of known items may have changed (see facts_stamp)
                self._bump_facts(conn)
        return ids

    def mark_skipped(
        self,
        path: Path | str,
        folder_id: int,
        reason: str,
        size: int,
        mtime_ns: int,
        fingerprint: str | None = None,
    ) -> int:
        """Record a file that cannot be indexed, and why; any old vectors go. Returns its id."""
        stored = db_path(path)
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM photos WHERE path = ?", (stored,)).fetchone()
            now = self.clock()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO photos (folder_id, path, size, mtime_ns, fingerprint, state, "
                    "skip_reason, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (int(folder_id), stored, size, mtime_ns, fingerprint, SKIPPED, reason, now),
                )
                return int(cur.lastrowid or 0)
            pid = int(row[0])
            self._bump(conn, self._drop_vectors(conn, [pid]))
            conn.execute(
                "UPDATE photos SET folder_id = ?, size = ?, mtime_ns = ?, fingerprint = ?, "
                "state = ?, skip_reason = ?, indexed_at = ? WHERE id = ?",
                (int(folder_id), size, mtime_ns, fingerprint, SKIPPED, reason, now, pid),
            )
            return pid

    def move_photo(
        self, photo_id: int, new_path: Path | str, new_folder_id: int, mtime_ns: int
    ) -> None:
        """A file was moved or renamed: same photo, same vectors, new path. A different record
        already at `new_path` (the file it overwrote) is forgotten."""
        stored = db_path(new_path)
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM photos WHERE path = ?", (stored,)).fetchone()
            if row is not None and row[0] != photo_id:
                self._delete(conn, [int(row[0])])
            cur = conn.execute(
                "UPDATE photos SET path = ?, folder_id = ?, mtime_ns = ? WHERE id = ?",
                (stored, int(new_folder_id), mtime_ns, int(photo_id)),
            )
            if cur.rowcount != 1:
                raise ValueError(f"no photo with id {photo_id} to move to {new_path}")

    def delete_photos(self, ids: Sequence[int] | np.ndarray) -> int:
        """Forget photos and videos (their files are untouched), their vectors and a video's
        moments; returns how many. `moment_labels(ids)` first tells the index what to drop."""
        with self.transaction() as conn:
            return self._delete(conn, as_int_list(ids))

    def _delete(self, conn: sqlite3.Connection, ids: Sequence[int]) -> int:
        self._bump(conn, self._models_of(conn, ids))
        gone = 0
        for part in chunks(ids):
            cur = conn.execute(f"DELETE FROM photos WHERE id IN ({marks(len(part))})", part)
            gone += cur.rowcount
        return gone


_NOT_CLIP = "id NOT IN (SELECT value FROM json_each(?))"  # ? : the clips' ids, as JSON


def _owner(owners: Sequence[tuple[str, int]], path: str) -> int:
    for prefix, folder_id in owners:
        if path.startswith(prefix):
            return folder_id
    raise FolderError(f"{path} is not inside any folder PhotoSeek watches; add its folder first.")


def _states(pending: bool) -> tuple[str, ...]:
    """The photo states a browse covers: indexed, plus pending (catalogued, not encoded)."""
    return (INDEXED, PENDING) if pending else (INDEXED,)


def _states_sql(pending: bool) -> str:
    return "state IN (?, ?)" if pending else "state = ?"
