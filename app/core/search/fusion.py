"""How a query scores a photo: each part calibrated on its own, then fused; negatives; the floor.

Why calibrate. A CLIP text-to-image cosine and an image-to-image cosine live on different scales
(ViT-B-32: text-image 0.15-0.35 with a spread of ~0.02-0.03 across a library, image-image
0.5-1.0 with a spread of ~0.08), and so do the parts of one query (some prompts sit closer to
every photo than others). Averaging embeddings or raw cosines lets the image part swamp the text.

How. Every query part (the text, the image, each negative term) is compared with a fixed random
sample of the library's own stored vectors (`REFERENCE_SIZE`), and its cosine with a photo is
mapped affinely so that the sample's median goes to 0 and its top percentile (`TOP_QUANTILE`) to
1: s = (cos - median) / (q99 - median). A score of 1 reads "as close to the query as this
library's best 1 %", 0 "a typical photo", for every part and every model, so the weights mean
what they say:

    score = (1 - w) * s_text + w * s_image - NEGATIVE_WEIGHT * sum(max(0, s_neg - margin))

Why the top percentile rather than a z-score (the spread of the bulk): the parts differ most in
how far their matches stand out, not in their bulk. With the test micro CLIP an image's own class
sits ~10 robust spreads up and a caption's class ~2.7, so z-scores let the picture decide alone
at w = 0.5; scaled by the top percentile both classes sit near 1 and the fused top mixes them
(photos that match both first). Where both bulks are bell-shaped (CLIP), q99 - median is ~2.3
spreads for every part and the two maps agree. Median and percentiles rather than mean and
standard deviation keep a query that matches a fifth of the library from inflating its own
yardstick. The score is linear in the photo's vector apart from the negatives, so the index is
searched with one combined vector, sum(w * q / scale); negatives are applied to its candidates.

The floor. A model that declares `relevance_floor` (a text-image cosine below which a photo does
not depict the text) has that cosine mapped into the text part's units. Otherwise, and for the
image part, the floor sits `Z_FLOOR` robust spreads (1.4826 x MAD) above the library's median.
For CLIP-like statistics (a narrow bulk, matches far above it) any value from 2 to 3 keeps the
matches and drops the bulk; 2.0 because the micro CLIP, whose classes spread its cosines over
-0.8..1.0, puts a caption's class only 2.3-2.8 spreads up. A relative floor cannot tell "nothing
matches" from "this is the best there is", so it never rises above 0.9 (it always lets through
what the library has best to offer, its top ~1 %); models should declare an absolute floor,
measured on captioned photos by `calibrate.calibrate_floor`. A query's own `min_cosine` replaces
either floor for every positive part.
The fused floor is the same weighted sum as the score. Libraries smaller than `MIN_REFERENCE` photos give
no usable spread, so they get no relative floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

REFERENCE_SIZE = 2048
MIN_REFERENCE = 30
Z_FLOOR = 2.0
RELATIVE_FLOOR_CAP = 0.9  # a relative floor never hides the library's best ~1 % for the query
NEGATIVE_WEIGHT = 1.0
NEGATIVE_MARGIN = 1.0  # in spreads: photos this close to typical do not "match" a negative
TOP_QUANTILE = 0.99
MAD_TO_STD = 1.4826
MIN_SCALE = 1e-4
REFRESH_RATIO = 0.1  # resample the reference when the library grew or shrank by a tenth

Kind = Literal["text", "image", "negative"]


class VectorSource(Protocol):
    def filter_ids(self) -> np.ndarray: ...

    def embeddings(
        self, model_id: str, ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def dot(matrix: np.ndarray, other: np.ndarray) -> np.ndarray:
    """matrix [N, D] times a vector [D] or matrix [D, K], in the calling thread.

    Not `@`: OpenBLAS runs a matrix-vector product on its worker threads and wakes them for
    every call; while the cores are busy (the encoder indexing in the background) each call then
    waits a scheduler slice, measured at ~12 ms where the product itself takes 0.1 ms. einsum
    streams the rows at memory speed in this thread (13 ms for 100k x 512 here)."""
    if other.ndim == 1:
        return np.asarray(np.einsum("ij,j->i", matrix, other))
    return np.asarray(np.einsum("ij,jk->ik", matrix, other))


@dataclass(frozen=True)
class Reference:
    """A fixed random sample of one model's stored vectors: the yardstick for calibration."""

    model_id: str
    vectors: np.ndarray  # float32 [R, D]
    library_size: int

    @classmethod
    def sample(
        cls,
        catalog: VectorSource,
        model_id: str,
        size: int = REFERENCE_SIZE,
        ids: np.ndarray | None = None,
    ) -> Reference:
        """Up to `size` stored vectors of `ids` (default: every indexed photo), drawn with a
        fixed seed: the same library gives the same sample, so scores are reproducible."""
        ids = catalog.filter_ids() if ids is None else ids
        n = len(ids)
        if n > size:
            ids = np.sort(np.random.default_rng(0).choice(ids, size, replace=False))
        _, vectors = catalog.embeddings(model_id, ids)
        return cls(model_id, vectors, n)

    def fresh_for(self, model_id: str, library_size: int) -> bool:
        drift = abs(library_size - self.library_size)
        return model_id == self.model_id and drift <= REFRESH_RATIO * max(self.library_size, 1)

    @property
    def usable(self) -> bool:
        return len(self.vectors) >= MIN_REFERENCE


@dataclass(frozen=True)
class Part:
    """One calibrated query part: s = (vector . photo - center) / scale."""

    kind: Kind
    vector: np.ndarray
    weight: float
    center: float  # median cosine over the reference sample
    scale: float  # top percentile minus median
    spread: float  # robust standard deviation, in s units
    floor: float  # in s units; -inf when none applies

    def s(self, vectors: np.ndarray) -> np.ndarray:
        return (dot(vectors, self.vector) - self.center) / self.scale


def make_part(
    kind: Kind,
    vector: np.ndarray,
    weight: float,
    reference: Reference,
    relevance_floor: float | None = None,
    min_cosine: float | None = None,
) -> Part:
    """Calibrate one query embedding against the reference sample. `relevance_floor` (the
    model's text-image cosine floor) applies to text and negative parts; `min_cosine` (a floor
    the user gave) to any part, in place of either floor."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    v = v / max(float(np.linalg.norm(v)), 1e-12)
    if len(reference.vectors):
        cos = dot(reference.vectors, v)
        center = float(np.median(cos))
        spread = max(float(np.median(np.abs(cos - center))) * MAD_TO_STD, MIN_SCALE)
        scale = max(float(np.quantile(cos, TOP_QUANTILE)) - center, spread)
    else:
        center, spread, scale = 0.0, 1.0, 1.0
    if min_cosine is not None:
        floor = (min_cosine - center) / scale
    elif kind != "image" and relevance_floor is not None:
        floor = (relevance_floor - center) / scale
    elif reference.usable:
        floor = min(Z_FLOOR * spread / scale, RELATIVE_FLOOR_CAP)
    else:
        floor = -math.inf
    return Part(kind, v, float(weight), center, scale, spread / scale, floor)


class Plan:
    """The fused scoring function of one query over photo vectors."""

    def __init__(self, parts: list[Part]) -> None:
        self.positive = [p for p in parts if p.kind != "negative" and p.weight > 0]
        self.negative = [p for p in parts if p.kind == "negative"]
        dim = len(parts[0].vector) if parts else 0
        self.combined = np.zeros(dim, dtype=np.float32)
        self.offset = 0.0
        for p in self.positive:
            self.combined += (p.weight / p.scale) * p.vector
            self.offset += p.weight * p.center / p.scale
        self.floor = sum((p.weight * p.floor for p in self.positive), 0.0)
        self._neg = (
            np.stack([p.vector for p in self.negative]).T if self.negative else None
        )  # [D, n]

    @property
    def has_positive(self) -> bool:
        return bool(self.positive)

    def from_dot(self, dots: np.ndarray) -> np.ndarray:
        """Positive score from the inner products with `combined` (what the index returns)."""
        return np.asarray(np.asarray(dots, dtype=np.float32) - np.float32(self.offset))

    def penalty(self, vectors: np.ndarray) -> np.ndarray:
        """How much the negative terms demote each photo (>= 0)."""
        if self._neg is None:
            return np.zeros(len(vectors), dtype=np.float32)
        centers = np.array([p.center for p in self.negative], dtype=np.float32)
        scales = np.array([p.scale for p in self.negative], dtype=np.float32)
        margins = np.array([NEGATIVE_MARGIN * p.spread for p in self.negative], dtype=np.float32)
        s = (dot(vectors, self._neg) - centers) / scales
        return np.asarray(NEGATIVE_WEIGHT * np.maximum(s - margins, 0).sum(axis=1))

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """Fused scores of photo vectors [N, D]."""
        return np.asarray(self.from_dot(dot(vectors, self.combined)) - self.penalty(vectors))

    def matches_negative(self, vectors: np.ndarray) -> np.ndarray:
        """Per photo: does it match any negative term (reach that term's floor, or `Z_FLOOR`
        spreads where the library is too small for one)? Used by searches of only "-word"s."""
        matched = np.zeros(len(vectors), dtype=bool)
        for p in self.negative:
            matched |= p.s(vectors) >= (p.floor if math.isfinite(p.floor) else Z_FLOOR * p.spread)
        return matched
