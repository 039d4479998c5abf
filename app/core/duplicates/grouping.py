"""Near-duplicate pairs and groups from vectors plus a cheap image check; no Qt, no catalog.

A pair is a duplicate when its cosine reaches the model's `high`, or lies in [low, high) and
the pictures agree: grey thumbnails correlating at least `GREY_SAME` (best quarter turn), or
difference hashes at most `DHASH_SAME` bits apart where the thumbnails correlate at least
`GREY_AGREES` (flat pictures share hash bits by chance), or, for crops and tilts, each
picture's middle found in the other (`Likeness.match` at least `likeness.MATCH`). Groups are
connected components of the duplicate pairs with a guard against chaining: a group is a star
around its centre (the member with the most duplicate pairs); members linked only through
others are grouped again among themselves, so a slow drift (a burst panning across a scene)
never makes one group of pictures that share nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from app.core.duplicates.calibration import Thresholds
from app.core.photos.likeness import MATCH, Likeness, colours_agree, correlation, hamming

DHASH_SAME = 6  # bits of 64; see bench/RESULTS.md (Session 6) for the calibration behind it
GREY_SAME = 0.95
GREY_AGREES = 0.6  # a dhash match counts only where the thumbnails agree this far
KEPT = 16_384  # whole likenesses kept at once (~14 KB each: ~220 MB at most)

Pair = tuple[int, int, float]  # (id a < id b, cosine)


class ImageCheck:
    """The cheap image check of ambiguous pairs; `dhash_of` and `likeness_of` give None where
    a picture cannot be read (then the pair is not a duplicate). What the quick tests need
    (grey thumbnail, mean colour: ~1 KB) is kept for every picture read; whole likenesses
    (~14 KB) for the last `KEPT` only, read again when a pair needs the search."""

    def __init__(
        self,
        dhash_of: Callable[[int], int | None],
        likeness_of: Callable[[int], Likeness | None],
        *,
        search: bool = True,
    ) -> None:
        self.dhash_of = dhash_of
        self.search = search  # False: the hash and thumbnail alone (the benchmark's "before")
        self._likeness_of = likeness_of
        self._brief: dict[int, tuple[np.ndarray, tuple[float, float], bool] | None] = {}
        self._kept: OrderedDict[int, Likeness | None] = OrderedDict()
        self.checked = 0
        self.searched = 0  # pairs that needed the search of middles (crops, tilts)
        self.reads = 0  # likenesses read (a picture again when it left the kept ones)

    def likeness(self, photo_id: int) -> Likeness | None:
        if photo_id in self._kept:
            self._kept.move_to_end(photo_id)
            return self._kept[photo_id]
        self.reads += 1
        found = self._kept[photo_id] = self._likeness_of(photo_id)
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        self._brief[photo_id] = None if found is None else (found.grey, found.chroma, found.flat)
        return found

    def _brief_of(self, photo_id: int) -> tuple[np.ndarray, tuple[float, float], bool] | None:
        if photo_id not in self._brief:
            self.likeness(photo_id)
        return self._brief[photo_id]

    def same(self, a: int, b: int) -> bool:
        self.checked += 1
        ha, hb = self.dhash_of(a), self.dhash_of(b)
        near = ha is not None and hb is not None and hamming(ha, hb) <= DHASH_SAME
        ba, bb = self._brief_of(a), self._brief_of(b)
        if ba is None or bb is None:
            return False
        # Flat pictures (a logo, a wall) agree on a hash by chance: their thumbnails must too.
        if correlation(ba[0], bb[0]) >= (GREY_AGREES if near else GREY_SAME):
            return True
        if not self.search or ba[2] or bb[2] or not colours_agree(ba[1], bb[1]):
            return False  # the search would say 0 (flat middles, other colours): no read
        la, lb = self.likeness(a), self.likeness(b)
        if la is None or lb is None:
            return False
        self.searched += 1
        return la.match(lb, needed=MATCH) >= MATCH


def confirm(candidates: Iterable[Pair], t: Thresholds, check: ImageCheck) -> list[Pair]:
    """The candidate pairs that are duplicates (see the module's docstring)."""
    out = []
    for a, b, cos in candidates:
        if cos >= t.high or (cos >= t.low and check.same(a, b)):
            out.append((a, b, cos))
    return out


def candidates_from_knn(
    ids: np.ndarray, neighbours: np.ndarray, scores: np.ndarray, low: float
) -> list[Pair]:
    """Pairs (a < b) from k-nearest lists (`neighbours[i]` of `ids[i]`, -1 = none) at or
    above `low`, each once with its best cosine."""
    out: dict[tuple[int, int], float] = {}
    rows, cols = np.nonzero((scores >= low) & (neighbours >= 0))
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        a, b = int(ids[r]), int(neighbours[r, c])
        if a == b:
            continue
        key = (a, b) if a < b else (b, a)
        s = float(scores[r, c])
        if s > out.get(key, -2.0):
            out[key] = s
    return [(a, b, s) for (a, b), s in out.items()]


def groups(pairs: Sequence[Pair]) -> list[tuple[list[int], float]]:
    """Groups (centre first, then by id) with the lowest cosine of a member to the centre."""
    adjacent: dict[int, dict[int, float]] = {}
    for a, b, cos in pairs:
        adjacent.setdefault(a, {})[b] = cos
        adjacent.setdefault(b, {})[a] = cos
    out = []
    for component in _components(adjacent):
        out.extend(_stars(component, adjacent))
    return out


def _components(adjacent: dict[int, dict[int, float]]) -> list[list[int]]:
    parent = {n: n for n in adjacent}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, links in adjacent.items():
        for b in links:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    comps: dict[int, list[int]] = {}
    for n in sorted(adjacent):
        comps.setdefault(find(n), []).append(n)
    return list(comps.values())


def _stars(
    members: list[int], adjacent: dict[int, dict[int, float]]
) -> list[tuple[list[int], float]]:
    """Split a component into stars: the best-connected member with its direct duplicates,
    then the rest the same way; lone leftovers are no group."""
    left = set(members)
    out = []
    while len(left) > 1:
        centre = max(
            sorted(left),
            key=lambda n: (
                sum(1 for m in adjacent[n] if m in left),
                sum(c for m, c in adjacent[n].items() if m in left),
            ),
        )
        star = sorted(m for m in adjacent[centre] if m in left)
        if not star:
            break
        out.append(([centre, *star], min(adjacent[centre][m] for m in star)))
        left -= {centre, *star}
    return out
