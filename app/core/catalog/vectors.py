"""Stored vectors per (photo or video, model) and the per-model generation counter (base of `Catalog`).

`generation(model_id)` changes in the same transaction as every change to that model's set of
stored vectors (added, replaced or removed), and only then: a vector index saved at generation g
is exactly up to date while the catalog still says g. Moving a photo or adding one not yet
encoded leaves it alone, so neither forces an index rebuild.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from app.core.catalog.connection import Database
from app.core.catalog.records import INDEXED

CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-variable limit
READ_ROWS = 8192  # rows per fetch when streaming embeddings


def chunks(items: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def marks(n: int) -> str:
    return ",".join("?" * n)


def as_int_list(ids: Iterable[int] | np.ndarray) -> list[int]:
    return ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]


class VectorStore:
    """Embedding and generation methods; `Catalog` supplies `db`, `path` and `clock`."""

    db: Database
    path: Path
    clock: Callable[[], float]

    # -- generations and models ----------------------------------------------------------------

    def generation(self, model_id: str) -> int:
        row = self.db.conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"generation:{model_id}",)
        ).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, conn: sqlite3.Connection, model_ids: Iterable[str]) -> None:
        for model_id in sorted(set(model_ids)):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, 1) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1",
                (f"generation:{model_id}",),
            )

    def models(self) -> list[str]:
        """Model ids that have ever stored a vector here."""
        rows = self.db.conn.execute("SELECT key FROM meta WHERE key LIKE 'dim:%' ORDER BY key")
        return [r[0][4:] for r in rows]

    def dim(self, model_id: str) -> int | None:
        row = self.db.conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"dim:{model_id}",)
        ).fetchone()
        return int(row[0]) if row else None

    def _models_of(self, conn: sqlite3.Connection, ids: Sequence[int]) -> set[str]:
        found: set[str] = set()
        for part in chunks(ids):
            sql = f"SELECT DISTINCT model_id FROM embeddings WHERE photo_id IN ({marks(len(part))})"
            found.update(r[0] for r in conn.execute(sql, part))
            sql = (
                "SELECT DISTINCT v.model_id FROM moments m JOIN moment_vectors v "
                f"ON v.moment_id = m.id WHERE m.photo_id IN ({marks(len(part))})"
            )
            found.update(r[0] for r in conn.execute(sql, part))
        return found

    # -- embeddings ----------------------------------------------------------------------------

    def count_indexed(self, model_id: str) -> int:
        """How many photos have a stored vector for `model_id`."""
        return int(
            self.db.conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE model_id = ?", (model_id,)
            ).fetchone()[0]
        )

    def put_embeddings(
        self, model_id: str, ids: Sequence[int] | np.ndarray, vectors: np.ndarray
    ) -> None:
        """Store (or replace) vectors for photos; they become 'indexed'. Bumps the generation."""
        pids = as_int_list(ids)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(pids):
            raise ValueError(f"expected {len(pids)} vectors, got an array of shape {vecs.shape}")
        if not pids:
            return
        with self.db.transaction() as conn:
            dim = self.dim(model_id)
            if dim is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    (f"dim:{model_id}", vecs.shape[1]),
                )
            elif dim != vecs.shape[1]:
                raise ValueError(f"model {model_id} stores {dim}-d vectors, got {vecs.shape[1]}-d")
            conn.executemany(
                "INSERT INTO embeddings (photo_id, model_id, vector) VALUES (?, ?, ?) "
                "ON CONFLICT(photo_id, model_id) DO UPDATE SET vector = excluded.vector",
                ((pid, model_id, vecs[i].tobytes()) for i, pid in enumerate(pids)),
            )
            now = self.clock()
            conn.executemany(
                "UPDATE photos SET state = ?, skip_reason = NULL, indexed_at = ? WHERE id = ?",
                ((INDEXED, now, pid) for pid in pids),
            )
            self._bump(conn, [model_id])

    def embeddings(
        self, model_id: str, ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(photo ids int64 [N], vectors float32 [N, D]) for `model_id`.

        All of them in id order when `ids` is None; otherwise those of `ids` that have a vector,
        in the order given. Rows stream in chunks into one preallocated matrix.
        """
        with self.db.snapshot() as conn:
            dim = self.dim(model_id) or 0
            if ids is None:
                n = self.count_indexed(model_id)
                cur = conn.execute(
                    "SELECT photo_id, vector FROM embeddings WHERE model_id = ? ORDER BY photo_id",
                    (model_id,),
                )
                return _read_vectors(cur, n, dim)
            wanted = list(dict.fromkeys(as_int_list(ids)))
            out_ids = np.empty(len(wanted), dtype=np.int64)
            out = np.empty((len(wanted), dim), dtype=np.float32)
            n = 0
            for part in chunks(wanted):
                sql = (
                    f"SELECT photo_id, vector FROM embeddings "
                    f"WHERE model_id = ? AND photo_id IN ({marks(len(part))})"
                )
                blobs = dict(conn.execute(sql, (model_id, *part)).fetchall())
                for pid in part:
                    blob = blobs.get(pid)
                    if blob is not None:
                        out_ids[n] = pid
                        out[n] = np.frombuffer(blob, dtype=np.float32)
                        n += 1
            return out_ids[:n], out[:n]

    def embedding(self, photo_id: int, model_id: str) -> np.ndarray | None:
        row = self.db.conn.execute(
            "SELECT vector FROM embeddings WHERE photo_id = ? AND model_id = ?",
            (int(photo_id), model_id),
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()

    def _drop_vectors(self, conn: sqlite3.Connection, ids: Sequence[int]) -> set[str]:
        """Delete the vectors of `ids`; returns the models that lost one (caller bumps)."""
        models = self._models_of(conn, ids)
        if models:
            for part in chunks(ids):
                conn.execute(f"DELETE FROM embeddings WHERE photo_id IN ({marks(len(part))})", part)
                conn.execute(f"DELETE FROM moments WHERE photo_id IN ({marks(len(part))})", part)
        return models


def _read_vectors(cur: sqlite3.Cursor, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Stream (photo_id, blob) rows into preallocated arrays, one bytes join per chunk."""
    out_ids = np.empty(n, dtype=np.int64)
    out = np.empty((n, dim), dtype=np.float32)
    i = 0
    while rows := cur.fetchmany(READ_ROWS):
        k = len(rows)
        out_ids[i : i + k] = [r[0] for r in rows]
        out[i : i + k] = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
            k, dim
        )
        i += k
    return out_ids[:i], out[:i]
