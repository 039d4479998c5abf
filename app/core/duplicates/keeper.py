"""Which copy to keep (the keeper rule) and how each other copy differs from it, in words."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Sequence
from datetime import datetime

from app.core.catalog.records import GUESSED_SOURCES, Photo
from app.core.duplicates.model import KeeperRule
from app.core.paths import is_under

COLOUR_EDIT = 12.0  # mean RGB distance (0-255) past which a copy's colours were edited
ASPECT_SLACK = 0.02  # aspect ratios closer than this are the same framing
_LATEST = datetime.max


def order_by_rule(photos: Sequence[Photo], rule: KeeperRule) -> list[Photo]:
    """The copies best first under `rule`; ties go to the larger file, then the shorter path."""

    def key(p: Photo) -> tuple[object, ...]:
        parts: list[object] = []
        for criterion in rule.order:
            if criterion == "resolution":
                parts.append(-((p.width or 0) * (p.height or 0)))
            elif criterion == "oldest":
                parts.append((p.capture_time or _LATEST, p.mtime_ns))
            elif criterion == "folder":
                ranks = [i for i, f in enumerate(rule.preferred_folders) if is_under(p.path, f)]
                parts.append(min(ranks, default=len(rule.preferred_folders)))
        return (*parts, -p.size, len(p.path), p.path)

    return sorted(photos, key=key)


def differences(
    photos: Sequence[Photo],
    identical: Collection[int],
    colours: dict[int, tuple[float, float, float]] | None = None,
) -> dict[int, str]:
    """Photo id -> how that copy differs from the keeper (`photos[0]`): "identical file",
    "smaller: 1024 x 768", "rotated", "cropped", "re-saved (JPEG)", "colours edited",
    "taken 2 s later"; `identical` holds the ids whose file equals the keeper's."""
    keeper, out = photos[0], {}
    for p in photos[1:]:
        out[p.id] = describe(keeper, p, p.id in identical, colours or {})
    return out


def describe(
    keeper: Photo, p: Photo, identical: bool, colours: dict[int, tuple[float, float, float]]
) -> str:
    if identical:
        return "identical file"
    words: list[str] = []
    kw, kh, w, h = keeper.width or 0, keeper.height or 0, p.width or 0, p.height or 0
    if w and h and kw and kh:
        turned = (w > h) != (kw > kh) and abs(w / h - kh / kw) <= ASPECT_SLACK * kh / kw
        if turned:
            words.append("rotated")
        elif abs(w / h - kw / kh) > ASPECT_SLACK * kw / kh:
            words.append("cropped")
        if w * h < kw * kh:
            words.insert(0, f"smaller: {w} x {h}")
        elif w * h > kw * kh:
            words.insert(0, f"larger: {w} x {h}")
    a, b = colours.get(keeper.id), colours.get(p.id)
    if a is not None and b is not None and math.dist(a, b) > COLOUR_EDIT:
        words.append("colours edited")
    ext = os.path.splitext(p.path)[1].lstrip(".").upper() or "file"
    if ext != os.path.splitext(keeper.path)[1].lstrip(".").upper() or not words:
        words.append(f"re-saved ({'JPEG' if ext == 'JPG' else ext})")
    recorded = all(x.capture_source not in GUESSED_SOURCES for x in (keeper, p))
    if p.capture_time and keeper.capture_time and recorded:  # never from files' own times
        s = round((p.capture_time - keeper.capture_time).total_seconds())
        if s:
            words.append(f"taken {_span(abs(s))} {'later' if s > 0 else 'earlier'}")
    return ", ".join(words)


def _span(seconds: float) -> str:
    """2 s, 5 min, 3 h, 4 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
