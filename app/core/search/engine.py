"""The search engine: a `Query` to ranked photos, exactly among the photos that pass the filters.

Two ways to rank, chosen per query by how many photos pass the filters:
- exact: score every passing photo's stored vector (numpy), reading them from the catalog once
  and caching them by (model, catalog generation, the passing ids);
- index: search the hnswlib graph with the fused query vector, over-fetching by 1 / share and
  filtering, grown until the answer is provably the exact top-k of the index (or falling back
  to exact when the filter and the query disagree).
Scoring (calibration, fusion, negatives, floor) lives in `fusion`, top-k selection in `ranking`.
Videos: the index ranks labels (photos, videos' means, videos' moments); `moments` collapses
them into items, each video once at its best moment. A Live Photo's clip (a short video beside
it, `Catalog.companions`) is never an item: its moments rank as its photo's.
About 610 lines: one class, a query's whole path from filters to hits, so its cache keys and the
exact-or-index choice read in one place.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from app.core.catalog.records import place_of
from app.core.index.labels import MOMENT_BASE
from app.core.index.vindex import VectorIndex
from app.core.model.info import ModelError
from app.core.photos.decode import crop_region, open_image
from app.core.photos.formats import VIDEO_EXTENSIONS
from app.core.search.fusion import Part, Plan, Reference, make_part
from app.core.search.moments import Items, LivePhotos, group, item_count, items_of
from app.core.search.query import Hit, Query, QueryError, SearchResult
from app.core.search.ranking import ArrayCache, Vectors, digest, top_exact, top_from_index

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.model.encoder import Encoder

__all__ = ["Hit", "Query", "QueryError", "SearchEngine", "SearchResult", "no_model_message"]

log = logging.getLogger(__name__)

VIDEO_QUERY_FRAMES = 16  # frames of a video given as the example (its mean is the query)

# Exact when at most EXACT_ROWS photos pass, or less than EXACT_SHARE of the library; the index
# otherwise. Measured at 100k 512-d photos, k=100, on a busy 2-core machine: with the passing
# vectors cached exact costs 0.12-0.4 us a photo, the index 3-10 us per photo fetched, and it
# fetches 1.5 k / share: they cross at 20-30 % (exact 8-14 ms vs index 13-22 ms at 20 %; 9-24 vs
# 13-18 ms at 30 %). Reading uncached vectors costs 14-30 us a photo (0.2-0.6 s for 10k), which
# caps exact at 20k photos (and 40 MB of cache). The crossover in share falls as 1/sqrt(library):
# ~5 % at 1M, hence EXACT_SHARE for the libraries where 20k photos is a small share.
EXACT_SHARE = 0.05
EXACT_ROWS = 20_000
DATE_POOL = 1000  # "order by date" sorts the best this-many matches above the floor
CACHE_BYTES = 256 << 20  # cached filter id sets, vector subsets and date orders
SCAN_CHUNK = 65_536  # rows per step when scanning a set too large to cache


def no_model_message(problem: str | None = None) -> str:
    """The one message for a search that needs a model when none is usable (`problem`: why
    the installed one is not, if one is)."""
    if problem:  # it already names the fix
        return (
            f"Cannot search by text or image: {problem} Photos can still be browsed by date "
            "and folder."
        )
    return (
        "Cannot search by text or image: no model is installed. Photos can still be browsed "
        "by date and folder; get a model from Library > Models in the window, or run "
        "`photoseek model install`."
    )


class SearchEngine:
    """Runs queries over one catalog with one model's encoder and vector index (either may be
    None: without an encoder only browsing and "more like this" work; without an index every
    query is exact). `model_problem` says why no model is usable, for the no-model message.
    Thread-safe."""

    def __init__(
        self,
        encoder: Encoder | None,
        catalog: Catalog,
        index: VectorIndex | None,
        *,
        model_id: str | None = None,
        cache_bytes: int = CACHE_BYTES,
        exact_share: float = EXACT_SHARE,
        exact_rows: int = EXACT_ROWS,
        model_problem: Callable[[], str | None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.catalog = catalog
        # No model: browsing covers photos catalogued but not yet encoded (nothing is cached
        # then: there is no generation to key it on).
        self._browse_only = encoder is None and index is None and model_id is None
        self.index = index
        self.model_id = model_id or (
            encoder.model_id if encoder else index.model_id if index else None
        )
        self.exact_share = exact_share
        self.exact_rows = exact_rows
        self._cache = ArrayCache(cache_bytes)
        self._reference: Reference | None = None
        self._lock = threading.Lock()
        self._model_problem = model_problem

    # -- the one entry point -------------------------------------------------------------------

    def search(self, query: Query) -> SearchResult:
        start = time.perf_counter()
        query.validate()
        self._check_model(query)
        positive, negatives = query.terms
        generation = self.catalog.generation(self.model_id) if self.model_id else None
        candidates = self._filter(query, generation)
        floor: float | None = None
        cosine_floor: float | None = None
        weaker = 0
        nearest = False
        source: Hit | None = None
        used: Literal["exact", "index", "browse"]
        if not positive and query.image is None and query.like_photo_id is None:
            browse = candidates if candidates is not None else self._all_ids(generation)
            if negatives:
                browse = self._without(self._plan(query, "", negatives), browse, generation)
            ids = self._newest(browse, generation)[: query.top_k]  # items only, never moments
            hits = self._hits(ids, np.zeros(len(ids), dtype=np.float32))
            total, used = item_count(browse), "browse"
        else:
            plan = self._plan(query, positive, negatives)
            floor = query.min_score if query.min_score is not None else plan.floor
            if query.min_score is None:
                cosine_floor = self._cosine_floor(query, positive)
            want = query.top_k if query.order == "relevance" else max(query.top_k, DATE_POOL)
            want = max(want, query.nearest_k)
            like = query.like_photo_id
            # Ranked without the floor, so the photos under it can be counted: the floored
            # answer is the prefix at or above it (the same photos, the same work for `want`).
            items, used, total = self._rank_items(
                plan, candidates, generation, want + (like is not None)
            )
            ids, scores = items.ids, items.scores
            if like is not None:
                # Find Similar: the photo itself is pinned apart, never counted as a match.
                ids, scores, source = self._pin_source(plan, like, ids, scores)
            above = scores >= floor
            if query.nearest_k > 0 and len(ids) and not above.any():
                # Nothing clears the floor: the nearest photos, flagged, rather than nothing.
                nearest = True
                near = slice(None, query.nearest_k)
                hits = self._hits(
                    ids[near], scores[near], self._with_moments(plan, items, ids[near])
                )
            else:
                weaker = min(query.top_k, len(ids)) - min(query.top_k, int(above.sum()))
                shown = ids[above][: query.top_k]
                items = self._with_moments(plan, items, shown)
                hits = self._hits(ids[above], scores[above], items, floor)
            if query.order == "date":
                hits.sort(key=_newest_first)
            hits = hits[: query.nearest_k if nearest else query.top_k]
        elapsed = (time.perf_counter() - start) * 1000
        log.debug("search %r: %d hits (%d weaker) of %d in %.1f ms (%s)", query.text, len(hits),
                  weaker, total, elapsed, used)  # fmt: skip
        return SearchResult(
            hits,
            total,
            elapsed,
            used,
            floor,
            positive,
            negatives,
            weaker,
            cosine_floor,
            nearest,
            source,
        )

    def _rank_items(
        self, plan: Plan, candidates: np.ndarray | None, generation: int | None, want: int
    ) -> tuple[Items, Literal["exact", "index"], int]:
        """The best `want` items (photos, videos at their best label), how they were ranked,
        and how many items passed the filters. A video's moments take several labels, so the
        ranking widens until `want` items come out or nothing is left."""
        fetch = want
        while True:
            ids, scores, used, _ = self._rank(plan, candidates, generation, fetch, -math.inf)
            live = self._live(generation)
            keep = ~np.isin(ids, live.videos)  # a clip's mean: its moments speak for it
            items = group(ids[keep], scores[keep], live.times)
            if len(items.ids) >= want or len(ids) < fetch:
                break
            fetch *= 4
        if candidates is not None:
            return items, used, item_count(candidates)
        return items, used, self._item_total(self._require_model())

    def _with_moments(self, plan: Plan, items: Items, ids: np.ndarray) -> Items:
        """`items` with every moment of the videos among `ids` scored (the ranking holds only
        the moments that made its cut), so a hit lists all its matching moments."""
        live = self._live(self.catalog.generation(self._require_model()))
        labels = self.catalog.moment_labels(np.concatenate([ids, live.clips_of(ids)]))
        if not len(labels):
            return items
        scored, scores = top_exact(plan, [self.vectors_of(labels)], len(labels), -math.inf)
        times = live.times(scored)
        moments: dict[int, list[tuple[int, float]]] = {}
        for label, score in zip(scored.tolist(), scores.tolist(), strict=True):
            if label in times:
                video, t_ms = times[label]
                moments.setdefault(video, []).append((t_ms, float(score)))
        return Items(items.ids, items.scores, items.best_ms, {**items.moments, **moments})

    def _pin_source(
        self, plan: Plan, photo_id: int, ids: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Hit | None]:
        """The ranking without the photo a Find Similar started from, and that photo as a Hit
        with its own score (scored apart when the filters left it out of the ranking)."""
        at = ids == photo_id
        if at.any():
            own = float(scores[at][0])
            ids, scores = ids[~at], scores[~at]
        else:
            one = np.array([photo_id], dtype=np.int64)
            _, own_scores = top_exact(plan, [self.vectors_of(one)], 1, -math.inf)
            own = float(own_scores[0]) if len(own_scores) else 0.0
        hits = self._hits(np.array([photo_id], dtype=np.int64), np.array([own], np.float32))
        return ids, scores, (hits[0] if hits else None)

    def _check_model(self, query: Query) -> None:
        """The one check that a query needing a model has one; ModelError says how to get one."""
        missing = query.needs_encoder and self.encoder is None
        if missing or (query.needs_model and self.model_id is None):
            problem = self._model_problem() if self._model_problem else None
            raise ModelError(no_model_message(problem))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._reference = None

    # -- query to scoring plan -----------------------------------------------------------------

    def _plan(self, query: Query, positive: str, negatives: tuple[str, ...]) -> Plan:
        model_id = self._require_model()
        reference = self._get_reference(model_id)
        rfloor = self._relevance_floor()
        texts = ([positive] if positive else []) + list(negatives)
        text_vecs = self._require_encoder().encode_text(texts) if texts else None
        image_vec = self._image_vector(query, model_id)
        w_image = query.image_weight if positive and image_vec is not None else 1.0
        parts: list[Part] = []
        if positive and text_vecs is not None:
            parts.append(make_part("text", text_vecs[0], 1.0 - w_image if image_vec is not None
                                   else 1.0, reference, rfloor, query.min_cosine))  # fmt: skip
        if image_vec is not None:
            parts.append(make_part("image", image_vec, w_image, reference, None, query.min_cosine))
        if text_vecs is not None:
            for vec in text_vecs[1 if positive else 0 :]:
                parts.append(make_part("negative", vec, 1.0, reference, rfloor))
        return Plan(parts)

    def _relevance_floor(self) -> float | None:
        """The model's calibrated text-image cosine floor, if it has one."""
        info = self.encoder.info if self.encoder else None
        return info.relevance_floor if info else None

    def _cosine_floor(self, query: Query, positive: str) -> float | None:
        """The raw cosine behind this query's floor: the query's own, or for text alone the
        model's; None where the floor is (partly) relative to the library."""
        if query.min_cosine is not None:
            return query.min_cosine
        if positive and query.image is None and query.like_photo_id is None:
            return self._relevance_floor()
        return None

    def _image_vector(self, query: Query, model_id: str) -> np.ndarray | None:
        """The query image's embedding: a stored one for a library photo (no encoding), else
        the encoded image or region."""
        if query.like_photo_id is not None and query.like_moment_ms is not None:
            if query.region is None:
                return self._moment_vector(query.like_photo_id, query.like_moment_ms, model_id)
        elif query.like_photo_id is not None and query.region is None:
            vec = self.catalog.embedding(query.like_photo_id, model_id)
            if vec is None:
                raise QueryError(
                    f"Photo {query.like_photo_id} is not indexed yet, so there is nothing to "
                    "compare with; index its folder first."
                )
            return vec
        if query.like_photo_id is not None:
            photo = self.catalog.photo(query.like_photo_id)
            if photo is None:
                raise QueryError(f"There is no photo {query.like_photo_id} in the library.")
            source: Path | bytes | Image.Image = Path(photo.path)
            if photo.kind == "video":  # a region on one of its frames
                from app.core.photos.video import frame_at

                at = query.like_moment_ms or 0
                source = frame_at(photo.path, at, max_side=max(photo.width or 0, 4096))
        elif query.image is not None:
            source = query.image
            if isinstance(source, Path) and source.suffix.lower() in VIDEO_EXTENSIONS:
                return self._video_vector(source, query)
        else:
            return None
        encoder = self._require_encoder()
        if isinstance(source, Image.Image):
            img = source.convert("RGB")
        else:  # a region needs full resolution: its box is in the photo's own pixels
            img = open_image(source, min_side=encoder.image_size, draft=query.region is None)
        if query.region is not None:
            img = crop_region(img, query.region)
        return np.asarray(encoder.encode_images([img])[0], dtype=np.float32)

    def _video_vector(self, path: Path, query: Query) -> np.ndarray:
        """A video file as the example (dropped on the window, --image clip.mp4): the mean of
        its sampled frames' vectors, as the library keeps a video's own vector."""
        from app.core.photos.video import VideoError, sample

        if query.region is not None:
            raise QueryError(
                f"{path} is a video: a region is drawn on one of its frames (open the video in "
                "the viewer and draw the box there)."
            )
        encoder = self._require_encoder()
        try:
            got = sample(path, min_side=encoder.image_size, max_frames=VIDEO_QUERY_FRAMES)
        except VideoError as e:
            raise QueryError(f"Cannot search like {path}: {e.reason}.") from e
        except OSError as e:
            raise QueryError(f"Cannot read {path} ({e.strerror or e}).") from e
        vectors = np.asarray(encoder.encode_images([f.image for f in got.frames]), np.float32)
        mean = vectors.mean(axis=0)
        return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)

    def _moment_vector(self, video_id: int, t_ms: int, model_id: str) -> np.ndarray:
        """The stored vector of the video's sampled moment nearest to `t_ms`."""
        one = np.array([video_id], dtype=np.int64)
        live = self._live(self.catalog.generation(model_id))
        labels = self.catalog.moment_labels(np.concatenate([one, live.clips_of(one)]))
        times = self.catalog.moment_times(labels)
        got_ids, vectors = self.catalog.moment_vectors(model_id, labels)
        if not len(got_ids):
            raise QueryError(
                f"Video {video_id} has no indexed moments yet, so there is nothing to compare "
                "with; index its folder first."
            )
        nearest = int(np.argmin([abs(times[int(lb)][1] - t_ms) for lb in got_ids]))
        return np.asarray(vectors[nearest], dtype=np.float32)

    def _require_encoder(self) -> Encoder:
        assert self.encoder is not None, "checked by _check_model"
        return self.encoder

    def _require_model(self) -> str:
        assert self.model_id is not None, "checked by _check_model"
        return self.model_id

    def _get_reference(self, model_id: str) -> Reference:
        size = self._library_size(model_id)
        with self._lock:
            ref = self._reference
        if ref is None or not ref.fresh_for(model_id, size):
            index = self.index  # its ids and rows are at hand; the catalog's cost queries
            source = _IndexRows(self) if index is not None else self.catalog
            ref = Reference.sample(source, model_id, ids=index.ids() if index else None)
            with self._lock:
                self._reference = ref
        return ref

    def _library_size(self, model_id: str) -> int:
        """Photos with a vector for the model: the index's count, or the catalog's (cached per
        generation: a COUNT over a million rows is not free)."""
        if self.index is not None and self.index.model_id == model_id:
            return len(self.index)
        key = ("count", model_id, self.catalog.generation(model_id))
        got = self._cache.get(key)
        if got is None:
            got = self.catalog.count_indexed(model_id) + self.catalog.count_moments(model_id)
            self._cache.put(key, got, 64)
        return int(got)

    def _item_total(self, model_id: str) -> int:
        """Photos and videos with a vector for the model (moments not counted)."""
        generation = self.catalog.generation(model_id)
        live = self._live(generation)
        key = ("items", model_id, generation, id(live))
        got = self._cache.get(key)
        if got is None:
            clips = len(self.catalog.embeddings(model_id, live.videos)[0])  # Live Photos' clips
            got = self.catalog.count_indexed(model_id) - clips
            self._cache.put(key, got, 64)
        return int(got)

    # -- filters -------------------------------------------------------------------------------

    def _filter(self, query: Query, generation: int | None) -> np.ndarray | None:
        """Ids passing the filters, or None for no filters (the whole library). Year, month,
        kind and place sets are cached per generation and facts stamp (a rescan that fills in
        places or dates changes it); folder sets are not (moves do not bump it)."""
        if not query.has_filters:
            return None
        stamp = self.catalog.facts_stamp()
        key = ("filter", query.year, query.month, query.kind, query.place, generation, stamp)
        cacheable = query.folder is None and generation is not None
        got = self._cache.get(key) if cacheable else None
        if got is None:
            got = self.catalog.filter_ids(
                year=query.year,
                month=query.month,
                folder=query.folder,
                pending=self._browse_only,
                kind=None if query.kind == "all" else query.kind,
                place=query.place,
            )
            if cacheable:
                self._cache.put(key, got, got.nbytes)
        return self._live(generation).paired(np.asarray(got), query.kind != "video")

    def _all_ids(self, generation: int | None) -> np.ndarray:
        key = ("all", generation)
        got = self._cache.get(key) if generation is not None else None
        if got is None:
            got = self.catalog.filter_ids(pending=self._browse_only)
            if generation is not None:
                self._cache.put(key, got, got.nbytes)
        return self._live(generation).paired(np.asarray(got), True)

    def _live(self, generation: int | None) -> LivePhotos:
        """The Live Photos' pairing as the engine uses it, remade when the catalog's pairing
        or the clips' moments change."""
        pairs = self.catalog.companions()
        key = ("live", id(pairs), generation)
        got = self._cache.get(key) if generation is not None else None
        if not isinstance(got, LivePhotos):
            got = LivePhotos(pairs, self.catalog)
            if generation is not None:
                self._cache.put(key, got, 64 + 48 * len(got.videos))
        return got

    # -- ranking -------------------------------------------------------------------------------

    def _rank(
        self,
        plan: Plan,
        candidates: np.ndarray | None,
        generation: int | None,
        want: int,
        floor: float,
    ) -> tuple[np.ndarray, np.ndarray, Literal["exact", "index"], int]:
        """Top `want` (ids, scores) above `floor` among the candidates, how, and how many."""
        model_id = self._require_model()
        library = self._library_size(model_id)
        passing = library if candidates is None else len(candidates)
        index = self.index
        if (
            index is not None
            and len(index) > 0
            and passing > self.exact_rows
            and passing >= self.exact_share * len(index)
        ):
            got = top_from_index(index, plan, candidates, want, floor, self.vectors_of)
            if got is not None:
                return got[0], got[1], "index", passing
        if candidates is None:
            candidates = self._all_ids(generation)
        ids, scores = top_exact(plan, self._vectors(candidates, generation), want, floor)
        return ids, scores, "exact", passing

    def _vectors(self, ids: np.ndarray, generation: int | None) -> Iterator[Vectors]:
        """(ids, vectors) of the candidates, from the cache, or read once and cached when they
        fit, or streamed in chunks when they do not."""
        model_id = self._require_model()
        key = ("vectors", model_id, generation, digest(ids))
        got = self._cache.get(key) if generation is not None else None
        if got is not None:
            yield got
            return
        nbytes = len(ids) * (self.catalog.dim(model_id) or 0) * 4
        if generation is not None and self._cache.fits(nbytes):
            got = self.vectors_of(ids)
            self._cache.put(key, got, got[1].nbytes + got[0].nbytes)
            yield got
            return
        for i in range(0, len(ids), SCAN_CHUNK):
            yield self.vectors_of(ids[i : i + SCAN_CHUNK])

    def vectors_of(self, ids: np.ndarray) -> Vectors:
        """(ids that have a vector, their vectors): from the index's memory-mapped rows, and
        from the catalog only for photos the index lacks (none, unless it is catching up)."""
        model_id = self._require_model()
        index = self.index
        if index is None or index.model_id != model_id:
            return self._stored(model_id, ids)
        got_ids, vectors = index.vectors_of(ids)
        if len(got_ids) == len(ids):
            return got_ids, vectors
        missing = np.asarray(ids, dtype=np.int64)[~index.contains(ids)]
        more_ids, more = self._stored(model_id, missing)
        if not len(more_ids):
            return got_ids, vectors
        return np.concatenate([got_ids, more_ids]), np.concatenate([vectors, more])

    def _stored(self, model_id: str, ids: np.ndarray) -> Vectors:
        """The catalog's vectors of these labels: items' embeddings, then moments' vectors."""
        ids = np.asarray(ids, dtype=np.int64)
        moment = ids >= MOMENT_BASE
        got = self.catalog.embeddings(model_id, ids[~moment])
        if not moment.any():
            return got
        more = self.catalog.moment_vectors(model_id, ids[moment])
        return np.concatenate([got[0], more[0]]), np.concatenate([got[1], more[1]])

    def _without(self, plan: Plan, ids: np.ndarray, generation: int | None) -> np.ndarray:
        """`ids` minus the photos and videos that match any negative term (a video when its
        mean or any of its moments does; a search of only "-word"s browses everything else)."""
        drop: list[np.ndarray] = []
        for got_ids, vectors in self._vectors(ids, generation):
            drop.append(got_ids[plan.matches_negative(vectors)])
        if not drop:
            return ids
        times = self._live(generation).times
        return np.setdiff1d(ids, items_of(np.concatenate(drop), times))

    # -- results -------------------------------------------------------------------------------

    def _newest(self, ids: np.ndarray, generation: int | None) -> np.ndarray:
        """`ids` newest first (undated last), cached per generation, facts stamp (dates read
        again change it) and id set."""
        key = ("newest", generation, self.catalog.facts_stamp(), digest(ids))
        got = self._cache.get(key) if generation is not None else None
        if got is None:
            got = self.catalog.newest_first(ids, pending=self._browse_only)
            if generation is not None:
                self._cache.put(key, got, got.nbytes)
        return np.asarray(got)

    def _hits(
        self,
        ids: np.ndarray,
        scores: np.ndarray,
        items: Items | None = None,
        floor: float = -math.inf,
    ) -> list[Hit]:
        """Hits for items; a video's best moment and its moments above `floor` from `items`."""
        by_id = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        best = items.best_ms if items else {}
        moments = items.moments if items else {}
        photos = self.catalog.photos(ids)
        stills = np.array([p.id for p in photos if p.kind == "photo"], dtype=np.int64)
        live = self.catalog.companions()
        times = self.catalog.moment_times(self.catalog.moment_labels(stills))
        clips = {pid for pid, _ in times.values()} | set(live.values())
        return [
            Hit(
                p.id,
                p.path,
                float(by_id[p.id]),
                p.capture_time,
                p.capture_source,
                p.width,
                p.height,
                p.kind,
                p.duration_ms,
                best.get(p.id),
                tuple((t, sc) for t, sc in moments.get(p.id, ()) if sc >= floor),
                p.kind == "photo" and p.id in clips,
                place_of(p),
                p.lat,
                p.lon,
                p.capture_offset,
                p.offset_derived,
            )
            for p in photos
        ]


class _IndexRows:
    """The engine's vectors as the reference sample reads them (ids always given)."""

    def __init__(self, engine: SearchEngine) -> None:
        self._engine = engine

    def filter_ids(self) -> np.ndarray:
        return self._engine.catalog.filter_ids()

    def embeddings(self, model_id: str, ids: np.ndarray | None = None) -> Vectors:
        if ids is None:
            return self._engine.catalog.embeddings(model_id)
        return self._engine.vectors_of(np.asarray(ids, dtype=np.int64))


def _stamp(t: datetime | None) -> float:
    """Sort key for capture times: naive local wall-clock as seconds; undated sorts last."""
    if t is None:
        return -math.inf
    return (t.replace(tzinfo=None) - datetime(1970, 1, 1)).total_seconds()


def _newest_first(hit: Hit) -> tuple[float, float, int]:
    return (-_stamp(hit.capture_time), -hit.score, hit.photo_id)
