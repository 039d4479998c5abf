"""The one object the CLI and the desktop UI use: folders, indexing, watching, search, status.

Threads: every method may be called from any thread. Index runs (`index()` and the watcher's
updates) take turns on one lock; catalog and vector-index writes take a second, short lock, so
a folder can be added or removed while a long run goes on (the run drops that folder's work).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.catalog import Catalog
from app.core.catalog_types import INDEXED, PENDING, SKIPPED, Folder, FolderError, Photo
from app.core.errors import UserError
from app.core.indexer import Indexer, IndexProgress, IndexReport, is_relevant
from app.core.jobs import JobCancelled, JobControl
from app.core.modelinfo import ModelError
from app.core.paths import Paths
from app.core.query import Query, SearchResult, parse_text
from app.core.search import SearchEngine
from app.core.thumbnails import ThumbnailStore
from app.core.vindex import VectorIndex
from app.core.watcher import ChangeSet, ChangeSummary, Watcher

if TYPE_CHECKING:
    from app.core.encoder import Encoder

__all__ = [
    "ChangeSummary",
    "Folder",
    "IndexProgress",
    "IndexReport",
    "JobCancelled",
    "JobControl",
    "Library",
    "LibraryStatus",
    "Photo",
    "Query",
    "SearchResult",
    "SkippedFile",
    "Watcher",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be indexed, why, and when that was decided."""

    path: Path
    reason: str
    when: datetime | None


@dataclass(frozen=True)
class LibraryStatus:
    """Counts and the model in use. `indexed`: searchable with the current model; `pending`:
    catalogued but not yet encoded by it; `skipped`: unreadable files (see `Library.skipped`)."""

    photos: int
    indexed: int
    skipped: int
    pending: int
    folders: list[Folder] = field(default_factory=list)
    model_id: str | None = None
    provider: str | None = None
    device: str | None = None
    has_model: bool = False
    model_error: str | None = None
    index_size: int = 0


class Library:
    """Catalog, vector index, encoder, indexer, search and watcher behind one thread-safe API."""

    @classmethod
    def open(
        cls,
        paths: Paths,
        *,
        device: str = "auto",
        model_dir: Path | None = None,
        precision: str = "fp32",
    ) -> Library:
        """Open the library in `paths`. Without an installed model it opens with has_model False
        (folders, browsing and filters work); an explicit `model_dir` that is unusable raises."""
        from app.core.encoder import Encoder
        from app.core.models import resolve_model_dir

        paths.ensure()
        encoder: Encoder | None = None
        problem: str | None = None
        try:
            chosen = model_dir if model_dir is not None else resolve_model_dir(paths)
            encoder = Encoder(Path(chosen), device=device, precision=precision)
            encoder.model_id  # noqa: B018 - reads model.json now, so a broken model shows here
        except ModelError as e:
            if model_dir is not None:
                raise
            problem = str(e)
            log.info("no usable model: %s", e)
        try:
            lib = cls(paths, encoder)
        except BaseException:
            if encoder is not None:
                encoder.close()
            raise
        lib.model_error = problem
        lib._device = device
        return lib

    def __init__(self, paths: Paths, encoder: Encoder | None) -> None:
        self.paths = paths.ensure()
        self.encoder = encoder
        self.has_model = encoder is not None
        self.model_error: str | None = None
        self._device = "auto"
        self.catalog = Catalog(paths.catalog)
        self.thumbs = ThumbnailStore(paths.thumbnails)
        self.vindex: VectorIndex | None = None
        try:
            if encoder is not None:
                self.vindex = VectorIndex.open(
                    self._index_dir(encoder.model_id),
                    encoder.model_id,
                    encoder.info.embed_dim,
                    self.catalog,
                )
        except BaseException:
            self.catalog.close()
            raise
        self._search = SearchEngine(encoder, self.catalog, self.vindex)
        self._write_lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._controls: set[JobControl] = set()
        self._watchers: list[Watcher] = []
        self._closed = False
        self.indexer = Indexer(self.catalog, self.vindex, encoder, paths, lock=self._write_lock)

    def _index_dir(self, model_id: str) -> Path:
        """One index folder per model, so switching models back and forth never rebuilds."""
        return self.paths.index_dir / re.sub(r"[^A-Za-z0-9._+-]", "_", model_id)

    # -- folders -----------------------------------------------------------------------------
    def folders(self) -> list[Folder]:
        return self.catalog.folders()

    def add_folder(self, path: Path) -> Folder:
        """Add a photo folder. A parent of folders already added absorbs them (their photos are
        kept); a folder already in the library, or inside one, is refused with a UserError."""
        given = Path(path).expanduser()
        if not given.exists():
            raise FolderError(f"Folder not found: {given}. Check the path, or connect its drive.")
        if not given.is_dir():
            raise FolderError(f"{given} is a file, not a folder. Add the folder that holds it.")
        resolved = given.resolve()
        for own in (self.paths.data, self.paths.cache, self.paths.config, self.paths.logs):
            own = own.resolve()
            if resolved == own or own in resolved.parents:
                raise FolderError(
                    f"{resolved} is inside PhotoSeek's own data ({own}); add a photo folder."
                )
        with self._write_lock:
            before = {f.id for f in self.catalog.folders()}
            folder = self.catalog.add_folder(resolved)
            absorbed = before - {f.id for f in self.catalog.folders()}
            self.indexer.forgotten |= absorbed  # a running job drops their work; rerun re-finds
        log.info("added folder %s", folder.path)
        return folder

    def remove_folder(self, path: Path) -> None:
        """Forget a folder: its photos leave the catalog, the index and the thumbnail cache.
        The photo files themselves are never touched."""
        folder = self.catalog.folder(Path(path).expanduser())
        if folder is None:
            raise FolderError(
                f"{path} is not a folder in your library (see the folder list for the exact path)."
            )
        with self._write_lock:
            ids = [s.photo_id for s in self.catalog.folder_files(folder.id).values()]
            self.catalog.remove_folder(folder.id)
            self.indexer.forgotten.add(folder.id)
            if self.vindex is not None and ids:
                self.vindex.remove(ids)
                self.vindex.save(self.catalog.generation(self.vindex.model_id))
            self.thumbs.remove(ids)
        log.info("removed folder %s (%d photos forgotten)", folder.path, len(ids))

    # -- browsing and search ------------------------------------------------------------------
    def search(self, query: Query) -> SearchResult:
        """Ranked (or date-ordered) photos for `query`; ModelError when it needs a model and
        none is installed."""
        if self.encoder is None and _needs_model(query):
            raise ModelError(
                (f"{self.model_error}\n" if self.model_error else "")
                + f"No usable model is installed in {self.paths.models}, so photos cannot be "
                "searched by text or image yet (browsing by date and folder works). Install "
                "one with `photoseek model install`, or pass an exported model folder with "
                "--model DIR."
            )
        return self._search.search(query)

    def years(self) -> list[tuple[int, int]]:
        return self.catalog.years()

    def months(self, year: int | None = None) -> list[tuple[int, int]]:
        return self.catalog.months(year)

    def photo(self, photo_id: int) -> Photo | None:
        return self.catalog.photo(photo_id)

    def thumbnail(self, photo_id: int) -> Path | None:
        """The cached ~256 px JPEG of a photo, remade if missing; None if it cannot be made."""
        if self.thumbs.exists(photo_id):
            return self.thumbs.path(photo_id)
        photo = self.catalog.photo(photo_id)
        if photo is None or photo.state == SKIPPED:
            return None
        return self.thumbs.ensure(photo_id, Path(photo.path))

    def skipped(self) -> list[SkippedFile]:
        return [
            SkippedFile(Path(p.path), p.skip_reason or "unreadable", p.indexed_at)
            for p in self.catalog.skipped_photos()
        ]

    def status(self) -> LibraryStatus:
        counts = self.catalog.counts()
        catalogued = counts[INDEXED] + counts[PENDING]
        model_id = self.encoder.model_id if self.encoder is not None else None
        indexed = self.catalog.count_indexed(model_id) if model_id else counts[INDEXED]
        return LibraryStatus(
            photos=counts["photos"],
            indexed=indexed,
            skipped=counts[SKIPPED],
            pending=max(0, catalogued - indexed) if model_id else counts[PENDING],
            folders=self.catalog.folders(),
            model_id=model_id,
            provider=self.encoder.provider if self.encoder is not None else None,
            device=self._device if self.encoder is not None else None,
            has_model=self.has_model,
            model_error=self.model_error,
            index_size=len(self.vindex) if self.vindex is not None else 0,
        )

    # -- indexing and watching ----------------------------------------------------------------
    def index(
        self,
        folders: list[Path] | None = None,
        *,
        progress: Callable[[IndexProgress], None] | None = None,
        control: JobControl | None = None,
    ) -> IndexReport:
        """Bring the library up to date with its folders (all, or those given): the startup
        reconcile scan. Blocks; a cancelled run leaves everything consistent and resumable."""
        control = control or JobControl()
        if folders is None:
            with self._running(control):
                return self.indexer.run(None, progress=progress, control=control)
        roots: list[Folder] = []
        inside: set[Path] = set()  # sub-folders of library folders: reconcile just those
        for p in folders:
            folder, where = self._folder_for(Path(p))
            if where is None:
                roots.append(folder)
            else:
                inside.add(where)
        with self._running(control):
            if not inside:
                return self.indexer.run(roots, progress=progress, control=control)
            changes = ChangeSet(paths=inside, rescan={Path(f.path) for f in roots})
            return self.indexer.apply(changes, progress=progress, control=control)

    def _folder_for(self, path: Path) -> tuple[Folder, Path | None]:
        """The library folder `path` is, or lies in (then also the resolved path)."""
        resolved = path.expanduser().resolve()
        for folder in self.catalog.folders():
            root = Path(folder.path)
            if resolved == root:
                return folder, None
            if root in resolved.parents:
                return folder, resolved
        raise FolderError(
            f"{path} is not in a folder of your library. Add it first (photoseek folders add)."
        )

    def watch(
        self,
        on_change: Callable[[ChangeSummary], None] | None = None,
        *,
        force_polling: bool | None = None,
        poll_interval_s: float = 5.0,
    ) -> Watcher:
        """Start watching every folder (and folders added later); returns the running Watcher.
        Run `index()` first (or alongside) to catch what changed while PhotoSeek was closed.
        Network folders are polled every `poll_interval_s`; `force_polling` overrides the
        detection (None: detect; env PHOTOSEEK_FORCE_POLLING=1 forces it too)."""
        watcher = Watcher(
            self._watched_roots,
            self._apply_changes,
            on_change=on_change,
            relevant=self._relevant,
            force_polling=force_polling,
            poll_interval_s=poll_interval_s,
        )
        with self._state_lock:
            self._watchers.append(watcher)
        return watcher.start()

    def _watched_roots(self) -> list[Path]:
        return [Path(f.path) for f in self.catalog.folders()]

    def _relevant(self, root: Path, path: Path, is_dir: bool) -> bool:
        return is_relevant(root, path, is_dir) and not self.indexer.is_own_path(str(path))

    def _apply_changes(self, changes: ChangeSet, control: JobControl) -> ChangeSummary:
        with self._running(control):
            r = self.indexer.apply(changes, control=control)
        if r.cancelled:
            raise JobCancelled
        return ChangeSummary(
            added=r.added,
            updated=r.updated,
            moved=r.moved,
            deleted=r.deleted,
            unavailable=list(r.unavailable),
            skipped=r.skipped,
            restored=list(r.restored),
        )

    @contextmanager
    def _running(self, control: JobControl) -> Iterator[None]:
        """One run at a time; waiting for the turn can be cancelled (the watcher stopping)."""
        with self._state_lock:
            if self._closed:
                raise UserError("The library is closed.")
            self._controls.add(control)
        try:
            while not self._run_lock.acquire(timeout=0.2):
                if control.cancelled:
                    raise JobCancelled
            try:
                yield
            finally:
                self._run_lock.release()
        finally:
            with self._state_lock:
                self._controls.discard(control)

    def close(self) -> None:
        """Stop watchers, cancel a running job and wait for it, save the index, release all."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            watchers, self._watchers = self._watchers, []
            controls = list(self._controls)
        for w in watchers:
            w.stop()
        for c in controls:
            c.cancel()
        with self._run_lock, self._write_lock:
            if self.vindex is not None:
                if self.vindex.dirty:
                    self.vindex.save(self.catalog.generation(self.vindex.model_id))
                self.vindex.close()
            if self.encoder is not None:
                self.encoder.close()
            self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _needs_model(query: Query) -> bool:
    """Text (positive or negative), an image or "more like this" need the model; filters alone
    (browsing) do not."""
    positive, negatives = parse_text(query.text)
    return bool(
        positive
        or negatives
        or query.negative
        or query.image is not None
        or query.like_photo_id is not None
    )
