"""From ranked index labels to ranked items: each video once, at its best-matching label (its
mean or one of its moments), with every ranked moment kept for "all matching moments"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.core.catalog.records import MOMENT_BASE

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
