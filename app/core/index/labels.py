"""The labels of the vector index: a photo or video is its photo id; a video's moment is
MOMENT_BASE + its moment id (photo ids never reach 2**40). hnswlib and the row store take int64
labels, so both ranges fit."""

from __future__ import annotations

MOMENT_BASE = 1 << 40


def is_moment(label: int) -> bool:
    """Whether an index label stands for a video's moment rather than a photo or video."""
    return int(label) >= MOMENT_BASE


def moment_label(moment_id: int) -> int:
    """The index label of the moment with this id."""
    return MOMENT_BASE + int(moment_id)
