"""Errors a user can fix: each message names the file or setting and says what to do."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path


class UserError(Exception):
    """A problem the user can fix (bad path, no model, offline). Shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class StorageError(UserError):
    """The disk is full, or PhotoSeek's data folder cannot be written."""

    exit_code = 4


class DamagedCatalogError(UserError):
    """The catalog file is damaged; `photoseek repair` moves it aside and rebuilds it."""

    exit_code = 5


_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_DAMAGED_SQL = ("malformed", "not a database", "database corrupt")
_FULL_SQL = ("database or disk is full", "disk is full")
_READ_ONLY_SQL = ("readonly database", "unable to open database file")
# What SQLite says when a write failed underneath it: on a full disk, most often.
_IO_SQL = ("disk i/o error", "cannot rollback - no transaction is active")


def storage_fault(exc: BaseException, data: Path, catalog: Path) -> UserError | None:
    """A one-line error for a fault of the disk or of the catalog file; None for anything else.

    `data` is PhotoSeek's data folder, `catalog` its catalog file: the places the message names.
    """
    if isinstance(exc, sqlite3.DatabaseError):
        text = str(exc).lower()
        if any(s in text for s in _DAMAGED_SQL):
            return damaged(catalog, str(exc))
        if any(s in text for s in _FULL_SQL):
            return full(data, str(exc))
        if any(s in text for s in _READ_ONLY_SQL):
            return read_only(data, str(exc))
        if any(s in text for s in _IO_SQL):
            return StorageError(
                f"Cannot write to {data} ({exc}): the disk may be full or failing. Free some "
                "space on it, or keep PhotoSeek's data elsewhere with --data-dir."
            )
        return None
    if isinstance(exc, OSError):
        where = Path(exc.filename) if exc.filename else data
        reason = exc.strerror or str(exc)
        if exc.errno in _FULL:
            return full(where, reason)
        if exc.errno in _READ_ONLY:
            return read_only(where, reason)
    return None


def damaged(catalog: Path, reason: str) -> DamagedCatalogError:
    return DamagedCatalogError(
        f"The catalog {catalog} is damaged ({reason}). Run `photoseek repair` to move it aside "
        "and rebuild it from your folders; your photos are untouched."
    )


def full(where: Path, reason: str) -> StorageError:
    return StorageError(
        f"Cannot write to {where}: the disk is full ({reason}). Free some space on that disk, "
        "or keep PhotoSeek's data elsewhere with --data-dir."
    )


def read_only(where: Path, reason: str) -> StorageError:
    return StorageError(
        f"Cannot write to {where} ({reason}). Make that folder writable for you, or keep "
        "PhotoSeek's data elsewhere with --data-dir."
    )
