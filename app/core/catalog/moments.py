"""A video's moments (sampled times) and their vectors per model (a base of `Catalog`).

A moment's label in the vector index is `moment_label(moment id)`; the video itself keeps its
photo id and one row in `embeddings` (its frames' mean), so counts and completeness work as for
photos. Every change to a model's moment vectors bumps that model's generation.
Live Photos: a short video beside a photo of the same name is that photo's clip (`companions`),
derived from the paths when asked, so no stored pairing can go stale.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np

from app.core.catalog.records import MOMENT_BASE, SKIPPED
from app.core.catalog.vectors import VectorStore, as_int_list, chunks, marks

LIVE_MAX_MS = 5000  # a Live Photo's clip is about 3 s; a longer video beside a photo is its own
LIVE_STILLS = frozenset({".heic", ".heif", ".jpg", ".jpeg"})


class MomentStore(VectorStore):
    """Moment methods; `Catalog` supplies `db`, `path` and `clock`."""

    _companions: tuple[tuple[int, int, int], dict[int, int]] | None = None
    _companions_lock = threading.Lock()

    def companions(self) -> dict[int, int]:
        """Live Photos: video id -> photo id, for each short video (<= LIVE_MAX_MS, not
        skipped) with a still of the same name (.HEIC/.HEIF/.JPG/.JPEG, any case, not skipped)
        in the same folder. Recomputed only after a write (a few index lookups per short video)."""
        conn = self.db.conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]  # others' commits
        key = (id(conn), int(version), conn.total_changes)  # and this connection's writes
        with self._companions_lock:
            cached = self._companions
        if cached is not None and cached[0] == key:
            return cached[1]
        pairs: dict[int, int] = {}
        videos = conn.execute(
            "SELECT id, path FROM photos WHERE kind = 'video' AND duration_ms <= ? AND state != ?",
            (LIVE_MAX_MS, SKIPPED),
        ).fetchall()
        for vid, path in videos:
            if not isinstance(path, str):  # a path that is not UTF-8: never paired
                continue
            stem = os.path.splitext(path)[0] + "."
            # Every file named stem.*, off the unique path index ("." + 1 is "/").
            for pid, other in conn.execute(
                "SELECT id, path FROM photos WHERE path >= ? AND path < ? AND kind = 'photo' "
                "AND state != ? ORDER BY id",
                (stem, stem[:-1] + "/", SKIPPED),
            ):
                ext = "." + other[len(stem) :]
                if ext.lower() in LIVE_STILLS:
                    pairs[int(vid)] = int(pid)
                    break
        with self._companions_lock:
            self._companions = (key, pairs)
        return pairs

    def put_moments(
        self,
        photo_id: int,
        model_id: str,
        moments: Sequence[tuple[int, np.ndarray]],
        *,
        mean: bool = True,
    ) -> None:
        """Store a video's moments ((t_ms, vector) each) for `model_id`, replacing the ones it
        had for that model, together with their L2-normalised mean as the video's embedding
        (`mean` False: a motion photo, which keeps its still's); one transaction, one
        generation bump."""
        pid = int(photo_id)
        if not moments:
            raise ValueError(f"video {pid}: no moments to store")
        times = [int(t) for t, _ in moments]
        if len(set(times)) != len(times):
            raise ValueError(f"video {pid}: two moments at the same time")
        vecs = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for _, v in moments])
        with self.db.transaction() as conn:
            if mean:
                avg = vecs.mean(axis=0)
                avg /= max(float(np.linalg.norm(avg)), 1e-12)
                self.put_embeddings(model_id, [pid], avg[None, :])  # checks the dimension, bumps
            else:  # the still's embedding is stored already: its dimension is known
                dim = self.dim(model_id)
                if dim != vecs.shape[1]:
                    raise ValueError(f"model {model_id} stores {dim}-d vectors, got {vecs.shape}")
                self._bump(conn, [model_id])
            conn.execute(
                "DELETE FROM moment_vectors WHERE model_id = ? AND moment_id IN "
                "(SELECT id FROM moments WHERE photo_id = ?)",
                (model_id, pid),
            )
            conn.executemany(
                "INSERT INTO moments (photo_id, t_ms) VALUES (?, ?) ON CONFLICT DO NOTHING",
                ((pid, t) for t in times),
            )
            ids = dict(conn.execute("SELECT t_ms, id FROM moments WHERE photo_id = ?", (pid,)))
            conn.executemany(
                "INSERT INTO moment_vectors (moment_id, model_id, vector) VALUES (?, ?, ?)",
                ((ids[t], model_id, vecs[i].tobytes()) for i, t in enumerate(times)),
            )
            # Times no model has a vector for any more (a re-sampled video) go.
            conn.execute(
                "DELETE FROM moments WHERE photo_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM moment_vectors v WHERE v.moment_id = moments.id)",
                (pid,),
            )

    def clear_moments(self, photo_ids: Sequence[int] | np.ndarray) -> None:
        """Forget every moment of these items (a motion photo changed into a plain still)."""
        for part in chunks(as_int_list(photo_ids)):
            sql = f"DELETE FROM moments WHERE photo_id IN ({marks(len(part))})"
            self.db.conn.execute(sql, part)

    def count_moments(self, model_id: str) -> int:
        """How many moments have a stored vector for `model_id`."""
        return int(
            self.db.conn.execute(
                "SELECT COUNT(*) FROM moment_vectors WHERE model_id = ?", (model_id,)
            ).fetchone()[0]
        )

    def moment_vectors(
        self, model_id: str, labels: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [N], vectors float32 [N, D]) of moments for `model_id`: all of them in
        label order when `labels` is None, else those of `labels` that have one, in that order."""
        dim = self.dim(model_id) or 0
        with self.db.snapshot() as conn:
            if labels is None:
                rows = conn.execute(
                    "SELECT moment_id, vector FROM moment_vectors WHERE model_id = ? "
                    "ORDER BY moment_id",
                    (model_id,),
                ).fetchall()
            else:
                wanted = [lb - MOMENT_BASE for lb in as_int_list(labels) if lb >= MOMENT_BASE]
                found: dict[int, bytes] = {}
                for part in chunks(list(dict.fromkeys(wanted))):
                    sql = (
                        "SELECT moment_id, vector FROM moment_vectors "
                        f"WHERE model_id = ? AND moment_id IN ({marks(len(part))})"
                    )
                    found.update(conn.execute(sql, (model_id, *part)))
                rows = [(m, found[m]) for m in dict.fromkeys(wanted) if m in found]
        if not rows:  # also a model with no vectors yet (no dimension known)
            return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
        out_ids = np.fromiter((r[0] + MOMENT_BASE for r in rows), dtype=np.int64, count=len(rows))
        out = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(-1, dim)
        return out_ids, out.copy()

    def moment_labels(self, photo_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The index labels (int64, ascending) of every moment of these videos: what the index
        must drop before they are deleted or re-sampled."""
        found: list[int] = []
        for part in chunks(as_int_list(photo_ids)):
            sql = f"SELECT id FROM moments WHERE photo_id IN ({marks(len(part))})"
            found.extend(r[0] + MOMENT_BASE for r in self.db.conn.execute(sql, part))
        return np.array(sorted(found), dtype=np.int64)

    def moment_times(self, labels: Sequence[int] | np.ndarray) -> dict[int, tuple[int, int]]:
        """label -> (photo id, t_ms) for the moment labels among `labels`."""
        wanted = [lb - MOMENT_BASE for lb in as_int_list(labels) if lb >= MOMENT_BASE]
        out: dict[int, tuple[int, int]] = {}
        for part in chunks(list(dict.fromkeys(wanted))):
            sql = f"SELECT id, photo_id, t_ms FROM moments WHERE id IN ({marks(len(part))})"
            for mid, pid, t in self.db.conn.execute(sql, part):
                out[mid + MOMENT_BASE] = (int(pid), int(t))
        return out
