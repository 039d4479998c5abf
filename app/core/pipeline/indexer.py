"""The indexing pipeline: reconcile (scan folders, apply moves and deletions: `reconcile`), then
ingest (decode, encode and commit new or changed photos in batches: `ingest`).

Kill safety: each batch is ONE catalog transaction (photos + vectors + generation bump), so after
a kill -9 the catalog holds whole batches only and the next scan sees exactly which files are
done. The vector index is a derived cache saved now and then; `VectorIndex.open` reconciles it
with the catalog's generation, so nothing is lost and nothing is encoded twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.core.jobs import JobCancelled, JobControl
from app.core.paths import Paths
from app.core.photos.thumbnails import THUMB_SIZE, ThumbnailStore
from app.core.pipeline.ingest import (
    DecodeFn,
    Decoder,
    ExecutorFactory,
    Ingest,
    IngestSettings,
    VideoSampling,
    decoder_pool,
)
from app.core.pipeline.notes import NOTES_FILE, ScanNotes
from app.core.pipeline.reconcile import Plan, Reconciler, RootMemo, owner
from app.core.pipeline.report import IndexProgress, IndexReport
from app.core.pipeline.whereabouts import backfill, refresh_places

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.catalog.records import Folder
    from app.core.index.vindex import VectorIndex
    from app.core.model.encoder import Encoder
    from app.core.pipeline.changes import ChangeSet

__all__ = ["IndexProgress", "IndexReport", "Indexer"]

log = logging.getLogger(__name__)

Emit = Callable[[IndexProgress], None]
Planner = Callable[[Reconciler, IndexReport, JobControl, Emit], Plan | None]


class Indexer:
    """Brings the catalog and the vector index up to date with folders on disk.

    `encoder` None catalogues photos (metadata, thumbnails) without vectors; they stay pending
    until a run with a model encodes them. Not thread-safe: run one at a time (Library locks).
    `decoder` (the per-file decode stage) and `executor` (the pool it runs on) may be swapped
    between runs, e.g. by a benchmark; `sampling` (how videos are sampled, their deadline) may
    be changed between runs.
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
        self.paths = paths
        self.batch_size = max(1, batch_size)
        self.decoders = decoders or min(4, max(2, (os.cpu_count() or 2) // 2))
        self.prefetch = max(1, prefetch_batches) * self.batch_size
        self.save_interval_s = save_interval_s
        self.thumbs = ThumbnailStore(paths.thumbnails)
        self.roots = RootMemo(catalog)
        self.notes = ScanNotes(paths.data / NOTES_FILE)
        # Held around every catalog/index write, never around decoding or encoding, so a folder
        # can be removed while a run goes on; the run drops work of `forgotten` folders.
        self.lock = lock or threading.RLock()
        self.forgotten: set[int] = set()
        self.executor: ExecutorFactory = decoder_pool
        self._clock = clock
        self.encoder: Encoder | None = None
        self.index: VectorIndex | None = None
        self.sampling = VideoSampling()
        self.decoder: DecodeFn = Decoder(None, THUMB_SIZE, self.forgotten, self.sampling)
        self.set_model(encoder, index)

    def set_model(self, encoder: Encoder | None, index: VectorIndex | None) -> None:
        """Encode with another model from the next run on (never during one: Library swaps
        models between runs)."""
        if encoder is not None and index is None:
            raise ValueError("an encoder needs a vector index to add to")
        self.encoder = encoder
        self.index = index
        info = encoder.info if encoder is not None else None
        self.min_side = max(info.image_size if info is not None else 0, THUMB_SIZE)
        self.decoder = Decoder(info, self.min_side, self.forgotten, self.sampling)

    def is_own_path(self, path: str) -> bool:
        """True for PhotoSeek's own files (a data folder may lie inside a photo folder)."""
        return self.paths.is_own(path)

    # -- public entry points ---------------------------------------------------------------
    def run(
        self,
        folders: Sequence[Folder] | None = None,
        *,
        progress: Emit | None = None,
        control: JobControl | None = None,
    ) -> IndexReport:
        """Full reconcile of `folders` (default: all): scan, moves, deletions, then encode."""
        return self._execute(
            lambda rec, r, c, p: rec.plan_full(folders, r, c, p), progress, control, pending=True
        )

    def apply(
        self,
        changes: ChangeSet,
        *,
        progress: Emit | None = None,
        control: JobControl | None = None,
    ) -> IndexReport:
        """Reconcile only what the watcher saw change (plus full rescans of `changes.rescan`)."""
        return self._execute(
            lambda rec, r, c, p: rec.plan_changes(changes, r, c, p),
            progress,
            control,
            pending=bool(changes.rescan),
        )

    # -- the run ---------------------------------------------------------------------------
    def _execute(
        self,
        planner: Planner,
        progress: Emit | None,
        control: JobControl | None,
        *,
        pending: bool,
    ) -> IndexReport:
        started = self._clock()
        report = IndexReport()
        control = control or JobControl()
        emit = progress or (lambda p: None)
        reconciler = Reconciler(
            self.catalog,
            self.index,
            self.thumbs,
            self.paths,
            roots=self.roots,
            notes=self.notes,
            lock=self.lock,
            forgotten=self.forgotten,
        )
        try:
            plan = planner(reconciler, report, control, emit)
            if plan is not None:
                report.unchanged += plan.diff.unchanged_count
                report.still_skipped += plan.diff.unchanged_skipped
                reconciler.apply_moves(plan, report)
                reconciler.apply_deletions(plan, report)
                model_id = self.encoder.model_id if self.encoder is not None else None
                work = reconciler.work_list(plan, report, model_id=model_id, pending=pending)
                refresh_places(self.catalog, self.lock)  # a newer gazetteer: cheap, no files
                backfill(
                    self.catalog,
                    reconciler.stale_headers(plan, work),
                    report,
                    control,
                    emit,
                    threads=self.decoders,
                    lock=self.lock,
                    forgotten=self.forgotten,
                    folder_of=lambda path: owner(plan.owners, path),
                )
                self._ingest().run(work, report, control, emit)
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

    def _ingest(self) -> Ingest:
        settings = IngestSettings(
            batch_size=self.batch_size,
            decoders=self.decoders,
            prefetch=self.prefetch,
            save_interval_s=self.save_interval_s,
        )
        return Ingest(
            self.catalog,
            self.index,
            self.encoder,
            self.thumbs,
            decoder=self.decoder,
            settings=settings,
            lock=self.lock,
            forgotten=self.forgotten,
            save_index=self._save_index,
            clock=self._clock,
            executor=self.executor,
        )

    def _save_index(self) -> None:
        """Persist the index with the catalog generation it now matches (we are the only writer
        while a run holds the library's lock, and every commit is followed by its index ops)."""
        if self.index is not None:
            with self.lock:
                self.index.save(self.catalog.generation(self.index.model_id))
