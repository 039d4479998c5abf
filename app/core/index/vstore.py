"""Full vectors beside the graph: float16 rows in immutable, memory-mapped segment files.

Why float16, pread and segments, with the figures: the top of `vindex`.

The vector index keeps a compressed graph in memory and scores its candidates exactly from
these rows, and the search engine scans them for filtered queries. A million 512-d vectors take
1 GB of disk and no memory of ours: rows are read with pread (one call per run of adjacent rows)
into the page cache and a fresh array. Not mmap: a page fault maps the whole surrounding folio
(measured: 3000 random rows of a 1M-row file added 459 MB to the process's RSS, MADV_RANDOM or
not). Where pread is missing (Windows) the files are memory-mapped instead.

Rows are appended to an in-memory tail that is written out as a new segment file once it is
large (or when the index is saved). Segment files are never modified, so a kill at any moment
leaves every file a saved index names intact, and two processes never write the same file. A
replaced or removed photo leaves a dead row behind; `compacted` rewrites the live rows into one
segment. Segments are named after the writing process, so stale ones can be told apart from
those another live process is still filling.
"""

from __future__ import annotations

import logging
import os
import secrets
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.durable import crc32_file, fsync_dir

log = logging.getLogger(__name__)

PREFIX = "vectors-"
SUFFIX = ".f16"
ROW_DTYPE = np.dtype("<f2")
FLUSH_BYTES = 64 << 20  # the in-memory tail becomes a segment file past this size
MAX_SEGMENTS = 8  # more and the small ones are merged into one
TAIL_MIN_ROWS = 256


class StoreError(ValueError):
    """Saved rows that cannot be used; the message says why (for the log)."""


@dataclass
class Segment:
    name: str
    rows: int
    crc: int
    dim: int
    fd: int | None  # open read-only where os.pread exists
    data: np.ndarray | None  # [rows, dim] float16, memory-mapped, elsewhere

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """float16 [n, dim] of sorted, distinct local row numbers."""
        if self.fd is None:
            assert self.data is not None
            return np.asarray(self.data[rows])
        row_bytes = self.dim * ROW_DTYPE.itemsize
        out = np.empty((len(rows), self.dim), dtype=ROW_DTYPE)
        buf = out.reshape(-1).view(np.uint8).data
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = [0, *breaks.tolist()]
        ends = [*breaks.tolist(), len(rows)]
        first = rows.tolist()
        for s, e in zip(starts, ends, strict=True):
            view = buf[s * row_bytes : e * row_bytes]
            if os.preadv(self.fd, [view], first[s] * row_bytes) != len(view):
                raise StoreError(f"segment {self.name} is shorter than when it was opened")
        return out


class RowStore:
    """Unit vectors by photo id, as float16 rows. Not thread-safe: the vector index locks."""

    def __init__(
        self,
        directory: Path,
        dim: int,
        segments: list[Segment] | None = None,
        ids: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.dim = dim
        self._segments: list[Segment] = segments or []
        self._offsets = np.cumsum([0] + [s.rows for s in self._segments]).astype(np.int64)
        self._tail = np.empty((0, dim), dtype=ROW_DTYPE)
        self._tail_rows = 0
        self._ids = np.empty(0, np.int64) if ids is None else ids  # sorted live photo ids
        self._rows = np.empty(0, np.int64) if rows is None else rows  # row of each live id

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, directory: Path, dim: int, manifest: Sequence[Any], ids: np.ndarray, rows: np.ndarray
    ) -> RowStore:
        """The store a saved index names: segments [(name, rows, crc32)], checked byte for
        byte, and the live ids with their rows. Raises StoreError saying what is wrong."""
        segments: list[Segment] = []
        try:
            for name, n_rows, crc in manifest:
                segments.append(_open_segment(Path(directory), str(name), int(n_rows), dim, crc))
        except (TypeError, ValueError, StoreError):
            for s in segments:
                _release(s)
            raise
        store = cls(directory, dim, segments)
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        total = int(store._offsets[-1])
        if len(ids) != len(rows):
            raise StoreError(f"{len(ids)} photo ids but {len(rows)} rows")
        if len(ids) and (np.any(ids[1:] <= ids[:-1]) or rows.min() < 0 or rows.max() >= total):
            raise StoreError("its photo-to-row map is out of order or out of range")
        store._ids, store._rows = ids, rows
        return store

    # -- contents ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        """Sorted live photo ids (the store's own array: do not modify)."""
        return self._ids

    @property
    def rows(self) -> np.ndarray:
        """The row of each id in `ids` (the store's own array: do not modify)."""
        return self._rows

    @property
    def dead_rows(self) -> int:
        return self._total_rows() - len(self._ids)

    def _total_rows(self) -> int:
        return int(self._offsets[-1]) + self._tail_rows

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, rows of the found ids) for `ids`."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(self._ids) == 0:
            return np.zeros(len(ids), dtype=bool), np.empty(0, np.int64)
        pos = np.searchsorted(self._ids, ids).clip(max=len(self._ids) - 1)
        found = self._ids[pos] == ids
        return found, self._rows[pos[found]]

    def get(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 [n, dim] rows of `ids`, all of which must be in the store."""
        found, rows = self.lookup(np.asarray(ids, dtype=np.int64))
        if not found.all():
            missing = np.asarray(ids)[~found][:5].tolist()
            raise KeyError(f"photos {missing} have no stored vector")
        return self.read_rows(rows)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """float32 [n, dim] of the given row numbers, read segment by segment in row order
        (sequential page faults rather than random ones)."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if len(rows) == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        bounds = np.searchsorted(sorted_rows, self._offsets, side="left")
        for i, seg in enumerate(self._segments):
            lo, hi = bounds[i], bounds[i + 1]
            if hi > lo:
                out[order[lo:hi]] = seg.gather(sorted_rows[lo:hi] - self._offsets[i])
        lo = bounds[-1]
        if lo < len(rows):
            out[order[lo:]] = self._tail[sorted_rows[lo:] - self._offsets[-1]]
        return out

    def chunks(self, size: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of every live photo, `size` at a time, in id order."""
        for i in range(0, len(self._ids), size):
            yield self._ids[i : i + size], self.read_rows(self._rows[i : i + size])

    # -- changes -------------------------------------------------------------------------------

    def put(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store the rows of unique `ids` (new ones, or replacing what they had)."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        if n == 0:
            return
        new_rows = np.arange(self._total_rows(), self._total_rows() + n, dtype=np.int64)
        self._append(np.asarray(vectors, dtype=np.float32).astype(ROW_DTYPE))
        pos = np.searchsorted(self._ids, ids)
        present = np.zeros(n, dtype=bool)
        if len(self._ids):
            present = self._ids[pos.clip(max=len(self._ids) - 1)] == ids
            self._rows[pos[present]] = new_rows[present]
        if not present.all():
            fresh = np.flatnonzero(~present)
            fresh = fresh[np.argsort(ids[fresh], kind="stable")]
            at = np.searchsorted(self._ids, ids[fresh])
            self._ids = np.insert(self._ids, at, ids[fresh])
            self._rows = np.insert(self._rows, at, new_rows[fresh])
        if self._tail_rows * self.dim * ROW_DTYPE.itemsize >= FLUSH_BYTES:
            self.flush()

    def drop(self, ids: np.ndarray) -> None:
        """Forget `ids` (their rows stay in the files, dead, until compaction)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(self._ids) == 0:
            return
        keep = ~np.isin(self._ids, ids)
        self._ids, self._rows = self._ids[keep], self._rows[keep]

    def _append(self, block: np.ndarray) -> None:
        need = self._tail_rows + len(block)
        if need > len(self._tail):
            grown = np.empty((max(need, 2 * len(self._tail), TAIL_MIN_ROWS), self.dim), ROW_DTYPE)
            grown[: self._tail_rows] = self._tail[: self._tail_rows]
            self._tail = grown
        self._tail[self._tail_rows : need] = block
        self._tail_rows = need

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the in-memory tail as a new segment file (fsynced) and map it."""
        if self._tail_rows == 0:
            return
        block = self._tail[: self._tail_rows]
        self._segments.append(_write_segment(self.directory, block))
        self._offsets = np.append(self._offsets, self._offsets[-1] + self._tail_rows)
        self._tail = np.empty((0, self.dim), dtype=ROW_DTYPE)
        self._tail_rows = 0
        if len(self._segments) > MAX_SEGMENTS:
            self._merge_small()

    def _merge_small(self) -> None:
        """Rewrite every segment but the largest as one, keeping only live rows."""
        biggest = max(range(len(self._segments)), key=lambda i: self._segments[i].rows)
        start, end = self._offsets[biggest], self._offsets[biggest + 1]
        outside = (self._rows < start) | (self._rows >= end)
        moved = np.flatnonzero(outside)
        kept_segment = self._segments[biggest]
        merged = _write_segment(self.directory, self._read_f16(self._rows[moved]))
        for i, seg in enumerate(self._segments):
            if i != biggest:
                _release(seg)
        self._rows = self._rows.copy()
        self._rows[~outside] -= start
        self._rows[moved] = kept_segment.rows + np.arange(len(moved), dtype=np.int64)
        self._segments = [kept_segment, merged]
        self._offsets = np.array([0, kept_segment.rows, kept_segment.rows + merged.rows], np.int64)

    def _read_f16(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=ROW_DTYPE)
        for i in range(0, len(rows), 65_536):
            out[i : i + 65_536] = self.read_rows(rows[i : i + 65_536])
        return out

    def compacted(self) -> RowStore:
        """A new store holding only the live rows, in id order, in one fresh segment (this one
        stays usable until closed; its files stay until a save names the new ones)."""
        segment = _write_segment(self.directory, self._read_f16(self._rows))
        rows = np.arange(len(self._ids), dtype=np.int64)
        return RowStore(self.directory, self.dim, [segment], self._ids.copy(), rows)

    def manifest(self) -> list[list[Any]]:
        """What a save records (flush first): [[name, rows, crc32], ...]."""
        if self._tail_rows:
            raise RuntimeError("flush the store before saving its manifest")
        return [[s.name, s.rows, s.crc] for s in self._segments]

    def file_names(self) -> set[str]:
        return {s.name for s in self._segments}

    def close(self) -> None:
        for seg in self._segments:
            _release(seg)
        self._segments = []
        self._offsets = np.zeros(1, dtype=np.int64)
        self._tail = np.empty((0, self.dim), dtype=ROW_DTYPE)
        self._tail_rows = 0
        self._ids = np.empty(0, np.int64)
        self._rows = np.empty(0, np.int64)


# -- segment files -----------------------------------------------------------------------------


def _write_segment(directory: Path, block: np.ndarray) -> Segment:
    """A new segment file holding `block` (float16 rows), fsynced, then mapped read-only."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
    data = np.ascontiguousarray(block, dtype=ROW_DTYPE)
    raw = data.reshape(-1).view(np.uint8).data  # flat bytes; fine for zero rows too
    with open(directory / name, "xb") as f:
        f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(directory)
    crc = zlib.crc32(raw)
    return _open_segment(directory, name, len(data), data.shape[1], crc, check=False)


def _open_segment(
    directory: Path, name: str, rows: int, dim: int, crc: int, *, check: bool = True
) -> Segment:
    path = directory / name
    if not name.startswith(PREFIX) or not name.endswith(SUFFIX) or os.sep in name:
        raise StoreError(f"{name!r} is not a vector segment name")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise StoreError(f"segment {name} is missing ({e.strerror})") from e
    if size != rows * dim * ROW_DTYPE.itemsize:
        raise StoreError(f"segment {name} has {size} bytes, {rows} rows of {dim} were saved")
    if check and crc32_file(path) != int(crc):
        raise StoreError(f"segment {name} does not match its checksum (corrupt)")
    if hasattr(os, "preadv"):
        return Segment(name, rows, int(crc), dim, os.open(path, os.O_RDONLY), None)
    data: np.ndarray = np.empty((0, dim), dtype=ROW_DTYPE)
    if rows:
        data = np.memmap(path, dtype=ROW_DTYPE, mode="r", shape=(rows, dim))
    return Segment(name, rows, int(crc), dim, None, data)


def _release(seg: Segment) -> None:
    """Close the segment's file (or drop its mapping, unmapped once no array uses it: reads
    copy their rows), so the file can be deleted even on Windows."""
    fd, seg.fd, seg.data = seg.fd, None, np.empty((0, seg.dim), dtype=ROW_DTYPE)
    if fd is not None:
        os.close(fd)


def remove_unused(directory: Path, keep: set[str], alive: Any) -> None:
    """Delete segment files no saved index names: ours, or those of processes no longer
    running (`alive(pid, path)` says); another live process may still be filling its own."""
    for path in Path(directory).glob(f"{PREFIX}*{SUFFIX}"):
        if path.name in keep:
            continue
        pid_text = path.name[len(PREFIX) :].split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else None
        if pid is not None and pid != os.getpid() and alive(pid, path):
            continue
        try:
            path.unlink()
        except OSError as e:  # mapped by another process on Windows: next time
            log.debug("could not remove %s yet: %s", path, e)
