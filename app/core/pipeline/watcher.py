"""Folder watching: watchdog events, debounced and coalesced, applied through the indexer.

Events only say *where* something changed. Each touched file, photo or video alike, waits until
no event came for `quiet_s` and its size and mtime are the same at two checks `stable_s` apart:
it stood still for about three seconds (so a file still being copied, or a video still being
recorded, is not read half written), then everything that settled is handed over in one
`ChangeSet`. Renames are passed as
hints (`moves`) so the catalog can move a photo without re-encoding it. Folder roots are checked
every few seconds: a root that vanished or changed device is reported, and rescanned on return.

Failures the user can act on (a folder that cannot be watched, changes that could not be
applied) reach `on_error` as one line naming the folder and the fix; tracebacks go to the log.
Which folders are polled rather than watched for events is decided in `mounts`.

Over 400 lines on purpose: `Watcher` is one state machine (pending -> settled -> flushed, roots
checked in the same loop) whose fields every step reads; pieces split off would share them all.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from app.core.errors import UserError
from app.core.jobs import JobCancelled, JobControl
from app.core.paths import is_under
from app.core.pipeline.changes import ChangeSet, ChangeSummary
from app.core.pipeline.mounts import wants_polling
from app.core.pipeline.scanner import is_relevant

__all__ = ["ChangeSet", "ChangeSummary", "Watcher"]

log = logging.getLogger(__name__)

_EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


ApplyFn = Callable[[ChangeSet, JobControl], ChangeSummary]
Signature = tuple[int, int, bool] | None  # (size, mtime_ns, is_dir), None when missing


def _signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, os.path.isdir(path))


_UNSET: Signature = (-1, -1, False)


@dataclass
class _Pending:
    last_event: float
    sig: Signature = _UNSET
    checked_at: float = 0.0


@dataclass
class _Root:
    path: Path
    key: tuple[int, int] | None  # (st_dev, st_ino) of the root when scheduled; None: missing
    observer: BaseObserver | None = None
    polling: bool = False


def _root_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(path) else None


class _Handler(FileSystemEventHandler):
    """Forwards relevant watchdog events of one root to the watcher's queue (called on watchdog's
    thread, so it only enqueues)."""

    def __init__(
        self,
        root: Path,
        sink: queue.Queue[tuple[str, str, str]],
        relevant: Callable[[Path, Path, bool], bool],
    ) -> None:
        self.root = root
        self.sink = sink
        self.relevant = relevant

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("created", "modified", "deleted", "moved", "closed"):
            return
        if event.is_directory and event.event_type in ("modified", "closed"):
            return  # a listing changed: the file events carry the news
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.event_type == "moved" else ""
        wanted_src = self.relevant(self.root, Path(src), event.is_directory)
        wanted_dest = bool(dest) and self.relevant(self.root, Path(dest), event.is_directory)
        if event.event_type == "moved":
            if wanted_src and wanted_dest:
                self.sink.put(("moved", src, dest))
            elif wanted_src:
                self.sink.put(("touched", src, ""))
            elif wanted_dest:
                self.sink.put(("touched", dest, ""))
        elif wanted_src:
            self.sink.put(("touched", src, ""))


class Watcher:
    """Watches library folders and applies their changes in its own thread.

    `folders()` lists the roots to watch (re-read every `check_roots_s`, so folders added later
    are picked up and scanned); `apply(changes, control)` reconciles settled changes and returns a
    ChangeSummary, passed on to `on_change` when something changed or a root became unavailable.
    `on_error` gets one line for each failure the user should hear of (see the module notes).
    """

    def __init__(
        self,
        folders: Callable[[], Iterable[Path]],
        apply: ApplyFn,
        *,
        on_change: Callable[[ChangeSummary], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        relevant: Callable[[Path, Path, bool], bool] | None = None,
        quiet_s: float = 1.0,
        stable_s: float = 2.0,
        max_wait_s: float = 10.0,
        check_roots_s: float = 2.0,
        poll_interval_s: float = 5.0,
        force_polling: bool | None = None,
    ) -> None:
        self._folders = folders
        self._apply = apply
        self._on_change = on_change
        self._on_error = on_error
        self._relevant = relevant or is_relevant
        self.quiet_s = quiet_s
        self.stable_s = stable_s
        self.max_wait_s = max_wait_s
        self.check_roots_s = check_roots_s
        self.poll_interval_s = poll_interval_s
        self.force_polling = force_polling
        self._events: queue.Queue[tuple[str, str, str]] = queue.Queue()
        self._roots: dict[Path, _Root] = {}
        self._pending: dict[str, _Pending] = {}
        self._ready: dict[str, float] = {}  # settled path -> when it settled
        self._moves: list[tuple[str, str, float]] = []
        self._rescan: set[Path] = set()
        self._last_event = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._control: JobControl | None = None
        self._lock = threading.Lock()
        self._listing_failed = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Watcher:
        """Schedule an observer per folder and start the watcher thread; returns self."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._sync_roots(initial=True)
        self._thread = threading.Thread(target=self._run, name="photoseek-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop observers and the watcher thread (cancelling a change being applied) and join."""
        self._stop.set()
        with self._lock:
            if self._control is not None:
                self._control.cancel()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("watcher thread did not stop within %s s", timeout)
        for root in list(self._roots.values()):
            self._unschedule(root)
        self._roots.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def polling(self, root: Path) -> bool:
        """Whether `root` is watched by polling (network drive or forced) rather than events."""
        r = self._roots.get(Path(root))
        return bool(r and r.polling)

    # -- observers -------------------------------------------------------------------------
    def _schedule(self, root: _Root) -> None:
        try:
            self._start_observer(root)
        except Exception as e:  # watchdog raises OSError, and others on odd file systems
            log.exception("cannot watch %s", root.path)
            self._report(
                f"cannot watch {root.path} for changes ({_said(e)}); its changes are picked "
                "up by the next full index (photoseek index), or restart watching once the "
                "folder is readable"
            )

    def _start_observer(self, root: _Root) -> None:
        poll = wants_polling(root.path, self.force_polling)
        handler = _Handler(root.path, self._events, self._relevant)
        observer: BaseObserver
        if not poll:
            try:
                observer = Observer()
                observer.schedule(
                    handler, str(root.path), recursive=True, event_filter=_EVENT_TYPES
                )
                observer.start()
            except OSError as e:  # e.g. the inotify watch limit
                log.warning(
                    "cannot watch %s for events (%s); polling it every %s s instead",
                    root.path,
                    e,
                    self.poll_interval_s,
                )
                self._report(
                    f"cannot watch {root.path} for change events ({_said(e)}); checking it "
                    f"every {self.poll_interval_s:g} s instead. On Linux, raise the limit with "
                    "sysctl fs.inotify.max_user_watches=524288 to watch by events"
                )
                poll = True
        if poll:
            observer = PollingObserver(timeout=self.poll_interval_s)
            observer.schedule(handler, str(root.path), recursive=True)
            observer.start()
        root.observer, root.polling = observer, poll
        log.info("watching %s (%s)", root.path, "polling" if poll else "events")

    def _unschedule(self, root: _Root) -> None:
        observer, root.observer = root.observer, None
        if observer is not None:
            observer.stop()
            observer.join(10)

    def _sync_roots(self, initial: bool = False) -> None:
        """Follow added/removed folders and roots that vanished, came back or changed device."""
        try:
            wanted = {Path(p) for p in self._folders()}
        except Exception as e:
            if not self._listing_failed:  # said once, not at every check
                log.exception("cannot list the watched folders")
                self._report(
                    f"cannot list the watched folders ({_said(e)}); folders added or "
                    "reconnected are not picked up until this is fixed (check the catalog with "
                    "photoseek repair)"
                )
            self._listing_failed = True
            return
        self._listing_failed = False
        for path in list(self._roots):
            if path not in wanted:
                self._unschedule(self._roots.pop(path))
        for path in wanted:
            key = _root_key(path)
            root = self._roots.get(path)
            if root is None:
                root = self._roots[path] = _Root(path, key)
                if key is not None:
                    self._schedule(root)
                if not initial or key is None:
                    self._rescan.add(path)  # new folder, or one to report unavailable
                continue
            if key != root.key:
                log.info("folder %s %s", path, "is back" if key else "is unavailable")
                self._unschedule(root)
                root.key = key
                if key is not None:
                    self._schedule(root)
                self._rescan.add(path)
                self._last_event = time.monotonic()

    # -- event handling --------------------------------------------------------------------
    def _drain(self, timeout: float) -> None:
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return
        now = time.monotonic()
        while True:
            kind, src, dest = item
            self._last_event = now
            if kind == "moved":
                self._moves.append((src, dest, now))
                self._touch(src, now)
                self._touch(dest, now)
            else:
                self._touch(src, now)
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return

    def _touch(self, path: str, now: float) -> None:
        self._ready.pop(path, None)
        entry = self._pending.get(path)
        if entry is None:
            self._pending[path] = _Pending(last_event=now)
        else:
            entry.last_event = now

    def _settle(self, now: float) -> None:
        """Move files whose signature held still across two checks `stable_s` apart to ready."""
        for path, entry in list(self._pending.items()):
            if now - entry.last_event < self.quiet_s or now - entry.checked_at < self.stable_s:
                continue
            sig = _signature(path)
            if entry.sig is _UNSET or sig != entry.sig:
                entry.sig, entry.checked_at = sig, now
                continue
            del self._pending[path]
            if sig is not None and sig[2]:
                self._expand(path, now)
            else:
                self._ready[path] = now

    def _expand(self, directory: str, now: float) -> None:
        """A folder appeared: its files go through the stability check too (watch events for
        files created before the folder was watched may never come)."""
        root = self._root_of(Path(directory))
        if root is None:
            return
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = [d for d in dirnames if self._relevant(root, Path(dirpath, d), True)]
            for name in filenames:
                p = os.path.join(dirpath, name)
                if p in self._pending or p in self._ready:
                    continue
                if self._relevant(root, Path(p), False):
                    self._pending[p] = _Pending(
                        last_event=now - self.quiet_s, sig=_signature(p), checked_at=now
                    )

    def _root_of(self, path: Path) -> Path | None:
        for root in self._roots:
            if is_under(path, root):
                return root
        return None

    def _due(self, now: float) -> bool:
        if self._rescan:
            return now - self._last_event >= self.quiet_s or not self._pending
        if not self._ready and not self._moves:
            return False
        if now - self._last_event >= self.quiet_s and not self._pending:
            return True
        oldest = min([*self._ready.values(), *(t for _, _, t in self._moves)], default=now)
        return now - self._last_event >= self.quiet_s * 3 or now - oldest >= self.max_wait_s

    def _take(self) -> ChangeSet:
        """Everything settled, as one ChangeSet; moves whose destination is still settling wait."""
        changes = ChangeSet(rescan=set(self._rescan))
        self._rescan.clear()
        keep: list[tuple[str, str, float]] = []
        for src, dest, t in self._moves:
            if dest in self._pending:
                keep.append((src, dest, t))
            else:
                changes.moves.append((Path(src), Path(dest)))
        self._moves = keep
        changes.paths = {Path(p) for p in self._ready}
        self._ready.clear()
        return changes

    def _flush(self) -> None:
        changes = self._take()
        if not changes:
            return
        control = JobControl()
        with self._lock:
            if self._stop.is_set():
                return
            self._control = control
        try:
            summary = self._apply(changes, control)
        except JobCancelled:
            return
        except Exception as e:
            log.exception("applying folder changes failed")
            self._report(
                f"cannot apply the changes in {self._where(changes)} ({_said(e)}); "
                "run photoseek index once the problem is fixed to pick them up"
            )
            return
        finally:
            with self._lock:
                self._control = None
        if self._on_change is not None and (
            summary.changed or summary.unavailable or summary.restored
        ):
            try:
                self._on_change(summary)
            except Exception:
                log.exception("on_change callback failed")

    def _where(self, changes: ChangeSet) -> str:
        """The watched folders a ChangeSet touches, for a message."""
        roots = {self._root_of(p) for p in changes.paths} | set(changes.rescan)
        roots |= {self._root_of(dst) for _, dst in changes.moves}
        names = sorted(str(r) for r in roots if r is not None)
        if not names:
            return "the watched folders"
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def _report(self, message: str) -> None:
        """Tell the user (`on_error`) of a failure already logged with its details."""
        if self._on_error is None:
            return
        try:
            self._on_error(message)
        except Exception:
            log.exception("on_error callback failed")

    def _run(self) -> None:
        next_roots = time.monotonic() + self.check_roots_s
        while not self._stop.is_set():
            self._drain(timeout=0.2)
            now = time.monotonic()
            if now >= next_roots:
                self._sync_roots()
                next_roots = now + self.check_roots_s
            self._settle(now)
            if self._due(now) and not self._stop.is_set():
                self._flush()


def _said(e: BaseException) -> str:
    """An exception as a user reads it: a UserError's own words, else its type and text."""
    if isinstance(e, UserError):
        return str(e).rstrip(".")
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
