"""Our own files on disk: written whole or not at all (`write_atomic`), flushed so a rename that
publishes them survives a crash, and checksummed so a torn or corrupt one is recognised."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """Replace `path` with `data`: a kill at any moment leaves the old file or the new one,
    never a mix. `durable` flushes the data to disk before the rename (caches skip it: a file
    emptied by a power cut counts as missing); `mode` sets the permission bits (mkstemp's
    are 0600). The folder is created if needed; the temporary file never outlives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    """`write_atomic` of `data` as indented, key-sorted JSON (stable diffs, readable by hand)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), durable=durable)


def fsync_file(path: Path) -> None:
    """Flush one file's data (POSIX allows a read-only handle; Windows needs a writable one)."""
    flags = os.O_RDONLY if os.name == "posix" else os.O_RDWR
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames inside `path` durable (POSIX); Windows cannot open a directory and needs
    none, since NTFS journals the rename itself."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file under `root` and every folder holding them, before the rename that
    makes the tree visible."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_file(Path(dirpath, name))
        fsync_dir(Path(dirpath))


def crc32_file(path: Path, chunk: int = 8 << 20) -> int:
    """CRC-32 of a whole file, read in chunks."""
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def sha256_file(path: Path, *, each: Callable[[], None] | None = None) -> str:
    """SHA-256 of a whole file (hex), read in 1 MiB chunks; hashlib releases the GIL on each, so
    other threads run meanwhile. `each()` is called per chunk (a cancel check may raise there)."""
    return _digest(path, hashlib.sha256(), each)


def git_blob_id(path: Path, *, each: Callable[[], None] | None = None) -> str:
    """The git blob id of a file (SHA-1 of `blob <size>\\0` + its bytes): what a git host
    publishes for a file kept in git rather than LFS."""
    size = os.stat(path).st_size
    blob = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    return _digest(path, blob, each)


def _digest(
    path: Path, h: hashlib._Hash, each: Callable[[], None] | None, chunk: int = 1 << 20
) -> str:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            if each is not None:
                each()
            h.update(block)
    return h.hexdigest()
