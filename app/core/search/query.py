"""What a search asks for (`Query`) and what it returns (`SearchResult`, `Hit`), plus the parsing
of the search text into positive words and negative terms ("beach -people -"red car"")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from PIL import Image

from app.core.catalog.records import PlaceFilter as PlaceFilter  # where search filters by
from app.core.errors import UserError

ORDERS = ("relevance", "date")
KINDS = ("all", "photo", "video")
DEFAULT_TOP_K = 100

Region = tuple[float, float, float, float]  # x, y, w, h in pixels of the EXIF-rotated photo


class QueryError(UserError):
    """A query that cannot run as given; the message says what to change."""


@dataclass(frozen=True)
class Query:
    """One search. Text, an image (or a region of it), a library photo (more like this), or
    nothing at all (browse: the photos passing the filters, newest first).

    `image_weight` is the share of the image part when text and an image are both given (0:
    text only, 1: image only). `region` is a box on `image` or on the `like_photo_id` photo
    (object search). `min_cosine` replaces the floor with a raw cosine that every positive
    part must reach (text-image for the text, image-image for an image); `min_score` replaces
    it with a fused score (see `fusion`), and `min_score=-inf` shows everything. `nearest_k`:
    when no photo clears the floor, return up to this many best photos anyway (flagged
    `SearchResult.nearest`) rather than nothing; 0 turns that off. `kind`: photos, videos or
    both; `like_moment_ms` with a video's `like_photo_id`: search like that moment (the
    nearest sampled one) rather than the whole video. `place`: only items taken there (exact,
    like the dates)."""

    text: str | None = None
    image: Path | bytes | Image.Image | None = None
    image_weight: float = 0.5
    region: Region | None = None
    like_photo_id: int | None = None
    negative: tuple[str, ...] = ()  # more terms to avoid, besides the "-word"s of `text`
    year: int | None = None
    month: int | None = None
    folder: int | Path | str | None = None
    order: Literal["relevance", "date"] = "relevance"
    top_k: int = DEFAULT_TOP_K
    min_score: float | None = None
    min_cosine: float | None = None
    nearest_k: int = 0
    kind: Literal["all", "photo", "video"] = "all"
    like_moment_ms: int | None = None
    place: PlaceFilter | None = None

    @cached_property
    def terms(self) -> tuple[str, tuple[str, ...]]:
        """The positive text and every negative term (the text's "-word"s, then `negative`),
        parsed once per query."""
        positive, negatives = parse_text(self.text)
        return positive, tuple(dict.fromkeys(negatives + tuple(self.negative)))

    @property
    def needs_model(self) -> bool:
        """Text (positive or negative), an image or "more like this" need a model; filters
        alone (browsing) do not."""
        positive, negatives = self.terms
        has_image = self.image is not None or self.like_photo_id is not None
        return bool(positive or negatives or has_image)

    @property
    def needs_encoder(self) -> bool:
        """Whether the query must be encoded (a stored photo without a region needs no
        encoder, only its vector)."""
        positive, negatives = self.terms
        cut = self.like_photo_id is not None and self.region is not None
        return bool(positive or negatives or self.image is not None or cut)

    @property
    def has_filters(self) -> bool:
        dated = self.year is not None or self.month is not None
        placed = self.place is not None
        return dated or placed or self.folder is not None or self.kind != "all"

    def validate(self) -> None:
        """Raise QueryError for values no search can honour."""
        if not 0.0 <= self.image_weight <= 1.0:
            raise QueryError(f"image_weight must be between 0 and 1, not {self.image_weight}.")
        if self.order not in ORDERS:
            raise QueryError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}.")
        if self.top_k < 1:
            raise QueryError(f"top_k must be at least 1, not {self.top_k}.")
        if self.nearest_k < 0:
            raise QueryError(f"nearest_k must be 0 or more, not {self.nearest_k}.")
        if self.kind not in KINDS:
            raise QueryError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}.")
        if self.like_moment_ms is not None and self.like_photo_id is None:
            raise QueryError("A moment to search like needs the video it is in (like_photo_id).")
        if self.month is not None and not 1 <= self.month <= 12:
            raise QueryError(f"month must be 1 to 12, not {self.month}.")
        if self.image is not None and self.like_photo_id is not None:
            raise QueryError("Give either an image or a library photo to search by, not both.")
        if self.region is not None:
            if self.image is None and self.like_photo_id is None:
                raise QueryError("A region needs an image or a library photo to be cut from.")
            if len(self.region) != 4 or self.region[2] <= 0 or self.region[3] <= 0:
                raise QueryError(
                    f"A region is (x, y, width, height) with a positive size, not {self.region}."
                )


@dataclass(frozen=True)
class Hit:
    """One result. `score` is the fused relevance: about 1 where a photo is as close to the
    query as this library's best 1 %, 0 for a typical photo (see `fusion`); 0.0 when browsing.
    A video (`kind` "video") appears once: `moment_ms` is its best-matching moment (None when
    browsing or when its frames' mean matched best), `moments` every moment of it above the
    floor among those ranked, (t_ms, score) best first. A photo with a clip (a motion photo's,
    or a Live Photo's video beside it) has `clip` True and may have moments too."""

    photo_id: int
    path: str
    score: float
    capture_time: datetime | None
    capture_source: str | None = None  # where the date came from; "file_mtime": a guess
    width: int | None = None  # as displayed (EXIF rotation applied), for the timeline's rows
    height: int | None = None
    kind: str = "photo"
    duration_ms: int | None = None
    moment_ms: int | None = None
    moments: tuple[tuple[int, float], ...] = ()
    clip: bool = False
    place: PlaceFilter | None = None  # where it was taken, when its GPS position is known
    lat: float | None = None
    lon: float | None = None
    capture_offset: str | None = None  # "+01:00" where known
    offset_derived: bool = False  # the offset came from the place's time zone, not the camera


@dataclass(frozen=True)
class SearchResult:
    """Hits best first (or newest first), how many photos passed the filters, how long it took,
    how it was computed ("exact", "index" or "browse") and the floor that was applied.

    `floor` is in fused-score units; `cosine_floor` is the raw cosine it came from (the query's
    `min_cosine` or the model's calibrated `relevance_floor`), None where the floor is relative
    to the library or was given as `min_score`. `weaker`: how many more photos the same search
    without a floor would show (hits under the floor, up to `top_k` in all), for "Show N weaker
    matches". `nearest`: no photo cleared the floor, so `hits` are the query's `nearest_k`
    best photos regardless of it (not close matches). `source`: for a search like a library
    photo (`like_photo_id`), that photo itself, kept out of `hits` (and of every count) so
    the window and the CLI show it pinned first and labelled, then its lookalikes."""

    hits: list[Hit]
    total_candidates: int
    elapsed_ms: float
    used: Literal["exact", "index", "browse"]
    floor: float | None = None
    positive_text: str = ""
    negative_terms: tuple[str, ...] = field(default_factory=tuple)
    weaker: int = 0
    cosine_floor: float | None = None
    nearest: bool = False
    source: Hit | None = None


# A term is an optional "-", then a "quoted phrase" (closing quote optional) or a bare word.
_TERM = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')


def parse_text(text: str | None) -> tuple[str, tuple[str, ...]]:
    """Split search text into the positive text and the negative terms.

    'beach -people' -> ('beach', ('people',)); 'car -"red car"' -> ('car', ('red car',)).
    A dash inside a word ('t-shirt') is kept; a lone dash is dropped."""
    if not text:
        return "", ()
    positive: list[str] = []
    negative: list[str] = []
    for m in _TERM.finditer(text):
        if m.group(2) is not None:
            neg, words = m.group(1) == "-", m.group(2).strip()
        else:
            neg, words = m.group(3) == "-", m.group(4)
        if not words.strip("-"):
            continue
        (negative if neg else positive).append(words)
    return " ".join(positive), tuple(dict.fromkeys(negative))
