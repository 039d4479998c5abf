"""Picking the top k for the search engine: exactly over stored vectors, or from the vector
index with a growing over-fetch; and the byte-bounded cache the engine keeps arrays in."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from app.core.index.vindex import VectorIndex
from app.core.search.fusion import Plan

FETCH_GROWTH = 4

Vectors = tuple[np.ndarray, np.ndarray]  # (ids int64 [N], vectors float32 [N, D])


def top_exact(
    plan: Plan, chunks: Iterable[Vectors], want: int, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The `want` best (ids, scores) at or above `floor`, best first, scoring every vector."""
    best_ids = np.empty(0, dtype=np.int64)
    best = np.empty(0, dtype=np.float32)
    for ids, vectors in chunks:
        scores = plan.score(vectors)
        keep = scores >= floor
        best_ids = np.concatenate([best_ids, ids[keep]])
        best = np.concatenate([best, scores[keep]])
        if len(best) > want:
            top = np.argpartition(-best, want - 1)[:want]
            best_ids, best = best_ids[top], best[top]
    order = np.lexsort((best_ids, -best))
    return best_ids[order], best[order]


def top_from_index(
    index: VectorIndex,
    plan: Plan,
    candidates: np.ndarray | None,
    want: int,
    floor: float,
    vectors_of: Callable[[np.ndarray], Vectors],
) -> tuple[np.ndarray, np.ndarray] | None:
    """The index's `want` best among `candidates` (None: all); None when the filter defeats the
    over-fetch, so the caller scores the candidates exactly instead.

    Negative terms only lower scores, and no photo left unfetched can score above the lowest
    positive score fetched, so the answer is final once `want` scores reach it (or the floor
    lies above it). `vectors_of` reads the stored vectors the negatives need."""
    fetch = want * (2 if plan.negative else 1)
    while True:
        if candidates is None:
            ids, dots = index.query(plan.combined, fetch)
        else:
            ids, dots, complete = index.query_filtered(
                plan.combined, fetch, candidates, max_fetch=max(fetch, len(candidates))
            )
            if not complete:
                return None
        exhausted = len(ids) < fetch
        scores = plan.from_dot(dots)
        bound = -math.inf if exhausted or not len(scores) else float(scores[-1])
        if plan.negative and len(ids):
            got_ids, vectors = vectors_of(ids)
            keep = np.isin(ids, got_ids)  # photos gone from the catalog drop out
            ids, scores = ids[keep], scores[keep] - plan.penalty(vectors)
        above = scores >= floor
        ids, scores = ids[above], scores[above]
        order = np.lexsort((ids, -scores))[:want]
        ids, scores = ids[order], scores[order]
        enough = len(ids) == want and float(scores[-1]) >= bound
        if exhausted or bound < floor or enough:
            return ids, scores
        fetch *= FETCH_GROWTH


def digest(ids: np.ndarray) -> str:
    return hashlib.blake2b(
        np.ascontiguousarray(ids, dtype=np.int64).tobytes(), digest_size=16
    ).hexdigest()


class ArrayCache:
    """A thread-safe LRU of arrays bounded by their total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.max_bytes // 2

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        if not self.fits(nbytes):
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._items:
                _, (_, size) = self._items.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
