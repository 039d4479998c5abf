"""`photoseek places`: where the library's photos were taken, country > region > city, counted."""

from __future__ import annotations

import argparse
from itertools import groupby
from typing import TYPE_CHECKING, Any

from app.cli.common import command, model_options, open_library, print_json
from app.core.api import Paths

if TYPE_CHECKING:
    from app.core.api import PlaceCount


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("places", help="where your photos were taken (from their GPS), with counts")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    model_options(p)
    p.set_defaults(func=cmd_places)


@command
def cmd_places(args: argparse.Namespace, paths: Paths) -> int:
    with open_library(args, paths) as lib:
        places = lib.places()
        labels = [lib.place_label(p.place) for p in places]
    if args.json:
        print_json([_place_json(p, label) for p, label in zip(places, labels, strict=True)])
        return 0
    if not places:
        print(
            "No photo in your library has a place yet: places come from the GPS position "
            "phones and some cameras record (`photoseek index` reads them)."
        )
        return 0
    width = len(str(max(sum(p.count for p in group) for group in _countries(places))))
    for country in _countries(places):
        print(f"{sum(p.count for p in country):>{width}}  {country[0].country_name}")
        for region, cities in groupby(country, key=lambda p: p.region):
            inside = list(cities)
            indent = "  "
            if region is not None:
                print(f"{sum(p.count for p in inside):>{width}}    {region}")
                indent = "    "
            for p in inside:
                if (p.city is not None and p.city != region) or len(inside) > 1:
                    print(f"{p.count:>{width}}  {indent}  {p.city or '(no city)'}")
    print("\n`photoseek search TEXT --place NAME` searches one of them.")
    return 0


def _countries(places: list[PlaceCount]) -> list[list[PlaceCount]]:
    return [list(g) for _, g in groupby(places, key=lambda p: p.place.country)]


def _place_json(p: PlaceCount, label: str) -> dict[str, Any]:
    return {
        "country": p.place.country,
        "country_name": p.country_name,
        "region": p.region,
        "city": p.city,
        "label": label,
        "count": p.count,
        "cover_id": p.cover_id,
    }
