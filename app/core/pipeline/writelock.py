"""One indexing process per data folder: a lock file held while a run writes (the window's
watcher and `photoseek index`, or two `index` runs, would otherwise both encode everything).
Searches never take it. The holder's pid is written in the file, so a waiter can say who."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_FILE = "index.lock"
_REGION = 1 << 20  # Windows locks a byte here, past the pid, so the pid stays readable


def _try_lock(f: IO[str]) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            f.seek(_REGION)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(f: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt

        f.seek(_REGION)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def holder(path: Path) -> str:
    """The pid recorded by the process holding the lock ("unknown" if unreadable)."""
    try:
        return path.read_text(encoding="ascii", errors="replace").split("\0")[0].strip() or "?"
    except OSError:
        return "unknown"


@contextmanager
def writer_lock(
    data: Path, *, cancelled: Callable[[], bool] = lambda: False, poll_s: float = 0.2
) -> Iterator[bool]:
    """Hold the data folder's writer lock; waits (saying once who holds it) until it is free
    or `cancelled()` (then raises TimeoutError). Yields True when it had to wait."""
    path = data / LOCK_FILE
    data.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+", encoding="ascii")  # noqa: SIM115 - held for the whole block
    waited = False
    try:
        while not _try_lock(f):
            if not waited:
                log.warning(
                    "another PhotoSeek (pid %s) is indexing this library; waiting for it to finish",
                    holder(path),
                )
                waited = True
            if cancelled():
                raise TimeoutError(f"the library is being indexed by pid {holder(path)}")
            time.sleep(poll_s)
        try:
            f.seek(0)
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield waited
        finally:
            _unlock(f)
    finally:
        f.close()
