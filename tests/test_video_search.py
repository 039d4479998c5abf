"""Search over a library of photos and videos with known vectors (real catalog, real hnswlib):
each video appears once at its best moment, the kind filter is exact, floors and Find Similar
keep their meaning per item, browsing never lists moments. Vectors go straight into the catalog
(the pipeline that decodes real videos has its own tests)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import microclip
import numpy as np
import pytest
from test_vindex import MODEL, clustered, fill_catalog, fill_videos
from videos import scene_video

from app.core.catalog.catalog import Catalog
from app.core.catalog.records import MOMENT_BASE
from app.core.index.vindex import VectorIndex
from app.core.model.encoder import Encoder
from app.core.search.engine import Query, QueryError, SearchEngine

DIM = 32


def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)


class Library:
    """300 clustered photos; video A (scenes 0, 1, 2 at 0, 2 and 4 s), video B (scenes 3, 4 at
    0 and 12 s); photo `near1` looks like scene 1, photo `near4` like scene 4."""

    def __init__(self, catalog: Catalog, root: Path) -> None:
        rng = np.random.default_rng(7)
        photos, _ = clustered(300, DIM, rng)
        self.scenes = _unit(rng.standard_normal((5, DIM)))
        near = _unit(self.scenes[[1, 4]] + 0.05 * _unit(rng.standard_normal((2, DIM))))
        dates = [datetime(2020, 1, 1 + i % 28) for i in range(302)]
        ids = fill_catalog(catalog, root / "p", np.concatenate([photos, near]), dates=dates)
        self.photos = ids[:300]
        self.near1, self.near4 = int(ids[300]), int(ids[301])
        s = self.scenes
        vids, self.labels = fill_videos(
            catalog,
            root / "v",
            [[(0, s[0]), (2000, s[1]), (4000, s[2])], [(0, s[3]), (12_000, s[4])]],
            dates=[datetime(2021, 5, 1), None],
        )
        self.a, self.b = int(vids[0]), int(vids[1])


@pytest.fixture(params=["exact", "index"])
def setup(request, tmp_path: Path):
    catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
    lib = Library(catalog, tmp_path)
    index = VectorIndex.open(tmp_path / "idx", MODEL, DIM, catalog)
    forced = {"exact_rows": 0, "exact_share": 0.0} if request.param == "index" else {}
    engine = SearchEngine(None, catalog, index, model_id=MODEL, **forced)
    yield engine, lib
    index.close()
    catalog.close()


def test_like_a_photo_finds_the_video_once_at_the_right_moment(setup):
    engine, lib = setup
    got = engine.search(Query(like_photo_id=lib.near1, top_k=20, min_score=-math.inf))
    assert got.source is not None and got.source.photo_id == lib.near1
    ids = [h.photo_id for h in got.hits]
    assert ids.count(lib.a) == 1 and all(i < MOMENT_BASE for i in ids)
    top = got.hits[0]
    assert (top.photo_id, top.kind, top.moment_ms, top.duration_ms) == (lib.a, "video", 2000, 5000)
    assert top.moments[0][0] == 2000 and top.moments[0][1] == pytest.approx(top.score)
    assert [t for t, _ in top.moments] == sorted(
        (t for t, _ in top.moments), key=lambda t: -dict(top.moments)[t]
    )
    assert got.total_candidates == 302 + 2  # photos and videos, not moments
    one = engine.search(Query(like_photo_id=lib.near1, top_k=1, min_score=-math.inf))
    assert one.hits[0].photo_id == lib.a  # every moment listed, not only those ranked
    assert sorted(t for t, _ in one.hits[0].moments) == [0, 2000, 4000]
    photo = next(h for h in got.hits if h.photo_id not in (lib.a, lib.b))
    assert (photo.kind, photo.moment_ms, photo.moments) == ("photo", None, ())


def test_a_floor_keeps_only_close_items_and_their_close_moments(setup):
    engine, lib = setup
    got = engine.search(Query(like_photo_id=lib.near1, min_cosine=0.9))
    assert [h.photo_id for h in got.hits] == [lib.a]
    assert [t for t, _ in got.hits[0].moments] == [2000]  # scenes 0 and 2 are far from it
    wide = engine.search(Query(like_photo_id=lib.near1, min_cosine=0.9, top_k=10))
    assert wide.weaker == 9  # items under the floor, up to top_k in all (not moments)
    loose = engine.search(Query(like_photo_id=lib.near1, min_score=-math.inf, top_k=10))
    assert len(loose.hits) == 10 and len({h.photo_id for h in loose.hits}) == 10


def test_the_kind_filter_is_exact(setup):
    engine, lib = setup
    videos = engine.search(Query(like_photo_id=lib.near1, kind="video", min_score=-math.inf))
    assert sorted(h.photo_id for h in videos.hits) == sorted([lib.a, lib.b])
    assert videos.total_candidates == 2
    photos = engine.search(
        Query(like_photo_id=lib.near4, kind="photo", min_score=-math.inf, top_k=400)
    )
    assert {h.kind for h in photos.hits} == {"photo"} and len(photos.hits) == 301
    assert photos.hits[0].photo_id not in (lib.a, lib.b)
    dated = engine.search(Query(kind="video", year=2021))
    assert [h.photo_id for h in dated.hits] == [lib.a]
    with pytest.raises(QueryError):
        engine.search(Query(kind="clip"))  # type: ignore[arg-type]


def test_like_a_moment_of_a_video(setup):
    engine, lib = setup
    got = engine.search(Query(like_photo_id=lib.b, like_moment_ms=11_000, min_cosine=0.9))
    assert got.source is not None and got.source.photo_id == lib.b  # pinned apart
    assert [h.photo_id for h in got.hits] == [lib.near4]
    whole = engine.search(Query(like_photo_id=lib.a, min_score=-math.inf, top_k=5))
    assert lib.a not in [h.photo_id for h in whole.hits]
    with pytest.raises(QueryError):
        Query(like_moment_ms=100).validate()


def test_browsing_lists_photos_and_videos_newest_first_never_moments(setup):
    engine, lib = setup
    got = engine.search(Query(top_k=1000))
    ids = [h.photo_id for h in got.hits]
    assert got.used == "browse" and got.total_candidates == 304 and len(ids) == 304
    assert ids[0] == lib.a  # 2021, the newest
    assert ids[-1] == lib.b  # undated last
    assert all(h.moment_ms is None and h.moments == () for h in got.hits)
    assert {h.kind for h in got.hits} == {"photo", "video"}


def test_a_text_query_finds_the_moment_it_describes(tiny_model_dir: Path, tmp_path: Path):
    """The micro CLIP encodes photos of three classes and a video's frames (a green triangle at
    0 s, a red circle at 6 s, a yellow star at 12 s): words find the video at their moment."""
    rng = np.random.default_rng(3)
    with Encoder(tiny_model_dir, device="cpu") as encoder:
        classes = [("blue", "square"), ("green", "triangle"), ("yellow", "star")]
        images = [microclip.make_shape_image(c, s, 64, rng) for c, s in classes * 3]
        frames = [("green", "triangle"), ("red", "circle"), ("yellow", "star")]
        shots = [microclip.make_shape_image(c, s, 64, rng) for c, s in frames]
        catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
        model = encoder.model_id
        fill_catalog(catalog, tmp_path / "p", encoder.encode_images(images), model_id=model)
        vecs = encoder.encode_images(shots)
        (vid,), _ = fill_videos(
            catalog, tmp_path / "v", [list(zip((0, 6000, 12_000), vecs, strict=True))],
            model_id=model,
        )  # fmt: skip
        index = VectorIndex.open(tmp_path / "idx", model, vecs.shape[1], catalog)
        engine = SearchEngine(encoder, catalog, index)
        red = engine.search(Query(text="a red circle", min_score=-math.inf, top_k=5))
        assert (red.hits[0].photo_id, red.hits[0].moment_ms) == (vid, 6000)
        star = engine.search(Query(text="a yellow star", kind="video", min_score=-math.inf))
        assert [(h.photo_id, h.moment_ms) for h in star.hits] == [(vid, 12_000)]
        index.close()
        catalog.close()


def test_a_video_file_as_the_example_searches_like_its_frames(tiny_model_dir: Path, tmp_path: Path):
    """A video dropped on the window (or --image clip.mp4) is the mean of its sampled frames:
    a clip of yellow stars finds the star photos first; a region on it, or a file that is not a
    video, is one clear QueryError."""
    rng = np.random.default_rng(5)
    with Encoder(tiny_model_dir, device="cpu") as encoder:
        classes = [("blue", "square"), ("green", "triangle"), ("yellow", "star")]
        images = [microclip.make_shape_image(c, s, 64, rng) for c, s in classes * 3]
        catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
        model = encoder.model_id
        ids = fill_catalog(catalog, tmp_path / "p", encoder.encode_images(images), model_id=model)
        stars = {int(ids[i]) for i in range(2, 9, 3)}
        index = VectorIndex.open(tmp_path / "idx", model, encoder.dim, catalog)
        engine = SearchEngine(encoder, catalog, index)
        clip = scene_video(tmp_path / "stars.mp4", [(2, "yellow", "star"), (2, "yellow", "star")])
        got = engine.search(Query(image=clip, min_score=-math.inf, top_k=9))
        assert {h.photo_id for h in got.hits[:3]} == stars
        with pytest.raises(QueryError, match="a region is drawn on one of its frames"):
            engine.search(Query(image=clip, region=(0, 0, 10, 10)))
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"not a video at all")
        with pytest.raises(QueryError, match="Cannot search like"):
            engine.search(Query(image=broken))
        index.close()
        catalog.close()
