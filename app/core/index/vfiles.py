"""The vector index's files, read whole or refused and written atomically.

index.bin holds the hnswlib graph, index.aux the photo-to-row map of the full vectors and the
graph's projection, and index.json, written last, the format, model, catalog generation, the
other two files' sizes and checksums and the segment list of the rows (`vstore`): a kill between
the renames reads as torn, and a torn or foreign index is rebuilt from the catalog, never used.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from app.core.durable import crc32_file, fsync_dir, fsync_file
from app.core.index.projection import Projection
from app.core.index.vstore import RowStore, StoreError, remove_unused

FORMAT_VERSION = 3  # 3: reduced graphs hold lifted projections (Projection)
INDEX_BIN = "index.bin"
INDEX_AUX = "index.aux"  # photo-to-row map of the full vectors, and the graph's projection
INDEX_JSON = "index.json"
TMP_SUFFIX = ".tmp"  # temp files are "index.bin.<pid>.tmp": two processes never share one


class Unusable(Exception):
    """The saved index cannot be used; the message says why (for the log)."""


@dataclass
class Saved:
    """A saved index, read and checked."""

    graph: hnswlib.Index
    store: RowStore
    projection: Projection | None
    deleted: np.ndarray  # sorted labels marked deleted (still in the graph)
    generation: int


def read_saved(directory: Path, model_id: str, dim: int) -> Saved:
    """The index saved in `directory` for `model_id`; Unusable says why it cannot be used."""
    meta_path, bin_path, aux_path = (
        directory / INDEX_JSON,
        directory / INDEX_BIN,
        directory / INDEX_AUX,
    )
    if not meta_path.is_file():
        raise Unusable(f"{meta_path.name} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        fmt, saved_model, saved_dim = meta["format"], meta["model_id"], meta["dim"]
        if fmt != FORMAT_VERSION:
            raise Unusable(f"it has format {fmt}, this version writes {FORMAT_VERSION}")
        generation, count = int(meta["generation"]), int(meta["count"])
        deleted = np.array(sorted(meta["deleted_ids"]), dtype=np.int64)
        graph_dim, capacity = int(meta["graph_dim"]), int(meta["capacity"])
        files = {name: (int(meta[f"{key}_size"]), int(meta[f"{key}_crc32"]))
                 for name, key in ((INDEX_BIN, "bin"), (INDEX_AUX, "aux"))}  # fmt: skip
        manifest = list(meta["segments"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise Unusable(f"{meta_path.name} is unreadable ({e})") from e
    if saved_model != model_id or saved_dim != dim:
        raise Unusable(f"it belongs to model {saved_model} ({saved_dim}-d), not {model_id}")
    # Never hand hnswlib a file we did not write whole: it trusts the bytes it reads.
    for name, (size, crc) in files.items():
        path = directory / name
        if not path.is_file():
            raise Unusable(f"{name} is missing")
        actual = path.stat().st_size
        if actual != size:
            raise Unusable(f"{name} has {actual} bytes, {size} were saved (torn write)")
        if crc32_file(path) != crc:
            raise Unusable(f"{name} does not match its checksum (corrupt or torn)")
    try:
        with open(aux_path, "rb") as f:
            ids, rows = np.load(f), np.load(f)
            mean, basis = np.load(f), np.load(f)
    except (OSError, ValueError, EOFError) as e:
        raise Unusable(f"{INDEX_AUX} is unreadable ({e})") from e
    fitted_on = int(meta.get("projection_fitted_on", 0))
    projection = Projection(mean, basis, fitted_on) if basis.size else None
    if graph_dim != (projection.dim if projection else dim):
        raise Unusable(f"its graph is {graph_dim}-d, its projection does not match")
    try:
        store = RowStore.load(directory, dim, manifest, ids, rows)
    except (StoreError, TypeError, ValueError) as e:
        raise Unusable(f"its full vectors are unusable ({e})") from e
    graph = hnswlib.Index(space="ip", dim=graph_dim)
    try:
        graph.load_index(str(bin_path), max_elements=capacity)
    except (RuntimeError, ValueError, MemoryError) as e:
        store.close()
        raise Unusable(f"hnswlib could not load {INDEX_BIN} ({e})") from e
    labels = np.sort(np.asarray(graph.get_ids_list(), dtype=np.int64))
    live = np.setdiff1d(labels, deleted, assume_unique=True)
    if len(live) != count or not np.array_equal(live, store.ids):
        store.close()
        raise Unusable(f"its graph and full vectors disagree ({len(live)} vs {len(store)})")
    return Saved(graph, store, projection, deleted, generation)


# One lock per index folder in this process: a save's temp files are named after the process,
# so a second index object over the same folder (a model switch reopening it) must neither save
# at the same moment nor sweep those files away as a dead save's (remove_dead_temp_files).
_FOLDER_LOCKS: dict[str, threading.Lock] = {}
_FOLDER_LOCKS_GUARD = threading.Lock()


def folder_lock(directory: Path) -> threading.Lock:
    key = os.path.realpath(directory)
    with _FOLDER_LOCKS_GUARD:
        return _FOLDER_LOCKS.setdefault(key, threading.Lock())


def write_saved(
    directory: Path,
    graph: hnswlib.Index,
    store: RowStore,
    projection: Projection | None,
    meta: dict[str, Any],
) -> None:
    """Write index.bin, index.aux and then index.json atomically (temp file, fsync, rename).
    The rows' segment files are flushed first by the caller and never change; index.json goes
    last and carries `meta` plus the others' sizes and checksums, so a kill between renames
    reads as torn. Segment files no saved index names any more are then removed."""
    with folder_lock(directory):
        bin_tmp = temp_path(directory, INDEX_BIN)
        aux_tmp = temp_path(directory, INDEX_AUX)
        json_tmp = temp_path(directory, INDEX_JSON)
        graph.save_index(str(bin_tmp))
        with open(aux_tmp, "wb") as f:
            np.save(f, store.ids)
            np.save(f, store.rows)
            np.save(f, projection.mean if projection else np.empty(0, np.float32))
            np.save(f, projection.basis if projection else np.empty((0, 0), np.float32))
        meta = {"format": FORMAT_VERSION, **meta}
        for path, key in ((bin_tmp, "bin"), (aux_tmp, "aux")):
            fsync_file(path)
            meta[f"{key}_size"] = path.stat().st_size
            meta[f"{key}_crc32"] = crc32_file(path)
        with open(json_tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(bin_tmp, directory / INDEX_BIN)
        os.replace(aux_tmp, directory / INDEX_AUX)
        os.replace(json_tmp, directory / INDEX_JSON)
        fsync_dir(directory)
        remove_unused(directory, store.file_names(), process_alive)


def temp_path(directory: Path, name: str, pid: int | None = None) -> Path:
    return directory / f"{name}.{os.getpid() if pid is None else pid}{TMP_SUFFIX}"


def remove_dead_temp_files(directory: Path) -> None:
    """Delete temp files left by saves that were killed half-way (this process's, or those of
    processes no longer running); another live process may be mid-save with its own, and a
    save of this process waits for `folder_lock`."""
    with folder_lock(directory):
        for path in directory.glob(f"index.*{TMP_SUFFIX}"):
            pid_text = path.name.removesuffix(TMP_SUFFIX).rsplit(".", 1)[-1]
            pid = int(pid_text) if pid_text.isdigit() else None
            if pid is None or pid == os.getpid() or not process_alive(pid, path):
                path.unlink(missing_ok=True)


def process_alive(pid: int, temp: Path) -> bool:
    if os.name != "posix":  # no cheap check: a save never takes an hour
        return time.time() - temp.stat().st_mtime < 3600
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
