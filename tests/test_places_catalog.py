"""Places in the catalog, on a real SQLite file: what upsert stores, the exact place filter, the
counts per place, and the header refresh that keeps state and vectors."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from app.core.catalog.catalog import Catalog
from app.core.catalog.records import (
    HEADER_VERSION,
    INDEXED,
    PlaceFilter,
    Whereabouts,
    place_of,
)
from app.core.photos.metadata import PhotoMeta

MODEL = "model-a"
LISBON = Whereabouts("PT", "Lisbon", "Lisbon")
SINTRA = Whereabouts("PT", "Lisbon", "Sintra")
PORTO = Whereabouts("PT", "Porto", "Porto")
PARIS = Whereabouts("FR", "Île-de-France", "Paris")
PARIS_TX = Whereabouts("US", "Texas", "Paris")


@pytest.fixture
def cat(tmp_path: Path):
    catalog = Catalog(tmp_path / "data" / "catalog.sqlite3")
    (tmp_path / "photos").mkdir()
    catalog.add_folder(tmp_path / "photos")
    yield catalog
    catalog.close()


def meta(root: Path, name: str, when: datetime | None = datetime(2020, 1, 1), **kw) -> PhotoMeta:
    fields = dict(
        path=str(root / "photos" / name), size=1000, mtime_ns=1, fingerprint=f"fp:{name}",
        width=640, height=480, capture_time=when, capture_offset=None,
        capture_source="exif_original", camera_make=None, camera_model=None,
    )  # fmt: skip
    fields.update(kw)
    return PhotoMeta(**fields)  # type: ignore[arg-type]


def indexed(cat: Catalog, ids: list[int]) -> None:
    vecs = np.eye(len(ids), 8, dtype=np.float32)
    cat.put_embeddings(MODEL, ids, vecs)


def test_upsert_stores_position_place_derived_offset_and_header_version(cat, tmp_path):
    m = meta(tmp_path, "a.jpg", lat=38.7223, lon=-9.1393, capture_offset="+01:00")
    derived = replace(LISBON, offset_derived=True)
    (pid,) = cat.upsert_photos([m], [derived])
    p = cat.photo(pid)
    assert (p.lat, p.lon) == (38.7223, -9.1393)
    assert (p.place_country, p.place_region, p.place_city) == ("PT", "Lisbon", "Lisbon")
    assert p.offset_derived is True
    assert place_of(p) == PlaceFilter("PT", "Lisbon", "Lisbon")
    row = cat.db.conn.execute("SELECT header_version FROM photos WHERE id = ?", (pid,)).fetchone()
    assert row[0] == HEADER_VERSION
    # Without places (a photo with no GPS): nothing is invented.
    (other,) = cat.upsert_photos([meta(tmp_path, "b.jpg")])
    q = cat.photo(other)
    assert (q.lat, q.lon, q.place_country, q.offset_derived) == (None, None, None, False)
    assert place_of(q) is None


def test_upsert_rejects_a_mismatched_place_list(cat, tmp_path):
    with pytest.raises(ValueError):
        cat.upsert_photos([meta(tmp_path, "a.jpg")], [LISBON, PORTO])


def test_place_filter_is_exact_and_combines_with_dates_and_kind(cat, tmp_path):
    rng = random.Random(7)
    spots = [LISBON, SINTRA, PORTO, PARIS, PARIS_TX, Whereabouts()]
    metas, wheres = [], []
    for i in range(120):
        at = rng.choice(spots)
        when = datetime(rng.choice((2018, 2019)), rng.randint(1, 12), 5)
        kind = rng.choice(("photo", "video"))
        name = f"{i}.{'mp4' if kind == 'video' else 'jpg'}"
        metas.append(meta(tmp_path, name, when, kind=kind, lat=1.0 if at.country else None))
        wheres.append(at)
    ids = cat.upsert_photos(metas, wheres)
    indexed(cat, ids)
    truth = list(zip(ids, metas, wheres, strict=True))

    def expect(pred) -> list[int]:
        return sorted(pid for pid, m, w in truth if pred(m, w))

    def got(**kw) -> list[int]:
        return cat.filter_ids(**kw).tolist()

    assert got(place=PlaceFilter("PT")) == expect(lambda m, w: w.country == "PT")
    assert got(place=PlaceFilter("PT", "Lisbon")) == expect(lambda m, w: w.region == "Lisbon")
    assert got(place=PlaceFilter("PT", "Lisbon", "Sintra")) == expect(lambda m, w: w == SINTRA)
    # A city alone (no region): that city in any region of the country, not its namesakes.
    assert got(place=PlaceFilter("FR", None, "Paris")) == expect(lambda m, w: w == PARIS)
    assert got(place=PlaceFilter("US", "Texas", "Paris")) == expect(lambda m, w: w == PARIS_TX)
    assert got(place=PlaceFilter("ES")) == []
    both = got(place=PlaceFilter("PT"), year=2019, month=3, kind="video")
    assert both == expect(
        lambda m, w: w.country == "PT" and m.year == 2019 and m.month == 3 and m.kind == "video"
    )


def test_places_counts_each_city_with_its_newest_photo_as_cover(cat, tmp_path):
    metas = [
        meta(tmp_path, "old.jpg", datetime(2015, 1, 1)),
        meta(tmp_path, "new.jpg", datetime(2021, 6, 1)),
        meta(tmp_path, "undated.jpg", None),
        meta(tmp_path, "porto.jpg", datetime(2019, 1, 1)),
        meta(tmp_path, "nowhere.jpg", datetime(2019, 1, 1)),
        meta(tmp_path, "pending.jpg", datetime(2022, 1, 1)),
    ]
    ids = cat.upsert_photos(metas, [LISBON, LISBON, LISBON, PORTO, Whereabouts(), LISBON])
    indexed(cat, ids[:5])
    rows = cat.places()
    assert [(r.country, r.region, r.city, r.total) for r in rows] == [
        ("PT", "Lisbon", "Lisbon", 3),
        ("PT", "Porto", "Porto", 1),
    ]
    assert rows[0].cover_id == ids[1]  # the newest of Lisbon's indexed photos
    assert rows[1].cover_id == ids[3]
    # Browsing before a model exists counts pending photos too.
    pending = cat.places(pending=True)
    assert pending[0].total == 4 and pending[0].cover_id == ids[5]


def test_places_leave_out_live_photo_clips(cat, tmp_path):
    still = meta(tmp_path, "IMG_1.HEIC")
    clip = meta(tmp_path, "IMG_1.MOV", kind="video", duration_ms=2500, fingerprint="fp:clip")
    ids = cat.upsert_photos([still, clip], [LISBON, LISBON])
    indexed(cat, ids)
    assert cat.companions()  # the pair is recognised
    assert [r.total for r in cat.places()] == [1]


def test_refresh_headers_keeps_state_and_vectors_and_changes_the_stamp(cat, tmp_path):
    (pid,) = cat.upsert_photos([meta(tmp_path, "a.jpg")])
    indexed(cat, [pid])
    cat.db.conn.execute("UPDATE photos SET header_version = 0 WHERE id = ?", (pid,))
    cat.db.conn.commit()
    assert cat.stale_headers(cat.folders()[0].id) == {str(tmp_path / "photos" / "a.jpg"): pid}
    generation, stamp = cat.generation(MODEL), cat.facts_stamp()
    assert cat.places() == []  # remembered until the next write
    vector = cat.embedding(pid, MODEL)
    fresh = meta(tmp_path, "a.jpg", datetime(2020, 1, 1, 3), lat=38.72, lon=-9.14)
    cat.refresh_headers([(pid, replace(fresh, capture_offset="+00:00"), LISBON)])
    p = cat.photo(pid)
    assert p.state == INDEXED and p.place_city == "Lisbon" and p.lat == 38.72
    assert p.capture_time == datetime(2020, 1, 1, 3) and p.capture_offset == "+00:00"
    assert np.array_equal(cat.embedding(pid, MODEL), vector)
    assert cat.generation(MODEL) == generation  # the index is not made stale
    assert cat.facts_stamp() != stamp  # but cached filter sets are
    assert cat.stale_headers(cat.folders()[0].id) == {}
    assert [(r.city, r.total) for r in cat.places()] == [("Lisbon", 1)]
    # Another connection's commit is seen too (the window reading while the indexer writes).
    other = Catalog(cat.path)
    try:
        other.set_places([(pid, PORTO)])
    finally:
        other.close()
    assert [(r.city, r.total) for r in cat.places()] == [("Porto", 1)]


def test_regeocoding_rows_and_the_recorded_gazetteer(cat, tmp_path):
    ids = cat.upsert_photos(
        [meta(tmp_path, "a.jpg", lat=38.7, lon=-9.1), meta(tmp_path, "b.jpg")], [PORTO, NOWHERE]
    )
    assert cat.positions() == [(ids[0], 38.7, -9.1)]
    assert cat.gazetteer_version() is None
    cat.set_places([(ids[0], LISBON)])
    assert cat.photo(ids[0]).place_city == "Lisbon"
    cat.set_gazetteer_version("gaz 2")
    assert cat.gazetteer_version() == "gaz 2"


NOWHERE = Whereabouts()
