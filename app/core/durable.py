"""Flushing our own files and folders to disk, so a rename that publishes them survives a crash,
and checksumming them, so a torn or corrupt one is recognised when read back."""

from __future__ import annotations

import os
import zlib
from pathlib import Path


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
