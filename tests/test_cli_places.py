"""`photoseek search --place` and `photoseek places`, run as a user runs them (a subprocess on a
folder of JPEGs with GPS at known places, the micro CLIP installed from its folder)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from places_photos import SPOTS, gps_jpeg
from test_cli import cli, ok

from app.cli.common import EXIT_USAGE

# (spot, colour, shape, year) of each photo.
PHOTOS = [
    ("lisbon", "red", "circle", 2019), ("lisbon", "blue", "square", 2019),
    ("lisbon", "red", "circle", 2021), ("porto", "red", "circle", 2019),
    ("paris", "red", "circle", 2019), ("paris", "green", "triangle", 2020),
    ("tokyo", "yellow", "star", 2019), (None, "red", "circle", 2019),
]  # fmt: skip


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("cli_places")
    home, photos = base / "home", base / "photos"
    made = {}
    for k, (spot, color, shape, year) in enumerate(PHOTOS):
        at = SPOTS[spot] if spot else None
        p = gps_jpeg(photos / f"{k}.jpg", color, shape, k, at=at, date=f"{year}:07:15 12:00:00")
        made[str(p.resolve())] = (spot, year)
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    ok(cli(home, "index"))
    yield {"home": home, "made": made}


def paths_where(made: dict, keep) -> set[str]:
    return {p for p, (spot, year) in made.items() if keep(spot, year)}


def test_search_with_a_place_is_exact_and_combines_with_a_year(library):
    home, made = library["home"], library["made"]
    out = json.loads(ok(cli(home, "search", "a red circle", "--place", "Lisbon", "--all",
                            "--top", "50", "--json")).stdout)  # fmt: skip
    assert {h["path"] for h in out["hits"]} == paths_where(made, lambda s, y: s == "lisbon")
    assert out["query"]["place"] == {
        "country": "PT", "region": "Lisbon", "city": "Lisbon", "near_km": None, "label": "Lisbon, Portugal",
    }  # fmt: skip
    hit = out["hits"][0]
    assert hit["place"] == out["query"]["place"]  # with its label
    assert hit["lat"] == pytest.approx(SPOTS["lisbon"][0], abs=1e-4)
    assert hit["lon"] == pytest.approx(SPOTS["lisbon"][1], abs=1e-4)
    # A country, with a year, browsing (no text) newest first.
    out = json.loads(ok(cli(home, "search", "--place", "Portugal", "--year", "2019",
                            "--json")).stdout)  # fmt: skip
    want = paths_where(made, lambda s, y: s in ("lisbon", "porto") and y == 2019)
    assert {h["path"] for h in out["hits"]} == want
    # The text output lists the same photos.
    text = ok(cli(home, "search", "--place", "PT", "--year", "2019")).stdout
    assert {line.split()[-1] for line in text.splitlines() if line.strip()} == want


def test_an_unknown_place_is_one_line_naming_the_closest(library):
    proc = cli(library["home"], "search", "beach", "--place", "Lisbonn")
    assert proc.returncode == EXIT_USAGE
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "Lisbonn" in lines[0] and "Lisbon" in lines[0].split("Lisbonn", 1)[1]
    assert proc.stdout == ""


def test_places_lists_countries_regions_and_cities_with_counts(library):
    home, made = library["home"], library["made"]
    listed = json.loads(ok(cli(home, "places", "--json")).stdout)
    by_city = {(p["country"], p["city"]): p for p in listed}
    assert by_city[("PT", "Lisbon")]["count"] == 3
    assert by_city[("PT", "Lisbon")]["label"] == "Lisbon, Portugal"
    assert by_city[("JP", by_city_key(listed, "JP"))]["country_name"] == "Japan"
    assert sum(p["count"] for p in listed) == len(paths_where(made, lambda s, y: s is not None))
    text = ok(cli(home, "places")).stdout
    lines = [line.split(None, 1) for line in text.splitlines() if line[:1].isspace() or
             line[:1].isdigit()]  # fmt: skip
    assert ["4", "Portugal"] in [[n, name.strip()] for n, name in lines]
    assert ["2", "France"] in [[n, name.strip()] for n, name in lines]
    assert text.index("Portugal") < text.index("Lisbon") < text.index("Porto")


def by_city_key(listed: list[dict], country: str) -> str | None:
    return next(p["city"] for p in listed if p["country"] == country)


def test_status_counts_the_photos_with_a_place(library):
    home, made = library["home"], library["made"]
    data = json.loads(ok(cli(home, "status", "--json")).stdout)
    with_place = len(paths_where(made, lambda s, y: s is not None))
    assert (data["with_place"], data["places"]) == (with_place, 4)  # Lisbon, Porto, Paris, Tokyo
    text = ok(cli(home, "status")).stdout
    assert f"places    {with_place} taken in 4 places" in text


def test_typed_text_names_the_place_and_year_and_literal_keeps_the_words(library):
    """ "a red circle in Lisbon 2019": Lisbon's 2019 photos only, said on stderr; --literal
    searches every word; an explicit --year wins over a year in the text."""
    home, made = library["home"], library["made"]
    done = ok(cli(home, "search", "a red circle in Lisbon 2019", "--all", "--top", "50", "--json"))
    out = json.loads(done.stdout)
    want = paths_where(made, lambda s, y: s == "lisbon" and y == 2019)
    assert {h["path"] for h in out["hits"]} == want
    assert out["query"]["text"] == "a red circle"
    # July in Lisbon, no offset from the camera: the place's zone gives one, marked derived.
    assert {(h["capture_offset"], h["offset_derived"]) for h in out["hits"]} == {("+01:00", True)}
    assert [(u["kind"], u["span"]) for u in out["query"]["understood"]] == [
        ("place", "in Lisbon"),
        ("year", "2019"),
    ]
    table = ok(cli(home, "search", "a red circle in Lisbon 2019"))
    assert "understood: place Lisbon, Portugal, year 2019" in table.stderr
    literal = json.loads(ok(cli(home, "search", "a red circle in Lisbon 2019", "--literal",
                                "--all", "--top", "50", "--json")).stdout)  # fmt: skip
    assert literal["query"]["understood"] == [] and literal["query"]["place"] is None
    assert len(literal["hits"]) == len(made)
    given = json.loads(ok(cli(home, "search", "a red circle in Lisbon 2019", "--year", "2021",
                              "--all", "--json")).stdout)  # fmt: skip
    assert given["query"]["year"] == 2021 and given["query"]["text"] == "a red circle 2019"
    assert {h["path"] for h in given["hits"]} == paths_where(
        made, lambda s, y: s == "lisbon" and y == 2021
    )


def test_index_says_how_many_older_photos_it_read_again(tmp_path, tiny_model_dir):
    import sqlite3

    home, photos = tmp_path / "home", tmp_path / "photos"
    gps_jpeg(photos / "a.jpg", "red", "circle", 1, at=SPOTS["lisbon"])
    gps_jpeg(photos / "b.jpg", "blue", "square", 2)
    ok(cli(home, "model", "install", "--from", tiny_model_dir))
    ok(cli(home, "folders", "add", photos))
    assert "read again" not in ok(cli(home, "index")).stdout
    db = sqlite3.connect(home / "data" / "catalog.sqlite3")
    db.execute("UPDATE photos SET header_version = 0, place_city = NULL, place_country = NULL")
    db.commit()
    db.close()
    out = ok(cli(home, "index")).stdout
    assert "0 new, 0 changed" in out and "2 read again for places and time zones" in out
    listed = json.loads(ok(cli(home, "places", "--json")).stdout)
    assert [(p["city"], p["count"]) for p in listed] == [("Lisbon", 1)]
