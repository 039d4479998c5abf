"""From ranked index labels to ranked items: each video once, at its best-matching label (its
mean or one of its moments), with every ranked moment kept for "all matching moments".
A Live Photo's clip (`LivePhotos`) is never an item: its moments stand for its photo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.records import MOMENT_BASE

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog

# label -> (video id, t_ms) of the moment labels asked for (Catalog.moment_times)
Times = Callable[[np.ndarray], dict[int, tuple[int, int]]]


@dataclass(frozen=True)
class Items:
    """Items (photo and video ids) best first with their scores; `best_ms`: video id -> time of
    its best moment (absent when its mean matched best); `moments`: video id -> (t_ms, score)
    of its ranked moments, best first."""

    ids: np.ndarray
    scores: np.ndarray
    best_ms: dict[int, int] = field(default_factory=dict)
    moments: dict[int, list[tuple[int, float]]] = field(default_factory=dict)


def group(ids: np.ndarray, scores: np.ndarray, times: Times) -> Items:
    """Collapse labels ranked best first into items ranked by their best label. A moment the
    catalog no longer knows (deleted meanwhile) is left out."""
    ids = np.asarray(ids, dtype=np.int64)
    moment = ids >= MOMENT_BASE
    if not moment.any():
        return Items(ids, np.asarray(scores, dtype=np.float32))
    where = times(ids[moment])
    order: dict[int, float] = {}
    best_ms: dict[int, int] = {}
    moments: dict[int, list[tuple[int, float]]] = {}
    for label, score in zip(ids.tolist(), np.asarray(scores).tolist(), strict=True):
        if label >= MOMENT_BASE:
            got = where.get(label)
            if got is None:
                continue
            item, t_ms = got
            moments.setdefault(item, []).append((t_ms, float(score)))
            if item not in order:
                best_ms[item] = t_ms
        else:
            item = label
        order.setdefault(item, float(score))
    out_ids = np.fromiter(order.keys(), dtype=np.int64, count=len(order))
    out_scores = np.fromiter(order.values(), dtype=np.float32, count=len(order))
    return Items(out_ids, out_scores, best_ms, moments)


def items_of(labels: np.ndarray, times: Times) -> np.ndarray:
    """The item ids (ascending, no repeats) that `labels` stand for."""
    labels = np.asarray(labels, dtype=np.int64)
    moment = labels >= MOMENT_BASE
    if not moment.any():
        return np.unique(labels)
    videos = [pid for pid, _ in times(labels[moment]).values()]
    return np.unique(np.concatenate([labels[~moment], np.asarray(videos, dtype=np.int64)]))


def item_count(labels: np.ndarray) -> int:
    """How many photos and videos (not moments) are among `labels`."""
    return int((np.asarray(labels) < MOMENT_BASE).sum())


class LivePhotos:
    """Live Photos for one search: the clips (companion videos), their photos and their moment
    labels; `times` maps a clip's moments to its photo."""

    def __init__(self, pairs: dict[int, int], catalog: Catalog) -> None:
        self.pairs = pairs
        self.videos = np.fromiter(pairs.keys(), dtype=np.int64, count=len(pairs))
        self.photos = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))
        self._catalog = catalog
        self.labels = catalog.moment_labels(self.videos) if pairs else self.videos

    def times(self, labels: np.ndarray) -> dict[int, tuple[int, int]]:
        """Catalog.moment_times with a clip's moments as its photo's."""
        got = self._catalog.moment_times(labels)
        if not self.pairs:
            return got
        return {lb: (self.pairs.get(pid, pid), t) for lb, (pid, t) in got.items()}

    def clips_of(self, ids: np.ndarray) -> np.ndarray:
        """The clips of the photos among `ids`."""
        return self.videos[np.isin(self.photos, ids)]

    def paired(self, labels: np.ndarray, photos: bool) -> np.ndarray:
        """Filter labels without the clips (never items) and, where `photos` is True, with the
        moments of the clips whose photo passed."""
        if not self.pairs:
            return labels
        out = labels[~np.isin(labels, self.videos) & ~np.isin(labels, self.labels)]
        if photos:
            clips = self.clips_of(out)
            out = np.union1d(out, self._catalog.moment_labels(clips))
        return out
