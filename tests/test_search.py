"""The search engine on a real catalog and hnswlib index.

Part 1: exactness. Clustered synthetic vectors go straight into the catalog (no encoder); every
filter's top-k is checked against brute force on both paths (exact: identical; index: recall).
Part 2: meaning. The trained micro CLIP (tiny_model_dir) indexes pictures of coloured shapes, and
queries must behave: fusion weights, negative terms, more-like-this, regions, date order, floors.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import microclip
import numpy as np
import pytest
from PIL import Image
from test_vindex import MODEL, clustered, fill_catalog, text_like

from app.core.catalog.catalog import Catalog
from app.core.errors import UserError
from app.core.index.vindex import VectorIndex
from app.core.model.encoder import Encoder
from app.core.model.info import MANIFEST, ModelError
from app.core.search.engine import DATE_POOL, Query, QueryError, SearchEngine
from app.core.search.query import parse_text

NO_FLOOR = -math.inf
TIE = 5e-4  # score error of the index's float16 rows (measured max ~3e-4 on unit vectors)

# -- query text parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "positive", "negative"),
    [
        ("beach -people", "beach", ("people",)),
        ('car -"red car" sunset', "car sunset", ("red car",)),
        ('"golden gate" bridge -fog -fog', "golden gate bridge", ("fog",)),
        ("t-shirt - x", "t-shirt x", ()),
        ('-"unclosed phrase', "", ("unclosed phrase",)),
        ("-people", "", ("people",)),
        ("  ", "", ()),
        (None, "", ()),
    ],
)
def test_parse_text(text, positive, negative):
    assert parse_text(text) == (positive, negative)


def test_a_query_is_parsed_once_and_knows_what_it_needs():
    """`terms` (the text's words and every negative term) is parsed once per query; browsing
    needs no model, words or an image do, and a stored photo needs no encoder."""
    q = Query(text="beach -people", negative=("people", "car"))
    assert q.terms == ("beach", ("people", "car")) and q.terms is q.terms
    assert q.needs_model and q.needs_encoder
    assert not Query(year=2021).needs_model and not Query().needs_encoder
    assert Query(text="-people").needs_model  # only exclusions still encode the terms
    like = Query(like_photo_id=7)
    assert like.needs_model and not like.needs_encoder
    assert Query(like_photo_id=7, region=(0, 0, 5, 5)).needs_encoder  # a region is encoded


# -- part 1: exact top-k on synthetic vectors --------------------------------------------------

N = 20_000
DIM = 32
FOLDER_F3 = 3  # exactly 10 photos
QUERY_FOLDER = 9  # text-like query vectors stored as undated photos


class Synthetic:
    """A 20,000-photo catalog: dates 2015-2023 (+ 10 photos in 2014, 50 undated), folders by
    topic (f0 60 %, f1 30 %, f2 10 %) plus f3 with 10 photos, and 20 text-like query photos."""

    def __init__(self, root: Path) -> None:
        rng = np.random.default_rng(21)
        vectors, topic = clustered(N, DIM, rng)
        years = rng.integers(2015, 2024, N)
        years[rng.choice(N, 10, replace=False)] = 2014
        months = rng.integers(1, 13, N)
        days = rng.integers(1, 29, N)
        dates: list[datetime | None] = [
            datetime(int(y), int(m), int(d), int(i % 24)) for i, (y, m, d) in
            enumerate(zip(years, months, days, strict=True))
        ]  # fmt: skip
        undated = rng.choice(np.flatnonzero(years != 2014), 50, replace=False)
        for i in undated:
            dates[i] = None
        folders = np.select([topic < 24, topic < 36], [0, 1], 2)
        f3 = rng.choice(N, 10, replace=False)
        folders[f3] = FOLDER_F3
        (root / "data").mkdir(parents=True)
        self.catalog = Catalog(root / "data" / "catalog.sqlite3")
        self.ids = fill_catalog(
            self.catalog, root / "photos", vectors, dates=dates, folders=folders.tolist()
        )
        queries = text_like(vectors, topic, rng, 20)
        self.query_ids = fill_catalog(
            self.catalog, root / "photos", queries, folders=[QUERY_FOLDER] * len(queries)
        )
        self.vectors = np.concatenate([vectors, queries])
        self.all_ids = np.concatenate([self.ids, self.query_ids])
        nan = np.full(len(queries), -1)
        self.year = np.concatenate([np.where([d is None for d in dates], -1, years), nan])
        self.month = np.concatenate([np.where([d is None for d in dates], -1, months), nan])
        self.folder = np.concatenate([folders, np.full(len(queries), QUERY_FOLDER)])
        self.topic = topic
        self.root = root
        self.index = VectorIndex.open(root / "idx", MODEL, DIM, self.catalog)

    def folder_path(self, f: int) -> Path:
        return self.root / "photos" / f"f{f}"

    def passing(self, year: int | None, month: int | None, folder: int | None) -> np.ndarray:
        keep = np.ones(len(self.all_ids), dtype=bool)
        if year is not None:
            keep &= self.year == year
        if month is not None:
            keep &= self.month == month
        if folder is not None:
            keep &= self.folder == folder
        return keep

    def assert_exact(self, query_id: int, keep: np.ndarray, got: np.ndarray, k: int) -> None:
        """`got` is the top k among `keep`, best first (float32 near-ties may swap)."""
        q = self.vectors[np.flatnonzero(self.all_ids == query_id)[0]]
        cos = dict(zip(self.all_ids.tolist(), (self.vectors @ q).tolist(), strict=True))
        got_cos = np.array([cos[i] for i in got.tolist()])
        kth = np.sort(self.vectors[keep] @ q)[::-1][min(k, keep.sum()) - 1]
        assert len(got) == min(k, keep.sum()) and len(set(got.tolist())) == len(got)
        # Scored from float16 rows: float32 cosines may differ by up to ~3e-4, so near-ties swap.
        assert np.all(np.diff(got_cos) <= TIE) and got_cos.min() >= kth - TIE

    def truth(self, query_id: int, keep: np.ndarray, k: int) -> np.ndarray:
        q = self.vectors[np.flatnonzero(self.all_ids == query_id)[0]]
        scores = self.vectors[keep] @ q
        return self.all_ids[keep][np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    lib = Synthetic(tmp_path_factory.mktemp("synthetic"))
    yield lib
    lib.index.close()
    lib.catalog.close()


def _engine(lib: Synthetic, **kw: Any) -> SearchEngine:
    # exact below 20 % of the library (or 1,000 photos), index above: both paths get exercised.
    return SearchEngine(None, lib.catalog, lib.index, model_id=MODEL,
                        exact_share=kw.pop("exact_share", 0.2), exact_rows=1000, **kw)  # fmt: skip


FILTERS = [
    # (name, year, month, folder number, path expected)
    ("10 of 20,000 by year", 2014, None, None, "exact"),
    ("10 of 20,000 by folder", None, None, FOLDER_F3, "exact"),
    ("year", 2018, None, None, "exact"),
    ("month across years", None, 3, None, "exact"),
    ("year and month", 2021, 7, None, "exact"),
    ("small folder", None, None, 2, "exact"),
    ("large folder", None, None, 1, "index"),
    ("largest folder", None, None, 0, "index"),
    ("no filter", None, None, None, "index"),
]


@pytest.mark.parametrize(("name", "year", "month", "folder", "path"), FILTERS)
def test_filtered_top_k_matches_brute_force(synthetic, name, year, month, folder, path):
    lib = synthetic
    engine = _engine(lib)
    keep = lib.passing(year, month, folder)
    inside = lib.all_ids[keep]
    rng = np.random.default_rng(len(name))
    queries = list(lib.query_ids[:8]) + list(rng.choice(inside, 4)) + list(rng.choice(lib.ids, 3))
    recalls = []
    for k in (10, 50):
        for qid in queries:
            folder_arg = lib.folder_path(folder) if folder is not None else None
            result = engine.search(
                Query(
                    like_photo_id=int(qid),
                    year=year,
                    month=month,
                    folder=folder_arg,
                    top_k=k,
                    min_score=NO_FLOOR,
                )
            )
            got = np.array([h.photo_id for h in result.hits], dtype=np.int64)
            # The photo searched from is pinned apart (result.source), inside the filters or not.
            others = keep & (lib.all_ids != qid)
            want = lib.truth(int(qid), others, k)
            assert result.source is not None and result.source.photo_id == qid
            assert result.used == path
            assert result.total_candidates == keep.sum()
            assert np.isin(got, inside).all() and qid not in got
            assert len(got) == min(k, others.sum())
            scores = [h.score for h in result.hits]
            assert scores == sorted(scores, reverse=True)
            if path == "exact":
                lib.assert_exact(int(qid), others, got, k)
            recalls.append(len(set(got.tolist()) & set(want.tolist())) / len(want))
    assert np.mean(recalls) >= 0.95
    if month is not None and year is None:  # the month of every year
        photos = lib.catalog.photos(inside)
        assert len({p.capture_time.year for p in photos if p.capture_time}) >= 9
        assert all(p.month == month for p in photos)


def test_index_path_when_the_filter_disagrees_with_the_query(synthetic):
    """A 30 % folder (index path) that holds none of the query's near neighbours: the over-fetch
    grows or falls back to exact, and the answer is still the true top-k."""
    lib = synthetic
    engine = _engine(lib)
    keep = lib.passing(None, None, 1)
    recalls = []
    for qid in lib.ids[(lib.topic < 24)][:10]:  # photos of folder f0's topics
        result = engine.search(
            Query(like_photo_id=int(qid), folder=lib.folder_path(1), top_k=20, min_score=NO_FLOOR)
        )
        got = [h.photo_id for h in result.hits]
        want = lib.truth(int(qid), keep & (lib.all_ids != qid), 20)
        assert len(got) == 20 and np.isin(got, lib.all_ids[keep]).all()
        recalls.append(len(set(got) & set(want.tolist())) / 20)
    assert np.mean(recalls) >= 0.95


def test_date_order_sorts_the_best_matches_newest_first(synthetic):
    lib = synthetic
    engine = _engine(lib, exact_share=1.1)  # exact, so the pool is exactly the top DATE_POOL
    qid = int(lib.query_ids[0])
    result = engine.search(Query(like_photo_id=qid, order="date", top_k=25, min_score=NO_FLOOR))
    assert result.used == "exact"
    keep = lib.passing(None, None, None)
    pool = lib.truth(qid, keep & (lib.all_ids != qid), DATE_POOL)
    photos = {p.id: p for p in lib.catalog.photos(pool)}
    undated = datetime.min
    newest = sorted(pool.tolist(), key=lambda i: photos[i].capture_time or undated, reverse=True)
    got = [h.photo_id for h in result.hits]
    times = [h.capture_time for h in result.hits]
    assert all(t is not None for t in times) and times == sorted(times, reverse=True)
    assert got == newest[:25]
    by_index = _engine(lib).search(Query(like_photo_id=qid, order="date", top_k=25))
    times = [h.capture_time for h in by_index.hits]
    assert by_index.used == "index" and times == sorted(times, reverse=True)


def test_min_score_and_relative_floor(synthetic):
    lib = synthetic
    engine = _engine(lib)
    qid = int(lib.ids[0])
    everything = engine.search(Query(like_photo_id=qid, top_k=3000, min_score=NO_FLOOR))
    floored = engine.search(Query(like_photo_id=qid, top_k=3000))
    assert floored.floor is not None and 0 < floored.floor < 1  # 2 spreads, under the top 1 %
    assert 0 < len(floored.hits) < len(everything.hits)
    assert all(h.score >= floored.floor for h in floored.hits)
    n = len(floored.hits)
    assert [h.photo_id for h in floored.hits] == [h.photo_id for h in everything.hits[:n]]
    assert everything.hits[n].score < floored.floor
    cut = everything.hits[40].score
    custom = engine.search(Query(like_photo_id=qid, top_k=3000, min_score=cut))
    assert len(custom.hits) == 41


def test_browse_lists_filtered_photos_newest_first(synthetic):
    lib = synthetic
    engine = _engine(lib)
    result = engine.search(Query(year=2019, top_k=50))
    assert (
        result.used == "browse" and result.total_candidates == lib.passing(2019, None, None).sum()
    )
    times = [h.capture_time for h in result.hits]
    assert len(times) == 50 and times == sorted(times, reverse=True)
    assert all(t.year == 2019 for t in times)
    everything = engine.search(Query(top_k=N + 100))
    assert len(everything.hits) == len(lib.all_ids)
    dated = [h.capture_time for h in everything.hits if h.capture_time is not None]
    assert dated == sorted(dated, reverse=True)
    assert all(h.capture_time is None for h in everything.hits[len(dated) :])  # undated last


class CountingCatalog:
    """The real catalog, counting the reads a cache should save."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.calls: dict[str, int] = {"filter_ids": 0, "embeddings": 0}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._catalog, name)
        if name in self.calls:

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return attr(*args, **kwargs)

            return counted
        return attr


def test_filter_sets_and_vectors_are_cached_until_the_catalog_changes(tmp_path):
    rng = np.random.default_rng(5)
    vectors, _ = clustered(3000, DIM, rng)
    dates = [datetime(2020 + i % 3, 1 + i % 12, 1) for i in range(len(vectors))]
    (tmp_path / "data").mkdir()
    with Catalog(tmp_path / "data" / "c.sqlite3") as catalog:
        ids = fill_catalog(catalog, tmp_path / "photos", vectors, dates=dates)
        index = VectorIndex.open(tmp_path / "idx", MODEL, DIM, catalog)
        counting = CountingCatalog(catalog)
        engine = SearchEngine(None, counting, index, model_id=MODEL)  # type: ignore[arg-type]
        query = Query(like_photo_id=int(ids[0]), year=2021, top_k=5, min_score=NO_FLOOR)
        first = engine.search(query)
        assert first.used == "exact"
        # ids[0] is from 2020, outside the filter, yet pinned as the photo searched from.
        assert first.source is not None and first.source.photo_id == int(ids[0])
        assert first.source.score >= max(h.score for h in first.hits)  # its own vector
        before = dict(counting.calls)
        second = engine.search(query)
        assert counting.calls == before  # no filter query, no vector read
        assert second.hits == first.hits
        # A new photo in 2021 with the query's own vector: the generation moves, caches refresh.
        new = fill_catalog(catalog, tmp_path / "photos", vectors[:1], dates=[datetime(2021, 5, 5)])
        index.add(new, vectors[:1])
        third = engine.search(query)
        assert counting.calls["filter_ids"] > before["filter_ids"]
        assert third.hits[0].photo_id == int(new[0])  # ids[0] itself is from 2020
        index.close()


def test_bad_queries_are_refused_with_a_reason(synthetic):
    engine = _engine(synthetic)
    with pytest.raises(ModelError, match="no model is installed"):
        engine.search(Query(text="a dog"))
    with pytest.raises(QueryError, match="region needs an image"):
        engine.search(Query(region=(0, 0, 10, 10)))
    with pytest.raises(QueryError, match="between 0 and 1"):
        engine.search(Query(like_photo_id=int(synthetic.ids[0]), image_weight=1.5))
    with pytest.raises(QueryError, match="month must be 1 to 12"):
        engine.search(Query(month=13))
    with pytest.raises(QueryError, match="not indexed yet"):
        engine.search(Query(like_photo_id=10**9))


# -- part 2: meaning, with the trained micro CLIP ----------------------------------------------

PER_CLASS = 5
SIDE = 96


class CountingEncoder:
    """The real encoder, counting how often it is asked to encode."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._encoder, name)
        if name.startswith("encode"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls += 1
                return attr(*args, **kwargs)

            return counted
        return attr


class Shapes:
    """Five photos of each (colour, shape) pair, dated one day apart, plus one large photo of a
    blue square with a small red circle pasted into a corner at `box`."""

    def __init__(self, root: Path, model_dir: Path) -> None:
        self.encoder = Encoder(model_dir, device="cpu")
        rng = np.random.default_rng(7)
        photos = root / "photos"
        (photos / "f0").mkdir(parents=True)
        (root / "data").mkdir()
        self.catalog = Catalog(root / "data" / "catalog.sqlite3")
        self.labels: list[tuple[str, str]] = []
        images: list[Image.Image] = []
        for _ in range(PER_CLASS):
            for color, shape in microclip.all_pairs():
                images.append(microclip.make_shape_image(color, shape, SIDE, rng))
                self.labels.append((color, shape))
        big = microclip.make_shape_image("blue", "square", (480, 360), rng)
        red = microclip.make_shape_image("red", "circle", 72, rng)
        self.box = (392, 16, 72, 72)
        big.paste(red, self.box[:2])
        images.append(big)
        self.labels.append(("blue", "square+red circle"))
        paths = []
        for i, img in enumerate(images):
            p = photos / "f0" / f"{i:03d}.png"
            img.save(p)
            paths.append(p)
        dates = [datetime(2020, 1, 1 + i % 28, i % 24) for i in range(len(images))]
        vectors = self.encoder.encode_images(images)
        self.model_id = self.encoder.model_id
        self.ids = fill_catalog(self.catalog, photos, vectors, model_id=self.model_id, dates=dates)
        # fill_catalog names its own files; point the records at the real pictures
        for pid, p in zip(self.ids.tolist(), paths, strict=True):
            self.catalog.move_photo(pid, p, self.catalog.photo(pid).folder_id, 1)
        self.vectors = vectors
        self.paths = paths
        self.big_id = int(self.ids[-1])
        self.index = VectorIndex.open(root / "idx", self.model_id, vectors.shape[1], self.catalog)

    def engine(self, encoder: Any = None) -> SearchEngine:
        return SearchEngine(encoder or self.encoder, self.catalog, self.index)

    def label(self, photo_id: int) -> tuple[str, str]:
        return self.labels[int(np.flatnonzero(self.ids == photo_id)[0])]

    def ids_of(self, color: str | None = None, shape: str | None = None) -> set[int]:
        return {
            int(pid)
            for pid, (c, s) in zip(self.ids, self.labels, strict=True)
            if (color is None or c == color) and (shape is None or s == shape)
        }


@pytest.fixture(scope="module")
def shapes(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Shapes:
    lib = Shapes(tmp_path_factory.mktemp("shapes"), tiny_model_dir)
    yield lib
    lib.index.close()
    lib.catalog.close()
    lib.encoder.close()


def ranked(result: Any) -> list[int]:
    return [h.photo_id for h in result.hits]


ALL = 10_000


def test_text_query_finds_the_pictured_class(shapes):
    result = shapes.engine().search(Query(text="a red circle", top_k=5))
    assert result.used == "exact" and result.positive_text == "a red circle"
    assert set(ranked(result)) == shapes.ids_of("red", "circle")


def test_fusion_weights_0_and_1_reproduce_each_modality(shapes):
    engine = shapes.engine()
    square = shapes.paths[shapes.labels.index(("blue", "square"))]
    text_only = ranked(engine.search(Query(text="a red circle", top_k=ALL, min_score=NO_FLOOR)))
    image_only = ranked(engine.search(Query(image=square, top_k=ALL, min_score=NO_FLOOR)))
    assert text_only != image_only

    def fused(weight: float) -> list[int]:
        query = Query(text="a red circle", image=square, image_weight=weight, top_k=ALL,
                      min_score=NO_FLOOR)  # fmt: skip
        return ranked(engine.search(query))

    assert fused(0.0) == text_only
    assert fused(1.0) == image_only
    # Calibrated halves: neither part swamps the other. Photos that match both (blue circles)
    # come first, then what the text asks for (red circles) mixed with what the picture shows
    # (blue squares), each part's own class scoring ~1 on its side.
    top = fused(0.5)
    assert set(top[:5]) == shapes.ids_of("blue", "circle")
    assert len(set(top[5:16]) & shapes.ids_of("red", "circle")) >= 3
    assert len(set(top[5:16]) & shapes.ids_of("blue", "square")) >= 3


def test_negative_terms_demote_matching_photos(shapes):
    engine = shapes.engine()
    red = shapes.ids_of("red")

    def red_ranks(text: str) -> list[int]:
        result = engine.search(Query(text=text, top_k=ALL, min_score=NO_FLOOR))
        return [i for i, pid in enumerate(ranked(result)) if pid in red]

    for plain, minus in [("a circle", "a circle -red"), ("shape", "shape -red"),
                         ("a circle", 'a circle -"red circle"')]:  # fmt: skip
        before, after = red_ranks(plain), red_ranks(minus)
        assert np.mean(after) > np.mean(before) and min(after) > min(before), (plain, minus)
    # With "-red", every other circle comes before the first red circle.
    result = engine.search(Query(text="a circle -red", top_k=ALL, min_score=NO_FLOOR))
    order = ranked(result)
    assert result.negative_terms == ("red",)
    others = [order.index(i) for i in shapes.ids_of(shape="circle") - red]
    assert max(others) < min(order.index(i) for i in shapes.ids_of("red", "circle"))


STRAY = 2  # photos of a neighbouring class a relative floor may let through or catch


def test_only_negative_terms_browse_everything_else(shapes):
    """A search of only negative terms lists every photo that matches none of them. The terms are
    phrased the way the model was trained (whole captions): a bare "red" is out of distribution
    for the micro CLIP, which only ever saw "a {colour} {shape}"."""
    engine = shapes.engine()
    red = shapes.ids_of("red")
    not_red = set(shapes.ids.tolist()) - red
    every_red = " ".join(f'-"{microclip.caption("red", s)}"' for s in microclip.SHAPES)
    result = engine.search(Query(text=every_red, top_k=ALL))
    got = set(ranked(result))
    assert result.used == "browse" and result.total_candidates == len(got)
    assert len(result.negative_terms) == len(microclip.SHAPES)
    # A relative floor on 81 photos is coarse: a photo of a neighbouring class (a yellow
    # triangle for "a red triangle") may reach it. Allow a couple of strays, no more.
    assert len(not_red - got) <= STRAY  # (almost) nothing wrongly hidden
    assert len(red - got) >= 3 * len(red) // 4  # most red photos hidden
    times = [h.capture_time for h in result.hits]
    assert times == sorted(times, reverse=True)  # browsing: newest first
    # One term hides (most of) its own class and (almost) nothing else.
    one = set(ranked(engine.search(Query(text='-"a red circle"', top_k=ALL))))
    hidden = set(shapes.ids.tolist()) - one
    circles = shapes.ids_of("red", "circle")
    assert len(hidden & circles) >= PER_CLASS - 1 and len(hidden - circles) <= STRAY


def test_more_like_this_uses_the_stored_embedding(shapes):
    counting = CountingEncoder(shapes.encoder)
    engine = shapes.engine(counting)
    target = min(shapes.ids_of("green", "star"))
    result = engine.search(Query(like_photo_id=target, top_k=PER_CLASS - 1))
    assert counting.calls == 0
    assert result.source is not None and result.source.photo_id == target  # pinned apart
    assert set(ranked(result)) == shapes.ids_of("green", "star") - {target}
    engine.search(Query(text="a green star", like_photo_id=target, top_k=3))
    assert counting.calls == 1  # the text; still not the photo


def of_class(ids: list[int], want: set[int]) -> int:
    """How many of `ids` belong to `want`."""
    return len(set(ids) & want)


def test_region_of_a_library_photo_finds_the_object(shapes):
    """The whole photo (a large blue square) finds blue squares; a box around the small red
    circle in its corner finds red circles instead. Thresholds, not exact sets: the micro CLIP
    confuses a photo or two between neighbouring classes (blue circles and blue squares)."""
    engine = shapes.engine()
    squares, circles = shapes.ids_of("blue", "square"), shapes.ids_of("red", "circle")

    def order(region: Any) -> list[int]:
        query = Query(like_photo_id=shapes.big_id, region=region, top_k=ALL, min_score=NO_FLOOR)
        result = engine.search(query)
        assert result.source is not None and result.source.photo_id == shapes.big_id
        return ranked(result)  # the photo itself is pinned apart, not ranked

    def below(order: list[int], low: set[int], high: set[int]) -> bool:
        return min(order.index(i) for i in low) > max(order.index(i) for i in high)

    whole = order(None)
    assert shapes.big_id not in whole
    assert of_class(whole[: 2 * PER_CLASS], squares) >= PER_CLASS - 1  # chance: ~0.6
    assert below(whole, circles, squares)
    region = order(shapes.box)
    assert of_class(region[:PER_CLASS], circles) >= PER_CLASS - 1  # chance: ~0.3
    assert below(region, squares, circles)
    floored = engine.search(Query(like_photo_id=shapes.big_id, region=shapes.box, top_k=PER_CLASS))
    assert ranked(floored) == region[: len(floored.hits)] and floored.hits


def test_image_query_from_a_file_bytes_or_pixels(shapes):
    engine = shapes.engine()
    index = shapes.labels.index(("yellow", "triangle"))
    path, own_id = shapes.paths[index], int(shapes.ids[index])
    by_path = ranked(engine.search(Query(image=path, top_k=PER_CLASS)))
    assert len(by_path) == PER_CLASS and by_path[0] == own_id  # the same picture first
    assert of_class(by_path, shapes.ids_of("yellow", "triangle")) >= PER_CLASS - 1  # chance: ~0.3
    assert ranked(engine.search(Query(image=path.read_bytes(), top_k=PER_CLASS))) == by_path
    with Image.open(path) as img:
        pixels = engine.search(Query(image=img, top_k=PER_CLASS))
    assert set(ranked(pixels)) == set(by_path)


def test_region_of_an_outside_image(shapes, tmp_path):
    outside = tmp_path / "outside.jpg"
    Image.open(shapes.paths[-1]).save(outside, quality=95)
    engine = shapes.engine()
    result = engine.search(Query(image=outside, region=shapes.box, top_k=PER_CLASS))
    assert set(ranked(result)) == shapes.ids_of("red", "circle")
    data = outside.read_bytes()
    again = engine.search(Query(image=data, region=shapes.box, top_k=PER_CLASS))
    assert ranked(again) == ranked(result)
    with pytest.raises(UserError, match="does not overlap"):
        engine.search(Query(image=data, region=(5000, 5000, 10, 10)))


def test_order_by_date_sorts_the_matches(shapes):
    engine = shapes.engine()
    by_relevance = engine.search(Query(text="a blue square", top_k=ALL))
    by_date = engine.search(Query(text="a blue square", order="date", top_k=ALL))
    assert set(ranked(by_date)) == set(ranked(by_relevance))
    times = [h.capture_time for h in by_date.hits]
    assert times == sorted(times, reverse=True) and ranked(by_date) != ranked(by_relevance)
    top3 = engine.search(Query(text="a blue square", order="date", top_k=3))
    assert ranked(top3) == ranked(by_date)[:3]


def test_relative_floor_hides_unrelated_photos(shapes):
    engine = shapes.engine()
    result = engine.search(Query(text="a red circle", top_k=ALL))
    everything = engine.search(Query(text="a red circle", top_k=ALL, min_score=NO_FLOOR))
    got = set(ranked(result))
    assert shapes.ids_of("red", "circle") <= got  # the matches stay
    assert got <= shapes.ids_of("red")  # the rest of the library goes: at most other red ones
    assert len(got) < len(everything.hits) / 4


def test_relative_floor_never_hides_the_best_match(shapes):
    """However widely a model spreads its cosines, the relative floor lets the library's best
    ~1 % through: every caption finds its own pictures."""
    engine = shapes.engine()
    for color, shape in microclip.all_pairs():
        result = engine.search(Query(text=microclip.caption(color, shape), top_k=PER_CLASS))
        assert result.hits and shapes.label(result.hits[0].photo_id)[0] == color


def test_declared_floor_hides_unrelated_photos(shapes, tmp_path):
    """A model that declares a text-image cosine floor: photos under it are hidden and photos
    above it are kept, whatever the library looks like; it replaces the relative floor (a low
    declared floor lets through more than the relative floor would)."""
    text_vec = shapes.encoder.encode_text(["a red circle"])[0]
    cos = shapes.vectors @ text_vec
    matching = np.isin(shapes.ids, list(shapes.ids_of("red", "circle")))
    assert cos[matching].min() > cos[~matching].max()  # the model separates them
    model_dir = tmp_path / "model"
    shutil.copytree(shapes.encoder.model_dir, model_dir)
    for p in model_dir.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    info = json.loads((model_dir / MANIFEST).read_text())

    def declared(floor: float) -> Any:
        (model_dir / MANIFEST).write_text(json.dumps({**info, "relevance_floor": floor}))
        with Encoder(model_dir, device="cpu") as encoder:
            return SearchEngine(encoder, shapes.catalog, shapes.index).search(
                Query(text="a red circle", top_k=ALL)
            )

    strict = declared(float((cos[matching].min() + cos[~matching].max()) / 2))
    assert strict.floor is not None and all(h.score >= strict.floor for h in strict.hits)
    assert set(ranked(strict)) == shapes.ids_of("red", "circle")
    # A floor in the middle of the library, in the widest gap between neighbouring cosines
    # there (so no photo sits on it): exactly the photos above it, about half the library.
    ordered = np.sort(cos)
    middle = slice(len(ordered) // 3, 2 * len(ordered) // 3)
    gap = int(np.argmax(np.diff(ordered)[middle])) + middle.start
    loose = declared(float((ordered[gap] + ordered[gap + 1]) / 2))
    above = set(shapes.ids[cos > ordered[gap]].tolist())
    assert set(ranked(loose)) == above
    relative = shapes.engine().search(Query(text="a red circle", top_k=ALL))
    assert len(loose.hits) > len(relative.hits)


def test_nearest_k_shows_the_best_photos_when_none_clears_the_floor(shapes):
    """Nothing reaches the floor: with nearest_k the engine returns the best photos anyway,
    flagged `nearest`, from the same ranking (the query is encoded once); otherwise nothing."""
    engine = shapes.engine()
    everything = engine.search(Query(text="a red circle", top_k=ALL, min_score=NO_FLOOR))
    none = engine.search(Query(text="a red circle", top_k=ALL, min_cosine=0.9999))
    assert none.hits == [] and not none.nearest and none.weaker > 0
    near = engine.search(Query(text="a red circle", top_k=ALL, min_cosine=0.9999, nearest_k=5))
    assert near.nearest and near.weaker == 0
    assert ranked(near) == ranked(everything)[:5]
    by_date = engine.search(
        Query(text="a red circle", order="date", min_cosine=0.9999, nearest_k=5)
    )
    assert by_date.nearest and set(ranked(by_date)) == set(ranked(everything)[:5])
    close = engine.search(Query(text="a red circle", top_k=ALL, nearest_k=5))
    floored = engine.search(Query(text="a red circle", top_k=ALL))
    assert not close.nearest and close.hits == floored.hits  # something clears it: unchanged
    with pytest.raises(QueryError, match="nearest_k"):
        engine.search(Query(text="a red circle", nearest_k=-1))
