"""Finding duplicates in a library: exact copies by content, near copies by vector and image.

Exact: items with the same fingerprint (size and three windows) are hashed whole (SHA-256,
kept in the catalog until the file changes); equal hashes are identical files.
Near: each photo's k nearest in the vector index are its candidates (never all pairs), kept
when the model's calibrated thresholds and the image check say so (`grouping`).

Incremental: the duplicate pairs are cached per model with the catalog generation they match;
when photos arrive or change only they query their neighbours, and removed ones drop out.

Progress and cancel (`progress.Reporter`): each stage reports done of total, and a cancel is
honoured between batches. The cache changes only when a search through is complete; one
cancelled while comparing pictures is taken up where it stopped by the next call (in memory,
while the catalog is unchanged); one cancelled earlier starts again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.core.catalog.records import MOMENT_BASE, Photo
from app.core.duplicates import grouping, pairstore
from app.core.duplicates.calibration import Thresholds, thresholds_for
from app.core.duplicates.keeper import differences, order_by_rule
from app.core.duplicates.model import DuplicateGroup, KeeperRule
from app.core.duplicates.progress import COMPARING, IDENTICAL, NEIGHBOURS, Reporter
from app.core.durable import sha256_file
from app.core.photos import likeness

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.model.encoder import Encoder
    from app.core.photos.thumbnails import ThumbnailStore

log = logging.getLogger(__name__)

K_NEAREST = 10  # candidates a photo; a burst longer than this still links through its members
QUERY_BATCH = 4096  # photos asking for their neighbours between two checks for a cancel
PAIR_BATCH = 128  # ambiguous pairs compared between two checks (the worst case: ~0.1 s)


class NeighbourIndex(Protocol):
    """What the engine needs of the vector index."""

    def ids(self) -> np.ndarray: ...

    def vectors_of(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def query(
        self, vec: np.ndarray, k: int, *, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def knn(
    index: NeighbourIndex, ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids found, their k nearest [n, k] (-1: none), cosines [n, k]); a batched call when the
    index offers one (`neighbours`), else one query a photo."""
    batched: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] | None = getattr(
        index, "neighbours", None
    )
    if batched is not None:
        return batched(ids, k)
    found, vectors = index.vectors_of(ids)
    nbrs = np.full((len(found), k), -1, dtype=np.int64)
    scores = np.full((len(found), k), -2.0, dtype=np.float32)
    for i, vec in enumerate(vectors):
        got, s = index.query(vec, k + 1)
        keep = got != found[i]
        got, s = got[keep][:k], s[keep][:k]
        nbrs[i, : len(got)] = got
        scores[i, : len(got)] = s
    return found, nbrs, scores


@dataclass
class _Pending:
    """A search through cut short while comparing pictures: the next call at the same catalog
    generation goes on from `done` with the pictures already read (`check`)."""

    generation: int
    now: dict[int, str | None]  # each photo's fingerprint as the search found it
    kept: dict[tuple[int, int], float]  # the cached pairs still valid
    ambiguous: list[grouping.Pair]  # in the band: the image check decides
    check: grouping.ImageCheck
    computed: list[tuple[int, int]]  # difference hashes read, not stored in the catalog yet
    done: int = 0
    confirmed: list[grouping.Pair] = field(default_factory=list)


class DuplicateFinder:
    """Duplicates of one library; `calibration_dir` keeps each model's thresholds."""

    def __init__(self, catalog: Catalog, thumbs: ThumbnailStore, calibration_dir: Path) -> None:
        self.catalog = catalog
        self.thumbs = thumbs
        self.calibration_dir = calibration_dir
        self._lock = threading.Lock()
        self._caches: dict[tuple[str, float, float], pairstore.PairCache] = {}
        self._pending: dict[tuple[str, float, float], _Pending] = {}
        self.last_queried = 0  # photos whose neighbours the last call asked for (bench, tests)

    # -- the whole answer ------------------------------------------------------------------------

    def find(
        self,
        index: NeighbourIndex | None,
        thresholds: Thresholds | None,
        *,
        exact_only: bool = False,
        rule: KeeperRule | None = None,
        reporter: Reporter | None = None,
    ) -> list[DuplicateGroup]:
        """Groups of duplicates, the most space to gain first (see `Library.duplicates`);
        near ones where an index and its model's `thresholds` are given."""
        rule = rule or KeeperRule()
        reporter = reporter or Reporter()
        hidden = self._hidden()
        exact = [
            kept
            for s in self.exact_sets(reporter)
            if len(kept := [m for m in s if m not in hidden]) > 1
        ]
        pairs: list[grouping.Pair] = [(s[0], m, 1.0) for s in exact for m in s[1:]]
        if not exact_only and index is not None and thresholds is not None:
            near = self.near_pairs(index, thresholds, reporter)
            pairs += [p for p in near if p[0] not in hidden and p[1] not in hidden]
        exact_of = {m: i for i, s in enumerate(exact) for m in s}
        out = []
        for members, _ in grouping.groups(pairs):
            group = self._group(members, exact_of, rule, index)
            if group is not None:  # None: its copies left the library meanwhile
                out.append(group)
        return sorted(out, key=lambda g: (-g.reclaim_bytes, g.keeper_id))

    def _hidden(self) -> set[int]:
        """Items that are no duplicates of their own: Live Photos' clips (they go with their
        photo) and items of folders that are unplugged."""
        hidden = set(self.catalog.companions())
        gone = [f.id for f in self.catalog.folders() if not f.available]
        for folder_id in gone:
            hidden |= {s.photo_id for s in self.catalog.folder_files(folder_id).values()}
        return hidden

    def _group(
        self,
        members: list[int],
        exact_of: dict[int, int],
        rule: KeeperRule,
        index: NeighbourIndex | None,
    ) -> DuplicateGroup | None:
        photos = order_by_rule(self.catalog.photos(members), rule)
        if len(photos) < 2:
            return None
        keeper = photos[0]
        same_file = {
            p.id
            for p in photos
            if keeper.id in exact_of and exact_of.get(p.id) == exact_of[keeper.id]
        }
        kind = "exact" if len(same_file) == len(photos) else "near"
        similarity = 1.0
        if kind == "near" and index is not None:
            ids, vecs = index.vectors_of([p.id for p in photos])
            if len(ids) == len(photos):
                similarity = float(np.min(vecs[1:] @ vecs[0]))
        colours = self._colours(photos) if kind == "near" else {}
        return DuplicateGroup(
            kind=kind,
            members=tuple(photos),
            keeper_id=keeper.id,
            reclaim_bytes=sum(p.size for p in photos[1:]),
            differences=differences(photos, same_file, colours),
            similarity=similarity,
        )

    def _colours(self, photos: Sequence[Photo]) -> dict[int, tuple[float, float, float]]:
        """Mean colours from the thumbnails there are (for "colours edited")."""
        from PIL import Image

        out = {}
        for p in photos:
            if not self.thumbs.exists(p.id):
                continue
            try:
                with Image.open(self.thumbs.path(p.id)) as im:
                    im.draft("RGB", (32, 32))
                    out[p.id] = likeness.mean_colour(im)
            except (OSError, ValueError):
                continue
        return out

    # -- exact -----------------------------------------------------------------------------------

    def exact_sets(self, reporter: Reporter | None = None) -> list[list[int]]:
        """Ids of identical files (equal SHA-256), each set by id; files are hashed only when
        they share a fingerprint with another and have no stored hash since they changed
        (each hash is stored as it is read: a cancelled run keeps them)."""
        reporter = reporter or Reporter()
        out = []
        all_twins = self.catalog.fingerprint_twins()
        if all_twins:
            reporter.stage(IDENTICAL, len(all_twins))
        for done, twins in enumerate(all_twins):
            reporter.checkpoint()
            stored = self.catalog.content_hashes(twins)
            by_hash: dict[str, list[int]] = {}
            for p in self.catalog.photos(twins):
                digest = stored.get(p.id)
                if digest is None:
                    digest = self._hash(p)
                if digest is not None:
                    by_hash.setdefault(digest, []).append(p.id)
            out += [sorted(ids) for ids in by_hash.values() if len(ids) > 1]
            reporter.advance(done + 1)
        return out

    def _hash(self, photo: Photo) -> str | None:
        try:
            digest = sha256_file(Path(photo.path))
        except OSError as e:
            log.info("cannot read %s to compare it: %s", photo.path, e)
            return None
        if photo.fingerprint:
            self.catalog.set_content_hash(photo.id, photo.fingerprint, digest)
        return digest

    # -- near ------------------------------------------------------------------------------------

    def thresholds(self, encoder: Encoder, reporter: Reporter | None = None) -> Thresholds:
        """The model's calibrated thresholds (measured on first use, then kept)."""
        return thresholds_for(encoder, self.calibration_dir, reporter)

    def near_pairs(
        self, index: NeighbourIndex, t: Thresholds, reporter: Reporter | None = None
    ) -> list[grouping.Pair]:
        """The near-duplicate pairs of the library's photos under the thresholds of the
        index's model: kept per catalog generation (in memory and on disk), brought up to date
        by asking only new and changed photos for their neighbours."""
        reporter = reporter or Reporter()
        with self._lock:
            key = (t.model_id, t.low, t.high)
            if key not in self._caches:
                self._caches[key] = pairstore.load(self.calibration_dir, t)
            cache = self._caches[key]
            generation = self.catalog.generation(t.model_id)
            self.last_queried = 0
            if generation != cache.generation:
                pending = self._pending.pop(key, None)
                if pending is None or pending.generation != generation:
                    pending = self._search(cache, index, t, generation, reporter)
                try:
                    self._compare(pending, t, reporter)
                except BaseException:
                    self._pending[key] = pending  # taken up by the next call
                    raise
                finally:
                    if pending.computed:
                        self.catalog.set_dhashes(pending.computed)
                        pending.computed.clear()
                cache.pairs = pending.kept | {(a, b): c for a, b, c in pending.confirmed}
                cache.fingerprints = pending.now
                cache.generation = generation
                pairstore.save(self.calibration_dir, t, cache)
            return [(a, b, c) for (a, b), c in cache.pairs.items()]

    def _search(
        self,
        cache: pairstore.PairCache,
        index: NeighbourIndex,
        t: Thresholds,
        generation: int,
        reporter: Reporter,
    ) -> _Pending:
        """New and changed photos ask for their neighbours; the pairs the vectors decide are
        kept, those in the band wait for the image check. The cache is not touched."""
        ids, hashes, has, prints = self.catalog.photo_hashes(kind="photo")
        now = dict(zip(ids.tolist(), prints, strict=True))
        changed = {i for i, fp in now.items() if cache.fingerprints.get(i, "?") != fp}
        gone = set(cache.fingerprints) - set(now)
        stale = changed | gone
        kept = {k: c for k, c in cache.pairs.items() if not stale.intersection(k)}
        known: dict[int, int] = dict(zip(ids[has].tolist(), hashes[has].tolist(), strict=True))
        computed: list[tuple[int, int]] = []

        def dhash_of(photo_id: int) -> int | None:
            if photo_id not in known:
                photo = self.catalog.photo(photo_id)
                h = likeness.dhash_of_file(photo.path) if photo else None
                if h is None:
                    return None
                known[photo_id] = h
                computed.append((photo_id, h))
            return known[photo_id]

        def likeness_of(photo_id: int) -> likeness.Likeness | None:
            if self.thumbs.exists(photo_id):
                return likeness.likeness_of_file(self.thumbs.path(photo_id))
            photo = self.catalog.photo(photo_id)
            return likeness.likeness_of_file(photo.path) if photo else None

        allowed = np.asarray(sorted(now), dtype=np.int64)
        query = np.asarray(sorted(changed), dtype=np.int64)
        self.last_queried = len(query)
        check = grouping.ImageCheck(dhash_of, likeness_of)
        pending = _Pending(generation, now, kept, [], check, computed)
        if not len(query):
            return pending
        reporter.stage(NEIGHBOURS, len(query))
        parts = []
        for start in range(0, len(query), QUERY_BATCH):
            reporter.checkpoint()
            parts.append(knn(index, query[start : start + QUERY_BATCH], K_NEAREST))
            reporter.advance(start + QUERY_BATCH)
        found, nbrs, scores = (np.concatenate(p) for p in zip(*parts, strict=True))
        ok = np.isin(nbrs, allowed) & (nbrs < MOMENT_BASE)
        scores = np.where(ok, scores, -2.0)
        for a, b, c in grouping.candidates_from_knn(found, nbrs, scores, t.low):
            if c >= t.high:
                kept[(a, b)] = c
            else:
                pending.ambiguous.append((a, b, c))
        return pending

    def _compare(self, pending: _Pending, t: Thresholds, reporter: Reporter) -> None:
        """The image check of the pairs in the band, from where an earlier call stopped."""
        todo = pending.ambiguous
        if not todo:
            return
        reporter.stage(COMPARING, len(todo), pending.done)
        while pending.done < len(todo):
            reporter.checkpoint()
            batch = todo[pending.done : pending.done + PAIR_BATCH]
            pending.confirmed += grouping.confirm(batch, t, pending.check)
            pending.done += len(batch)
            reporter.advance(pending.done)
