"""The places in a library, by name: counts for the filter and the Places view, a typed place
("Lisbon", "Lisbon, Portugal", "Portugal", "PT", "Lissabon") resolved to the filter that finds
it, and the label a place is shown with.

Only places where some photo was taken resolve: a filter for anywhere else would show nothing,
so an unknown name gets the closest names in the library instead. A name that fits several
places means, in this order: a country ("Luxembourg", "Mexico": the whole country, its capital
included), a city ("Lisbon" rather than the region named after it), a city by another of its
names ("Lissabon", "New York" for New York City), a region ("Texas"), a region or country by
another name; among places of one kind, the one with most photos (Paris, France over Paris,
Texas, unless ", Texas" follows).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.catalog.places import PlaceRow
from app.core.places import names
from app.core.places.gazetteer import Place
from app.core.search.query import PlaceFilter, QueryError

SUGGESTIONS = 3  # closest names offered for an unknown place


@dataclass(frozen=True)
class PlaceCount:
    """One place in the library (a city, with its region and country), how many photos and
    videos were taken there and the newest of them (`cover_id`, its thumbnail)."""

    place: PlaceFilter
    country_name: str
    region: str | None
    city: str | None
    count: int
    cover_id: int

    @property
    def label(self) -> str:
        """ "Lisbon, Portugal"; the region where the place has no city."""
        return ", ".join(p for p in (self.city or self.region, self.country_name) if p)


def place_counts(rows: Sequence[PlaceRow], country_name: Callable[[str], str]) -> list[PlaceCount]:
    """The catalog's place rows with their countries' names, by country, region, city."""
    out = [
        PlaceCount(
            PlaceFilter(r.country, r.region, r.city),
            country_name(r.country),
            r.region,
            r.city,
            r.total,
            r.cover_id,
        )
        for r in rows
    ]
    return sorted(out, key=lambda p: (fold(p.country_name), fold(p.region), fold(p.city)))


def fold(text: str | None) -> str:
    """The form names are compared in (`places.names.fold`: "Zürich" and "zurich" agree);
    "" for none."""
    return names.fold(text) if text else ""


def resolve(
    text: str,
    counts: Sequence[PlaceCount],
    lookup: Callable[[str], Sequence[Place]] | None = None,
) -> PlaceFilter:
    """The filter for a typed place among the library's places; QueryError naming the closest
    ones when no place of the library has that name. `lookup` finds other languages' names."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise QueryError("Name a place, e.g. --place Lisbon or --place Portugal.")
    if not counts:
        raise QueryError(
            f"No photo in your library has a place yet, so {text.strip()!r} cannot be found "
            "(places come from the GPS position photos carry)."
        )
    code = parts[0] if len(parts) == 1 and len(parts[0]) == 2 and parts[0].isupper() else None
    if code is not None and any(c.place.country == code for c in counts):  # an ISO code: "PT"
        return PlaceFilter(code)
    rest = [fold(p) for p in parts[1:]]
    within = [c for c in counts if all(_names(c, r) for r in rest)]
    others = _other_names(parts[0], within, lookup) if lookup is not None else []
    found = (
        _matching(fold(parts[0]), within, counts, "country")
        or _matching(fold(parts[0]), within, counts, "city")
        or next((c for c in others if c.city is not None), None)  # "Lissabon"
        or _matching(fold(parts[0]), within, counts, "region")
        or next((c for c in others if c.city is None), None)  # a region by another name
    )
    if not found:
        raise QueryError(f"No photos taken in {text.strip()!r}. {_closest(text, counts)}")
    return found


def _matching(
    head: str, within: Sequence[PlaceCount], counts: Sequence[PlaceCount], level: str
) -> PlaceFilter | None:
    """The place at `level` called `head` among `within` (the one with most photos)."""
    hits = [c for c in within if _level(c, level) == head]
    if not hits:
        return None
    best = max(hits, key=lambda c: _total(counts, c, level))
    if level == "city":
        return best.place
    if level == "region":
        return PlaceFilter(best.place.country, best.region)
    return PlaceFilter(best.place.country)


def _level(c: PlaceCount, level: str) -> str:
    if level == "city":
        return fold(c.city)
    if level == "region":
        return fold(c.region)
    return fold(c.country_name)


def _names(c: PlaceCount, part: str) -> bool:
    """Whether a qualifier ("Portugal", "PT", "Texas") names this place's region or country."""
    return part in (fold(c.region), fold(c.country_name), fold(c.place.country))


def _total(counts: Sequence[PlaceCount], c: PlaceCount, level: str) -> int:
    """Photos in `c`'s region (or country) when choosing among regions (or countries)."""
    if level == "city":
        return c.count
    same = [
        o.count
        for o in counts
        if o.place.country == c.place.country and (level == "country" or o.region == c.region)
    ]
    return sum(same)


def _other_names(
    name: str, within: Sequence[PlaceCount], lookup: Callable[[str], Sequence[Place]]
) -> list[PlaceFilter]:
    """The library's places `name` calls in another language or form ("Lissabon", "New
    York" for New York City): cities first (most photos first), then regions and countries."""
    present = {(c.place.country, c.region, c.city): c for c in within}
    cities: list[PlaceCount] = []
    areas: list[PlaceFilter] = []
    for p in lookup(name):
        if p.city is not None:
            hit = present.get((p.country_code, p.region, p.city))
            if hit is not None:
                cities.append(hit)
        elif any(
            c.place.country == p.country_code and (p.region is None or c.region == p.region)
            for c in within
        ):
            areas.append(PlaceFilter(p.country_code, p.region))
    cities.sort(key=lambda c: -c.count)
    return [c.place for c in cities] + areas


def _closest(text: str, counts: Sequence[PlaceCount]) -> str:
    """ "Closest places in your library: Lisbon, Porto." (or the biggest ones)."""
    labels: dict[str, str] = {}
    for c in sorted(counts, key=lambda c: -c.count):
        for name in (c.city, c.region, c.country_name):
            if name:
                labels.setdefault(fold(name), name)
    close = difflib.get_close_matches(fold(text.split(",")[0]), list(labels), SUGGESTIONS, 0.5)
    if close:
        return "Closest places in your library: " + ", ".join(labels[k] for k in close) + "."
    top = list(labels.values())[:SUGGESTIONS]
    return "Places in your library include " + ", ".join(top) + "."


def label(place: PlaceFilter, counts: Sequence[PlaceCount], country_name: str) -> str:
    """How a place is shown: "Lisbon, Portugal"; "Springfield, Illinois, United States" where
    the library has two cities of that name in the country; "Portugal" for a country."""
    if place.city is None:
        return ", ".join(p for p in (place.region, country_name) if p)
    twins = {c.region for c in counts if c.place.country == place.country and c.city == place.city}
    region = place.region if place.region is not None and len(twins) > 1 else None
    return ", ".join(p for p in (place.city, region, country_name) if p)
