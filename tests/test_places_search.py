"""Places through the whole library: JPEGs with GPS at known places indexed with the real micro
CLIP, geocoded against the gazetteer, derived offsets, the exact place filter with dates, kinds,
folders and text, place names, a library without GPS, and an existing (schema 5 style) library
gaining places on a rescan without encoding anything."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from places_photos import SPOTS, gps_jpeg
from test_indexer import CountingEncoder

from app.core.catalog.records import HEADER_VERSION, place_of
from app.core.library import Library, Query
from app.core.paths import Paths
from app.core.pipeline.whereabouts import gazetteer_version
from app.core.places.gazetteer import Gazetteer
from app.core.search.query import PlaceFilter, QueryError

MODEL_SHAPES = [
    ("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star"),
]  # fmt: skip
# (spot, year, month) of each photo, one of each shape per row.
PLAN = [
    ("lisbon", 2019, 7), ("lisbon", 2020, 7), ("lisbon", 2019, 1), ("porto", 2019, 7),
    ("paris", 2019, 7), ("paris", 2021, 3), ("paris_tx", 2019, 7), ("tokyo", 2020, 12),
    ("ocean", 2019, 7), (None, 2019, 7),
]  # fmt: skip


def make_library(root: Path, *, gps: bool = True) -> dict[Path, tuple[str | None, int, int]]:
    """40 photos: each PLAN row in four shapes, in two sub-folders; path -> (spot, year, month)."""
    made = {}
    k = 0
    for spot, year, month in PLAN:
        for color, shape in MODEL_SHAPES:
            k += 1
            sub = "trip" if k % 2 else "home"
            at = SPOTS[spot] if spot is not None and gps else None
            p = root / sub / f"{spot}-{color}-{shape}-{k}.jpg"
            gps_jpeg(p, color, shape, k, at=at, date=f"{year}:{month:02d}:15 12:00:00")
            made[p] = (spot, year, month)
    return made


@pytest.fixture
def lib(paths: Paths, encoder: CountingEncoder) -> Iterator[Library]:
    library = Library(paths, encoder)
    yield library
    library.close()


@pytest.fixture
def indexed(lib: Library, tmp_path: Path) -> dict[Path, tuple[str | None, int, int]]:
    made = make_library(tmp_path / "photos")
    lib.add_folder(tmp_path / "photos")
    report = lib.index()
    assert report.added == len(made) and report.skipped == 0
    return made


def truth(lib: Library, made: dict, keep) -> set[int]:
    """Ids of the photos whose (place, year, month, path) pass `keep`, from what was written."""
    out = set()
    for path, (_, year, month) in made.items():
        p = lib.photo_by_path(path)
        if keep(place_of(p), year, month, path):
            out.add(p.id)
    return out


def everything(lib: Library, **kw) -> set[int]:
    result = lib.search(Query(top_k=1000, min_score=-math.inf, **kw))
    return {h.photo_id for h in result.hits}


def test_photos_are_geocoded_as_the_gazetteer_says_with_derived_offsets(lib, indexed):
    gaz = Gazetteer.shared()
    for path, (spot, year, month) in indexed.items():
        p = lib.photo_by_path(path)
        if spot is None:
            assert (p.lat, p.place_country, p.offset_derived) == (None, None, False)
            assert p.capture_offset is None
            continue
        lat, lon = SPOTS[spot]
        assert p.lat == pytest.approx(lat, abs=1e-4) and p.lon == pytest.approx(lon, abs=1e-4)
        want = gaz.locate(lat, lon)
        if want is None:  # mid-ocean: a position, no place, and the sea's offset
            assert spot == "ocean" and p.place_country is None
            continue
        assert (p.place_country, p.place_region, p.place_city) == (
            want.country_code,
            want.region,
            want.city,
        )
        assert p.capture_time == datetime(year, month, 15, 12)  # the wall clock stays
        assert p.offset_derived
    lisbon = lib.photo_by_path(next(p for p, v in indexed.items() if v[:2] == ("lisbon", 2019)))
    assert (lisbon.place_country, lisbon.place_city) == ("PT", "Lisbon")
    assert lisbon.capture_offset == ("+01:00" if lisbon.month == 7 else "+00:00")  # WEST / WET
    tokyo = lib.photo_by_path(next(p for p, v in indexed.items() if v[0] == "tokyo"))
    assert (tokyo.place_country, tokyo.capture_offset) == ("JP", "+09:00")


def test_place_filter_is_exact_and_combines_with_everything(lib, indexed, tmp_path):
    lisbon = lib.resolve_place("Lisbon")
    assert lisbon == PlaceFilter("PT", "Lisbon", "Lisbon")
    portugal = lib.resolve_place("Portugal")
    cases = [
        ({"place": lisbon}, lambda pl, y, m, p: pl == lisbon),
        ({"place": portugal}, lambda pl, y, m, p: pl is not None and pl.country == "PT"),
        ({"place": lisbon, "year": 2019}, lambda pl, y, m, p: pl == lisbon and y == 2019),
        (
            {"place": portugal, "year": 2019, "month": 7},
            lambda pl, y, m, p: pl is not None and pl.country == "PT" and (y, m) == (2019, 7),
        ),
        (
            {"place": portugal, "month": 7},
            lambda pl, y, m, p: pl is not None and m == 7 and pl.country == "PT",
        ),
        (
            {"place": portugal, "folder": tmp_path / "photos" / "trip"},
            lambda pl, y, m, p: pl is not None and pl.country == "PT" and p.parent.name == "trip",
        ),
        ({"place": PlaceFilter("ES")}, lambda pl, y, m, p: False),
    ]
    for filters, keep in cases:
        want = truth(lib, indexed, keep)
        assert everything(lib, **filters) == want, filters
        assert everything(lib, kind="photo", **filters) == want
        assert everything(lib, kind="video", **filters) == set()
        # With a query: ranked, yet only ever inside the filter; browsing newest first too.
        assert everything(lib, text="a red circle", **filters) == want
        browse = lib.search(Query(top_k=1000, order="date", **filters))
        assert {h.photo_id for h in browse.hits} == want
    top = lib.search(Query(text="a red circle", place=lisbon, top_k=3))
    assert top.hits and all(h.place == lisbon for h in top.hits)
    assert top.hits[0].lat == pytest.approx(SPOTS["lisbon"][0], abs=1e-4)


def test_place_counts_names_and_labels(lib, indexed):
    places = lib.places()
    assert sum(p.count for p in places) == 4 * 8  # every photo with a place (not ocean, none)
    by_city = {(p.place.country, p.city): p for p in places}
    assert by_city[("PT", "Lisbon")].count == 12 and by_city[("PT", "Lisbon")].country_name == (
        "Portugal"
    )
    lisbon_ids = truth(lib, indexed, lambda pl, y, m, p: pl is not None and pl.city == "Lisbon")
    newest = max(lisbon_ids, key=lambda i: (lib.photo(i).capture_time, i))
    assert by_city[("PT", "Lisbon")].cover_id == newest
    # Names: city, "city, country", country, ISO code, any case and accents; Paris is France's
    # (more photos) unless Texas is named.
    assert lib.resolve_place("lisbon, portugal") == lib.resolve_place("Lisbon")
    assert lib.resolve_place("PT") == PlaceFilter("PT")
    assert lib.resolve_place("Paris").country == "FR"
    assert lib.resolve_place("Paris, Texas").country == "US"
    assert lib.resolve_place("Japan") == PlaceFilter("JP")
    assert lib.place_label(lib.resolve_place("Lisbon")) == "Lisbon, Portugal"
    assert lib.place_label(PlaceFilter("PT")) == "Portugal"
    with pytest.raises(QueryError, match="Lisbon"):
        lib.resolve_place("Lisbonn")
    with pytest.raises(QueryError, match="No photos taken in 'Madrid'"):
        lib.resolve_place("Madrid")


def test_a_library_without_gps_changes_nothing(paths, encoder, tmp_path):
    """The same photos with and without GPS: the one without has no places, and every search
    gives the same photos with the same scores."""
    with_gps, without = tmp_path / "a", tmp_path / "b"
    made_a, made_b = make_library(with_gps / "photos"), make_library(without / "photos", gps=False)
    results = []
    for root in (with_gps, without):
        library = Library(Paths.at(root / "home"), encoder)
        try:
            library.add_folder(root / "photos")
            library.index()
            if root == without:
                assert library.places() == []
                with pytest.raises(QueryError, match="GPS"):
                    library.resolve_place("Lisbon")
                for path in made_b:
                    p = library.photo_by_path(path)
                    assert (p.lat, p.place_country, p.offset_derived) == (None, None, False)
                    assert p.capture_offset is None
            got = []
            for q in (
                Query(text="a blue square", top_k=1000, min_score=-math.inf),
                Query(text="a green triangle", year=2019),
                Query(order="date", top_k=1000),
                Query(month=7, top_k=1000),
            ):
                hits = library.search(q).hits
                got.append([(Path(h.path).name, round(h.score, 5)) for h in hits])
            results.append(got)
        finally:
            library.close()
    assert len(made_a) == len(made_b)
    assert results[0] == results[1]


def test_rescan_gives_an_old_library_places_without_encoding(lib, indexed, encoder):
    """Rows as schema 5 left them (header_version 0, no position): the next rescan reads their
    headers again, without decoding or encoding, and keeps their vectors and index state."""
    conn = lib.catalog.db.conn
    model = lib.encoder.model_id
    conn.execute(
        "UPDATE photos SET lat = NULL, lon = NULL, place_country = NULL, place_region = NULL, "
        "place_city = NULL, offset_derived = 0, capture_offset = NULL, header_version = 0"
    )
    conn.commit()
    before = {r[0]: bytes(r[1]) for r in conn.execute(
        "SELECT photo_id, vector FROM embeddings WHERE model_id = ?", (model,))}  # fmt: skip
    generation = lib.catalog.generation(model)
    lisbon = PlaceFilter("PT", "Lisbon", "Lisbon")
    assert everything(lib, place=lisbon) == set()  # cached for this generation now
    assert lib.places() == []
    calls = encoder.calls

    report = lib.index()

    assert encoder.calls == calls  # nothing encoded
    assert report.refreshed == len(indexed) and report.added == report.updated == 0
    after = {r[0]: bytes(r[1]) for r in conn.execute(
        "SELECT photo_id, vector FROM embeddings WHERE model_id = ?", (model,))}  # fmt: skip
    assert after == before and lib.catalog.generation(model) == generation
    rows = conn.execute("SELECT DISTINCT state, header_version FROM photos").fetchall()
    assert rows == [("indexed", HEADER_VERSION)]
    want = truth(lib, indexed, lambda pl, y, m, p: indexed[p][0] == "lisbon")
    assert len(want) == 12
    assert everything(lib, place=lisbon) == want  # the cached filter set was not reused
    assert sum(p.count for p in lib.places()) == 32
    lisbon_photo = lib.photo(min(want))
    assert lisbon_photo.offset_derived and lisbon_photo.capture_offset in ("+00:00", "+01:00")
    # Nothing left to refresh: the next rescan reads nothing again.
    assert lib.index().refreshed == 0 and encoder.calls == calls


def test_a_newer_gazetteer_regeocodes_stored_positions(lib, indexed, encoder):
    conn = lib.catalog.db.conn
    assert lib.catalog.gazetteer_version() == gazetteer_version() == Gazetteer.shared().version
    conn.execute("UPDATE photos SET place_city = 'Old name' WHERE place_city = 'Lisbon'")
    conn.execute("UPDATE meta SET value = 'reverse_geocode 0.1' WHERE key = 'gazetteer'")
    conn.commit()
    calls = encoder.calls
    lib.index()
    assert encoder.calls == calls
    assert lib.catalog.gazetteer_version() == Gazetteer.shared().version
    cities = {r[0] for r in conn.execute("SELECT DISTINCT place_city FROM photos")}
    assert "Old name" not in cities and "Lisbon" in cities
    ids = np.asarray(sorted(everything(lib, place=PlaceFilter("PT", "Lisbon", "Lisbon"))))
    assert len(ids) == 12


def test_a_video_gets_its_place_and_local_time_and_keeps_its_moments_on_rescan(
    lib, encoder, tmp_path
):
    """A phone video: its container time is UTC and its ISO 6709 tag the position; indexed, it
    is placed and shown at Lisbon's wall-clock time; read again as an old row, it keeps its
    sampled moments and vectors (no frame is encoded again)."""
    from microclip import make_shape_image
    from videos import write_video

    frames = [
        np.asarray(make_shape_image("red", "circle", 96, np.random.default_rng(i)))
        for i in range(12)
    ]
    (tmp_path / "photos").mkdir()
    path = write_video(
        tmp_path / "photos" / "clip.mov",
        frames,
        metadata={
            "location": "+38.7223-009.1393+010.000/",
            "creation_time": "2019-07-15T11:00:00Z",
        },
    )
    lib.add_folder(tmp_path / "photos")
    lib.index()
    v = lib.photo_by_path(path)
    assert v.kind == "video" and (v.place_country, v.place_city) == ("PT", "Lisbon")
    assert (v.capture_time, v.capture_offset, v.offset_derived) == (
        datetime(2019, 7, 15, 12),
        "+01:00",
        True,
    )
    conn = lib.catalog.db.conn
    moments = conn.execute("SELECT COUNT(*) FROM moments WHERE photo_id = ?", (v.id,)).fetchone()
    assert moments[0] > 0
    conn.execute(
        "UPDATE photos SET place_country = NULL, place_region = NULL, place_city = NULL, "
        "lat = NULL, lon = NULL, header_version = 0 WHERE id = ?",
        (v.id,),
    )
    conn.commit()
    images = encoder.images
    report = lib.index()
    assert report.refreshed == 1 and encoder.images == images
    again = lib.photo_by_path(path)
    assert (again.place_city, again.state, again.capture_time) == (
        "Lisbon",
        "indexed",
        v.capture_time,
    )
    assert (
        conn.execute("SELECT COUNT(*) FROM moments WHERE photo_id = ?", (v.id,)).fetchone()
        == moments
    )
    assert lib.search(Query(place=lib.resolve_place("Lisbon"))).hits[0].photo_id == v.id


def test_a_schema_5_catalog_migrates_and_gains_places_on_the_next_rescan(paths, encoder, tmp_path):
    """A catalog file as schema 5 wrote it (no v6 columns, version 5): opening migrates it, every
    row starts at header_version 0, and one rescan places them without encoding a photo."""
    import sqlite3

    from app.core.catalog.schema import V6_COLUMNS

    made = make_library(tmp_path / "photos")
    with Library(paths, encoder) as first:
        first.add_folder(tmp_path / "photos")
        first.index()
        model = first.encoder.model_id
    conn = sqlite3.connect(paths.catalog)
    for index in ("photos_place", "photos_dhash", "photos_content_hash"):
        conn.execute(f"DROP INDEX {index}")
    for column in V6_COLUMNS:
        conn.execute(f"ALTER TABLE photos DROP COLUMN {column.split()[0]}")
    conn.execute("UPDATE schema_version SET version = 5")
    conn.execute("DELETE FROM meta WHERE key IN ('gazetteer', 'facts')")
    conn.commit()
    vectors = dict(conn.execute("SELECT photo_id, vector FROM embeddings"))
    conn.close()

    with Library(paths, encoder) as lib:
        assert lib.catalog.schema_version == 6
        versions = lib.catalog.db.conn.execute("SELECT DISTINCT header_version FROM photos")
        assert versions.fetchall() == [(0,)]
        assert lib.places() == []
        images = encoder.images
        report = lib.index()
        assert encoder.images == images and report.refreshed == len(made)
        stored = dict(lib.catalog.db.conn.execute("SELECT photo_id, vector FROM embeddings"))
        assert stored == vectors
        assert lib.status().indexed == len(made) and lib.catalog.generation(model) > 0
        counts = {(p.place.country, p.city): p.count for p in lib.places()}
        assert counts[("PT", "Lisbon")] == 12 and counts[("PT", "Porto")] == 4
        tokyo = lib.resolve_place("Tokyo")
        want = {lib.photo_by_path(p).id for p, v in made.items() if v[0] == "tokyo"}
        assert everything(lib, place=tokyo, text="a yellow star") == want


def test_names_resolve_country_then_city_then_other_names_then_region():
    """`resolve` on the real name index, among synthetic library places."""
    from app.core.places.names import PlaceNames
    from app.core.search.places import PlaceCount, resolve

    def at(code: str, country: str, region: str, city: str, n: int) -> PlaceCount:
        return PlaceCount(PlaceFilter(code, region, city), country, region, city, n, 1)

    counts = [
        at("US", "United States", "New York", "New York City", 5),
        at("US", "United States", "New York", "Buffalo", 2),
        at("LU", "Luxembourg", "Luxembourg", "Luxembourg", 3),
        at("LU", "Luxembourg", "Diekirch", "Ettelbruck", 1),
        at("PT", "Portugal", "Lisbon", "Lisbon", 4),
        at("PT", "Portugal", "Lisbon", "Sintra", 2),
        at("FR", "France", "Île-de-France", "Paris", 3),
        at("US", "United States", "Texas", "Paris", 1),
    ]
    lookup = PlaceNames.shared().lookup
    assert resolve("New York", counts, lookup) == counts[0].place  # the city, not the state
    assert resolve("Buffalo, New York", counts, lookup) == counts[1].place
    assert resolve("Luxembourg", counts, lookup) == PlaceFilter("LU")  # the country
    assert resolve("Lisbon", counts, lookup) == counts[4].place  # the city, not its region
    assert resolve("Lissabon", counts, lookup) == counts[4].place
    assert resolve("Lissabon, Portugal", counts, lookup) == counts[4].place
    assert resolve("ile-de-france", counts, lookup) == PlaceFilter("FR", "Île-de-France")
    assert resolve("Paris", counts, lookup) == counts[6].place
    assert resolve("paris, texas", counts, lookup) == counts[7].place
    assert resolve("Texas", counts, lookup) == PlaceFilter("US", "Texas")
    assert resolve("United States", counts, lookup) == PlaceFilter("US")
    with pytest.raises(QueryError, match="Closest places in your library: Sintra"):
        resolve("Sintraa", counts, lookup)


def test_place_filter_sets_are_cached_per_generation_and_facts_stamp(lib, indexed):
    """The second search with a place reuses the id set (a raw change that bumps neither the
    generation nor the facts stamp goes unseen); a facts change is seen at once."""
    lisbon = lib.resolve_place("Lisbon")
    first = everything(lib, place=lisbon, text="a red circle")
    conn = lib.catalog.db.conn
    conn.execute("UPDATE photos SET place_city = 'Elsewhere' WHERE place_city = 'Lisbon'")
    conn.commit()
    assert everything(lib, place=lisbon, text="a red circle") == first  # cached
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('facts', 1) "
        "ON CONFLICT(key) DO UPDATE SET value = value + 1"
    )
    conn.commit()
    assert everything(lib, place=lisbon, text="a red circle") == set()
