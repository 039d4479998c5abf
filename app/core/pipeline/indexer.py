"""The indexing pipeline: scan folders, apply moves and deletions, then decode, encode and commit
new or changed photos in batches.

Kill safety: each batch is ONE catalog transaction (photos + vectors + generation bump), so after
a kill -9 the catalog holds whole batches only and the next scan sees exactly which files are
done. The vector index is a derived cache saved now and then; `VectorIndex.open` reconciles it
with the catalog's generation, so nothing is lost and nothing is encoded twice.

Mass-removal guard: a folder whose root is missing or unreadable is marked unavailable and none
of its photos are touched. A root that exists but is completely empty while the catalog knows
photos in it is an unmounted mount point (a bare folder left behind) unless it is the very same
folder (device and inode) as at the last good scan: only then did the user empty it, and the
deletions apply; otherwise it is unavailable too. When more than half of a folder's photos
vanish at once but the root still has content, the removal is applied (that is what the user
did) and logged as a warning.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat as stat_mod
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.records import INDEXED, FileState, Folder
from app.core.durable import write_json_atomic
from app.core.jobs import JobCancelled, JobControl, RateMeter
from app.core.model import preprocess
from app.core.paths import Paths
from app.core.photos import decode, metadata
from app.core.photos.thumbnails import THUMB_SIZE, ThumbnailStore, render_thumbnail
from app.core.pipeline import scanner

if TYPE_CHECKING:
    from PIL import Image

    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex
    from app.core.model.encoder import Encoder
    from app.core.pipeline.watcher import ChangeSet

log = logging.getLogger(__name__)

MASS_REMOVAL_FRACTION = 0.5
MASS_REMOVAL_MIN = 20  # below this many photos a folder emptying out is unremarkable
ROOTS_FILE = "folder_roots.json"
NOTES_FILE = "left_out.json"  # files and folders each folder's last full scan left out, and why


@dataclass
class IndexProgress:
    """A progress report: `phase` is "scanning", "indexing" or "done"; `rate` in photos/s."""

    phase: str
    done: int
    total: int
    rate: float = 0.0
    eta_s: float | None = None
    current: Path | None = None
    skipped: int = 0


@dataclass
class IndexReport:
    """What a run did. `unavailable` lists folder roots that could not be read (photos kept)."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    deleted: int = 0
    skipped: int = 0
    unchanged: int = 0
    still_skipped: int = 0  # files skipped before and unchanged since (not retried)
    encoded: int = 0
    elapsed_s: float = 0.0
    cancelled: bool = False
    unavailable: list[Path] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)  # folders available again
    catalog_lost: int = 0  # photos a missing or emptied catalog once held (re-indexed now)


@dataclass
class _Work:
    """One file to process. kind: "new", "update" (content changed or retry), "meta" (touched,
    vectors still valid: headers only) or "pending" (catalogued, lacks this model's vector)."""

    path: str
    folder_id: int
    kind: str
    stat: os.stat_result | None = None
    photo_id: int | None = None
    fingerprint: str | None = None


@dataclass
class _Decoded:
    work: _Work
    meta: metadata.PhotoMeta | None = None
    pixels: np.ndarray | None = None
    thumb: bytes | None = None
    error: str | None = None  # why the file is skipped
    gone: bool = False  # vanished since the scan: the next scan removes it


@dataclass
class _Scan:
    """What the walks found, before comparing: catalog state and files on disk by path."""

    state: dict[str, FileState] = field(default_factory=dict)
    found: dict[str, os.stat_result] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    scanned: list[Folder] = field(default_factory=list)


@dataclass
class _Plan:
    diff: scanner.ScanDiff
    scan: _Scan
    owners: list[tuple[str, int]]  # (root + sep, folder id), deepest first


class Indexer:
    """Brings the catalog and the vector index up to date with folders on disk.

    `encoder` None catalogues photos (metadata, thumbnails) without vectors; they stay pending
    until a run with a model encodes them. Not thread-safe: run one at a time (Library locks).
    """

    def __init__(
        self,
        catalog: Catalog,
        index: VectorIndex | None,
        encoder: Encoder | None,
        paths: Paths,
        *,
        batch_size: int = 32,
        decoders: int | None = None,
        prefetch_batches: int = 3,
        save_interval_s: float = 60.0,
        lock: threading.RLock | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if encoder is not None and index is None:
            raise ValueError("an encoder needs a vector index to add to")
        self.catalog = catalog
        self.index = index
        self.encoder = encoder
        self.paths = paths
        self.batch_size = max(1, batch_size)
        self.decoders = decoders or min(4, max(2, (os.cpu_count() or 2) // 2))
        self.prefetch = max(1, prefetch_batches) * self.batch_size
        self.save_interval_s = save_interval_s
        self.thumbs = ThumbnailStore(paths.thumbnails)
        self.roots = RootMemo(paths.data / ROOTS_FILE)
        self.notes = ScanNotes(paths.data / NOTES_FILE)
        # Held around every catalog/index write, never around decoding or encoding, so a folder
        # can be removed while a run goes on; the run drops work of `forgotten` folders.
        self.lock = lock or threading.RLock()
        self.forgotten: set[int] = set()
        self._clock = clock
        self.set_model(encoder, index)

    def set_model(self, encoder: Encoder | None, index: VectorIndex | None) -> None:
        """Encode with another model from the next run on (never during one: Library swaps
        models between runs)."""
        if encoder is not None and index is None:
            raise ValueError("an encoder needs a vector index to add to")
        self.encoder = encoder
        self.index = index
        self._model_id = encoder.model_id if encoder is not None else None
        size = encoder.info.image_size if encoder is not None else 0
        self.min_side = max(size, THUMB_SIZE)

    # -- public entry points ---------------------------------------------------------------
    def run(
        self,
        folders: Sequence[Folder] | None = None,
        *,
        progress: Callable[[IndexProgress], None] | None = None,
        control: JobControl | None = None,
    ) -> IndexReport:
        """Full reconcile of `folders` (default: all): scan, moves, deletions, then encode."""
        return self._execute(
            lambda r, c, p: self._plan_full(folders, r, c, p), progress, control, pending=True
        )

    def apply(
        self,
        changes: ChangeSet,
        *,
        progress: Callable[[IndexProgress], None] | None = None,
        control: JobControl | None = None,
    ) -> IndexReport:
        """Reconcile only what the watcher saw change (plus full rescans of `changes.rescan`)."""
        return self._execute(
            lambda r, c, p: self._plan_changes(changes, r, c, p),
            progress,
            control,
            pending=bool(changes.rescan),
        )

    # -- the run ---------------------------------------------------------------------------
    def _execute(
        self,
        planner: Callable[[IndexReport, JobControl, Callable[[IndexProgress], None]], _Plan | None],
        progress: Callable[[IndexProgress], None] | None,
        control: JobControl | None,
        *,
        pending: bool,
    ) -> IndexReport:
        started = self._clock()
        report = IndexReport()
        control = control or JobControl()
        emit = progress or (lambda p: None)
        try:
            plan = planner(report, control, emit)
            if plan is not None:
                report.unchanged += plan.diff.unchanged_count
                report.still_skipped += plan.diff.unchanged_skipped
                self._apply_moves(plan, report)
                self._apply_deletions(plan, report)
                work = self._work_list(plan, report, pending)
                self._process(work, report, control, emit)
                for folder in plan.scan.scanned:
                    self.catalog.mark_folder_scanned(folder.id)
        except JobCancelled:
            report.cancelled = True
        finally:
            if self.index is not None and self.index.dirty:
                self._save_index()
            report.elapsed_s = self._clock() - started
        n = report.added + report.updated + report.skipped
        rate = n / report.elapsed_s if report.elapsed_s > 0 else 0.0
        emit(IndexProgress("done", n, n, rate, 0.0, skipped=report.skipped))
        log.info("index run: %s", report)
        return report

    def _save_index(self) -> None:
        """Persist the index with the catalog generation it now matches (we are the only writer
        while a run holds the library's lock, and every commit is followed by its index ops)."""
        if self.index is not None:
            with self.lock:
                self.index.save(self.catalog.generation(self.index.model_id))

    # -- planning: what changed ------------------------------------------------------------
    def _plan_full(
        self,
        folders: Sequence[Folder] | None,
        report: IndexReport,
        control: JobControl,
        emit: Callable[[IndexProgress], None],
    ) -> _Plan:
        everything = self.catalog.folders()
        scan = _Scan()
        self._collect(everything if folders is None else folders, scan, report, control, emit)
        return self._diff(scan, _owners(everything))

    def _diff(self, scan: _Scan, owners: list[tuple[str, int]]) -> _Plan:
        diff = scanner.diff(scan.state, scan.found.items(), unreadable=scan.unreadable)
        self._warn_mass_removal(scan, diff)
        return _Plan(diff, scan, owners)

    def _collect(
        self,
        folders: Iterable[Folder],
        scan: _Scan,
        report: IndexReport,
        control: JobControl,
        emit: Callable[[IndexProgress], None],
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
                    for i, f in enumerate(scanner.walk(root, problems, exclude=self._own())):
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

    def _own(self) -> list[Path]:
        return [self.paths.data, self.paths.cache, self.paths.config, self.paths.logs]

    def is_own_path(self, path: str) -> bool:
        """True for PhotoSeek's own files (a data folder may lie inside a photo folder)."""
        return any(path == str(p) or path.startswith(str(p) + os.sep) for p in self._own())

    @staticmethod
    def _warn_mass_removal(scan: _Scan, diff: scanner.ScanDiff) -> None:
        if not diff.deleted:
            return
        gone = set(diff.deleted)
        for folder in scan.scanned:
            prefix = folder.path.rstrip(os.sep) + os.sep
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

    def _plan_changes(
        self,
        changes: ChangeSet,
        report: IndexReport,
        control: JobControl,
        emit: Callable[[IndexProgress], None],
    ) -> _Plan | None:
        """Like a full scan, restricted to the paths the watcher reported (and the roots it
        asks to rescan in full: new folders, folders whose drive came back)."""
        everything = self.catalog.folders()
        owners = _owners(everything)
        by_path = {Path(f.path): f for f in everything}
        by_id = {f.id: f for f in everything}
        scan = _Scan()
        rescan = [by_path[p] for p in sorted(changes.rescan) if p in by_path]
        self._collect(rescan, scan, report, control, emit)
        done_roots = tuple(f.path.rstrip(os.sep) + os.sep for f in rescan)
        paths = set(changes.paths)
        for src, dst in changes.moves:
            if not self._move_hint(Path(src), Path(dst), owners, report):
                paths.update((Path(src), Path(dst)))
        listing: dict[int, dict[str, FileState]] = {}  # folder_files, fetched at most once
        for p in sorted(paths):
            sp = str(p)
            folder_id = _owner(owners, sp)
            if folder_id is None or sp.startswith(done_roots) or self.is_own_path(sp):
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

    def _scope(
        self,
        root: Path,
        path: Path,
        folder_id: int,
        scan: _Scan,
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
            prefix = sp.rstrip(os.sep) + os.sep
            scan.state.update((p, s) for p, s in listing[folder_id].items() if p.startswith(prefix))
        if st is None:
            return
        if is_dir:
            if is_relevant(root, path, True):
                for f in scanner.walk(path, exclude=self._own()):
                    if is_relevant(root, Path(f.path), False):
                        scan.found[f.path] = f.stat
        elif is_relevant(root, path, False):
            scan.found[sp] = st

    def _move_hint(
        self, src: Path, dst: Path, owners: list[tuple[str, int]], report: IndexReport
    ) -> bool:
        """Apply a rename the watcher saw when the catalog knows the source and the file at the
        destination has the same size; False when it must be reconciled the slow way."""
        folder_id = _owner(owners, str(dst))
        if folder_id is None or self.is_own_path(str(dst)):
            return False
        with self.lock:
            return self._move_locked(src, dst, folder_id, owners, report)

    def _move_locked(
        self,
        src: Path,
        dst: Path,
        folder_id: int,
        owners: list[tuple[str, int]],
        report: IndexReport,
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
        src_folder = _owner(owners, str(src))
        if src_folder is None or not os.path.isdir(dst):
            return False
        prefix = str(src).rstrip(os.sep) + os.sep  # a folder rename: move what it held
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
    def _apply_moves(self, plan: _Plan, report: IndexReport) -> None:
        """Moved and renamed photos keep their id and vectors: the index is not touched."""
        if not plan.diff.moved:
            return
        with self.lock, self.catalog.transaction():
            for move in plan.diff.moved:
                folder_id = _owner(plan.owners, move.new_path)
                if folder_id is not None and folder_id not in self.forgotten:
                    mtime = plan.diff.files[move.new_path].mtime_ns
                    self.catalog.move_photo(move.photo_id, move.new_path, folder_id, mtime)
                    report.moved += 1

    def _apply_deletions(self, plan: _Plan, report: IndexReport) -> None:
        """Catalog first (the source of truth), then the index and thumbnails."""
        ids = plan.diff.deleted
        if not ids:
            return
        with self.lock:
            self.catalog.delete_photos(ids)
            if self.index is not None:
                self.index.remove(np.asarray(ids, dtype=np.int64))
            self.thumbs.remove(ids)
        report.deleted += len(ids)

    def _work_list(self, plan: _Plan, report: IndexReport, pending: bool) -> list[_Work]:
        diff, scan = plan.diff, plan.scan
        unembedded: dict[int, str] = {}  # photo id -> path, lacking this model's vector
        if pending and self._model_id is not None:
            for folder in scan.scanned:
                for photo in self.catalog.unembedded(self._model_id, folder.id):
                    unembedded[photo.id] = photo.path
        work: list[_Work] = []

        def add(f: scanner.FoundFile, kind: str, photo_id: int | None = None) -> None:
            folder_id = _owner(plan.owners, f.path)
            if folder_id is not None:
                work.append(
                    _Work(f.path, folder_id, kind, f.stat, photo_id, diff.fingerprints.get(f.path))
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
            folder_id = _owner(plan.owners, path)
            if st is not None and folder_id is not None:  # on disk and unchanged
                work.append(_Work(path, folder_id, "pending", st, pid))
                report.unchanged -= 1  # the scan counted it unchanged
        return work

    # -- decode, encode, commit --------------------------------------------------------------
    def _process(
        self,
        work: list[_Work],
        report: IndexReport,
        control: JobControl,
        emit: Callable[[IndexProgress], None],
    ) -> None:
        """Run the decoder pool a few batches ahead of the encoder; commit batch by batch."""
        if not work:
            return
        total, done = len(work), 0
        meter = RateMeter(clock=self._clock)
        last_save = self._clock()
        emit(IndexProgress("indexing", 0, total))
        queue: deque[Future[_Decoded]] = deque()
        items = iter(work)
        batch: list[_Decoded] = []
        pool = ThreadPoolExecutor(self.decoders, thread_name_prefix="photoseek-decode")
        try:
            while True:
                while len(queue) < self.prefetch:
                    nxt = next(items, None)
                    if nxt is None:
                        break
                    queue.append(pool.submit(self._decode, nxt))
                if not queue:
                    break
                batch.append(queue.popleft().result())
                if len(batch) < self.batch_size and queue:
                    continue
                control.checkpoint(on_pause=meter.pause)
                meter.resume()
                self._commit(batch, report)
                done += len(batch)
                meter.update(len(batch))
                emit(
                    IndexProgress(
                        "indexing",
                        done,
                        total,
                        meter.rate,
                        meter.eta(total - done),
                        Path(batch[-1].work.path),
                        report.skipped,
                    )
                )
                batch = []
                if (
                    self.index is not None
                    and self.index.dirty
                    and self._clock() - last_save >= self.save_interval_s
                ):
                    self._save_index()
                    last_save = self._clock()
        finally:
            for fut in queue:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def _decode(self, w: _Work) -> _Decoded:
        """Headers, one decode, the thumbnail and the model's pixels (runs on a pool thread)."""
        if w.folder_id in self.forgotten:
            return _Decoded(w, gone=True)
        try:
            st = w.stat if w.stat is not None else os.stat(w.path)
            if w.kind == "pending":  # catalogued already: pixels only
                return self._pixels(w, None, decode.open_image(w.path, min_side=self.min_side))
            # One open and one header parse for metadata, fingerprint and pixels.
            with metadata.open_photo(w.path, st, fp=w.fingerprint) as (meta, opened):
                meta = dataclasses.replace(meta, folder_id=w.folder_id)
                if w.kind == "meta":
                    return _Decoded(w, meta)
                img = decode.decode(opened, w.path, min_side=self.min_side)
            return self._pixels(w, meta, img)
        except metadata.MetadataError as e:
            return _Decoded(w, error=e.reason)
        except decode.ImageError as e:
            return _Decoded(w, error=_strip_name(str(e), w.path))
        except FileNotFoundError:
            return _Decoded(w, gone=True)
        except MemoryError:
            return _Decoded(w, error="not enough memory to decode this image")
        except Exception as e:  # one bad file must never stop the run
            log.exception("unexpected error reading %s", w.path)
            return _Decoded(w, error=f"unexpected error while reading ({type(e).__name__}: {e})")

    def _pixels(self, w: _Work, meta: metadata.PhotoMeta | None, img: Image.Image) -> _Decoded:
        """The thumbnail and the model's input from one decoded image."""
        thumb = render_thumbnail(img)
        pixels = None
        if self.encoder is not None:
            pixels = preprocess.to_pixels(img, self.encoder.info)
        return _Decoded(w, meta, pixels, thumb)

    def _commit(self, batch: list[_Decoded], report: IndexReport) -> None:
        """Encode the batch, then write it in ONE transaction; then the index and thumbnails."""
        if self.forgotten:  # folders removed (or absorbed) while this run went on
            batch = [d for d in batch if d.work.folder_id not in self.forgotten]
        ok = [d for d in batch if d.error is None and not d.gone]
        bad = [d for d in batch if d.error is not None]
        to_encode = [d for d in ok if d.pixels is not None]
        vectors = None
        if to_encode and self.encoder is not None:
            vectors = self.encoder.encode_pixels(
                np.stack([d.pixels for d in to_encode if d.pixels is not None])
            )
            report.encoded += len(to_encode)
        with self.lock:
            if self.forgotten:  # again: one may have gone while this batch was encoded
                keep = [
                    i for i, d in enumerate(to_encode) if d.work.folder_id not in self.forgotten
                ]
                if vectors is not None and len(keep) != len(to_encode):
                    vectors = vectors[keep]
                to_encode = [to_encode[i] for i in keep]
                ok = [d for d in ok if d.work.folder_id not in self.forgotten]
                bad = [d for d in bad if d.work.folder_id not in self.forgotten]
            self._write(ok, bad, to_encode, vectors, report)

    def _write(
        self,
        ok: list[_Decoded],
        bad: list[_Decoded],
        to_encode: list[_Decoded],
        vectors: np.ndarray | None,
        report: IndexReport,
    ) -> None:
        ids: dict[int, int] = {}  # id(decoded) -> photo id
        dropped: list[int] = []
        with self.catalog.transaction():
            with_meta = [d for d in ok if d.meta is not None]
            if with_meta:
                got = self.catalog.upsert_photos([d.meta for d in with_meta if d.meta])
                ids.update((id(d), pid) for d, pid in zip(with_meta, got, strict=True))
            for d in ok:
                if d.meta is None and d.work.photo_id is not None:
                    ids[id(d)] = d.work.photo_id
            if vectors is not None and to_encode:
                assert self._model_id is not None
                self.catalog.put_embeddings(
                    self._model_id, [ids[id(d)] for d in to_encode], vectors
                )
            for d in bad:
                w = d.work
                size, mtime = (w.stat.st_size, w.stat.st_mtime_ns) if w.stat else (0, 0)
                self.catalog.mark_skipped(
                    w.path, w.folder_id, d.error or "unreadable", size, mtime, w.fingerprint
                )
                if w.photo_id is not None:
                    dropped.append(w.photo_id)
                log.info("skipped %s: %s", w.path, d.error)
        # Copy the batch into the main file now: a WAL destroyed after a crash (a "cleanup"
        # deleting -wal files, a damaged disk) then loses at most this batch, not every batch
        # since the last automatic checkpoint (1000 pages). Measured: 0.6 ms median, 4 ms worst per
        # 32-photo batch (passive: never waits for readers), against ~1 s of decoding and encoding.
        self.catalog.checkpoint()
        if self.index is not None:
            if vectors is not None and to_encode:
                self.index.add(np.asarray([ids[id(d)] for d in to_encode], dtype=np.int64), vectors)
            if dropped:
                self.index.remove(np.asarray(dropped, dtype=np.int64))
        for d in ok:
            if d.thumb is not None:
                self.thumbs.write(ids[id(d)], d.thumb)
        if dropped:
            self.thumbs.remove(dropped)
        for d in ok:
            if d.work.kind in ("new", "pending"):
                report.added += 1
            else:
                report.updated += 1
        report.skipped += len(bad)


class RootMemo:
    """(device, inode) of each folder root at its last good scan, kept in our data folder, to tell
    a folder the user emptied from the bare mount point an unplugged drive leaves behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, list[int]] | None = None

    def _load(self) -> dict[str, list[int]]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = {str(k): [int(x) for x in v] for k, v in data.items()}
            except (OSError, ValueError, TypeError, AttributeError):
                self._data = {}  # missing or damaged: empty roots count as unavailable
        return self._data

    def get(self, folder_id: int) -> tuple[int, int] | None:
        got = self._load().get(str(folder_id))
        return (got[0], got[1]) if got and len(got) == 2 else None

    def remember(self, folder_id: int, root: Path) -> None:
        try:
            st = os.stat(root)
        except OSError:
            return
        key = [st.st_dev, st.st_ino]
        data = self._load()
        if data.get(str(folder_id)) == key:
            return
        data[str(folder_id)] = key
        try:
            write_json_atomic(self.path, data)
        except OSError as e:  # without it an emptied folder reads as unavailable: safe side
            log.warning("cannot record folder identities in %s: %s", self.path, e)


class ScanNotes:
    """What the last full scan of each folder left out and why (videos, broken links, pipes,
    unreadable folders), kept in our data folder so `Library.skipped` can list them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, list[tuple[str, str]]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[tuple[str, str]]]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = {str(k): [(str(p), str(r)) for p, r in v] for k, v in data.items()}
            except (OSError, ValueError, TypeError, AttributeError):
                self._data = {}  # missing or damaged: the next full scan lists them again
        return self._data

    def get(self, folder_ids: Iterable[int]) -> list[tuple[str, str]]:
        """(path, reason) left out in these folders, by path."""
        with self._lock:
            data = self._load()
            return sorted(n for i in folder_ids for n in data.get(str(i), []))

    def record(self, folder_id: int, notes: list[tuple[str, str]]) -> None:
        with self._lock:
            data = self._load()
            if data.get(str(folder_id), []) == notes:
                return
            if notes:
                data[str(folder_id)] = notes
            else:
                data.pop(str(folder_id), None)
            self._save(data)

    def forget(self, folder_id: int) -> None:
        self.record(folder_id, [])

    def _save(self, data: dict[str, list[tuple[str, str]]]) -> None:
        try:
            write_json_atomic(self.path, data, durable=False)
        except OSError as e:
            log.warning("cannot record the files left out in %s: %s", self.path, e)


def is_relevant(root: Path, path: Path, is_dir: bool) -> bool:
    """Whether a walk of `root` would include `path`: no hidden or system folder on the way,
    and (for a file) not hidden, with an image extension."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    for name in parts if is_dir else parts[:-1]:
        if name.startswith(".") or scanner.is_system_dir(name):
            return False
    if is_dir:
        return True
    return (
        bool(parts)
        and not parts[-1].startswith(".")
        and (os.path.splitext(parts[-1])[1].lower() in metadata.IMAGE_EXTENSIONS)
    )


def _owners(folders: Iterable[Folder]) -> list[tuple[str, int]]:
    owners = [(f.path.rstrip(os.sep) + os.sep, f.id) for f in folders]
    return sorted(owners, key=lambda o: -len(o[0]))


def _owner(owners: Sequence[tuple[str, int]], path: str) -> int | None:
    for prefix, folder_id in owners:
        if path.startswith(prefix):
            return folder_id
    return None


def _strip_name(message: str, path: str) -> str:
    """preprocess errors start with the file name; the catalog stores the reason alone."""
    for prefix in (f"{path}: ", f"{Path(path)}: "):
        if message.startswith(prefix):
            return message[len(prefix) :].rstrip(".")
    return message
