"""The catalog's schema as numbered migrations, and the checks that run before any of them.

Each migration runs in its own IMMEDIATE transaction together with the bump of `schema_version`,
so a kill leaves the file at one version or the next, never in between. Add a schema change by
appending a step to `MIGRATIONS`; never edit a step that has shipped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from app.core.catalog.records import STATES, CatalogError
from app.core.errors import storage_fault

log = logging.getLogger(__name__)

# "PSK1": marks the file as ours, so a foreign SQLite database is refused rather than altered.
APPLICATION_ID = 0x50534B31

# A step is a list of SQL statements or a function of the connection (for data rewrites).
Migration = Sequence[str] | Callable[[sqlite3.Connection], None]

_STATES = ", ".join(f"'{s}'" for s in STATES)

# The capture sources each schema's CHECK constraint allows; a step that has shipped keeps its
# own list (tests check that the newest equals records.CAPTURE_SOURCES).
V1_SOURCES = ("exif_original", "exif_digitized", "exif_datetime", "file_mtime")
V3_SOURCES = (
    "exif_original",
    "exif_digitized",
    "xmp",
    "iptc",
    "gps_utc",
    "exif_datetime",
    "file_mtime",
)
V5_SOURCES = (*V3_SOURCES, "video_container", "video_apple")


def _photos_table(name: str, sources: Sequence[str], *, videos: bool = False) -> str:
    allowed = ", ".join(f"'{s}'" for s in sources)
    kind = (
        """,
        kind TEXT NOT NULL DEFAULT 'photo' CHECK (kind IN ('photo', 'video')),
        duration_ms INTEGER"""
        if videos
        else ""
    )
    return f"""CREATE TABLE {name} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        capture_time TEXT,
        capture_offset TEXT,
        capture_source TEXT CHECK (capture_source IN ({allowed})),
        year INTEGER,
        month INTEGER CHECK (month BETWEEN 1 AND 12),
        camera_make TEXT,
        camera_model TEXT,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ({_STATES})),
        skip_reason TEXT,
        indexed_at REAL{kind}
    )"""


V1_BASE: list[str] = [
    # `value` has no declared type so integers (generations) stay integers.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value)",
    """CREATE TABLE folders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        added_at REAL NOT NULL,
        available INTEGER NOT NULL DEFAULT 1,
        last_scan REAL
    )""",
    # AUTOINCREMENT: a photo id is never reused, because ids also key thumbnails and the vector
    # index, where a stale entry must never be mistaken for a new photo.
    _photos_table("photos", V1_SOURCES),
    "CREATE INDEX photos_state_year_month ON photos(state, year, month)",
    "CREATE INDEX photos_state_month ON photos(state, month)",
    "CREATE INDEX photos_folder_state ON photos(folder_id, state)",
    "CREATE INDEX photos_fingerprint ON photos(fingerprint) WHERE fingerprint IS NOT NULL",
    """CREATE TABLE embeddings (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (photo_id, model_id)
    )""",
    # Per-model counts and full reads walk this index instead of 2 KB rows.
    "CREATE INDEX embeddings_model ON embeddings(model_id, photo_id)",
]

# v2: browsing newest first reads ids straight off an index instead of sorting every photo.
V2_CAPTURE_ORDER: list[str] = [
    "CREATE INDEX photos_state_capture ON photos(state, capture_time DESC, id DESC)",
]


def v3_more_capture_sources(conn: sqlite3.Connection) -> None:
    """v3: capture dates also from XMP, IPTC and GPS ("xmp", "iptc", "gps_utc").

    SQLite cannot change a CHECK constraint, so `photos` is rebuilt (its rows, ids, indexes and
    AUTOINCREMENT counter kept). Foreign keys are on and cannot be turned off inside the
    migration's transaction, and dropping `photos` would cascade into `embeddings`, so the
    embeddings wait in a table without a foreign key meanwhile.
    """
    _rebuild_photos(conn, _photos_table("photos_v3", V3_SOURCES), "photos_v3")


def _rebuild_photos(conn: sqlite3.Connection, create: str, temp: str) -> None:
    """Rebuild `photos` as `create` (a CREATE TABLE of `temp`), keeping its rows, ids, indexes,
    AUTOINCREMENT counter and the embeddings that reference it (see v3)."""
    schema = "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type"
    indexes = [r[0] for r in conn.execute(schema + " DESC", ("photos",)) if "INDEX" in r[0]]
    embeddings = [r[0] for r in conn.execute(schema + " DESC", ("embeddings",))]
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'photos'").fetchone()
    seq = int(row[0]) if row else 0
    columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(photos)"))
    conn.execute(create)
    conn.execute(f"INSERT INTO {temp} ({columns}) SELECT {columns} FROM photos")
    conn.execute(
        f"CREATE TABLE {temp}_embeddings AS SELECT photo_id, model_id, vector FROM embeddings"
    )
    conn.execute("DROP TABLE embeddings")
    conn.execute("DROP TABLE photos")
    conn.execute(f"ALTER TABLE {temp} RENAME TO photos")
    conn.execute(f"DELETE FROM sqlite_sequence WHERE name IN ('photos', '{temp}')")
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('photos', ?)", (seq,))
    for sql in indexes:
        conn.execute(sql)
    for sql in embeddings:  # the table ("table" sorts after "index") first
        conn.execute(sql)
    conn.execute(
        "INSERT INTO embeddings (photo_id, model_id, vector) "
        f"SELECT photo_id, model_id, vector FROM {temp}_embeddings"
    )
    conn.execute(f"DROP TABLE {temp}_embeddings")
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise sqlite3.IntegrityError(f"foreign keys broken by the rebuild: {problems[:3]}")


# Before schema 4 each folder root's identity lived in this JSON file next to the catalog.
ROOTS_FILE = "folder_roots.json"


def v4_folder_roots(conn: sqlite3.Connection) -> None:
    """v4: each folder root's (device, inode) at its last good scan, which tells a folder the
    user emptied from the bare mount point an unplugged drive leaves, moves from
    folder_roots.json into `folders`. The file is read here, inside the step's transaction, and
    removed only after the commit (`remove_leftovers`), so a kill at any point loses nothing."""
    conn.execute("ALTER TABLE folders ADD COLUMN root_dev INTEGER")
    conn.execute("ALTER TABLE folders ADD COLUMN root_ino INTEGER")
    path = roots_file(conn)
    if path is None:
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = [(int(v[0]), int(v[1]), int(k)) for k, v in data.items() if len(v) == 2]
    except FileNotFoundError:
        return
    except (OSError, ValueError, TypeError, AttributeError, IndexError) as e:
        # What the old code did with a damaged file: empty roots count as unavailable.
        log.warning("ignoring the damaged %s (%s)", path, e)
        return
    conn.executemany("UPDATE folders SET root_dev = ?, root_ino = ? WHERE id = ?", rows)


def v5_videos(conn: sqlite3.Connection) -> None:
    """v5: videos. `photos` gains `kind` ('photo' | 'video') and `duration_ms`, and the capture
    sources "video_container" and "video_apple" (a CHECK change: rebuilt as in v3). A video's
    sampled times live in `moments`, their vectors per model in `moment_vectors`; both go with
    their video (ON DELETE CASCADE)."""
    _rebuild_photos(conn, _photos_table("photos_v5", V5_SOURCES, videos=True), "photos_v5")
    conn.execute(
        """CREATE TABLE moments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL,
        UNIQUE (photo_id, t_ms)
    )"""
    )
    conn.execute(
        """CREATE TABLE moment_vectors (
        moment_id INTEGER NOT NULL REFERENCES moments(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (moment_id, model_id)
    )"""
    )
    conn.execute("CREATE INDEX moment_vectors_model ON moment_vectors(model_id, moment_id)")


# v6 columns of `photos` (all NULL or 0 in rows written before it; see v6_places_and_likeness).
V6_COLUMNS = (
    "lat REAL",  # WGS84 degrees of the photo's GPS fix, validated (never 0,0 placeholders)
    "lon REAL",
    "place_country TEXT",  # ISO 3166-1 alpha-2 of the nearest gazetteer place ("PT")
    "place_region TEXT",  # its first-level region ("Lisbon"); NULL where the gazetteer has none
    "place_city TEXT",  # its name ("Lisbon")
    "offset_derived INTEGER NOT NULL DEFAULT 0",  # 1: capture_offset from the location's zone
    "header_version INTEGER NOT NULL DEFAULT 0",  # which header facts were read (see v6)
    "dhash INTEGER",  # 64-bit difference hash of the pixels (signed), NULL until computed
    "content_hash TEXT",  # SHA-256 of the whole file, NULL until a duplicate check needs it
)


def v6_places_and_likeness(conn: sqlite3.Connection) -> None:
    """v6: places and duplicates. `photos` gains its GPS position and the gazetteer place it is
    in, whether its UTC offset was derived from that place's time zone, a difference hash of its
    pixels and (lazily) the SHA-256 of the whole file. `header_version` 0 marks the rows read
    before these facts existed: a rescan reads their headers again (no pixels, no vectors) and
    sets it, so an existing library gains places without re-encoding anything."""
    for column in V6_COLUMNS:
        conn.execute(f"ALTER TABLE photos ADD COLUMN {column}")
    conn.execute(
        "CREATE INDEX photos_place ON photos(state, place_country, place_region, place_city)"
    )
    conn.execute("CREATE INDEX photos_dhash ON photos(dhash) WHERE dhash IS NOT NULL")
    conn.execute(
        "CREATE INDEX photos_content_hash ON photos(content_hash) WHERE content_hash IS NOT NULL"
    )


def roots_file(conn: sqlite3.Connection) -> Path | None:
    """Where the pre-4 folder_roots.json of this catalog lies (None for an in-memory one)."""
    main = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    return Path(main).parent / ROOTS_FILE if main else None


def remove_leftovers(conn: sqlite3.Connection) -> None:
    """Files earlier schemas kept beside the catalog, now in it (run after every migrate)."""
    path = roots_file(conn)
    if path is None or schema_version(conn) < 4:
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as e:  # read-only folder: harmless, the catalog no longer reads it
        log.info("cannot remove the old %s: %s", path, e)


MIGRATIONS: list[Migration] = [
    V1_BASE,
    V2_CAPTURE_ORDER,
    v3_more_capture_sources,
    v4_folder_roots,
    v5_videos,
    v6_places_and_likeness,
]


def check_file(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not SQLite, is damaged, or is some other program's database."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    except sqlite3.DatabaseError as e:
        raise CatalogError(
            f"The catalog file {path} is damaged or not a PhotoSeek catalog ({e}). Move it "
            "aside (PhotoSeek never deletes it) and PhotoSeek starts a new catalog; your photos "
            "are re-indexed from their folders."
        ) from e
    if names and app_id != APPLICATION_ID:
        raise CatalogError(
            f"{path} is an SQLite database of another program, not a PhotoSeek catalog. "
            "Choose another data folder (--data-dir or PHOTOSEEK_HOME) or move that file away."
        )


def schema_version(conn: sqlite3.Connection) -> int:
    """The applied version; 0 for a new, empty file."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> int:
    """Bring the file up to `len(migrations)`, one transaction per step; returns the version.

    The version is re-read under the write lock, so two processes opening the same new catalog
    apply each step once. `conn` must be in autocommit mode (isolation_level=None).
    """
    target = len(migrations)
    current = schema_version(conn)
    if current > target:
        raise CatalogError(
            f"The catalog {path} was written by a newer PhotoSeek (schema {current}; this "
            f"version knows up to {target}). Update PhotoSeek, or use another data folder."
        )
    for version in range(current + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= version:  # another process got there first
                conn.execute("COMMIT")
                continue
            step = migrations[version - 1]
            if callable(step):
                step(conn)
            else:
                for sql in step:
                    conn.execute(sql)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
            conn.execute("COMMIT")
        except BaseException as e:
            if conn.in_transaction:  # SQLite has rolled back by itself after a full disk
                conn.execute("ROLLBACK")
            known = storage_fault(e, path.parent, path)
            if known is not None:
                raise CatalogError(str(known), exit_code=known.exit_code) from e
            if isinstance(e, sqlite3.Error):
                raise CatalogError(
                    f"Could not upgrade the catalog {path} to schema {version} ({e}). The file "
                    "is unchanged; report this as a bug."
                ) from e
            raise
        log.info("catalog %s: migrated to schema %s", path, version)
    return target
