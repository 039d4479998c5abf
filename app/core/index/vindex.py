"""The vector index: an hnswlib graph over one model's photo embeddings, labelled by photo id,
plus the full vectors it scores its candidates with.

It is a derived cache of the catalog's stored vectors (the source of truth), so anything wrong
with it (missing, written by another model, stale, torn by a kill, corrupt) is repaired from the
catalog when it is opened, never reported to the user.

Why each part (bench/RESULTS.md, sessions 2 and 3; 2-core machine, 512-d model):
- The graph at all: a text query over 100k photos takes 1.2-4.6 ms "search only" through the
  graph; scoring every stored vector is 0.12-0.4 us a photo cached, 14-30 us uncached (see
  search/engine.py), i.e. seconds a query at a million.
- PCA reduction (`Projection`, from REDUCE_AT = 250k photos): hnswlib holds every vector as
  float32 in RAM, ~2.4 KB a photo at full width (2.4 GB at 1M). Reduced to 224-d the index
  measured 1321 bytes a photo after open at 1M (catalog and index 1321 MB, peak RSS 1810 MB):
  it saves ~1.1 GB at a million. Below 250k it is not used: at 100k a reduced query took 24 ms
  against ~1.5 ms at full width, and the full graph fits (0.6 GB at 250k).
- The lift (one extra coordinate): without it the reduced graph at 1M found aimed recall@20
  0.815 (worst query 0.55); with it 0.955 (0.80), and with M 32 0.993 (0.90). End to end at 1M
  aimed recall went 0.775 -> 1.000 and text search p95 56 -> 10.9 ms.
- float16 rows (`vstore`): the exact scores of candidates (so index and exact search agree)
  from 1 KB a photo of disk (1 GB at 1M) instead of 2 KB float32, read with pread: memory-
  mapping them measured +459 MB RSS for 3000 random rows of 1M. float16 differs from the
  catalog's float32 by < 5e-4 a component; aimed recall@20 at 100k is 0.992 with them.
- Immutable segment files: not a speed need but a safety one: a kill at any moment leaves
  every file a saved index names intact, and the one indexing process and the searching ones
  never write the same file (tests/test_vindex.py kills and races it).
- Compaction: a removed photo stays in the graph as a deleted node and a replaced one leaves a
  dead row; past COMPACT_RATIO (20 %) the graph and rows are rebuilt. This bounds the waste of a
  library that is edited over time; no benchmark measured it (it is a bound, not a speed-up).

The one over-fetch loop of filtered and floored queries is `search_growing`; what is fetched is
settled by its caller (search.ranking), so filters stay exact.

Its files are read and written by `vfiles`, the projection is `projection`. Over 400 lines:
one class, because its two locks span the graph, the rows, rebuilds and saves.

Locking: queries take a short lock; adds, removals and saves are serialised by a second one, so
long work (a graph rebuild or compaction, writing a save) runs beside queries on the old graph,
which is swapped in only when done.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import hnswlib
import numpy as np

from app.core.index.labels import MOMENT_BASE
from app.core.index.projection import Projection
from app.core.index.vfiles import (
    Unusable,
    read_saved,
    remove_dead_temp_files,
    write_saved,
)
from app.core.index.vstore import RowStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Hits = tuple[np.ndarray, np.ndarray]  # (ids int64, scores float32), best first
Settled = tuple[T, bool]  # an answer, and whether it is final


M = 16  # graph degree: recall@10 >= 0.97 on clustered CLIP-like vectors at ef 100
# A reduced graph (only ever >= REDUCE_AT photos) is denser: at a million synthetic photos, 1000
# clusters of near-equidistant points, hnswlib with M 16 left 1 in 20 of an aimed query's true
# top 20 unreachable however wide the beam (recall@20 0.955, worst query 0.80); M 24 gave 0.980,
# M 32 0.993 (worst 0.90), ef_construction 400 instead of more links 0.974. The extra links
# (+128 bytes a photo) are paid for by a narrower graph (GRAPH_DIM_MAX).
M_REDUCED = 32
EF_CONSTRUCTION = 200
# ef = max(EF_MIN, 2k), at most k + EF_SLACK: recall@k >= 0.975 for k <= 1000 measured on
# clustered CLIP-like vectors with text-like (off-manifold) queries; large over-fetches need less.
EF_MIN = 100
EF_SLACK = 2000
# Reduction: a graph wider than GRAPH_DIM_MAX is rebuilt over the top principal components once
# it holds REDUCE_AT photos. Below that the full graph fits (0.6 GB at 250k) and is faster: at
# 100k a reduced query took 24 ms (ef ~2000 plus the rerank) against ~1.5 ms full width.
# Reduced, a query for k takes k + max(RERANK_MIN, min(7k, RERANK_EXTRA_MAX)) candidates, scored
# exactly. At 30k photos with PCA-256 of 512-d, recall@20 against brute force was 0.87 with 300
# extra candidates, 0.98 with 1000 and 1.0 with 3000 for the worst case we have: the benchmark's
# random-init text queries, which match none of its synthetic photos (median cosine 0, best
# 0.19: every photo is a near tie). At a million (this graph, 4020 candidates) aimed queries get
# 1.0; those near-tie queries 0.55: even 255 components kept only 0.89 of their true top 20
# among the projection's best 4000 (and 8000 candidates reached 0.82 at twice the time).
GRAPH_DIM_MAX = 224  # 223 principal components and the lift (`Projection`)
REDUCE_AT = 250_000
PCA_SAMPLE = 50_000
REFIT_GROWTH = 3  # the projection is refitted when the library grows this much (250k, 750k)
RERANK_MIN = 1000
RERANK_FACTOR = 8
RERANK_EXTRA_MAX = 4000
# A full-width graph is asked for k + max(FULL_EXTRA, k): on the benchmark's 100k library a bare
# k=20 search (ef 100) found 0.91 of the true top 20 for CLIP-like queries, with one query at 0;
# the wider beam this implies costs ~1 ms.
FULL_EXTRA = 200
MIN_CAPACITY = 1024
GROWTH = 1.5  # capacity grows geometrically, so n adds cost O(log n) resizes
# Deleted photos stay in the graph (hnswlib only marks them): each one is still visited by every
# search and keeps its memory. Past 20 % dead nodes a query does ~25 % extra work and wastes a
# fifth of the index's memory, so the graph is rebuilt from the live vectors.
COMPACT_RATIO = 0.20
# A stale index is brought up to date in place unless this share of it changed; then a fresh
# build is about as cheap and gives a better graph.
SYNC_MAX_RATIO = 0.20
# float16 rows differ from the catalog's float32 by < 5e-4 per component; a changed photo by far
# more.
SAME_VECTOR_TOL = 2e-3
SPOT_CHECK = 32  # stored rows compared with the catalog when a saved index is opened
READ_CHUNK = 50_000  # catalog rows per read while building (bounds peak memory)
OVERFETCH_MARGIN = 1.5
NEIGHBOUR_CHUNK = 4096  # photos a batched `neighbours` search takes at once (bounds memory)
# The beam of a `neighbours` search: a near-duplicate is by far the nearest photo, which a narrow
# beam finds (bench/duplicates.py: every planted copy of 100,000 photos found at 32).
NEIGHBOUR_EF = 32
NEIGHBOUR_EF_MAX = 2048  # the widest beam a stranded photo is searched again with
OVERFETCH_GROWTH = 4


class EmbeddingSource(Protocol):
    """What the index needs from the catalog: photos' and videos' vectors (labelled by photo
    id) and videos' moment vectors (labelled MOMENT_BASE + moment id)."""

    def generation(self, model_id: str) -> int: ...

    def count_indexed(self, model_id: str) -> int: ...

    def count_moments(self, model_id: str) -> int: ...

    def embeddings(
        self, model_id: str, ids: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def moment_vectors(
        self, model_id: str, labels: Sequence[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def filter_ids(self) -> np.ndarray: ...


def _count(catalog: EmbeddingSource, model_id: str) -> int:
    """How many labelled vectors the index of `model_id` should hold: items and moments."""
    return catalog.count_indexed(model_id) + catalog.count_moments(model_id)


def _vectors(
    catalog: EmbeddingSource, model_id: str, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, vectors) of every item and moment of `model_id`, or of those of `labels` that
    the catalog has: items first, then moments."""
    if labels is None:
        parts = [catalog.embeddings(model_id), catalog.moment_vectors(model_id)]
    else:
        labels = np.asarray(labels, dtype=np.int64)
        moments = labels >= MOMENT_BASE
        parts = [catalog.embeddings(model_id, labels[~moments])]
        if moments.any():
            parts.append(catalog.moment_vectors(model_id, labels[moments]))
    parts = [p for p in parts if len(p[0])] or parts[:1]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.asarray(np.divide(v, norms, out=np.zeros_like(v), where=norms > 0))


class VectorIndex:
    """hnswlib over L2-normalised vectors (inner product), labels are photo ids; scores come
    from the full vectors in `store`."""

    def __init__(
        self,
        directory: Path,
        model_id: str,
        dim: int,
        graph: hnswlib.Index,
        store: RowStore,
        projection: Projection | None,
        deleted: np.ndarray,
        generation: int,
    ) -> None:
        self.directory = Path(directory)
        self.model_id = model_id
        self.dim = dim
        self._graph: hnswlib.Index | None = graph
        self._store = store
        self._proj = projection
        self._deleted = deleted  # sorted labels marked deleted (still in the graph)
        self._generation = generation
        self._dirty = False
        self._lock = threading.RLock()  # queries, and the short swaps of changes
        self._write = threading.RLock()  # adds, removals, rebuilds and saves, one at a time

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, directory: Path, model_id: str, dim: int, catalog: EmbeddingSource
    ) -> VectorIndex:
        """Load the saved index, or rebuild or update it from the catalog when it is missing,
        from another model, torn, corrupt or behind the catalog; saves any repair."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        remove_dead_temp_files(directory)
        generation = catalog.generation(model_id)  # read first: later changes look stale
        count = _count(catalog, model_id)
        try:
            vi = cls._load(directory, model_id, dim)
        except Unusable as why:
            log.info("Rebuilding the vector index in %s from the catalog: %s", directory, why)
            vi = cls.build(directory, model_id, dim, catalog)
            vi.save(generation)
            return vi
        if vi._generation != generation or len(vi) != count:
            log.info(
                "The vector index in %s is stale (saved at generation %d with %d photos; the "
                "catalog is at generation %d with %d): updating it from the catalog",
                directory,
                vi._generation,
                len(vi),
                generation,
                count,
            )
            vi = vi._sync(catalog)
            vi.save(generation)
            return vi
        wrong = vi._spot_check(catalog)
        if wrong:
            log.info("Rebuilding the vector index in %s from the catalog: %s", directory, wrong)
            vi.close()
            vi = cls.build(directory, model_id, dim, catalog)
            vi.save(generation)
        elif vi._needs_compaction() or vi._rows_need_compaction():
            vi.compact()
            vi.save(generation)
        return vi

    @classmethod
    def _load(cls, directory: Path, model_id: str, dim: int) -> VectorIndex:
        saved = read_saved(directory, model_id, dim)
        return cls(directory, model_id, dim, saved.graph, saved.store, saved.projection,
                   saved.deleted, saved.generation)  # fmt: skip

    def _spot_check(self, catalog: EmbeddingSource) -> str | None:
        """Compare a few stored rows with the catalog: None when they agree, else why not."""
        ids = self._store.ids
        if len(ids) == 0:
            return None
        picks = ids[_evenly(len(ids), SPOT_CHECK)]
        got_ids, truth = _vectors(catalog, self.model_id, np.unique(picks))
        if len(got_ids) == 0:
            return "none of its photos are in the catalog"
        diff = np.abs(self._store.get(got_ids) - normalise(truth)).max()
        if not diff <= SAME_VECTOR_TOL:
            return f"its stored vectors differ from the catalog's (by {diff:.3g})"
        return None

    @classmethod
    def build(
        cls, directory: Path, model_id: str, dim: int, catalog: EmbeddingSource
    ) -> VectorIndex:
        """A fresh index of every vector the catalog stores for `model_id` (not saved)."""
        generation = catalog.generation(model_id)  # before reading: later changes look stale
        expected = _count(catalog, model_id)
        projection = None
        if _reduces(dim, expected):
            all_ids = catalog.filter_ids()
            picks = all_ids[_evenly(len(all_ids), PCA_SAMPLE)]
            sample = _vectors(catalog, model_id, picks)[1]
            projection = Projection.fit(sample, GRAPH_DIM_MAX, expected)
        vi = cls.empty(directory, model_id, dim, capacity=expected, projection=projection)
        for ids, vectors in _read_catalog(catalog, model_id, expected):
            vi.add(ids, vectors)
        if len(vi) < expected:  # vectors of photos the listing missed: read them all at once
            log.warning("Catalog listing gave %d of %d vectors; reading all", len(vi), expected)
            vi.add(*_vectors(catalog, model_id))
        vi._generation = generation
        return vi

    @classmethod
    def empty(
        cls,
        directory: Path,
        model_id: str,
        dim: int,
        capacity: int = 0,
        projection: Projection | None = None,
    ) -> VectorIndex:
        graph = _new_graph(
            projection.dim if projection else dim, capacity, reduced=projection is not None
        )
        none = np.empty(0, dtype=np.int64)
        store = RowStore(directory, dim)
        return cls(directory, model_id, dim, graph, store, projection, none, generation=-1)

    # -- contents ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._store)

    @property
    def generation(self) -> int:
        """The catalog generation this index was last opened, built or saved at."""
        return self._generation

    @property
    def deleted_count(self) -> int:
        return len(self._deleted)

    @property
    def graph_dim(self) -> int:
        """The width of the vectors the graph holds: `dim`, or the projection's when reduced."""
        return self._proj.dim if self._proj else self.dim

    def ids(self) -> np.ndarray:
        """The photo ids in the index (sorted; a copy)."""
        with self._lock:
            return np.array(self._store.ids, copy=True)

    def contains(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """A bool per id: is it in the index?"""
        with self._lock:
            return member(self._store.ids, np.asarray(ids, dtype=np.int64))

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert photos, or replace the vectors of ones already in (vectors are normalised)."""
        labels = np.asarray(ids, dtype=np.int64).reshape(-1)
        vecs = normalise(np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dim))
        if len(labels) == 0:
            return
        labels, first = np.unique(labels, return_index=True)  # one vector per id: the first
        vecs = vecs[first]
        with self._write:
            with self._lock:
                graph = self._require()
                new = labels[~member(self._store.ids, labels)]
                needed = graph.element_count + len(new)
                if needed > graph.max_elements:
                    graph.resize_index(max(needed, math.ceil(graph.max_elements * GROWTH)))
                graph.add_items(self._to_graph(vecs), labels)  # revives a deleted label too
                self._store.put(labels, vecs)
                self._deleted = self._deleted[~member(new, self._deleted)]
                self._dirty = True
            if self._proj is None and _reduces(self.dim, len(self)):
                log.info("The vector index reached %d photos: reducing its graph to %d-d",
                         len(self), GRAPH_DIM_MAX)  # fmt: skip
                self._rebuild(compact_store=False)
            elif self._proj is not None and len(self) >= REFIT_GROWTH * self._proj.fitted_on:
                log.info("The vector index grew from %d to %d photos: refitting its graph's "
                         "projection", self._proj.fitted_on, len(self))  # fmt: skip
                self._rebuild(compact_store=False)
            elif self._rows_need_compaction():
                self._compact_rows()

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Mark photos deleted (ids not in the index are ignored); compacts when too many are
        dead. Returns how many were removed."""
        labels = np.unique(np.asarray(ids, dtype=np.int64))
        with self._write:
            with self._lock:
                graph = self._require()
                gone = labels[member(self._store.ids, labels)]
                for label in gone.tolist():
                    graph.mark_deleted(label)
                if len(gone):
                    self._store.drop(gone)
                    self._deleted = np.union1d(self._deleted, gone)
                    self._dirty = True
            if self._needs_compaction():
                self.compact()
            elif self._rows_need_compaction():
                self._compact_rows()
            return len(gone)

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The full vectors of `ids` (all must be in the index), float32 [n, dim]."""
        with self._lock:
            return self._store.get(np.asarray(ids, dtype=np.int64))

    def vectors_of(self, ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the ids of `ids` in the index, in the order given, their full vectors): the quick
        way to score a set of photos exactly (page faults on the row files, no SQL)."""
        wanted = np.asarray(ids, dtype=np.int64)
        with self._lock:
            found, rows = self._store.lookup(wanted)
            return wanted[found], self._store.read_rows(rows)

    # -- queries -------------------------------------------------------------------------------

    def query(
        self, vec: np.ndarray, k: int, *, filter_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest photos by inner product (cosine for a unit `vec`), best first, as
        (ids int64, scores float32). With `filter_ids`, the k nearest among those photos."""
        if filter_ids is None:
            q = self._as_query(vec)
            with self._lock:
                n = min(k, len(self))
                return self._knn(q, n) if n > 0 else _no_hits()
        ids, scores, _ = self.query_filtered(vec, k, filter_ids)
        return ids, scores

    def query_filtered(
        self, vec: np.ndarray, k: int, filter_ids: np.ndarray, *, max_fetch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """The k nearest among `filter_ids`, and whether that answer is complete.

        A filter that disagrees with the query (all the nearest photos fail it) can need a
        large fetch; past `max_fetch` this stops and returns what passed with complete=False,
        so the caller can scan the passing photos exactly."""
        allowed = sorted_unique(np.asarray(filter_ids, dtype=np.int64))
        want = min(k, len(allowed))  # ids not in the index count too: then it is incomplete
        if want <= 0:
            return *_no_hits(), True

        live = len(self)

        def settle(ids: np.ndarray, scores: np.ndarray, fetch: int) -> Settled[Hits]:
            keep = member(allowed, ids)
            if keep.sum() >= want or fetch >= live:
                return (ids[keep][:want], scores[keep][:want]), True
            return (ids[keep], scores[keep]), False

        cap = None if max_fetch is None else max(max_fetch, want)
        (ids, scores), complete = self.search_growing(
            vec, self.first_fetch(want, len(allowed)), cap, settle
        )
        return ids, scores, complete

    def first_fetch(self, want: int, passing: int) -> int:
        """How many photos to fetch first so that about `want` of `passing` pass a filter."""
        live = max(len(self), 1)
        return math.ceil(want * live / max(passing, 1) * OVERFETCH_MARGIN) + 10

    def search_growing(
        self,
        vec: np.ndarray,
        fetch: int,
        max_fetch: int | None,
        settle: Callable[[np.ndarray, np.ndarray, int], Settled[T]],
    ) -> Settled[T]:
        """The one over-fetch loop of every filtered or floored search: the best `fetch` photos
        (best first), growing OVERFETCH_GROWTH-fold up to `max_fetch` (None: the whole index)
        until `settle(ids, scores, fetch)` says its answer is final. Returns the last
        answer and whether it is final (False: the cap stopped it; the caller scans exactly)."""
        q = self._as_query(vec)
        with self._lock:
            live = len(self)
            cap = live if max_fetch is None else min(live, max_fetch)
            fetch = max(1, min(cap, fetch))
            while True:
                ids, scores = self._knn(q, fetch) if live else _no_hits()
                answer, final = settle(ids, scores, fetch)
                if final or fetch >= cap:
                    return answer, final
                fetch = min(cap, fetch * OVERFETCH_GROWTH)

    def neighbours(
        self, ids: Sequence[int] | np.ndarray, k: int, *, threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each of `ids` in the index with its k nearest others, best first, by exact score:
        (ids found [n], neighbours [n, k] (-1: none), scores [n, k]). Batched graph searches
        (`threads` -1: every core), so a whole library's near-duplicates cost one pass over
        the graph instead of one query a photo (bench/duplicates.py)."""
        wanted = np.asarray(ids, dtype=np.int64)
        with self._lock:
            found, rows = self._store.lookup(wanted)
            labels = wanted[found]
            nbrs = np.full((len(labels), k), -1, dtype=np.int64)
            scores = np.full((len(labels), k), -2.0, dtype=np.float32)
            pool = min(len(self), k + 1 + (2 * k if self._proj is not None else 0))
            if pool < 2 or len(labels) == 0:
                return labels, nbrs, scores
            graph = self._require()
            graph.set_ef(max(NEIGHBOUR_EF, 2 * pool))
            for start in range(0, len(labels), NEIGHBOUR_CHUNK):
                part = slice(start, start + NEIGHBOUR_CHUNK)
                vecs = self._store.read_rows(rows[part])
                q = self._proj.query(vecs) if self._proj is not None else vecs
                try:
                    got, dist = graph.knn_query(q, k=pool, num_threads=threads)
                except RuntimeError:  # a sparse graph: row by row, each as far as it reaches
                    got = np.full((len(vecs), pool), -1, dtype=np.int64)
                    for i, row in enumerate(q):
                        one = self._graph_knn(row[None], pool)
                        got[i, : len(one)] = one
                    dist = None
                got = np.asarray(got, dtype=np.int64)
                got, dist = self._reach(graph, q, got, dist, labels[part], pool, threads)
                got[got == labels[part, None]] = -1  # not itself
                valid = got >= 0
                exact = np.full(got.shape, -2.0, dtype=np.float32)
                if dist is not None and self._proj is None:  # full width: the graph's own scores
                    exact[valid] = 1.0 - np.asarray(dist, dtype=np.float32)[valid]
                else:  # reduced: scored on the full rows, as every query is
                    exact[valid] = np.einsum(
                        "ij,ij->i", self._store.get(got[valid]), np.repeat(vecs, valid.sum(1), 0)
                    )
                order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
                width = order.shape[1]
                nbrs[part, :width] = np.take_along_axis(np.where(valid, got, -1), order, 1)
                scores[part, :width] = np.take_along_axis(exact, order, 1)
            return labels, nbrs, scores

    def _reach(
        self,
        graph: hnswlib.Index,
        q: np.ndarray,
        got: np.ndarray,
        dist: np.ndarray | None,
        labels: np.ndarray,
        pool: int,
        threads: int,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows whose search did not even reach the photo itself lie in a corner of the graph
        a narrow beam misses (hnswlib strands a few nodes among many near-equal ones): those
        are searched again with wider beams. Measured: 17 of 100,000 at the narrow beam."""
        ef = max(NEIGHBOUR_EF, 2 * pool)
        missed = np.flatnonzero(~(got == labels[:, None]).any(axis=1))
        while len(missed) and ef < NEIGHBOUR_EF_MAX and dist is not None:
            ef *= 8
            graph.set_ef(ef)
            again, far = graph.knn_query(q[missed], k=pool, num_threads=threads)
            got[missed], dist[missed] = again, far
            missed = missed[~(got[missed] == labels[missed, None]).any(axis=1)]
        graph.set_ef(max(NEIGHBOUR_EF, 2 * pool))
        return got, dist

    def _as_query(self, vec: np.ndarray) -> np.ndarray:
        q = np.asarray(vec, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"expected a {self.dim}-d query, got {q.shape[1]}-d")
        return q

    def _knn(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best by exact score among the graph's nearest `pool` (k, or more when the graph
        is reduced); fewer than k only when the graph cannot reach k live nodes."""
        live = len(self)
        extra = max(FULL_EXTRA, k)
        if self._proj is not None:
            extra = max(RERANK_MIN, min((RERANK_FACTOR - 1) * k, RERANK_EXTRA_MAX))
        pool = min(live, k + extra)
        labels = self._graph_knn(self._proj.query(q) if self._proj else q, pool)
        if len(labels) == 0:
            return _no_hits()
        scores = self._store.get(labels) @ q[0]
        order = np.lexsort((labels, -scores))[:k]
        return labels[order], scores[order].astype(np.float32)

    def _graph_knn(self, q: np.ndarray, k: int) -> np.ndarray:
        """hnswlib search with ef adapted to k: the labels of up to k nearest in the graph."""
        graph = self._require()
        ef = max(EF_MIN, min(2 * k, k + EF_SLACK))
        while True:
            graph.set_ef(ef)
            try:
                labels, _ = graph.knn_query(q, k=k, num_threads=1)
                return np.asarray(labels[0], dtype=np.int64)
            except RuntimeError:  # fewer than k found: widen the beam, then ask for fewer
                if ef < graph.element_count:
                    ef = min(graph.element_count, ef * 4)
                elif k > 1:
                    k //= 2
                else:
                    return np.empty(0, dtype=np.int64)

    def _to_graph(self, vectors: np.ndarray) -> np.ndarray:
        return self._proj.photos(vectors) if self._proj else vectors

    # -- maintenance ---------------------------------------------------------------------------

    def _needs_compaction(self) -> bool:
        total = len(self) + len(self._deleted)
        return total > 0 and len(self._deleted) > COMPACT_RATIO * total

    def _rows_need_compaction(self) -> bool:
        dead = self._store.dead_rows
        return dead > max(COMPACT_RATIO * (len(self) + dead), 1024)

    def compact(self) -> None:
        """Rebuild the graph from the live vectors (refitting its projection), dropping deleted
        nodes, and rewrite the full vectors without dead rows."""
        log.info(
            "Compacting the vector index in %s: %d of %d graph entries and %d stored rows are dead",
            self.directory,
            len(self._deleted),
            len(self) + len(self._deleted),
            self._store.dead_rows,
        )
        self._rebuild(compact_store=True)

    def _compact_rows(self) -> None:
        """Rewrite the full vectors without the dead rows replaced photos left behind."""
        with self._write:
            log.info("Compacting the full vectors in %s: %d of %d rows are dead", self.directory,
                     self._store.dead_rows, len(self) + self._store.dead_rows)  # fmt: skip
            fresh = self._store.compacted()
            with self._lock:
                old, self._store = self._store, fresh
                self._dirty = True
                old.close()

    def _rebuild(self, *, compact_store: bool) -> None:
        """A fresh graph (reduced when the library is large enough, with a projection fitted to
        today's photos) built beside the current one, which keeps answering queries meanwhile.
        Callers hold no lock; adds and removals wait for the swap."""
        with self._write:
            store = self._store.compacted() if compact_store else self._store
            projection = None
            if _reduces(self.dim, len(store)):
                sample = store.read_rows(store.rows[_evenly(len(store), PCA_SAMPLE)])
                projection = Projection.fit(sample, GRAPH_DIM_MAX, len(store))
            graph = _new_graph(
                projection.dim if projection else self.dim,
                len(store),
                reduced=projection is not None,
            )
            for ids, vectors in store.chunks(READ_CHUNK):
                graph.add_items(projection.photos(vectors) if projection else vectors, ids)
            with self._lock:
                old = self._store
                self._graph, self._store, self._proj = graph, store, projection
                self._deleted = np.empty(0, dtype=np.int64)
                self._dirty = True
                if old is not store:
                    old.close()

    def _sync(self, catalog: EmbeddingSource) -> VectorIndex:
        """Bring a stale index in line with the catalog: add what is new, drop what is gone,
        replace vectors that changed. Rebuilds instead when much of it changed."""
        expected = _count(catalog, self.model_id)
        limit = SYNC_MAX_RATIO * max(expected, len(self), 1)
        seen: list[np.ndarray] = []
        changed = 0
        for ids, vectors in _read_catalog(catalog, self.model_id, expected):
            vectors = normalise(vectors)
            present = self.contains(ids)
            stale = ~present
            if present.any():
                old = self.vectors(ids[present])
                differs = np.abs(old - vectors[present]).max(axis=1) > SAME_VECTOR_TOL
                stale[np.flatnonzero(present)[differs]] = True
            changed += int(stale.sum())
            if changed > limit:
                break
            self.add(ids[stale], vectors[stale])
            seen.append(ids)
        else:
            ids_now = self.ids()
            gone = np.setdiff1d(ids_now, np.concatenate(seen) if seen else ids_now[:0])
            changed += len(gone)
            if changed <= limit:
                self.remove(gone)
                log.info("Vector index updated: %d photos added, changed or removed", changed)
                return self
        log.info(
            "Rebuilding the vector index in %s: over %d %% of it changed",
            self.directory,
            round(SYNC_MAX_RATIO * 100),
        )
        self.close()
        return VectorIndex.build(self.directory, self.model_id, self.dim, catalog)

    # -- saving --------------------------------------------------------------------------------

    def save(self, generation: int) -> None:
        """Write the index's files atomically (`vfiles.write_saved`), recording the catalog
        generation the contents match; queries go on meanwhile (saving only reads the graph)."""
        with self._write:  # no changes meanwhile
            with self._lock:
                self._store.flush()
            graph, store, projection = self._require(), self._store, self._proj
            meta: dict[str, Any] = {
                "model_id": self.model_id,
                "dim": self.dim,
                "graph_dim": self.graph_dim,
                "count": len(store),
                "generation": int(generation),
                "deleted": len(self._deleted),
                "deleted_ids": self._deleted.tolist(),
                "capacity": int(graph.max_elements),
                "space": "ip",
                "M": M,
                "ef_construction": EF_CONSTRUCTION,
                "segments": store.manifest(),
                "projection_fitted_on": projection.fitted_on if projection else 0,
            }
            write_saved(self.directory, graph, store, projection, meta)
            self._generation = int(generation)
            self._dirty = False

    @property
    def dirty(self) -> bool:
        """True when changed since the last save."""
        return self._dirty

    def close(self) -> None:
        """Release the graph's memory and the row files; later use raises. Does not save."""
        with self._write, self._lock:
            self._graph = None
            self._store.close()

    def _require(self) -> hnswlib.Index:
        if self._graph is None:
            raise RuntimeError(f"the vector index in {self.directory} is closed")
        return self._graph


def _reduces(dim: int, count: int) -> bool:
    """Whether a graph of `count` photos of width `dim` holds them reduced."""
    return dim > GRAPH_DIM_MAX and count >= REDUCE_AT


def _evenly(n: int, k: int) -> np.ndarray:
    """Up to k positions spread evenly over range(n): a sample of the whole library."""
    return np.linspace(0, n - 1, min(k, n)).astype(np.int64)


def _new_graph(dim: int, capacity: int, *, reduced: bool) -> hnswlib.Index:
    graph = hnswlib.Index(space="ip", dim=dim)
    graph.init_index(
        max_elements=max(MIN_CAPACITY, int(capacity * 1.1)),
        M=M_REDUCED if reduced else M,
        ef_construction=EF_CONSTRUCTION,
        random_seed=100,
    )
    return graph


def _no_hits() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def sorted_unique(ids: np.ndarray) -> np.ndarray:
    """`ids` as a sorted array without repeats; already so (the catalog's filters) costs O(n)."""
    if len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()):
        return ids
    return np.unique(ids)


def member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A bool per element of `ids`: is it in the sorted array `sorted_ids`?"""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    pos = np.searchsorted(sorted_ids, ids).clip(max=len(sorted_ids) - 1)
    return np.asarray(sorted_ids[pos] == ids)


def _read_catalog(
    catalog: EmbeddingSource, model_id: str, expected: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The catalog's vectors for `model_id` in chunks of READ_CHUNK, so a million never sit in
    memory twice."""
    if expected <= READ_CHUNK:
        yield _vectors(catalog, model_id)
        return
    all_ids = catalog.filter_ids()
    for i in range(0, len(all_ids), READ_CHUNK):
        ids, vectors = _vectors(catalog, model_id, all_ids[i : i + READ_CHUNK])
        if len(ids):
            yield ids, vectors
