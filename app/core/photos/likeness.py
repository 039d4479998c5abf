"""Cheap pixel checks for near-duplicates: a difference hash, a grey thumbnail, and a search
of one picture's middle in the other.

The vectors find candidates; where a pair's cosine alone is ambiguous these decide. The
difference hash (dhash) compares each of 8x8 grey cells with its right neighbour: resizing,
re-saving and colour edits keep most bits, a different scene flips about half. The grey
thumbnail (16x16, zero mean, unit length) compares by correlation, best of the four quarter
turns, so a photo rotated by 90 degrees still matches itself.

Neither survives a crop or a tilt (a few pixels of shift at 16 px), so `Likeness.match`
looks for each picture's middle (a 20x20 grey patch, 59 % of its short side, also turned by
3 degrees either way) in the other, lightly blurred, by normalised cross-correlation over
scales 0.8-1.25 (a crop of up to ~10 % a side, either way round), offsets of 4 px around the
middle and quarter turns of 0, 90 and 270 degrees (180 is left out: the two halves of a
symmetric thing, a playing card or a crate, are each other upside down), taking the best
scale and turn at which both directions agree (the lower of the two). Grey is colour-blind,
so the mean colours of the middles must agree as well (hue within ~26 degrees, chroma within
2.5x: a saturation or brightness edit keeps both; an orange ladybug and a grey robot on
white do not). Pictures whose middle is flat (a wall, a sky) are left to the other checks.
Fine textures (gravel, grass) shifted by a fraction of a pixel are its weak spot. See
bench/RESULTS.md (Session 6, duplicates) for the calibration and the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageFilter

HASH_SIDE = 8
GREY_SIDE = 16
GREY_MARGIN = 0.06
_MASK = (1 << 64) - 1

PATCH = 20  # side of the middle patch compared (even: fields are centred on whole pixels)
BASE = 34  # a field's short side at which the patch covers as much of it as of its picture
RATIOS = (0.8, 0.86, 0.93, 1.0, 1.07, 1.16, 1.25)  # reciprocal pairs, end to end
REACH = 4  # pixels searched each way around the middle
BLUR = 0.6  # Gaussian radius (px) against resampling and sub-pixel shifts
FLAT_STD = 3.0  # grey levels: a patch or window flatter than this says nothing
TURNS = (0, 1, 3)  # quarter turns searched (np.rot90's k)
TILTS = (-3.0, 0.0, 3.0)  # degrees the middle patch is also turned by
MATCH = 0.92  # the lower direction's best correlation that makes a pair a copy
GREY_CHROMA = 12.0  # mean chroma under which a picture counts as grey
CHROMA_RATIO = 2.5  # colour edits change the mean chroma less than this (up to 2.1x seen)
HUE_COS = 0.9  # cosine of the mean hues' angle (~26 degrees; copies stay within 13)


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


@dataclass(frozen=True, eq=False)
class Likeness:
    """What the image checks need of one picture (see the module's docstring): the grey
    thumbnail, the middle patch at each of `TILTS` (zero mean, unit length), its fields at each
    of `RATIOS` (uint8, only the part around the middle that is searched) with each window's
    weight (1 / its spread), and the mean chroma of the middle (red-green, yellow-blue; a crop
    keeps the middle, not the edges)."""

    grey: np.ndarray
    patches: np.ndarray
    fields: np.ndarray
    weights: np.ndarray
    chroma: tuple[float, float]
    flat: bool

    def match(self, other: Likeness, *, needed: float = 0.0) -> float:
        """How well the two pictures' middles are found in each other (1: exactly; 0 where
        either is flat or their colours disagree). With `needed`, a pair that cannot reach
        it stops after one direction and gets that direction's (higher) figure."""
        if self.flat or other.flat or not colours_agree(self.chroma, other.chroma):
            return 0.0
        here = _search(self, _turns(other.patches))  # their middle in me [ratio, turn]
        if (bound := float(here[:, list(TURNS)].max())) < needed:
            return max(0.0, bound)
        there = _search(other, _turns(self.patches))  # mine in them
        # Scale r here is 1 / r there (RATIOS run in reciprocal pairs); turn k is 4 - k there.
        both = np.minimum(here, there[::-1][:, [0, 3, 2, 1]])
        return max(0.0, float(both[:, list(TURNS)].max()))


def likeness(image: Image.Image) -> Likeness:
    """The `Likeness` of a picture (any mode; decoded small is fine: 64 px a side or more)."""
    rgb = image.convert("RGB")
    grey = rgb.convert("L")
    w, h = grey.size
    short = min(w, h)
    side = PATCH * short / BASE
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    # Only the middle (and room to turn it) is turned: a large picture costs no more.
    x0, y0 = max(0, int((w - 1.5 * side) / 2)), max(0, int((h - 1.5 * side) / 2))
    middle = grey.crop((x0, y0, w - x0, h - y0))
    inner = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
    patches = []
    flat = False
    for angle in TILTS:
        turned = (
            middle
            if angle == 0
            else middle.rotate(angle, Image.Resampling.BILINEAR, center=(w / 2 - x0, h / 2 - y0))
        )
        small = turned.resize((PATCH, PATCH), Image.Resampling.BOX, box=inner)
        patch = np.asarray(small.filter(ImageFilter.GaussianBlur(BLUR)), dtype=np.float32)
        patch = patch - patch.mean()
        norm = float(np.linalg.norm(patch))
        flat = flat or norm < FLAT_STD * PATCH
        patches.append(patch / max(norm, 1e-6))
    fields, weights = _fields(grey)
    mean = np.asarray(rgb.resize((8, 8), Image.Resampling.BOX, box=box), dtype=np.float32)
    r, g, b = mean.reshape(-1, 3).mean(axis=0).tolist()
    return Likeness(
        grey=grey_vector(grey),
        patches=np.stack(patches),
        fields=fields,
        weights=weights,
        chroma=(r - g, (r + g) / 2 - b),
        flat=flat,
    )


def likeness_of_file(path: Path | str) -> Likeness | None:
    """`likeness` of an image file decoded small (JPEG draft mode); None if unreadable."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (128, 128))
            return likeness(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def colours_agree(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two mean chromas could be one picture's, before and after a colour edit."""
    ma, mb = float(np.hypot(*a)), float(np.hypot(*b))
    lo, hi = min(ma, mb), max(ma, mb)
    if hi < GREY_CHROMA:
        return True
    if hi > CHROMA_RATIO * max(lo, GREY_CHROMA / 2):
        return False
    if lo < GREY_CHROMA:
        return True
    return (a[0] * b[0] + a[1] * b[1]) / (ma * mb) >= HUE_COS


def _field(grey: Image.Image, short_side: float) -> np.ndarray:
    """The middle PATCH + 2 * REACH square (or less) of the picture at `short_side` pixels on
    its short side, on a grid centred on its middle (even sides, so the middle patch sits on
    whole pixels), blurred. Only that part (and a margin for the blur) is resampled."""
    w, h = grey.size
    scale = short_side / min(w, h)
    fw, fh = 2 * int(w * scale / 2), 2 * int(h * scale / 2)  # the whole field's even sides
    keep = PATCH + 2 * REACH
    tw, th = min(fw, keep + 4), min(fh, keep + 4)
    bw, bh = tw / scale, th / scale
    box = ((w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2)
    f = grey.resize((tw, th), Image.Resampling.BOX, box=box).filter(ImageFilter.GaussianBlur(BLUR))
    y0, x0 = (th - min(th, keep)) // 2, (tw - min(tw, keep)) // 2
    middle: np.ndarray = np.asarray(f, dtype=np.uint8)[y0 : th - y0, x0 : tw - x0].copy()
    return middle


def _turns(patches: np.ndarray) -> np.ndarray:
    """The patches at the four quarter turns, one flattened row each, turn by turn
    [4 * len(TILTS), PATCH * PATCH]."""
    rows = [np.rot90(patches, k, axes=(1, 2)).reshape(len(patches), -1) for k in range(4)]
    return np.concatenate(rows)


def _fields(grey: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The `_field`s at every ratio, stacked [ratio, side, side] (a smaller one padded), and
    each window's weight: 1 / its spread (floored at FLAT_STD), 0 where it holds padding."""
    keep = PATCH + 2 * REACH
    span = keep - PATCH + 1
    fields = np.zeros((len(RATIOS), keep, keep), dtype=np.uint8)
    weights = np.zeros((len(RATIOS), span, span), dtype=np.float32)
    floor = (FLAT_STD * PATCH) ** 2
    for i, ratio in enumerate(RATIOS):
        f = _field(grey, BASE * ratio)
        h, w = f.shape
        fields[i, :h, :w] = f
        x = f.astype(np.float64)
        sums = _window_sums(x)
        spread = _window_sums(x * x) - sums * sums / (PATCH * PATCH)
        weights[i, : h - PATCH + 1, : w - PATCH + 1] = 1 / np.sqrt(np.maximum(spread, floor))
    return fields, weights.reshape(-1)


def _window_sums(a: np.ndarray) -> np.ndarray:
    """The sum of every PATCH x PATCH window of `a` (a summed-area table)."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = a.cumsum(axis=0).cumsum(axis=1)
    p = PATCH
    found: np.ndarray = c[p:, p:] - c[:-p, p:] - c[p:, :-p] + c[:-p, :-p]
    return found


def _search(of: Likeness, turns: np.ndarray) -> np.ndarray:
    """The best normalised correlation of the turned patches over the windows of `of`'s
    fields, per ratio and quarter turn (the best offset and tilt) [ratio, 4]."""
    windows = sliding_window_view(of.fields.astype(np.float32), (PATCH, PATCH), axis=(1, 2))
    ncc = (windows.reshape(-1, PATCH * PATCH) @ turns.T) * of.weights[:, None]
    per_turn = ncc.reshape(len(RATIOS), -1, 4 * len(TILTS)).max(axis=1)  # (contiguous: fast)
    best: np.ndarray = per_turn.reshape(len(RATIOS), 4, len(TILTS)).max(axis=2)
    return best
