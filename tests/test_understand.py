"""Query understanding on the real gazetteer: places, years and months taken out of typed text,
a table of phrasings including ambiguous and non-English names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from places_photos import gps_jpeg
from test_places_search import make_library

from app.core.library import Library
from app.core.places.names import PlaceNames
from app.core.search.query import PlaceFilter, Query, QueryError
from app.core.search.understand import understand


@pytest.fixture(scope="module")
def names() -> PlaceNames:
    return PlaceNames.shared()


# The library's places: (country, region, city, photos), as Catalog.places() gives them.
LIBRARY = [
    ("PT", "Lisbon", "Lisbon", 40),
    ("FR", "Île-de-France", "Paris", 12),
    ("NO", "Oslo", "Oslo", 5),
    ("DE", "Bavaria", "Munich", 7),
    ("FR", "Provence-Alpes-Côte d'Azur", "Nice", 3),
    ("JP", "Tokyo", "Tokyo", 4),
]
# A name that is a city and its region (Lisbon, Tokyo) means the city, as --place reads it.
LISBON = PlaceFilter("PT", "Lisbon", "Lisbon")
PARIS = PlaceFilter("FR", "Île-de-France", "Paris")
MUNICH = PlaceFilter("DE", "Bavaria", "Munich")


@pytest.mark.parametrize(
    ("typed", "text", "place", "year", "month"),
    [
        ("beach in Lisbon 2019", "beach", LISBON, 2019, None),
        ("Paris 2019", "", PARIS, 2019, None),
        ("snow Norway", "snow", PlaceFilter("NO"), None, None),
        ("beach in lisbon", "beach", LISBON, None, None),  # lower case after "in"
        ("beach lisbon", "beach lisbon", None, None, None),  # lower case, no preposition
        ("dinner in Lisboa", "dinner", LISBON, None, None),  # Portuguese
        ("Lissabon Straßenbahn", "Straßenbahn", LISBON, None, None),  # German
        ("biergarten in München", "biergarten", MUNICH, None, None),
        ("リスボン", "", LISBON, None, None),  # Japanese script
        (
            "sunset in Nice",
            "sunset",
            PlaceFilter("FR", "Provence-Alpes-Côte d'Azur", "Nice"),
            None,
            None,
        ),
        ("Nice sunset", "Nice sunset", None, None, None),  # a word before it is a place
        ("fireworks June 2019", "fireworks", None, 2019, 6),
        ("picnic in June", "picnic", None, None, 6),
        ("it may rain 2020", "it may rain", None, 2020, None),
        ('"Paris 2019" poster', '"Paris 2019" poster', None, None, None),  # quoted: literal
        ("beach -Lisbon", "beach -Lisbon", None, None, None),  # an exclusion stays one
        ("two dogs at a window", "two dogs at a window", None, None, None),
        ("Reading glasses", "Reading glasses", None, None, None),  # not in the library
        (
            "cafe in Madrid",
            "cafe",
            PlaceFilter("ES", "Madrid", "Madrid"),
            None,
            None,
        ),  # big, absent
    ],
)
def test_phrasings(names, typed, text, place, year, month):
    got = understand(typed, names, LIBRARY)
    assert (got.text, got.place, got.year, got.month) == (text, place, year, month)


def test_ambiguous_names_prefer_the_library(names):
    texas = [("US", "Texas", "Paris", 9)]
    assert understand("Paris", names, texas).place == PlaceFilter("US", "Texas", "Paris")
    assert understand("Paris", names, LIBRARY).place == PARIS
    both = LIBRARY + texas
    # The library's own counts decide (12 in France > 9 in Texas), a qualifier overrides.
    assert understand("Paris", names, both).place == PARIS
    got = understand("Paris, Texas at night", names, both)
    assert got.place == PlaceFilter("US", "Texas", "Paris")
    assert got.text == "at night"
    assert got.chips[0].span == "Paris, Texas" or got.chips[0].span == "Paris Texas"


def test_chips_say_what_was_understood_and_ignore_takes_it_back(names):
    got = understand("beach in Lisbon 2019", names, LIBRARY)
    assert [(c.kind, c.label, c.span) for c in got.chips] == [
        ("place", "Lisbon, Portugal", "in Lisbon"),
        ("year", "2019", "2019"),
    ]
    back = understand("beach in Lisbon 2019", names, LIBRARY, ignore=["in Lisbon"])
    assert (back.text, back.place, back.year) == ("beach in Lisbon", None, 2019)
    assert understand("beach in Lisbon 2019", names, LIBRARY, ignore=["2019"]).year is None


def test_a_library_without_places_changes_nothing(names):
    for typed in ("beach", "dog at the beach", "Nice sunset", "Lisbon tram"):
        assert understand(typed, names, []).text == typed
        assert understand(typed, names, []).chips == ()
    assert understand("", names, []).text == ""
    assert understand("beach", None, LIBRARY).place is None


def test_typed_place_and_year_filter_a_real_library_ranked_by_the_words(paths, encoder, tmp_path):
    """ "red circle in Lisbon 2019" on a library of GPS photos: only Lisbon's 2019 photos,
    the red circle first; the same words typed in a library without GPS stay words."""
    made = make_library(tmp_path / "photos")
    lib = Library(paths, encoder)
    try:
        lib.add_folder(tmp_path / "photos")
        lib.index()
        got = lib.understand("red circle in Lisbon 2019")
        assert got.text == "red circle" and got.year == 2019
        assert got.place is not None and got.place.country == "PT"
        assert [c.kind for c in got.chips] == ["place", "year"]
        result = lib.search(Query(text=got.text, place=got.place, year=got.year, top_k=100))
        truth = {
            lib.photo_by_path(p).id
            for p, (spot, year, _) in made.items()
            if spot == "lisbon" and year == 2019
        }
        everything = lib.search(
            Query(text=got.text, place=got.place, year=got.year, top_k=100, min_score=-math.inf)
        )
        assert {h.photo_id for h in everything.hits} == truth
        assert result.hits and "red-circle" in Path(result.hits[0].path).name
    finally:
        lib.close()


def test_understanding_needs_places_in_the_library(paths, encoder, tmp_path):
    make_library(tmp_path / "photos", gps=False)
    lib = Library(paths, encoder)
    try:
        lib.add_folder(tmp_path / "photos")
        lib.index()
        got = lib.understand("red circle in Lisbon")
        assert (got.text, got.place, got.chips) == ("red circle in Lisbon", None, ())
        assert lib.understand("red circle 2019").year == 2019  # dates need no GPS
    finally:
        lib.close()


def test_a_big_city_placed_in_its_neighbourhoods_means_its_surroundings(paths, encoder, tmp_path):
    """Photos taken across Barcelona are placed in el Raval, Eixample, Gràcia, the Gothic
    Quarter (GeoNames lists them as places): "in Barcelona" and --place Barcelona find all of
    them, and not the photo from Rubí 20 km away."""
    spots = {
        "raval": (41.3809, 2.1700),
        "eixample": (41.3917, 2.1649),
        "gracia": (41.4036, 2.1561),
        "gothic": (41.3870, 2.1701),
        "rubi": (41.5000, 2.0000),
    }
    root = tmp_path / "bcn"
    for k, (name, at) in enumerate(spots.items()):
        gps_jpeg(root / f"{name}.jpg", "red", "circle", k, at=at)
    lib = Library(paths, encoder)
    try:
        lib.add_folder(root)
        lib.index()
        cities = {r.city for r in lib.places()}
        assert "Barcelona" not in cities and {"el Raval", "Eixample"} <= cities
        got = lib.understand("red circle in Barcelona")
        assert got.text == "red circle" and got.place is not None and got.place.near is not None
        assert [c.label for c in got.chips] == ["Barcelona, Spain"]
        hits = lib.search(Query(place=got.place, top_k=50))
        assert {Path(h.path).stem for h in hits.hits} == {"raval", "eixample", "gracia", "gothic"}
        assert lib.resolve_place("Barcelona") == got.place
        assert lib.place_label(got.place) == "Barcelona, Spain"
        with pytest.raises(QueryError):
            lib.resolve_place("Madrid")  # no photo around it
    finally:
        lib.close()
