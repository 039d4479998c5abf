"""Deciding what changed: scan folders (all, or what the watcher saw), compare with the catalog,
and apply moves, renames and deletions; what is new or changed becomes the ingest work list.

Mass-removal guard: a folder whose root is missing or unreadable is marked unavailable and none
of its photos are touched. A root that exists but is completely empty while the catalog knows
photos in it is an unmounted mount point (a bare folder left behind) unless it is the very same
folder (device and inode) as at the last good scan (`RootMemo`): only then did the user empty it,
and the deletions apply; otherwise it is unavailable too. When more than half of a folder's
photos vanish at once but the root still has content, the removal is applied (that is what the
user did) and logged as a warning.

Over 400 lines on purpose: the full scan, the watcher's scoped scan and the guards above share
`Scan`, `Plan` and the root checks; split apart, each half would reach into the other's state.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat as stat_mod
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.records import INDEXED, FileState, Folder
from app.core.jobs import JobControl
from app.core.paths import Paths, folder_prefix, is_under
from app.core.photos.thumbnails import ThumbnailStore
from app.core.pipeline import scanner
from app.core.pipeline.changes import ChangeSet
from app.core.pipeline.ingest import Work
from app.core.pipeline.notes import ScanNotes
from app.core.pipeline.report import IndexProgress, IndexReport
from app.core.pipeline.scanner import is_relevant

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex

log = logging.getLogger(__name__)

MASS_REMOVAL_FRACTION = 0.5
MASS_REMOVAL_MIN = 20  # below this many photos a folder emptying out is unremarkable

Emit = Callable[[IndexProgress], None]
Owners = list[tuple[str, int]]  # (folder prefix, folder id), deepest first
Stale = tuple[int, str, os.stat_result, str | None]  # id, path, stat, stored fingerprint


@dataclass
class Scan:
    """What the walks found, before comparing: catalog state and files on disk by path."""

    state: dict[str, FileState] = field(default_factory=dict)
    found: dict[str, os.stat_result] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    scanned: list[Folder] = field(default_factory=list)


@dataclass
class Plan:
    """A compared scan: what changed, and which folder each path belongs to."""

    diff: scanner.ScanDiff
    scan: Scan
    owners: Owners


class RootMemo:
    """(device, inode) of each folder root at its last good scan, kept in the catalog's folders
    table, to tell a folder the user emptied from the bare mount point an unplugged drive leaves
    behind."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self, folder_id: int) -> tuple[int, int] | None:
        return self.catalog.folder_root(folder_id)

    def remember(self, folder_id: int, root: Path) -> None:
        try:
            st = os.stat(root)
        except OSError:
            return
        try:
            self.catalog.remember_folder_root(folder_id, st.st_dev, st.st_ino)
        except sqlite3.Error as e:  # without it an emptied folder reads as unavailable: safe side
            log.warning("cannot record the identity of the folder %s: %s", root, e)


def owners_of(folders: Iterable[Folder]) -> Owners:
    owners = [(folder_prefix(f.path), f.id) for f in folders]
    return sorted(owners, key=lambda o: -len(o[0]))


def owner(owners: Sequence[tuple[str, int]], path: str) -> int | None:
    """The id of the deepest folder holding `path` (`owners` from `owners_of`)."""
    for prefix, folder_id in owners:
        if path.startswith(prefix):
            return folder_id
    return None


class Reconciler:
    """Brings the catalog's view of folders in line with the disk, up to the work list of files
    to (re)read. `lock` is held around every catalog/index write; `forgotten` folders (removed
    while a run goes on) are left alone."""

    def __init__(
        self,
        catalog: Catalog,
        index: VectorIndex | None,
        thumbs: ThumbnailStore,
        paths: Paths,
        *,
        roots: RootMemo,
        notes: ScanNotes,
        lock: threading.RLock,
        forgotten: set[int],
    ) -> None:
        self.catalog = catalog
        self.index = index
        self.thumbs = thumbs
        self.paths = paths
        self.roots = roots
        self.notes = notes
        self.lock = lock
        self.forgotten = forgotten

    # -- planning: what changed ------------------------------------------------------------
    def plan_full(
        self,
        folders: Sequence[Folder] | None,
        report: IndexReport,
        control: JobControl,
        emit: Emit,
    ) -> Plan:
        """Scan `folders` (default: all) in full and compare them with the catalog."""
        everything = self.catalog.folders()
        scan = Scan()
        self._collect(everything if folders is None else folders, scan, report, control, emit)
        return self._diff(scan, owners_of(everything))

    def plan_changes(
        self,
        changes: ChangeSet,
        report: IndexReport,
        control: JobControl,
        emit: Emit,
    ) -> Plan | None:
        """Like a full scan, restricted to the paths the watcher reported (and the roots it
        asks to rescan in full: new folders, folders whose drive came back)."""
        everything = self.catalog.folders()
        owners = owners_of(everything)
        by_path = {Path(f.path): f for f in everything}
        by_id = {f.id: f for f in everything}
        scan = Scan()
        rescan = [by_path[p] for p in sorted(changes.rescan) if p in by_path]
        self._collect(rescan, scan, report, control, emit)
        paths = set(changes.paths)
        for src, dst in changes.moves:
            if not self._move_hint(Path(src), Path(dst), owners, report):
                paths.update((Path(src), Path(dst)))
        listing: dict[int, dict[str, FileState]] = {}  # folder_files, fetched at most once
        for p in sorted(paths):
            sp = str(p)
            folder_id = owner(owners, sp)
            if folder_id is None or self.paths.is_own(sp):
                continue
            if any(is_under(sp, f.path, strict=True) for f in rescan):  # scanned in full above
                continue
            folder = by_id[folder_id]
            root = Path(folder.path)
            if root in report.unavailable:
                continue
            if not self._root_usable(root, folder.id, expect_content=True):
                log.warning("folder %s is unavailable; keeping its photos", root)
                self.catalog.set_folder_available(folder.id, False)
                report.unavailable.append(root)
                continue
            self._scope(root, p, folder_id, scan, listing)
        if not scan.state and not scan.found and not scan.scanned:
            return None
        return self._diff(scan, owners)

    def _diff(self, scan: Scan, owners: Owners) -> Plan:
        diff = scanner.diff(scan.state, scan.found.items(), unreadable=scan.unreadable)
        _warn_mass_removal(scan, diff)
        return Plan(diff, scan, owners)

    def _collect(
        self,
        folders: Iterable[Folder],
        scan: Scan,
        report: IndexReport,
        control: JobControl,
        emit: Emit,
    ) -> None:
        """Walk each folder into `scan`; a folder whose root cannot be trusted is marked
        unavailable and left out entirely (its photos are neither compared nor touched)."""
        for folder in folders:
            control.checkpoint()
            root = Path(folder.path)
            emit(IndexProgress("scanning", len(scan.found), 0, current=root))
            known = self.catalog.folder_files(folder.id)
            problems: list[scanner.ScanProblem] = []
            found: dict[str, os.stat_result] | None = None
            if self._root_usable(root, folder.id, expect_content=bool(known)):
                found = {}
                try:
                    for i, f in enumerate(scanner.walk(root, problems, exclude=self.paths.own)):
                        found[f.path] = f.stat
                        if i % 2000 == 1999:
                            control.checkpoint()
                            emit(
                                IndexProgress(
                                    "scanning",
                                    len(scan.found) + len(found),
                                    0,
                                    current=Path(f.path),
                                )
                            )
                except scanner.FolderUnavailableError as e:
                    log.warning("%s", e)
                    found = None
            if found is None:
                if folder.available:
                    log.warning("folder %s is unavailable; keeping its %d photos", root, len(known))
                    self.catalog.set_folder_available(folder.id, False)
                report.unavailable.append(root)
                continue
            if not folder.available:
                log.info("folder %s is available again", root)
                self.catalog.set_folder_available(folder.id, True)
                report.restored.append(root)
            self.notes.record(folder.id, [(p.path, p.reason) for p in problems])
            for p in problems:  # an unreadable file keeps its record untouched
                if not p.unreadable:
                    continue
                if p.path in known:
                    del known[p.path]
                    report.unchanged += 1
                else:
                    scan.unreadable.append(p.path)
            scan.state.update(known)
            scan.found.update(found)
            scan.scanned.append(folder)
            self.roots.remember(folder.id, root)

    def _root_usable(self, root: Path, folder_id: int, *, expect_content: bool) -> bool:
        """The root is a readable folder, and not an empty stand-in for photos we know (see the
        module notes: empty counts only when it is the same folder as at the last good scan)."""
        try:
            st = os.stat(root)
            if not stat_mod.S_ISDIR(st.st_mode):
                return False
            if not expect_content:
                return True
            with os.scandir(root) as it:
                if any(True for _ in it):
                    return True
        except OSError:
            return False
        return self.roots.get(folder_id) == (st.st_dev, st.st_ino)

    def _scope(
        self,
        root: Path,
        path: Path,
        folder_id: int,
        scan: Scan,
        listing: dict[int, dict[str, FileState]],
    ) -> None:
        """Add what the catalog knows at or below `path`, and what is on disk there, to `scan`."""
        sp = str(path)
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
        is_dir = st is not None and os.path.isdir(path)
        photo = self.catalog.photo_by_path(sp)
        if photo is not None:
            scan.state[sp] = FileState(
                photo.size, photo.mtime_ns, photo.fingerprint, photo.id, photo.state
            )
        elif is_dir or (st is None and not is_relevant(root, path, False)):
            if folder_id not in listing:  # a folder: everything catalogued below it
                listing[folder_id] = self.catalog.folder_files(folder_id)
            prefix = folder_prefix(sp)
            scan.state.update((p, s) for p, s in listing[folder_id].items() if p.startswith(prefix))
        if st is None:
            return
        if is_dir:
            if is_relevant(root, path, True):
                for f in scanner.walk(path, exclude=self.paths.own):
                    if is_relevant(root, Path(f.path), False):
                        scan.found[f.path] = f.stat
        elif is_relevant(root, path, False):
            scan.found[sp] = st

    def _move_hint(self, src: Path, dst: Path, owners: Owners, report: IndexReport) -> bool:
        """Apply a rename the watcher saw when the catalog knows the source and the file at the
        destination has the same size; False when it must be reconciled the slow way."""
        folder_id = owner(owners, str(dst))
        if folder_id is None or self.paths.is_own(str(dst)):
            return False
        with self.lock:
            return self._move_locked(src, dst, folder_id, owners, report)

    def _move_locked(
        self, src: Path, dst: Path, folder_id: int, owners: Owners, report: IndexReport
    ) -> bool:
        photo = self.catalog.photo_by_path(str(src))
        if photo is not None:
            try:
                st = os.stat(dst)
            except OSError:
                return False
            if st.st_size != photo.size or not os.path.isfile(dst):
                return False
            self.catalog.move_photo(photo.id, str(dst), folder_id, st.st_mtime_ns)
            report.moved += 1
            return True
        src_folder = owner(owners, str(src))
        if src_folder is None or not os.path.isdir(dst):
            return False
        prefix = folder_prefix(str(src))  # a folder rename: move what it held
        moved = 0
        with self.catalog.transaction():
            for p, s in self.catalog.folder_files(src_folder).items():
                if not p.startswith(prefix):
                    continue
                target = os.path.join(str(dst), p[len(prefix) :])
                try:
                    tst = os.stat(target)
                except OSError:
                    continue
                if tst.st_size == s.size:
                    self.catalog.move_photo(s.photo_id, target, folder_id, tst.st_mtime_ns)
                    moved += 1
        report.moved += moved
        return False  # still reconcile both places for whatever did not match

    # -- applying moves and deletions --------------------------------------------------------
    def apply_moves(self, plan: Plan, report: IndexReport) -> None:
        """Moved and renamed photos and videos keep their id and vectors (a video its moments
        too): the index is not touched."""
        if not plan.diff.moved:
            return
        with self.lock, self.catalog.transaction():
            for move in plan.diff.moved:
                folder_id = owner(plan.owners, move.new_path)
                if folder_id is not None and folder_id not in self.forgotten:
                    mtime = plan.diff.files[move.new_path].mtime_ns
                    self.catalog.move_photo(move.photo_id, move.new_path, folder_id, mtime)
                    report.moved += 1

    def apply_deletions(self, plan: Plan, report: IndexReport) -> None:
        """Catalog first (the source of truth), then the index and thumbnails."""
        ids = plan.diff.deleted
        if not ids:
            return
        with self.lock:
            moments = self.catalog.moment_labels(ids)  # a deleted video's moments go with it
            self.catalog.delete_photos(ids)
            if self.index is not None:
                self.index.remove(np.concatenate([np.asarray(ids, dtype=np.int64), moments]))
            self.thumbs.remove(ids)
        report.deleted += len(ids)

    def work_list(
        self, plan: Plan, report: IndexReport, *, model_id: str | None, pending: bool
    ) -> list[Work]:
        """The files to read: new, changed and touched ones, and (`pending`) catalogued photos
        of the scanned folders that lack `model_id`'s vector."""
        diff, scan = plan.diff, plan.scan
        unembedded: dict[int, str] = {}  # photo id -> path, lacking this model's vector
        if pending and model_id is not None:
            for folder in scan.scanned:
                for photo in self.catalog.unembedded(model_id, folder.id):
                    unembedded[photo.id] = photo.path
        work: list[Work] = []

        def add(f: scanner.FoundFile, kind: str, photo_id: int | None = None) -> None:
            folder_id = owner(plan.owners, f.path)
            if folder_id is not None:
                work.append(
                    Work(f.path, folder_id, kind, f.stat, photo_id, diff.fingerprints.get(f.path))
                )
            if photo_id is not None:
                unembedded.pop(photo_id, None)

        for f in diff.new:
            add(f, "new")
        for f in diff.changed:
            known = scan.state.get(f.path)
            add(f, "update", known.photo_id if known else None)
        for pid, f in diff.touched:
            known = scan.state.get(f.path)
            fresh = known is not None and known.state == INDEXED and pid not in unembedded
            add(f, "meta" if fresh else "update", pid)
        for pid, path in unembedded.items():
            st = scan.found.get(path)
            folder_id = owner(plan.owners, path)
            if st is not None and folder_id is not None:  # on disk and unchanged
                work.append(Work(path, folder_id, "pending", st, pid))
                report.unchanged -= 1  # the scan counted it unchanged
        return work

    def stale_headers(self, plan: Plan, work: list[Work]) -> list[Stale]:
        """(id, path, stat, fingerprint) of the scanned folders' unchanged files catalogued
        before the current header facts (see `HEADER_VERSION`), which `work` does not read
        anyway."""
        read = {w.path for w in work if w.kind != "pending"}  # "pending" reads pixels only
        stale: list[Stale] = []
        for folder in plan.scan.scanned:
            if folder.id in self.forgotten:
                continue
            for path, pid in self.catalog.stale_headers(folder.id).items():
                st = plan.scan.found.get(path)
                if st is not None and path not in read:
                    known = plan.scan.state.get(path)
                    stale.append((pid, path, st, known.fingerprint if known else None))
        return stale


def _warn_mass_removal(scan: Scan, diff: scanner.ScanDiff) -> None:
    if not diff.deleted:
        return
    gone = set(diff.deleted)
    for folder in scan.scanned:
        prefix = folder_prefix(folder.path)
        known = [s.photo_id for p, s in scan.state.items() if p.startswith(prefix)]
        lost = sum(1 for pid in known if pid in gone)
        if len(known) >= MASS_REMOVAL_MIN and lost > MASS_REMOVAL_FRACTION * len(known):
            log.warning(
                "%d of %d photos in %s are gone; removing them from the library (the folder "
                "itself is still there)",
                lost,
                len(known),
                folder.path,
            )
