"""One SQLite connection per thread over one catalog file, with nestable transactions.

Why per thread rather than one locked connection: in WAL mode readers never block the writer and
the writer never blocks readers, but only across connections. The indexer commits batches from
its worker thread while the UI or CLI reads (a 1M-row embeddings read takes seconds); separate
connections keep both moving. SQLite itself serialises writers (BEGIN IMMEDIATE + busy_timeout).
A thread's connection closes when the thread ends or when `close_all()` runs.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.catalog.records import CatalogError
from app.core.errors import storage_fault

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    """An autocommit connection (we issue BEGIN ourselves) with the catalog's pragmas."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe with WAL
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as e:
        known = storage_fault(e, path.parent, path)
        if known is not None:
            raise CatalogError(str(known), exit_code=known.exit_code) from e
        raise CatalogError(
            f"Cannot open the catalog {path} ({e}). Check that its folder exists and is "
            "writable, or move a damaged file aside (PhotoSeek never deletes it)."
        ) from e
    return conn


class _ThreadConn:
    """A thread's connection and its transaction depth; dropping it closes the connection."""

    __slots__ = ("__weakref__", "conn", "depth")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.depth = 0


class Database:
    """Hands each thread its own connection to `path`, made by `factory` on first use."""

    def __init__(self, path: Path, factory: Callable[[], sqlite3.Connection]) -> None:
        self.path = path
        self._factory = factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: weakref.WeakSet[_ThreadConn] = weakref.WeakSet()
        self._closed = False

    def _state(self) -> _ThreadConn:
        state: _ThreadConn | None = getattr(self._local, "state", None)
        if state is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"the catalog {self.path} is closed")
                state = _ThreadConn(self._factory())
                self._all.add(state)
            self._local.state = state
        return state

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        if self._closed:
            raise RuntimeError(f"the catalog {self.path} is closed")
        return self._state().conn

    @property
    def in_transaction(self) -> bool:
        return self._state().depth > 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested calls become savepoints of the outer one.

        IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead of
        failing when a read transaction tries to upgrade.
        """
        state = self._state()
        conn, depth = state.conn, state.depth
        conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
        state.depth += 1
        try:
            yield conn
        except BaseException:
            state.depth = depth
            # SQLite rolls back by itself after some errors (a full disk, an I/O error); then
            # there is nothing left to roll back, and the original error is the one to raise.
            if conn.in_transaction:
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO sp{depth}")
                    conn.execute(f"RELEASE sp{depth}")
            raise
        state.depth = depth
        conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent state of the file."""
        state = self._state()
        if state.depth > 0:
            yield state.conn
            return
        state.conn.execute("BEGIN")
        state.depth += 1
        try:
            yield state.conn
        finally:
            state.depth = 0
            state.conn.execute("COMMIT")

    def close_all(self) -> None:
        """Close every thread's connection; later use from any thread raises."""
        with self._lock:
            self._closed = True
            states = list(self._all)
        for state in states:
            state.conn.close()
