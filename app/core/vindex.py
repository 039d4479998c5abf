"""The vector index: an hnswlib graph over one model's photo embeddings, labelled by photo id.

It is a derived cache of the catalog's stored vectors (the source of truth), so anything wrong
with it (missing, written by another model, stale, torn by a kill, corrupt) is repaired from the
catalog when it is opened, never reported to the user. Thread-safe: one lock serialises queries
with adds, removals and resizes, which hnswlib does not make safe on its own.

Memory: hnswlib keeps the vectors (float32) plus about 140-200 bytes of graph per photo, so the
index is the only in-memory copy; exact search reads the catalog instead (see `search`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import hnswlib
import numpy as np

from app.core.durable import fsync_dir, fsync_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_BIN = "index.bin"
INDEX_JSON = "index.json"
TMP_SUFFIX = ".tmp"  # temp files are "index.bin.<pid>.tmp": two processes never share one

M = 16  # graph degree: recall@10 >= 0.97 on clustered CLIP-like vectors at ef 100
EF_CONSTRUCTION = 200
# ef = max(EF_MIN, 2k), at most k + EF_SLACK: recall@k >= 0.975 for k <= 1000 measured on
# clustered CLIP-like vectors with text-like (off-manifold) queries; large over-fetches need less.
EF_MIN = 100
EF_SLACK = 2000
MIN_CAPACITY = 1024
GROWTH = 1.5  # capacity grows geometrically, so n adds cost O(log n) resizes
# Deleted photos stay in the graph (hnswlib only marks them): each one is still visited by every
# search and keeps its memory. Past 20 % dead nodes a query does ~25 % extra work and wastes a
# fifth of the index's memory, so the graph is rebuilt from the live vectors.
COMPACT_RATIO = 0.20
# A stale index is brought up to date in place unless this share of it changed; then a fresh
# build is about as cheap and gives a better graph.
SYNC_MAX_RATIO = 0.20
READ_CHUNK = 50_000  # catalog rows per read while building (bounds peak memory)
GET_CHUNK = 4096  # vectors per hnswlib get_items call (it builds Python floats: ~45 us/vector)
OVERFETCH_MARGIN = 1.5
OVERFETCH_GROWTH = 4


class EmbeddingSource(Protocol):
    """What the index needs from the catalog."""

    def generation(self, model_id: str) -> int: ...

    def count_indexed(self, model_id: str) -> int: ...

    def embeddings(
        self, model_id: str, ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def filter_ids(self) -> np.ndarray: ...


class _Unusable(Exception):
    """The saved index cannot be used; the message says why (for the log)."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


class VectorIndex:
    """hnswlib over L2-normalised float32 vectors in inner-product space; labels are photo ids."""

    def __init__(
        self,
        directory: Path,
        model_id: str,
        dim: int,
        index: hnswlib.Index,
        ids: np.ndarray,
        deleted: np.ndarray,
        generation: int,
    ) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self.dim = dim
        self._index: hnswlib.Index | None = index
        self._ids = ids  # sorted live labels
        self._deleted = deleted  # sorted labels marked deleted (still in the graph)
        self._generation = generation
        self._dirty = False
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path, model_id: str, dim: int, catalog: EmbeddingSource
    ) -> VectorIndex:
        """Load the saved index, or rebuild or update it from the catalog when it is missing,
        from another model, torn, corrupt or behind the catalog; saves any repair."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _remove_dead_temp_files(directory)
        generation = catalog.generation(model_id)  # read first: later changes look stale
        count = catalog.count_indexed(model_id)
        try:
            vi = cls._load(directory, model_id, dim)
        except _Unusable as why:
            log.info("Rebuilding the vector index in %s from the catalog: %s", directory, why)
            vi = cls.build(directory, model_id, dim, catalog)
            vi.save(generation)
            return vi
        if vi._generation != generation or len(vi) != count:
            log.info(
                "The vector index in %s is stale (saved at generation %d with %d photos; the "
                "catalog is at generation %d with %d): updating it from the catalog",
                directory,
                vi._generation,
                len(vi),
                generation,
                count,
            )
            vi = vi._sync(catalog)
            vi.save(generation)
        elif vi._needs_compaction():
            vi.compact()
            vi.save(generation)
        return vi

    @classmethod
    def _load(cls, directory: Path, model_id: str, dim: int) -> VectorIndex:
        meta_path, bin_path = directory / INDEX_JSON, directory / INDEX_BIN
        if not meta_path.is_file():
            raise _Unusable(f"{meta_path.name} is missing")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            fmt, saved_model, saved_dim = meta["format"], meta["model_id"], meta["dim"]
            generation, count = int(meta["generation"]), int(meta["count"])
            deleted = np.array(sorted(meta["deleted_ids"]), dtype=np.int64)
            size, crc, capacity = (
                int(meta["bin_size"]),
                int(meta["bin_crc32"]),
                int(meta["capacity"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise _Unusable(f"{meta_path.name} is unreadable ({e})") from e
        if fmt != FORMAT_VERSION:
            raise _Unusable(f"it has format {fmt}, this version writes {FORMAT_VERSION}")
        if saved_model != model_id or saved_dim != dim:
            raise _Unusable(f"it belongs to model {saved_model} ({saved_dim}-d), not {model_id}")
        if not bin_path.is_file():
            raise _Unusable(f"{bin_path.name} is missing")
        # Never hand hnswlib a file we did not write whole: it trusts the bytes it reads.
        actual = bin_path.stat().st_size
        if actual != size:
            raise _Unusable(f"{bin_path.name} has {actual} bytes, {size} were saved (torn write)")
        if _crc32(bin_path) != crc:
            raise _Unusable(f"{bin_path.name} does not match its checksum (corrupt or torn)")
        index = hnswlib.Index(space="ip", dim=dim)
        try:
            index.load_index(str(bin_path), max_elements=capacity)
        except (RuntimeError, ValueError, MemoryError) as e:
            raise _Unusable(f"hnswlib could not load {bin_path.name} ({e})") from e
        labels = np.sort(np.asarray(index.get_ids_list(), dtype=np.int64))
        ids = np.setdiff1d(labels, deleted, assume_unique=True)
        if len(ids) != count or len(labels) != len(ids) + len(deleted):
            raise _Unusable(f"it holds {len(ids)} photos, {count} were saved")
        return cls(directory, model_id, dim, index, ids, deleted, generation)

    @classmethod
    def build(
        cls, directory: Path, model_id: str, dim: int, catalog: EmbeddingSource
    ) -> VectorIndex:
        """A fresh index of every vector the catalog stores for `model_id` (not saved)."""
        generation = catalog.generation(model_id)  # before reading: later changes look stale
        expected = catalog.count_indexed(model_id)
        vi = cls.empty(directory, model_id, dim, capacity=expected)
        for ids, vectors in _read_catalog(catalog, model_id, expected):
            vi.add(ids, vectors)
        if len(vi) < expected:  # vectors of photos the listing missed: read them all at once
            log.warning("Catalog listing gave %d of %d vectors; reading all", len(vi), expected)
            vi.add(*catalog.embeddings(model_id))
        vi._generation = generation
        return vi

    @classmethod
    def empty(cls, directory: Path, model_id: str, dim: int, capacity: int = 0) -> VectorIndex:
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(
            max_elements=max(MIN_CAPACITY, int(capacity * 1.1)),
            M=M,
            ef_construction=EF_CONSTRUCTION,
            random_seed=100,
        )
        none = np.empty(0, dtype=np.int64)
        return cls(directory, model_id, dim, index, none, none.copy(), generation=-1)

    # -- contents ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def generation(self) -> int:
        """The catalog generation this index was last opened, built or saved at."""
        return self._generation

    @property
    def deleted_count(self) -> int:
        return len(self._deleted)

    def ids(self) -> np.ndarray:
        """The photo ids in the index (sorted; a copy)."""
        with self._lock:
            return self._ids.copy()

    def contains(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """A bool per id: is it in the index?"""
        with self._lock:
            return _member(self._ids, np.asarray(ids, dtype=np.int64))

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert photos, or replace the vectors of ones already in (vectors are normalised)."""
        labels = np.asarray(ids, dtype=np.int64).reshape(-1)
        vecs = normalise(np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dim))
        if len(labels) == 0:
            return
        labels, first = np.unique(labels, return_index=True)  # one vector per id: the first
        vecs = vecs[first]
        with self._lock:
            index = self._require()
            new = labels[~_member(self._ids, labels)]
            needed = index.element_count + len(new)
            if needed > index.max_elements:
                index.resize_index(max(needed, math.ceil(index.max_elements * GROWTH)))
            index.add_items(vecs, labels)  # a deleted label is revived by hnswlib itself
            self._deleted = self._deleted[~_member(new, self._deleted)]
            self._ids = np.union1d(self._ids, new)
            self._dirty = True

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Mark photos deleted (ids not in the index are ignored); compacts when too many are
        dead. Returns how many were removed."""
        labels = np.unique(np.asarray(ids, dtype=np.int64))
        with self._lock:
            index = self._require()
            gone = labels[_member(self._ids, labels)]
            for label in gone.tolist():
                index.mark_deleted(label)
            if len(gone):
                self._ids = np.setdiff1d(self._ids, gone, assume_unique=True)
                self._deleted = np.union1d(self._deleted, gone)
                self._dirty = True
            if self._needs_compaction():
                self.compact()
            return len(gone)

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (all must be in the index). Slow in hnswlib (~45 us per
        vector): for a handful of ids, not for scans."""
        labels = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(labels), self.dim), dtype=np.float32)
        with self._lock:
            index = self._require()
            for i in range(0, len(labels), GET_CHUNK):
                part = labels[i : i + GET_CHUNK]
                out[i : i + len(part)] = np.asarray(index.get_items(part), dtype=np.float32)
        return out

    # -- queries -------------------------------------------------------------------------------

    def query(
        self, vec: np.ndarray, k: int, *, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest photos by inner product (cosine for a unit `vec`), best first, as
        (ids int64, scores float32). With `filter_ids`, the k nearest among those photos."""
        if filter_ids is None:
            q = self._as_query(vec)
            with self._lock:
                n = min(k, len(self._ids))
                return self._knn(q, n) if n > 0 else _no_hits()
        ids, scores, _ = self.query_filtered(vec, k, filter_ids)
        return ids, scores

    def query_filtered(
        self, vec: np.ndarray, k: int, filter_ids: np.ndarray, *, max_fetch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """The k nearest among `filter_ids`, and whether that answer is complete.

        The graph is searched for k / (share of photos that pass) x a margin, the results are
        filtered, and the fetch grows until k pass. A filter that disagrees with the query (all
        the nearest photos fail it) can need far more; past `max_fetch` this stops and returns
        what passed with complete=False, so the caller can scan the passing photos exactly."""
        q = self._as_query(vec)
        with self._lock:
            live = len(self._ids)
            allowed = _sorted_unique(np.asarray(filter_ids, dtype=np.int64))
            want = min(k, len(allowed))  # ids not in the index count too: then it is incomplete
            if want <= 0:
                return *_no_hits(), True
            cap = live if max_fetch is None else min(live, max(max_fetch, want))
            fetch = min(cap, math.ceil(want * live / len(allowed) * OVERFETCH_MARGIN) + 10)
            while True:
                ids, scores = self._knn(q, fetch)
                keep = _member(allowed, ids)
                if keep.sum() >= want or fetch >= live:
                    return ids[keep][:want], scores[keep][:want], True
                if fetch >= cap:
                    return ids[keep], scores[keep], False
                fetch = min(cap, fetch * OVERFETCH_GROWTH)

    def _as_query(self, vec: np.ndarray) -> np.ndarray:
        q = np.asarray(vec, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"expected a {self.dim}-d query, got {q.shape[1]}-d")
        return q

    def _knn(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """hnswlib search with ef adapted to k; returns fewer than k only when the graph cannot
        reach k live nodes (many deletions)."""
        index = self._require()
        ef = max(EF_MIN, min(2 * k, k + EF_SLACK))
        while True:
            index.set_ef(ef)
            try:
                labels, dist = index.knn_query(q, k=k, num_threads=1)
                return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)
            except RuntimeError:  # fewer than k found: widen the beam, then ask for fewer
                if ef < index.element_count:
                    ef = min(index.element_count, ef * 4)
                elif k > 1:
                    k //= 2
                else:
                    return _no_hits()

    # -- maintenance ---------------------------------------------------------------------------

    def _needs_compaction(self) -> bool:
        total = len(self._ids) + len(self._deleted)
        return total > 0 and len(self._deleted) > COMPACT_RATIO * total

    def compact(self) -> None:
        """Rebuild the graph from the live vectors, dropping deleted nodes and their memory."""
        with self._lock:
            log.info(
                "Compacting the vector index in %s: %d of %d entries are deleted (over %d %%)",
                self.directory,
                len(self._deleted),
                len(self._ids) + len(self._deleted),
                round(COMPACT_RATIO * 100),
            )
            fresh = VectorIndex.empty(self.directory, self.model_id, self.dim, len(self._ids))
            for i in range(0, len(self._ids), READ_CHUNK):
                part = self._ids[i : i + READ_CHUNK]
                fresh.add(part, self.vectors(part))
            self._index, self._ids, self._deleted = fresh._index, fresh._ids, fresh._deleted
            self._dirty = True

    def _sync(self, catalog: EmbeddingSource) -> VectorIndex:
        """Bring a stale index in line with the catalog: add what is new, drop what is gone,
        replace vectors that changed. Rebuilds instead when much of it changed."""
        expected = catalog.count_indexed(self.model_id)
        limit = SYNC_MAX_RATIO * max(expected, len(self), 1)
        seen: list[np.ndarray] = []
        changed = 0
        for ids, vectors in _read_catalog(catalog, self.model_id, expected):
            vectors = normalise(vectors)
            present = _member(self._ids, ids)
            stale = ~present
            if present.any():
                old = self.vectors(ids[present])
                differs = np.abs(old - vectors[present]).max(axis=1) > 1e-6
                stale[np.flatnonzero(present)[differs]] = True
            changed += int(stale.sum())
            if changed > limit:
                break
            self.add(ids[stale], vectors[stale])
            seen.append(ids)
        else:
            gone = np.setdiff1d(self._ids, np.concatenate(seen) if seen else self._ids[:0])
            changed += len(gone)
            if changed <= limit:
                self.remove(gone)
                log.info("Vector index updated: %d photos added, changed or removed", changed)
                return self
        log.info(
            "Rebuilding the vector index in %s: over %d %% of it changed",
            self.directory,
            round(SYNC_MAX_RATIO * 100),
        )
        self.close()
        return VectorIndex.build(self.directory, self.model_id, self.dim, catalog)

    # -- saving --------------------------------------------------------------------------------

    def save(self, generation: int) -> None:
        """Write index.bin then index.json atomically (temp file, fsync, rename), recording the
        catalog generation the contents match. index.json goes last and carries index.bin's size
        and checksum, so a kill between the two renames reads as torn on the next open."""
        directory = self.directory
        bin_tmp = _temp_path(directory, INDEX_BIN)
        json_tmp = _temp_path(directory, INDEX_JSON)
        with self._save_lock:
            with self._lock:
                index = self._require()
                index.save_index(str(bin_tmp))
                meta: dict[str, Any] = {
                    "format": FORMAT_VERSION,
                    "model_id": self.model_id,
                    "dim": self.dim,
                    "count": len(self._ids),
                    "generation": int(generation),
                    "deleted": len(self._deleted),
                    "deleted_ids": self._deleted.tolist(),
                    "capacity": int(index.max_elements),
                    "space": "ip",
                    "M": M,
                    "ef_construction": EF_CONSTRUCTION,
                }
                self._generation = int(generation)
                self._dirty = False
            fsync_file(bin_tmp)
            meta["bin_size"] = bin_tmp.stat().st_size
            meta["bin_crc32"] = _crc32(bin_tmp)
            with open(json_tmp, "w", encoding="utf-8") as f:
                json.dump(meta, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(bin_tmp, directory / INDEX_BIN)
            os.replace(json_tmp, directory / INDEX_JSON)
            fsync_dir(directory)

    @property
    def dirty(self) -> bool:
        """True when changed since the last save."""
        return self._dirty

    def close(self) -> None:
        """Release the graph's memory; later use raises. Does not save."""
        with self._lock:
            self._index = None

    def _require(self) -> hnswlib.Index:
        if self._index is None:
            raise RuntimeError(f"the vector index in {self.directory} is closed")
        return self._index


def _no_hits() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """`ids` as a sorted array without repeats; already so (the catalog's filters) costs O(n)."""
    if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):
        return ids
    return np.unique(ids)


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A bool per element of `ids`: is it in the sorted array `sorted_ids`?"""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    pos = np.searchsorted(sorted_ids, ids).clip(max=len(sorted_ids) - 1)
    return np.asarray(sorted_ids[pos] == ids)


def _read_catalog(
    catalog: EmbeddingSource, model_id: str, expected: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The catalog's vectors for `model_id` in chunks of READ_CHUNK, so a million never sit in
    memory twice."""
    if expected <= READ_CHUNK:
        yield catalog.embeddings(model_id)
        return
    all_ids = catalog.filter_ids()
    for i in range(0, len(all_ids), READ_CHUNK):
        ids, vectors = catalog.embeddings(model_id, all_ids[i : i + READ_CHUNK])
        if len(ids):
            yield ids, vectors


def _temp_path(directory: Path, name: str, pid: int | None = None) -> Path:
    return directory / f"{name}.{os.getpid() if pid is None else pid}{TMP_SUFFIX}"


def _remove_dead_temp_files(directory: Path) -> None:
    """Delete temp files left by saves that were killed half-way (this process's, or those of
    processes no longer running); another live process may be mid-save with its own."""
    for path in directory.glob(f"index.*{TMP_SUFFIX}"):
        pid_text = path.name.removesuffix(TMP_SUFFIX).rsplit(".", 1)[-1]
        pid = int(pid_text) if pid_text.isdigit() else None
        if pid is None or pid == os.getpid() or not _process_alive(pid, path):
            path.unlink(missing_ok=True)


def _process_alive(pid: int, temp: Path) -> bool:
    if os.name != "posix":  # no cheap check: a save never takes an hour
        return time.time() - temp.stat().st_mtime < 3600
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _crc32(path: Path, chunk: int = 8 << 20) -> int:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc
