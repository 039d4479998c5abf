"""Moving chosen copies to the desktop's trash (never deleting), and forgetting them at once.

The one place PhotoSeek moves a user's file, and only on an explicit request: send2trash
(the freedesktop.org trash on Linux, the Finder's on macOS, the Recycle Bin on Windows), so
the desktop's own Trash can put every file back. Only catalogued files inside a watched,
available folder are moved; a Live Photo's clip goes with its photo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from app.core.catalog.records import Folder
from app.core.duplicates.model import TrashResult
from app.core.paths import is_under

if TYPE_CHECKING:
    from app.core.catalog.catalog import Catalog
    from app.core.index.vindex import VectorIndex
    from app.core.photos.thumbnails import ThumbnailStore

log = logging.getLogger(__name__)


def move_to_trash(
    catalog: Catalog,
    thumbs: ThumbnailStore,
    indexes: Iterable[VectorIndex],
    photo_ids: Sequence[int],
) -> TrashResult:
    """Move the files of `photo_ids` to the trash; the catalog, indexes and thumbnails forget
    the moved ones at once. Files that cannot be moved are listed with why."""
    from send2trash import send2trash
    from send2trash.exceptions import TrashPermissionError

    folders = [f for f in catalog.folders() if f.available]
    clips: dict[int, list[int]] = {}
    for clip, photo in catalog.companions().items():
        clips.setdefault(photo, []).append(clip)
    wanted = list(dict.fromkeys(int(i) for i in photo_ids))
    known = {
        p.id: p for p in catalog.photos(wanted + [c for i in wanted for c in clips.get(i, [])])
    }
    moved: list[str] = []
    failed: list[tuple[str, str]] = []
    gone: list[int] = []
    size = 0
    for pid in wanted:
        found = known.get(pid)
        if found is None:
            failed.append((str(pid), "not in the library (any more)"))
            continue
        for item in [found, *(known[c] for c in clips.get(pid, []) if c in known)]:
            why = _refusal(item.path, folders)
            if why is None:
                try:
                    send2trash(item.path)
                except (OSError, TrashPermissionError) as e:
                    why = f"the trash refused it ({e})"
            if why is not None:
                failed.append((item.path, why))
                break
            moved.append(item.path)
            gone.append(item.id)
            size += item.size
            log.info("moved to the trash: %s", item.path)
    if gone:
        labels = np.asarray([*gone, *catalog.moment_labels(gone).tolist()], dtype=np.int64)
        catalog.delete_photos(gone)
        for index in indexes:
            index.remove(labels)
            index.save(catalog.generation(index.model_id))
        thumbs.remove(gone)
    return TrashResult(tuple(moved), tuple(failed), size)


def _refusal(path: str, folders: Sequence[Folder]) -> str | None:
    """Why a file may not be moved, or None."""
    if not any(is_under(path, f.path, strict=True) for f in folders):
        return "not inside a folder PhotoSeek watches (or its drive is unplugged)"
    if not os.path.lexists(path):
        return "the file is no longer there"
    if os.path.islink(path) or not os.path.isfile(path):
        return "not a plain file"
    return None
