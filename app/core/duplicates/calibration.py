"""A model's near-duplicate thresholds, measured on synthetic edits of real photos.

Why measured. Each model has its own cosine scale: a resized copy of a photo scores 0.99 with
one model and 0.93 with another, and a random-weight model puts every photo above 0.9. So,
per model, the photos shipped in resources/calibration/ are edited as people's copies are
(`EDITS`: resized, re-saved, cropped, rotated, colour-edited, a burst neighbour) and set
against distinct-but-similar pictures (the other photos, and the two halves of one scene,
which share colours and light but not content). Every picture is encoded with the model.

The rule. `high`: just above the best cosine of any distinct pair: from there on the vectors
alone decide. `low`: just below the worst cosine of any copy: under it a pair is never a
duplicate. Between them (the ambiguous band) the cheap image check decides
(`photos.likeness`: difference hash, grey thumbnail, each middle searched for in the other
picture). Where the two sets do not overlap, the band is empty and the threshold is the
middle of the gap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageEnhance

from app.core.duplicates.progress import CALIBRATING, Reporter
from app.core.durable import write_json_atomic

if TYPE_CHECKING:
    from app.core.model.encoder import Encoder

log = logging.getLogger(__name__)

MARGIN = 0.005  # cosine slack on each side of the measured extremes
CALIBRATION_VERSION = 1
HELD_OUT = 6  # photos of the shipped set used only as two halves (distinct-but-similar)
BATCH = 16  # pictures encoded at once (a cancel waits for one batch at most)


def _resize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.resize((max(8, img.width // 2), max(8, img.height // 2)), Image.Resampling.BICUBIC)


def _jpeg(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    import io

    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=55)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _crop(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    dw, dh = round(w * 0.08), round(h * 0.08)
    x, y = int(rng.integers(0, dw + 1)), int(rng.integers(0, dh + 1))
    return img.crop((x, y, x + w - dw, y + h - dh))


def _rotate90(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.transpose(Image.Transpose.ROTATE_90)


def _tilt(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    angle = float(rng.uniform(2.0, 4.0)) * (1 if rng.random() < 0.5 else -1)
    turned = img.rotate(angle, Image.Resampling.BICUBIC)
    w, h = img.size
    m = round(min(w, h) * 0.06)  # cut off the corners the rotation left empty
    return turned.crop((m, m, w - m, h - m))


def _colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = ImageEnhance.Color(img).enhance(float(rng.uniform(1.3, 1.6)))
    out = ImageEnhance.Brightness(out).enhance(float(rng.uniform(1.1, 1.2)))
    return ImageEnhance.Contrast(out).enhance(float(rng.uniform(0.9, 1.1)))


def _burst(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * 0.02), round(h * 0.02)  # the camera moved a little between frames
    shifted = img.crop((dx, dy, w, h)).resize((w, h), Image.Resampling.BICUBIC)
    a = np.asarray(shifted, dtype=np.float64) + rng.normal(0, 4.0, size=(h, w, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


Edit = Callable[[Image.Image, np.random.Generator], Image.Image]
EDITS: dict[str, Edit] = {
    "resized 50%": _resize,
    "JPEG q55": _jpeg,
    "cropped 8%": _crop,
    "rotated 90°": _rotate90,
    "tilted 2-4°": _tilt,
    "colour and brightness": _colour,
    "burst neighbour": _burst,
}


def halves(img: Image.Image) -> tuple[Image.Image, Image.Image]:
    """The left and right halves of a scene: alike in colour and light, not in content."""
    w, h = img.size
    return img.crop((0, 0, w // 2, h)), img.crop((w - w // 2, 0, w, h))


@dataclass
class EditSet:
    """Pictures with a group label each: copies share their original's label; every
    distinct-but-similar picture has a label of its own."""

    images: list[Image.Image]
    labels: list[int]
    names: list[str]


def edit_set(originals: Sequence[Image.Image], seed: int, *, held_out: int = HELD_OUT) -> EditSet:
    """Each original with each edit of `EDITS` (one group per original), and the two halves
    of the last `held_out` originals (each its own group; the original itself left out)."""
    rng = np.random.default_rng(seed)
    out = EditSet([], [], [])
    keep = len(originals) - held_out
    for i, img in enumerate(originals):
        rgb = img.convert("RGB")
        if i >= keep:
            for j, half in enumerate(halves(rgb)):
                out.images.append(half)
                out.labels.append(10_000 + 2 * i + j)
                out.names.append(f"{i}:{'left' if j == 0 else 'right'} half")
            continue
        out.images.append(rgb)
        out.labels.append(i)
        out.names.append(f"{i}:original")
        for name, edit in EDITS.items():
            out.images.append(edit(rgb, rng))
            out.labels.append(i)
            out.names.append(f"{i}:{name}")
    return out


def load_originals(max_side: int = 512) -> list[Image.Image]:
    """The photos shipped in resources/calibration/, decoded at most `max_side` on a side."""
    from app.core.model.calibrate import load_calibration_set
    from app.core.photos.decode import open_image

    out = []
    for path, _ in load_calibration_set():
        img = open_image(path, min_side=max_side)
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
        out.append(img)
    return out


@dataclass(frozen=True)
class Thresholds:
    """A model's near-duplicate cosines (see the module's docstring) and their evidence."""

    model_id: str
    low: float  # under it: never a duplicate
    high: float  # at or over it: a duplicate on the vectors alone
    copies_min: float  # the worst cosine of a copy with its original (or another copy)
    distinct_max: float  # the best cosine of two distinct pictures
    pairs: int
    version: int = CALIBRATION_VERSION

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def thresholds_from(model_id: str, vectors: np.ndarray, labels: Sequence[int]) -> Thresholds:
    """The thresholds of one model from its (unit) vectors of an `EditSet`."""
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    cos = v @ v.T
    lab = np.asarray(labels)
    same = lab[:, None] == lab[None, :]
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    copies, distinct = cos[same & upper], cos[~same & upper]
    copies_min, distinct_max = float(copies.min()), float(distinct.max())
    if copies_min > distinct_max:  # apart: the middle of the gap decides alone
        low = high = (copies_min + distinct_max) / 2
    else:
        low, high = copies_min - MARGIN, min(distinct_max + MARGIN, 1.0)
    return Thresholds(model_id, low, high, copies_min, distinct_max, int(upper.sum()))


def calibrate(encoder: Encoder, seed: int = 0, reporter: Reporter | None = None) -> Thresholds:
    """Measure `encoder`'s thresholds on the shipped photos (a few seconds with ViT-B-32),
    reporting the pictures encoded; a cancel between batches raises `JobCancelled`."""
    reporter = reporter or Reporter()
    s = edit_set(load_originals(), seed)
    reporter.stage(CALIBRATING, len(s.images))
    parts = []
    for i in range(0, len(s.images), BATCH):
        reporter.checkpoint()
        parts.append(encoder.encode_images(s.images[i : i + BATCH]))
        reporter.advance(i + len(parts[-1]))
    return thresholds_from(encoder.model_id, np.concatenate(parts), s.labels)


def thresholds_for(encoder: Encoder, folder: Path, reporter: Reporter | None = None) -> Thresholds:
    """The model's thresholds, measured once and kept in `folder/<model id>.json` (a
    measurement cancelled midway keeps nothing)."""
    path = folder / f"{encoder.model_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") == CALIBRATION_VERSION and data.get("model_id") == encoder.model_id:
            return Thresholds(**data)
    except (OSError, ValueError, TypeError):
        pass
    found = calibrate(encoder, reporter=reporter)
    log.info("near-duplicate thresholds of %s: %s", encoder.model_id, found)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, found.to_dict())
    except OSError as e:  # measured again next time
        log.warning("cannot keep the duplicate thresholds in %s: %s", path, e)
    return found
