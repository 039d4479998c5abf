"""A model's relevance floor: the text-image cosine below which a photo does not depict the text,
measured once per model on captioned photos.

Why absolute. Without one, search keeps what stands out in the library (see `fusion`): the best
1-2 % whatever the query, too few when a fifth of the library is dogs, too many when nothing
matches. The floor is a property of the model, so it is measured on the model itself, on the
user's machine with the real weights (int8 or fp32, whatever will run the searches).

How. Each photo i of a captioned set is encoded with its caption: matched cosines
cos(image_i, caption_i) (n of them), mismatched cos(image_i, caption_j), j != i (n(n-1)).

The rule. The floor is the threshold with the best balanced accuracy, the mean of the share of
matched cosines at or above it and the share of mismatched ones below it; where several
thresholds tie (two sets that do not overlap tie over the whole gap between them), the middle
of the best stretch. Why this rule:
- it only compares cosines with each other, never with a constant, so it holds for any model's
  scale: CLIP (matched ~0.25-0.35, mismatched ~0.1-0.2) and SigLIP (both far lower) alike;
- balanced, so the n(n-1) mismatched pairs do not outvote the n matched ones (plain accuracy
  would push the floor up until almost nothing matched);
- the middle of a gap leaves a photo that matches a little worse than any calibration photo
  on the right side of it, and one that mismatches a little better on the other.
Calibration photos are plain, single-subject pictures with plain captions; a library photo that
matches a query that well is kept, and photos just under the floor are not lost: search counts
them (`SearchResult.weaker`) and the window and the CLI offer to show them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from app.core.resources import resource_path

if TYPE_CHECKING:
    from app.core.model.encoder import Encoder

CALIBRATION_DIR = "calibration"
CAPTIONS_JSON = "captions.json"
RULE = (
    "max balanced accuracy between matched cos(image_i, caption_i) and mismatched "
    "cos(image_i, caption_j), j != i; ties: the middle of the best stretch"
)
MIN_SAMPLES = 3  # fewer photos give no mismatched pairs worth the name
BATCH = 16

Sample = tuple[Image.Image | Path, str]


@dataclass(frozen=True)
class CosineSummary:
    """Where a set of cosines lies: count, mean, standard deviation, min, quartiles, max."""

    n: int
    mean: float
    std: float
    min: float
    q25: float
    median: float
    q75: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray) -> CosineSummary:
        v = np.asarray(values, dtype=np.float64)
        q25, median, q75 = (float(x) for x in np.quantile(v, [0.25, 0.5, 0.75]))
        return cls(len(v), float(v.mean()), float(v.std()), float(v.min()), q25, median, q75,
                   float(v.max()))  # fmt: skip


@dataclass(frozen=True)
class FloorCalibration:
    """A measured relevance floor and the figures behind it.

    `floor` is a raw text-image cosine (what `ModelInfo.relevance_floor` holds). `recall`: the
    share of matched pairs at or above it; `false_positive_rate`: the share of mismatched pairs
    at or above it; `balanced_accuracy` = (recall + 1 - false_positive_rate) / 2. `auc`: the
    chance that a matched pair outscores a mismatched one (1.0: fully separated). `gap`: the
    lowest matched cosine minus the highest mismatched one (negative where they overlap).
    `n`: photos used."""

    floor: float
    matched: CosineSummary
    mismatched: CosineSummary
    recall: float
    false_positive_rate: float
    balanced_accuracy: float
    auc: float
    gap: float
    n: int
    rule: str = RULE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_calibration_set(folder: Path | None = None) -> list[tuple[Path, str]]:
    """The captioned photos shipped with PhotoSeek (resources/calibration): (path, caption)."""
    root = folder if folder is not None else resource_path(CALIBRATION_DIR)
    data = json.loads((root / CAPTIONS_JSON).read_text(encoding="utf-8"))
    return [(root / entry["file"], str(entry["caption"])) for entry in data["photos"]]


def calibrate_floor(encoder: Encoder, samples: Sequence[Sample] | None = None) -> FloorCalibration:
    """Measure `encoder`'s relevance floor on captioned photos (default: the shipped set)."""
    from app.core.photos.decode import open_image

    pairs = list(samples) if samples is not None else list(load_calibration_set())
    if len(pairs) < MIN_SAMPLES:
        raise ValueError(f"calibration needs at least {MIN_SAMPLES} captioned photos")
    images = [
        img.convert("RGB") if isinstance(img, Image.Image)
        else open_image(img, min_side=encoder.image_size)
        for img, _ in pairs
    ]  # fmt: skip
    image_vecs = np.concatenate(
        [encoder.encode_images(images[i : i + BATCH]) for i in range(0, len(images), BATCH)]
    )
    text_vecs = encoder.encode_text([text for _, text in pairs])
    return floor_from_cosines(_unit(image_vecs) @ _unit(text_vecs).T)


def floor_from_cosines(sim: np.ndarray) -> FloorCalibration:
    """The floor from a square matrix of cosines, photos by captions (diagonal: matched)."""
    sim = np.asarray(sim, dtype=np.float64)
    n = len(sim)
    if sim.shape != (n, n) or n < 2:
        raise ValueError(f"need a square matrix of at least 2 x 2 cosines, not {sim.shape}")
    diagonal = np.eye(n, dtype=bool)
    matched, mismatched = sim[diagonal], sim[~diagonal]
    floor = balanced_threshold(matched, mismatched)
    recall = float(np.mean(matched >= floor))
    fpr = float(np.mean(mismatched >= floor))
    return FloorCalibration(
        floor=floor,
        matched=CosineSummary.of(matched),
        mismatched=CosineSummary.of(mismatched),
        recall=recall,
        false_positive_rate=fpr,
        balanced_accuracy=(recall + 1.0 - fpr) / 2,
        auc=_auc(matched, mismatched),
        gap=float(matched.min() - mismatched.max()),
        n=n,
    )


def balanced_threshold(matched: np.ndarray, mismatched: np.ndarray) -> float:
    """The threshold t maximising (share of matched >= t + share of mismatched < t) / 2; the
    middle of the best stretch where several tie."""
    m = np.sort(np.asarray(matched, dtype=np.float64))
    x = np.sort(np.asarray(mismatched, dtype=np.float64))
    values = np.unique(np.concatenate([m, x]))
    # Every distinct threshold is one of the values (t = v keeps v); beyond the top keeps none.
    cuts = np.append(values, math.inf)
    kept = 1.0 - np.searchsorted(m, cuts, side="left") / len(m)
    rejected = np.searchsorted(x, cuts, side="left") / len(x)
    score = (kept + rejected) / 2
    best = np.flatnonzero(score >= score.max() - 1e-12)
    # The first run of consecutive best cuts (with real data ties elsewhere are rare): every
    # threshold from just above the value before it up to its last cut does equally well.
    run = np.split(best, np.flatnonzero(np.diff(best) != 1) + 1)[0]
    first, last = int(run[0]), int(run[-1])
    low = values[first - 1] if first > 0 else values[0]
    high = cuts[last] if math.isfinite(cuts[last]) else values[-1]
    return float((low + high) / 2)


def _auc(matched: np.ndarray, mismatched: np.ndarray) -> float:
    """P(matched > mismatched) + P(tie) / 2, by ranks."""
    x = np.sort(mismatched)
    below = np.searchsorted(x, matched, side="left")
    ties = np.searchsorted(x, matched, side="right") - below
    return float((below + ties / 2).sum() / (len(matched) * len(mismatched)))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    unit: np.ndarray = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return unit
