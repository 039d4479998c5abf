"""Cheap pixel checks for near-duplicates: a 64-bit difference hash and a small grey thumbnail.

The vectors find candidates; where a pair's cosine alone is ambiguous these decide. The
difference hash (dhash) compares each of 8x8 grey cells with its right neighbour: resizing,
re-saving and colour edits keep most bits, a different scene flips about half. The grey
thumbnail (16x16, zero mean, unit length) compares by correlation, best of the four quarter
turns, so a photo rotated by 90 degrees still matches itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HASH_SIDE = 8
GREY_SIDE = 16
GREY_MARGIN = 0.06
_MASK = (1 << 64) - 1


def dhash(image: Image.Image) -> int:
    """The 64-bit difference hash of `image`, as a signed 64-bit int (SQLite's INTEGER)."""
    grey = image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.Resampling.BOX)
    a = np.asarray(grey, dtype=np.int16)
    bits = (a[:, 1:] > a[:, :-1]).reshape(-1)
    value = 0
    for bit in bits.tolist():
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits two difference hashes differ in (0: the same picture)."""
    return ((a ^ b) & _MASK).bit_count()


def grey_vector(image: Image.Image) -> np.ndarray:
    """A 16x16 grey thumbnail of the picture's middle (6 % off each edge, so a light crop or
    tilt moves little), zero mean and unit length, float32 [16, 16]."""
    w, h = image.size
    m = GREY_MARGIN
    inner = image.crop((round(w * m), round(h * m), round(w * (1 - m)), round(h * (1 - m))))
    small = inner.convert("L").resize((GREY_SIDE, GREY_SIDE), Image.Resampling.BOX)
    a = np.asarray(small, dtype=np.float32)
    a = a - a.mean()
    norm = float(np.linalg.norm(a))
    return a / norm if norm > 1e-6 else np.zeros_like(a)


def grey_of_file(path: Path | str) -> np.ndarray | None:
    """`grey_vector` of an image file decoded small (JPEG draft mode); None if unreadable."""
    try:
        with Image.open(path) as im:
            im.draft("L", (64, 64))
            return grey_vector(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def dhash_of_file(path: Path | str) -> int | None:
    """`dhash` of an image file decoded small (JPEG draft mode), EXIF-rotated; None if
    unreadable. For photos indexed before the hash was stored at ingest."""
    from app.core.photos.decode import ImageError, open_image

    try:
        return dhash(open_image(Path(path), min_side=HASH_SIDE * 4))
    except (ImageError, OSError, ValueError, MemoryError):
        return None


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two `grey_vector`s are (1: the same picture), the best of four quarter turns."""
    return max(float(np.sum(np.rot90(a, k) * b)) for k in range(4))


def mean_colour(image: Image.Image) -> tuple[float, float, float]:
    """The mean RGB of an image, 0-255 (tells a colour edit from a crop)."""
    small = image.convert("RGB").resize((16, 16), Image.Resampling.BOX)
    m = np.asarray(small, dtype=np.float32).reshape(-1, 3).mean(axis=0)
    return float(m[0]), float(m[1]), float(m[2])
