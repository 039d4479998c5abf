"""Picking the top k for the search engine: exactly over stored vectors, or from the vector
index's growing over-fetch (settled here, filters exact); and the engine's byte-bounded cache."""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from app.core.index.vindex import VectorIndex, member, sorted_unique
from app.core.search.fusion import Plan

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

    The index's one growing fetch (`search_growing`) is settled here: filters are applied to
    what it returns, so they are exact. Negative terms only lower scores, and no photo left
    unfetched can score above the lowest positive score fetched, so the answer is final once
    `want` scores reach it (or the floor lies above it). `vectors_of` reads the stored vectors
    the negatives need. A filtered fetch stops at about the number of passing photos, where
    scoring them exactly costs no more."""
    allowed = None if candidates is None else sorted_unique(candidates)
    first = want * (2 if plan.negative else 1)
    live = len(index)

    def settle(ids: np.ndarray, dots: np.ndarray, fetch: int) -> tuple[Vectors, bool]:
        exhausted = len(ids) < fetch or fetch >= live
        scores = plan.from_dot(dots)
        bound = -math.inf if exhausted or not len(scores) else float(scores[-1])
        if allowed is not None:
            keep = member(allowed, ids)
            ids, scores = ids[keep], scores[keep]
        if plan.negative and len(ids):
            got_ids, vectors = vectors_of(ids)
            keep = np.isin(ids, got_ids)  # photos gone from the catalog drop out
            ids, scores = ids[keep], scores[keep] - plan.penalty(vectors)
        above = scores >= floor
        ids, scores = ids[above], scores[above]
        order = np.lexsort((ids, -scores))[:want]
        ids, scores = ids[order], scores[order]
        enough = len(ids) == want and float(scores[-1]) >= bound
        return (ids, scores), exhausted or bound < floor or enough

    if allowed is None:
        fetch, cap = first, None
    else:
        fetch = index.first_fetch(first, len(allowed))
        cap = max(first, len(allowed))
    answer, final = index.search_growing(plan.combined, fetch, cap, settle)
    return answer if final else None


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
