"""Duplicate candidates: difference hashes and whole-file hashes (a base of `Catalog`).

Both are facts about a file's content, so both are cleared when its fingerprint changes
(`Catalog.upsert_photos`); the dhash is stored at ingest, the SHA-256 only when a duplicate
check finds two files with the same fingerprint.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np

from app.core.catalog.connection import Database
from app.core.catalog.records import INDEXED, SKIPPED
from app.core.catalog.vectors import as_int_list, chunks, marks


class LikenessStore:
    """Duplicate-finding methods; `Catalog` supplies `db`."""

    db: Database

    @staticmethod
    def _forget_content(conn: sqlite3.Connection, photo_id: int) -> None:
        """A file's content changed: its difference hash and whole-file hash no longer hold."""
        conn.execute(
            "UPDATE photos SET dhash = NULL, content_hash = NULL WHERE id = ?", (photo_id,)
        )

    def set_dhashes(self, pairs: Sequence[tuple[int, int]]) -> None:
        """Store (photo id, difference hash) pairs."""
        if not pairs:
            return
        with self.db.transaction() as conn:
            conn.executemany("UPDATE photos SET dhash = ? WHERE id = ?", [(h, i) for i, h in pairs])

    def photo_hashes(
        self, *, kind: str = "photo"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
        """(ids, dhashes, has_dhash, fingerprints) of the indexed items of `kind`, by id."""
        rows = self.db.conn.execute(
            "SELECT id, dhash, fingerprint FROM photos WHERE state = ? AND kind = ? ORDER BY id",
            (INDEXED, kind),
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        has = np.fromiter((r[1] is not None for r in rows), dtype=bool, count=len(rows))
        hashes = np.fromiter((r[1] or 0 for r in rows), dtype=np.int64, count=len(rows))
        return ids, hashes, has, [r[2] for r in rows]

    def fingerprint_twins(self) -> list[list[int]]:
        """Ids of catalogued, readable items (indexed, or pending: no model yet) sharing a
        fingerprint (size and three windows), each list by id: the only files whose whole
        content is worth hashing."""
        rows = self.db.conn.execute(
            "SELECT fingerprint, id FROM photos WHERE state != ? AND fingerprint IN "
            "(SELECT fingerprint FROM photos WHERE state != ? AND fingerprint IS NOT NULL "
            "GROUP BY fingerprint HAVING COUNT(*) > 1) ORDER BY fingerprint, id",
            (SKIPPED, SKIPPED),
        ).fetchall()
        out: dict[str, list[int]] = {}
        for fp, pid in rows:
            out.setdefault(fp, []).append(int(pid))
        return list(out.values())

    def content_hashes(self, ids: Sequence[int]) -> dict[int, str | None]:
        """photo id -> the stored SHA-256 of its file (None: not computed since it changed)."""
        out: dict[int, str | None] = {}
        conn = self.db.conn
        for part in chunks(as_int_list(ids)):
            sql = f"SELECT id, content_hash FROM photos WHERE id IN ({marks(len(part))})"
            out.update((int(i), h) for i, h in conn.execute(sql, part))
        return out

    def set_content_hash(self, photo_id: int, fingerprint: str, digest: str) -> None:
        """Store a file's SHA-256, unless its fingerprint changed while it was being read."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE photos SET content_hash = ? WHERE id = ? AND fingerprint = ?",
                (digest, int(photo_id), fingerprint),
            )
