"""The one object the CLI and the desktop UI use: folders, indexing, watching, search, status.

Threads: every method may be called from any thread. Index runs (`index()` and the watcher's
updates) take turns on one lock; catalog and vector-index writes take a second, short lock, so
a folder can be added or removed while a long run goes on (the run drops that folder's work).

The facade delegates: models to `search.serving.Models`, searching to the serving model's
`SearchEngine`, scanning and encoding to `pipeline`. Over 400 lines because the index and watch
runs stay here, with the locks they share with folder changes and model switches (one run at a
time, one indexing process per data folder, a switch cancels the run going on).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from app.core.catalog.catalog import Catalog
from app.core.catalog.records import (
    INDEXED,
    PENDING,
    SKIPPED,
    Folder,
    FolderError,
    Photo,
)
from app.core.duplicates.engine import DuplicateFinder
from app.core.duplicates.model import DuplicateGroup, KeeperRule, TrashResult
from app.core.duplicates.progress import DuplicateProgress
from app.core.duplicates.progress import Reporter as DuplicateReporter
from app.core.duplicates.trash import move_to_trash
from app.core.errors import UserError
from app.core.index.vindex import VectorIndex
from app.core.jobs import JobCancelled, JobControl
from app.core.paths import Paths, is_under
from app.core.photos import decode, motion, video
from app.core.photos.thumbnails import ThumbnailStore
from app.core.pipeline.indexer import Indexer, IndexProgress, IndexReport
from app.core.pipeline.scanner import is_relevant
from app.core.pipeline.watcher import ChangeSet, ChangeSummary, Watcher
from app.core.pipeline.writelock import writer_lock
from app.core.places.gazetteer import Gazetteer, Place
from app.core.search import places as place_names
from app.core.search.engine import SearchEngine
from app.core.search.places import PlaceCount
from app.core.search.query import PlaceFilter, Query, QueryError, SearchResult
from app.core.search.serving import Models, ModelState, Served, index_dir
from app.core.search.understand import Understanding, understand

if TYPE_CHECKING:
    from app.core.model.encoder import Encoder
    from app.core.places.names import PlaceNames

__all__ = [
    "ChangeSummary",
    "DuplicateGroup",
    "DuplicateProgress",
    "Folder",
    "IndexProgress",
    "IndexReport",
    "JobCancelled",
    "JobControl",
    "KeeperRule",
    "Library",
    "LibraryStatus",
    "ModelState",
    "Photo",
    "PlaceCount",
    "PlaceFilter",
    "Query",
    "SearchResult",
    "SkippedFile",
    "TrashResult",
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
    catalogued but not yet encoded by it; `skipped`: files not indexed, each with a reason
    (unreadable, or left out by the scan: see `Library.skipped`)."""

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


# Indexing idle this long: free the image tower (~350 MB for ViT-B/32, more with its arena), as
# Immich unloads idle models. PHOTOSEEK_IMAGE_IDLE_S overrides it (bench/memory.py).
IMAGE_TOWER_IDLE_S = float(os.environ.get("PHOTOSEEK_IMAGE_IDLE_S") or 120.0)
IDLE_TIMER_NAME = "photoseek-idle-release"  # lives while the library is open; close() joins it


class Library:
    """Catalog, vector index, encoder, indexer, search and watcher behind one thread-safe API.

    Models: each keeps its own vectors. The active model (settings) is the one the indexer
    encodes with; search uses the serving model, which becomes the active one once every
    catalogued photo has a vector from it (or at once when no model served before). So
    choosing another model never leaves a moment without working search, and going back to a
    model finds its vectors still stored.
    """

    @classmethod
    def open(
        cls,
        paths: Paths,
        *,
        device: str | None = None,
        model_dir: Path | None = None,
        precision: str | None = None,
    ) -> Library:
        """Open the library in `paths`. Without an installed model it opens with has_model False
        (folders, browsing and filters work); an explicit `model_dir` that is unusable raises.
        `device`/`precision` None: the settings' choice (default auto / fp32)."""
        from app.core.model.installed import migrate_installed

        paths.ensure()
        try:
            migrate_installed(paths)
        except OSError as e:
            log.warning("could not convert older models: %s", e)
        lib = cls(paths, None)
        try:
            lib.models.device_override = device
            lib.models.precision_override = precision
            lib.models.model_dir_override = Path(model_dir) if model_dir is not None else None
            lib.reload_model(raise_errors=model_dir is not None)
        except BaseException:
            lib.close()
            raise
        return lib

    def __init__(self, paths: Paths, encoder: Encoder | None) -> None:
        self.paths = paths.ensure()
        self.catalog = Catalog(paths.catalog)
        self.thumbs = ThumbnailStore(paths.thumbnails)
        self.catalog_lost = self._check_lost_catalog()
        self._write_lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._controls: set[JobControl] = set()
        self._watchers: list[Watcher] = []
        self._closed = False
        self._idle_timer: threading.Timer | None = None
        self.models = Models(self.paths, self.catalog, self._write_lock, self._set_target)
        self._browse = SearchEngine(
            None, self.catalog, None, model_problem=lambda: self.model_error
        )
        self.indexer = Indexer(self.catalog, None, None, paths, lock=self._write_lock)
        self.duplicate_finder = DuplicateFinder(
            self.catalog, self.thumbs, self.paths.data / "duplicates"
        )
        if encoder is not None:
            try:
                loaded = self.models.load(encoder.model_dir.name, ("given", id(encoder)), encoder)
            except BaseException:
                self.catalog.close()
                raise
            self.models.serving = self.models.target = loaded
            self.indexer.set_model(encoder, loaded.vindex)

    def _check_lost_catalog(self) -> int:
        """Thumbnails only exist for catalogued photos: an empty catalog beside them was
        deleted or emptied. Say so (once: the stale thumbnails, whose ids a new catalog
        reuses, are cleared) and return how many photos it held."""
        if self.catalog.counts()["photos"]:
            return 0
        lost = _count_files(self.paths.thumbnails)
        if lost:
            log.warning(
                "The catalog %s was empty or missing, but %d photos were indexed in this data "
                "folder before: they will be re-indexed from your folders (add them again if "
                "the folder list is empty too).",
                self.catalog.path,
                lost,
            )
            shutil.rmtree(self.paths.thumbnails, ignore_errors=True)
        return lost

    # -- models --------------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder | None:
        """The encoder that answers searches (None: no usable model)."""
        serving = self._serving
        return serving.encoder if serving is not None else None

    @property
    def vindex(self) -> VectorIndex | None:
        serving = self._serving
        return serving.vindex if serving is not None else None

    @property
    def has_model(self) -> bool:
        return self._serving is not None

    @property
    def model_error(self) -> str | None:
        """Why no model is usable (one line naming the fix), or None."""
        return self.models.error

    @property
    def _serving(self) -> Served | None:
        return self.models.serving

    @property
    def _target(self) -> Served | None:
        return self.models.target

    @property
    def _model_lock(self) -> threading.RLock:
        return self.models.lock

    def reload_model(self, *, raise_errors: bool = False) -> ModelState:
        """Take up what changed in the models folder and the model settings (a model installed,
        removed or chosen, here or by another process). Search keeps answering throughout."""
        return self.models.reload(raise_errors=raise_errors)

    def model_state(self) -> ModelState:
        return self.models.state()

    def _set_target(self, target: Served | None) -> None:
        """A new active model: cancel the run going on, then hand it to the indexer."""
        self._cancel_runs()
        with self._run_lock, self._write_lock:
            self.models.target = target
            self.indexer.set_model(
                target.encoder if target else None, target.vindex if target else None
            )

    def _cancel_runs(self) -> None:
        with self._state_lock:
            controls = list(self._controls)
        for c in controls:
            c.cancel()

    def _after_run(self) -> None:
        """After an index run: maybe switch search over; free the image tower once idle."""
        self.models.promote_if_ready()
        with self._state_lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            if self._closed:
                return
            timer = threading.Timer(IMAGE_TOWER_IDLE_S, self._release_idle_image_tower)
            timer.name = IDLE_TIMER_NAME
            timer.daemon = True
            self._idle_timer = timer
        timer.start()

    def _release_idle_image_tower(self) -> None:
        if not self._run_lock.acquire(blocking=False):
            return  # a run is going on: it needs the tower
        try:
            if self.models.release_image_towers():
                _return_freed_memory()
        finally:
            self._run_lock.release()

    def _index_dir(self, model_id: str) -> Path:
        return index_dir(self.paths, model_id)

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
            if is_under(resolved, own):
                raise FolderError(
                    f"{resolved} is inside PhotoSeek's own data ({own}); add a photo folder."
                )
        with self._write_lock:
            before = {f.id for f in self.catalog.folders()}
            folder = self.catalog.add_folder(resolved)
            absorbed = before - {f.id for f in self.catalog.folders()}
            self.indexer.forgotten |= absorbed  # a running job drops their work; rerun re-finds
            self.indexer.roots.remember(folder.id, Path(folder.path))  # its volume identity
        log.info("added folder %s", folder.path)
        return folder

    def remove_folder(self, path: Path) -> list[Folder]:
        """Forget a folder: its photos leave the catalog, the index and the thumbnail cache.
        The photo files themselves are never touched. Folders it absorbed when it was added
        stay, as folders of their own with their photos: they are returned."""
        folder = self.catalog.folder(Path(path).expanduser())
        if folder is None:
            raise FolderError(
                f"{path} is not a folder in your library (see the folder list for the exact path)."
            )
        with self._write_lock:
            kept = self.catalog.restore_absorbed(folder.id)
            for child in kept:
                self.indexer.roots.remember(child.id, Path(child.path))
            ids = [s.photo_id for s in self.catalog.folder_files(folder.id).values()]
            labels = [*ids, *self.catalog.moment_labels(ids).tolist()]  # videos' moments too
            self.catalog.remove_folder(folder.id)
            self.indexer.forgotten.add(folder.id)
            self.indexer.notes.forget(folder.id)
            for m in {id(m): m for m in (self._target, self._serving) if m}.values():
                if ids:
                    m.vindex.remove(labels)
                    m.vindex.save(self.catalog.generation(m.vindex.model_id))
            self.thumbs.remove(ids)
        log.info("removed folder %s (%d photos forgotten)", folder.path, len(ids))
        if kept:
            log.warning(
                "%s held folders added before it; they stay in your library with their %d "
                "photos: %s",
                folder.path,
                sum(f.photo_count for f in kept),
                ", ".join(f.path for f in kept),
            )
        return kept

    # -- browsing and search ------------------------------------------------------------------
    def search(self, query: Query) -> SearchResult:
        """Ranked (or date-ordered) photos for `query`; ModelError when it needs a model and
        none is installed (the engine checks)."""
        serving = self._serving
        return (serving.engine if serving is not None else self._browse).search(query)

    def photo_by_path(self, path: Path | str) -> Photo | None:
        """The catalogued photo at `path` (resolved by the caller), or None."""
        return self.catalog.photo_by_path(path)

    def years(self) -> list[tuple[int, int]]:
        return self.catalog.years(pending=not self.has_model)  # no model: browse what is found

    def months(self, year: int | None = None) -> list[tuple[int, int]]:
        return self.catalog.months(year, pending=not self.has_model)

    def places(self) -> list[PlaceCount]:
        """Each place (country, region, city) photos were taken in, with how many and the
        newest one's id (its cover), by country, region, city; [] when none has a place."""
        rows = self.catalog.places(pending=not self.has_model)
        return place_names.place_counts(rows, Gazetteer.shared().country_name) if rows else []

    def resolve_place(self, text: str) -> PlaceFilter:
        """The place filter for "Lisbon", "Lisbon, Portugal", "Portugal", "PT" or "Lissabon";
        QueryError naming the closest places of the library when none is called that. A big
        city whose photos the gazetteer places in its neighbourhoods ("Barcelona": el Raval,
        Eixample) means its surroundings, as a typed place does (`understand`)."""
        try:
            return place_names.resolve(text, self.places(), self._place_lookup)
        except QueryError:
            seen = self.understand(f"in {text.strip()}", take=("place",))
            if seen.place is None or seen.place.near is None or seen.text:
                raise
            return seen.place

    def place_label(self, place: PlaceFilter) -> str:
        """ "Lisbon, Portugal" (the region too where the library has two such cities)."""
        country = Gazetteer.shared().country_name(place.country)
        return place_names.label(place, self.places(), country)

    def understand(
        self,
        text: str | None,
        *,
        ignore: Collection[str] = (),
        take: Collection[str] = ("place", "year", "month"),
    ) -> Understanding:
        """What typed text names besides its words: "beach in Lisbon 2019" is "beach" in the
        place Lisbon in 2019, with the chips that say so (see search/understand.py). Places
        count only where the library has some: a library without GPS reads every word as typed.
        `ignore`: chips' spans the user took back; `take`: the kinds to look for."""
        rows = self.catalog.places(pending=not self.has_model)
        present = [(r.country, r.region, r.city, r.total) for r in rows]
        names = self._place_names() if present else None
        pending = not self.has_model
        return understand(
            text,
            names,
            present,
            ignore=ignore,
            take=take,
            around=lambda f: self.catalog.count_place(f, pending=pending),
        )

    def _place_names(self) -> PlaceNames:
        from app.core.places.names import PlaceNames  # built (or read back) on first use

        return PlaceNames.shared(self.paths.cache)

    def _place_lookup(self, phrase: str) -> list[Place]:
        """Gazetteer places called `phrase` in any language it knows ("Lissabon")."""
        return list(self._place_names().lookup(phrase))

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

    def frame(self, photo_id: int, t_ms: int, max_side: int) -> Image.Image:
        """The picture of a video at `t_ms` (a photo: the photo itself), upright, long side at
        most `max_side`, for the viewer and for searching a region of it. Raises UserError
        (VideoError, ImageError) naming the file when it cannot be read."""
        photo = self.catalog.photo(photo_id)
        if photo is None:
            raise UserError(f"Nothing with id {photo_id} is in the library (any more).")
        if photo.is_video:
            return video.frame_at(photo.path, t_ms, max_side=max_side)
        clip = self._clip(photo) if t_ms > 0 else None  # a motion or Live Photo's moment
        if clip is not None:
            return video.frame_at(clip[0], t_ms, max_side=max_side, source=clip[1])
        img = decode.open_image(Path(photo.path), min_side=max_side)
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        return img

    def clip_frames(
        self, photo_id: int, t_ms: int, max_side: int
    ) -> Iterator[tuple[int, Image.Image]]:
        """Playback of an item from `t_ms`: a video's frames, or a photo's clip (the video
        beside a Live Photo, the MP4 inside a motion photo); nothing for a still without one.
        Raises UserError (VideoError) naming the file when it cannot be decoded."""
        photo = self.catalog.photo(photo_id)
        if photo is None:
            raise UserError(f"Nothing with id {photo_id} is in the library (any more).")
        clip = (photo.path, None) if photo.is_video else self._clip(photo)
        if clip is not None:
            yield from video.frames_from(clip[0], t_ms, max_side=max_side, source=clip[1])

    def playable_path(self, photo_id: int) -> Path | None:
        """The file a video player can open for this item: a video itself, the MOV beside a
        Live Photo; None for a still, and for a motion photo (its clip is inside the photo)."""
        photo = self.catalog.photo(photo_id)
        if photo is None:
            return None
        clip = (photo.path, None) if photo.is_video else self._clip(photo)
        return Path(clip[0]) if clip is not None and clip[1] is None else None

    def _clip(self, photo: Photo) -> tuple[str, io.BytesIO | None] | None:
        """Where a photo's clip is: (the Live Photo's video, None) or (the photo, its embedded
        MP4); None for a still without one."""
        live = [v for v, p in self.catalog.companions().items() if p == photo.id]
        beside = self.catalog.photos(live[:1])
        if beside:
            return beside[0].path, None
        data = motion.clip_of(photo.path)
        return None if data is None else (photo.path, io.BytesIO(data))

    def duplicates(
        self,
        *,
        exact_only: bool = False,
        rule: KeeperRule | None = None,
        progress: Callable[[DuplicateProgress], None] | None = None,
        control: JobControl | None = None,
    ) -> list[DuplicateGroup]:
        """Groups of identical files and (with a model, unless `exact_only`) near-duplicates,
        the most space to gain first, each with its keeper under `rule` first. Reads only:
        nothing is moved (`move_to_trash` does that, when asked). `progress` hears each stage's
        done of total (from this thread); `control` cancels between batches (`JobCancelled`),
        and the next call takes up or starts again cleanly."""
        serving = self._serving
        near = serving is not None and not exact_only
        reporter = DuplicateReporter(progress, control)
        return self.duplicate_finder.find(
            serving.vindex if serving is not None and near else None,
            self.duplicate_finder.thresholds(serving.encoder, reporter)
            if serving and near
            else None,
            exact_only=exact_only,
            rule=rule or KeeperRule(),
            reporter=reporter,
        )

    def move_to_trash(self, photo_ids: Sequence[int]) -> TrashResult:
        """Move these photos' files to the desktop's trash (restorable there; never deleted),
        only files inside watched folders; the library forgets the moved ones at once."""
        with self._write_lock:
            indexes = {id(m): m.vindex for m in (self._target, self._serving) if m}
            return move_to_trash(self.catalog, self.thumbs, indexes.values(), photo_ids)

    def partly_indexed(self) -> list[SkippedFile]:
        """Videos indexed only in part (cut short by the per-video deadline, or damaged
        midway), each with how far and why, by path. They are searchable up to there."""
        return [
            SkippedFile(Path(p.path), p.skip_reason or "", p.indexed_at)
            for p in self.catalog.partly_indexed_videos()
        ]

    def skipped(self) -> list[SkippedFile]:
        """Files that could not be indexed, and files and folders the scan left out (broken
        links, pipes, unreadable folders), each with its reason, by path (videos indexed in
        part: `partly_indexed`)."""
        out = [
            SkippedFile(Path(p.path), p.skip_reason or "unreadable", p.indexed_at)
            for p in self.catalog.skipped_photos()
        ]
        folders = {f.id: f for f in self.catalog.folders()}
        for path, reason in self.indexer.notes.get(folders):
            owner = max(
                (f for f in folders.values() if is_under(path, f.path, strict=True)),
                key=lambda f: len(f.path),
                default=None,
            )
            out.append(SkippedFile(Path(path), reason, owner.last_scan if owner else None))
        return sorted(out, key=lambda s: str(s.path))

    def status(self) -> LibraryStatus:
        counts = self.catalog.counts()
        folders = self.catalog.folders()
        catalogued = counts[INDEXED] + counts[PENDING]
        target = self._target
        model_id = target.encoder.model_id if target is not None else None
        indexed = self.catalog.count_indexed(model_id) if model_id else counts[INDEXED]
        return LibraryStatus(
            photos=counts["photos"],
            indexed=indexed,
            skipped=counts[SKIPPED] + len(self.indexer.notes.get(f.id for f in folders)),
            pending=max(0, catalogued - indexed) if model_id else counts[PENDING],
            folders=folders,
            model_id=model_id,
            provider=target.encoder.provider if target is not None else None,
            device=self.models.device if target is not None else None,
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
        try:
            report = self._index(folders, progress, control)
            report.catalog_lost, self.catalog_lost = self.catalog_lost, 0
            return report
        finally:
            self._after_run()

    def _index(
        self,
        folders: list[Path] | None,
        progress: Callable[[IndexProgress], None] | None,
        control: JobControl,
    ) -> IndexReport:
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
            if is_under(resolved, root):
                return folder, resolved
        raise FolderError(
            f"{path} is not in a folder of your library. Add it first (photoseek folders add)."
        )

    def watch(
        self,
        on_change: Callable[[ChangeSummary], None] | None = None,
        *,
        on_error: Callable[[str], None] | None = None,
        force_polling: bool | None = None,
        poll_interval_s: float = 5.0,
    ) -> Watcher:
        """Start watching every folder (and folders added later); returns the running Watcher.
        Run `index()` first (or alongside) to catch what changed while PhotoSeek was closed.
        Network folders are polled every `poll_interval_s`; `force_polling` overrides the
        detection (None: detect; env PHOTOSEEK_FORCE_POLLING=1 forces it too). `on_error` gets
        one line naming the folder and the fix for each failure (tracebacks go to the log)."""
        watcher = Watcher(
            self._watched_roots,
            self._apply_changes,
            on_change=on_change,
            on_error=on_error,
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
        try:
            with self._running(control):
                r = self.indexer.apply(changes, control=control)
        finally:
            self._after_run()
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
                # ...and one indexing process per data folder (searches never wait for it).
                with writer_lock(self.paths.data, cancelled=lambda: control.cancelled) as waited:
                    if waited or self._indexes_behind():  # another process indexed: take it up
                        self._reopen_indexes()
                    yield
            except TimeoutError as e:
                raise JobCancelled from e
            finally:
                self._run_lock.release()
        finally:
            with self._state_lock:
                self._controls.discard(control)

    def _indexes_behind(self) -> bool:
        """Whether the catalog moved on since our saved indexes were opened or saved: another
        process indexed meanwhile, perhaps finishing before this run asked for the lock."""
        with self._model_lock:
            return any(
                not m.vindex.dirty
                and m.vindex.generation != self.catalog.generation(m.vindex.model_id)
                for m in (self._target, self._serving)
                if m is not None
            )

    def _reopen_indexes(self) -> None:
        """Reopen each model's vector index from disk and the catalog (after another process
        indexed this library). Searches still running keep the index object they started with."""
        with self._model_lock, self._write_lock:
            for m in {id(m): m for m in (self._target, self._serving) if m}.values():
                if m.vindex.dirty:
                    m.vindex.save(self.catalog.generation(m.vindex.model_id))
                m.vindex = VectorIndex.open(
                    self._index_dir(m.encoder.model_id),
                    m.encoder.model_id,
                    m.encoder.info.embed_dim,
                    self.catalog,
                )
                m.engine = SearchEngine(m.encoder, self.catalog, m.vindex)
            if self._target is not None:
                self.indexer.set_model(self._target.encoder, self._target.vindex)

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
        with self._state_lock:
            timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()
            timer.join(5)
        with self._run_lock, self._write_lock:
            self.models.close()
            self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count_files(root: Path) -> int:
    """Files one level of folders below `root` (the thumbnail shards); 0 when it is missing."""
    n = 0
    try:
        with os.scandir(root) as shards:
            for shard in shards:
                if shard.is_dir():
                    with os.scandir(shard.path) as files:
                        n += sum(1 for f in files if f.is_file())
    except OSError:
        pass
    return n


def _return_freed_memory() -> None:
    """glibc keeps freed heap pages (a released ONNX session's arena among them) in its
    arenas; malloc_trim hands them back to the system, so the window's RSS really drops."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError) as e:
        log.debug("malloc_trim unavailable: %s", e)
